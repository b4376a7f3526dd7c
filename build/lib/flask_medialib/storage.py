"""Where media bytes live. Keys are generated here, never taken from client names."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import tempfile
from pathlib import Path
from typing import BinaryIO, Protocol


class Storage(Protocol):
    def new_key(self, ext: str) -> str: ...
    def temp_file(self) -> tuple[BinaryIO, str]: ...
    def put_file(self, temp_path: str, key: str) -> None: ...
    def path(self, key: str) -> str: ...
    def delete(self, key: str) -> None: ...
    def exists(self, key: str) -> bool: ...
    def url(self, key: str) -> str | None: ...


class LocalStorage:
    """Files under one root folder, in two levels of hashed sub-folders."""

    def __init__(self, root: str) -> None:
        self.root = Path(root)
        (self.root / "tmp").mkdir(parents=True, exist_ok=True)

    def new_key(self, ext: str) -> str:
        token = secrets.token_hex(16)
        return f"{token[:2]}/{token[2:4]}/{token}{ext}"

    def temp_file(self) -> tuple[BinaryIO, str]:
        # Staged on the same file system as the final place, so put_file is a rename.
        fd, name = tempfile.mkstemp(dir=self.root / "tmp", prefix="upload-")
        return os.fdopen(fd, "w+b"), name

    def put_file(self, temp_path: str, key: str) -> None:
        target = self.path(key)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.move(temp_path, target)

    def path(self, key: str) -> str:
        resolved = (self.root / key).resolve()
        if self.root.resolve() not in resolved.parents:
            raise ValueError(f"storage key escapes the storage root: {key!r}")
        return str(resolved)

    def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path(key))

    def exists(self, key: str) -> bool:
        return os.path.exists(self.path(key))

    def url(self, key: str) -> str | None:
        return None  # served by the extension through signed URLs
