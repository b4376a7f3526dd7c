"""Face detection: a small protocol and a RetinaFace detector.

The RetinaFace model is the frozen TensorFlow graph that ships inside the
``retinaface==1.1.1`` wheel. That package's own Python code is never imported
(it needs ``np.int``, gone from NumPy); only its graph file is read.
TensorFlow is imported on the first detection, once per process.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import threading
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
from PIL import Image

from flask_medialib.errors import DetectorUnavailable

INSTALL_HINT = "install it with `pip install tensorflow-cpu` and `pip install --no-deps retinaface==1.1.1`"


@dataclass(frozen=True)
class Face:
    """A face: box (x1, y1, x2, y2) in source pixels, score in [0, 1]."""

    box: tuple[float, float, float, float]
    score: float
    landmarks: tuple[tuple[float, float], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"box": [round(float(v), 2) for v in self.box], "score": round(float(self.score), 4)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Face:
        x1, y1, x2, y2 = (float(v) for v in data["box"])
        return cls((x1, y1, x2, y2), float(data.get("score", 1.0)))

    def scaled(self, sx: float, sy: float) -> Face:
        """This face in an image scaled by (sx, sy), e.g. draft -> source."""
        x1, y1, x2, y2 = self.box
        marks = tuple((x * sx, y * sy) for x, y in self.landmarks)
        return Face((x1 * sx, y1 * sy, x2 * sx, y2 * sy), self.score, marks)


@runtime_checkable
class FaceDetector(Protocol):
    def detect(self, image: Image.Image) -> list[Face]: ...


class NullDetector:
    """Finds no face: every cover is a centre crop."""

    def detect(self, image: Image.Image) -> list[Face]:
        return []


def tensorflow_imported() -> bool:
    """Whether this process has imported TensorFlow (it costs ~3 s, ~450 MB)."""
    return "tensorflow" in sys.modules


_lock = threading.Lock()
_model: list[Callable[[Any], Any]] = []  # the pruned graph function, once loaded


def graph_path() -> Path:
    """Where the installed ``retinaface`` wheel keeps its frozen graph."""
    spec = importlib.util.find_spec("retinaface")  # finds, does not import
    for root in (spec.submodule_search_locations or []) if spec else []:
        path = Path(root) / "src" / "frozen_graph.pb"
        if path.is_file():
            return path
    raise DetectorUnavailable(f"the RetinaFace model file is missing; {INSTALL_HINT}")


def check_installed() -> None:
    """Raise DetectorUnavailable unless TF and the graph are installed (no import)."""
    if importlib.util.find_spec("tensorflow") is None:
        raise DetectorUnavailable(f"TensorFlow is not installed; {INSTALL_HINT}")
    graph_path()


def _load_model() -> Callable[[Any], Any]:
    with _lock:
        if _model:
            return _model[0]
        path = graph_path()
        # Quiet TF's C++ logs. (Its one-line oneDNN notice ignores this in TF
        # 2.21; TF_ENABLE_ONEDNN_OPTS=0 would hide it but detects ~1.7x slower.)
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        try:
            with warnings.catch_warnings():  # TF's own deprecations on import
                warnings.simplefilter("ignore")
                import tensorflow as tf
        except Exception as exc:
            raise DetectorUnavailable(f"TensorFlow cannot be imported ({exc}); {INSTALL_HINT}") from exc
        try:
            graph_def = tf.compat.v1.GraphDef()
            graph_def.ParseFromString(path.read_bytes())

            def _import() -> None:
                tf.compat.v1.import_graph_def(graph_def, name="")

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                wrapped = tf.compat.v1.wrap_function(_import, [])
                graph = wrapped.graph
                fn = wrapped.prune(graph.as_graph_element("x:0"), graph.as_graph_element("Identity:0"))
        except Exception as exc:
            raise DetectorUnavailable(f"the RetinaFace graph {path} cannot be loaded ({exc}); {INSTALL_HINT}") from exc

        def run(batch: np.ndarray) -> np.ndarray:
            return np.asarray(fn(tf.constant(batch)))

        _model.append(run)
        return run


class RetinaFaceDetector:
    """RetinaFace (MobileNetV2) on a copy whose longest side is ``max_side``.

    The graph takes float32 RGB in 0..255 (it normalises itself) with sides
    a multiple of 32, and returns rows of box (4), five landmarks (10), a
    constant 1 and the face probability, all after its own NMS (IoU 0.4,
    score >= 0.5, so a ``threshold`` below 0.5 changes nothing). All
    instances share one graph per process; ``detect`` is thread-safe.
    """

    def __init__(self, max_side: int = 640, threshold: float = 0.9) -> None:
        if max_side < 32:
            raise ValueError("max_side must be at least 32")
        self.max_side = max_side
        self.threshold = threshold

    def load(self) -> RetinaFaceDetector:
        """Import TensorFlow and the graph now, and run it once to warm it."""
        run = _load_model()
        run(np.zeros((1, 64, 64, 3), np.float32))
        return self

    def detect(self, image: Image.Image) -> list[Face]:
        width, height = image.size
        if width == 0 or height == 0:
            return []
        scale = min(1.0, self.max_side / max(width, height))
        w, h = max(1, round(width * scale)), max(1, round(height * scale))
        small = image if image.mode == "RGB" else image.convert("RGB")
        if (w, h) != (width, height):
            small = small.resize((w, h), Image.Resampling.BILINEAR, reducing_gap=2.0)
        pw, ph = -(-w // 32) * 32, -(-h // 32) * 32
        batch = np.zeros((1, ph, pw, 3), np.float32)  # zero padding, as trained
        batch[0, :h, :w] = np.asarray(small, dtype=np.float32)
        rows = _load_model()(batch)
        # normalised to the padded input -> source pixels
        fx, fy = pw * width / w, ph * height / h
        faces = []
        for row in rows:
            score = float(row[15])
            if score < self.threshold:
                continue
            x1, x2 = (min(max(float(v) * fx, 0.0), width) for v in (row[0], row[2]))
            y1, y2 = (min(max(float(v) * fy, 0.0), height) for v in (row[1], row[3]))
            if x2 - x1 <= 0 or y2 - y1 <= 0:
                continue
            marks = tuple((float(row[4 + 2 * k]) * fx, float(row[5 + 2 * k]) * fy) for k in range(5))
            faces.append(Face((x1, y1, x2, y2), score, marks))
        faces.sort(key=lambda f: f.score, reverse=True)
        return faces


def load_detector(spec: str, **kwargs: Any) -> FaceDetector:
    """A detector from a name: "retinaface", "none", or "pkg.module:Class".

    No TensorFlow is imported here; RetinaFace loads on its first detection.
    """
    name = (spec or "none").strip()
    if name.lower() in ("none", "null", "off"):
        return NullDetector()
    if name.lower() == "retinaface":
        check_installed()
        return RetinaFaceDetector(**kwargs)
    module_name, sep, attr = name.partition(":")
    if not sep:
        module_name, _, attr = name.rpartition(".")
    if not module_name or not attr:
        raise DetectorUnavailable(f"face detector {spec!r} is not 'retinaface', 'none' or 'package.module:Class'")
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise DetectorUnavailable(f"face detector {spec!r} cannot be imported: {exc}") from exc
    detector = factory(**kwargs) if callable(factory) else factory
    if not callable(getattr(detector, "detect", None)):
        raise DetectorUnavailable(f"face detector {spec!r} has no detect(image) method")
    return detector
