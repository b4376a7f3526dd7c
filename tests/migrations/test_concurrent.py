"""Workers starting together on one database: one migrates, the other finds it at head."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from migration_helpers import build_0_1_0, created_schema, fill_0_1_0, rows_0_1_0, schema

from flask_medialib import migrations

pytestmark = pytest.mark.slow
PROC = str(Path(__file__).with_name("migrate_proc.py"))


def start_together(database_url: str, count: int) -> list[str]:
    """Start ``count`` processes, release them at once, return what each printed last."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    procs = [
        subprocess.Popen(
            [sys.executable, PROC, database_url], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
        )
        for _ in range(count)
    ]
    try:
        for proc in procs:
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        results = []
        for proc in procs:
            out, _ = proc.communicate(timeout=120)
            results.append(out.strip() if proc.returncode == 0 else f"failed with {proc.returncode}")
    finally:
        for proc in procs:
            proc.kill()
            proc.communicate()
    return results


@pytest.mark.parametrize("old", [False, True], ids=["empty", "early-0.1.0-with-rows"])
def test_workers_starting_together_migrate_once(database_url: str, engine: sa.Engine, old: bool) -> None:
    if old:
        with engine.begin() as conn:
            build_0_1_0(conn, early=True)
            fill_0_1_0(conn)
        with engine.connect() as conn:
            rows = rows_0_1_0(conn)
    head = migrations.script().get_current_head()
    assert start_together(database_url, 2) == [head] * 2
    with engine.connect() as conn:
        assert conn.execute(sa.text(f"SELECT version_num FROM {migrations.VERSION_TABLE}")).scalars().all() == [head]
        if old:
            assert rows_0_1_0(conn) == rows
        found = schema(conn)
    assert found == created_schema(engine)
