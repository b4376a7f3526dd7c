"""Outbox, signals, the pull feed and webhook delivery (retries, dead letters, leases, kill -9)."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from material_helpers import Receiver, assert_envelope, item
from sqlalchemy import func, select

from flask_medialib import MediaLib, events, get_state
from flask_medialib.errors import ConfigError
from flask_medialib.models import MaterialEvent, WebhookDelivery

SECRET = "webhook-secret"
BACKOFF = 10


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.close()


@pytest.fixture
def app_config(app_config, receiver) -> dict:
    return {
        **app_config,
        "MEDIALIB_WEBHOOK_URLS": [receiver.url],
        "MEDIALIB_WEBHOOK_SECRET": SECRET,
        "MEDIALIB_WEBHOOK_BACKOFF": BACKOFF,
        "MEDIALIB_WEBHOOK_MAX_ATTEMPTS": 4,
    }


def ids_of(resp) -> list[int]:
    return [m["id"] for m in resp.get_json()["list"]]


def deliveries() -> list[WebhookDelivery]:
    session = get_state().session
    session.expire_all()
    return list(session.execute(select(WebhookDelivery).order_by(WebhookDelivery.id)).scalars())


def receiver_verifies(req: dict) -> bool:
    """What a receiver does: recompute the HMAC from the raw body and the headers, compare in constant time."""
    headers = req["headers"]
    message = f"{headers['X-Medialib-Timestamp']}.{headers['X-Medialib-Nonce']}.".encode() + req["body"]
    expected = hmac.new(SECRET.encode(), message, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, headers["X-Medialib-Signature"])


# -- outbox and signals -----------------------------------------------------------


def test_each_batch_writes_one_event_in_its_transaction(api):
    a, b = ids_of(api.add([item(name="a"), item(name="b", bizType=3)]))
    api.call("POST", "rename", json=[{"materialId": a, "name": "A"}])
    api.call("POST", "delete", json={"materialIds": f"{a},{b},999"})
    api.call("POST", "delete", json={"materialIds": "999"})  # nothing deleted: no event
    api.add([item(type=9)])  # refused: no event
    found = get_state().session.execute(select(MaterialEvent).order_by(MaterialEvent.id)).scalars().all()
    assert [e.event_type for e in found] == ["material_add", "material_rename", "material_delete"]
    add, rename, delete = (events.as_message(e) for e in found)
    assert [m["id"] for m in add["data"]["materials"]] == [a, b] and add["corpId"] == "acme"
    assert rename["data"]["materials"][0]["name"] == "A"
    assert delete["data"] == {"materialIds": [a, b]}
    assert len(deliveries()) == 3  # one per event and URL


def test_signals_are_sent_after_the_commit(app, api):
    seen: list[tuple[str, dict, int]] = []

    def on_event(sender, event):
        # A fresh connection sees the change: the signal comes after the commit.
        with get_state(sender).db.engine.connect() as conn:
            stored = conn.execute(select(func.count()).select_from(MaterialEvent)).scalar_one()
        seen.append((event["eventType"], event, stored))

    with (
        events.material_add.connected_to(on_event, app),
        events.material_rename.connected_to(on_event, app),
        events.material_delete.connected_to(on_event, app),
    ):
        (a,) = ids_of(api.add([item()]))
        api.call("POST", "rename", json=[{"materialId": a, "name": "x"}])
        api.call("POST", "delete", json={"materialIds": str(a)})
    assert [(kind, stored) for kind, _, stored in seen] == [
        ("material_add", 1),
        ("material_rename", 2),
        ("material_delete", 3),
    ]
    assert seen[2][1]["data"] == {"materialIds": [a]}


def test_a_failing_signal_receiver_does_not_fail_the_request(app, api):
    def broken(sender, event):
        raise RuntimeError("receiver bug")

    with events.material_add.connected_to(broken, app):
        assert_envelope(api.add([item()]), 200)


# -- the pull feed -------------------------------------------------------------------


def test_pull_feed_pages_from_a_cursor(api, corp):
    for n in range(5):
        api.add([item(name=f"m{n}")])
    body = assert_envelope(api.call("GET", "events", token="reader", limit=2), 200)
    assert [e["eventType"] for e in body["list"]] == ["material_add"] * 2
    first_ids = [e["eventId"] for e in body["list"]]
    assert body["map"] == {"after": 0, "next": first_ids[-1], "limit": 2, "end": False}
    rest = assert_envelope(api.call("GET", "events", token="reader", after=first_ids[-1], limit=10), 200)
    assert len(rest["list"]) == 3 and rest["map"]["end"] is True
    assert all(e["eventId"] > first_ids[-1] for e in rest["list"])
    empty = assert_envelope(api.call("GET", "events", token="reader", after=rest["map"]["next"]), 200)
    assert empty["list"] == [] and empty["map"]["next"] == rest["map"]["next"]
    # Events of another enterprise never show up.
    api.add([item()], token="admin", corpId="other")
    assert assert_envelope(api.call("GET", "events", token="reader", after=rest["map"]["next"]), 200)["list"] == []


def test_pull_feed_hides_other_employees_materials_unless_admin(api):
    api.add([item(name="private", bizType=3), item(name="shared")])
    bob = assert_envelope(api.call("GET", "events", token="reader", open_id="bob"), 200)
    assert [m["name"] for m in bob["list"][0]["data"]["materials"]] == ["shared"]
    alice = assert_envelope(api.call("GET", "events", token="reader", open_id="alice"), 200)
    assert len(alice["list"][0]["data"]["materials"]) == 2
    replica = assert_envelope(api.call("GET", "events", token="admin", corpId="acme", open_id="replica"), 200)
    assert len(replica["list"][0]["data"]["materials"]) == 2


@pytest.mark.parametrize("params", [{"after": -1}, {"after": "x"}, {"limit": 0}, {"limit": 1001}])
def test_pull_feed_parameter_errors(api, params):
    body = assert_envelope(api.call("GET", "events", **params), 400)
    assert next(iter(params)) in body["msg"]
    assert_envelope(api.call("GET", "events", token=None), 401)


# -- webhook delivery --------------------------------------------------------------------


def test_retries_with_backoff_then_delivers_a_signed_stable_event(api, receiver, clock):
    receiver.plan = [500, 500]
    api.add([item(name="a")])
    assert events.deliver_all_due().retried == 1
    assert events.deliver_all_due().attempted == 0  # not due before the backoff
    clock.advance(BACKOFF - 1)
    assert events.deliver_all_due().attempted == 0
    clock.advance(1)
    assert events.deliver_all_due().retried == 1  # second failure: now twice the wait
    clock.advance(2 * BACKOFF - 1)
    assert events.deliver_all_due().attempted == 0
    clock.advance(1)
    assert events.deliver_all_due().delivered == 1
    (row,) = deliveries()
    assert (row.status, row.attempts, row.last_status) == ("delivered", 3, 200)
    assert [r["status"] for r in receiver.requests] == [500, 500, 200]
    bodies = {r["body"] for r in receiver.requests}
    assert len(bodies) == 1  # the same bytes every attempt, so the same eventId
    message = json.loads(bodies.pop())
    assert set(message) == {"eventId", "eventType", "corpId", "occurredAt", "data"}
    assert message["eventType"] == "material_add" and message["corpId"] == "acme"
    assert message["data"]["materials"][0]["name"] == "a"
    assert len({r["headers"]["X-Medialib-Nonce"] for r in receiver.requests}) == 3
    for req in receiver.requests:
        assert receiver_verifies(req)
        assert req["headers"]["Content-Type"] == "application/json"
        assert req["path"] == "/hook"
    # A tampered body or a wrong secret does not verify.
    tampered = {**receiver.requests[0], "body": receiver.requests[0]["body"].replace(b'"a"', b'"b"')}
    assert not receiver_verifies(tampered)
    ts = int(receiver.requests[-1]["headers"]["X-Medialib-Timestamp"])
    assert ts == int(clock.now.replace(tzinfo=dt.UTC).timestamp())
    assert events.verify_signature(SECRET, receiver.requests[-1]["headers"], receiver.requests[-1]["body"], now=ts)
    assert not events.verify_signature(
        SECRET, receiver.requests[-1]["headers"], receiver.requests[-1]["body"], now=ts + 301
    )
    assert not events.verify_signature("other", receiver.requests[-1]["headers"], receiver.requests[-1]["body"], now=ts)


def test_dead_letter_after_max_attempts_and_retry_dead(api, receiver, clock, runner):
    receiver.plan = [500] * 4
    api.add([item()])
    for attempt in range(4):
        stats = events.deliver_all_due()
        assert stats.attempted == 1
        clock.advance(BACKOFF * 2**attempt)
    assert stats.dead == 1
    (row,) = deliveries()
    assert (row.status, row.attempts) == ("dead", 4) and "HTTP 500" in row.last_error
    assert events.deliver_all_due().attempted == 0
    listed = runner.invoke(args=["medialib", "events", "list", "--status", "dead"])
    assert listed.exit_code == 0 and "material_add" in listed.output and "dead" in listed.output
    revived = runner.invoke(args=["medialib", "events", "retry-dead"])
    assert "1 dead deliveries are pending again" in revived.output
    result = runner.invoke(args=["medialib", "events", "deliver", "--once"])
    assert result.exit_code == 0 and "delivered 1" in result.output
    assert deliveries()[0].status == "delivered"


def test_a_refused_connection_is_retried(api, receiver, clock):
    api.add([item()])
    receiver.close()  # nobody listens on the port now
    assert events.deliver_all_due().retried == 1
    assert "Error" in deliveries()[0].last_error


def test_a_claim_of_a_dead_worker_is_retried_after_its_lease(app, api, receiver, clock):
    api.add([item(name="x")])
    owner, claimed = events.claim()  # a worker claims ... and dies before sending
    assert len(claimed) == 1
    assert events.deliver_all_due().attempted == 0  # the lease holds
    clock.advance(events.lease_seconds(app.config) + 1)
    assert events.deliver_all_due().delivered == 1
    assert events.deliver_claimed(owner, claimed[0]) == "lost"  # the dead worker's lease is gone
    assert len(receiver.delivered()) == 1


def test_two_workers_never_claim_the_same_delivery(api):
    api.add([item()])
    api.add([item()])
    api.add([item()])
    _, first = events.claim(limit=2)
    _, second = events.claim(limit=2)
    _, third = events.claim(limit=2)
    assert len(first) == 2 and len(second) == 1 and third == []
    assert not set(first) & set(second)


def test_background_thread_delivers_and_stops(app_config, clock, receiver, tmp_path, corp):
    thread_app = Flask("medialib_thread", instance_path=str(tmp_path / "thread"))
    thread_app.config.update({**app_config, "MEDIALIB_EVENT_THREAD": True})
    MediaLib(thread_app)
    get_state(thread_app).clock = clock
    worker = events.worker(thread_app)
    try:
        assert worker is not None and worker.thread.daemon and worker.thread.is_alive()
        with thread_app.app_context():
            resp = thread_app.test_client().post(
                "/api/v1/biz/material/third/add",
                query_string={"token": corp.writer, "openId": "t"},
                json=[item(name="threaded")],
            )
            assert resp.status_code == 200
        assert receiver.got_one.wait(30)
        assert json.loads(receiver.requests[0]["body"])["data"]["materials"][0]["name"] == "threaded"
    finally:
        events.stop_worker(thread_app)
        with thread_app.app_context():
            get_state(thread_app).db.engine.dispose()
    assert not worker.thread.is_alive() and events.worker(thread_app) is None


@pytest.mark.parametrize(
    ("extra", "text"),
    [
        ({"MEDIALIB_WEBHOOK_SECRET": None}, "MEDIALIB_WEBHOOK_SECRET"),
        ({"MEDIALIB_WEBHOOK_URLS": ["ftp://x/y"]}, "MEDIALIB_WEBHOOK_URLS"),
    ],
)
def test_start_up_checks_name_the_key(app_config, extra, text, tmp_path):
    bad = Flask("medialib_bad", instance_path=str(tmp_path / "bad"))
    bad.config.update({**app_config, **extra})
    with pytest.raises(ConfigError, match=text):
        MediaLib(bad)


@pytest.mark.slow
def test_kill_9_mid_delivery_loses_nothing(app, api, clock, tmp_path):
    hanging = Receiver(hang_first=True)
    try:
        app.config["MEDIALIB_WEBHOOK_URLS"] = [hanging.url]
        for n in range(3):
            api.add([item(name=f"k{n}")])
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), *sys.path]),
            "MEDIALIB_PROC_DB": app.config["SQLALCHEMY_DATABASE_URI"],
            "MEDIALIB_PROC_STORAGE": app.config["MEDIALIB_STORAGE_ROOT"],
            "MEDIALIB_PROC_CLOCK": clock.now.isoformat(),
            "MEDIALIB_PROC_WEBHOOK_URLS": hanging.url,
            "MEDIALIB_PROC_SECRET": SECRET,
        }
        cmd = [
            sys.executable,
            "-m",
            "flask",
            "--app",
            "material_proc:create_app",
            "medialib",
            "events",
            "deliver",
            "--once",
        ]
        worker = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert hanging.got_one.wait(120), worker.communicate(timeout=5)
        worker.send_signal(signal.SIGKILL)  # killed while the receiver holds its first request
        worker.communicate(timeout=60)
        hanging.release.set()
        assert [d.status for d in deliveries()] == ["pending"] * 3
        # The rerun, once the dead worker's lease has run out, delivers everything.
        later = clock.now + dt.timedelta(seconds=events.lease_seconds(app.config) + 1)
        rerun = subprocess.run(
            cmd, env={**env, "MEDIALIB_PROC_CLOCK": later.isoformat()}, capture_output=True, text=True, timeout=120
        )
        assert rerun.returncode == 0, rerun.stderr
        assert [d.status for d in deliveries()] == ["delivered"] * 3
        delivered = {json.loads(r["body"])["eventId"] for r in hanging.delivered()}
        all_events = set(get_state().session.execute(select(MaterialEvent.id)).scalars())
        assert delivered == all_events and len(all_events) == 3
    finally:
        hanging.close()


def test_old_delivered_rows_are_pruned_and_pending_dead_and_events_stay(app, api, receiver, clock, runner):
    receiver.plan = [200, 500, 500, 500, 500]
    api.add([item(name="delivered")])
    api.add([item(name="dead")])
    for attempt in range(4):
        events.deliver_all_due()
        clock.advance(BACKOFF * 2**attempt)
    assert [row.status for row in deliveries()] == ["delivered", "dead"]
    api.add([item(name="pending")])
    receiver.close()  # nobody listens: the third stays pending
    clock.advance(dt.timedelta(days=app.config["MEDIALIB_WEBHOOK_KEEP_DELIVERED"]).total_seconds() + 1)
    events.deliver_all_due()  # the first run of this process prunes (then at most hourly)
    assert [row.status for row in deliveries()] == ["dead", "pending"]
    session = get_state().session
    assert session.scalar(select(func.count()).select_from(MaterialEvent)) == 3  # the feed keeps every event
    assert runner.invoke(args=["medialib", "events", "prune"]).output.strip() == "0 delivered deliveries deleted"


def test_prune_keeps_recent_delivered_rows_and_can_be_turned_off(app, api, receiver, clock, runner):
    api.add([item()])
    events.deliver_all_due()
    clock.advance(dt.timedelta(days=2).total_seconds())
    assert events.prune_delivered(keep_days=0) == 0  # 0: keep forever
    assert events.prune_delivered() == 0  # 2 days < the default 30
    result = runner.invoke(args=["medialib", "events", "prune", "--keep-days", "1"])
    assert result.exit_code == 0 and result.output.strip() == "1 delivered deliveries deleted"
    assert deliveries() == []
    assert runner.invoke(args=["medialib", "events", "prune", "--keep-days", "0"]).exit_code == 2
