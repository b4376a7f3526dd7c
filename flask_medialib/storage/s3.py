"""``s3``: objects in one bucket of any S3-compatible store (AWS S3, MinIO, Ceph RGW, Tencent COS), via boto3.

Credentials come from boto3's standard chain (environment, shared files,
instance or container roles); nothing here reads or stores them. Downloads
are presigned GETs (or URLs under a public/CDN base), so bytes never pass
through the app; an upload is staged in a local temporary file (it is probed
there) and then sent to the bucket.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from collections.abc import Iterator, Sequence
from typing import Any, BinaryIO
from urllib.parse import quote

import boto3
from boto3.exceptions import Boto3Error
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from ..errors import HTTPError
from .keys import check_key, new_key
from .local import sweep_folder

#: The longest lifetime SigV4 allows a presigned URL.
MAX_PRESIGN_SECONDS = 7 * 86_400
#: S3's limits on multipart uploads.
MAX_PARTS = 10_000
MIN_PART = 5 * 1024 * 1024  # every part but the last
_MISSING = {"404", "NoSuchKey", "NotFound", "NoSuchUpload"}


_STAGING_PREFIX = "medialib-upload-"


class S3Storage:
    # Covers and previews are objects too: the cover 302 goes to the store, never through the app.
    stores_renditions = True

    def __init__(
        self,
        *,
        bucket: str,
        prefix: str = "",
        endpoint_url: str | None = None,
        region: str | None = None,
        public_url: str | None = None,
        addressing_style: str = "auto",
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix if not prefix or prefix.endswith("/") else prefix + "/"
        self.endpoint_url = endpoint_url
        self.region = region
        self.public_url = public_url.rstrip("/") if public_url else None
        self._config = Config(
            signature_version="s3v4",
            s3={"addressing_style": addressing_style},
            connect_timeout=10,
            read_timeout=60,
            retries={"max_attempts": 3, "mode": "standard"},
            # botocore >= 1.36 adds CRC checksums to every PUT by default, which several
            # S3-compatible stores reject; send them only where the API requires them.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        self._clients: dict[int, Any] = {}
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        """One boto3 client per process (clients are thread-safe; their pools must not cross a fork)."""
        pid = os.getpid()
        client = self._clients.get(pid)
        if client is None:
            with self._lock:
                client = self._clients.get(pid)
                if client is None:
                    session = boto3.session.Session()
                    client = session.client(
                        "s3", endpoint_url=self.endpoint_url, region_name=self.region, config=self._config
                    )
                    self._clients = {pid: client}
        return client

    def close(self) -> None:
        """Close the connection pool of this process's client (tests; an app that is shut down)."""
        client = self._clients.pop(os.getpid(), None)
        if client is not None:
            client.close()

    def object_key(self, key: str) -> str:
        """The bucket key of a storage key: the prefix and the checked key."""
        return self.prefix + check_key(key)

    # -- writing ---------------------------------------------------------------

    def new_key(self, ext: str) -> str:
        return new_key(ext)

    def temp_file(self) -> tuple[BinaryIO, str]:
        fd, name = tempfile.mkstemp(prefix=_STAGING_PREFIX)
        return os.fdopen(fd, "w+b"), name

    def sweep_staging(self, older_than: float) -> int:
        # Staged in the system's temporary folder, under a prefix of ours.
        return sweep_folder(tempfile.gettempdir(), older_than, _STAGING_PREFIX)

    def put_file(self, temp_path: str, key: str, content_type: str | None = None) -> None:
        name = self.object_key(key)  # a bad key is refused before any request
        extra = {"ContentType": content_type} if content_type else None
        try:
            with _store_call():
                self.client.upload_file(temp_path, self.bucket, name, ExtraArgs=extra)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp_path)

    def put_bytes(self, key: str, data: bytes, content_type: str | None = None) -> None:
        name = self.object_key(key)
        extra = {"ContentType": content_type} if content_type else {}
        with _store_call():
            self.client.put_object(Bucket=self.bucket, Key=name, Body=data, **extra)

    def copy(self, source: str, key: str, content_type: str | None = None) -> None:
        """Copy ``source`` to ``key`` inside the bucket (no byte through the app), with ``content_type``."""
        extra = {"ContentType": content_type, "MetadataDirective": "REPLACE"} if content_type else {}
        copy_source = {"Bucket": self.bucket, "Key": self.object_key(source)}
        with _store_call(source):
            self.client.copy_object(Bucket=self.bucket, Key=self.object_key(key), CopySource=copy_source, **extra)

    def delete(self, key: str) -> None:
        name = self.object_key(key)
        with _store_call():
            self.client.delete_object(Bucket=self.bucket, Key=name)

    def delete_prefix(self, prefix: str) -> int:
        folder = self.object_key(prefix.rstrip("/")) + "/"
        removed = 0
        with _store_call():
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=folder):
                names = [{"Key": item["Key"]} for item in page.get("Contents", ())]
                if names:  # a page holds at most 1000 keys: what one DeleteObjects takes
                    self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": names, "Quiet": True})
                    removed += len(names)
        return removed

    def list_objects(self, prefix: str) -> Iterator[list[tuple[str, int]]]:
        folder = self.object_key(prefix.rstrip("/")) + "/"
        with _store_call():
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=folder):
                yield [(item["Key"][len(self.prefix) :], int(item["Size"])) for item in page.get("Contents", ())]

    def delete_keys(self, keys: Sequence[str]) -> None:
        if len(keys) > 1000:
            raise ValueError("one DeleteObjects takes at most 1000 keys")
        names = [{"Key": self.object_key(key)} for key in keys]  # every key checked before any request
        if names:
            with _store_call():
                self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": names, "Quiet": True})

    # -- reading ---------------------------------------------------------------

    def get_bytes(self, key: str) -> bytes:
        name = self.object_key(key)
        with _store_call(key):
            response = self.client.get_object(Bucket=self.bucket, Key=name)
            with contextlib.closing(response["Body"]) as body:
                return bytes(body.read())

    @contextlib.contextmanager
    def open_local(self, key: str) -> Iterator[str]:
        name = self.object_key(key)
        fd, temp = tempfile.mkstemp(prefix="medialib-s3-", suffix=os.path.splitext(key)[1])
        os.close(fd)
        try:
            with _store_call(key):
                self.client.download_file(self.bucket, name, temp)
            yield temp
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)

    def exists(self, key: str) -> bool:
        try:
            self.size(key)
        except FileNotFoundError:
            return False
        return True

    def size(self, key: str) -> int:
        name = self.object_key(key)
        with _store_call(key):
            head = self.client.head_object(Bucket=self.bucket, Key=name)
        return int(head["ContentLength"])

    def url(self, key: str, expires: int, filename: str | None = None, cache_control: str | None = None) -> str | None:
        name = self.object_key(key)
        if self.public_url:
            return f"{self.public_url}/{quote(name)}"
        params: dict[str, str] = {"Bucket": self.bucket, "Key": name}
        if filename:
            params["ResponseContentDisposition"] = _attachment(filename)
        if cache_control:
            params["ResponseCacheControl"] = cache_control
        return self._presign("get_object", params, expires)

    # -- direct uploads: the client sends the bytes to the bucket ------------------

    def presign_put(self, key: str, expires: int, content_length: int, content_type: str | None = None) -> str:
        """A presigned PUT of exactly ``content_length`` bytes (the length is a signed header)."""
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": self.object_key(key)}
        params["ContentLength"] = _length(content_length)
        if content_type:
            params["ContentType"] = content_type
        return self._presign("put_object", params, expires)

    def create_multipart(self, key: str, content_type: str | None = None) -> str:
        """Start a multipart upload of ``key``; its upload id."""
        name = self.object_key(key)
        extra = {"ContentType": content_type} if content_type else {}
        with _store_call():
            return str(self.client.create_multipart_upload(Bucket=self.bucket, Key=name, **extra)["UploadId"])

    def presign_upload_part(self, key: str, upload_id: str, part_number: int, expires: int, content_length: int) -> str:
        """A presigned UploadPart of exactly ``content_length`` bytes; its answer's ETag names the part."""
        if not 1 <= part_number <= MAX_PARTS:
            raise ValueError(f"part number must be between 1 and {MAX_PARTS}, not {part_number}")
        params = {
            "Bucket": self.bucket,
            "Key": self.object_key(key),
            "UploadId": upload_id,
            "PartNumber": part_number,
            "ContentLength": _length(content_length),
        }
        return self._presign("upload_part", params, expires)

    def complete_multipart(self, key: str, upload_id: str, parts: Sequence[tuple[int, str]]) -> None:
        """Join the uploaded ``(part number, ETag)`` parts, in part order, into the object ``key``.

        FileNotFoundError when the store knows no such upload (aborted, completed or never made).
        """
        name = self.object_key(key)
        listed = [{"PartNumber": number, "ETag": etag} for number, etag in sorted(parts)]
        with _store_call(key):
            self.client.complete_multipart_upload(
                Bucket=self.bucket, Key=name, UploadId=upload_id, MultipartUpload={"Parts": listed}
            )

    def abort_multipart(self, key: str, upload_id: str) -> None:
        """Drop a multipart upload and the parts it holds; no error when it is gone already."""
        name = self.object_key(key)
        with contextlib.suppress(FileNotFoundError), _store_call(key):
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=name, UploadId=upload_id)

    def compose(self, parts: Sequence[tuple[str, int]], key: str, content_type: str | None = None) -> bool:
        """Join ``parts`` (key, size), in order, into ``key`` inside the bucket; False (nothing done)
        when S3 cannot: a part other than the last is under its 5 MiB minimum."""
        if len(parts) == 1:
            self.copy(parts[0][0], key, content_type)
            return True
        if any(size < MIN_PART for _, size in parts[:-1]):
            return False
        upload_id = self.create_multipart(key, content_type)
        try:
            etags = []
            for number, (part, _) in enumerate(parts, 1):
                source = {"Bucket": self.bucket, "Key": self.object_key(part)}
                with _store_call(part):
                    answer = self.client.upload_part_copy(
                        Bucket=self.bucket, Key=self.object_key(key), UploadId=upload_id, PartNumber=number,
                        CopySource=source,
                    )  # fmt: skip
                etags.append((number, str(answer["CopyPartResult"]["ETag"])))
            self.complete_multipart(key, upload_id, etags)
        except BaseException:
            self.abort_multipart(key, upload_id)
            raise
        return True

    @contextlib.contextmanager
    def open_joined(self, keys: Sequence[str]) -> Iterator[str]:
        """A local file of the objects ``keys`` one after another, valid inside the ``with`` block only."""
        handle, temp = self.temp_file()
        try:
            with handle:
                for key in keys:
                    with _store_call(key):
                        body = self.client.get_object(Bucket=self.bucket, Key=self.object_key(key))["Body"]
                        with contextlib.closing(body):
                            for chunk in body.iter_chunks(1024 * 1024):
                                handle.write(chunk)
            yield temp
        finally:
            with contextlib.suppress(FileNotFoundError):  # put_file may have taken it already
                os.unlink(temp)

    def _presign(self, operation: str, params: dict[str, Any], expires: int) -> str:
        seconds = min(max(int(expires), 1), MAX_PRESIGN_SECONDS)
        return str(self.client.generate_presigned_url(operation, Params=params, ExpiresIn=seconds))


def _length(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"content length must be a whole number of bytes, not {value!r}")
    return value


def _attachment(filename: str) -> str:
    # RFC 6266: an ASCII fallback and the exact name in UTF-8.
    fallback = "".join(ch if 32 <= ord(ch) < 127 and ch not in '"\\' else "_" for ch in filename)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


@contextlib.contextmanager
def _store_call(key: str | None = None) -> Iterator[None]:
    """A missing ``key`` is FileNotFoundError; any other failure of the store a 503 (retry later)."""
    try:
        yield
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code"))
        if key is not None and code in _MISSING:
            raise FileNotFoundError(f"storage key {key!r} holds no object ({code})") from None
        raise _unavailable(code) from exc
    except (BotoCoreError, Boto3Error) as exc:
        raise _unavailable(type(exc).__name__) from exc


def _unavailable(reason: str) -> HTTPError:
    # The store's own message may name the bucket or endpoint: only its error code goes out.
    return HTTPError(f"the media store failed ({reason}); try again later", status=503, code="StorageUnavailable")
