"""Where media bytes live: the :class:`Storage` protocol and :func:`make_storage`.

Keys are made here (:func:`new_key`), never taken from client names. No
caller may assume a key has a local path: :meth:`Storage.open_local` lends one
for as long as it is needed (the stored file itself for ``local``, a temporary
download for ``s3``). Every backend raises ``FileNotFoundError`` for a key
that holds no bytes and ``ValueError`` for a key that is not one of ours.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, BinaryIO, Protocol

from ..errors import ConfigError
from .keys import check_key, new_key, rendition_key, rendition_prefix
from .local import LocalStorage


class Storage(Protocol):
    """The bytes of originals (and renditions) under server-made keys."""

    #: Whether covers and previews are stored as objects beside the originals (``s3``: the
    #: store serves them) or kept in the cache and served by the app (``local``).
    stores_renditions: bool

    def new_key(self, ext: str) -> str: ...

    def temp_file(self) -> tuple[BinaryIO, str]:
        """An open local staging file and its path (an upload is probed there before it is stored)."""
        ...

    def put_file(self, temp_path: str, key: str, content_type: str | None = None) -> None:
        """Store the staged file under ``key``; the staged file is gone afterwards."""
        ...

    def put_bytes(self, key: str, data: bytes, content_type: str | None = None) -> None: ...

    def get_bytes(self, key: str) -> bytes: ...

    def open_local(self, key: str) -> AbstractContextManager[str]:
        """A local path to the bytes of ``key``, valid inside the ``with`` block only."""
        ...

    def delete(self, key: str) -> None:
        """Remove ``key``; no error when it holds nothing."""
        ...

    def delete_prefix(self, prefix: str) -> int:
        """Remove every key under the folder ``prefix`` (ending in ``/``); returns how many."""
        ...

    def list_objects(self, prefix: str) -> Iterator[list[tuple[str, int]]]:
        """``(key, size)`` of each key under the folder ``prefix`` (ending in ``/``), 1000 at most a page."""
        ...

    def delete_keys(self, keys: Sequence[str]) -> None:
        """Remove each of ``keys`` (at most 1000); no error for one that holds nothing."""
        ...

    def exists(self, key: str) -> bool: ...

    def size(self, key: str) -> int:
        """Bytes stored under ``key``; FileNotFoundError when none."""
        ...

    def url(self, key: str, expires: int, filename: str | None = None, cache_control: str | None = None) -> str | None:
        """A URL that serves ``key`` for ``expires`` seconds without the app (None: the app serves it).

        ``filename`` asks the download to be saved under that name, ``cache_control`` the answer to
        carry that header (where the backend can say so: presigned GETs, not a public base).
        """
        ...

    def sweep_staging(self, older_than: float) -> int:
        """Remove staging files last written before ``older_than`` (Unix time): uploads killed mid-way."""
        ...


class DirectUploads(Protocol):
    """Uploads whose bytes go from the client straight to the store (SMH upload sessions).

    The ``s3`` storage has these (presigned PUT and UploadPart); SMH sessions
    use its presigned PUT for simple uploads (:mod:`flask_medialib.services.uploads`).
    The local storage has none: its sessions use the extension's own signed
    upload URL, as multipart sessions do on both (the SDKs' part URLs cannot
    carry a presigned UploadPart's signature).
    """

    def presign_put(self, key: str, expires: int, content_length: int, content_type: str | None = None) -> str: ...

    def create_multipart(self, key: str, content_type: str | None = None) -> str: ...

    def presign_upload_part(
        self, key: str, upload_id: str, part_number: int, expires: int, content_length: int
    ) -> str: ...

    def complete_multipart(self, key: str, upload_id: str, parts: Sequence[tuple[int, str]]) -> None: ...

    def abort_multipart(self, key: str, upload_id: str) -> None: ...

    def compose(self, parts: Sequence[tuple[str, int]], key: str, content_type: str | None = None) -> bool:
        """Join the objects ``parts`` (key, size), in order, into the object ``key``; False when the store cannot."""
        ...

    def open_joined(self, keys: Sequence[str]) -> AbstractContextManager[str]:
        """A local file of the objects ``keys`` one after another, valid inside the ``with`` block only."""
        ...


def make_storage(config: Mapping[str, Any], default_root: str) -> Storage:
    """The storage that the (validated) ``MEDIALIB_STORAGE*`` keys describe."""
    if config["MEDIALIB_STORAGE"] == "s3":
        try:
            from .s3 import S3Storage  # boto3 is an optional dependency (the ``s3`` extra)
        except ImportError as exc:
            raise ConfigError(
                f"MEDIALIB_STORAGE is s3 but boto3 cannot be imported ({exc}): pip install 'flask-medialib[s3]'"
            ) from None

        return S3Storage(
            bucket=config["MEDIALIB_S3_BUCKET"],
            prefix=config["MEDIALIB_S3_PREFIX"],
            endpoint_url=config["MEDIALIB_S3_ENDPOINT_URL"],
            region=config["MEDIALIB_S3_REGION"],
            public_url=config["MEDIALIB_S3_PUBLIC_URL"],
            addressing_style=config["MEDIALIB_S3_ADDRESSING_STYLE"],
        )
    return LocalStorage(config["MEDIALIB_STORAGE_ROOT"] or default_root)


__all__ = [
    "DirectUploads",
    "LocalStorage",
    "Storage",
    "check_key",
    "make_storage",
    "new_key",
    "rendition_key",
    "rendition_prefix",
]
