"""An example host app: flask-medialib on embedded defaults (SQLite, filesystem cache, local storage).

Run it with ``make run`` (or ``flask --app example_app:create_app run``). Every
Flask config key can be overridden by an environment variable with the
``FLASK_`` prefix, e.g. ``FLASK_SQLALCHEMY_DATABASE_URI=postgresql://...``,
``FLASK_MEDIALIB_STORAGE_ROOT=/srv/media`` or ``FLASK_MEDIALIB_CACHE_TYPE=RedisCache``.
"""

from __future__ import annotations

import os
import secrets
from typing import Any

from flask import Flask, render_template_string

from flask_medialib import MediaLib
from flask_medialib.cli import create_tables
from flask_medialib.services import library as lib

SECRET_FILE = "secret_key"  # noqa: S105 - a file name, not a secret

INDEX = """<!doctype html>
<html lang="en"><meta charset="utf-8"><title>flask-medialib example</title>
<h1>flask-medialib example</h1>
<p><a href="{{ url_for('gallery.index') }}">Open the gallery</a> of the demo library.</p>
<p>The API lives under <code>{{ prefix }}</code>. Create a library with
<code>flask --app example_app:create_app medialib library create demo --album-based</code>.</p>
<h2>Public libraries</h2>
<ul>{% for item in libraries %}<li><code>{{ item.id }}</code></li>{% else %}<li>none yet</li>{% endfor %}</ul>
</html>"""


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """The app factory: defaults, then ``FLASK_*`` environment variables, then ``config``."""
    config = dict(config or {})
    instance_path = config.pop("INSTANCE_PATH", None) or os.environ.get("FLASK_INSTANCE_PATH")
    app = Flask(__name__, instance_path=instance_path, instance_relative_config=True)
    os.makedirs(app.instance_path, exist_ok=True)
    app.config.update(
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{os.path.join(app.instance_path, 'example.sqlite3')}",
        MEDIALIB_CACHE_TYPE="FileSystemCache",
        MEDIALIB_CACHE_DIR=os.path.join(app.instance_path, "medialib-cache"),
        MEDIALIB_STORAGE_ROOT=os.path.join(app.instance_path, "medialib-storage"),
    )
    app.config.from_prefixed_env()
    app.config.update(config)
    app.config["SQLALCHEMY_DATABASE_URI"] = _psycopg3(app.config["SQLALCHEMY_DATABASE_URI"])
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = shared_secret_key(app.instance_path)

    MediaLib(app)
    with app.app_context():
        create_tables()

    _register_pages(app)
    return app


def _register_pages(app: Flask) -> None:
    """The example's own pages. The gallery (example_app/gallery.py) registers its blueprint here."""
    from . import demo, gallery

    app.register_blueprint(gallery.bp, url_prefix="/gallery")
    if app.config.get("EXAMPLE_DEMO_DATA", True):
        demo.seed(app)  # once per database: the worker that creates the library row fills it

    @app.get("/")
    def index() -> str:
        # Anyone may open this page: a private library's name is not theirs to see.
        public = [item for item in lib.list_libraries() if item.public_read]
        return render_template_string(INDEX, prefix=app.config["MEDIALIB_URL_PREFIX"] or "/", libraries=public)


def shared_secret_key(instance_path: str) -> str:
    """One SECRET_KEY per instance folder, made once, so every worker process signs alike."""
    path = os.path.join(instance_path, SECRET_FILE)
    if not os.path.exists(path):
        temp = f"{path}.{os.getpid()}.{secrets.token_hex(4)}"
        with open(os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as out:
            out.write(secrets.token_hex(32))
        try:
            os.link(temp, path)  # atomic and never half-written; the first worker wins
        except FileExistsError:
            pass
        finally:
            os.unlink(temp)
    with open(path) as fp:
        return fp.read().strip()


def _psycopg3(url: str) -> str:
    # ``postgresql://`` means psycopg2 to SQLAlchemy; the package ships psycopg 3.
    return url.replace("postgresql://", "postgresql+psycopg://", 1) if url.startswith("postgresql://") else url
