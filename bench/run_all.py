"""Run every benchmark in turn (what ``make bench`` does) and write docs/benchmarks.md.

    python -m bench.run_all [--quick]

``--quick`` uses fewer runs and shorter wrk runs, for trying the scripts out.
Each script can also run alone: ``python -m bench.cold_cover`` etc.
"""

from __future__ import annotations

import argparse
import os
import shutil
import time
import traceback

from bench import (
    cold_cover,
    deploy,
    material_scale,
    media,
    memory,
    small_faces,
    storage_fetch,
    thumbor_compare,
    upload,
    warm_load,
)
from bench.common import PG_ADMIN_URL, REDIS_BASE, load_average, machine, print_table


def preflight() -> list[str]:
    """What the benchmarks need from the machine, said plainly when missing."""
    problems = []
    for tool, package in (("wrk", "wrk"), ("ffmpeg", "ffmpeg"), ("nginx", "nginx-light")):
        if shutil.which(tool, path=os.environ.get("PATH", "") + ":/usr/sbin") is None:
            problems.append(f"{tool} is missing: apt-get install {package}")
    for name, check in (("PostgreSQL", _pg_ok), ("Redis", _redis_ok)):
        try:
            check()
        except Exception as exc:
            problems.append(f"{name} is not reachable ({exc}); set BENCH_PG_URL / BENCH_REDIS_URL")
    return problems


def _pg_ok() -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(PG_ADMIN_URL)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    finally:
        engine.dispose()


def _redis_ok() -> None:
    import redis

    client = redis.Redis.from_url(REDIS_BASE + "/0", socket_timeout=5)
    try:
        client.ping()
    finally:
        client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs, shorter wrk runs")
    parser.add_argument(
        "--only",
        action="append",
        help="run only these: cold, warm, thumbor, material, memory, faces, deploy, upload, fetch",
    )
    args = parser.parse_args()
    runs, seconds, rounds = (3, 5, 1) if args.quick else (5, 10, 2)
    steps = {
        "cold": lambda: cold_cover.run(runs),
        "warm": lambda: warm_load.run(rounds, seconds),
        "thumbor": lambda: thumbor_compare.run(runs, seconds, 1),
        "material": lambda: material_scale.run(100_000, runs),
        "memory": memory.run,
        "faces": lambda: small_faces.run(runs),
        "deploy": lambda: deploy.run(runs, seconds, 8, rounds),
        "upload": upload.run,
        "fetch": lambda: storage_fetch.run(rounds, seconds),
    }
    problems = preflight()
    if problems:
        print("cannot run the benchmarks:\n  " + "\n  ".join(problems))
        raise SystemExit(2)
    print_table(["machine", ""], list(machine().items()), "Machine")
    print(f"load average at start: {load_average()}")
    media.make()
    failed = []
    for name, step in steps.items():
        if args.only and name not in args.only:
            continue
        start = time.monotonic()
        try:
            step()
        except Exception:  # one broken benchmark must not hide the others' numbers
            traceback.print_exc()
            failed.append(name)
        print(f"[{name}: {time.monotonic() - start:.0f} s, load average {load_average()}]", flush=True)
    if failed:
        print(f"\nthese benchmarks failed: {', '.join(failed)}")
        raise SystemExit(1)


if __name__ == "__main__":
    main()
