"""Issue 10 §6: renewing a token (sliding expiry) never commits the caller's unit of work."""

from __future__ import annotations

import datetime as dt
import time

import sqlalchemy as sa
from flask import Flask

from flask_medialib import auth, get_state
from flask_medialib.models import AccessToken, Library
from flask_medialib.services import library as lib


def stored_expiry(app: Flask, token: str) -> dt.datetime:
    # A connection of its own: what is committed, not what the test's session holds.
    with get_state(app).db.engine.connect() as conn:
        stmt = sa.select(AccessToken.expires_at).where(AccessToken.token_hash == auth.digest(token))
        return conn.execute(stmt).scalar_one()


def committed_libraries(app: Flask) -> list[str]:
    with get_state(app).db.engine.connect() as conn:
        return list(conn.execute(sa.select(Library.id).order_by(Library.id)).scalars())


def pending_library(library_id: str) -> Library:
    return Library(id=library_id, secret_hash="0" * 64, created_at=get_state().clock())


def test_a_renewal_leaves_the_callers_pending_work_alone(app, make_lib, issue, clock) -> None:
    make_lib()
    token = issue("lib1", ttl=100)
    clock.advance(60)  # more than half gone: this use renews
    session = get_state(app).session
    library = lib.get_library("lib1")
    space = lib.get_space(library, "-")
    session.add(pending_library("half-done"))  # the caller's unit of work, not finished (nor flushed)
    identity = auth.authorize(library, space, token)
    assert stored_expiry(app, token) == clock() + dt.timedelta(seconds=100)  # renewed, committed
    assert identity.token is not None and identity.token.expires_at == clock() + dt.timedelta(seconds=100)
    session.rollback()  # the caller gives up its work ...
    assert committed_libraries(app) == ["lib1"]  # ... and none of it was committed for it
    assert stored_expiry(app, token) == clock() + dt.timedelta(seconds=100)


def test_a_renewal_beside_the_callers_flushed_write_neither_commits_it_nor_hangs(app, make_lib, issue, clock) -> None:
    make_lib()
    token = issue("lib1", ttl=100)
    before = stored_expiry(app, token)
    clock.advance(60)
    session = get_state(app).session
    library = lib.get_library("lib1")
    space = lib.get_space(library, "-")
    session.add(pending_library("flushed"))
    session.flush()  # on SQLite the caller now holds the database's write lock
    started = time.monotonic()
    auth.authorize(library, space, token)
    assert time.monotonic() - started < 5  # bounded, not SQLite's 30 s busy timeout
    session.rollback()
    assert committed_libraries(app) == ["lib1"]
    # Renewed where the database lets another transaction write (PostgreSQL), else left to the next use.
    renewed = clock() + dt.timedelta(seconds=100)
    assert stored_expiry(app, token) in (
        {before, renewed} if session.get_bind().dialect.name == "sqlite" else {renewed}
    )
    auth.authorize(library, space, token)  # the next use, without the caller's lock
    assert stored_expiry(app, token) == renewed
