"""Real render workers (``flask medialib worker``) on the test's database, Redis cache and Redis broker."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import pytest
from cover_helpers import at, close_to, cover_path, fetch_cover, insert_media, jpeg, mean_color
from job_detectors import HOLD_ENV, LOG_ENV, detections
from jobs_harness import RenderWorker, wait_for
from jobs_helpers import add_materials, album_with_red
from material_helpers import Receiver

from flask_medialib import get_state, jobs
from flask_medialib.models import Media
from flask_medialib.services import covers
from flask_medialib.services import library as lib

pytestmark = pytest.mark.slow


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.close()


@pytest.fixture
def jobs_config(request: pytest.FixtureRequest, receiver: Receiver) -> dict:
    return {
        "MEDIALIB_WEBHOOK_URLS": [receiver.url],
        "MEDIALIB_WEBHOOK_SECRET": "s3cret",
        **getattr(request, "param", {}),
    }


@pytest.fixture
def detect_log(tmp_path) -> str:
    return str(tmp_path / "detections.log")


@pytest.fixture
def start_worker(app, broker, tmp_path, detect_log) -> Iterator:
    started: list[RenderWorker] = []

    def start(name: str = "w", pool: str = "solo", **env: str) -> RenderWorker:
        found = RenderWorker(app.config, tmp_path, env={LOG_ENV: detect_log, **env}, name=name, pool=pool)
        started.append(found)
        return found.start()

    yield start
    for found in started:
        found.stop()


@pytest.mark.parametrize("jobs_config", [{"MEDIALIB_PRERENDER_SIZES": [128, 256]}], indirect=True)
def test_an_added_image_is_rendered_before_its_first_view_and_its_event_delivered(
    app, client, broker, receiver, start_worker, detect_log
):
    state = get_state(app)
    # The space's cover is an older media nobody viewed yet; the add must warm it too.
    library, _ = lib.create_library("mat", multi_tenant=True, public_read=True)
    state.session.commit()
    space = lib.create_space(library, "acme")
    older_id = insert_media(space, None, kind=1, data=jpeg((0, 0, 200)), at=at(0), ext=".jpg", name="older").id
    # The images' bytes come through SMH first; their own jobs are purged, so the worker gets the add's.
    added = add_materials(app, existing=("mat", "acme"), broker=broker)
    start_worker()

    rows = [state.session.get(Media, item["id"]) for item in added if item["type"] == 1]
    older = state.session.get(Media, older_id)
    keys = [covers.cover_key(state, media, size) for media in [*rows, older] for size in (128, 256)]
    wait_for(lambda: all(state.cache.has(key) for key in keys), 60, "the pre-rendered covers")
    wait_for(receiver.delivered, 30, "the webhook delivery")

    # One detection per media (both sizes share it), all in the worker; the text material got none.
    lines = detections(detect_log)
    assert len(lines) == 3 and {line.split()[0] for line in lines} != {str(os.getpid())}
    # The first view is warm: a 302 at once, no job enqueued, nothing detected again.
    for size in (128, 256):
        resp = client.get(cover_path("mat", "acme", None, size=size))
        assert resp.status_code == 302, resp.get_data(as_text=True)
    assert broker.tasks() == []
    assert len(detections(detect_log)) == 3
    image, _, _ = fetch_cover(client, cover_path("mat", "acme", None, size=256))
    assert close_to(mean_color(image), (0, 0, 200))  # the space's cover is still the older media
    assert [r for r in receiver.delivered() if b"material_add" in r["body"]]


# No prerender of the upload: the one job is the cold cover's render.
@pytest.mark.parametrize(
    "jobs_config", [{"MEDIALIB_RENDER_LOCK_TTL": 3, "MEDIALIB_PRERENDER_SIZES": []}], indirect=True
)
def test_a_worker_killed_mid_render_holds_no_lock_for_ever_and_the_render_happens_again(
    app, client, broker, redis_client, redis_prefix, start_worker, detect_log, tmp_path
):
    hold = tmp_path / "hold"
    hold.touch()
    first = start_worker("first", **{HOLD_ENV: str(hold)})
    album_with_red(app)
    app.config["MEDIALIB_RENDER_WAIT"] = 0.0
    assert client.get(cover_path("lib", size=128)).status_code == 503
    wait_for(lambda: detections(detect_log), 30, "the worker to start rendering")

    first.kill()
    # Everything the dead render held expires on its own.
    held = [key for key in redis_client.scan_iter(f"{redis_prefix}*") if b"lock:" in key or b"jobs:render:" in key]
    assert held
    for key in held:
        assert 0 < redis_client.pttl(key) <= 3000, key

    hold.unlink()
    start_worker("second", **{HOLD_ENV: str(hold)})
    app.config["MEDIALIB_RENDER_WAIT"] = 30.0
    resp = client.get(cover_path("lib", size=128))
    assert resp.status_code == 302, resp.get_data(as_text=True)
    image, _, _ = fetch_cover(client, cover_path("lib", size=128))
    assert image.size == (128, 128) and close_to(mean_color(image), (200, 0, 0))
    lines = detections(detect_log)
    assert len(lines) == 2 and lines[0].split()[0] != lines[1].split()[0]  # again, in the second worker


# No prerender of the upload: the one job is the cold cover's render.
@pytest.mark.parametrize(
    "jobs_config", [{"MEDIALIB_RENDER_LOCK_TTL": 3, "MEDIALIB_PRERENDER_SIZES": []}], indirect=True
)
def test_a_pool_process_killed_mid_render_gives_its_job_back(app, client, broker, start_worker, detect_log, tmp_path):
    """Prefork: the job is acknowledged only after it ran, so the broker hands it to the next pool process."""
    hold = tmp_path / "hold"
    hold.touch()
    worker = start_worker("prefork", pool="prefork", **{HOLD_ENV: str(hold)})
    album_with_red(app)
    app.config["MEDIALIB_RENDER_WAIT"] = 0.0
    assert client.get(cover_path("lib", size=96)).status_code == 503
    first = wait_for(lambda: detections(detect_log), 30, "a pool process to start rendering")
    child = int(first[0].split()[0])
    assert child != worker.process.pid

    os.kill(child, signal.SIGKILL)
    hold.unlink()
    # No request in between: the job comes back by itself (and waits out the dead process's lock, 3 s at most).
    lines = wait_for(lambda: len(detections(detect_log)) >= 2 and detections(detect_log), 60, "the render again")
    assert int(lines[1].split()[0]) not in (child, worker.process.pid)
    app.config["MEDIALIB_RENDER_WAIT"] = 30.0
    image, _, _ = fetch_cover(client, cover_path("lib", size=96))
    assert close_to(mean_color(image), (200, 0, 0))


@pytest.mark.parametrize(
    "jobs_config", [{"MEDIALIB_RENDER_LOCK_TTL": 2, "MEDIALIB_PRERENDER_SIZES": []}], indirect=True
)
def test_a_job_that_kills_every_pool_process_is_given_up_after_three_runs(
    app, client, broker, start_worker, detect_log, tmp_path
):
    hold = tmp_path / "hold"
    hold.touch()  # every run blocks in detection, and is killed there
    worker = start_worker("prefork", pool="prefork", **{HOLD_ENV: str(hold)})
    album_with_red(app)
    app.config["MEDIALIB_RENDER_WAIT"] = 0.0
    assert client.get(cover_path("lib", size=96)).status_code == 503
    for run in range(1, 1 + 1 + jobs.LOST_JOB_RETRIES):
        lines = wait_for(lambda n=run: len(detections(detect_log)) >= n and detections(detect_log), 60, f"run {run}")
        os.kill(int(lines[run - 1].split()[0]), signal.SIGKILL)
    wait_for(lambda: worker.log().count(b"Worker exited prematurely") >= 3, 30, "the third loss")
    # Given up: the third loss is not retried, and nothing waits in the queue.
    wait_for(lambda: b"Task handler raised error" in worker.log().split(b"retry: Retry in 0s")[-1], 30, "the end")
    assert worker.log().count(b"retry: Retry in 0s") == jobs.LOST_JOB_RETRIES
    assert broker.tasks() == []
    assert len(detections(detect_log)) == 1 + jobs.LOST_JOB_RETRIES
