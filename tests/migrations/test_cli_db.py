"""``flask medialib db ...``: upgrade, downgrade, current, history, --sql, and a host's own Alembic history."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask
from migration_helpers import build_0_1_0, created_schema, fill_0_1_0, index_columns, rows_0_1_0, schema

from flask_medialib import MediaLib, get_state, migrations
from flask_medialib.cli import create_tables
from flask_medialib.models import Library
from flask_medialib.services import library as lib

HEAD = migrations.script().get_current_head()


def run(runner, *args: str) -> str:
    result = runner.invoke(args=["medialib", "db", *args])
    assert result.exit_code == 0, result.output
    return result.stdout


def run_sql(engine: sa.Engine, sql: str) -> None:
    """Apply a printed script the way a DBA would: as is, outside any transaction of ours."""
    raw = engine.raw_connection()
    try:
        if engine.dialect.name == "sqlite":
            raw.driver_connection.executescript(sql)
        else:
            raw.driver_connection.autocommit = True
            raw.driver_connection.execute(sql)
    finally:
        raw.close()


def test_upgrade_downgrade_to_base_and_upgrade_again(host: Flask, runner, engine: sa.Engine) -> None:
    assert run(runner, "current").strip() == "none"
    run(runner, "upgrade")
    assert run(runner, "current").strip() == f"{HEAD} (head)"
    with host.app_context():
        lib.create_library("kept")
        get_state().session.remove()

    run(runner, "downgrade", migrations.BASELINE)
    assert run(runner, "current").strip() == migrations.BASELINE
    with engine.connect() as conn:
        assert conn.scalar(sa.select(Library.id)) == "kept"

    run(runner, "downgrade", "base")
    assert run(runner, "current").strip() == "none"
    assert not [name for name in sa.inspect(engine).get_table_names() if name != migrations.VERSION_TABLE]

    run(runner, "upgrade", migrations.BASELINE)  # the revision scripts themselves, not the create_all shortcut
    run(runner, "upgrade")
    assert run(runner, "current").strip() == f"{HEAD} (head)"
    with engine.connect() as conn:
        assert migrations.differences(conn) == []
        again = schema(conn)
    assert again == created_schema(engine)


def test_history_lists_the_revisions_newest_first(runner) -> None:
    lines = run(runner, "history").splitlines()
    assert lines[0].startswith(f"{int(HEAD) - 1:04d} -> {HEAD} (head)")
    assert lines[-1].startswith(f"<base> -> {migrations.BASELINE}, The 0.1.0 schema")


def test_sql_prints_the_sql_and_leaves_the_database_alone(host: Flask, runner, engine: sa.Engine) -> None:
    out = run(runner, "upgrade", "--sql")
    assert "CREATE TABLE medialib_media" in out and "CREATE INDEX ix_medialib_media_visible" in out
    assert f"INSERT INTO {migrations.VERSION_TABLE} (version_num) VALUES ('{migrations.BASELINE}')" in out
    assert sa.inspect(engine).get_table_names() == []

    with host.app_context():
        create_tables()
        lib.create_library("kept")
        get_state().session.remove()
    with engine.connect() as conn:
        before = schema(conn)
    # On SQLite, --sql cannot render a revision that rebuilds a table (batch mode must read it), and later
    # revisions may: there, only the revisions of 0.1.0, as an explicit range.
    postgresql = engine.dialect.name == "postgresql"
    out = run(runner, "downgrade", "base" if postgresql else "0002:base", "--sql")
    assert "DROP TABLE medialib_media" in out and "DROP TABLE medialib_library" in out
    out = run(runner, "downgrade", migrations.BASELINE if postgresql else f"0002:{migrations.BASELINE}", "--sql")
    assert f"SET version_num='{migrations.BASELINE}'" in out
    with engine.connect() as conn:
        assert schema(conn) == before
        assert migrations.current_revision(conn) == HEAD
        assert conn.scalar(sa.select(Library.id)) == "kept"


def test_sql_for_an_empty_database_builds_the_newest_schema_when_applied(runner, engine: sa.Engine) -> None:
    run_sql(engine, run(runner, "upgrade", "--sql"))
    with engine.connect() as conn:
        assert migrations.current_revision(conn) == HEAD
        applied = schema(conn)
    assert applied == created_schema(engine)


def test_sql_of_an_early_0_1_0_database_adopts_it_when_applied(runner, engine: sa.Engine) -> None:
    with engine.begin() as conn:
        build_0_1_0(conn, early=True)
        fill_0_1_0(conn)
    with engine.connect() as conn:
        before, rows = schema(conn), rows_0_1_0(conn)

    out = run(runner, "upgrade", "--sql")
    assert f"CREATE TABLE {migrations.VERSION_TABLE}" in out and "CREATE INDEX ix_medialib_media_visible" in out
    with engine.connect() as conn:
        assert schema(conn) == before and migrations.current_revision(conn) is None

    run_sql(engine, out)
    with engine.connect() as conn:
        assert migrations.current_revision(conn) == HEAD
        assert rows_0_1_0(conn) == rows
        assert "ix_medialib_media_visible" in index_columns(conn, "medialib_media")
        assert migrations.differences(conn) == []


def test_a_hosts_own_alembic_history_and_tables_are_untouched(runner, engine: sa.Engine) -> None:
    host_metadata = sa.MetaData()
    note = sa.Table(
        "host_note", host_metadata, sa.Column("id", sa.Integer, primary_key=True), sa.Column("text", sa.Text)
    )
    with engine.begin() as conn:
        host_metadata.create_all(conn)
        conn.execute(note.insert(), [{"text": "mine"}])
        MigrationContext.configure(conn).stamp(_host_script(), "host0001")

    run(runner, "upgrade")
    run(runner, "downgrade", "base")
    run(runner, "upgrade")

    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars().all() == ["host0001"]
        assert conn.execute(sa.select(note.c.text)).scalars().all() == ["mine"]
        assert migrations.current_revision(conn) == HEAD
        assert migrations.differences(conn) == []  # our autogenerate ignores the host's tables
        # The host's autogenerate, with the documented filter, sees nothing of ours; without it, our tables.
        host_context = MigrationContext.configure(conn, opts={"include_object": migrations.exclude_medialib_tables})
        assert compare_metadata(host_context, host_metadata) == []
        unfiltered = compare_metadata(MigrationContext.configure(conn), host_metadata)
        assert {diff[1].name for diff in unfiltered if diff[0] == "remove_table"} >= migrations.BASELINE_TABLES


def _host_script() -> ScriptDirectory:
    """A stand-in for a host's own Alembic scripts: one revision, ``host0001``."""
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent / "host_alembic"))
    return ScriptDirectory.from_config(cfg)


def test_revision_writes_the_next_numbered_file(tmp_path: Path) -> None:
    copy = tmp_path / "migrations"
    shutil.copytree(Path(migrations.__file__).parent, copy, ignore=shutil.ignore_patterns("__pycache__"))
    written = migrations.write_revision("nothing yet", autogenerate=True, script_location=copy)
    number = f"{int(HEAD) + 1:04d}"
    assert written.parent == copy / "versions" and written.name == f"m{number}_nothing_yet.py"
    text = written.read_text()
    assert f"revision = '{number}'" in text and f"down_revision = '{HEAD}'" in text
    assert re.search(r"def upgrade\(\) -> None:\n(    #.*\n)*    pass\n", text)  # models and head agree: nothing to do
    assert migrations.script(copy).get_heads() == [number]


def test_a_database_migrated_by_a_newer_version_is_refused(host: Flask, runner, engine: sa.Engine) -> None:
    with host.app_context():
        create_tables()
    with engine.begin() as conn:
        conn.execute(sa.text(f"UPDATE {migrations.VERSION_TABLE} SET version_num = '0999'"))
    for command in (["init-db"], ["db", "upgrade"]):
        result = runner.invoke(args=["medialib", *command])
        assert result.exit_code == 1 and "revision 0999" in result.output and "newer version" in result.output
    with engine.connect() as conn:
        assert migrations.current_revision(conn) == "0999"


def test_sql_with_a_range_needs_no_database(app_config: dict, backend: str, tmp_path: Path) -> None:
    nowhere = {
        "sqlite": f"sqlite:///{tmp_path / 'missing' / 'dir' / 'x.sqlite3'}",  # connecting would fail
        "postgresql": "postgresql+psycopg://postgres@127.0.0.1:1/nothing",  # nothing listens on port 1
    }[backend]
    app = Flask("no_database", instance_path=str(tmp_path / "instance"))
    app.config.update(app_config, SQLALCHEMY_DATABASE_URI=nowhere)
    MediaLib(app)
    out = run(app.test_cli_runner(), "upgrade", f"{migrations.BASELINE}:head", "--sql")
    assert f"SET version_num='{HEAD}'" in out and "ix_medialib_media_visible" in out


def test_stamp_records_a_known_revision_and_runs_nothing(runner, engine: sa.Engine) -> None:
    run(runner, "upgrade")
    with engine.connect() as conn:
        before = schema(conn)
    run(runner, "stamp", migrations.BASELINE)
    assert run(runner, "current").strip() == migrations.BASELINE
    unknown = runner.invoke(args=["medialib", "db", "stamp", "0999"])
    assert unknown.exit_code == 1 and "no medialib revision 0999" in unknown.output
    with engine.connect() as conn:
        assert schema(conn) == before and migrations.current_revision(conn) == migrations.BASELINE
