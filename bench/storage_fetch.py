"""10. Warm cover and file fetches on local storage and on S3: 302s per second, in the same run.

Two copies of the example app, each under gunicorn (2 sync workers, its own
PostgreSQL database and Redis), one on local storage and one on S3 (moto's
standalone server on this machine), with the same 12 MP JPEG as an album's
cover, rendered beforehand. wrk (16 connections) then runs in turn on each
app's

- cover URL: the 302 step (local: to the app's signed URL; s3: to a presigned
  GET of the cover's rendition object, so there is no second app step);
- signed cover URL (local only): the 200 with the cover's bytes from the cache;
- SMH download (``GET /file/...``): the 302 to the app's signed URL (SQL: the
  library, the space and the file row);
- signed download URL: local, the 200 with the original's bytes; s3, the 302 to
  a presigned GET of the original.

Redirects are never followed: these are the app's own answers. The steps
alternate for ``--rounds`` rounds (medians over rounds), so load elsewhere hits
both storages alike. moto serving the objects is not measured (a real bucket or
CDN serves them, never this app).

    python -m bench.storage_fetch [--rounds N] [--seconds S]
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
from collections.abc import Iterator
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
    median,
    pg_database,
    print_table,
    redis_url,
    seed_albums,
    write_section,
    wrk,
)
from bench.upload import BUCKET, moto

SIZE = 256
STEPS = (
    ("cover", "cover URL (302)"),
    ("cover_file", "signed cover URL (200 from the cache)"),
    ("download", "SMH download (302 to the signed URL)"),
    ("download_file", "signed download URL (local 200, s3 302 to the bucket)"),
)


def s3_env(endpoint: str) -> dict[str, str]:
    return {"FLASK_MEDIALIB_STORAGE": "s3", "FLASK_MEDIALIB_S3_BUCKET": BUCKET,
            "FLASK_MEDIALIB_S3_ENDPOINT_URL": endpoint, "FLASK_MEDIALIB_S3_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"}  # fmt: skip


def location(url: str) -> str:
    """Where ``url`` redirects (made absolute); its target answers (a cold step would skew the numbers)."""
    resp = requests.get(url, allow_redirects=False, timeout=60)
    if resp.status_code != 302:
        raise RuntimeError(f"{url} gave {resp.status_code}: {resp.text[:300]}")
    target = resp.headers["Location"]
    target = target if target.startswith("http") else url.split("/api/", 1)[0] + target
    with requests.get(target, timeout=60) as got:  # follows the bucket's 302 too: the bytes are there
        got.raise_for_status()
    return target


@contextlib.contextmanager
def served_app(name: str, folder: Path, extra: dict[str, str]) -> Iterator[tuple[Server, dict[str, str]]]:
    """A seeded app under gunicorn, and the URLs of its steps (rendered and fetched once)."""
    item = bench_media.make()[0]
    with pg_database(f"fetch_{name}") as database:
        # One Redis db, parted by key prefix; no face model: only warm answers are timed.
        env = app_env(database, redis_url("fetch"), folder / f"storage-{name}",
                      FLASK_INSTANCE_PATH=str(folder / f"instance-{name}"), FLASK_MEDIALIB_FACE_DETECTOR="none",
                      FLASK_MEDIALIB_CACHE_KEY_PREFIX=f"fetch-{name}:", **extra)  # fmt: skip
        app = make_app(env)
        seeded: Seeded = seed_albums(app, {"photos": item.path})
        with app.app_context():
            app.extensions["medialib"].db.engine.dispose()
        server = gunicorn(f"fetch-{name}", APP_SPEC, env)
        with server.start("/", expect_workers=2):
            cover = server.base + seeded.cover_path("photos", SIZE)
            download = f"{server.base}/api/v1/file/bench/-/photos/{item.path.name}?access_token={seeded.token}"
            urls = {"cover": cover, "download": download, "download_file": location(download)}
            cover_target = location(cover)
            if cover_target.startswith(server.base):  # local: the app's own signed URL is a second step
                urls["cover_file"] = cover_target
            yield server, urls


def run(rounds: int = 2, seconds: int = 10) -> None:
    flush_redis(redis_url("fetch"))
    raw: dict[tuple[str, str], list[WrkResult]] = {}
    with (
        tempfile.TemporaryDirectory(prefix="medialib-bench-fetch-") as tmp,
        moto(Path(tmp)) as endpoint,
        served_app("local", Path(tmp), {}) as (_, local),
        served_app("s3", Path(tmp), s3_env(endpoint)) as (_, s3),
    ):
        # Each step on one storage, then at once on the other: a burst of load elsewhere hits both alike.
        apps = {"local": local, "s3": s3}
        targets = {(name, step): apps[name][step] for step, _ in STEPS for name in apps if step in apps[name]}
        for url in targets.values():  # warm-up: connections, the memo, the workers' first requests
            wrk(url, seconds=1)
        for _ in range(rounds):
            for key, url in targets.items():
                raw.setdefault(key, []).append(wrk(url, seconds=seconds))
    flush_redis(redis_url("fetch"))

    rps = {key: median([r.rps for r in runs]) for key, runs in raw.items()}
    errors = {key: sum(r.errors for r in runs) for key, runs in raw.items()}
    p99 = {key: median([r.p99 for r in runs]) for key, runs in raw.items()}
    rows = []
    for step, label in STEPS:
        cells = [label]
        for backend in ("local", "s3"):
            key = (backend, step)
            cells += [f"{rps[key]:,.0f}", f"{p99[key] * 1000:.1f}", str(errors[key])] if key in rps else ["-"] * 3
        both = ("local", step) in rps and ("s3", step) in rps
        cells.append(f"{rps[('s3', step)] / rps[('local', step)]:.2f}" if both else "-")
        rows.append(cells)
    headers = ["step", "local req/s", "local p99 (ms)", "local errors", "s3 req/s", "s3 p99 (ms)", "s3 errors",
               "s3 / local"]  # fmt: skip
    text = print_table(headers, rows, "Warm cover and file fetches, local and S3")
    local_cover = 1 / (1 / rps[("local", "cover")] + 1 / rps[("local", "cover_file")])
    local_download = 1 / (1 / rps[("local", "download")] + 1 / rps[("local", "download_file")])
    s3_download = 1 / (1 / rps[("s3", "download")] + 1 / rps[("s3", "download_file")])
    summary = (
        f"A whole warm cover costs the app two steps on local storage ({local_cover:,.0f} covers/s) and one on "
        f"s3 ({rps[('s3', 'cover')]:,.0f} covers/s: the bucket serves the bytes). A whole download costs two "
        f"steps on both: {local_download:,.0f}/s on local storage (the second sends the bytes), "
        f"{s3_download:,.0f}/s on s3 (the second is a 302 to the bucket)."
    )
    print(summary)
    body = f"""gunicorn, 2 sync workers per app, PostgreSQL and Redis on this machine; the local-storage app and
the s3 app (moto's server on this machine) run side by side with the same {SIZE} px cover of a 12 MP JPEG,
rendered beforehand. wrk, 16 connections, 2 threads, {seconds} s per run, {rounds} rounds alternating every
URL (medians over rounds; errors summed); redirects are not followed, so these are the app's own answers and
no bucket is timed. On s3 the cover 302 goes to a presigned GET of the cover's rendition object, so there is
no signed-cover step. wrk shares the 2 cores with both apps, PostgreSQL, Redis and moto.

{text}

{summary}
"""
    write_section("storage_fetch", "10. Warm cover and file fetches: local and S3 storage", body)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()
    run(args.rounds, args.seconds)


if __name__ == "__main__":
    main()
