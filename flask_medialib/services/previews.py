"""SMH file previews other than the cover engine's squares: ``scale``, ``width_size``, ``height_size``.

A ``size`` preview is the cover engine's face-aware square (:mod:`.covers`);
these keep the whole picture and its aspect ratio, never larger than the
original. Rendered bytes are cached under the media's identity (installation,
uid, version: see :func:`.covers.media_tag`), so a replaced or deleted file can
never bring old pixels back, nor can another app sharing the cache.
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
    kind = KIND_NAMES.get(media.kind)
    if kind not in ("image", "video") or not media.storage_key:
        raise not_found("this file has no preview", "FileNotFound")
    # Bound to the media's identity like every other artefact (never the reusable id).
    key = f"preview:{covers.media_tag(state, media)}:{box[0]}x{box[1]}:{state.config['MEDIALIB_COVER_FORMAT']}"
    cached = state.cache.get(key)
    if cached is not None:
        return cached[0], cached[1]
    fmt = state.config["MEDIALIB_COVER_FORMAT"]
    try:
        with state.storage.open_local(media.storage_key) as path:
            image = load_media_image(path, kind, max_pixels=state.config["MEDIALIB_MAX_IMAGE_PIXELS"], target=max(box))
    except (MediaError, FileNotFoundError):
        raise not_found("this file can no longer be decoded", "FileNotFound") from None
    data = encode_image(image.resize(box, Image.Resampling.LANCZOS), fmt, state.config["MEDIALIB_COVER_QUALITY"])
    state.cache.set(key, (data, _MIME[fmt]))
    return data, _MIME[fmt]
