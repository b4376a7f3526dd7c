"""8. The production deployment: nginx, gunicorn, Celery render workers, PostgreSQL, Redis, local storage.

The deployment of docs/deployment.rst on one machine: nginx (one process) in
front of gunicorn (2 gthread workers x 8 threads) running the example app with
``MEDIALIB_JOBS = "celery"`` (Redis broker), ``flask medialib worker``
(prefork, 1 or 2 processes), PostgreSQL, Redis, local storage with
``MEDIALIB_ACCEL_REDIRECT_PREFIX``. Every request goes through nginx.

- First cover after an upload: PUT a 12 MP JPEG, wait 1 s (the prerender job
  runs), then time the cover request, redirect followed (median of ``--runs``).
  thumbor: copy the file into its loader folder, wait 1 s, time its first
  smart crop (it renders on first view; nothing renders ahead).
- Web worker memory: a burst of cold covers (media added without prerender)
  all at once; peak RSS (VmHWM) of each gunicorn worker and whether TensorFlow
  is mapped into it. thumbor: peak RSS of its one process after the same burst.
- Render throughput: that many cold covers at once, covers/s, with 1 and 2
  worker processes (thumbor: 1 and 2 processes, the same number of smart crops).
- Warm covers through nginx: wrk on the cover URL (302) and on the file it
  points to; a whole cover is the pair. Answered by nginx's cache
  (``MEDIALIB_PROXY_CACHE_SECONDS``), and again through Python (the same nginx,
  asked with a header that bypasses its cache). thumbor: wrk on its
  result-storage hit, straight and behind the same nginx, alternating with ours.

    python -m bench.deploy [--runs N] [--seconds S] [--burst N]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import requests

from bench import media as bench_media
from bench import nginx as nginx_conf
from bench.cold_cover import fetch
from bench.common import (
    APP_SPEC,
    BIN,
    RESULTS,
    ROOT,
    Server,
    WrkResult,
    app_env,
    children,
    flush_redis,
    free_port,
    gunicorn,
    make_app,
    maps_mention,
    median,
    ms,
    pg_database,
    print_table,
    proc_status,
    redis_url,
    verdict,
    write_section,
    wrk,
)
from bench.thumbor_compare import CONF as THUMBOR_CONF
from bench.thumbor_compare import DEFAULT_VENV, ensure_thumbor, fetch_plain, thumbor_server
from bench.warm_load import locate, summarize

SIZE = 256
ACCEL = nginx_conf.ACCEL
LIBRARY = "deploy"
TARGET_FIRST = 0.020
TARGET_RSS = 150 * 1024 * 1024
TARGET_WARM_RATIO = 2.0
# MEDIALIB_PROXY_CACHE_SECONDS: nginx answers a warm cover (302 and image) for up to this many seconds.
PROXY_CACHE_SECONDS = 5
# A request with an Authorization header is never answered from nginx's cache (docs/nginx/medialib.conf):
# with it, the same nginx asks the app every time; the cover still takes its token from the URL.
THROUGH_PYTHON = {"Authorization": "Bearer bench-uncached"}


def nginx_server(tmp: Path, app_port: int, storage: Path, name: str = "deploy-nginx") -> Server:
    """The nginx of docs/deployment.rst (docs/nginx/medialib.conf) without TLS, one process of this user."""
    port = free_port()
    argv = nginx_conf.write_conf(tmp / name, port, app_port, storage)
    return Server(name, argv, dict(os.environ), port, RESULTS / "logs" / f"{name}.log")


@contextlib.contextmanager
def render_worker(env: dict[str, str], processes: int) -> Iterator[subprocess.Popen[bytes]]:
    """``flask medialib worker`` with ``processes`` prefork processes, once Celery says it is ready."""
    log_path = RESULTS / "logs" / f"deploy-worker-{processes}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    argv = [str(BIN / "flask"), "--app", APP_SPEC, "medialib", "worker", "--pool=prefork",
            f"--concurrency={processes}", "--loglevel=info", f"--hostname=bench{processes}@%h"]  # fmt: skip
    with log_path.open("wb") as out:
        proc = subprocess.Popen(
            argv, env={**os.environ, **env, "PYTHONPATH": str(ROOT)}, stdout=out, stderr=subprocess.STDOUT,
            cwd=ROOT, start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 180
        while b" ready." not in log_path.read_bytes():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the render worker did not start; see {log_path}")
            time.sleep(0.2)
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def seed(env: dict[str, str], albums: list[str], photo: Path) -> tuple[str, dict[str, int]]:
    """Albums (with one photo each for the names not starting with ``up``) and an admin token; no prerender."""
    from flask_medialib import auth, get_state
    from flask_medialib.services import library as lib

    app = make_app({**env, "FLASK_MEDIALIB_JOBS": "inline"})
    media = {}
    with app.app_context():
        library, _secret = lib.create_library(LIBRARY, album_based=True)
        space = lib.get_space(library, lib.ROOT_SPACE)
        for name in albums:
            album = lib.create_album(library, space, name)
            if not name.startswith("up"):
                with photo.open("rb") as stream:
                    media[name] = lib.save_upload(lib.Folder(library, space, album), photo.name, stream).id
        token, _row = auth.issue_token(library, ttl=86_400, grants=frozenset({"admin"}))
        get_state().session.commit()
        get_state().db.engine.dispose()
    return token, media


def cover_path(token: str, album: str) -> str:
    return f"/api/v1/album/{LIBRARY}/-/cover/{album}?access_token={token}&size={SIZE}"


def burst(base: str, token: str, albums: list[str]) -> tuple[float, list[int]]:
    """Seconds until every one of these cold covers (all asked at once, redirects followed) has come back."""

    def one(album: str) -> int:
        with requests.get(base + cover_path(token, album), timeout=300) as resp:
            return resp.status_code if resp.content else 0

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=len(albums)) as pool:
        statuses = list(pool.map(one, albums))
    return time.perf_counter() - start, statuses


def burst_plain(base: str, paths: list[str]) -> float:
    def one(path: str) -> None:
        fetch_plain(requests, base + path)

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=len(paths)) as pool:
        list(pool.map(one, paths))
    return time.perf_counter() - start


def mib(value: float) -> str:
    return f"{value / 1024 / 1024:.0f}"


@dataclass
class Ours:
    first: float = float("nan")  # seconds, median
    statuses: list[int] = field(default_factory=list)
    web: list[tuple[int, int, bool]] = field(default_factory=list)  # (pid, peak RSS, TensorFlow mapped)
    throughput: dict[int, float] = field(default_factory=dict)  # worker processes -> covers/s
    warm: dict[str, WrkResult] = field(default_factory=dict)


@dataclass
class Theirs:
    installed: str = "thumbor (not measured this run)"
    first: float | None = None
    rss: int | None = None
    throughput: dict[int, float] = field(default_factory=dict)
    warm: WrkResult | None = None
    warm_nginx: WrkResult | None = None


def run(
    runs: int = 5, seconds: int = 10, count: int = 8, rounds: int = 2, venv: Path = DEFAULT_VENV, thumbor: bool = True
) -> str:
    photo = bench_media.make()[0].path
    cache, broker = redis_url("deploy"), redis_url("deploy_broker")
    flush_redis(cache)
    flush_redis(broker)
    ours = Ours()
    with tempfile.TemporaryDirectory(prefix="medialib-bench-") as tmp_name, pg_database("deploy") as db_url:
        tmp = Path(tmp_name)
        storage = tmp / "storage"
        env = app_env(
            db_url, cache, storage, FLASK_INSTANCE_PATH=str(tmp / "instance"), FLASK_MEDIALIB_JOBS="celery",
            FLASK_MEDIALIB_CELERY_BROKER_URL=broker, FLASK_MEDIALIB_RENDER_WAIT="120",
            FLASK_MEDIALIB_ACCEL_REDIRECT_PREFIX=ACCEL, FLASK_MEDIALIB_PROXY_CACHE_SECONDS=str(PROXY_CACHE_SECONDS),
        )  # fmt: skip
        tp = {n: [f"tp{n}-{i}" for i in range(count)] for n in (1, 2)}
        warmup = {n: [f"warmup{n}-{i}" for i in range(2 * n)] for n in (1, 2)}
        uploads = [f"up{i}" for i in range(runs)]
        token, _media = seed(env, ["warm", *tp[1], *tp[2], *warmup[1], *warmup[2], *uploads], photo)
        web = gunicorn("deploy-web", APP_SPEC, env, workers=2, threads=8)
        with web:
            web.start("/", expect_workers=2)
            with nginx_server(tmp, web.port, storage) as front:
                front.start("/")
                base = front.base
                with render_worker(env, 1):
                    burst(base, token, warmup[1])  # the model is loaded, connections are open
                    # -- first cover after an upload ---------------------------------------
                    first = []
                    with requests.Session() as session:
                        for album in uploads:
                            with photo.open("rb") as stream:
                                put = session.put(
                                    f"{base}/api/v1/file/{LIBRARY}/-/{album}/{photo.name}",
                                    params={"access_token": token}, data=stream, timeout=120,
                                )  # fmt: skip
                            if put.status_code != 201:
                                raise RuntimeError(f"upload gave {put.status_code}: {put.text[:300]}")
                            time.sleep(1.0)
                            first.append(fetch(session, base + cover_path(token, album))[0])
                    ours.first = median(first)
                    # -- a burst of cold covers: web worker memory, 1-process throughput ----
                    seconds_1, statuses = burst(base, token, tp[1])
                    ours.statuses += statuses
                    ours.throughput[1] = len(statuses) / seconds_1
                    ours.web = [
                        (pid, proc_status(pid, "VmHWM"), maps_mention(pid, "tensorflow")) for pid in web.workers
                    ]
                with render_worker(env, 2):
                    burst(base, token, warmup[2])
                    seconds_2, statuses_2 = burst(base, token, tp[2])
                    ours.throughput[2] = len(statuses_2) / seconds_2
                    ours.statuses += statuses_2
                    cover_url = base + cover_path(token, "warm")
                    with requests.Session() as session:
                        fetch(session, cover_url)  # rendered now; below no worker runs, none is needed
                with contextlib.ExitStack() as stack:
                    # thumbor's cold figures now (no worker of ours runs); its server stays up for the
                    # warm rounds, which alternate with ours so a burst of load elsewhere hits both alike.
                    theirs = Theirs()
                    # -- warm covers through nginx --------------------------------------------
                    file_url = locate(base, cover_path(token, "warm"))
                    targets = {"302": cover_url, "file": file_url, "302_python": cover_url, "file_python": file_url}
                    for url in (cover_url, file_url):  # the cached rows must be nginx's hits
                        requests.get(url, allow_redirects=False, timeout=30)
                        status = requests.get(url, allow_redirects=False, timeout=30).headers.get("X-Cache-Status")
                        if status != "HIT":
                            raise RuntimeError(f"nginx did not keep {url}: X-Cache-Status {status}")
                    if thumbor:
                        theirs, server, hit = stack.enter_context(thumbor_side(photo, runs, count, venv))
                        # thumbor straight (its best case) and behind an nginx like ours
                        their_front = stack.enter_context(nginx_server(tmp, server.port, storage, "deploy-nginx-t"))
                        their_front.start("/healthcheck")
                        targets["thumbor"] = server.base + hit
                        targets["thumbor_nginx"] = their_front.base + hit
                    raw: dict[str, list[WrkResult]] = {name: [] for name in targets}

                    def headers(name: str) -> dict[str, str] | None:
                        return THROUGH_PYTHON if name.endswith("_python") else None

                    for name, url in targets.items():
                        wrk(url, seconds=1, headers=headers(name))
                    for _ in range(rounds):
                        for name, url in targets.items():
                            raw[name].append(wrk(url, seconds=seconds, headers=headers(name)))
                    ours.warm = summarize(raw)
                    theirs.warm = ours.warm.pop("thumbor", None)
                    theirs.warm_nginx = ours.warm.pop("thumbor_nginx", None)
    flush_redis(cache)
    flush_redis(broker)
    return report(ours, theirs, runs, seconds, count, rounds)


@contextlib.contextmanager
def thumbor_side(photo: Path, runs: int, count: int, venv: Path) -> Iterator[tuple[Theirs, Server, str]]:
    """thumbor's cold figures, then its 2-process server with one result cached: (figures, server, hit path)."""
    exe, installed = ensure_thumbor(venv)
    out = Theirs(installed)
    with tempfile.TemporaryDirectory(prefix="medialib-bench-thumbor-") as tmp_name:
        tmp = Path(tmp_name)
        loader, results = tmp / "loader", tmp / "results"
        loader.mkdir()
        conf = tmp / "thumbor.conf"
        conf.write_text(THUMBOR_CONF.format(root=str(loader), result=str(results)))
        names = iter(range(10_000))

        def upload() -> str:
            name = f"photo-{next(names)}.jpg"
            shutil.copyfile(photo, loader / name)
            return f"/unsafe/{SIZE}x{SIZE}/smart/{name}"

        with thumbor_server(exe, conf, 1, "deploy-thumbor-1") as one, requests.Session() as session:
            one.start("/healthcheck", timeout=120)
            fetch_plain(session, one.base + upload())  # its detector is loaded
            first = []
            for _ in range(runs):
                path = upload()
                time.sleep(1.0)
                first.append(fetch_plain(session, one.base + path))
            out.first = median(first)
            paths = [upload() for _ in range(count)]
            out.throughput[1] = count / burst_plain(one.base, paths)
            pids = [one.proc.pid, *children(one.proc.pid)]  # type: ignore[union-attr]
            out.rss = max(proc_status(pid, "VmHWM") for pid in pids)
        with thumbor_server(exe, conf, 2, "deploy-thumbor-2") as two:
            two.start("/healthcheck", timeout=120)
            burst_plain(two.base, [upload() for _ in range(4)])  # both processes have their detector
            paths = [upload() for _ in range(count)]
            out.throughput[2] = count / burst_plain(two.base, paths)
            yield out, two, paths[0]  # its result is in the result storage now


def report(ours: Ours, theirs: Theirs, runs: int, seconds: int, count: int, rounds: int) -> str:
    def rate(value: float | None) -> str:
        return "not measured" if value is None else f"{value:.2f}"

    def whole(kind: str = "") -> float:
        return 1 / (1 / ours.warm["302" + kind].rps + 1 / ours.warm["file" + kind].rps)

    def versus(value: float, their: WrkResult | None) -> str:
        return f"{value / their.rps:.2f}x" if their else "not measured"

    pair, pair_python = whole(), whole("_python")
    peak = max(rss for _pid, rss, _tf in ours.web)
    mapped = any(tf for _pid, _rss, tf in ours.web)
    thumbor_warm = theirs.warm.rps if theirs.warm else None
    ratio = pair / thumbor_warm if thumbor_warm else None
    rows = [
        [f"first {SIZE} px cover 1 s after the upload answered (ms, median of {runs})", ms(ours.first),
         ms(theirs.first) if theirs.first is not None else "not measured", verdict(ours.first <= TARGET_FIRST),
         f"<= {ms(TARGET_FIRST)} ms"],
        [f"web worker peak RSS, burst of {count} cold covers (MiB)", mib(peak),
         mib(theirs.rss) if theirs.rss is not None else "not measured", verdict(peak <= TARGET_RSS and not mapped),
         "<= 150 MiB, no TensorFlow"],
        ["TensorFlow mapped into a web worker", "yes" if mapped else "no", "n/a", verdict(not mapped), "no"],
        *([f"render throughput, {n} worker process{'es' if n > 1 else ''} ({count} cold covers at once; covers/s)",
           f"{ours.throughput[n]:.2f}", rate(theirs.throughput.get(n)), "n/a", "-"] for n in (1, 2)),
        ["warm whole covers/s through nginx (302 + image, from nginx's cache) vs thumbor's result-storage hit",
         f"{pair:,.0f}", f"{thumbor_warm:,.0f}" if thumbor_warm else "not measured",
         verdict(ratio >= TARGET_WARM_RATIO) if ratio else "n/a", f">= {TARGET_WARM_RATIO:.0f}x thumbor"],
        ["the same, thumbor behind an nginx like ours", f"{pair:,.0f}",
         f"{theirs.warm_nginx.rps:,.0f}" if theirs.warm_nginx else "not measured",
         verdict(pair >= TARGET_WARM_RATIO * theirs.warm_nginx.rps) if theirs.warm_nginx else "n/a",
         f">= {TARGET_WARM_RATIO:.0f}x thumbor"],
        ["for reference: warm whole covers/s through nginx and Python (nginx's cache bypassed)",
         f"{pair_python:,.0f}", f"{thumbor_warm:,.0f}" if thumbor_warm else "not measured", "n/a", "-"],
    ]  # fmt: skip
    text = print_table(["measure", "flask-medialib", "thumbor", "target", "aim"], rows, "Production deployment")
    detail_rows = [["ours: cover (302), from nginx's cache", *ours.warm["302"].row()],
                   ["ours: signed file, from nginx's cache", *ours.warm["file"].row()],
                   ["ours: cover (302) via nginx, through Python", *ours.warm["302_python"].row()],
                   ["ours: signed file via nginx, through Python", *ours.warm["file_python"].row()]]  # fmt: skip
    if theirs.warm:
        detail_rows.append(["thumbor: result storage hit (direct)", *theirs.warm.row()])
    if theirs.warm_nginx:
        detail_rows.append(["thumbor: result storage hit via nginx", *theirs.warm_nginx.row()])
    detail = print_table(["warm URL", "requests/s", "p50 (ms)", "p99 (ms)", "requests", "errors"], detail_rows)
    memory = print_table(
        ["gunicorn worker", "peak RSS (MiB)", "TensorFlow mapped"],
        [[str(pid), mib(rss), "yes" if tf else "no"] for pid, rss, tf in ours.web],
    )
    bad = [s for s in ours.statuses if s != 200]
    body = f"""Everything through nginx (1 process) running `docs/nginx/medialib.conf` (the config of
docs/deployment.rst, without TLS), gunicorn 2 gthread workers x 8 threads, `MEDIALIB_JOBS = "celery"` with
a Redis broker, `flask medialib worker --pool=prefork`, PostgreSQL, Redis cache, local storage with
`MEDIALIB_ACCEL_REDIRECT_PREFIX`, `MEDIALIB_PROXY_CACHE_SECONDS = {PROXY_CACHE_SECONDS}`; a 12 MP JPEG, {SIZE} px
covers. First cover: upload (PUT), wait 1 s, time the cover request with its redirect. Burst: {count} covers of
media added without prerender, all asked at once, with 1 worker process, then {count} others with 2; throughput
is covers over the seconds until the last one came back (models loaded beforehand). Warm: wrk 16 connections,
{seconds} s, {rounds} rounds alternating the 302 and the file URL (each answered by nginx's cache, for up to
{PROXY_CACHE_SECONDS} s per entry as the app's `X-Accel-Expires` says, and again with an `Authorization`
header, which makes the same nginx ask the app every time: the rendered cover from the Redis cache through
Python) with thumbor's hit (medians over rounds); a whole cover is the pair, 1 / (1/302 + 1/file). thumbor:
{theirs.installed}, file loader and file result storage, OpenCV face + feature detectors, the same photo copied
under a new name for each request, 1 process (first cover, memory, throughput 1) and 2 processes (throughput 2,
warm; wrk on thumbor straight and through the same nginx config). Every cold cover of ours answered 200: {
        "yes" if not bad else f"no, {bad}"
    }. Warm ratio ours / thumbor straight: {versus(pair, theirs.warm)} from nginx's cache,
{versus(pair_python, theirs.warm)} through Python; ours / thumbor behind nginx: {versus(pair, theirs.warm_nginx)}
and {versus(pair_python, theirs.warm_nginx)}. The machine is 2 cores shared with other engineers' test runs while
this ran: absolute numbers move between runs.

{text}

{detail}

{memory}
"""
    write_section("deploy", "8. Production deployment (nginx, gunicorn, Celery)", body)
    return body


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--burst", type=int, default=8, help="cold covers per throughput burst")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of the warm wrk runs")
    parser.add_argument("--venv", type=Path, default=DEFAULT_VENV)
    parser.add_argument("--no-thumbor", action="store_true", help="measure ours only")
    args = parser.parse_args()
    run(args.runs, args.seconds, args.burst, args.rounds, args.venv, not args.no_thumbor)
