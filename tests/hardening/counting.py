"""A real face detector that also counts its calls across processes.

``MEDIALIB_FACE_DETECTOR = "tests.hardening.counting:CountingRetinaFace"`` makes
every gunicorn worker load it. Each ``detect()`` runs RetinaFace and then
appends one line (``pid size``) to the file named by the environment variable
``MEDIALIB_TEST_DETECT_LOG``; a write of one short line with O_APPEND is
atomic, so lines from concurrent workers never interleave.
"""

from __future__ import annotations

import os
from typing import Any

from PIL import Image

from flask_medialib.imaging.faces import Face, RetinaFaceDetector

LOG_ENV = "MEDIALIB_TEST_DETECT_LOG"


class CountingRetinaFace:
    def __init__(self, **kwargs: Any) -> None:
        self.inner = RetinaFaceDetector(**kwargs)
        self.log_path = os.environ.get(LOG_ENV)

    def detect(self, image: Image.Image) -> list[Face]:
        faces = self.inner.detect(image)
        if self.log_path:
            line = f"{os.getpid()} {image.size[0]}x{image.size[1]} {len(faces)}\n".encode()
            fd = os.open(self.log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, line)
            finally:
                os.close(fd)
        return faces


def count_calls(log_path: str | os.PathLike[str]) -> int:
    try:
        with open(log_path, encoding="utf-8") as fp:
            return sum(1 for line in fp if line.strip())
    except FileNotFoundError:
        return 0
