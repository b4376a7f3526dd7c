"""A 0.1.0 database with rows in every table, made before migrations existed, upgraded to head."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from flask import Flask
from migration_helpers import build_0_1_0, created_schema, fill_0_1_0, index_columns, rows_0_1_0, schema
from models_0_1_0 import Library

from flask_medialib import get_state, migrations
from flask_medialib.models import Media
from flask_medialib.services import library as lib

MATERIAL = ["space_pk", "created_at", "id", "biz_type", "create_user", "kind"]
VISIBLE = ["space_pk", "biz_type", "create_user", "kind", "created_at"]


@pytest.mark.parametrize(
    ("early", "command"),
    [(False, ["init-db"]), (True, ["db", "upgrade"])],
    ids=["0.1.0-init-db", "early-0.1.0-db-upgrade"],
)
def test_0_1_0_database_with_rows_upgrades_to_head(
    host: Flask, runner, engine: sa.Engine, early: bool, command: list[str]
) -> None:
    with engine.begin() as conn:
        build_0_1_0(conn, early=early)
        fill_0_1_0(conn)
    with engine.connect() as conn:
        before = rows_0_1_0(conn)
        assert migrations.current_revision(conn) is None
        assert ("ix_medialib_media_visible" in index_columns(conn, "medialib_media")) is not early

    result = runner.invoke(args=["medialib", *command])
    assert result.exit_code == 0, result.output

    with engine.connect() as conn:
        assert migrations.current_revision(conn) == migrations.script().get_current_head()
        assert rows_0_1_0(conn) == before  # every row, every 0.1.0 column
        assert sum(len(rows) for rows in before.values()) == 21
        indexes = index_columns(conn, "medialib_media")
        assert indexes["ix_medialib_media_material"] == MATERIAL and indexes["ix_medialib_media_visible"] == VISIBLE
        assert migrations.differences(conn) == []
        # 0003: every old row got an identity of its own.
        uids = conn.execute(sa.text("SELECT uid FROM medialib_media")).scalars().all()
        assert uids and all(uids) and len(set(uids)) == len(uids)
        upgraded = schema(conn)
    with host.app_context():  # today's code reads the old rows
        assert [x.id for x in lib.list_libraries()] == ["demo", "shop"]
        assert get_state().session.get(Media, 2**40 + 3).name == "名字 3"
        get_state().session.remove()
    # Every column and index of today's models is there, exactly as create_all makes it.
    assert upgraded == created_schema(engine)


def test_tables_older_than_0_1_0_are_refused_untouched(runner, engine: sa.Engine) -> None:
    with engine.begin() as conn:
        Library.__table__.create(conn)
    result = runner.invoke(args=["medialib", "db", "upgrade"])
    assert result.exit_code == 1
    assert "predate 0.1.0" in result.output and "medialib_media" in result.output
    assert set(sa.inspect(engine).get_table_names()) == {"medialib_library"}
