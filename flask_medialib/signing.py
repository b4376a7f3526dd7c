"""Signed, expiring file URLs: what a cover's 302 points at.

The payload names the media, its version and the rendition, so a signature
cannot be re-targeted at other media or another size. Expiry is rounded up to
a window of a tenth of the lifetime, so repeated covers within a window get
the same URL and browsers and CDNs can cache it.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeSerializer

from .errors import forbidden
from .extension import get_state

ORIGINAL = "o"
COVER = "c"


@dataclass(frozen=True)
class FileRef:
    rendition: str  # ORIGINAL or COVER
    media_id: int
    version: int
    size: int  # 0: full size
    expires: int  # epoch seconds


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(get_state().signing_secret, salt="medialib-file-v1")


def _now() -> float:
    return get_state().clock().replace(tzinfo=dt.UTC).timestamp()


def sign(rendition: str, media_id: int, version: int, size: int = 0) -> str:
    ttl = get_state().config["MEDIALIB_SIGNED_URL_TTL"]
    window = max(ttl // 10, 1)
    expires = int(math.ceil((_now() + ttl) / window) * window)
    return str(_serializer().dumps([rendition, media_id, version, size, expires]))


def verify(token: str) -> FileRef:
    try:
        rendition, media_id, version, size, expires = _serializer().loads(token)
        ref = FileRef(str(rendition), int(media_id), int(version), int(size), int(expires))
    except (BadSignature, ValueError, TypeError):
        raise forbidden(
            "the file URL is not valid (bad signature); ask for the cover again", "InvalidSignature"
        ) from None
    if ref.expires <= _now():
        raise forbidden("the file URL has expired; ask for the cover again", "SignatureExpired")
    return ref
