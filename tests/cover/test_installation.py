"""The installation id: written once with the tables, the same for every worker, read once per app."""

from __future__ import annotations

import threading

import sqlalchemy as sa
from cover_helpers import second_app, sql_count
from flask import Flask

from flask_medialib import get_state, identity
from flask_medialib.cli import create_tables
from flask_medialib.models import Installation


def stored_ids(flask_app: Flask) -> list[str]:
    with get_state(flask_app).db.engine.connect() as conn:
        return list(conn.execute(sa.select(Installation.installation_id)).scalars())


def forget_installation(flask_app: Flask) -> None:
    """As if the tables had been made by something else than create_tables (migrations)."""
    with get_state(flask_app).db.engine.begin() as conn:
        conn.execute(sa.delete(Installation))


def test_create_tables_writes_one_id_and_keeps_it(app, app_config, clock):
    first = identity.installation_id()
    assert len(first) >= 22 and stored_ids(app) == [first]
    create_tables()
    assert identity.installation_id() == first and stored_ids(app) == [first]
    with second_app(app_config, clock) as restarted, restarted.app_context():
        create_tables()  # a worker starting later finds the id there
        assert identity.installation_id() == first
    assert stored_ids(app) == [first]


def test_workers_starting_together_agree_on_one_id(app, app_config, clock):
    forget_installation(app)
    seen: list[str] = []
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def worker() -> None:
        try:
            with second_app(app_config, clock) as other, other.app_context():
                start.wait(timeout=60)
                create_tables()
                seen.append(identity.installation_id())
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)
            start.abort()  # the others stop waiting for this one: a failure, never a hang

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert len(seen) == 4 and len(set(seen)) == 1 and stored_ids(app) == seen[:1]


def test_tables_made_elsewhere_get_their_id_on_first_use(app, app_config, clock):
    forget_installation(app)
    with second_app(app_config, clock) as other, other.app_context():
        made = identity.installation_id()
    assert stored_ids(app) == [made]
    with second_app(app_config, clock) as third, third.app_context():
        assert identity.installation_id() == made


def test_a_database_rebuilt_gets_a_new_id(app):
    before = identity.installation_id()
    forget_installation(app)
    create_tables()
    assert identity.installation_id() != before


def test_the_id_is_read_once_per_app(app):
    identity.installation_id()
    with sql_count(app) as statements:
        identity.installation_id()
    assert statements == []
