"""Cache backends of the extension's own cache (``MEDIALIB_CACHE_TYPE``)."""

from __future__ import annotations

import datetime as dt
import os
from typing import Any

from flask_caching.backends.filesystemcache import FileSystemCache as _FileSystemCache

#: The names Flask-Caching takes for its FileSystemCache, which ours replaces.
FILESYSTEM_NAMES = frozenset(
    {
        "FileSystemCache",
        "filesystem",
        "flask_caching.backends.FileSystemCache",
        "flask_caching.backends.filesystemcache.FileSystemCache",
    }
)


class FileSystemCache(_FileSystemCache):
    """Flask-Caching's FileSystemCache that makes its folder again when it was deleted.

    The original makes it once, at start; a folder removed later (a cleanup
    job, an operator) made every write fail until the process restarted.
    """

    def set(self, key: str, value: Any, timeout: int | dt.timedelta | None = None, mgmt_element: bool = False) -> bool:
        # One stat per write (writes happen on misses only); makedirs is race-free with exist_ok.
        if not os.path.isdir(self._path):
            os.makedirs(self._path, exist_ok=True)
        return bool(super().set(key, value, timeout, mgmt_element))
