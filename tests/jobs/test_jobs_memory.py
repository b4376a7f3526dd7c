"""The issue's promise: with render workers, a web process never loads the face model (the real one here)."""

from __future__ import annotations

import json

import pytest
from cover_helpers import cover_path, make_library, png_bytes, root_space, upload, wide_astronaut
from jobs_harness import RenderWorker, run_script

from flask_medialib import get_state
from flask_medialib.services import covers
from flask_medialib.services import library as lib

pytestmark = pytest.mark.slow

ALBUMS = 6


@pytest.mark.parametrize(
    "jobs_config", [{"MEDIALIB_FACE_DETECTOR": "retinaface", "MEDIALIB_RENDER_WAIT": 60.0}], indirect=True
)
def test_a_burst_of_cold_covers_never_maps_tensorflow_in_the_web_process(app, broker, tmp_path, backend):
    state = get_state(app)
    library = make_library("lib", public_read=True)
    space = root_space(library)
    photo = png_bytes(wide_astronaut())  # the face sits at the far left: a centre crop would miss it
    media = []
    for index in range(ALBUMS):
        lib.create_album(library, space, f"a{index}")
        media.append(upload(library, space, f"a{index}", "astronaut.png", photo))
    state.session.commit()
    keys = [covers.faces_key(state, item) for item in media]

    worker = RenderWorker(app.config, tmp_path, pool="prefork").start(timeout=180)
    try:
        paths = [cover_path("lib", album=f"a{index}", size=200) for index in range(ALBUMS)]
        report = json.loads(run_script(app.config, tmp_path, "web_burst.py", *paths))
    finally:
        worker.stop()

    print("web process:", report)  # the numbers for the report (pytest -s)
    assert report["statuses"] == [302] * ALBUMS
    assert report["imported"] is False and report["mapped"] is False
    assert report["peak_mib"] < 150, report
    # The worker ran the real model: each photo's one face, on the left where it is.
    for key in keys:
        faces = state.cache.get(key)
        assert len(faces) == 1 and faces[0]["box"][2] < 700, faces
