"""SMH file previews other than the cover engine's squares: ``scale``, ``width_size``, ``height_size``.

A ``size`` preview is the cover engine's face-aware square (:mod:`.covers`);
these keep the whole picture and its aspect ratio, never larger than the
original. Rendered bytes are cached under the media's identity (installation,
uid, version: see :func:`.covers.media_tag`), so a replaced or deleted file can
never bring old pixels back, nor can another app sharing the cache. Where the
storage keeps renditions (s3) a preview is an object under its rendition key
instead, and the cache only remembers that it exists.
"""

from __future__ import annotations

from PIL import Image

from ..errors import MediaError, not_found
from ..imaging.crop import encode_image
from ..imaging.decode import load_media_image
from ..models import KIND_NAMES, Media
from ..state import get_state
from . import covers

_MIME = {"JPEG": "image/jpeg", "WEBP": "image/webp", "PNG": "image/png"}
_SIDE_BITS = 16  # a box travels in a signed URL's integer as width << 16 | height
MAX_SIDE = (1 << _SIDE_BITS) - 1


def preview_box(
    width: int, height: int, *, scale: int | None, width_size: int | None, height_size: int | None
) -> tuple[int, int] | None:
    """The (width, height) to show, or None for the original.

    SMH's order: ``scale`` (percent) first, else ``width_size`` and/or
    ``height_size``; one side given, the other keeps the ratio; both given,
    the picture fits inside them. Never larger than the original.
    """
    if width < 1 or height < 1:
        return None
    if scale is not None:
        factor = scale / 100
    elif width_size is not None or height_size is not None:
        factors = [s / d for s, d in ((width_size, width), (height_size, height)) if s is not None]
        factor = min(factors)
    else:
        return None
    if factor >= 1:
        return None
    return max(1, round(width * factor)), max(1, round(height * factor))


def pack(box: tuple[int, int]) -> int:
    return box[0] << _SIDE_BITS | box[1]


def unpack(code: int) -> tuple[int, int]:
    return code >> _SIDE_BITS, code & MAX_SIDE


def rendered_preview(media: Media, box: tuple[int, int]) -> tuple[bytes, str]:
    """(bytes, mime) of ``media`` resized to ``box``: from the cache, else decoded and resized now."""
    state = get_state()
    kind = _kind(media)
    # Bound to the media's identity like every other artefact (never the reusable id).
    key = f"preview:{covers.media_tag(state, media)}:{box[0]}x{box[1]}:{state.config['MEDIALIB_COVER_FORMAT']}"
    cached = state.cache.get(key)
    if cached is not None:
        return cached[0], cached[1]
    data, mime = _render(media, kind, box)
    state.cache.set(key, (data, mime))
    return data, mime


def stored_preview_url(media: Media, box: tuple[int, int], seconds: int) -> str | None:
    """The store's URL (for ``seconds``) of the preview object, rendered and stored first if need be.

    None where the storage keeps no renditions (local: :func:`rendered_preview` serves the bytes).
    The cache remembers that the object exists, so a warm preview asks the store nothing.
    """
    state = get_state()
    if not state.storage.stores_renditions:
        return None
    kind = _kind(media)
    cfg = state.config
    mime = _MIME[cfg["MEDIALIB_COVER_FORMAT"]]
    name = f"p{box[0]}x{box[1]}-q{cfg['MEDIALIB_COVER_QUALITY']}"
    marker = f"preview:obj:{covers.media_tag(state, media)}:{name}:{cfg['MEDIALIB_COVER_FORMAT']}"
    key = state.cache.get(marker)
    if not isinstance(key, str):
        key = covers.rendition_key(state, media, name, mime)
        if not state.storage.exists(key):  # rendered before and the cache forgot: no second render
            data, _ = _render(media, kind, box)
            state.storage.put_bytes(key, data, mime)  # same key, same bytes: racing renders agree
        state.cache.set(marker, key)
    return state.storage.url(key, seconds, cache_control=f"private, max-age={seconds}, immutable")


def _kind(media: Media) -> str:
    kind = KIND_NAMES.get(media.kind)
    if kind not in ("image", "video") or not media.storage_key:
        raise not_found("this file has no preview", "FileNotFound")
    return kind


def _render(media: Media, kind: str, box: tuple[int, int]) -> tuple[bytes, str]:
    state = get_state()
    fmt = state.config["MEDIALIB_COVER_FORMAT"]
    assert media.storage_key is not None  # _kind checked it
    try:
        with state.storage.open_local(media.storage_key) as path:
            image = load_media_image(path, kind, max_pixels=state.config["MEDIALIB_MAX_IMAGE_PIXELS"], target=max(box))
    except (MediaError, FileNotFoundError):
        raise not_found("this file can no longer be decoded", "FileNotFound") from None
    data = encode_image(image.resize(box, Image.Resampling.LANCZOS), fmt, state.config["MEDIALIB_COVER_QUALITY"])
    return data, _MIME[fmt]
