"""SMH conformance tests: calls sent exactly as the official SDKs send them (see ``smh_helpers``)."""

from __future__ import annotations

import os
import sys

import pytest

# smh_helpers here; the media builders of the foundation tests are reused, not copied.
sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "foundation"))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "cover"))  # second_app: another web host


@pytest.fixture
def app_config(app_config: dict) -> dict:
    # Preview crops use the cover engine; centre crops keep TensorFlow out (the cover tests prove faces).
    return {**app_config, "MEDIALIB_FACE_DETECTOR": "none"}
