"""Render workers as real processes: ``flask medialib worker`` on the test's database, cache and broker.

    worker = RenderWorker(app.config, tmp_path, env={...}).start()   # returns when Celery says "ready"
    ...
    worker.kill()    # SIGKILL, as the OOM killer would
    worker.stop()    # SIGTERM, then SIGKILL if it hangs

Everything is bounded in time; the worker's log is kept beside the test for failures.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jobs_app import CONFIG_ENV

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


def write_config(config: Any, path: Path, instance_path: str) -> Path:
    """The Flask config as JSON (only the keys a subprocess needs: ours, SQLAlchemy's, CELERY)."""
    keep = {
        key: value
        for key, value in dict(config).items()
        if key.startswith(("MEDIALIB_", "SQLALCHEMY_DATABASE_URI", "CELERY", "SECRET_KEY", "TESTING"))
    }
    path.write_text(json.dumps({**keep, "INSTANCE_PATH": instance_path}), encoding="utf-8")
    return path


def subprocess_env(config_path: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env[CONFIG_ENV] = str(config_path)
    # The worktree's package and this folder's modules (the app and the detector) in every subprocess.
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(HERE), env.get("PYTHONPATH", "")])
    env.update(extra or {})
    return env


def wait_for(check: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll ``check`` until it returns something truthy (another process is doing the work)."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


class RenderWorker:
    def __init__(
        self, config: Any, root: Path, *, env: dict[str, str] | None = None, pool: str = "solo", name: str = "w"
    ) -> None:
        self.root = Path(root)
        self.name = name
        self.pool = pool
        self.log_path = self.root / f"worker-{name}.log"
        config_path = write_config(config, self.root / f"worker-{name}.json", str(self.root / "instance"))
        self.env = subprocess_env(config_path, env)
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 90.0) -> RenderWorker:
        log = open(self.log_path, "wb")  # noqa: SIM115 - the child writes to it until it ends
        cmd = [sys.executable, "-m", "flask", "--app", "jobs_app:create_app", "medialib", "worker",
               f"--pool={self.pool}", "--concurrency=1", "--loglevel=info", f"--hostname={self.name}@%h"]  # fmt: skip
        self.process = subprocess.Popen(cmd, env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=self.root)
        log.close()
        try:
            wait_for(lambda: b" ready." in self.log() or self.process.poll() is not None, timeout, "the worker")
        except AssertionError:
            self.stop()
            raise AssertionError(f"worker did not start:\n{self.log().decode(errors='replace')}") from None
        if self.process.poll() is not None:
            raise AssertionError(f"worker exited:\n{self.log().decode(errors='replace')}")
        return self

    def log(self) -> bytes:
        return self.log_path.read_bytes() if self.log_path.exists() else b""

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(30)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.kill()


def run_script(config: Any, root: Path, script: str, *args: str, timeout: float = 180.0) -> str:
    """Run ``script`` (a module of this folder) with the app's config; its stdout."""
    config_path = write_config(config, root / "web.json", str(root / "instance"))
    done = subprocess.run(
        [sys.executable, str(HERE / script), *args],
        env=subprocess_env(config_path),
        capture_output=True,
        timeout=timeout,
        cwd=root,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    return done.stdout.decode()
