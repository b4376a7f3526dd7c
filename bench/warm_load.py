"""3. Warm covers under load: wrk on the 302 step and on the signed-file step, beside a bare Flask 302.

gunicorn, 2 sync workers, PostgreSQL and Redis, serves the example app; the
cover is rendered once beforehand by this process (so the workers only ever
serve warm covers). wrk (16 connections, 10 s, 2 threads) runs in turn on:

- the cover URL (the 302 step, redirects not followed),
- the signed URL it redirects to (the file step),
- a bare Flask route answering 302 under the same gunicorn settings (the ceiling),
- the same bare route after one Redis GET (what a warm 302 could cost at best).

The four alternate for ``--rounds`` rounds and each number is the median
over rounds, so a burst of load elsewhere hits all three alike.

    python -m bench.warm_load [--rounds N] [--seconds S]
"""

from __future__ import annotations

import argparse
import tempfile
from dataclasses import dataclass
from pathlib import Path

import requests

from bench import media as bench_media
from bench.common import (
    APP_SPEC,
    Seeded,
    Server,
    WrkResult,
    app_env,
    flush_redis,
    gunicorn,
    make_app,
    maps_mention,
    median,
    ms,
    pg_database,
    print_table,
    proc_status,
    redis_url,
    seed_albums,
    verdict,
    write_section,
    wrk,
)

SIZE = 256
TARGET_RPS = 2500
TARGET_P99 = 0.020
TARGET_RATIO = 0.6


@dataclass
class WarmSetup:
    server: Server
    seeded: Seeded
    cover_url: str
    file_url: str


def warm_cover(app, seeded: Seeded, album: str, size: int) -> None:
    """Render the cover in this process, so the served workers find it cached."""
    with app.test_client() as client:
        resp = client.get(seeded.cover_path(album, size))
        assert resp.status_code == 302, resp.get_data(as_text=True)
        with client.get(resp.headers["Location"]) as img:
            assert img.status_code == 200


def locate(base: str, path: str) -> str:
    resp = requests.get(base + path, allow_redirects=False, timeout=30)
    if resp.status_code != 302:
        raise RuntimeError(f"{path} gave {resp.status_code}: {resp.text[:300]}")
    location = resp.headers["Location"]
    return location if location.startswith("http") else base + location


def summarize(results: dict[str, list[WrkResult]]) -> dict[str, WrkResult]:
    out = {}
    for name, runs in results.items():
        out[name] = WrkResult(
            rps=median([r.rps for r in runs]),
            p50=median([r.p50 for r in runs]),
            p99=median([r.p99 for r in runs]),
            requests=sum(r.requests for r in runs),
            errors=sum(r.errors for r in runs),
        )
    return out


def worker_memory(server: Server) -> list[tuple[int, int, bool]]:
    """(pid, peak RSS bytes, TensorFlow mapped) of each worker."""
    return [(pid, proc_status(pid, "VmHWM"), maps_mention(pid, "tensorflow")) for pid in server.workers]


def run(rounds: int = 2, seconds: int = 10) -> tuple[str, list[tuple[int, int, bool]]]:
    item = bench_media.make()[0]
    redis = redis_url("warm")
    flush_redis(redis)
    with tempfile.TemporaryDirectory(prefix="medialib-bench-") as tmp, pg_database("warm") as db_url:
        env = app_env(db_url, redis, Path(tmp) / "storage", FLASK_INSTANCE_PATH=str(Path(tmp) / "instance"))
        app = make_app(env)
        seeded = seed_albums(app, {"photos": item.path})
        warm_cover(app, seeded, "photos", SIZE)
        with app.app_context():
            app.extensions["medialib"].db.engine.dispose()

        raw: dict[str, list[WrkResult]] = {"302": [], "file": [], "bare": [], "bare_redis": []}
        with (
            gunicorn("warm-app", APP_SPEC, env) as server,
            gunicorn("warm-bare", "bench.bare_app:create_app()", {"BENCH_REDIS_URL": redis}) as bare,
        ):
            server.start("/", expect_workers=2)
            bare.start("/cover", expect_workers=2)
            cover_url = server.base + seeded.cover_path("photos", SIZE)
            file_url = locate(server.base, seeded.cover_path("photos", SIZE))
            targets = {
                "302": cover_url,
                "file": file_url,
                "bare": bare.base + "/cover",
                "bare_redis": bare.base + "/cover-redis",
            }
            for url in targets.values():  # a short warm-up: connections, caches, JIT of nothing
                wrk(url, seconds=1)
            for _ in range(rounds):
                for name, url in targets.items():
                    raw[name].append(wrk(url, seconds=seconds))
            memory = worker_memory(server)
        flush_redis(redis)

    res = summarize(raw)
    bare_rps = res["bare"].rps
    rows = []
    for name, label in (("302", "cover URL (302 step)"), ("file", "signed file URL (200, image bytes)"),
                        ("bare", "bare Flask 302 (ceiling)"),
                        ("bare_redis", "bare Flask 302 after one Redis GET (reference)")):  # fmt: skip
        r = res[name]
        ratio = r.rps / bare_rps if bare_rps else float("nan")
        ok = (
            None if name.startswith("bare") else (r.rps >= TARGET_RPS and r.p99 <= TARGET_P99 and ratio >= TARGET_RATIO)
        )
        rows.append([label, *r.row(), f"{ratio:.2f}", verdict(ok)])
    headers = ["step", "requests/s", "p50 (ms)", "p99 (ms)", "requests", "errors", "of bare", "target"]
    text = print_table(headers, rows, "Warm covers under load")
    pair = 1 / (1 / res["302"].rps + 1 / res["file"].rps)
    print(f"302 + file pair: {pair:,.0f} covers/s")
    body = f"""gunicorn, 2 sync workers, PostgreSQL and Redis on this machine; wrk, 16 connections, 2 threads,
{seconds} s per run, {rounds} rounds alternating the three URLs (medians over rounds; errors summed). The
cover ({SIZE} px, 12 MP JPEG) was rendered beforehand, so these workers only serve warm covers. Target for
each step: at least {TARGET_RPS:,} requests/s, p99 at most {ms(TARGET_P99)} ms and at least {TARGET_RATIO} of
the bare route. wrk shares the 2 cores with the server, PostgreSQL and Redis.

{text}

A whole cover (302 then file, one after the other) costs both steps: {pair:,.0f} covers/s.
"""
    write_section("warm_load", "3. Warm covers under load", body)
    return body, memory


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()
    run(args.rounds, args.seconds)
