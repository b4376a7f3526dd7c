"""The revisions and models.py describe one schema; the history stays one numbered line."""

from __future__ import annotations

import re

import sqlalchemy as sa
from migration_helpers import created_schema, run_revisions, schema

from flask_medialib import migrations


def test_revisions_build_exactly_the_schema_the_models_create(engine: sa.Engine) -> None:
    run_revisions(engine)
    with engine.connect() as conn:
        by_revisions = schema(conn)
    assert set(by_revisions) >= migrations.BASELINE_TABLES
    assert by_revisions == created_schema(engine)


def test_models_and_the_migration_head_agree(engine: sa.Engine) -> None:
    """Fails when models.py changes without a revision: write one (docs/migrations.rst says how)."""
    run_revisions(engine)
    with engine.connect() as conn:
        diffs = migrations.differences(conn)
    assert diffs == [], f"models.py and the migrations differ; add a revision for: {diffs}"


def test_history_is_one_numbered_line() -> None:
    script = migrations.script()
    revisions = list(reversed(list(script.walk_revisions())))
    assert script.get_heads() == [revisions[-1].revision]  # two branches adding 0003 would make two heads
    assert [rev.revision for rev in revisions] == [f"{n:04d}" for n in range(1, len(revisions) + 1)]
    assert [rev.down_revision for rev in revisions] == [None] + [rev.revision for rev in revisions[:-1]]
    assert revisions[0].revision == migrations.BASELINE
    assert migrations.revision_ids() == [rev.revision for rev in revisions]  # read from the file names alone
    assert migrations.head() == script.get_current_head()
    for rev in revisions:
        assert rev.path is not None and re.fullmatch(rf"m{rev.revision}_\w+\.py", rev.path.rsplit("/", 1)[-1])


def version_table(conn: sa.Connection) -> list[object]:
    inspector = sa.inspect(conn)
    table = migrations.VERSION_TABLE
    found: list[object] = [
        [(c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns(table)],
        inspector.get_pk_constraint(table),
        conn.scalar(sa.text(f"SELECT version_num FROM {table}")),
    ]
    if conn.dialect.name == "sqlite":
        found.append(conn.exec_driver_sql("SELECT sql FROM sqlite_master WHERE name = ?", (table,)).all())
    return found


def test_a_stamp_makes_the_version_table_alembic_makes(engine: sa.Engine) -> None:
    run_revisions(engine)
    with engine.begin() as conn:
        by_alembic = version_table(conn)
        conn.execute(sa.text(f"DROP TABLE {migrations.VERSION_TABLE}"))
        migrations.stamp(conn, "head")
        assert version_table(conn) == by_alembic
