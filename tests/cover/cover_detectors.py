"""A real RetinaFace detector that counts its detections (named by import path in MEDIALIB_FACE_DETECTOR)."""

from __future__ import annotations

import threading

from PIL import Image

from flask_medialib.imaging.faces import Face, RetinaFaceDetector

SPEC = "cover_detectors:CountingRetinaFace"


class CountingRetinaFace:
    def __init__(self, max_side: int = 640, threshold: float = 0.9) -> None:
        self.inner = RetinaFaceDetector(max_side=max_side, threshold=threshold)
        self.calls = 0
        self.sizes: list[tuple[int, int]] = []
        self._lock = threading.Lock()

    def detect(self, image: Image.Image) -> list[Face]:
        with self._lock:
            self.calls += 1
            self.sizes.append(image.size)
        return self.inner.detect(image)
