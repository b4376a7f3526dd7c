"""MEDIALIB_PRELOAD_DETECTOR loads the model in init_app; without it nothing imports TensorFlow."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

SCRIPT = """
import json, sys
from flask import Flask
from flask_medialib import MediaLib
from flask_medialib.imaging.faces import tensorflow_imported
app = Flask("preload", instance_path=sys.argv[1])
app.config.update(TESTING=True, SQLALCHEMY_DATABASE_URI="sqlite://", MEDIALIB_CACHE_TYPE="SimpleCache",
                  MEDIALIB_PRELOAD_DETECTOR=sys.argv[2] == "on", MEDIALIB_FACE_DETECTOR=sys.argv[3])
MediaLib(app)
print(json.dumps({"tf": tensorflow_imported()}))
"""


def _start(tmp_path, preload: str, detector: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path), preload, detector],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_without_preload_init_app_imports_no_tensorflow(tmp_path):
    assert _start(tmp_path, "off", "retinaface") == {"tf": False}


@pytest.mark.slow
def test_preload_loads_the_model_at_start_up(tmp_path):
    assert _start(tmp_path, "on", "retinaface") == {"tf": True}


def test_preload_with_no_detector_imports_nothing(tmp_path):
    assert _start(tmp_path, "on", "none") == {"tf": False}
