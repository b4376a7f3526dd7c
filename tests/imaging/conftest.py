"""Shared fixtures of the imaging tests: one RetinaFace model per session."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import zlib
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from flask_medialib.errors import DetectorUnavailable
from flask_medialib.imaging import RetinaFaceDetector


@pytest.fixture(scope="session")
def retinaface_detector() -> RetinaFaceDetector:
    """RetinaFace, loaded and warmed once per session.

    Skipped where TensorFlow is not installed, but never on CI (``CI`` set),
    where a missing model must fail loudly.
    """
    try:
        return RetinaFaceDetector().load()
    except DetectorUnavailable as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(str(exc))


def _write_mp4(path: Path, frames: list[np.ndarray], fps: float = 10.0) -> Path:
    """An MPEG-4 part 2 (mp4v) file from RGB frames, by OpenCV alone."""
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    assert writer.isOpened(), "OpenCV cannot write mp4v here"
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def marker_frame(width: int = 160, height: int = 96) -> np.ndarray:
    """Grey frame with a white block in its top-left corner: shows any turn or flip."""
    frame = np.full((height, width, 3), 90, np.uint8)
    frame[: height // 3, : width // 4] = 255
    return frame


@pytest.fixture
def make_mp4(tmp_path: Path) -> Callable[..., Path]:
    def make(frames: list[np.ndarray] | None = None, name: str = "clip.mp4", fps: float = 10.0) -> Path:
        if frames is None:
            frames = [marker_frame()] + [np.zeros((96, 160, 3), np.uint8)] * 9
        return _write_mp4(tmp_path / name, frames, fps)

    return make


@pytest.fixture
def rotated_mp4(tmp_path: Path) -> tuple[Path, np.ndarray]:
    """A landscape-coded video tagged to play rotated (as phones record portrait),
    and the first frame as FFmpeg itself displays it."""
    ffmpeg = shutil.which("ffmpeg")
    if not ffmpeg:
        pytest.skip("ffmpeg is not installed, so no rotation-tagged video can be made")
    plain = _write_mp4(tmp_path / "plain.mp4", [marker_frame()] * 5)
    rotated = tmp_path / "rotated.mp4"
    attempts = [  # FFmpeg >= 6 has -display_rotation; older ones the rotate tag
        [ffmpeg, "-y", "-v", "error", "-display_rotation", "90", "-i", str(plain), "-c", "copy", str(rotated)],
        [ffmpeg, "-y", "-v", "error", "-i", str(plain), "-c", "copy", "-metadata:s:v", "rotate=90", str(rotated)],
    ]
    for cmd in attempts:
        if subprocess.run(cmd, capture_output=True, check=False).returncode == 0:
            break
    else:
        pytest.skip("this ffmpeg cannot tag a video with a rotation")
    reference = tmp_path / "reference.png"
    subprocess.run(
        [ffmpeg, "-y", "-v", "error", "-i", str(rotated), "-frames:v", "1", str(reference)],
        check=True,
        capture_output=True,
    )
    with Image.open(reference) as im:
        expected = np.asarray(im.convert("RGB"))
    if expected.shape[0] <= expected.shape[1]:
        pytest.skip("this ffmpeg wrote no usable rotation tag")
    return rotated, expected


@pytest.fixture
def png_declaring(tmp_path: Path) -> Callable[[int, int], Path]:
    """Tiny PNGs whose header claims width x height: a decompression bomb's shape."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    def make(width: int, height: int) -> Path:
        path = tmp_path / f"declares-{width}x{height}.png"
        ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
        idat = zlib.compress(b"\0" * 64)
        path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
        return path

    return make
