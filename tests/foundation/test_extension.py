"""The extension object: registration, host db and cache, URL prefix, error pages."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask_caching import Cache
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import Mapped, mapped_column

from flask_medialib import MediaLib, get_state
from flask_medialib.cli import create_tables
from flask_medialib.models import Base, Library
from flask_medialib.services import library as lib


@pytest.fixture
def new_app(app_config: dict, tmp_path) -> Iterator[Callable[..., Flask]]:
    """Fresh host apps on this test's backend; their engines and tables are cleaned up afterwards."""
    made: list[tuple[Flask, list[sa.Table]]] = []

    def make(extra_tables: list[sa.Table] | None = None, **config: Any) -> Flask:
        host = Flask(f"host{len(made)}", instance_path=str(tmp_path / f"instance{len(made)}"))
        host.config.update(app_config)
        host.config.update(config)
        made.append((host, extra_tables or []))
        return host

    yield make
    for host, tables in made:
        if "sqlalchemy" not in host.extensions:
            continue
        engine_owner = host.extensions["sqlalchemy"]
        with host.app_context():
            engine_owner.session.remove()
            engine = engine_owner.engine
            with engine.begin() as conn:
                for table in tables:
                    table.drop(conn, checkfirst=True)
                if engine.dialect.name == "postgresql":
                    names = ", ".join(t.name for t in Base.metadata.sorted_tables)
                    conn.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
            engine.dispose()


def host_db() -> tuple[SQLAlchemy, type]:
    """A host's own Flask-SQLAlchemy instance with a model of its own."""
    db = SQLAlchemy()

    class Note(db.Model):  # type: ignore[name-defined]
        __tablename__ = "host_note"
        id: Mapped[int] = mapped_column(primary_key=True)
        text: Mapped[str] = mapped_column(sa.String(50))

    return db, Note


def test_medialib_app_and_init_app_both_register(new_app) -> None:
    direct = new_app()
    MediaLib(direct)
    factory = new_app()
    ext = MediaLib()
    ext.init_app(factory)
    for host in (direct, factory):
        assert get_state(host).extension is not None
        rules = {r.rule for r in host.url_map.iter_rules()}
        assert "/api/v1/token" in rules
        assert "medialib" in host.cli.commands
    assert get_state(factory).extension is ext


def test_double_registration_is_refused(new_app) -> None:
    host = new_app()
    ext = MediaLib(host)
    with pytest.raises(RuntimeError, match="already registered"):
        ext.init_app(host)
    with pytest.raises(RuntimeError, match="already registered"):
        MediaLib(host)


def test_get_state_before_init_app_is_refused(new_app) -> None:
    host = new_app()
    with pytest.raises(RuntimeError, match="not registered"):
        get_state(host)
    with host.app_context(), pytest.raises(RuntimeError, match="init_app"):
        get_state()


def test_host_db_passed_shares_session_and_transaction(new_app) -> None:
    db, Note = host_db()
    host = new_app(extra_tables=[Note.__table__])
    db.init_app(host)
    MediaLib(host, db=db)
    with host.app_context():
        state = get_state(host)
        assert state.db is db and state.session is db.session
        db.create_all()
        create_tables()
        assert {"host_note", "medialib_library"} <= set(sa.inspect(db.engine).get_table_names())

        # One transaction: both rows go when it is rolled back ...
        db.session.add(Note(text="host row"))
        db.session.add(Library(id="rolled", secret_hash="x" * 64, created_at=state.clock()))
        db.session.flush()
        db.session.rollback()
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Note)) == 0
        assert db.session.get(Library, "rolled") is None

        # ... and both stay when our service commits the host's pending row with ours.
        db.session.add(Note(text="kept"))
        lib.create_library("kept")
        db.session.remove()
        assert db.session.scalar(sa.select(Note.text)) == "kept"
        assert db.session.get(Library, "kept") is not None


def test_host_db_registered_but_not_passed_is_used(new_app) -> None:
    db, _ = host_db()
    host = new_app()
    db.init_app(host)
    MediaLib().init_app(host)
    assert get_state(host).db is db


def test_host_db_passed_before_its_init_app_is_initialised(new_app) -> None:
    db, _ = host_db()
    host = new_app()
    MediaLib(host, db=db)
    assert host.extensions["sqlalchemy"] is db
    with host.app_context():
        create_tables()
        lib.create_library("one")
        assert [x.id for x in lib.list_libraries()] == ["one"]


def test_without_host_db_an_own_sqlite_db_is_made_in_the_instance_folder(new_app, tmp_path) -> None:
    host = new_app()
    del host.config["SQLALCHEMY_DATABASE_URI"]
    MediaLib(host)
    state = get_state(host)
    with host.app_context():
        assert state.db.engine.dialect.name == "sqlite"
        create_tables()
        lib.create_library("own")
    assert (tmp_path / "instance0" / "medialib.sqlite3").is_file()


def test_host_cache_is_used_and_shared(new_app) -> None:
    host = new_app()
    cache = Cache(host, config={"CACHE_TYPE": "SimpleCache"})
    MediaLib(host, cache=cache)
    with host.app_context():
        assert get_state(host).cache is cache
        get_state(host).cache.set("k", 42)
        assert cache.get("k") == 42


def test_host_cache_passed_before_its_init_app_is_initialised(new_app) -> None:
    host = new_app(CACHE_TYPE="SimpleCache")
    cache = Cache()
    MediaLib(host, cache=cache)
    with host.app_context():
        cache.set("k", "v")
        assert get_state(host).cache.get("k") == "v"


def test_without_host_cache_an_own_cache_is_made(new_app) -> None:
    host = new_app()
    MediaLib(host)
    with host.app_context():
        cache = get_state(host).cache
        cache.set("own", 1)
        assert cache.get("own") == 1


@pytest.mark.parametrize("prefix", ["/media", "/a/b", ""])
def test_url_prefix_is_configurable(new_app, prefix: str) -> None:
    host = new_app(MEDIALIB_URL_PREFIX=prefix)
    MediaLib(host)
    with host.app_context():
        create_tables()
        _, secret = lib.create_library("pre")
    client = host.test_client()
    answer = client.get(f"{prefix}/token", query_string={"library_id": "pre", "library_secret": secret})
    assert answer.status_code == 200 and answer.json["accessToken"]
    if prefix:
        assert client.get("/api/v1/token").status_code == 404


def test_host_404_page_untouched_while_our_routes_answer_json(new_app) -> None:
    host = new_app()

    @host.errorhandler(404)
    def host_404(_exc):  # the host's own page
        return "<h1>host page</h1>", 404

    @host.route("/hello")
    def hello():
        raise ValueError("host bug")

    MediaLib(host)
    with host.app_context():
        create_tables()
    client = host.test_client()
    page = client.get("/nowhere")
    assert page.status_code == 404 and page.data == b"<h1>host page</h1>" and page.mimetype == "text/html"
    assert "X-Request-Id" not in page.headers

    ours = client.get("/api/v1/directory/nolib/-")
    assert ours.status_code == 404 and ours.mimetype == "application/json"
    assert ours.json["code"] == "LibraryNotFound"
    assert ours.json["requestId"] == ours.headers["X-Request-Id"]

    # A host error is still the host's business: we install no app-wide handler.
    host.testing = False
    host.config["PROPAGATE_EXCEPTIONS"] = False
    broken = client.get("/hello")
    assert broken.status_code == 500 and broken.mimetype == "text/html"


def test_host_without_own_404_handler_keeps_werkzeug_html(new_app) -> None:
    host = new_app()
    MediaLib(host)
    page = host.test_client().get("/nowhere")
    assert page.status_code == 404 and page.mimetype == "text/html"


def test_unrouted_urls_under_the_prefix_answer_json_and_the_host_keeps_its_pages(new_app) -> None:
    host = new_app()

    @host.errorhandler(404)
    def host_404(_exc):
        return "<h1>host page</h1>", 404

    MediaLib(host)
    client = host.test_client()
    missing = client.get("/api/v1/no/such/route")
    assert missing.status_code == 404 and missing.mimetype == "application/json"
    assert missing.json["code"] == "RouteNotFound" and "/api/v1/openapi.json" in missing.json["message"]
    assert missing.json["requestId"] == missing.headers["X-Request-Id"]

    wrong_method = client.patch("/api/v1/space/lib1")
    assert wrong_method.status_code == 405 and wrong_method.json["code"] == "MethodNotAllowed"
    assert set(wrong_method.headers["Allow"].split(", ")) >= {"GET", "POST"}

    material = client.get("/api/v1/biz/material/third/nothing")
    assert material.status_code == 404
    assert material.json["success"] is False and material.json["code"] == "404"

    # Outside the prefix, and where the prefix is only a prefix of a word, the host's page stays.
    for path in ("/nowhere", "/api/v1x/space"):
        page = client.get(path)
        assert page.status_code == 404 and page.data == b"<h1>host page</h1>"


def test_an_empty_prefix_leaves_every_unrouted_url_to_the_host(new_app) -> None:
    host = new_app(MEDIALIB_URL_PREFIX="")
    MediaLib(host)
    page = host.test_client().get("/nowhere")
    assert page.status_code == 404 and page.mimetype == "text/html"


def test_every_admin_and_file_route_is_documented(app: Flask) -> None:
    views = [
        (rule.rule, app.view_functions[rule.endpoint])
        for rule in app.url_map.iter_rules()
        if rule.endpoint.split(".")[0] in ("medialib_smh", "medialib_files")
    ]
    assert len(views) >= 10
    undocumented = [rule for rule, view in views if not getattr(view, "_medialib_doc", None)]
    assert undocumented == []
