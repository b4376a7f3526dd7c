"""Tell what a media file is from its content, cheaply.

Images: Pillow reads the header only (no pixel is decoded). Videos: OpenCV
opens the file once and decodes exactly one frame, which proves the video is
usable and gives its upright size.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Any

from PIL import Image

from flask_medialib.errors import MediaError
from flask_medialib.imaging.decode import (
    PathLike,
    _name,
    _video_capture,
    open_image,
    read_first_frame,
)

#: 180 M pixels, twice Pillow's own default warning limit.
DEFAULT_MAX_PIXELS = 2 * 89_478_485

_IMAGE_TYPES: dict[str, tuple[str, str]] = {
    "JPEG": ("image/jpeg", ".jpg"),
    "MPO": ("image/jpeg", ".jpg"),  # multi-picture JPEG; frame 0 is a JPEG
    "PNG": ("image/png", ".png"),
    "GIF": ("image/gif", ".gif"),
    "WEBP": ("image/webp", ".webp"),
    "BMP": ("image/bmp", ".bmp"),
    "TIFF": ("image/tiff", ".tif"),
    "HEIF": ("image/heic", ".heic"),
    "AVIF": ("image/avif", ".avif"),
    "ICO": ("image/x-icon", ".ico"),
    "JPEG2000": ("image/jp2", ".jp2"),
}

# EXIF orientations 5-8 turn the picture by 90 degrees.
_SWAPS_SIDES = {5, 6, 7, 8}
_AUDIO_BRANDS = {b"M4A ", b"M4B ", b"M4P ", b"F4A ", b"F4B "}


@dataclass(frozen=True)
class MediaInfo:
    kind: str  # "image" | "video"
    mime: str
    ext: str  # with the dot, e.g. ".jpg"
    width: int  # as displayed: EXIF / rotation metadata applied
    height: int
    duration: float | None = None  # seconds; None for images

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def sniff_video_container(head: bytes) -> tuple[str, str] | None:
    """(mime, ext) of a video container from its first bytes, else None.

    OpenCV/FFmpeg would also open audio with cover art, single images and
    more; only real video containers are accepted as videos.
    """
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in _AUDIO_BRANDS:
            return None
        if brand == b"qt  ":
            return "video/quicktime", ".mov"
        if brand.startswith(b"3g"):
            return "video/3gpp", ".3gp"
        return "video/mp4", ".mp4"
    if head[4:8] in (b"moov", b"mdat", b"wide", b"free"):
        return "video/quicktime", ".mov"  # old QuickTime without ftyp
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        if b"webm" in head[:64]:
            return "video/webm", ".webm"
        return "video/x-matroska", ".mkv"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "video/x-msvideo", ".avi"
    if head[:3] == b"FLV":
        return "video/x-flv", ".flv"
    if head.startswith(b"\x00\x00\x01\xba") or head.startswith(b"\x00\x00\x01\xb3"):
        return "video/mpeg", ".mpg"
    if len(head) > 376 and head[0] == head[188] == head[376] == 0x47:
        return "video/mp2t", ".ts"
    if head.startswith(b"OggS"):
        return "video/ogg", ".ogv"
    if head.startswith(b"\x30\x26\xb2\x75\x8e\x66\xcf\x11"):
        return "video/x-ms-wmv", ".wmv"
    return None


def _image_info(im: Image.Image) -> MediaInfo:
    mime, ext = _IMAGE_TYPES.get(str(im.format), ("application/octet-stream", ""))
    width, height = im.size
    try:  # EXIF lives in the header, so this decodes no pixel
        orientation = im.getexif().get(0x0112)
    except Exception:  # noqa: BLE001 - broken EXIF only loses the rotation
        orientation = None
    if orientation in _SWAPS_SIDES:
        width, height = height, width
    return MediaInfo("image", mime, ext, width, height, None)


def _video_info(path: PathLike, mime: str, ext: str, max_pixels: int) -> MediaInfo:
    import cv2

    cap = _video_capture(path)
    try:
        frame = read_first_frame(cap, path, max_pixels)
        fps = cap.get(cv2.CAP_PROP_FPS)
        frames = cap.get(cv2.CAP_PROP_FRAME_COUNT)
    finally:
        cap.release()
    duration = round(frames / fps, 3) if fps > 0 and frames > 0 else None
    height, width = frame.shape[:2]  # the decoded frame is already upright
    return MediaInfo("video", mime, ext, int(width), int(height), duration)


def probe_media(path: PathLike, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> MediaInfo:
    """Kind, type and size of the media file at ``path``, from its content.

    Raises MediaError for empty, broken, oversized or unknown content and
    FileNotFoundError when there is no file at all.
    """
    name = _name(path)
    with open(path, "rb") as fp:
        im = open_image(fp, name, max_pixels=max_pixels)
        if im is not None:
            return _image_info(im)
        fp.seek(0)
        head = fp.read(512)
    container = sniff_video_container(head)
    if container is None:
        raise MediaError(f"{name} is neither an image nor a video we can read")
    return _video_info(os.fspath(path), *container, max_pixels)
