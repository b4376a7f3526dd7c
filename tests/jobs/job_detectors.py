"""A face detector for render workers without TensorFlow (named by import path in MEDIALIB_FACE_DETECTOR).

Workers are other processes, so what it does is written to files named by the
environment: one line per detection in ``$MEDIALIB_TEST_DETECT_LOG``, and
while the file ``$MEDIALIB_TEST_DETECT_HOLD`` exists it blocks (a render in
flight when its worker is killed).
"""

from __future__ import annotations

import os
import time

from PIL import Image

from flask_medialib.imaging.faces import Face

SPEC = "job_detectors:LoggingDetector"
LOG_ENV = "MEDIALIB_TEST_DETECT_LOG"
HOLD_ENV = "MEDIALIB_TEST_DETECT_HOLD"


class LoggingDetector:
    """Finds one face in the top-left quarter of every image."""

    def __init__(self, max_side: int = 640, threshold: float = 0.9) -> None:
        self.max_side = max_side

    def detect(self, image: Image.Image) -> list[Face]:
        log = os.environ.get(LOG_ENV)
        if log:
            with open(log, "a", encoding="utf-8") as fp:
                fp.write(f"{os.getpid()} {image.width}x{image.height}\n")
        hold = os.environ.get(HOLD_ENV)
        while hold and os.path.exists(hold):
            time.sleep(0.05)  # the worker process waits here until the test lets go (or kills it)
        return [Face((0.0, 0.0, image.width / 4, image.height / 4), 0.99)]


def detections(path: str | os.PathLike[str]) -> list[str]:
    try:
        with open(path, encoding="utf-8") as fp:
            return fp.read().splitlines()
    except FileNotFoundError:
        return []
