"""Many processes: the example app under gunicorn with 3 workers (PostgreSQL + Redis when CI has them,
SQLite + FileSystemCache always).

(a) a thundering herd of 50 requests for one uncached cover: all 302, one detection in all workers;
(b) 8 concurrent material adds for one enterprise: each batch stored whole or refused (409);
(c) ``kill -9`` of the event worker in the middle of a delivery, then a restart: every event arrives.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import select

from flask_medialib import auth, get_state
from flask_medialib.services import library as lib
from tests.hardening.counting import LOG_ENV, count_calls
from tests.hardening.gunicorn_harness import GunicornServer
from tests.hardening.hostile_media import _picture, encode

pytestmark = pytest.mark.slow

BACKENDS = ["sqlite"] + (["postgresql"] if os.environ.get("MEDIALIB_TEST_DATABASE_URL") else [])
WEBHOOK_SECRET = "hardening-webhook-secret"
WEBHOOK_TIMEOUT = 0.5  # a worker's lease is 3 x this + 30 s


class Receiver:
    """A webhook receiver on 127.0.0.1 that stalls its first request until released."""

    def __init__(self) -> None:
        self.event_ids: list[int] = []
        self.first_arrived = threading.Event()
        self.release = threading.Event()
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.lock:
                    first = not receiver.first_arrived.is_set()
                    receiver.first_arrived.set()
                if first:  # hold the worker inside post() so it can be killed mid-delivery
                    receiver.release.wait(60)
                    return  # no answer: this attempt must not count as delivered
                with receiver.lock:
                    receiver.event_ids.append(int(json.loads(body)["eventId"]))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module", params=BACKENDS)
def served(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp(f"gunicorn-{request.param}")
    detect_log = root / "detections.log"
    with Receiver() as receiver:
        config = {
            "MEDIALIB_FACE_DETECTOR": "tests.hardening.counting:CountingRetinaFace",
            "MEDIALIB_WEBHOOK_URLS": [receiver.url],
            "MEDIALIB_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "MEDIALIB_WEBHOOK_TIMEOUT": WEBHOOK_TIMEOUT,
            "MEDIALIB_WEBHOOK_BACKOFF": 0.0,
        }
        server = GunicornServer(root, workers=3, config=config, env={LOG_ENV: str(detect_log)}, backend=request.param)
        with server:
            with server.app_context() as app:
                library, _ = lib.create_library("herd", album_based=True)
                lib.create_album(library, lib.get_space(library, "-"), "a")
                corp_lib, _ = lib.create_library("corp", multi_tenant=True)
                corp = lib.create_space(corp_lib, "acme")
                admin, _ = auth.issue_token(library, grants=frozenset({"admin"}))
                material, _ = auth.issue_token(corp_lib, space=corp, grants=frozenset({"material_write"}))
                get_state(app).session.commit()
            yield {
                "server": server,
                "admin": admin,
                "material": material,
                "detect_log": detect_log,
                "receiver": receiver,
            }


def test_thundering_herd_runs_detection_once(served: dict[str, Any]) -> None:
    server: GunicornServer = served["server"]
    token = served["admin"]
    photo = encode(_picture(640, 480), "JPEG", quality=90)
    put = requests.put(server.url(f"/file/herd/-/a/photo.jpg?access_token={token}"), data=photo, timeout=30)
    assert put.status_code == 201, put.text
    assert count_calls(served["detect_log"]) == 0  # an upload detects nothing

    barrier = threading.Barrier(50)
    url = server.url(f"/album/herd/-/cover/a?size=200&access_token={token}")

    def ask(_: int) -> tuple[int, str]:
        with requests.Session() as session:
            barrier.wait(timeout=30)
            response = session.get(url, allow_redirects=False, timeout=120)
            return response.status_code, response.headers.get("Location", "")

    with ThreadPoolExecutor(max_workers=50) as pool:
        answers = list(pool.map(ask, range(50)))
    statuses = [status for status, _ in answers]
    assert statuses == [302] * 50, statuses
    assert len({location for _, location in answers}) == 1  # one signed URL for one cover
    lines = Path(served["detect_log"]).read_text().splitlines()
    assert len(lines) == 1, f"detection ran {len(lines)} times: {lines}"
    served_pids = {line.split()[0] for line in lines}
    # The cover itself is served by any worker, from the one rendering.
    image = requests.get(server.root_url(answers[0][1]) if answers[0][1].startswith("/") else answers[0][1], timeout=60)
    assert image.status_code == 200 and image.headers["Content-Type"].startswith("image/")
    assert len(served_pids) == 1


def _material_batch(batch: int, size: int) -> list[dict[str, Any]]:
    return [{"name": f"b{batch}-{i}", "bizType": 2, "type": 4, "content": f"text {batch}/{i}"} for i in range(size)]


def test_concurrent_material_adds_are_whole_or_refused(served: dict[str, Any]) -> None:
    server: GunicornServer = served["server"]
    token = served["material"]
    batch_size = 300
    barrier = threading.Barrier(8)

    def add(batch: int) -> tuple[int, int, dict[str, Any]]:
        body = json.dumps(_material_batch(batch, batch_size))
        with requests.Session() as session:
            barrier.wait(timeout=30)
            response = session.post(
                server.url(f"/biz/material/third/add?token={token}&openId=importer"),
                data=body,
                headers={"Content-Type": "application/json"},
                timeout=120,
            )
        return batch, response.status_code, response.json()

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(add, range(8)))
    statuses = {batch: status for batch, status, _ in results}
    print("material add statuses by batch:", statuses)
    assert set(statuses.values()) <= {200, 409}, results
    assert 200 in statuses.values()
    for _, status, body in results:
        if status == 409:
            assert body["success"] is False and body["msg"]

    from flask_medialib.models import Media

    with server.app_context() as app:
        names = list(get_state(app).session.execute(select(Media.name).where(Media.kind == 4)).scalars())
    per_batch = {batch: sum(1 for n in names if n.startswith(f"b{batch}-")) for batch in range(8)}
    for batch, status in statuses.items():
        expected = batch_size if status == 200 else 0
        assert per_batch[batch] == expected, f"batch {batch} answered {status} but stored {per_batch[batch]} rows"


def _worker(server: GunicornServer, log: Path) -> subprocess.Popen[bytes]:
    out = open(log, "ab")  # noqa: SIM115 - handed to the process
    try:
        return subprocess.Popen(
            server.flask_command("medialib", "events", "deliver", "--interval", "0.2"),
            stdout=out,
            stderr=subprocess.STDOUT,
            env=server.env(),
            cwd=server.root,
        )
    finally:
        out.close()


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def test_killed_event_worker_loses_no_event(served: dict[str, Any]) -> None:
    server: GunicornServer = served["server"]
    receiver: Receiver = served["receiver"]
    token = served["material"]
    base = server.url("/biz/material/third")
    query = f"token={token}&openId=events"
    added = requests.post(f"{base}/add?{query}", json=_material_batch(100, 3), timeout=60)
    assert added.status_code == 200, added.text
    ids = [item["id"] for item in added.json()["list"]]
    renamed = requests.post(f"{base}/rename?{query}", json=[{"materialId": ids[0], "name": "renamed"}], timeout=60)
    assert renamed.status_code == 200, renamed.text
    deleted = requests.post(f"{base}/delete?{query}", json={"materialIds": f"{ids[1]}"}, timeout=60)
    assert deleted.status_code == 200, deleted.text

    from flask_medialib.models import MaterialEvent

    with server.app_context() as app:
        expected = set(get_state(app).session.execute(select(MaterialEvent.id)).scalars())
    assert len(expected) >= 3

    log = server.root / "event-worker.log"
    first = _worker(server, log)
    try:
        assert receiver.first_arrived.wait(60), f"no delivery arrived:\n{log.read_text()}"
        first.send_signal(signal.SIGKILL)  # mid-delivery: the receiver holds the request open
        first.wait(timeout=10)
    finally:
        _stop(first)
    receiver.release.set()
    second = _worker(server, log)
    try:
        # The killed worker's lease (3 x timeout + 30 s) must run out before its rows are sent again.
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not expected <= set(receiver.event_ids):
            time.sleep(0.25)
    finally:
        _stop(second)
    missing = expected - set(receiver.event_ids)
    assert not missing, f"events never delivered: {sorted(missing)}\n{log.read_text()[-3000:]}"
    from flask_medialib.models import WebhookDelivery

    with server.app_context() as app:
        statuses = list(get_state(app).session.execute(select(WebhookDelivery.status)).scalars())
    assert statuses and all(s == "delivered" for s in statuses), statuses
