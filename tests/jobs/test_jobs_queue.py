"""Celery mode without a worker: what the web process enqueues, how long it waits, and what it answers."""

from __future__ import annotations

import os
import threading
import time

import pytest
from celery import Celery
from conftest import RABBIT_URL, REDIS_URL
from cover_helpers import (
    at,
    close_to,
    cover_path,
    fetch_cover,
    insert_media,
    jpeg,
    make_library,
    mean_color,
    root_space,
)
from flask import Flask
from job_detectors import LOG_ENV, detections
from jobs_helpers import add_materials, album_with_red, close_app
from material_helpers import BASE, Receiver

from flask_medialib import MediaLib, auth, get_state, jobs
from flask_medialib.errors import ConfigError
from flask_medialib.events import PENDING
from flask_medialib.models import Media, WebhookDelivery
from flask_medialib.services import covers
from flask_medialib.services import library as lib


def test_cold_cover_enqueues_one_render_and_answers_503_with_retry_after(app, client, broker, monkeypatch, tmp_path):
    monkeypatch.setenv(LOG_ENV, str(tmp_path / "detections.log"))
    media = album_with_red(app)

    started = time.monotonic()
    answers = [client.get(cover_path("lib", size=128)) for _ in range(3)]
    elapsed = time.monotonic() - started

    for resp in answers:
        assert resp.status_code == 503
        assert resp.headers["Retry-After"] == "1"
        body = resp.get_json()
        assert body["code"] == "CoverRendering" and body["requestId"] and "render" in body["message"]
    # Each waited MEDIALIB_RENDER_WAIT (0.2 s), not longer.
    assert 0.6 <= elapsed < 3
    # Three cold requests, one job (de-duplicated across requests), for this media and size.
    key = covers.cover_key(get_state(app), media, 128)
    assert broker.tasks(jobs.RENDER_TASK) == [(jobs.RENDER_TASK, [media.id, 128, key])]
    # Nothing was decoded or detected in the web process.
    assert detections(tmp_path / "detections.log") == []


def test_render_wait_zero_answers_at_once(app, client, broker):
    app.config["MEDIALIB_RENDER_WAIT"] = 0.0
    album_with_red(app)
    started = time.monotonic()
    resp = client.get(cover_path("lib", size=64))
    assert resp.status_code == 503 and resp.get_json()["code"] == "CoverRendering"
    assert time.monotonic() - started < 1
    assert len(broker.tasks(jobs.RENDER_TASK)) == 1


def test_a_render_stored_by_someone_else_answers_the_waiting_request(app, client, broker):
    """The web process polls the cache: a render stored while it waits is its answer (a 302)."""
    app.config["MEDIALIB_RENDER_WAIT"] = 20.0
    media = album_with_red(app)
    state = get_state(app)
    key = covers.cover_key(state, media, 64)
    task = state.jobs.celery.tasks[jobs.RENDER_TASK]

    def worker() -> None:  # a thread has no app context: the task brings its own
        while not broker.tasks(jobs.RENDER_TASK):
            time.sleep(0.01)
        task.apply(args=broker.tasks(jobs.RENDER_TASK)[0][1])

    thread = threading.Thread(target=worker)
    thread.start()
    resp = client.get(cover_path("lib", size=64))
    thread.join(30)
    assert resp.status_code == 302, resp.get_data(as_text=True)
    image, _, headers = fetch_cover(client, cover_path("lib", size=64))
    assert headers["Content-Type"] == "image/jpeg" and image.size == (64, 64)
    assert close_to(mean_color(image), (200, 0, 0))
    # The job cleared its queued mark: a later miss (eviction) enqueues again.
    assert state.cache.get(f"jobs:render:{key}") is None


def test_broken_media_found_by_the_job_is_skipped_by_the_waiting_request(app, client, broker):
    from cover_helpers import at, insert_media

    app.config["MEDIALIB_RENDER_WAIT"] = 20.0
    library = make_library("lib", public_read=True)
    space = root_space(library)
    album = lib.create_album(library, space, "a")
    broken = insert_media(space, album, kind=1, data=b"not an image", at=at(0), ext=".jpg", name="broken")
    good = insert_media(space, album, kind=1, data=jpeg((0, 0, 200)), at=at(1), ext=".jpg", name="blue")
    task = get_state(app).jobs.celery.tasks[jobs.RENDER_TASK]
    stop = threading.Event()

    def worker() -> None:
        done: set[str] = set()
        while not stop.is_set():
            for _, args in broker.tasks(jobs.RENDER_TASK):
                if args[2] not in done:
                    done.add(args[2])
                    task.apply(args=args)
            time.sleep(0.01)

    thread = threading.Thread(target=worker)
    thread.start()
    try:
        resp = client.get(cover_path("lib", size=64))
    finally:
        stop.set()
        thread.join(30)
    assert resp.status_code == 302
    # The job found the first media broken; the request went on to the next one (blue).
    image, _, _ = fetch_cover(client, cover_path("lib", size=64))
    assert close_to(mean_color(image), (0, 0, 200))
    rendered = {args[0] for _, args in broker.tasks(jobs.RENDER_TASK)}
    assert rendered == {broken.id, good.id}


def test_material_add_enqueues_a_prerender_and_a_delivery_and_a_lost_job_loses_no_event(
    app, client, broker, runner, tmp_path
):
    receiver = Receiver()
    try:
        app.config["MEDIALIB_WEBHOOK_URLS"] = [receiver.url]
        app.config["MEDIALIB_WEBHOOK_SECRET"] = "s3cret"
        other = Flask("webhooks", instance_path=str(tmp_path / "other"))
        other.config.update(app.config)
        MediaLib(other)  # the subscriptions follow the config at init_app
        with other.app_context():
            added = add_materials(other, broker=broker)
            tasks = broker.tasks()
            assert sorted(name for name, _ in tasks) == [jobs.DELIVER_TASK, jobs.PRERENDER_TASK]
            images = [item["id"] for item in added if item["type"] == 1]
            assert [args for name, args in tasks if name == jobs.PRERENDER_TASK] == [[images]]
            # The jobs are lost (broker flushed, worker dead): the outbox still has the delivery.
            broker.purge()
            state = get_state(other)
            # Three events: the two SMH uploads of the images' bytes and the add.
            assert [d.status for d in state.session.query(WebhookDelivery)] == [PENDING] * 3
            result = other.test_cli_runner().invoke(args=["medialib", "events", "deliver", "--once"])
            assert "delivered 3" in result.output, result.output
            assert len(receiver.delivered()) == 3
        close_app(other)
    finally:
        receiver.close()


def test_broker_down_answers_503_quickly_and_never_fails_a_committed_add(app, client, tmp_path):
    app.config["MEDIALIB_RENDER_WAIT"] = 5.0
    down = Flask("down", instance_path=str(tmp_path / "down"))
    down.config.update(app.config)
    down.config["MEDIALIB_CELERY_BROKER_URL"] = "redis://127.0.0.1:1/0"  # nothing listens there
    MediaLib(down)
    with down.app_context():
        album_with_red(down)
        started = time.monotonic()
        resp = down.test_client().get(cover_path("lib", size=64))
        assert resp.status_code == 503, resp.get_data(as_text=True)
        assert resp.get_json()["code"] == "RenderQueueUnavailable"
        assert int(resp.headers["Retry-After"]) >= 1
        assert time.monotonic() - started < 5
        # The add commits and answers; its pre-render job is lost with the broker (logged).
        started = time.monotonic()
        added = add_materials(down)
        assert len(added) == 3 and time.monotonic() - started < 5
        assert get_state(down).session.get(Media, added[0]["id"]) is not None
    close_app(down)


# -- configuration ------------------------------------------------------------------------


def bare(tmp_path, **config) -> Flask:
    app = Flask("bare", instance_path=str(tmp_path / "bare"))
    app.config.update(TESTING=True, SECRET_KEY="x", **config)
    return app


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"MEDIALIB_JOBS": "threads"}, "MEDIALIB_JOBS must be one of inline, celery"),
        ({"MEDIALIB_JOBS": "celery", "MEDIALIB_CACHE_TYPE": "SimpleCache"}, "needs a cache that workers share"),
        ({"MEDIALIB_JOBS": "celery"}, "needs MEDIALIB_CELERY_BROKER_URL"),
        ({"MEDIALIB_PRERENDER_SIZES": [256, 0]}, "MEDIALIB_PRERENDER_SIZES must be between 1 and 8192"),
        ({"MEDIALIB_PRERENDER_SIZES": "big"}, "MEDIALIB_PRERENDER_SIZES must be an integer"),
        (
            {"MEDIALIB_JOBS": "celery", "MEDIALIB_PRERENDER_SIZES": [4096], "MEDIALIB_CELERY_BROKER_URL": REDIS_URL},
            "exceed MEDIALIB_COVER_MAX_SIZE",
        ),
        ({"MEDIALIB_RENDER_WAIT": -1}, "MEDIALIB_RENDER_WAIT must be between"),
        ({"MEDIALIB_RENDER_LOCK_TTL": 0}, "MEDIALIB_RENDER_LOCK_TTL must be between"),
    ],
)
def test_bad_job_keys_fail_at_start_naming_the_key(tmp_path, config, message):
    with pytest.raises(ConfigError, match=message):
        MediaLib(bare(tmp_path, MEDIALIB_CACHE_DIR=str(tmp_path / "cache"), **config))


def test_inline_is_the_default_and_refuses_a_celery_app(tmp_path):
    app = bare(tmp_path)
    MediaLib(app)
    assert app.config["MEDIALIB_JOBS"] == "inline" and get_state(app).jobs is None
    assert app.config["MEDIALIB_PRERENDER_SIZES"] == [256]
    host = Celery("host", set_as_current=False)
    with pytest.raises(ConfigError, match="needs MEDIALIB_JOBS = 'celery'"):
        MediaLib(bare(tmp_path), celery=host)
    host.close()


def test_a_host_celery_app_gets_the_tasks_and_runs_them_in_the_app_context(app, broker, tmp_path, redis_prefix):
    host = Celery("host", broker=REDIS_URL, set_as_current=False)
    host.conf.broker_transport_options = {"global_keyprefix": f"{redis_prefix}celery:"}
    other = Flask("hosted", instance_path=str(tmp_path / "hosted"))
    other.config.update({k: v for k, v in app.config.items() if k != "MEDIALIB_CELERY_BROKER_URL"})
    MediaLib(other, celery=host)
    assert get_state(other).jobs.celery is host
    assert {jobs.RENDER_TASK, jobs.PRERENDER_TASK, jobs.DELIVER_TASK} <= set(host.tasks)
    with other.app_context():
        media = album_with_red(other)
        key = covers.cover_key(get_state(other), media, 32)
        get_state(other).session.remove()
    # Called with no app context at all (as a worker does): the task pushes its app's.
    errors: list[BaseException] = []

    def run() -> None:
        try:
            host.tasks[jobs.RENDER_TASK].apply(args=[media.id, 32, key], throw=True)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(60)
    assert errors == []
    with other.app_context():
        assert get_state(other).cache.has(key)
    close_app(other)  # the host's Celery app stays open: it is not ours
    host.close()


def test_web_processes_in_celery_mode_never_preload_the_model(app, tmp_path):
    other = Flask("preload", instance_path=str(tmp_path / "preload"))
    other.config.update({**app.config, "MEDIALIB_PRELOAD_DETECTOR": True})
    MediaLib(other)
    assert get_state(other)._detector is None  # the worker command loads it, not init_app
    close_app(other)


def test_rabbitmq_as_broker_gets_the_render_job(app, tmp_path):
    from kombu import Connection

    queue = f"medialib-test-{os.getpid()}-{time.monotonic_ns()}"
    other = Flask("rabbit", instance_path=str(tmp_path / "rabbit"))
    # No prerender of the upload: the one message is the cold cover's render.
    other.config.update(
        {**app.config, "MEDIALIB_CELERY_BROKER_URL": RABBIT_URL, "MEDIALIB_CELERY_QUEUE": queue,
         "MEDIALIB_PRERENDER_SIZES": []}
    )  # fmt: skip
    MediaLib(other)
    with other.app_context():
        media = album_with_red(other)
        assert other.test_client().get(cover_path("lib", size=96)).status_code == 503
    with Connection(RABBIT_URL) as conn:
        simple = conn.SimpleQueue(queue)
        try:
            message = simple.get(timeout=10)
            message.ack()
        finally:
            simple.close()
            conn.default_channel.queue_delete(queue)
    assert message.headers["task"] == jobs.RENDER_TASK
    assert message.decode()[0][:2] == [media.id, 96]
    close_app(other)


def test_the_worker_command_needs_celery_mode(tmp_path):
    inline = bare(tmp_path)
    MediaLib(inline)
    with inline.app_context():  # not the celery-mode app of the fixtures
        result = inline.test_cli_runner().invoke(args=["medialib", "worker"])
    assert result.exit_code != 0 and 'MEDIALIB_JOBS is "inline"' in result.output


def test_a_delivery_job_that_leaves_a_retry_schedules_one_follow_up(app, broker, tmp_path):
    receiver = Receiver(plan=[500])
    try:
        other = Flask("retry", instance_path=str(tmp_path / "retry"))
        other.config.update({**app.config, "MEDIALIB_WEBHOOK_URLS": [receiver.url], "MEDIALIB_WEBHOOK_SECRET": "s"})
        MediaLib(other)
        with other.app_context():
            add_materials(other, colors=())  # one event: a text
        broker.purge()
        task = get_state(other).jobs.celery.tasks[jobs.DELIVER_TASK]
        for _ in range(2):  # a second job inside the wait schedules nothing more
            thread = threading.Thread(target=task.apply)
            thread.start()
            thread.join(30)
        assert len(receiver.requests) == 1 and receiver.delivered() == []
        follow_ups = broker.messages()
        assert [m["headers"]["task"] for m in follow_ups] == [jobs.DELIVER_TASK]
        assert follow_ups[0]["headers"]["eta"]  # due when the retry is: MEDIALIB_WEBHOOK_BACKOFF later
        close_app(other)
    finally:
        receiver.close()


def test_a_prerender_job_warms_the_media_and_the_album_cover_it_changes(app, client, broker):
    """The job run in a thread with no app context, as a worker runs it (the cover logic, without a process)."""
    library = make_library("lib", public_read=True)
    space = root_space(library)
    album = lib.create_album(library, space, "a")
    older = insert_media(space, album, kind=1, data=jpeg((0, 0, 200)), at=at(0), ext=".jpg", name="older")
    newer = insert_media(space, album, kind=1, data=jpeg((0, 200, 0)), at=at(1), ext=".jpg", name="newer")
    text = insert_media(space, album, kind=4, at=at(2), name="note")
    state = get_state(app)
    keys = {m.id: covers.cover_key(state, m, 256) for m in (older, newer)}
    task = state.jobs.celery.tasks[jobs.PRERENDER_TASK]
    thread = threading.Thread(target=task.apply, kwargs={"args": [[newer.id, text.id]], "throw": True})
    thread.start()
    thread.join(60)
    assert all(state.cache.has(key) for key in keys.values())
    app.config["MEDIALIB_RENDER_WAIT"] = 0.0
    resp = client.get(cover_path("lib", size=256))
    assert resp.status_code == 302 and broker.tasks() == []  # warm: nothing enqueued


def test_a_rename_enqueues_a_prerender_of_the_renamed_media(app, client, broker):
    """Renames also report replaced bytes (a new version, cold covers); a plain rename costs the job lookups."""
    added = add_materials(app)
    broker.purge()
    state = get_state(app)
    library = lib.get_library("mat")
    token, _ = auth.issue_token(library, space=lib.get_space(library, "acme"), grants=frozenset({"material_write"}))
    state.session.commit()
    renamed = [{"materialId": added[0]["id"], "name": "new name"}]
    resp = client.post(f"{BASE}/rename", query_string={"token": token, "openId": "alice"}, json=renamed)
    assert resp.status_code == 200, resp.get_json()
    assert broker.tasks() == [(jobs.PRERENDER_TASK, [[added[0]["id"]]])]
