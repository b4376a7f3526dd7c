"""A second process for the material tests: ``python material_proc.py MODE DB_URL STORAGE CLOCK [ARG...]``.

Modes:
- ``hold SPACE_PK``: take the import lock, print ``locked``, wait for a line on stdin, release it.
- ``add TOKEN``: POST one material through the API, print the HTTP status and the envelope's code.

``create_app`` is also an app factory for ``flask --app material_proc:create_app``, configured from the
``MEDIALIB_PROC_*`` environment variables.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys

from flask import Flask

from flask_medialib import MediaLib, get_state
from flask_medialib.clock import FakeClock


def make_app(db_url: str, storage: str, clock: str, **extra: object) -> Flask:
    app = Flask("medialib_proc")
    app.config.update(
        TESTING=True,
        SECRET_KEY="proc",
        SQLALCHEMY_DATABASE_URI=db_url,
        MEDIALIB_STORAGE_ROOT=storage,
        MEDIALIB_CACHE_TYPE="SimpleCache",
        MEDIALIB_FACE_DETECTOR="none",
        **extra,
    )
    MediaLib(app)
    get_state(app).clock = FakeClock(dt.datetime.fromisoformat(clock))
    return app


def create_app() -> Flask:
    env = os.environ
    return make_app(
        env["MEDIALIB_PROC_DB"],
        env["MEDIALIB_PROC_STORAGE"],
        env["MEDIALIB_PROC_CLOCK"],
        MEDIALIB_WEBHOOK_URLS=env["MEDIALIB_PROC_WEBHOOK_URLS"],
        MEDIALIB_WEBHOOK_SECRET=env["MEDIALIB_PROC_SECRET"],
    )


def main() -> None:
    mode, db_url, storage, clock, *rest = sys.argv[1:]
    app = make_app(db_url, storage, clock)
    with app.app_context():
        if mode == "hold":
            from flask_medialib.services import materials

            materials.acquire_import_lock(int(rest[0]), "other-process")
            print("locked", flush=True)
            sys.stdin.readline()
            materials.release_import_lock(int(rest[0]), "other-process")
            print("released", flush=True)
        elif mode == "add":
            resp = app.test_client().post(
                "/api/v1/biz/material/third/add",
                query_string={"token": rest[0], "openId": "proc"},
                json=[{"name": "from-proc", "bizType": 2, "type": 1, "path": "https://cdn.example.com/p.jpg"}],
            )
            print(json.dumps({"status": resp.status_code, "body": resp.get_json()}), flush=True)
        get_state(app).db.engine.dispose()


if __name__ == "__main__":
    main()
