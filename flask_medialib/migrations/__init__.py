"""Schema migrations of the ``medialib_*`` tables, shipped with the package.

Alembic keeps our history in a version table of its own,
``medialib_alembic_version``, so a host's Alembic or Flask-Migrate history
(``alembic_version``) never mixes with ours. Every run holds one database-wide
lock (see :func:`locked`), so workers starting together never race.

Revision ``0001`` is the 0.1.0 schema. A database made by ``create_all``
before migrations existed has no version table: :func:`upgrade` adopts it
(stamps it) instead of creating anything again; revision ``0002`` then adds the
material-list indexes that such a database may lack.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from ..errors import MediaLibError
from ..models import metadata

VERSION_TABLE = "medialib_alembic_version"
PREFIX = "medialib_"
BASELINE = "0001"  # the 0.1.0 schema
# The tables of 0.1.0: an unversioned database with all of them is adopted at BASELINE.
BASELINE_TABLES = frozenset(
    {
        "medialib_library",
        "medialib_space",
        "medialib_album",
        "medialib_media",
        "medialib_access_token",
        "medialib_event",
        "medialib_webhook_delivery",
        "medialib_import_lock",
    }
)
_DDL_LOCK = 0x6D656469  # PostgreSQL advisory lock key of schema changes ("medi")
_HERE = Path(__file__).resolve().parent
_REVISION_FILE = re.compile(r"m(\d{4})_\w+\.py")


def include_medialib_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    """Our own ``include_object``: only our tables (a host's tables share the database), not our version table."""
    if type_ == "table":
        return bool(name and name.startswith(PREFIX) and name != VERSION_TABLE)
    return True


def exclude_medialib_tables(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    """The ``include_object`` a host passes to its own Alembic: leave every ``medialib_*`` table to us."""
    if type_ == "table":
        return not (name or "").startswith(PREFIX)
    return True


def alembic_config(
    *,
    connection: sa.Connection | None = None,
    dialect: str | None = None,
    stdout: TextIO | None = None,
    output_buffer: TextIO | None = None,
    script_location: Path = _HERE,
) -> Config:
    """An Alembic config of our scripts: online with ``connection``, offline (``--sql``) with ``dialect``."""
    cfg = Config(stdout=stdout or sys.stdout, output_buffer=output_buffer)
    cfg.set_main_option("script_location", str(script_location))
    cfg.set_main_option("file_template", "m%%(rev)s_%%(slug)s")
    cfg.attributes.update(connection=connection, dialect=dialect)
    return cfg


def script(script_location: Path = _HERE) -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config(script_location=script_location))


def write_revision(message: str, *, autogenerate: bool, script_location: Path = _HERE) -> Path:
    """Write the next revision file (``m0003_...`` after ``0002``) and return its path (for developers).

    Autogenerate compares models.py with a scratch SQLite database taken through
    every revision, so no real database is read and create_all never stands in.
    """
    ids = [int(rev.revision) for rev in script(script_location).walk_revisions() if rev.revision.isdigit()]
    with tempfile.TemporaryDirectory() as scratch:
        engine = sa.create_engine(f"sqlite:///{scratch}/head.sqlite3")
        try:
            with engine.begin() as conn:
                cfg = alembic_config(connection=conn, script_location=script_location)
                if autogenerate:
                    command.upgrade(cfg, "head")
                written = command.revision(
                    cfg, message=message, autogenerate=autogenerate, rev_id=f"{max(ids, default=0) + 1:04d}"
                )
        finally:
            engine.dispose()
    assert written is not None and not isinstance(written, list)
    return Path(written.path)


@contextmanager
def locked(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A transaction that holds the database-wide schema lock (PostgreSQL advisory lock, SQLite write lock)."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _DDL_LOCK})
        elif conn.dialect.name == "sqlite":
            # Take SQLite's write lock before looking at the schema (waits on busy_timeout).
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        yield conn


def _context(conn: sa.Connection) -> MigrationContext:
    return MigrationContext.configure(
        conn,
        opts={"version_table": VERSION_TABLE, "include_object": include_medialib_object, "compare_type": True},
    )


# Alembic's own definition of a version table, so a stamp needs no loading of the scripts.
_version = sa.Table(
    VERSION_TABLE,
    sa.MetaData(),
    sa.Column("version_num", sa.String(32), nullable=False),
    sa.PrimaryKeyConstraint("version_num", name=f"{VERSION_TABLE}_pkc"),
)


def revision_ids() -> list[str]:
    """Every revision id, oldest first, read from the file names (a test holds names and ids together)."""
    return sorted(match[1] for name in os.listdir(_HERE / "versions") if (match := _REVISION_FILE.fullmatch(name)))


def head() -> str:
    return revision_ids()[-1]


def _look(conn: sa.Connection) -> tuple[set[str], str | None]:
    """Our tables and the revision the database is at (None without our version table)."""
    names = set(sa.inspect(conn).get_table_names())
    ours = {name for name in names if include_medialib_object(None, name, "table", True, None)}
    return ours, conn.scalar(sa.select(_version.c.version_num)) if VERSION_TABLE in names else None


def current_revision(conn: sa.Connection) -> str | None:
    """The revision the database is at; None without our version table (empty, or made before migrations)."""
    return _look(conn)[1]


def our_tables(conn: sa.Connection) -> set[str]:
    return _look(conn)[0]


def differences(conn: sa.Connection) -> list[Any]:
    """What ``models.py`` has that the database lacks, or the other way round (empty when they agree)."""
    return compare_metadata(_context(conn), metadata)


def stamp(conn: sa.Connection, revision: str) -> None:
    """Record ``revision`` (an id, head or base) as the database's, running nothing."""
    revision = head() if revision == "head" else revision
    if revision != "base" and revision not in revision_ids():
        raise MediaLibError(f"no medialib revision {revision}")
    _version.create(conn, checkfirst=True)
    conn.execute(_version.delete())
    if revision != "base":
        conn.execute(_version.insert().values(version_num=revision))


def adopt(conn: sa.Connection) -> str:
    """Stamp a database whose ``medialib_*`` tables were made by ``create_all`` before migrations; returns the stamp.

    Tables exactly as ``models.py`` declares them are at head; anything else must be
    the 0.1.0 schema (perhaps without its late indexes), and the revisions after it apply.
    """
    revision = adoption_revision(conn)
    stamp(conn, revision)
    return revision


def adoption_revision(conn: sa.Connection) -> str:
    """The revision an unversioned database's tables are at (only reads)."""
    missing = BASELINE_TABLES - our_tables(conn)
    if missing:
        raise MediaLibError(
            f"the medialib tables predate 0.1.0 (missing {', '.join(sorted(missing))}); "
            "create them with flask-medialib 0.1.0 first, then upgrade"
        )
    return head() if not differences(conn) else BASELINE


def upgrade(conn: sa.Connection, revision: str = "head") -> None:
    """Bring the schema to ``revision`` on a connection from :func:`locked`.

    An empty database goes to head by ``create_all`` and a stamp: the same schema
    (a test compares them) in a fraction of the time. A database at head costs
    a look at its table names and version.
    """
    ours, current = _look(conn)
    if not ours:
        if revision == "head":
            metadata.create_all(conn)
            stamp(conn, "head")
            return
        if current is not None:  # the tables were dropped behind our back: start again
            stamp(conn, "base")
    elif current is None:
        adopt(conn)
    elif current not in revision_ids():
        raise MediaLibError(
            f"the database is at medialib revision {current}, which this flask-medialib does not know "
            "(a newer version migrated it): run that version's db downgrade, or install it"
        )
    elif current == head() and revision == "head":
        return
    command.upgrade(alembic_config(connection=conn), revision)


def downgrade(conn: sa.Connection, revision: str) -> None:
    command.downgrade(alembic_config(connection=conn), revision)
