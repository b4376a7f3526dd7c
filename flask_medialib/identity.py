"""This database's installation id: written once with the tables, read once per process and app.

Integer ids are not identities: SQLite (before AUTOINCREMENT) hands a deleted
row's id out again, a rebuilt or restored database starts again, and two apps
sharing one cache have overlapping ids. Everything kept in the cache and every
signed URL is therefore bound to the installation id and a media's random
``uid`` (see ``docs/identity.rst``), never to an integer id alone.
"""

from __future__ import annotations

import datetime as dt
import secrets

from sqlalchemy import Connection, insert, select
from sqlalchemy.exc import IntegrityError

from .models import Installation
from .state import MediaLibState, get_state


def installation_id(state: MediaLibState | None = None) -> str:
    """The installation id, from the state after the first read (the warm paths run no SQL)."""
    state = state or get_state()
    value = state.installation_id
    if value is None:
        value = _read_or_create(state)
        remember(state, value)
    return value


def remember(state: MediaLibState, value: str) -> None:
    """Keep ``value`` as the app's installation id, dropping what was derived from another one."""
    if state.installation_id != value:
        state.file_serializer = None
        state.file_refs.clear()
        state.cover_spaces.clear()
    state.installation_id = value


def ensure(conn: Connection, now: dt.datetime) -> str:
    """Read the installation id on ``conn``, writing it first if the table has none.

    ``create_tables`` calls this under its database-wide lock, so workers
    starting together agree on one id.
    """
    found = conn.execute(select(Installation.installation_id).where(Installation.pk == 1)).scalar()
    if found is not None:
        return str(found)
    value = secrets.token_urlsafe(16)
    conn.execute(insert(Installation).values(pk=1, installation_id=value, created_at=now))
    return value


def _read_or_create(state: MediaLibState) -> str:
    # A connection of its own: the caller's session and its transaction are not ours to use.
    engine = state.db.engine
    with engine.connect() as conn:
        found = conn.execute(select(Installation.installation_id).where(Installation.pk == 1)).scalar()
    if found is not None:
        return str(found)
    # Tables made without create_tables (e.g. by migrations): the first reader writes the row.
    try:
        with engine.begin() as conn:
            return ensure(conn, state.clock())
    except IntegrityError:  # another process wrote it between our read and insert
        with engine.connect() as conn:
            return str(conn.execute(select(Installation.installation_id).where(Installation.pk == 1)).scalar_one())
