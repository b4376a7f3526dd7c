"""The warm path: memoised 302s, the file step from the cache, 304s without work, the master rendition."""

from __future__ import annotations

import os
import threading

import pytest
from cover_helpers import (
    at,
    close_to,
    cover_path,
    fetch_cover,
    jpeg,
    make_library,
    mean_color,
    root_space,
    second_app,
    sql_count,
    token_for,
)
from cover_helpers import upload as upload_media
from flask import Flask

from flask_medialib import auth, generations, get_state
from flask_medialib.models import Media
from flask_medialib.services import covers
from flask_medialib.services import library as lib

RED, GREEN, BLUE = (220, 20, 20), (20, 200, 20), (20, 20, 220)


@pytest.fixture
def app_config(app_config: dict, tmp_path) -> dict:
    # A cache that two app instances can share (Redis on the PostgreSQL run, files on SQLite).
    if app_config.get("MEDIALIB_CACHE_TYPE") == "SimpleCache":
        return {**app_config, "MEDIALIB_CACHE_TYPE": "FileSystemCache", "MEDIALIB_CACHE_DIR": str(tmp_path / "cache")}
    return app_config


@pytest.fixture
def album_lib(app):
    library = make_library("lib", album_based=True, public_read=True)
    space = root_space(library)
    lib.create_album(library, space, "a")
    return library, space


# -- the 302 memo ----------------------------------------------------------------


def test_a_warm_302_runs_no_sql(app, client, album_lib):
    library, space = album_lib
    upload_media(library, space, "a", "r.jpg", jpeg(RED), at(1))
    first = client.get(cover_path("lib", size=16))
    with sql_count(app) as statements:
        again = client.get(cover_path("lib", size=16))
    assert again.status_code == 302 and statements == []
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers["Cache-Control"] == first.headers["Cache-Control"] == "public, max-age=30"


def test_memo_off_asks_the_database_every_time(app, client, album_lib):
    app.config["MEDIALIB_COVER_MEMO_TTL"] = 0
    library, space = album_lib
    upload_media(library, space, "a", "r.jpg", jpeg(RED), at(1))
    client.get(cover_path("lib", size=16))
    with sql_count(app) as statements:
        assert client.get(cover_path("lib", size=16)).status_code == 302
    assert statements


def test_memo_lasts_its_ttl_on_the_clock(app, client, album_lib, clock):
    library, space = album_lib
    upload_media(library, space, "a", "r.jpg", jpeg(RED), at(1))
    client.get(cover_path("lib", size=16))
    clock.advance(app.config["MEDIALIB_COVER_MEMO_TTL"])
    with sql_count(app) as statements:
        assert client.get(cover_path("lib", size=16)).status_code == 302
    assert statements  # expired: resolved again


def test_an_upload_in_the_space_ends_the_memo(client, album_lib):
    library, space = album_lib
    upload_media(library, space, "a", "g.jpg", jpeg(GREEN), at(2))
    assert close_to(mean_color(fetch_cover(client, cover_path("lib", size=8))[0]), GREEN)
    upload_media(library, space, "a", "r.jpg", jpeg(RED), at(1))  # older: the new cover
    assert close_to(mean_color(fetch_cover(client, cover_path("lib", size=8))[0]), RED)


def test_album_delete_ends_the_memo(client, album_lib):
    library, space = album_lib
    upload_media(library, space, "a", "r.jpg", jpeg(RED), at(1))
    assert client.get(cover_path("lib", size=8)).status_code == 302
    lib.delete_album(library, space, "a")
    resp = client.get(cover_path("lib", size=8))
    assert resp.status_code == 404 and resp.get_json()["code"] == "DirectoryNotFound"


def test_a_write_through_another_app_instance_ends_the_memo(app, app_config, client, album_lib, clock):
    library, space = album_lib
    first = upload_media(library, space, "a", "r.jpg", jpeg(RED), at(1))
    old = client.get(cover_path("lib", size=8)).headers["Location"]
    with second_app(app_config, clock) as other:
        with other.app_context():
            other_lib = lib.get_library("lib")
            other_space = root_space(other_lib)
            blue_id = upload_media(other_lib, other_space, "a", "b.jpg", jpeg(BLUE), at(0)).id
        # This instance sees the other's write at once, not after the memo's TTL.
        resp = client.get(cover_path("lib", size=8))
        assert resp.headers["Location"] != old
        assert close_to(mean_color(fetch_cover(client, cover_path("lib", size=8))[0]), BLUE)
        # A delete through the other instance: this instance's old file URL 404s.
        blue_location = resp.headers["Location"]
        with other.app_context():
            lib.delete_media([get_state().session.get(Media, blue_id)])
    with client.get(blue_location) as gone:
        assert gone.status_code == 404
    assert first.id and close_to(mean_color(fetch_cover(client, cover_path("lib", size=8))[0]), RED)


def test_a_revoked_token_is_refused_at_once_even_inside_the_memo_ttl(app, client, clock):
    app.config["MEDIALIB_COVER_MEMO_TTL"] = 60
    library = make_library("priv", album_based=False)
    upload_media(library, root_space(library), None, "r.jpg", jpeg(RED), at(1))
    token = token_for(library)
    path = cover_path("priv", album=None, size=8, access_token=token)
    assert client.get(path).status_code == 302
    assert client.get(path).status_code == 302  # served from the memo
    auth.revoke(library, token)
    resp = client.get(path)
    assert resp.status_code == 403 and resp.get_json()["code"] == "InvalidAccessToken"


def test_an_expired_token_is_refused_even_inside_the_memo_ttl(app, client, clock):
    app.config["MEDIALIB_COVER_MEMO_TTL"] = 60
    library = make_library("priv", album_based=False)
    upload_media(library, root_space(library), None, "r.jpg", jpeg(RED), at(1))
    token, _ = auth.issue_token(library, ttl=10)
    get_state().session.commit()
    path = cover_path("priv", album=None, size=8, access_token=token)
    assert client.get(path).status_code == 302
    clock.advance(11)
    resp = client.get(path)
    assert resp.status_code == 403 and "expired" in resp.get_json()["message"]


def test_the_memo_is_per_token_and_user(client, album_lib):
    library, space = album_lib
    upload_media(library, space, "a", "r.jpg", jpeg(RED), at(1))
    assert client.get(cover_path("lib", size=8)).status_code == 302
    # Same album and size, another caller: not answered from the first caller's memo.
    resp = client.get(cover_path("lib", size=8, access_token="not-a-token"))
    assert resp.status_code == 403 and resp.get_json()["code"] == "InvalidAccessToken"


# -- the file step -----------------------------------------------------------------


def test_a_warm_file_step_runs_no_sql(app, client, album_lib):
    library, space = album_lib
    upload_media(library, space, "a", "r.jpg", jpeg(RED), at(1))
    location = client.get(cover_path("lib", size=16)).headers["Location"]
    with client.get(location) as first:
        body = first.get_data()
    with sql_count(app) as statements, client.get(location) as again:
        assert again.status_code == 200 and again.get_data() == body
        assert again.headers["Cache-Control"].startswith("public, max-age=")
        assert again.headers["ETag"] == first.headers["ETag"]
    assert statements == []


def test_if_none_match_is_a_304_without_rendering_or_sql(app, client, album_lib):
    library, space = album_lib
    media = upload_media(library, space, "a", "r.jpg", jpeg(RED), at(1))
    location = client.get(cover_path("lib", size=16)).headers["Location"]
    with client.get(location) as first:
        etag = first.headers["ETag"]
    state = get_state()
    state.cache.delete(covers.cover_key(state, media, 16))
    with sql_count(app) as statements, client.get(location, headers={"If-None-Match": etag}) as again:
        assert again.status_code == 304 and again.headers["ETag"] == etag
        assert again.headers["Cache-Control"].startswith("public, max-age=")
    assert statements == []
    assert state.cache.get(covers.cover_key(state, media, 16)) is None  # nothing was rendered


def test_private_cover_file_is_private_from_the_cache_too(app, client):
    library = make_library("priv", album_based=False)
    upload_media(library, root_space(library), None, "r.jpg", jpeg(RED), at(1))
    location = client.get(cover_path("priv", album=None, size=8, access_token=token_for(library))).headers["Location"]
    for _ in range(2):  # rendered, then from the cache
        with client.get(location) as resp:
            assert resp.status_code == 200 and resp.headers["Cache-Control"].startswith("private, max-age=")


# -- the master rendition ----------------------------------------------------------


def test_a_smaller_size_is_cut_from_the_master_and_a_larger_one_is_not(app, client, album_lib):
    app.config["MEDIALIB_COVER_MASTER_SIDE"] = 40  # the 120 x 80 source gives a 60 x 40 master
    library, space = album_lib
    media = upload_media(library, space, "a", "r.jpg", jpeg(RED), at(1))
    fetch_cover(client, cover_path("lib", size=24))
    state = get_state()
    master = state.cache.get(covers.master_key(state, media))
    assert (master.short, master.source_size) == (40, (120, 80))
    # Without the source only the master can give a cover: the smaller size still works ...
    os.remove(state.storage.path(media.storage_key))
    image, _, _ = fetch_cover(client, cover_path("lib", size=32))
    assert image.size == (32, 32) and close_to(mean_color(image), RED)
    # ... a size above the master's short side must decode the source, which is gone.
    resp = client.get(cover_path("lib", size=64))
    assert resp.status_code == 404 and resp.get_json()["code"] == "NoCoverMedia"


def test_master_off_always_decodes_the_source(app, client, album_lib):
    app.config["MEDIALIB_COVER_MASTER_SIDE"] = 0
    library, space = album_lib
    media = upload_media(library, space, "a", "r.jpg", jpeg(RED), at(1))
    fetch_cover(client, cover_path("lib", size=24))
    state = get_state()
    assert state.cache.get(covers.master_key(state, media)) is None
    os.remove(state.storage.path(media.storage_key))
    assert client.get(cover_path("lib", size=16)).status_code == 404


# -- the generation ----------------------------------------------------------------


def test_generation_bumps_from_many_threads_and_instances_never_repeat(app, app_config, clock):
    space_pk = 987
    seen = {generations.current(space_pk)}
    values: list[int] = []
    lock = threading.Lock()

    def bump_many(flask_app: Flask) -> None:
        with flask_app.app_context():
            for _ in range(25):
                generations.bump(space_pk)
                value = generations.current(space_pk)
                with lock:
                    values.append(value)

    with second_app(app_config, clock) as other:
        threads = [threading.Thread(target=bump_many, args=(a,)) for a in (app, other, app, other)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        with other.app_context():
            final = generations.current(space_pk)
    assert final == generations.current(space_pk)  # both instances read one value
    assert not seen & set(values)  # a bump never brings back an older generation
    assert final in values


def test_a_warm_302_and_a_warm_file_step_take_one_cache_round_trip_each(app, client, album_lib, monkeypatch):
    library, space = album_lib
    upload_media(library, space, "a", "r.jpg", jpeg(RED), at(1))
    location = client.get(cover_path("lib", size=16)).headers["Location"]
    with client.get(location) as first:
        assert first.status_code == 200
    backend = get_state().cache.cache
    calls: list[str] = []
    depth = [0]  # files: get_many is made of gets; count what the extension asks for

    for name in ("get", "get_many", "has", "set", "add", "delete", "set_many"):
        original = getattr(backend, name)

        def counted(*args, _name=name, _original=original, **kwargs):
            if not depth[0]:
                calls.append(_name)
            depth[0] += 1
            try:
                return _original(*args, **kwargs)
            finally:
                depth[0] -= 1

        monkeypatch.setattr(backend, name, counted)
    with sql_count(app) as statements:
        assert client.get(cover_path("lib", size=16)).headers["Location"] == location
        assert calls == ["get_many"]
        with client.get(location) as again:
            assert again.status_code == 200 and again.get_data() == first.get_data()
    assert calls == ["get_many", "get_many"] and statements == []
