"""Decode media into plain RGB Pillow images, defensively.

Every failure of the bytes (truncated, corrupt, too large, unknown) becomes
:class:`~flask_medialib.errors.MediaError`; a missing file still raises the
``FileNotFoundError`` of :func:`os.stat`, since that is not the media's fault.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import struct
import threading
import warnings
from collections.abc import Iterator
from typing import Any, BinaryIO

import numpy as np
from PIL import Image, ImageFile, ImageOps

from flask_medialib.errors import MediaError

PathLike = str | os.PathLike[str]

#: Pillow formats accepted as images. Pillow knows many more, but some of
#: those (TGA, SPIDER, MPEG ...) match arbitrary or video bytes by accident.
IMAGE_FORMATS = ("JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF", "HEIF", "AVIF", "ICO", "JPEG2000")

#: What Pillow and OpenCV raise on bad data; none of it may escape as is.
DECODE_ERRORS: tuple[type[BaseException], ...] = (
    *(OSError, SyntaxError, ValueError, EOFError, IndexError, KeyError, TypeError),
    *(ZeroDivisionError, struct.error, MemoryError),
    *(Image.DecompressionBombError, Image.DecompressionBombWarning),
)

_formats_lock = threading.Lock()
_formats: list[tuple[str, ...]] = []  # filled once


def image_formats() -> tuple[str, ...]:
    """The accepted formats this Pillow can open; registers pillow-heif once."""
    if not _formats:
        with _formats_lock:
            if not _formats:
                try:  # HEIC (iPhone photos) only where pillow-heif is installed
                    from pillow_heif import register_heif_opener

                    register_heif_opener()
                except ImportError:
                    pass
                Image.init()  # an unknown name in Image.open(formats=) is a KeyError
                _formats.append(tuple(f for f in IMAGE_FORMATS if f in Image.OPEN))
    return _formats[0]


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence Pillow's warnings (bomb, EXIF, palette), even under ``-W error``.

    Size limits are enforced explicitly here, so Pillow's own warnings carry
    no information and must not abort a decode in a strict test run.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _name(path: PathLike) -> str:
    return os.path.basename(os.fspath(path)) or os.fspath(path)


def check_pixels(name: str, width: int, height: int, max_pixels: int) -> None:
    if width <= 0 or height <= 0:
        raise MediaError(f"{name} has an empty size {width}x{height}")
    if width * height > max_pixels:
        raise MediaError(f"{name} is {width}x{height} = {width * height} pixels, more than the limit of {max_pixels}")


def open_image(fp: BinaryIO, name: str, *, max_pixels: int) -> ImageFile.ImageFile | None:
    """Open lazily (header only); None when the bytes are no known image.

    The caller owns ``fp`` and closes it; Pillow then never holds the file.
    Raises MediaError for an empty file, a broken header or too many pixels.
    """
    if os.fstat(fp.fileno()).st_size == 0:
        raise MediaError(f"{name} is empty")
    formats = image_formats()
    try:
        with quiet():
            im = Image.open(fp, formats=formats)
    except Image.UnidentifiedImageError:
        return None
    except Image.DecompressionBombError as exc:
        # Pillow refuses > 2 * Image.MAX_IMAGE_PIXELS before we see the size.
        found = re.search(r"\((\d+) pixels\)", str(exc))
        pixels = found.group(1) if found else "too many"
        raise MediaError(f"{name} has {pixels} pixels, more than the limit of {max_pixels}") from None
    except DECODE_ERRORS as exc:
        raise MediaError(f"{name} is a broken image: {exc}") from None
    check_pixels(name, im.width, im.height, max_pixels)
    return im


def _to_8bit(im: Image.Image) -> Image.Image:
    """Scale 16/32-bit integer and float greyscale to 8 bits, keeping the range."""
    arr = np.asarray(im)
    if arr.dtype == np.uint16 or im.mode.startswith("I;16"):
        out: np.ndarray = (arr.astype(np.uint32) + 128) // 257  # round(v / 257): 65535 -> 255
    else:
        a = arr.astype(np.float64)
        lo, hi = (float(a.min()), float(a.max())) if a.size else (0.0, 0.0)
        if im.mode == "F" and lo >= 0.0 and hi <= 1.0:
            out = a * 255.0 + 0.5
        elif im.mode == "I" and lo >= 0 and hi <= 255:
            out = a
        elif im.mode == "I" and lo >= 0 and hi <= 65535:
            out = (a + 128) // 257  # 16-bit data that Pillow widened to I
        else:
            out = (a - lo) * (255.0 / (hi - lo)) + 0.5 if hi > lo else a * 0
    return Image.fromarray(np.clip(out, 0, 255).astype(np.uint8))


def _cmyk_to_rgb(im: Image.Image) -> Image.Image:
    """Colour-managed when the file carries an ICC profile, naive otherwise."""
    icc = im.info.get("icc_profile")
    if icc:
        from PIL import ImageCms

        try:
            src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            out = ImageCms.profileToProfile(im, src, ImageCms.createProfile("sRGB"), outputMode="RGB")
        except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
            out = None
        if out is not None:
            return out
    return im.convert("RGB")


def to_rgb(im: Image.Image) -> Image.Image:
    """Any Pillow mode -> RGB; transparency is flattened onto white."""
    if im.mode in ("I", "I;16", "I;16L", "I;16B", "I;16N", "F"):
        im = _to_8bit(im)
    if im.mode == "CMYK":
        return _cmyk_to_rgb(im)
    has_alpha = im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in im.info
    if has_alpha:
        rgba = im.convert("RGBA")
        out = Image.new("RGB", rgba.size, (255, 255, 255))
        out.paste(rgba, mask=rgba.getchannel("A"))
        return out
    return im if im.mode == "RGB" else im.convert("RGB")


def load_image(path: PathLike, *, max_pixels: int, target: int | None = None) -> Image.Image:
    """Decode an image file to upright RGB (first frame if animated).

    ``target``: the smallest side the caller needs; for a cover of ``size``
    cut with ``zoom`` that is ``ceil(size * zoom)``. JPEGs are then decoded at
    1/2, 1/4 or 1/8 scale with both sides still >= ``target`` (draft mode).
    """
    name = _name(path)
    with open(path, "rb") as fp:
        im = open_image(fp, name, max_pixels=max_pixels)
        if im is None:
            raise MediaError(f"{name} is not a supported image")
        try:
            with quiet():
                if target and im.format in ("JPEG", "MPO"):
                    # draft picks a 1/2, 1/4, 1/8 scale keeping both sides >= target
                    im.draft("RGB", (target, target))
                im.load()  # frame 0: the first frame of an animation
                with contextlib.suppress(*DECODE_ERRORS):  # bad EXIF: keep the picture
                    ImageOps.exif_transpose(im, in_place=True)
                return to_rgb(im)
        except DECODE_ERRORS as exc:
            raise MediaError(f"{name} is a broken image: {exc}") from None


def _video_capture(path: PathLike) -> Any:
    import cv2

    cap = cv2.VideoCapture(os.fspath(path), cv2.CAP_FFMPEG)
    # Phones store portrait video as landscape + a rotation tag: let FFmpeg
    # apply it so frames (and their sizes) come out upright.
    cap.set(cv2.CAP_PROP_ORIENTATION_AUTO, 1)
    return cap


def read_first_frame(cap: Any, path: PathLike, max_pixels: int) -> np.ndarray:
    """First decodable frame of an opened capture, as an RGB array."""
    import cv2

    if not cap.isOpened():
        raise MediaError(f"{_name(path)} cannot be opened as a video")
    w = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH))
    h = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    if w > 0 and h > 0:
        check_pixels(_name(path), w, h, max_pixels)  # before decoding anything
    try:
        ok, frame = cap.read()
    except cv2.error as exc:
        raise MediaError(f"{_name(path)} has no decodable frame: {exc}") from None
    if not ok or frame is None or frame.size == 0:
        raise MediaError(f"{_name(path)} has no decodable video frame")
    check_pixels(_name(path), frame.shape[1], frame.shape[0], max_pixels)
    if frame.ndim == 2:
        return cv2.cvtColor(frame, cv2.COLOR_GRAY2RGB)
    return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)


def first_video_frame(path: PathLike, *, max_pixels: int) -> Image.Image:
    """The first frame of a video, upright, as an RGB image."""
    if os.stat(path).st_size == 0:
        raise MediaError(f"{_name(path)} is empty")
    cap = _video_capture(path)
    try:
        return Image.fromarray(read_first_frame(cap, path, max_pixels))
    finally:
        cap.release()


def load_media_image(path: PathLike, kind: str, *, max_pixels: int, target: int | None = None) -> Image.Image:
    """RGB image for a media file of ``kind`` "image" or "video"."""
    if kind == "image":
        return load_image(path, max_pixels=max_pixels, target=target)
    if kind == "video":
        return first_video_frame(path, max_pixels=max_pixels)
    raise MediaError(f"cannot make an image from media of kind {kind!r}")
