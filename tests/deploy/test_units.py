"""The systemd units of docs/deployment.rst: systemd reads them without a complaint, and the
processes their ``ExecStart`` lines start (with a loopback port, a test folder and the example app
in place of the production ones) serve, log no token, and stop on the unit's ``KillSignal``."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import requests

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs" / "deployment.rst"
VENV_BIN = "/srv/medialib/venv/bin/"


def units() -> dict[str, str]:
    """Unit name -> text, from the ``ini`` blocks of the deployment page that start with the unit's path."""
    found: dict[str, str] = {}
    for block in re.findall(r"\.\. code-block:: ini\n\n((?:   .*\n|\n)+)", DOCS.read_text()):
        lines = [line[3:] for line in block.rstrip().splitlines()]
        first = lines[0].strip()
        if first.startswith("# /etc/systemd/system/"):
            found[first.rsplit("/", 1)[1]] = "\n".join(lines) + "\n"
    return found


def exec_start(unit: str) -> list[str]:
    """The unit's ``ExecStart`` as the argv systemd runs: continued lines joined, ``%%`` unescaped."""
    line = re.search(r"^ExecStart=((?:.*\\\n)*.*)$", unit, re.M)
    assert line is not None
    return shlex.split(line.group(1).replace("\\\n", " ").replace("%%", "%"))


def here(argv: list[str], replace: dict[str, str]) -> list[str]:
    """``argv`` with this virtualenv's scripts and the given values in place of the docs' ones."""
    out = []
    for arg in argv:
        if arg.startswith(VENV_BIN):
            arg = str(Path(sys.executable).parent / arg[len(VENV_BIN) :])
        out.append(replace.get(arg, arg))
    assert set(replace) <= set(argv), f"the unit no longer holds {set(replace) - set(argv)}"
    return out


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def example_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "FLASK_INSTANCE_PATH": str(tmp_path / "instance"),
        "FLASK_SECRET_KEY": "units-test",
        "FLASK_MEDIALIB_FACE_DETECTOR": "none",
        **extra,
    }


def test_both_units_are_documented_and_systemd_reads_them_cleanly(tmp_path: Path) -> None:
    found = units()
    assert set(found) == {"medialib-web.service", "medialib-worker.service"}
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is missing")
    for name, text in found.items():
        path = tmp_path / name
        # Where this test runs, the venv's scripts exist (systemd checks that ExecStart's program does).
        path.write_text(text.replace(VENV_BIN, str(Path(sys.executable).parent) + "/"))
        done = subprocess.run([analyze, "verify", "--man=no", str(path)], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        # systemd ignores an unknown key or a bad value with a warning, and exits 0: none may appear.
        complaints = [line for line in (done.stdout + done.stderr).splitlines() if name in line]
        assert complaints == [], complaints


def test_the_web_unit_serves_and_logs_requests_without_their_query(tmp_path: Path) -> None:
    port = free_port()
    argv = here(
        exec_start(units()["medialib-web.service"]),
        {"127.0.0.1:8000": f"127.0.0.1:{port}", "yourapp:create_app()": "example_app:create_app()"},
    )
    log = tmp_path / "web.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, env=example_env(tmp_path), stdout=out, stderr=subprocess.STDOUT, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                home = requests.get(f"http://127.0.0.1:{port}/?access_token=SECRET-TOKEN", timeout=5)
                break
            except requests.ConnectionError:
                assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
                time.sleep(0.2)
        assert home.status_code == 200
        missing = requests.get(f"http://127.0.0.1:{port}/api/v1/nothing?access_token=SECRET-TOKEN", timeout=5)
        assert missing.status_code == 404
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    text = log.read_text()
    assert "SECRET-TOKEN" not in text and "access_token" not in text
    # One line per request, with method, path, status and size: what an operator needs, never a token.
    assert re.search(r'^127\.0\.0\.1 \[[^]]+\] "GET /" 200 \d+', text, re.M), text
    assert re.search(r'^127\.0\.0\.1 \[[^]]+\] "GET /api/v1/nothing" 404 \d+', text, re.M), text


def test_the_worker_unit_starts_and_stops_on_its_kill_signal(tmp_path: Path) -> None:
    pytest.importorskip("celery")
    broker = os.environ.get("MEDIALIB_TEST_REDIS_URL") or "redis://127.0.0.1:6379/0"
    host, _, port = broker.split("//", 1)[1].split("/", 1)[0].rpartition(":")
    with socket.socket() as sock:
        if sock.connect_ex((host, int(port))) != 0:
            pytest.skip(f"no Redis at {broker}")
    unit = units()["medialib-worker.service"]
    argv = here(exec_start(unit), {"yourapp:create_app": "example_app:create_app"})
    env = example_env(
        tmp_path,
        FLASK_MEDIALIB_JOBS="celery",
        FLASK_MEDIALIB_CELERY_BROKER_URL=broker,
        FLASK_MEDIALIB_CELERY_QUEUE=f"units-{uuid.uuid4().hex}",  # no other test's jobs
    )
    log = tmp_path / "worker.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 120
        while b" ready." not in log.read_bytes():
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        assert "concurrency: 2 (prefork)" in log.read_text()
    finally:
        kill = re.search(r"^KillSignal=(\w+)$", unit, re.M)
        assert kill is not None
        proc.send_signal(getattr(signal, kill.group(1)))
        stop = re.search(r"^TimeoutStopSec=(\d+)$", unit, re.M)
        assert stop is not None
        code = proc.wait(timeout=int(stop.group(1)))
    assert code == 0, log.read_text()
