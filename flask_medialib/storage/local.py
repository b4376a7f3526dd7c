"""``local``: files under one root folder, in two levels of hashed sub-folders."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

from .keys import check_key, new_key


class LocalStorage:
    # Renditions stay in the cache: served from it in one round trip, they gain nothing from a
    # file of their own, which would need a stat per request and a sweep of its own.
    stores_renditions = False

    def __init__(self, root: str) -> None:
        self.root = Path(root)
        (self.root / "tmp").mkdir(parents=True, exist_ok=True)

    def new_key(self, ext: str) -> str:
        return new_key(ext)

    def sweep_staging(self, older_than: float) -> int:
        return sweep_folder(self.root / "tmp", older_than)

    def temp_file(self) -> tuple[BinaryIO, str]:
        # Staged on the same file system as the final place, so put_file is a rename.
        fd, name = tempfile.mkstemp(dir=self.root / "tmp", prefix="upload-")
        return os.fdopen(fd, "w+b"), name

    def put_file(self, temp_path: str, key: str, content_type: str | None = None) -> None:
        target = self.path(key)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.move(temp_path, target)

    def put_bytes(self, key: str, data: bytes, content_type: str | None = None) -> None:
        handle, temp = self.temp_file()
        try:
            with handle:
                handle.write(data)
            self.put_file(temp, key, content_type)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)

    def get_bytes(self, key: str) -> bytes:
        with open(self.path(key), "rb") as fh:
            return fh.read()

    @contextlib.contextmanager
    def open_local(self, key: str) -> Iterator[str]:
        path = self.path(key)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"storage key {key!r} holds no file")
        yield path  # the stored file itself: nothing to clean up

    def path(self, key: str) -> str:
        """The file of ``key`` (local storage only: nginx's X-Accel-Redirect and tests use it)."""
        check_key(key)
        resolved = (self.root / key).resolve()
        if self.root.resolve() not in resolved.parents:
            raise ValueError(f"storage key escapes the storage root: {key!r}")
        return str(resolved)

    def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path(key))

    def delete_prefix(self, prefix: str) -> int:
        folder = self.path(prefix.rstrip("/"))
        removed = sum(len(files) for _, _, files in os.walk(folder))
        shutil.rmtree(folder, ignore_errors=True)
        return removed

    def list_objects(self, prefix: str) -> Iterator[list[tuple[str, int]]]:
        folder = Path(self.path(prefix.rstrip("/")))
        page: list[tuple[str, int]] = []
        for parent, _, files in os.walk(folder):
            for name in sorted(files):
                path = Path(parent) / name
                page.append((path.relative_to(self.root.resolve()).as_posix(), path.stat().st_size))
                if len(page) == 1000:
                    yield page
                    page = []
        yield page

    def delete_keys(self, keys: Sequence[str]) -> None:
        for key in keys:
            self.delete(key)

    def exists(self, key: str) -> bool:
        return os.path.isfile(self.path(key))

    def size(self, key: str) -> int:
        return os.path.getsize(self.path(key))

    def url(self, key: str, expires: int, filename: str | None = None, cache_control: str | None = None) -> str | None:
        return None  # the extension serves local files through its own signed URLs


def sweep_folder(folder: str | os.PathLike[str], older_than: float, prefix: str = "") -> int:
    """Remove the files of ``folder`` named ``prefix*`` last written before ``older_than``; returns how many."""
    removed = 0
    with contextlib.suppress(FileNotFoundError), os.scandir(folder) as entries:
        for entry in entries:
            with contextlib.suppress(FileNotFoundError):  # a racing sweep or a finishing upload
                if (
                    entry.name.startswith(prefix)
                    and entry.is_file(follow_symlinks=False)
                    and entry.stat().st_mtime < older_than
                ):
                    os.unlink(entry.path)
                    removed += 1
    return removed
