"""5. Material API on 100,000 materials, SQLite and PostgreSQL: add 1000 items, list with each filter.

The 100,000 rows are inserted directly (bulk INSERT of Media rows, in
batches) into one enterprise (space): a mix of the four types, enterprise
and employee materials of 50 users, 1 to 3 tag ids of 100, and create times
spread over two years. Then the API is called through the Flask test client
(the whole Flask request: query parsing, token check, service, JSON), each
call timed, medians of ``--runs``:

- add: POST /biz/material/third/add with 1000 items (URL paths), all or nothing;
- list: GET /biz/material/third/list, 20 a page, with no filter and with each
  filter (name, type, bizType, tagIds, startTime + endTime), and a deep page.

    python -m bench.material_scale [--rows N] [--runs N] [--backend sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import (
    app_env,
    env_vars,
    flush_redis,
    median,
    ms,
    pg_database,
    print_table,
    redis_url,
    verdict,
    write_section,
)

TARGET_ADD = 0.250
TARGET_LIST = 0.015
PREFIX = "/api/v1/biz/material/third"
WORDS = [
    "beach",
    "city",
    "team",
    "launch",
    "poster",
    "summer",
    "winter",
    "office",
    "product",
    "banner",
    "event",
    "portrait",
]
USERS = [f"user{i:02d}" for i in range(50)]
START = dt.datetime(2023, 1, 1)
SPAN = 2 * 365 * 86_400


def build_app(backend: str, tmp: Path, db_url: str | None) -> Any:
    from example_app import create_app

    if backend == "sqlite":
        env = {
            "FLASK_SECRET_KEY": "bench",
            "FLASK_INSTANCE_PATH": str(tmp / "instance"),
            "FLASK_MEDIALIB_CACHE_TYPE": "SimpleCache",
            "FLASK_MEDIALIB_STORAGE_ROOT": str(tmp / "storage"),
            "FLASK_SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp / 'material.sqlite3'}",
        }
    else:
        assert db_url is not None
        env = app_env(db_url, redis_url("material"), tmp / "storage", FLASK_INSTANCE_PATH=str(tmp / "instance"))
    with env_vars(env):
        return create_app()


def seed(app: Any, rows: int) -> tuple[str, int]:
    """A multi-tenant library, enterprise ``corp1`` with ``rows`` materials; returns a write token and space pk."""
    from sqlalchemy import insert, text

    from flask_medialib import auth, get_state
    from flask_medialib.models import Media
    from flask_medialib.services import library as lib

    rng = random.Random(42)
    with app.app_context():
        state = get_state()
        library, _ = lib.create_library("materials", multi_tenant=True)
        space = lib.create_space(library, "corp1")
        token, _row = auth.issue_token(library, space=space, grants=frozenset({"material_write"}), ttl=86_400)
        state.session.commit()
        now = dt.datetime(2025, 1, 1)
        # Core executemany on the table: the ORM's bulk path is several times slower here.
        conn = state.session.connection()
        table_insert = insert(Media.__table__)
        batch: list[dict[str, Any]] = []
        for i in range(rows):
            created = START + dt.timedelta(seconds=rng.randrange(SPAN))
            kind = rng.choice((1, 1, 1, 2, 3, 3, 4))
            batch.append({
                "space_pk": space.pk, "album_pk": None, "folder_pk": 0, "file_name": None,
                "name": f"{rng.choice(WORDS)} {rng.choice(WORDS)} {i:06d}", "kind": kind,
                "mime": None, "storage_key": None, "url": f"https://cdn.example.com/m/{i}.jpg", "thumb_url": None,
                "width": 1920, "height": 1080, "size": rng.randrange(10_000, 5_000_000),
                "duration": 12.5 if kind in (2, 3) else None, "content": "hello" if kind == 4 else None,
                "biz_type": 3 if rng.random() < 0.3 else 2, "upload_type": 0,
                "tag_ids": ",".join(str(t) for t in rng.sample(range(1, 101), rng.randint(1, 3))),
                "keywords": None, "status": 1, "create_user": rng.choice(USERS), "update_user": None,
                "created_at": created, "updated_at": now, "uploaded_at": created, "version": 1,
            })  # fmt: skip
            if len(batch) == 10_000:
                conn.execute(table_insert, batch)
                batch.clear()
        if batch:
            conn.execute(table_insert, batch)
        state.session.commit()
        # Fresh statistics, as a database that grew to this size would have.
        state.session.execute(text("ANALYZE medialib_media"))
        state.session.commit()
        return token, space.pk


def add_body(run: int) -> str:
    items = [
        {"name": f"import {run} item {i}", "bizType": 2, "type": 1, "path": f"https://cdn.example.com/new/{run}/{i}.jpg",
         "width": 800, "height": 600, "size": 123_456, "createTime": "2025-03-01 12:00:00", "tagIds": "7,8"}
        for i in range(1000)
    ]  # fmt: skip
    return json.dumps(items)


def epoch_ms(value: dt.datetime) -> int:
    return int((value - dt.datetime(1970, 1, 1)).total_seconds() * 1000)


LIST_CASES: list[tuple[str, dict[str, Any]]] = [
    ("no filter", {}),
    ("name (substring)", {"name": "poster"}),
    ("type", {"type": 3}),
    ("bizType", {"bizType": 3}),
    ("tagIds", {"tagIds": "17,42"}),
    ("startTime + endTime (one month)",
     {"startTime": epoch_ms(START + dt.timedelta(days=200)), "endTime": epoch_ms(START + dt.timedelta(days=230))}),
    ("all filters", {"name": "team", "type": 1, "bizType": 2, "tagIds": "5",
                     "startTime": epoch_ms(START), "endTime": epoch_ms(START + dt.timedelta(days=365))}),
    ("no filter, page 500", {"pageNo": 500}),
]  # fmt: skip


def measure(app: Any, token: str, runs: int) -> dict[str, tuple[float, int]]:
    """Median seconds (and the count of matches) of each call."""
    out: dict[str, tuple[float, int]] = {}
    client = app.test_client()
    auth_q = f"token={token}&openId=user07"
    times = []
    for run in range(runs):
        body = add_body(run)
        start = time.perf_counter()
        resp = client.post(f"{PREFIX}/add?{auth_q}", data=body, content_type="application/json")
        times.append(time.perf_counter() - start)
        data = resp.get_json()
        if resp.status_code != 200 or not data["success"] or len(data["list"]) != 1000:
            raise RuntimeError(f"add failed: {resp.status_code} {str(data)[:300]}")
    out["add 1000 items"] = (median(times), 1000)
    for label, params in LIST_CASES:
        query = "&".join(f"{k}={v}" for k, v in {"pageSize": 20, **params}.items())
        url = f"{PREFIX}/list?{auth_q}&{query}"
        times = []
        count = 0
        for _ in range(runs + 2):
            start = time.perf_counter()
            resp = client.get(url)
            times.append(time.perf_counter() - start)
            data = resp.get_json()
            if resp.status_code != 200 or not data["success"]:
                raise RuntimeError(f"list {label} failed: {resp.status_code} {str(data)[:300]}")
            count = data["map"]["count"]
        out[f"list: {label}"] = (median(times), count)
    return out


def run_backend(backend: str, rows: int, runs: int) -> dict[str, tuple[float, int]]:
    with tempfile.TemporaryDirectory(prefix="medialib-bench-") as tmp_name:
        tmp = Path(tmp_name)
        if backend == "postgresql":
            flush_redis(redis_url("material"))
            with pg_database("material") as db_url:
                app = build_app(backend, tmp, db_url)
                token, _ = seed(app, rows)
                result = measure(app, token, runs)
                with app.app_context():
                    app.extensions["medialib"].db.engine.dispose()
                return result
        app = build_app(backend, tmp, None)
        token, _ = seed(app, rows)
        result = measure(app, token, runs)
        with app.app_context():
            app.extensions["medialib"].db.engine.dispose()
        return result


def run(rows: int = 100_000, runs: int = 5, backends: tuple[str, ...] = ("sqlite", "postgresql")) -> str:
    results = {b: run_backend(b, rows, runs) for b in backends}
    names = list(next(iter(results.values())))
    table_rows = []
    for name in names:
        target = TARGET_ADD if name.startswith("add") else TARGET_LIST
        times = [results[b][name][0] for b in backends]
        count = results[backends[0]][name][1]
        table_rows.append([name, f"{count:,}", *(ms(t) for t in times), f"<= {ms(target)} ms",
                           *(verdict(t <= target) for t in times)])  # fmt: skip
    headers = ["call", "matches", *(f"{b} (ms)" for b in backends), "target", *backends]
    text = print_table(headers, table_rows, f"Material API on {rows:,} materials")
    body = f"""{rows:,} materials in one enterprise (bulk-inserted), then the API through the Flask test client
(a whole Flask request, no network), 20 items a page; medians of {runs} adds (each adds 1000 more rows) and of
{runs + 2} calls of each list. SQLite: a file database, SimpleCache; PostgreSQL: on this machine,
with Redis. "matches" is the count the API reports.

{text}
"""
    write_section("material", "5. Material API at scale", body)
    return body


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), action="append")
    args = parser.parse_args()
    run(args.rows, args.runs, tuple(args.backend or ("sqlite", "postgresql")))
