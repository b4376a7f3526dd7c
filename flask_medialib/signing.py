"""Signed, expiring file URLs: what a cover's 302 points at.

The payload names the media, its version and the rendition, so a signature
cannot be re-targeted at other media or another size. A cover's payload also
carries its space and whether it is public, so the file step can answer from
the cache alone (see ``views/files.py``). Expiry is rounded up to
a window of a tenth of the lifetime, so repeated covers within a window get
the same URL and browsers and CDNs can cache it.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeSerializer

from .errors import forbidden
from .state import get_state

ORIGINAL = "o"
COVER = "c"


@dataclass(frozen=True)
class FileRef:
    rendition: str  # ORIGINAL or COVER
    media_id: int
    version: int
    size: int  # 0: full size
    expires: int  # epoch seconds
    public: bool = False  # Cache-Control public (else private)
    space_pk: int = 0  # covers: the space whose generation guards the cached bytes (0: unknown)

    @property
    def etag(self) -> str:
        """Names the bytes: the same for every URL of the same media version and rendition."""
        return f"{self.media_id}-{self.version}-{self.rendition}{self.size}"


def _serializer() -> URLSafeSerializer:
    return _serializer_for(get_state().signing_secret)


@functools.lru_cache(maxsize=8)
def _serializer_for(secret: str) -> URLSafeSerializer:
    # Built once per secret: the warm file step verifies a signature on every request.
    return URLSafeSerializer(secret, salt="medialib-file-v1")


def now() -> float:
    """Epoch seconds of the extension's clock (a fake one in tests)."""
    return get_state().clock().replace(tzinfo=dt.UTC).timestamp()


def sign(
    rendition: str,
    media_id: int,
    version: int,
    size: int = 0,
    *,
    public: bool | None = None,
    space_pk: int = 0,
    ttl: int | None = None,
) -> str:
    """``public``/``space_pk`` (covers) go into the payload only when given; ``ttl`` (SMH's
    ``period``) overrides ``MEDIALIB_SIGNED_URL_TTL``."""
    ttl = ttl or get_state().config["MEDIALIB_SIGNED_URL_TTL"]
    window = max(ttl // 10, 1)
    expires = int(math.ceil((now() + ttl) / window) * window)
    payload: list[object] = [rendition, media_id, version, size, expires]
    if public is not None:
        payload += [int(public), space_pk]
    return str(_serializer().dumps(payload))


@functools.lru_cache(maxsize=4096)
def _decode(secret: str, token: str) -> FileRef:
    # Pure in (secret, token), and a warm file step is mostly this HMAC and JSON:
    # remember good tokens (a bad one raises, and exceptions are not cached).
    rendition, media_id, version, size, expires, *extra = _serializer_for(secret).loads(token)
    public, space_pk = extra if extra else (0, 0)
    return FileRef(str(rendition), int(media_id), int(version), int(size), int(expires), bool(public), int(space_pk))


def verify(token: str) -> FileRef:
    try:
        ref = _decode(get_state().signing_secret, token)
    except (BadSignature, ValueError, TypeError):
        raise forbidden(
            "the file URL is not valid (bad signature); ask for the cover again", "InvalidSignature"
        ) from None
    if ref.expires <= now():
        raise forbidden("the file URL has expired; ask for the cover again", "SignatureExpired")
    return ref
