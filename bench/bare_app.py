"""The ceiling: a bare Flask route that answers 302, served like the real app.

``/cover-redis`` does what a warm cover could at best: one Redis GET, then the
302 (the Redis URL comes from ``BENCH_REDIS_URL``). It shows what the store
round trip costs on top of Flask.
"""

from __future__ import annotations

import os

from flask import Flask, redirect
from werkzeug.wrappers import Response


def create_app() -> Flask:
    app = Flask(__name__)
    redis_url = os.environ.get("BENCH_REDIS_URL")
    client = None
    if redis_url:
        import redis

        client = redis.Redis.from_url(redis_url)
        client.set("bench:bare:location", "/f/bench-token")

    @app.get("/cover")
    def cover() -> Response:
        return redirect("/f/bench-token", code=302)

    @app.get("/cover-redis")
    def cover_redis() -> Response:
        assert client is not None, "set BENCH_REDIS_URL"
        location = client.get("bench:bare:location") or b"/f/missing"
        return redirect(location.decode(), code=302)

    return app
