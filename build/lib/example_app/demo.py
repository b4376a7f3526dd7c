"""First-run demo data: a public album-based library ``demo`` and a private one.

The photos are scikit-image's bundled sample images (no download), plus one
short generated video. Seeding is decided by the database: the worker whose
``INSERT`` of the library row wins fills it; every other worker (and every
later start) sees the row and skips. So several gunicorn workers starting at
once seed exactly once.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import os
import tempfile
from collections.abc import Callable
from typing import Any

import numpy as np
from flask import Flask
from PIL import Image
from sqlalchemy.exc import IntegrityError

from flask_medialib import get_state
from flask_medialib.cli import create_tables
from flask_medialib.errors import HTTPError
from flask_medialib.services import library as lib

log = logging.getLogger(__name__)

DEMO_LIBRARY = "demo"
PRIVATE_LIBRARY = "demo-private"
PRIVATE_ALBUM = "Secret"
VIDEO_NAME = "astronaut-pan.mp4"

# album -> sample images, in upload order (the first is the cover).
ALBUMS: dict[str, list[str]] = {
    "Portraits": ["astronaut", "camera"],
    "Cats": ["chelsea"],
    "Space": ["rocket", "hubble_deep_field", "moon"],
    "Still life": ["coffee", "coins", "colorwheel"],
    "Science": ["immunohistochemistry", "retina"],
    "Clips": [VIDEO_NAME, "astronaut"],
}


def sample_image(name: str) -> Image.Image:
    """A scikit-image sample as a PIL image (grey ones stay grey)."""
    from skimage import data

    array = np.asarray(getattr(data, name)())
    if array.dtype == bool:
        array = array.astype(np.uint8) * 255
    if array.ndim == 3 and array.shape[2] == 4:
        return Image.fromarray(array, "RGBA").convert("RGB")
    return Image.fromarray(array)


def jpeg_bytes(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=88)
    return out.getvalue()


def make_video(path: str, *, frames: int = 36, fps: float = 12.0, size: tuple[int, int] = (320, 240)) -> None:
    """An MPEG-4 clip that zooms out from the astronaut's face: its first frame has a face in it."""
    import cv2

    source = cv2.cvtColor(np.asarray(sample_image("astronaut")), cv2.COLOR_RGB2BGR)
    height, width = source.shape[:2]
    writer = cv2.VideoWriter(path, cv2.VideoWriter.fourcc(*"mp4v"), fps, size)
    if not writer.isOpened():
        raise RuntimeError("OpenCV cannot write MPEG-4 video here")
    try:
        for index in range(frames):
            # The window grows from half the image around the face to the whole image.
            scale = 0.5 + 0.5 * index / max(frames - 1, 1)
            win_w, win_h = int(width * scale), int(width * scale * size[1] / size[0])
            cx, cy = width * (0.38 + 0.12 * scale), height * (0.15 + 0.35 * scale)
            x0 = int(min(max(cx - win_w / 2, 0), width - win_w))
            y0 = int(min(max(cy - win_h / 2, 0), height - win_h))
            frame = source[y0 : y0 + win_h, x0 : x0 + win_w]
            writer.write(cv2.resize(frame, size, interpolation=cv2.INTER_AREA))
    finally:
        writer.release()


def _claim_library(library_id: str, *, public_read: bool) -> bool:
    """Create the library row; False when it exists (another worker or an earlier start made it)."""
    state = get_state()
    try:
        lib.create_library(library_id, album_based=True, public_read=public_read)
    except HTTPError as exc:
        if exc.code == 409:
            return False
        raise
    except IntegrityError:  # lost the race between the existence check and the commit
        state.session.rollback()
        return False
    return True


def _upload(where: lib.Folder, name: str, data: bytes, uploaded_at: dt.datetime) -> None:
    lib.save_upload(where, name, io.BytesIO(data), user="demo", uploaded_at=uploaded_at)


def _fill(library_id: str, albums: dict[str, list[str]], start: dt.datetime, video: Callable[[], bytes]) -> int:
    library, space = lib.resolve(library_id, lib.ROOT_SPACE)
    count = 0
    for album_name, items in albums.items():
        lib.create_album(library, space, album_name)
        where = lib.folder(library, space, album_name)
        for item in items:
            # Distinct, increasing upload times: the first item of an album is its cover.
            when = start + dt.timedelta(seconds=count)
            if item.endswith(".mp4"):
                _upload(where, item, video(), when)
            else:
                _upload(where, f"{item}.jpg", jpeg_bytes(sample_image(item)), when)
            count += 1
    return count


def _video_bytes() -> bytes:
    handle, path = tempfile.mkstemp(suffix=".mp4")
    os.close(handle)
    try:
        make_video(path)
        with open(path, "rb") as stream:
            return stream.read()
    finally:
        os.unlink(path)


def seed(app: Flask) -> dict[str, Any]:
    """Create the demo libraries once; returns what this call did (for logs and tests)."""
    with app.app_context():
        create_tables()
        state = get_state()
        start = state.clock() - dt.timedelta(days=1)
        done: dict[str, Any] = {"demo": 0, "private": 0}
        if _claim_library(DEMO_LIBRARY, public_read=True):
            done["demo"] = _fill(DEMO_LIBRARY, ALBUMS, start, _video_bytes)
            log.info("demo library %r seeded with %d media", DEMO_LIBRARY, done["demo"])
        if _claim_library(PRIVATE_LIBRARY, public_read=False):
            done["private"] = _fill(PRIVATE_LIBRARY, {PRIVATE_ALBUM: ["coffee"]}, start, _video_bytes)
        return done
