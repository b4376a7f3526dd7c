"""Fixtures: ``app``, ``client``, ``db``, ``clock``; the suite runs once per backend.

Every test runs on SQLite + SimpleCache. When ``MEDIALIB_TEST_DATABASE_URL`` and
``MEDIALIB_TEST_REDIS_URL`` are set it runs again on PostgreSQL + Redis. Each
test session gets a database and a Redis key prefix of its own, so two runs on
one machine never see each other's rows.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest
import sqlalchemy as sa
from flask import Flask

from flask_medialib import MediaLib, auth, get_state
from flask_medialib.cli import create_tables
from flask_medialib.clock import FakeClock
from flask_medialib.models import Base
from flask_medialib.services import library as lib

PG_URL = os.environ.get("MEDIALIB_TEST_DATABASE_URL")
REDIS_URL = os.environ.get("MEDIALIB_TEST_REDIS_URL")
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])


def sqlalchemy_url(url: str) -> str:
    # ``postgresql://`` means psycopg2 to SQLAlchemy; we ship psycopg 3.
    return url.replace("postgresql://", "postgresql+psycopg://", 1) if url.startswith("postgresql://") else url


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str | None]:
    """A throw-away PostgreSQL database for this test session (None without PostgreSQL)."""
    if not PG_URL:
        yield None
        return
    admin_url = sa.engine.make_url(sqlalchemy_url(PG_URL))
    name = f"medialib_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = admin_url.set(database=name)
    engine = sa.create_engine(url)
    Base.metadata.create_all(engine)
    engine.dispose()
    yield url.render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def redis_prefix() -> str:
    return f"medialib-test-{uuid.uuid4().hex[:12]}:"


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def app_config(backend: str, tmp_path, pg_database: str | None, redis_prefix: str) -> dict:
    """The config of the ``app`` fixture; override it in a test module to change keys."""
    config = {
        "TESTING": True,
        "SECRET_KEY": "test-secret",
        "MEDIALIB_STORAGE_ROOT": str(tmp_path / "storage"),
        "MEDIALIB_FACE_DETECTOR": "retinaface",
    }
    if backend == "postgresql":
        config["SQLALCHEMY_DATABASE_URI"] = pg_database
        if REDIS_URL:
            config["MEDIALIB_CACHE_TYPE"] = "RedisCache"
            config["MEDIALIB_CACHE_REDIS_URL"] = REDIS_URL
            config["MEDIALIB_CACHE_KEY_PREFIX"] = redis_prefix
    else:
        config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{tmp_path / 'medialib.sqlite3'}"
        config["MEDIALIB_CACHE_TYPE"] = "SimpleCache"
    return config


@pytest.fixture
def app(app_config: dict, clock: FakeClock, tmp_path) -> Iterator[Flask]:
    app = Flask("medialib_test", instance_path=str(tmp_path / "instance"))
    app.config.update(app_config)
    MediaLib(app)
    state = get_state(app)
    state.clock = clock
    with app.app_context():
        create_tables()
        state.cache.clear()
        yield app
        state.db.session.remove()
        if state.db.engine.dialect.name == "postgresql":
            # Faster than drop/create per test; the session database is private.
            names = ", ".join(t.name for t in Base.metadata.sorted_tables)
            with state.db.engine.begin() as conn:
                conn.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        state.cache.clear()
        state.db.engine.dispose()
        client = getattr(state.cache.cache, "_write_client", None)
        if client is not None:  # RedisCache: close its sockets, or ResourceWarning fails a later test
            client.connection_pool.disconnect()


@pytest.fixture
def client(app: Flask):
    return app.test_client()


@pytest.fixture
def db(app: Flask):
    return get_state(app).db


@pytest.fixture
def runner(app: Flask):
    return app.test_cli_runner()


@dataclass
class Lib:
    id: str
    secret: str
    admin: str  # an admin token bound to no space and no user
    tokens: dict[str, str] = field(default_factory=dict)

    def url(self, route: str, space: str = "-", tail: str = "") -> str:
        return f"/api/v1/{route}/{self.id}/{space}" + (f"/{tail}" if tail else "")


@pytest.fixture
def make_lib(app: Flask) -> Callable[..., Lib]:
    """Create a library, its spaces and (in every space) its albums, with an admin token."""

    def make(
        library_id: str = "lib1",
        *,
        multi_tenant: bool = False,
        album_based: bool = False,
        public_read: bool = False,
        spaces: tuple[str, ...] = (),
        albums: tuple[str, ...] = (),
    ) -> Lib:
        library, secret = lib.create_library(
            library_id, multi_tenant=multi_tenant, album_based=album_based, public_read=public_read
        )
        for space_id in spaces:
            lib.create_space(library, space_id)
        for space_id in spaces or ("-",):
            for name in albums:
                lib.create_album(library, lib.get_space(library, space_id), name)
        token, _ = auth.issue_token(library, grants=frozenset({"admin"}))
        get_state(app).session.commit()
        return Lib(library_id, secret, token)

    return make


@pytest.fixture
def issue(app: Flask) -> Callable[..., str]:
    """Issue a token through the service: issue("lib1", space="s1", user="u", grants="upload_file", ttl=60)."""

    def make(
        library_id: str, *, space: str | None = None, user: str | None = None, grants: str = "", ttl: int | None = None
    ) -> str:
        library = lib.get_library(library_id)
        bound = lib.get_space(library, space) if space else None
        token, _ = auth.issue_token(library, space=bound, user_id=user, grants=auth.parse_grants(grants), ttl=ttl)
        get_state(app).session.commit()
        return token

    return make
