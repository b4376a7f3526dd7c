"""What every benchmark shares: the machine, medians, tables, docs/benchmarks.md,
a throw-away PostgreSQL database and Redis db, gunicorn and wrk.

Benchmarks print and record numbers; they never assert. Timings are medians of
repeated runs; comparisons are ratios of numbers measured in the same run.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import platform
import re
import signal
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
DOC = ROOT / "docs" / "benchmarks.md"
BIN = Path(sys.executable).parent

PG_ADMIN_URL = os.environ.get("BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
REDIS_BASE = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379")
# Redis dbs 1..15 are the bench's own; each script takes one (test runs use db 0).
REDIS_DB = {
    "fetch": 6,
    "upload": 7,
    "deploy_broker": 8,
    "deploy": 9,
    "small_faces": 10,
    "cold": 11,
    "warm": 12,
    "memory": 13,
    "thumbor": 14,
    "material": 15,
}

# -- numbers ----------------------------------------------------------------


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("met" if ok else "missed")


# -- the machine ------------------------------------------------------------


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def ram_gib() -> float:
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024 / 1024
    return float("nan")


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f}"


def machine() -> dict[str, str]:
    return {
        "CPU": cpu_model(),
        "cores": str(os.cpu_count()),
        "RAM": f"{ram_gib():.1f} GiB",
        "OS": f"{platform.system()} {platform.release()}",
        "Python": platform.python_version(),
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


# -- tables and the results document ---------------------------------------


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], title: str = "") -> str:
    text = table(headers, rows)
    if title:
        print(f"\n## {title}\n")
    print(text, flush=True)
    return text


_HEADER = """# Benchmarks

Written by `make bench` (the scripts in `bench/`); do not edit by hand. Each
section says when and on what it ran. Timings are medians of repeated runs;
ratios compare numbers measured in the same run. The machine is small
(2 cores) and may be shared, so the load average is given with each section.
"""


SECTION_ORDER = (
    "cold_cover", "warm_load", "thumbor", "material", "memory", "small_faces", "deploy", "upload", "storage_fetch",
)  # fmt: skip


def write_section(name: str, title: str, body: str) -> None:
    """Replace (or append) one benchmark's section of docs/benchmarks.md."""
    info = machine()
    stamp = (
        f"_Ran {info['date']} on {info['CPU']}, {info['cores']} cores, {info['RAM']} RAM, "
        f"{info['OS']}, Python {info['Python']}; load average (1/5/15 min) {load_average()}._"
    )
    block = f"<!-- bench:{name} -->\n## {title}\n\n{stamp}\n\n{body.strip()}\n<!-- /bench:{name} -->"
    text = DOC.read_text() if DOC.exists() else _HEADER
    found = re.findall(r"(<!-- bench:(\w+) -->.*?<!-- /bench:\2 -->)", text, re.S)
    blocks = {section: whole for whole, section in found}
    blocks[name] = block
    head = text.split("<!-- bench:", 1)[0].rstrip()
    ordered = sorted(blocks, key=lambda n: (SECTION_ORDER.index(n) if n in SECTION_ORDER else len(SECTION_ORDER), n))
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(head + "\n\n" + "\n\n".join(blocks[n] for n in ordered) + "\n")
    print(f"\n(written to {DOC.relative_to(ROOT)}, section {name!r})")


# -- PostgreSQL and Redis ---------------------------------------------------


@contextlib.contextmanager
def pg_database(tag: str) -> Iterator[str]:
    """A fresh PostgreSQL database, dropped afterwards; yields its SQLAlchemy URL."""
    import sqlalchemy as sa

    admin_url = sa.engine.make_url(PG_ADMIN_URL)
    name = f"medialib_bench_{tag}_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def redis_url(purpose: str) -> str:
    return f"{REDIS_BASE}/{REDIS_DB[purpose]}"


def flush_redis(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
    finally:
        client.close()


# -- processes --------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def proc_status(pid: int, key: str) -> int:
    """A kB field of /proc/<pid>/status (VmHWM: peak RSS, VmRSS: current RSS), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(key)


def maps_mention(pid: int, needle: str) -> bool:
    """Whether the process has mapped a file whose path contains ``needle`` (e.g. a TF library)."""
    try:
        return needle in Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False


@dataclass
class Server:
    """A gunicorn (or other) server process on 127.0.0.1:port."""

    name: str
    argv: list[str]
    env: dict[str, str]
    port: int
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    workers: list[int] = field(default_factory=list)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, ready_path: str = "/", timeout: float = 60.0, expect_workers: int = 0) -> Server:
        import requests

        self.log.parent.mkdir(parents=True, exist_ok=True)
        out = self.log.open("wb")
        # A session of its own: stop() ends the whole group, forked children included
        # (thumbor's --processes children outlive a SIGTERM to their parent).
        self.proc = subprocess.Popen(
            self.argv, env=self.env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True
        )
        out.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}; see {self.log}")
            with contextlib.suppress(requests.RequestException):
                requests.get(self.base + ready_path, timeout=5, allow_redirects=False)
                self.workers = children(self.proc.pid)
                if len(self.workers) >= expect_workers:
                    return self
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"{self.name} did not answer within {timeout} s; see {self.log}")

    def stop(self) -> None:
        if self.proc is None:
            return
        group = self.proc.pid  # the group this server leads (start_new_session)
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGKILL)  # whatever of the group is left

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def gunicorn(
    name: str, app_spec: str, env: dict[str, str], *, workers: int = 2, threads: int = 1, extra: Sequence[str] = ()
) -> Server:
    """The same gunicorn settings for every app: sync workers on 127.0.0.1, errors to the log."""
    port = free_port()
    argv = [
        str(BIN / "gunicorn"), "--workers", str(workers), "--bind", f"127.0.0.1:{port}",
        "--worker-class", "gthread" if threads > 1 else "sync", "--threads", str(threads),
        "--log-level", "warning", "--timeout", "120", *extra, app_spec,
    ]  # fmt: skip
    full_env = {**os.environ, **env, "PYTHONPATH": str(ROOT)}
    return Server(name, argv, full_env, port, RESULTS / "logs" / f"{name}.log")


# -- wrk ----------------------------------------------------------------------

_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}


@dataclass(frozen=True)
class WrkResult:
    rps: float
    p50: float  # seconds
    p99: float
    requests: int
    errors: int  # socket errors + non-2xx/3xx

    def row(self) -> list[str]:
        return [f"{self.rps:,.0f}", ms(self.p50), ms(self.p99), str(self.requests), str(self.errors)]


def _duration(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip()).groups()  # type: ignore[union-attr]
    return float(value) * _UNITS[unit]


def parse_wrk(out: str) -> WrkResult:
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _duration(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    p99 = _duration(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    errors = 0
    if found := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out):
        errors += sum(int(g) for g in found.groups())
    if found := re.search(r"Non-2xx or 3xx responses: (\d+)", out):
        errors += int(found.group(1))
    return WrkResult(rps, p50, p99, total, errors)


def wrk(
    url: str, *, connections: int = 16, seconds: int = 10, threads: int = 2, headers: dict[str, str] | None = None
) -> WrkResult:
    argv = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    for name, value in (headers or {}).items():
        argv[1:1] = ["-H", f"{name}: {value}"]
    out = subprocess.run(argv, check=True, capture_output=True, text=True, timeout=seconds + 60).stdout
    return parse_wrk(out)


# -- the example app ------------------------------------------------------------

APP_SPEC = "example_app:create_app()"
SECRET = "bench-signing-secret-" + "x" * 20


def app_env(database_url: str, redis: str, storage: Path, **extra: str) -> dict[str, str]:
    """The example app's configuration as FLASK_* variables (Flask's from_prefixed_env)."""
    env = {
        "FLASK_SECRET_KEY": SECRET,
        "FLASK_MEDIALIB_SIGNING_SECRET": SECRET,
        "FLASK_SQLALCHEMY_DATABASE_URI": database_url,
        "FLASK_MEDIALIB_CACHE_TYPE": "RedisCache",
        "FLASK_MEDIALIB_CACHE_REDIS_URL": redis,
        "FLASK_MEDIALIB_STORAGE_ROOT": str(storage),
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }
    env.update(extra)
    return env


@contextlib.contextmanager
def env_vars(values: dict[str, str]) -> Iterator[None]:
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def make_app(env: dict[str, str]) -> Any:
    """The example app in this process, configured exactly like the served one."""
    from example_app import create_app

    with env_vars(env):
        return create_app()


@dataclass
class Seeded:
    library: str
    token: str
    media_ids: dict[str, int]  # album name -> media id

    def cover_path(self, album: str, size: int | None = None, prefix: str = "/api/v1") -> str:
        query = f"access_token={self.token}" + (f"&size={size}" if size else "")
        return f"{prefix}/album/{self.library}/-/cover/{album}?{query}"


def seed_albums(app: Any, files: dict[str, Path], library_id: str = "bench") -> Seeded:
    """An album-based library with one album per file (the file is its cover) and a read token."""
    from flask_medialib import auth
    from flask_medialib.services import library as lib

    media_ids = {}
    with app.app_context():
        library, _secret = lib.create_library(library_id, album_based=True)
        space = lib.get_space(library, lib.ROOT_SPACE)
        for album_name, path in files.items():
            album = lib.create_album(library, space, album_name)
            with path.open("rb") as stream:
                media = lib.save_upload(lib.Folder(library, space, album), path.name, stream)
            media_ids[album_name] = media.id
        token, _row = auth.issue_token(library, ttl=86_400)
        from flask_medialib import get_state

        get_state().session.commit()
    return Seeded(library_id, token, media_ids)
