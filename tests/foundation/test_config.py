"""Configuration: defaults, start-up validation, the signing secret, FLASK_* environment variables."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from flask import Flask

from flask_medialib import MediaLib, get_state
from flask_medialib.config import KEYS
from flask_medialib.errors import ConfigError

NO_DEMO = {"EXAMPLE_DEMO_DATA": False}  # the example's demo media are not what these tests check


def bare_app(tmp_path, **config) -> Flask:
    app = Flask("configured", instance_path=str(tmp_path / "instance"))
    app.config.update(
        SECRET_KEY="s3cret",
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'c.sqlite3'}",
        MEDIALIB_CACHE_TYPE="SimpleCache",
    )
    app.config.update(config)
    return app


def dispose(app: Flask) -> None:
    with app.app_context():
        get_state(app).db.engine.dispose()


def test_every_key_has_a_default(tmp_path) -> None:
    app = bare_app(tmp_path)
    del app.config["MEDIALIB_CACHE_TYPE"]
    MediaLib(app)
    for key in KEYS:
        assert key.name in app.config, key.name
        assert app.config[key.name] == key.check(key.name, key.default), key.name
        assert key.doc.strip(), key.name
    state = get_state(app)
    assert app.config["MEDIALIB_URL_PREFIX"] == "/api/v1"
    assert str(state.storage.root) == os.path.join(app.instance_path, "medialib-storage")  # type: ignore[attr-defined]
    assert state.signing_secret == "s3cret"  # defaults to SECRET_KEY
    dispose(app)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("MEDIALIB_URL_PREFIX", "api/v1"),
        ("MEDIALIB_URL_PREFIX", "/api/v1/"),
        ("MEDIALIB_MAX_UPLOAD_BYTES", 0),
        ("MEDIALIB_MAX_UPLOAD_BYTES", "lots"),
        ("MEDIALIB_MAX_UPLOAD_BYTES", True),
        ("MEDIALIB_TOKEN_TTL", -1),
        ("MEDIALIB_SIGNED_URL_TTL", 5),
        ("MEDIALIB_STORAGE_ROOT", 42),
        ("MEDIALIB_COVER_FORMAT", "GIF"),
        ("MEDIALIB_COVER_ZOOM", 0.5),
        ("MEDIALIB_PRELOAD_DETECTOR", "maybe"),
        ("MEDIALIB_TIMEZONE", "Mars/Olympus"),
        ("MEDIALIB_CACHE_TYPE", ""),
        ("MEDIALIB_WEBHOOK_URLS", 7),
    ],
)
def test_a_bad_value_fails_at_init_naming_the_key(tmp_path, key: str, value) -> None:
    app = bare_app(tmp_path, **{key: value})
    with pytest.raises(ConfigError, match=key):
        MediaLib(app)
    assert "medialib" not in app.extensions


def test_redis_cache_without_url_names_the_missing_key(tmp_path) -> None:
    app = bare_app(tmp_path, MEDIALIB_CACHE_TYPE="RedisCache")
    with pytest.raises(ConfigError, match="MEDIALIB_CACHE_REDIS_URL"):
        MediaLib(app)


def test_string_values_are_normalised(tmp_path) -> None:
    app = bare_app(
        tmp_path,
        MEDIALIB_MAX_UPLOAD_BYTES="2048",
        MEDIALIB_PRELOAD_DETECTOR="off",
        MEDIALIB_FETCH_ALLOWED_HOSTS="a.example, b.example",
    )
    MediaLib(app)
    assert app.config["MEDIALIB_MAX_UPLOAD_BYTES"] == 2048
    assert app.config["MEDIALIB_PRELOAD_DETECTOR"] is False
    assert app.config["MEDIALIB_FETCH_ALLOWED_HOSTS"] == ["a.example", "b.example"]
    dispose(app)


def test_unknown_medialib_key_is_refused(tmp_path) -> None:
    app = bare_app(tmp_path, MEDIALIB_MAX_UPLOAD_BYTE=10)  # a typo of MEDIALIB_MAX_UPLOAD_BYTES
    with pytest.raises(ConfigError, match="MEDIALIB_MAX_UPLOAD_BYTE"):
        MediaLib(app)


def test_no_signing_secret_is_refused_in_production(tmp_path) -> None:
    app = bare_app(tmp_path, SECRET_KEY=None)
    with pytest.raises(ConfigError, match="MEDIALIB_SIGNING_SECRET"):
        MediaLib(app)


@pytest.mark.parametrize("mode", ["TESTING", "DEBUG"])
def test_no_signing_secret_is_allowed_when_testing_or_debugging(tmp_path, mode: str) -> None:
    app = bare_app(tmp_path, SECRET_KEY=None, **{mode: True})
    MediaLib(app)
    assert len(get_state(app).signing_secret) >= 32
    dispose(app)


def test_signing_secret_wins_over_secret_key(tmp_path) -> None:
    app = bare_app(tmp_path, MEDIALIB_SIGNING_SECRET="signing")
    MediaLib(app)
    assert get_state(app).signing_secret == "signing"
    dispose(app)


def test_example_app_reads_flask_prefixed_environment(tmp_path, monkeypatch) -> None:
    from example_app import create_app

    db_file = tmp_path / "from-env.sqlite3"
    monkeypatch.setenv("FLASK_SQLALCHEMY_DATABASE_URI", f"sqlite:///{db_file}")
    monkeypatch.setenv("FLASK_MEDIALIB_STORAGE_ROOT", str(tmp_path / "env-storage"))
    monkeypatch.setenv("FLASK_MEDIALIB_MAX_UPLOAD_BYTES", "1234")  # JSON-decoded to an int
    monkeypatch.setenv("FLASK_MEDIALIB_URL_PREFIX", "/media")
    app = create_app({"INSTANCE_PATH": str(tmp_path / "instance"), "MEDIALIB_CACHE_TYPE": "SimpleCache", **NO_DEMO})
    assert app.config["MEDIALIB_MAX_UPLOAD_BYTES"] == 1234
    assert str(get_state(app).storage.root) == str(tmp_path / "env-storage")  # type: ignore[attr-defined]
    assert db_file.is_file()  # tables were created at start-up in the database the environment named
    assert (tmp_path / "env-storage" / "tmp").is_dir()
    client = app.test_client()
    assert client.get("/media/token").json["code"] == "EmptyLibraryIdOrSecret"
    assert client.get("/").status_code == 200
    dispose(app)


def test_example_app_bad_environment_value_fails_naming_the_key(tmp_path, monkeypatch) -> None:
    from example_app import create_app

    monkeypatch.setenv("FLASK_MEDIALIB_TOKEN_TTL", "0")
    with pytest.raises(ConfigError, match="MEDIALIB_TOKEN_TTL"):
        create_app({"INSTANCE_PATH": str(tmp_path / "instance"), **NO_DEMO})


def test_example_app_persists_one_secret_key_per_instance_folder(tmp_path) -> None:
    from example_app import create_app

    first = create_app({"INSTANCE_PATH": str(tmp_path / "instance"), "MEDIALIB_CACHE_TYPE": "SimpleCache", **NO_DEMO})
    second = create_app({"INSTANCE_PATH": str(tmp_path / "instance"), "MEDIALIB_CACHE_TYPE": "SimpleCache", **NO_DEMO})
    other = create_app({"INSTANCE_PATH": str(tmp_path / "other"), "MEDIALIB_CACHE_TYPE": "SimpleCache", **NO_DEMO})
    assert first.config["SECRET_KEY"] == second.config["SECRET_KEY"]
    assert len(first.config["SECRET_KEY"]) == 64
    assert other.config["SECRET_KEY"] != first.config["SECRET_KEY"]
    assert sorted(os.listdir(tmp_path / "instance")).count("secret_key") == 1
    assert not [n for n in os.listdir(tmp_path / "instance") if n.startswith("secret_key.")]  # no temp left
    for app in (first, second, other):
        dispose(app)


@pytest.mark.slow
def test_workers_starting_together_share_one_secret_key(tmp_path) -> None:
    instance = tmp_path / "instance"
    instance.mkdir()
    script = f"from example_app import shared_secret_key; print(shared_secret_key({str(instance)!r}))"
    workers = [
        subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=os.getcwd())
        for _ in range(4)
    ]
    keys = {w.communicate(timeout=120)[0].strip() for w in workers}
    assert [w.returncode for w in workers] == [0, 0, 0, 0]
    assert len(keys) == 1 and len(next(iter(keys))) == 64
    assert os.listdir(instance) == ["secret_key"]
