"""Cover tests: no face model unless a module asks for one (``detector_spec``)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

# The helper modules of this folder (and the counting detector's import path).
sys.path.insert(0, os.path.dirname(__file__))

from cover_helpers import astronaut, frameless_video, make_video, wide_astronaut


@pytest.fixture
def detector_spec() -> str:
    """MEDIALIB_FACE_DETECTOR of the app: "none" keeps TensorFlow out of tests that need no faces."""
    return "none"


@pytest.fixture
def cover_cache() -> str | None:
    """A MEDIALIB_CACHE_TYPE to use instead of the backend's (parametrize to change)."""
    return None


@pytest.fixture
def app_config(app_config: dict, detector_spec: str, cover_cache: str | None, tmp_path: Path) -> dict:
    config = {**app_config, "MEDIALIB_FACE_DETECTOR": detector_spec}
    if cover_cache:
        config["MEDIALIB_CACHE_TYPE"] = cover_cache
        config["MEDIALIB_CACHE_DIR"] = str(tmp_path / "cache")
    return config


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Images and videos made once per session."""
    root = tmp_path_factory.mktemp("cover-media")
    astronaut().save(root / "astronaut.jpg", quality=92)
    wide = wide_astronaut()
    wide.save(root / "wide.jpg", quality=92)
    wide.save(root / "wide.png")
    make_video(root / "blue.mp4", ["-f", "lavfi", "-i", "color=c=blue:s=320x240:r=10"])
    make_video(root / "rotated.mp4", ["-f", "lavfi", "-i", "testsrc=s=320x240:r=10"], rotate=90)
    make_video(root / "face.mp4", ["-loop", "1", "-i", str(root / "wide.png")])
    (root / "frameless.mp4").write_bytes(frameless_video(root / "blue.mp4"))
    return root
