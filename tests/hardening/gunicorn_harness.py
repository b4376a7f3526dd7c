"""The example app under gunicorn, on a private database, cache and instance folder.

Locally it runs on SQLite + FileSystemCache. With ``MEDIALIB_TEST_DATABASE_URL``
and ``MEDIALIB_TEST_REDIS_URL`` set it runs on a PostgreSQL database made for
this server alone (dropped on stop) and Redis under a key prefix of its own.

The workers load ``tests.hardening.served_app:app``, which builds the example
app from the JSON config this harness writes; ``flask_env()`` gives the same
app to ``flask medialib ...`` subprocesses (the event worker). Everything is
bounded in time: start-up, requests and shutdown.

    with GunicornServer(tmp_path, workers=3) as server:
        with server.app_context():  # seed rows with the services
            ...
        requests.get(server.url("/api/v1/openapi.json"))
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa

REPO = Path(__file__).resolve().parents[2]
CONFIG_ENV = "MEDIALIB_TEST_APP_CONFIG"
APP_SPEC = "tests.hardening.served_app:app"
_LISTENING = re.compile(rb"Listening at: http://127\.0\.0\.1:(\d+)")


def _bin(name: str) -> str:
    candidate = Path(sys.executable).with_name(name)
    return str(candidate) if candidate.exists() else name


def sqlalchemy_url(url: str) -> str:
    return url.replace("postgresql://", "postgresql+psycopg://", 1) if url.startswith("postgresql://") else url


class GunicornServer:
    """One gunicorn master with ``workers`` workers on a free 127.0.0.1 port."""

    def __init__(
        self,
        root: Path,
        *,
        workers: int = 3,
        threads: int = 4,
        config: dict[str, Any] | None = None,
        env: dict[str, str] | None = None,
        backend: str | None = None,
        start_timeout: float = 90.0,
    ) -> None:
        self.root = Path(root)
        # "postgresql" (with Redis when MEDIALIB_TEST_REDIS_URL is set) or "sqlite"; default: the richest available.
        self.backend = backend or ("postgresql" if os.environ.get("MEDIALIB_TEST_DATABASE_URL") else "sqlite")
        self.workers = workers
        self.threads = threads
        self.start_timeout = start_timeout
        self.extra_env = dict(env or {})
        self.process: subprocess.Popen[bytes] | None = None
        self.port: int | None = None
        self._pg_admin_url: sa.engine.URL | None = None
        self._pg_name: str | None = None
        self._flask_app: Any = None
        self.log_path = self.root / "gunicorn.log"
        self.config = self._base_config()
        self.config.update(config or {})
        self.config_path = self.root / "app-config.json"

    # -- configuration ----------------------------------------------------------

    def _base_config(self) -> dict[str, Any]:
        instance = self.root / "instance"
        instance.mkdir(parents=True, exist_ok=True)
        config: dict[str, Any] = {
            "SECRET_KEY": "hardening-" + uuid.uuid4().hex,  # one secret shared by every worker
            "INSTANCE_PATH": str(instance),
            "MEDIALIB_STORAGE_ROOT": str(instance / "storage"),
        }
        pg_url = os.environ.get("MEDIALIB_TEST_DATABASE_URL") if self.backend == "postgresql" else None
        redis_url = os.environ.get("MEDIALIB_TEST_REDIS_URL")
        if self.backend == "postgresql" and not pg_url:
            raise RuntimeError("the postgresql backend needs MEDIALIB_TEST_DATABASE_URL")
        if pg_url:
            config["SQLALCHEMY_DATABASE_URI"] = self._create_pg_database(pg_url)
        else:
            config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{instance / 'medialib.sqlite3'}"
        if pg_url and redis_url:
            config["MEDIALIB_CACHE_TYPE"] = "RedisCache"
            config["MEDIALIB_CACHE_REDIS_URL"] = redis_url
            config["MEDIALIB_CACHE_KEY_PREFIX"] = f"medialib-hardening-{uuid.uuid4().hex[:12]}:"
        else:
            config["MEDIALIB_CACHE_TYPE"] = "FileSystemCache"
            config["MEDIALIB_CACHE_DIR"] = str(instance / "cache")
        return config

    def _create_pg_database(self, url: str) -> str:
        admin_url = sa.engine.make_url(sqlalchemy_url(url))
        name = f"medialib_hardening_{uuid.uuid4().hex[:12]}"
        admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        finally:
            admin.dispose()
        self._pg_admin_url, self._pg_name = admin_url, name
        return admin_url.set(database=name).render_as_string(hide_password=False)

    def _drop_pg_database(self) -> None:
        if self._pg_admin_url is None or self._pg_name is None:
            return
        admin = sa.create_engine(self._pg_admin_url, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{self._pg_name}" WITH (FORCE)'))
        finally:
            admin.dispose()
        self._pg_name = None

    def env(self) -> dict[str, str]:
        """Environment of the server and of ``flask`` subprocesses: the repo importable, our config."""
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [env.get("PYTHONPATH")])])
        env[CONFIG_ENV] = str(self.config_path)
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        env["PYTHONWARNINGS"] = "ignore"  # the served app is not the test run: no -W error in workers
        env.update(self.extra_env)
        return env

    def flask_command(self, *args: str) -> list[str]:
        return [_bin("flask"), "--app", APP_SPEC, *args]

    # -- in-process twin for seeding --------------------------------------------------

    @property
    def flask_app(self) -> Any:
        """The same app in this process (same database, cache and storage), for seeding and checks."""
        if self._flask_app is None:
            from tests.hardening.served_app import build_app

            self._flask_app = build_app(self.config)
        return self._flask_app

    @contextlib.contextmanager
    def app_context(self) -> Iterator[Any]:
        app = self.flask_app
        with app.app_context():
            try:
                yield app
            finally:
                from flask_medialib import get_state

                get_state(app).db.session.remove()

    # -- lifecycle ------------------------------------------------------------------

    def start(self) -> GunicornServer:
        self.config_path.write_text(json.dumps(self.config))
        with self.app_context():
            from flask_medialib.cli import create_tables

            create_tables()
        cmd = [
            _bin("gunicorn"),
            "--bind", "127.0.0.1:0",
            "--workers", str(self.workers),
            "--threads", str(self.threads),
            "--timeout", "120",
            "--graceful-timeout", "10",
            "--backlog", "256",
            "--chdir", str(REPO),
            APP_SPEC,
        ]  # fmt: skip
        log = open(self.log_path, "wb")  # noqa: SIM115 - owned by the process below
        try:
            self.process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=self.env(), cwd=REPO)
        finally:
            log.close()
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        import requests

        assert self.process is not None
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}:\n{self.log_tail()}")
            if self.port is None:
                found = _LISTENING.search(self.log_path.read_bytes())
                self.port = int(found.group(1)) if found else None
            if self.port is not None:
                try:
                    # Ready when every worker could answer: ask a few times, all must be 200.
                    if all(requests.get(self.url("/openapi.json"), timeout=5).status_code == 200 for _ in range(3)):
                        return
                except requests.RequestException:
                    pass
            time.sleep(0.2)
        raise TimeoutError(f"gunicorn was not ready within {self.start_timeout}s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # graceful: workers finish their request
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None
        if self._flask_app is not None:
            from flask_medialib import get_state

            state = get_state(self._flask_app)
            with self._flask_app.app_context():
                if self.config.get("MEDIALIB_CACHE_TYPE") == "RedisCache":
                    state.cache.clear()  # only our key prefix
                state.db.engine.dispose()
            self._flask_app = None
        self._drop_pg_database()

    def __enter__(self) -> GunicornServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- helpers --------------------------------------------------------------------

    @property
    def prefix(self) -> str:
        return str(self.config.get("MEDIALIB_URL_PREFIX", "/api/v1"))

    def url(self, path: str) -> str:
        """Absolute URL of ``path`` under the extension's prefix (``path`` starts with /)."""
        assert self.port is not None, "the server is not started"
        return f"http://127.0.0.1:{self.port}{self.prefix}{path}"

    def root_url(self, path: str = "/") -> str:
        assert self.port is not None, "the server is not started"
        return f"http://127.0.0.1:{self.port}{path}"

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"


def main() -> int:
    """Start a server, print its URL and wait for Ctrl-C: ``python -m tests.hardening.gunicorn_harness``."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp, GunicornServer(Path(tmp)) as server:
        print(f"serving {server.url('/openapi.json')} (log: {server.log_path}); Ctrl-C stops", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            signal.pause()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
