"""Databases of their own for the migration tests: they create and drop tables, so never the session database."""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from flask import Flask

from flask_medialib import MediaLib, get_state

sys.path.insert(0, os.path.dirname(__file__))


@pytest.fixture
def database_url(backend: str, tmp_path, pg_database: str | None) -> Iterator[str]:
    """An empty database of this test's backend (on PostgreSQL a throw-away database beside the session's)."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrations.sqlite3'}"
        return
    assert pg_database is not None
    admin = sa.create_engine(pg_database, isolation_level="AUTOCOMMIT")
    name = f"medialib_mig_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield sa.engine.make_url(pg_database).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def engine(database_url: str) -> Iterator[sa.Engine]:
    made = sa.create_engine(database_url)
    yield made
    made.dispose()


@pytest.fixture
def host(app_config: dict, database_url: str, tmp_path) -> Iterator[Flask]:
    """A host app on ``database_url`` whose tables nobody has created yet."""
    app = Flask("migrations_host", instance_path=str(tmp_path / "host-instance"))
    app.config.update(app_config, SQLALCHEMY_DATABASE_URI=database_url)
    MediaLib(app)
    yield app
    with app.app_context():
        get_state(app).db.session.remove()
        get_state(app).db.engine.dispose()


@pytest.fixture
def runner(host: Flask):
    return host.test_cli_runner()
