"""Staging files of uploads killed mid-way are swept (issue 10, section 5): at start, on upload, by the CLI."""

from __future__ import annotations

import datetime as dt
import os
import time
from pathlib import Path

import pytest
from flask import Flask
from foundation_helpers import API, png_bytes

from flask_medialib import MediaLib, get_state
from flask_medialib.errors import ConfigError

MAX_AGE = 3600


@pytest.fixture
def app_config(app_config: dict) -> dict:
    return {**app_config, "MEDIALIB_STAGING_MAX_AGE": MAX_AGE, "MEDIALIB_FACE_DETECTOR": "none"}


def staged(app: Flask, name: str, age: float) -> Path:
    """A staging file left ``age`` seconds before the app's (fake) clock."""
    path = Path(app.config["MEDIALIB_STORAGE_ROOT"]) / "tmp" / name
    path.write_bytes(b"half an upload")
    when = get_state(app).clock().replace(tzinfo=dt.UTC).timestamp() - age
    os.utime(path, (when, when))
    return path


def put(client, token: str, name: str) -> None:
    resp = client.put(f"{API}/file/lib1/-/{name}", query_string={"access_token": token}, data=png_bytes())
    assert resp.status_code == 201, resp.get_json()


def test_an_upload_sweeps_stale_staging_files_at_most_every_ten_minutes(app, client, make_lib, clock):
    token = make_lib().admin
    stale, fresh = staged(app, "upload-stale", MAX_AGE + 1), staged(app, "upload-fresh", MAX_AGE - 60)
    put(client, token, "a.png")
    assert not stale.exists() and fresh.exists()
    clock.advance(120)  # "fresh" is stale now, but the last sweep was two minutes ago
    put(client, token, "b.png")
    assert fresh.exists()
    clock.advance(9 * 60)
    put(client, token, "c.png")
    assert not fresh.exists()
    assert sorted(p.name for p in (Path(app.config["MEDIALIB_STORAGE_ROOT"]) / "tmp").iterdir()) == []


def test_the_cli_sweeps_at_once(app, runner, clock):
    stale, fresh = staged(app, "upload-a", MAX_AGE + 5), staged(app, "upload-b", 5)
    result = runner.invoke(args=["medialib", "sweep-staging"])
    assert result.exit_code == 0, result.output
    assert "removed 1 stale staging file" in result.output
    assert not stale.exists() and fresh.exists()


def test_init_app_sweeps_what_a_killed_process_left(app, tmp_path):
    root = Path(app.config["MEDIALIB_STORAGE_ROOT"])
    old, new = root / "tmp" / "upload-killed", root / "tmp" / "upload-running"
    for path in (old, new):
        path.write_bytes(b"x")
    long_ago = time.time() - MAX_AGE - 60  # init_app runs on the real clock
    os.utime(old, (long_ago, long_ago))
    second = Flask("second", instance_path=str(tmp_path / "second"))
    second.config.update({**app.config, "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    second.extensions.pop("sqlalchemy", None)
    MediaLib(second)
    assert not old.exists() and new.exists()


@pytest.mark.parametrize("value", [0, 299, "soon", -1])
def test_the_max_age_is_validated(app, tmp_path, value):
    other = Flask("bad", instance_path=str(tmp_path / "bad"))
    other.config.update({"TESTING": True, "MEDIALIB_STAGING_MAX_AGE": value})
    with pytest.raises(ConfigError, match="MEDIALIB_STAGING_MAX_AGE"):
        MediaLib(other)
