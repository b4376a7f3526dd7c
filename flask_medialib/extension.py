"""The Flask extension object: ``MediaLib(app=None, *, db=None, cache=None, storage=None, celery=None)``."""

from __future__ import annotations

import os
import random
import secrets
import sqlite3
import time
from typing import TYPE_CHECKING, Any

from flask import Flask
from flask_caching import Cache
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import event

from . import config as config_module
from .caching import FILESYSTEM_NAMES
from .errors import ConfigError
from .state import EXTENSION_KEY, MediaLibState
from .storage import Storage, make_storage

if TYPE_CHECKING:
    from celery import Celery


class MediaLib:
    """Gives a Flask app a media library.

    ``db`` and ``cache`` are the host's Flask-SQLAlchemy and Flask-Caching
    instances when it has them; otherwise the extension uses the app's
    registered ``SQLAlchemy`` or makes its own, and its own ``Cache`` from the
    ``MEDIALIB_CACHE_*`` keys. ``celery`` is the host's Celery app for
    ``MEDIALIB_JOBS = "celery"`` (else one is made from
    ``MEDIALIB_CELERY_BROKER_URL``). The app is never stored on this object.
    """

    def __init__(
        self,
        app: Flask | None = None,
        *,
        db: SQLAlchemy | None = None,
        cache: Cache | None = None,
        storage: Storage | None = None,
        celery: Celery | None = None,
    ) -> None:
        self.db = db
        self.cache = cache
        self.storage = storage
        self.celery = celery
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        if EXTENSION_KEY in app.extensions:
            raise RuntimeError("flask-medialib is already registered on this app; call init_app once per app.")
        config_module.apply_defaults(app.config)
        state = MediaLibState(
            extension=self,
            db=self._init_db(app),
            cache=self._init_cache(app),
            storage=self.storage or self._init_storage(app),
            config=app.config,
            signing_secret=self._signing_secret(app),
        )
        app.extensions[EXTENSION_KEY] = state

        from . import cli, events, jobs, logs
        from .services.media import sweep_staging
        from .views import blueprints, material
        from .views.common import install_unrouted

        logs.install()

        prefix = app.config["MEDIALIB_URL_PREFIX"]
        for bp in blueprints():
            app.register_blueprint(bp, url_prefix=prefix)
        install_unrouted(app, prefix, [(material.BASE + "/", material.render_error)])
        app.cli.add_command(cli.medialib_cli)
        events.init_app(app)
        sweep_staging(state, force=True)  # staging files of uploads killed before this start
        jobs.init_app(app, self.celery)
        # With render workers the web process never loads the model (the worker command does).
        if app.config["MEDIALIB_PRELOAD_DETECTOR"] and state.jobs is None:
            # Fail fast and pay TensorFlow's import now rather than on a request.
            load = getattr(state.detector(), "load", None)
            if callable(load):
                load()

    # -- pieces -------------------------------------------------------------

    def _init_db(self, app: Flask) -> SQLAlchemy:
        if self.db is not None:
            if "sqlalchemy" not in app.extensions:
                self.db.init_app(app)
            return self.db
        if "sqlalchemy" in app.extensions:
            return app.extensions["sqlalchemy"]
        app.config.setdefault(
            "SQLALCHEMY_DATABASE_URI", f"sqlite:///{os.path.join(app.instance_path, 'medialib.sqlite3')}"
        )
        os.makedirs(app.instance_path, exist_ok=True)
        db = SQLAlchemy()
        db.init_app(app)
        with app.app_context():
            if db.engine.dialect.name == "sqlite":
                event.listen(db.engine, "connect", _sqlite_pragmas)
        return db

    def _init_cache(self, app: Flask) -> Cache:
        if self.cache is not None:
            if self.cache not in app.extensions.get("cache", {}):
                self.cache.init_app(app)
            return self.cache
        cache_type = app.config["MEDIALIB_CACHE_TYPE"]
        cfg: dict[str, Any] = {
            "CACHE_TYPE": cache_type,
            "CACHE_DEFAULT_TIMEOUT": app.config["MEDIALIB_CACHE_TIMEOUT"],
            "CACHE_KEY_PREFIX": app.config["MEDIALIB_CACHE_KEY_PREFIX"],
        }
        if cache_type in FILESYSTEM_NAMES:
            cfg["CACHE_TYPE"] = "flask_medialib.caching.FileSystemCache"  # remakes a deleted folder
        if cache_type.endswith("FileSystemCache") or cache_type in FILESYSTEM_NAMES:
            cfg["CACHE_DIR"] = app.config["MEDIALIB_CACHE_DIR"] or os.path.join(app.instance_path, "medialib-cache")
            cfg["CACHE_THRESHOLD"] = 100_000
        if cache_type.endswith("RedisCache"):
            url = app.config["MEDIALIB_CACHE_REDIS_URL"]
            if not url:
                raise ConfigError("MEDIALIB_CACHE_REDIS_URL must be set when MEDIALIB_CACHE_TYPE is RedisCache")
            cfg["CACHE_REDIS_URL"] = url
        cache = Cache()
        cache.init_app(app, config=cfg)
        return cache

    def _init_storage(self, app: Flask) -> Storage:
        return make_storage(app.config, default_root=os.path.join(app.instance_path, "medialib-storage"))

    def _signing_secret(self, app: Flask) -> str:
        secret = app.config["MEDIALIB_SIGNING_SECRET"] or app.config.get("SECRET_KEY")
        if secret:
            return str(secret)
        if app.testing or app.debug:
            # Fine for one debug process; production must share one secret across workers.
            return secrets.token_hex(32)
        raise ConfigError(
            "MEDIALIB_SIGNING_SECRET (or SECRET_KEY) must be set: it signs the file URLs that covers redirect to."
        )


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # The busy timeout comes first so that every later statement, ours and the
    # caller's, waits for other processes instead of failing with "database is locked".
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout={_SQLITE_BUSY_MS}")
    _sqlite_wal(cursor)
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


_SQLITE_BUSY_MS = 30_000


def _sqlite_wal(cursor: Any) -> None:
    """Switch the file to WAL (it stays so), so readers run beside a writer.

    Two processes switching at once both hold a shared lock and want an
    exclusive one; SQLite fails one of them at once, without waiting, to break
    that deadlock. The loser retries: by then the winner has switched the file.
    """
    deadline = time.monotonic() + _SQLITE_BUSY_MS / 1000
    while True:
        try:
            if str(cursor.execute("PRAGMA journal_mode").fetchone()[0]).lower() == "wal":
                return
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01 + random.random() * 0.04)  # noqa: S311 - jitter, not a secret
