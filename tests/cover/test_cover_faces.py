"""Face-aware covers with the real RetinaFace model (loaded once per process)."""

from __future__ import annotations

import io
import json
import os
import threading

import numpy as np
import pytest
from cover_detectors import SPEC
from cover_helpers import at, cover_path, fetch_cover, make_library, root_space, upload
from PIL import Image

from flask_medialib import get_state, locks
from flask_medialib.services import covers
from flask_medialib.services import library as lib

pytestmark = pytest.mark.slow
REDIS_URL = os.environ.get("MEDIALIB_TEST_REDIS_URL")


@pytest.fixture
def detector_spec(retinaface_loaded) -> str:
    return SPEC


@pytest.fixture(scope="session")
def retinaface_loaded():
    """Load TensorFlow and the graph once, skipping where they are not installed (never on CI)."""
    from flask_medialib.errors import DetectorUnavailable
    from flask_medialib.imaging import RetinaFaceDetector

    try:
        return RetinaFaceDetector().load()
    except DetectorUnavailable as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(str(exc))


@pytest.fixture
def album(app):
    library = make_library("lib", album_based=True, public_read=True)
    space = root_space(library)
    lib.create_album(library, space, "a")
    return library, space


def _inside(box, crop) -> bool:
    return crop[0] <= box[0] and crop[1] <= box[1] and box[2] <= crop[2] and box[3] <= crop[3]


def _centre_crop(width: int, height: int) -> list[int]:
    side = min(width, height)
    x, y = (width - side) // 2, (height - side) // 2
    return [x, y, x + side, y + side]


def test_crop_plan_cli_keeps_the_face_a_centre_crop_would_cut(runner, media_dir):
    result = runner.invoke(args=["medialib", "crop-plan", str(media_dir / "wide.jpg"), "--size", "256"])
    assert result.exit_code == 0, result.output
    plan = json.loads(result.output)
    assert (plan["width"], plan["height"]) == (2000, 600)
    assert len(plan["faces"]) == 1 and plan["faces"][0]["score"] > 0.9
    face = plan["faces"][0]["box"]
    assert _inside(face, plan["crop"])
    assert not _inside(face, _centre_crop(2000, 600))
    assert plan["crop"][2] - plan["crop"][0] == plan["crop"][3] - plan["crop"][1] == 600


def test_crop_plan_cli_of_a_video_uses_its_first_frame(runner, media_dir):
    result = runner.invoke(args=["medialib", "crop-plan", str(media_dir / "face.mp4")])
    assert result.exit_code == 0, result.output
    plan = json.loads(result.output)
    assert (plan["width"], plan["height"]) == (2000, 600)
    assert len(plan["faces"]) == 1
    assert _inside(plan["faces"][0]["box"], plan["crop"])


def test_crop_plan_cli_of_a_broken_file_is_a_clear_error(runner, tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff garbage")
    result = runner.invoke(args=["medialib", "crop-plan", str(bad)])
    assert result.exit_code != 0
    assert "bad.jpg" in result.output


def _expected_cover(path, crop, size: int) -> np.ndarray:
    with Image.open(path) as source:
        return np.asarray(source.convert("RGB").resize((size, size), Image.Resampling.LANCZOS, box=crop), np.float64)


@pytest.mark.parametrize("name", ["wide.jpg", "face.mp4"])
def test_cover_is_the_face_aware_crop(client, runner, album, media_dir, name):
    library, space = album
    upload(library, space, "a", name, (media_dir / name).read_bytes(), at(1))
    image, _, _ = fetch_cover(client, cover_path("lib", size=256))
    assert image.size == (256, 256)
    plan = json.loads(runner.invoke(args=["medialib", "crop-plan", str(media_dir / "wide.png")]).output)
    got = np.asarray(image.convert("RGB"), np.float64)
    want = _expected_cover(media_dir / "wide.png", plan["crop"], 256)
    centre = _expected_cover(media_dir / "wide.png", _centre_crop(2000, 600), 256)
    assert np.abs(got - want).mean() < 8  # JPEG/H.264 noise only
    assert np.abs(got - centre).mean() > 20  # and clearly not the centre crop


def test_faces_are_cached_in_source_pixels_and_a_second_size_detects_nothing(client, album, media_dir):
    library, space = album
    media = upload(library, space, "a", "wide.jpg", (media_dir / "wide.jpg").read_bytes(), at(1))
    detector = get_state().detector()
    fetch_cover(client, cover_path("lib", size=128))
    assert detector.calls == 1
    # Detection ran on a draft-decoded copy, yet the cached box is in the 2000 x 600 source.
    assert max(detector.sizes[0]) < 2000
    cached = get_state().cache.get(covers.faces_key(get_state(), media))
    assert len(cached) == 1
    x1, y1, x2, y2 = cached[0]["box"]
    assert 150 < x1 < x2 < 360 and 40 < y1 < y2 < 260
    for size in (64, 300, 128):
        image, _, _ = fetch_cover(client, cover_path("lib", size=size))
        assert image.size == (size, size)
    fetch_cover(client, cover_path("lib"))
    assert detector.calls == 1


@pytest.mark.parametrize("cover_cache", [None, "FileSystemCache"])
def test_a_burst_of_requests_detects_once(app, album, media_dir, backend, cover_cache):
    library, space = album
    expected_lock = "file" if cover_cache else "redis" if REDIS_URL and backend == "postgresql" else "thread"
    assert locks.kind(get_state().cache) == expected_lock
    upload(library, space, "a", "astronaut.jpg", (media_dir / "astronaut.jpg").read_bytes(), at(1))
    workers = 6
    barrier = threading.Barrier(workers)
    locations: list[str] = []
    errors: list[BaseException] = []

    def request() -> None:
        try:
            client = app.test_client()
            barrier.wait(timeout=60)
            resp = client.get(cover_path("lib", size=200))
            assert resp.status_code == 302
            locations.append(resp.headers["Location"])
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=request) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert len(set(locations)) == 1 and len(locations) == workers
    assert get_state().detector().calls == 1
    with app.test_client().get(locations[0]) as resp:
        assert Image.open(io.BytesIO(resp.get_data())).size == (200, 200)


SERVE_ONLY = """
import json, sys
from flask import Flask
from flask_medialib import MediaLib
from flask_medialib.imaging import tensorflow_imported
config, paths = json.loads(sys.argv[1]), json.loads(sys.argv[2])
app = Flask("worker", instance_path=config.pop("_instance"))
app.config.update(config)
MediaLib(app)
client = app.test_client()
out = []
for path in paths:
    resp = client.get(path)
    with client.get(resp.headers["Location"]) as image:
        out.append([resp.status_code, image.status_code, len(image.get_data())])
print(json.dumps({"results": out, "tensorflow": tensorflow_imported()}))
"""


@pytest.mark.parametrize("cover_cache", ["FileSystemCache"])
def test_another_worker_serves_new_sizes_from_cached_faces_without_tensorflow(
    app, album, media_dir, app_config, backend, cover_cache, tmp_path
):
    import subprocess
    import sys

    if backend != "sqlite":
        pytest.skip("one shared SQLite file and cache folder stand for a second worker")
    library, space = album
    upload(library, space, "a", "wide.jpg", (media_dir / "wide.jpg").read_bytes(), at(1))
    fetch_cover(app.test_client(), cover_path("lib", size=128))  # this worker detects
    config = {
        k: v for k, v in app_config.items() if k.startswith(("MEDIALIB_", "SQLALCHEMY_", "SECRET_KEY", "TESTING"))
    }
    # Same detector settings (they are part of the faces' cache key); RetinaFace inside loads only to detect.
    assert config["MEDIALIB_FACE_DETECTOR"] == SPEC
    config["_instance"] = str(tmp_path / "instance")
    paths = [cover_path("lib", size=64), cover_path("lib", size=300), cover_path("lib")]
    child = subprocess.run(
        [sys.executable, "-c", SERVE_ONLY, json.dumps(config), json.dumps(paths)],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
        env={
            **os.environ,
            "PYTHONPATH": os.pathsep.join([os.path.dirname(__file__), os.environ.get("PYTHONPATH", "")]),
        },
    )
    report = json.loads(child.stdout.strip().splitlines()[-1])
    assert [r[:2] for r in report["results"]] == [[302, 200]] * 3
    assert report["tensorflow"] is False
