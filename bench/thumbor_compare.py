"""4. Side by side with thumbor: cold smart 256x256 crop and warm cached results, in one run.

thumbor[all] (plain ``thumbor`` if [all] fails to build) is installed from
PyPI into a throw-away venv outside the repository (``--venv``, default
``$TMPDIR/medialib-bench-thumbor``; kept for the next run), and serves the
same 12 MP JPEG with its file loader, OpenCV face and feature detectors
(``/unsafe/256x256/smart/<file>``) and a file result storage.

- Cold: thumbor with an empty result storage and no original storage (so no
  cached detection) against our cover with empty cover and face caches; one
  process each, the detector already loaded, medians of ``--runs``.
- Warm: wrk, 16 connections, on thumbor's result-storage hit (2 processes)
  against our 302 and signed-file steps (gunicorn, 2 workers, PostgreSQL,
  Redis); ours is the pair, 1 / (1/302 + 1/file) whole covers a second.

    python -m bench.thumbor_compare [--runs N] [--seconds S]
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import requests

from bench import media as bench_media
from bench.cold_cover import fetch
from bench.common import (
    APP_SPEC,
    RESULTS,
    Server,
    WrkResult,
    app_env,
    flush_redis,
    free_port,
    gunicorn,
    make_app,
    median,
    ms,
    pg_database,
    print_table,
    redis_url,
    seed_albums,
    verdict,
    write_section,
    wrk,
)
from bench.warm_load import locate, summarize, warm_cover

SIZE = 256
DEFAULT_VENV = Path(tempfile.gettempdir()) / "medialib-bench-thumbor"

CONF = """
LOADER = 'thumbor.loaders.file_loader'
FILE_LOADER_ROOT_PATH = {root!r}
STORAGE = 'thumbor.storages.no_storage'
RESULT_STORAGE = 'thumbor.result_storages.file_storage'
RESULT_STORAGE_FILE_STORAGE_ROOT_PATH = {result!r}
RESULT_STORAGE_STORES_UNSAFE = True
RESULT_STORAGE_EXPIRATION_SECONDS = 0
ALLOW_UNSAFE_URL = True
DETECTORS = ['thumbor.detectors.face_detector', 'thumbor.detectors.feature_detector']
QUALITY = 85
PROGRESSIVE_JPEG = True
AUTO_WEBP = False
"""


def ensure_thumbor(venv: Path) -> tuple[Path, str]:
    """The thumbor executable in ``venv`` and what was installed, installing when missing."""
    exe = venv / "bin" / "thumbor"
    marker = venv / "installed-extra"
    if exe.exists() and marker.exists():
        return exe, marker.read_text().strip()
    shutil.rmtree(venv, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    what = "thumbor[all]"
    if subprocess.run([*pip, what], stderr=subprocess.DEVNULL).returncode != 0:
        what = "thumbor"
        subprocess.run([*pip, what, "opencv-python-headless"], check=True)
    version = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import thumbor; print(thumbor.__version__)"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    marker.write_text(f"{what} {version}")
    return exe, marker.read_text().strip()


def thumbor_server(exe: Path, conf: Path, processes: int, name: str) -> Server:
    port = free_port()
    argv = [str(exe), "-i", "127.0.0.1", "-p", str(port), "-c", str(conf), "-l", "error", "--processes",
            str(processes)]  # fmt: skip
    env = {"PATH": "/usr/bin:/bin", "OPENCV_LOG_LEVEL": "ERROR"}
    return Server(name, argv, env, port, RESULTS / "logs" / f"{name}.log")


def clear(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)


@contextlib.contextmanager
def cold_side_by_side(
    names: tuple[str, str], env: dict[str, str], exe: Path, conf: Path, result_dir: Path, warmup_url: str,
    photo_name: str,
) -> Iterator[tuple[Server, Server, requests.Session]]:  # fmt: skip
    """Our app (1 gunicorn worker) and thumbor (1 process), both models loaded, thumbor's result storage empty.

    ``warmup_url`` (a path on our app) and a thumbor crop of another size load the models first.
    """
    with (
        gunicorn(names[0], APP_SPEC, env, workers=1) as ours,
        thumbor_server(exe, conf, 1, names[1]) as theirs,
        requests.Session() as session,
    ):
        ours.start("/", expect_workers=1)
        theirs.start("/healthcheck", timeout=120)
        fetch(session, ours.base + warmup_url)  # loads our model
        clear(result_dir)
        fetch_plain(session, theirs.base + f"/unsafe/{SIZE + 1}x{SIZE + 1}/smart/{photo_name}")  # and theirs
        yield ours, theirs, session


def run(runs: int = 5, seconds: int = 10, rounds: int = 1, venv: Path = DEFAULT_VENV) -> str:
    item = bench_media.make()[0]
    exe, installed = ensure_thumbor(venv)
    redis = redis_url("thumbor")
    flush_redis(redis)
    with tempfile.TemporaryDirectory(prefix="medialib-bench-") as tmp_name, pg_database("thumbor") as db_url:
        tmp = Path(tmp_name)
        result_dir = tmp / "thumbor-results"
        conf = tmp / "thumbor.conf"
        conf.write_text(CONF.format(root=str(item.path.parent), result=str(result_dir)))
        thumb_path = f"/unsafe/{SIZE}x{SIZE}/smart/{item.path.name}"

        env = app_env(db_url, redis, tmp / "storage", FLASK_INSTANCE_PATH=str(tmp / "instance"))
        app = make_app(env)
        seeded = seed_albums(app, {"photos": item.path, "warmup": item.path})

        # -- cold ---------------------------------------------------------------
        ours_cold: list[float] = []
        theirs_cold: list[float] = []
        warmup = seeded.cover_path("warmup", SIZE)
        names = ("cmp-cold", "thumbor-cold")
        with cold_side_by_side(names, env, exe, conf, result_dir, warmup, item.path.name) as (ours, theirs, session):
            for _ in range(runs):
                flush_redis(redis)
                ours_cold.append(fetch(session, ours.base + seeded.cover_path("photos", SIZE))[0])
                clear(result_dir)
                theirs_cold.append(fetch_plain(session, theirs.base + thumb_path))

        # -- warm ---------------------------------------------------------------
        warm_cover(app, seeded, "photos", SIZE)
        with app.app_context():
            app.extensions["medialib"].db.engine.dispose()
        raw: dict[str, list[WrkResult]] = {"302": [], "file": [], "thumbor": []}
        with (
            gunicorn("cmp-warm", APP_SPEC, env, workers=2) as ours,
            thumbor_server(exe, conf, 2, "thumbor-warm") as theirs,
        ):
            ours.start("/", expect_workers=2)
            theirs.start("/healthcheck", timeout=120)
            fetch_plain(requests, theirs.base + thumb_path)  # fills its result storage
            targets = {
                "302": ours.base + seeded.cover_path("photos", SIZE),
                "file": locate(ours.base, seeded.cover_path("photos", SIZE)),
                "thumbor": theirs.base + thumb_path,
            }
            for url in targets.values():
                wrk(url, seconds=1)
            for _ in range(rounds):
                for name, url in targets.items():
                    raw[name].append(wrk(url, seconds=seconds))
        flush_redis(redis)

    res = summarize(raw)
    pair = 1 / (1 / res["302"].rps + 1 / res["file"].rps)
    ours_c, theirs_c = median(ours_cold), median(theirs_cold)
    rows = [
        [f"cold {SIZE} px smart crop, 12 MP JPEG (ms, lower is better)", ms(ours_c), ms(theirs_c),
         f"{theirs_c / ours_c:.2f}", verdict(ours_c < theirs_c)],
        ["warm, whole covers/s (ours: 302 + file pair; higher is better)", f"{pair:,.0f}",
         f"{res['thumbor'].rps:,.0f}", f"{pair / res['thumbor'].rps:.2f}", verdict(pair > res["thumbor"].rps)],
    ]  # fmt: skip
    text = print_table(["measure", "flask-medialib", "thumbor", "speed-up (ours vs thumbor)", "faster"], rows,
                       "Side by side with thumbor")  # fmt: skip
    detail = print_table(
        ["warm URL", "requests/s", "p50 (ms)", "p99 (ms)", "requests", "errors"],
        [["ours: cover (302)", *res["302"].row()], ["ours: signed file", *res["file"].row()],
         ["thumbor: result storage hit", *res["thumbor"].row()]],
    )  # fmt: skip
    body = f"""{installed} in a throw-away venv, file loader, OpenCV face then feature detector, file result
storage, no original storage; `{thumb_path}`. Cold: one process each, detector loaded, result storage or
cover/face cache emptied before each of {runs} runs (medians; redirect followed for ours). Warm: thumbor with
2 processes, ours gunicorn with 2 sync workers + PostgreSQL + Redis; wrk 16 connections, {seconds} s each.

{text}

{detail}
"""
    write_section("thumbor", "4. Side by side with thumbor", body)
    return body


def fetch_plain(session, url: str) -> float:
    import time

    start = time.perf_counter()
    with session.get(url, timeout=120) as resp:
        body = resp.content
        status = resp.status_code
    elapsed = time.perf_counter() - start
    if status != 200 or not body:
        raise RuntimeError(f"{url} gave {status}")
    return elapsed


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--venv", type=Path, default=DEFAULT_VENV)
    args = parser.parse_args()
    run(args.runs, args.seconds, args.rounds, args.venv)
