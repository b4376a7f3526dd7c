"""One import per enterprise, across processes; a crashed import never locks for good."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from material_helpers import assert_envelope, item
from sqlalchemy import select

from flask_medialib import get_state
from flask_medialib.errors import HTTPError
from flask_medialib.models import ImportLock, Space
from flask_medialib.services import materials

pytestmark = pytest.mark.slow
PROC = str(Path(__file__).with_name("material_proc.py"))


def space_pk(corp_id: str = "acme") -> int:
    return get_state().session.execute(select(Space.pk).where(Space.space_id == corp_id)).scalar_one()


def start(app, clock, mode: str, *args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.Popen(
        [
            sys.executable,
            PROC,
            mode,
            app.config["SQLALCHEMY_DATABASE_URI"],
            app.config["MEDIALIB_STORAGE_ROOT"],
            clock.now.isoformat(),
            *args,
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )


def run(app, clock, mode: str, *args: str) -> dict:
    proc = start(app, clock, mode, *args)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out
    return json.loads(out.strip().splitlines()[-1])


def test_an_add_waits_for_nobody_but_is_refused_while_another_process_imports(app, api, clock):
    holder = start(app, clock, "hold", str(space_pk()))
    try:
        assert holder.stdout.readline().strip() == "locked"
        body = assert_envelope(api.add([item()]), 409)
        assert body["map"]["error"] == "ImportInProgress" and "import" in body["msg"]
        # Other enterprises are not blocked.
        assert_envelope(api.add([item()], token="admin", corpId="other"), 200)
        holder.stdin.write("go\n")
        holder.stdin.flush()
        assert holder.stdout.readline().strip() == "released"
    finally:
        holder.communicate(timeout=60)
    assert_envelope(api.add([item()]), 200)


def test_another_process_is_refused_while_this_one_imports(app, api, clock, corp):
    materials.acquire_import_lock(space_pk(), "this-process")
    result = run(app, clock, "add", corp.writer)
    assert result["status"] == 409 and result["body"]["code"] == "409"
    materials.release_import_lock(space_pk(), "this-process")
    result = run(app, clock, "add", corp.writer)
    assert result["status"] == 200 and result["body"]["list"][0]["createUser"] == "proc"


def test_a_killed_import_does_not_lock_its_enterprise_forever(app, api, clock):
    holder = start(app, clock, "hold", str(space_pk()))
    assert holder.stdout.readline().strip() == "locked"
    holder.send_signal(signal.SIGKILL)
    holder.communicate(timeout=60)
    assert_envelope(api.add([item()]), 409)  # the lock row outlives the process ...
    clock.advance(app.config["MEDIALIB_IMPORT_LOCK_TIMEOUT"] - 1)
    assert_envelope(api.add([item()]), 409)
    clock.advance(2)  # ... until it expires; then the next import takes it over
    assert_envelope(api.add([item()]), 200)
    assert get_state().session.execute(select(ImportLock)).first() is None  # and releases it


def test_an_expired_lock_is_taken_over_by_one_contender_only(app, corp, clock):
    pk = space_pk()
    materials.acquire_import_lock(pk, "crashed")
    clock.advance(app.config["MEDIALIB_IMPORT_LOCK_TIMEOUT"] + 1)
    materials.acquire_import_lock(pk, "first")
    with pytest.raises(HTTPError) as refused:
        materials.acquire_import_lock(pk, "second")
    assert refused.value.code == 409
    owner = get_state().session.execute(select(ImportLock.owner)).scalar_one()
    assert owner == "first"


def test_the_lock_is_released_when_the_import_fails(app, api, corp):
    assert_envelope(api.add([item(type=9)]), 422)  # fails before the lock
    with materials.import_lock(space_pk()):
        pass
    assert get_state().session.execute(select(ImportLock)).first() is None
    with pytest.raises(RuntimeError), materials.import_lock(space_pk()):
        raise RuntimeError("boom")
    assert get_state().session.execute(select(ImportLock)).first() is None
