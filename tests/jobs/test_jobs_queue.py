"""Celery mode without a worker: what the web process enqueues, how long it waits, and what it answers."""

from __future__ import annotations

import pytest
from cover_helpers import cover_path, jpeg, make_library, root_space, upload
from job_detectors import LOG_ENV

from flask_medialib import get_state, jobs


def test_cold_cover_enqueues_one_render_and_answers_503_with_retry_after(app, client, broker, monkeypatch, tmp_path):
    monkeypatch.setenv(LOG_ENV, str(tmp_path / "detections.log"))
    library = make_library("lib", public_read=True)
    lib_space = root_space(library)
    from flask_medialib.services import library as lib

    lib.create_album(library, lib_space, "a")
    media = upload(library, lib_space, "a", "red.jpg", jpeg((200, 0, 0)))

    answers = [client.get(cover_path("lib", size=128)) for _ in range(3)]

    for resp in answers:
        assert resp.status_code == 503
        assert resp.headers["Retry-After"] == "1"
        body = resp.get_json()
        assert body["code"] == "CoverRendering" and body["requestId"] and "render" in body["message"]
    # Three cold requests, one job (de-duplicated), for this media and size; nothing rendered here.
    assert broker.tasks() == [(jobs.RENDER_TASK, [media.id, 128, broker_key(app, media, 128)])]
    assert not (tmp_path / "detections.log").exists()


def broker_key(app, media, size):
    from flask_medialib.services import covers

    return covers.cover_key(get_state(app), media, size)
