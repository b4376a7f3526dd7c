"""6. Memory: peak RSS of a gunicorn worker that served only warm covers, and of one that ran detection.

gunicorn, 2 sync workers, PostgreSQL and Redis. The warm cover is rendered
beforehand by this process. wrk then sends warm covers (302 and file) to
both workers; their peak RSS (VmHWM in /proc/<pid>/status) is read, and
whether TensorFlow's shared library is mapped into them (/proc/<pid>/maps).
Then a cover no one has rendered is asked for: the worker that took it ran
the detection, and its peak RSS is read again.

    python -m bench.memory
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from bench import media as bench_media
from bench.cold_cover import fetch
from bench.common import (
    APP_SPEC,
    app_env,
    flush_redis,
    gunicorn,
    make_app,
    maps_mention,
    pg_database,
    print_table,
    proc_status,
    redis_url,
    seed_albums,
    verdict,
    write_section,
    wrk,
)
from bench.warm_load import locate, warm_cover

SIZE = 256
TARGET_WARM = 150 * 1024 * 1024


def mib(value: int) -> str:
    return f"{value / 1024 / 1024:.0f}"


def run() -> str:
    items = bench_media.make()
    redis = redis_url("memory")
    flush_redis(redis)
    with tempfile.TemporaryDirectory(prefix="medialib-bench-") as tmp, pg_database("memory") as db_url:
        env = app_env(db_url, redis, Path(tmp) / "storage", FLASK_INSTANCE_PATH=str(Path(tmp) / "instance"))
        app = make_app(env)
        seeded = seed_albums(app, {"warm": items[0].path, "cold": items[1].path})
        warm_cover(app, seeded, "warm", SIZE)
        with app.app_context():
            app.extensions["medialib"].db.engine.dispose()

        import requests

        with gunicorn("memory", APP_SPEC, env, workers=2) as server:
            server.start("/", expect_workers=2)
            started = {pid: proc_status(pid, "VmHWM") for pid in server.workers}
            cover = server.base + seeded.cover_path("warm", SIZE)
            wrk(cover, seconds=3)
            wrk(locate(server.base, seeded.cover_path("warm", SIZE)), seconds=3)
            warm = {pid: (proc_status(pid, "VmHWM"), maps_mention(pid, "tensorflow")) for pid in server.workers}
            with requests.Session() as session:
                fetch(session, server.base + seeded.cover_path("cold", SIZE))
            after = {pid: (proc_status(pid, "VmHWM"), maps_mention(pid, "tensorflow")) for pid in server.workers}
        flush_redis(redis)

    rows = []
    for pid in sorted(after):
        detected = after[pid][1]
        warm_ok = not warm[pid][1] and warm[pid][0] <= TARGET_WARM
        rows.append(
            [
                f"worker {pid}",
                mib(started[pid]),
                mib(warm[pid][0]),
                "yes" if warm[pid][1] else "no",
                verdict(warm_ok),
                mib(after[pid][0]) if detected else "-",
                "ran detection" if detected else "warm only",
            ]
        )
    headers = [
        "worker",
        "after start (MiB)",
        "after warm covers (MiB)",
        "TensorFlow mapped",
        "target: no TF, <= 150 MiB",
        "after a cold cover (MiB)",
        "role",
    ]
    text = print_table(headers, rows, "Peak RSS of gunicorn workers (VmHWM)")
    body = f"""gunicorn, 2 sync workers, PostgreSQL and Redis. Peak RSS (VmHWM) of each worker after start, after
3 s of wrk on a warm cover's 302 and 3 s on its file, and after one cold cover (1080p MP4) that one worker
had to detect faces for. "TensorFlow mapped": its shared library is in /proc/<pid>/maps.

{text}
"""
    write_section("memory", "6. Memory", body)
    return body


if __name__ == "__main__":
    run()
