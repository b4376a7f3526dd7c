"""Fixtures: ``app``, ``client``, ``db``, ``clock``; the suite runs once per backend.

Every test runs on SQLite + SimpleCache. When ``MEDIALIB_TEST_DATABASE_URL`` and
``MEDIALIB_TEST_REDIS_URL`` are set it runs again on PostgreSQL + Redis. Each
test session gets a database and a Redis key prefix of its own, so two runs on
one machine never see each other's rows.

Tests marked ``both_storages`` (the ones that write, read or delete media bytes)
run on the local storage and again on the ``s3`` storage, against moto's
standalone S3 server that the session starts on a free port (each test gets a
key prefix of its own in one bucket); every other test runs on local storage.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
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


S3_BUCKET = "medialib-test"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "both_storages: run on the local and the s3 storage (moto's S3 server)")
    config.addinivalue_line("markers", "s3_only: run on the s3 storage only (moto's S3 server)")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "storage_backend" not in metafunc.fixturenames:
        return
    if metafunc.definition.get_closest_marker("s3_only"):
        metafunc.parametrize("storage_backend", ["s3"], indirect=True)
    elif metafunc.definition.get_closest_marker("both_storages"):
        metafunc.parametrize("storage_backend", ["local", "s3"], indirect=True)


@pytest.fixture
def storage_backend(request: pytest.FixtureRequest) -> str:
    """``local`` or ``s3`` (only tests marked ``both_storages`` get ``s3``)."""
    return str(getattr(request, "param", "local"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """moto's standalone S3 server (the S3 wire protocol over HTTP) with one bucket; its endpoint URL."""
    import boto3

    log = tmp_path_factory.mktemp("moto") / "server.log"
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    with pytest.MonkeyPatch.context() as mp:
        # boto3's standard credential chain (what the extension uses) finds these.
        for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                            ("AWS_DEFAULT_REGION", "us-east-1")):  # fmt: skip
            mp.setenv(name, value)
        mp.delenv("AWS_PROFILE", raising=False)
        for attempt in range(3):  # the free port may be taken between the probe and the bind
            port = _free_port()
            with open(log, "ab") as out:
                proc = subprocess.Popen(
                    [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                    stdout=out, stderr=subprocess.STDOUT, env=env,
                )  # fmt: skip
            deadline = time.monotonic() + 60
            while proc.poll() is None and time.monotonic() < deadline:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    time.sleep(0.1)
            if proc.poll() is None:
                break
            if attempt == 2:
                raise RuntimeError(f"moto's server did not start: {log.read_text()}")
        endpoint = f"http://127.0.0.1:{port}"
        client = boto3.session.Session().client("s3", endpoint_url=endpoint, region_name="us-east-1")
        client.create_bucket(Bucket=S3_BUCKET)
        client.close()
        try:
            yield endpoint
        finally:
            proc.terminate()
            proc.wait(timeout=30)


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
def app_config(
    backend: str, storage_backend: str, tmp_path, pg_database: str | None, redis_prefix: str,
    request: pytest.FixtureRequest,
) -> dict:  # fmt: skip
    """The config of the ``app`` fixture; override it in a test module to change keys."""
    config = {
        "TESTING": True,
        "SECRET_KEY": "test-secret",
        "MEDIALIB_STORAGE_ROOT": str(tmp_path / "storage"),
        "MEDIALIB_FACE_DETECTOR": "retinaface",
    }
    if storage_backend == "s3":
        config.update(
            MEDIALIB_STORAGE="s3",
            MEDIALIB_S3_BUCKET=S3_BUCKET,
            MEDIALIB_S3_PREFIX=f"t-{uuid.uuid4().hex[:12]}/",  # a test of its own in the shared bucket
            MEDIALIB_S3_ENDPOINT_URL=request.getfixturevalue("s3_server"),
            MEDIALIB_S3_REGION="us-east-1",
        )
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
        close = getattr(state.storage, "close", None)
        if close is not None:  # S3: close its connection pool, or ResourceWarning fails a later test
            close()
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
