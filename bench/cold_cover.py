"""1 + 2. Cold cover latency, its breakdown, and another size once faces are cached.

End to end: gunicorn (1 sync worker, PostgreSQL, Redis) serves the example
app; the face model is already loaded in the worker (a warm-up cover ran
first). Each run empties the Redis db (covers and faces), then times
GET cover?size=256 -> 302 -> GET signed URL -> last byte. Then, faces now
cached, it times other sizes of the same media.

Breakdown: the cover service's own render (``covers.measure_render``) in this
process, same config, with the cache emptied before each cold run:
load (the stored file's path), probe (image header), decode (draft JPEG or
first video frame), detect (RetinaFace), crop + encode. Model load (TF import,
graph, first run) is timed once, separately.

    python -m bench.cold_cover [--runs N]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import requests

from bench import media as bench_media
from bench.common import (
    APP_SPEC,
    app_env,
    flush_redis,
    gunicorn,
    make_app,
    median,
    ms,
    pg_database,
    print_table,
    redis_url,
    seed_albums,
    timed,
    verdict,
    write_section,
)

SIZE = 256
OTHER_SIZES = (128, 512)
WHAT_IF_SIDES = (320,)  # MEDIALIB_DETECT_MAX_SIDE values to compare with the configured one
TARGET_COLD = 0.150  # JPEG and MP4
TARGET_OTHER = 0.030


def fetch(session: requests.Session, url: str) -> tuple[float, int]:
    """Seconds from the cover request to the last byte of the image, redirect followed."""
    start = time.perf_counter()
    with session.get(url, allow_redirects=True, timeout=120) as resp:
        body = resp.content
        status = resp.status_code
        hops = len(resp.history)
    elapsed = time.perf_counter() - start
    if status != 200 or hops != 1 or not body:
        raise RuntimeError(f"{url} gave {status} after {hops} redirect(s)")
    return elapsed, len(body)


def breakdown(app, media_id: int, size: int, redis: str, runs: int, cold: bool) -> dict[str, float]:
    from flask_medialib.models import Media
    from flask_medialib.services import covers

    keys = ("load", "probe", "decode", "detect", "crop_encode", "total", "cpu")
    parts: dict[str, list[float]] = {k: [] for k in keys}
    with app.app_context():
        media = app.extensions["medialib"].session.get(Media, media_id)
        for _ in range(runs):
            if cold:
                flush_redis(redis)
            cpu = time.process_time()
            elapsed, t = timed(lambda: covers.measure_render(media, size))
            parts["cpu"].append(time.process_time() - cpu)  # all threads: TF runs on both cores
            known = t.load + t.decode + t.detect + t.crop_encode
            for name, value in (
                ("load", t.load), ("probe", elapsed - known), ("decode", t.decode),
                ("detect", t.detect), ("crop_encode", t.crop_encode), ("total", elapsed),
            ):  # fmt: skip
                parts[name].append(value)
    return {k: median(v) for k, v in parts.items()}


def model_load_seconds(app) -> float:
    """Import TensorFlow, load the graph and run it once (what a worker pays on its first detection)."""
    with app.app_context():
        detector = app.extensions["medialib"].detector()
        elapsed, _ = timed(lambda: detector.load() if hasattr(detector, "load") else None)
    return elapsed


def run(runs: int = 5) -> str:
    items = bench_media.make()
    redis = redis_url("cold")
    flush_redis(redis)
    with tempfile.TemporaryDirectory(prefix="medialib-bench-") as tmp, pg_database("cold") as db_url:
        env = app_env(db_url, redis, Path(tmp) / "storage", FLASK_INSTANCE_PATH=str(Path(tmp) / "instance"))
        app = make_app(env)
        files = {m.key: m.path for m in items}
        files["warmup"] = items[0].path
        seeded = seed_albums(app, files)

        load_s = model_load_seconds(app)
        cold_parts = {m.key: breakdown(app, seeded.media_ids[m.key], SIZE, redis, runs, cold=True) for m in items}
        flush_redis(redis)

        end_to_end: dict[str, dict[str, list[float]]] = {m.key: {"cold": []} for m in items}
        nbytes = {}
        with gunicorn("cold-cover", APP_SPEC, env, workers=1) as server, requests.Session() as session:
            server.start("/", expect_workers=1)
            # the worker loads the model on its first detection: not part of a cold cover
            first, _ = fetch(session, server.base + seeded.cover_path("warmup", SIZE))
            for _ in range(runs):
                for m in items:
                    flush_redis(redis)
                    elapsed, nbytes[m.key] = fetch(session, server.base + seeded.cover_path(m.key, SIZE))
                    end_to_end[m.key]["cold"].append(elapsed)
                    for other in OTHER_SIZES:
                        elapsed, _ = fetch(session, server.base + seeded.cover_path(m.key, other))
                        end_to_end[m.key].setdefault(str(other), []).append(elapsed)
        what_if = {}
        for side in WHAT_IF_SIDES:  # the same render with detection on a smaller copy
            alt = make_app({**env, "FLASK_MEDIALIB_DETECT_MAX_SIDE": str(side)})
            what_if[side] = {
                m.key: breakdown(alt, seeded.media_ids[m.key], SIZE, redis, runs, cold=True) for m in items[:2]
            }
            with alt.app_context():
                alt.extensions["medialib"].db.engine.dispose()
        other_parts = {m.key: breakdown(app, seeded.media_ids[m.key], OTHER_SIZES[-1], redis, runs, cold=False)
                       for m in items}  # fmt: skip
        flush_redis(redis)
        with app.app_context():
            app.extensions["medialib"].db.engine.dispose()

    steps = ("load", "probe", "decode", "detect", "crop_encode", "total", "cpu")
    headers = ["media", f"cold {SIZE} px, HTTP (ms)", "load", "probe + cache", "decode", "detect", "crop+encode",
               "render total", "render CPU", "cover bytes", "target <= 150 ms"]  # fmt: skip
    rows = []
    for m in items:
        p = cold_parts[m.key]
        cold = median(end_to_end[m.key]["cold"])
        target = verdict(cold <= TARGET_COLD) if m.key in ("jpeg", "mp4") else "n/a"
        rows.append([m.label, ms(cold), *(ms(p[k]) for k in steps), nbytes[m.key], target])
    cold_table = print_table(headers, rows, "Cold cover (cover and face caches empty, model loaded)")

    side = app.config["MEDIALIB_DETECT_MAX_SIDE"]
    rows_if = []
    for m in items[:2]:
        rows_if.append([m.label, side, *(ms(cold_parts[m.key][k]) for k in ("decode", "detect", "total", "cpu"))])
        for alt_side, parts in what_if.items():
            p = parts[m.key]
            rows_if.append([m.label, alt_side, *(ms(p[k]) for k in ("decode", "detect", "total", "cpu"))])
    what_if_table = print_table(
        ["media", "MEDIALIB_DETECT_MAX_SIDE", "decode", "detect", "render total", "render CPU"],
        rows_if,
        "Cold render by detection size (breakdown only, same run)",
    )

    headers2 = ["media", *(f"{s} px, HTTP (ms)" for s in OTHER_SIZES), f"render {OTHER_SIZES[-1]} px: decode",
                "crop+encode", "render total", "render CPU", "target <= 30 ms"]  # fmt: skip
    rows2 = []
    for m in items:
        p = other_parts[m.key]
        times = [median(end_to_end[m.key][str(s)]) for s in OTHER_SIZES]
        rows2.append([m.label, *(ms(t) for t in times), ms(p["decode"]), ms(p["crop_encode"]), ms(p["total"]),
                      ms(p["cpu"]), verdict(max(times) <= TARGET_OTHER)])  # fmt: skip
    other_table = print_table(headers2, rows2, "Another size of the same media (faces cached, cover not)")
    print(f"\nmodel load in this process (TF import + graph + first run): {ms(load_s)} ms; "
          f"first cover of the gunicorn worker (model load included): {ms(first)} ms")  # fmt: skip

    body = f"""Gunicorn, 1 sync worker, PostgreSQL and Redis on this machine. "HTTP" is the time from the cover
request to the last byte of the image with the 302 followed (median of {runs} runs, each after emptying the
cache). The breakdown times the cover service's render in the benchmark process (median of {runs}), in ms:
*load* finds the stored file, *probe + cache* reads the image header and looks up cached faces, *decode*
decodes (JPEG in draft mode, video: first frame), *detect* runs RetinaFace, *crop+encode* plans, resizes
and encodes the JPEG; *render CPU* is the CPU time of the whole render, all threads (less sensitive to other
load on the machine than the wall times).

{cold_table}

Model load, paid once per process on its first detection and not included above: {ms(load_s)} ms
(TensorFlow import, graph, first run); the worker's first cover took {ms(first)} ms in all.

Detection runs on a copy whose longest side is `MEDIALIB_DETECT_MAX_SIDE`; the same cold render with a
smaller copy, measured in the same run:

{what_if_table}

### Another size (faces cached)

{other_table}
"""
    write_section("cold_cover", "1-2. Cold cover and another size", body)
    return body


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    run(parser.parse_args().runs)
