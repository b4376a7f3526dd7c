"""Signed, expiring file URLs bound to media identity: what covers and downloads 302 to.

The payload names the media by its ``uid`` (never reused, unlike its integer
id), its version and the rendition, so a signature cannot be re-targeted at
other media, another size, or a media that got a deleted one's id. The
signature's salt holds the installation id, so a URL of another database or
app (even one with the same secret) is refused. A cover's payload also carries
its space and whether it is public, so the file step can answer from the cache
alone (see ``views/files.py``). Expiry is rounded up to a window of a tenth of
the lifetime, so repeated covers within a window get the same URL and browsers
and CDNs can cache it.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from itsdangerous import BadSignature, URLSafeSerializer

from . import identity
from .errors import forbidden
from .state import MediaLibState, get_state

if TYPE_CHECKING:
    from .models import Media

ORIGINAL = "o"
COVER = "c"

_REFS_MAX = 4096


@dataclass(frozen=True)
class FileRef:
    rendition: str  # ORIGINAL or COVER
    uid: str  # Media.uid
    version: int
    size: int  # 0: full size
    expires: int  # epoch seconds
    public: bool = False  # Cache-Control public (else private)
    space_pk: int = 0  # covers: the space whose generation guards the cached bytes (0: unknown)

    @property
    def etag(self) -> str:
        """Names the bytes: the same for every URL of the same media version and rendition."""
        return f"{self.uid}-{self.version}-{self.rendition}{self.size}"


def _serializer(state: MediaLibState) -> URLSafeSerializer:
    # Built once per app: the warm file step verifies a signature on every request.
    if state.file_serializer is None:
        salt = f"medialib-file-v2:{identity.installation_id(state)}"
        state.file_serializer = URLSafeSerializer(state.signing_secret, salt=salt)
    return state.file_serializer


def now() -> float:
    """Epoch seconds of the extension's clock (a fake one in tests)."""
    return get_state().clock().replace(tzinfo=dt.UTC).timestamp()


def expiry(ttl: int | None = None) -> int:
    """Epoch seconds at which a URL signed now expires: ``ttl`` (else ``MEDIALIB_SIGNED_URL_TTL``) from
    now, rounded up to a tenth of it (a storage URL of the same rendition is given the same end)."""
    ttl = ttl or get_state().config["MEDIALIB_SIGNED_URL_TTL"]
    window = max(ttl // 10, 1)
    return int(math.ceil((now() + ttl) / window) * window)


def sign(
    rendition: str,
    media: Media,
    size: int = 0,
    *,
    public: bool | None = None,
    space_pk: int = 0,
    ttl: int | None = None,
    expires: int | None = None,
) -> str:
    """``public``/``space_pk`` (covers) go into the payload only when given; ``ttl`` (SMH's
    ``period``) overrides ``MEDIALIB_SIGNED_URL_TTL``; ``expires`` (from :func:`expiry`) overrides both."""
    state = get_state()
    if expires is None:
        expires = expiry(ttl)
    payload: list[object] = [rendition, media.uid, media.version, size, expires]
    if public is not None:
        payload += [int(public), space_pk]
    return str(_serializer(state).dumps(payload))


def _decode(state: MediaLibState, token: str) -> FileRef:
    # Pure in the app's secret, its installation and the token, and a warm file step is
    # mostly this HMAC and JSON: remember good tokens per app (a bad one raises).
    ref = state.file_refs.get(token)
    if ref is None:
        rendition, uid, version, size, expires, *extra = _serializer(state).loads(token)
        public, space_pk = extra if extra else (0, 0)
        if not isinstance(uid, str):
            raise TypeError("uid")
        ref = FileRef(str(rendition), uid, int(version), int(size), int(expires), bool(public), int(space_pk))
        if len(state.file_refs) >= _REFS_MAX:
            state.file_refs.clear()
        state.file_refs[token] = ref
    return ref


def expires(token: str) -> int:
    """Epoch seconds at which a URL this app just signed stops working (no other check)."""
    return _decode(get_state(), token).expires


def verify(token: str) -> FileRef:
    try:
        ref = _decode(get_state(), token)
    except (BadSignature, ValueError, TypeError):
        raise forbidden(
            "the file URL is not valid (bad signature); ask for the cover again", "InvalidSignature"
        ) from None
    if ref.expires <= now():
        raise forbidden("the file URL has expired; ask for the cover again", "SignatureExpired")
    return ref
