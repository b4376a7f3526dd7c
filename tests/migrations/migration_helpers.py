"""Schemas and rows of ``medialib_*`` tables, read back for comparison; a 0.1.0 database with rows in every table."""

from __future__ import annotations

import datetime as dt
from typing import Any

import models_0_1_0 as v010
import sqlalchemy as sa

from flask_medialib.migrations import VERSION_TABLE, include_medialib_object

T0 = dt.datetime(2026, 11, 22, 17, 58, 47)


def schema(conn: sa.Connection) -> dict[str, Any]:
    """Every column, key, constraint and index of our tables, as the database reports them."""
    inspector = sa.inspect(conn)
    found: dict[str, Any] = {}
    for name in sorted(n for n in inspector.get_table_names() if include_medialib_object(None, n, "table", True, None)):
        pk = inspector.get_pk_constraint(name)
        found[name] = {
            "columns": [
                (c["name"], str(c["type"].compile(dialect=conn.dialect)), c["nullable"], c.get("default"))
                for c in inspector.get_columns(name)
            ],
            "pk": (pk["name"], tuple(pk["constrained_columns"])),
            "fks": sorted(
                (
                    fk["name"],
                    tuple(fk["constrained_columns"]),
                    fk["referred_table"],
                    tuple(fk["referred_columns"]),
                    fk["options"].get("ondelete"),
                )
                for fk in inspector.get_foreign_keys(name)
            ),
            "indexes": sorted(
                (ix["name"], tuple(ix["column_names"]), bool(ix["unique"])) for ix in inspector.get_indexes(name)
            ),
            "uniques": sorted((uq["name"], tuple(uq["column_names"])) for uq in inspector.get_unique_constraints(name)),
        }
    if conn.dialect.name == "sqlite":
        # The DDL as SQLite keeps it: also shows AUTOINCREMENT, which reflection does not.
        found["sqlite_master"] = sorted(
            (kind, name, _ddl(sql))
            for kind, name, sql in conn.exec_driver_sql(
                "SELECT type, name, sql FROM sqlite_master WHERE tbl_name LIKE 'medialib%' AND tbl_name != ?",
                (VERSION_TABLE,),
            )
            if sql
        )
    return found


def _ddl(sql: str) -> str:
    """SQLite's stored DDL up to what a table rebuild or ADD COLUMN changes and nothing means:
    white space, quotes around the table name, and the order of the table's constraint clauses."""
    sql = " ".join(sql.replace('"', "").split())
    head, paren, body = sql.partition(" (")
    if not paren or not head.startswith("CREATE TABLE"):
        return sql
    body, _, tail = body.rpartition(")")
    items, depth, start = [], 0, 0
    for i, ch in enumerate(body):
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 0:
            items.append(body[start:i].strip())
            start = i + 1
    items.append(body[start:].strip())
    columns = [item for item in items if not item.startswith("CONSTRAINT")]
    constraints = sorted(item for item in items if item.startswith("CONSTRAINT"))
    return f"{head} ({', '.join(columns + constraints)}){tail}"


def index_columns(conn: sa.Connection, table: str) -> dict[str, list[str]]:
    return {ix["name"]: ix["column_names"] for ix in sa.inspect(conn).get_indexes(table)}


def build_0_1_0(conn: sa.Connection, *, early: bool = False) -> None:
    """The tables 0.1.0's ``create_all`` made; ``early``: as a database from before the material indexes were final."""
    v010.metadata.create_all(conn)
    if early:
        conn.execute(sa.text("DROP INDEX ix_medialib_media_visible"))
        conn.execute(sa.text("DROP INDEX ix_medialib_media_material"))
        conn.execute(sa.text("CREATE INDEX ix_medialib_media_material ON medialib_media (space_pk, created_at, id)"))


def fill_0_1_0(conn: sa.Connection) -> None:
    """Rows in every 0.1.0 table: NULLs and not, big ids, text that is not ASCII, every media kind."""
    t = {table.name: table for table in v010.metadata.sorted_tables}
    conn.execute(
        t["medialib_library"].insert(),
        [
            dict(
                id="demo", multi_tenant=False, album_based=True, public_read=True, secret_hash="a" * 64, created_at=T0
            ),
            dict(
                id="shop", multi_tenant=True, album_based=False, public_read=False, secret_hash="b" * 64, created_at=T0
            ),
        ],
    )
    conn.execute(
        t["medialib_space"].insert(),
        [
            dict(pk=1, library_id="demo", space_id="-", public_read=False, created_at=T0),
            dict(pk=2, library_id="shop", space_id="corp-1", public_read=True, created_at=T0),
            dict(pk=3, library_id="shop", space_id="企业二", public_read=False, created_at=T0),
        ],
    )
    conn.execute(
        t["medialib_album"].insert(),
        [
            dict(pk=1, space_pk=1, name="Holidays", created_at=T0),
            dict(pk=2, space_pk=1, name="Été 2026 🌞", created_at=T0),
        ],
    )
    media = []
    for n, (kind, space_pk, album_pk) in enumerate(
        [(1, 1, 1), (3, 1, 1), (1, 1, 2), (1, 2, None), (2, 2, None), (4, 3, None), (3, 3, None)]
    ):
        in_album = album_pk is not None
        at = T0 + dt.timedelta(minutes=n)
        media.append(
            dict(
                id=(2**40 + n) if space_pk == 2 else n + 1,  # material ids are large
                space_pk=space_pk,
                album_pk=album_pk,
                folder_pk=album_pk or 0,
                file_name=f"photo-{n}.jpg" if in_album else None,
                name=f"名字 {n}",
                kind=kind,
                mime="image/jpeg" if kind == 1 else None,
                storage_key=f"k/{n}" if in_album else None,
                url=None if in_album else f"https://cdn.example/{n}.bin",
                thumb_url=None if in_album else f"https://cdn.example/{n}.jpg",
                width=640 + n if kind in (1, 3) else None,
                height=480 if kind in (1, 3) else None,
                size=5_000_000_000 + n,
                duration=12.5 if kind in (2, 3) else None,
                content="纯文本" if kind == 4 else None,
                biz_type=1 + n % 2,
                upload_type=n % 3,
                tag_ids="1,2" if n % 2 else None,
                keywords="sea sun" if n % 2 else None,
                status=1,
                create_user=f"user-{n % 2}" if not in_album else None,
                update_user=None,
                created_at=at,
                updated_at=at,
                uploaded_at=at,
                version=1 + n,
            )
        )
    conn.execute(t["medialib_media"].insert(), media)
    conn.execute(
        t["medialib_access_token"].insert(),
        [
            dict(
                pk=1,
                token_hash="c" * 64,
                library_id="demo",
                space_pk=None,
                user_id=None,
                grants="admin",
                ttl=3600,
                created_at=T0,
                expires_at=T0 + dt.timedelta(hours=1),
                revoked_at=None,
            ),
            dict(
                pk=2,
                token_hash="d" * 64,
                library_id="shop",
                space_pk=2,
                user_id="u1",
                grants="",
                ttl=60,
                created_at=T0,
                expires_at=T0 + dt.timedelta(minutes=1),
                revoked_at=T0,
            ),
        ],
    )
    conn.execute(
        t["medialib_event"].insert(),
        [
            dict(
                id=1,
                space_pk=2,
                library_id="shop",
                corp_id="corp-1",
                event_type="material_add",
                payload='{"ids": [1099511627779]}',
                occurred_at=T0,
            ),
            dict(
                id=2,
                space_pk=2,
                library_id="shop",
                corp_id="corp-1",
                event_type="material_delete",
                payload='{"ids": [1099511627779]}',
                occurred_at=T0 + dt.timedelta(seconds=1),
            ),
        ],
    )
    conn.execute(
        t["medialib_webhook_delivery"].insert(),
        [
            dict(
                id=1,
                event_id=1,
                url="https://hook.example/a",
                status="delivered",
                attempts=1,
                next_attempt_at=T0,
                lease_until=None,
                lease_owner=None,
                last_status=200,
                last_error=None,
                delivered_at=T0,
                created_at=T0,
            ),
            dict(
                id=2,
                event_id=2,
                url="https://hook.example/a",
                status="dead",
                attempts=8,
                next_attempt_at=T0,
                lease_until=T0,
                lease_owner="worker-1",
                last_status=500,
                last_error="boom\nline two",
                delivered_at=None,
                created_at=T0,
            ),
        ],
    )
    conn.execute(
        t["medialib_import_lock"].insert(),
        [dict(space_pk=2, owner="importer-1", acquired_at=T0, expires_at=T0 + dt.timedelta(minutes=5))],
    )


def rows_0_1_0(conn: sa.Connection) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every 0.1.0 table, in its 0.1.0 columns only (later revisions may add columns)."""
    return {
        table.name: [tuple(row) for row in conn.execute(sa.select(table).order_by(*table.primary_key.columns))]
        for table in v010.metadata.sorted_tables
    }


def run_revisions(engine: sa.Engine, revision: str = "head") -> None:
    """Run the revision scripts themselves (``upgrade`` would take the create_all shortcut on an empty database)."""
    from alembic import command

    from flask_medialib import migrations

    with migrations.locked(engine) as conn:
        command.upgrade(migrations.alembic_config(connection=conn), revision)


def created_schema(engine: sa.Engine) -> dict[str, Any]:
    """The schema ``create_all`` of today's models makes, in this database (its medialib tables are replaced)."""
    from flask_medialib.models import metadata

    with engine.begin() as conn:
        metadata.drop_all(conn)
        metadata.create_all(conn)
        return schema(conn)
