"""Issue 10 §1: no derived artefact or signed URL outlives its media into another that got its id.

Each scenario makes a new media get the integer id of a deleted (or foreign)
one, then looks at the pixels (or the status) that come back: a media id that
repeats must never bring back another media's bytes.
"""

from __future__ import annotations

import io

import pytest
import sqlalchemy as sa
from cover_helpers import (
    at,
    close_to,
    cover_path,
    fetch_cover,
    insert_media,
    jpeg,
    make_library,
    mean_color,
    root_space,
    second_app,
    token_for,
)
from cover_helpers import upload as upload_media
from flask import Flask
from PIL import Image

from flask_medialib import get_state
from flask_medialib.cli import create_tables
from flask_medialib.models import IMAGE, Base, Library, Media
from flask_medialib.services import library as lib

RED, GREEN, BLUE = (220, 20, 20), (20, 200, 20), (20, 20, 220)
API = "/api/v1"


@pytest.fixture
def app_config(app_config: dict, tmp_path) -> dict:
    # A cache that two apps can share (Redis on the PostgreSQL run, files on SQLite).
    if app_config.get("MEDIALIB_CACHE_TYPE") == "SimpleCache":
        return {**app_config, "MEDIALIB_CACHE_TYPE": "FileSystemCache", "MEDIALIB_CACHE_DIR": str(tmp_path / "cache")}
    return app_config


def next_id_will_be(media_id: int) -> None:
    """Make the database hand out ``media_id`` next, as a rebuilt or restored one (or old SQLite) does."""
    session = get_state().session
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            sa.text("SELECT setval(pg_get_serial_sequence('medialib_media', 'id'), :value, false)"),
            {"value": media_id},
        )
    elif session.execute(sa.text("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'")).first():
        session.execute(sa.text("UPDATE sqlite_sequence SET seq = :value WHERE name = 'medialib_media'"),
                        {"value": media_id - 1})  # fmt: skip
    session.commit()


def private_and_public() -> tuple[Library, Library]:
    private = make_library("private", album_based=False)
    public = make_library("public", album_based=False, public_read=True)
    return private, public


def image_of(body: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(body))
    image.load()
    return image


def download_location(client, library_id: str, name: str, token: str) -> str:
    resp = client.get(f"{API}/file/{library_id}/-/{name}?access_token={token}")
    assert resp.status_code == 302, resp.get_data(as_text=True)
    return str(resp.headers["Location"])


# -- one database: an id freed by a delete ---------------------------------------------


def test_sqlite_never_hands_out_a_deleted_media_id_again(app, backend):
    if backend != "sqlite":
        pytest.skip("PostgreSQL sequences never go back by themselves")
    private, public = private_and_public()
    gone = upload_media(private, root_space(private), None, "r.jpg", jpeg(RED), at(1))
    gone_id = gone.id
    lib.delete_media([gone])
    fresh = upload_media(public, root_space(public), None, "g.jpg", jpeg(GREEN), at(2))
    assert fresh.id > gone_id


def test_media_uids_are_random_and_distinct(app):
    private, _ = private_and_public()
    made = [upload_media(private, root_space(private), None, f"{n}.jpg", jpeg(RED), at(n)) for n in range(3)]
    uids = {media.uid for media in made}
    assert len(uids) == 3 and all(len(uid) >= 22 for uid in uids)


def test_a_deleted_private_photo_never_becomes_the_cover_of_a_public_one_with_its_id(app, client):
    private, public = private_and_public()
    secret = upload_media(private, root_space(private), None, "r.jpg", jpeg(RED), at(1))
    token = token_for(private)
    for size in (16, None):  # a crop (and its master) and the full size are cached now
        query = {"size": size} if size else {}
        image, _, _ = fetch_cover(client, cover_path("private", album=None, access_token=token, **query))
        assert close_to(mean_color(image), RED)
    secret_id = secret.id
    lib.delete_media([secret])
    next_id_will_be(secret_id)
    fresh = upload_media(public, root_space(public), None, "g.jpg", jpeg(GREEN), at(2))
    assert fresh.id == secret_id  # the case: a new media with the deleted one's id
    for size in (16, 24, None):  # the rendered size, a new size (cut from a master), the full size
        query = {"size": size} if size else {}
        image, _, _ = fetch_cover(client, cover_path("public", album=None, **query))  # anonymous
        assert close_to(mean_color(image), GREEN), (size, mean_color(image))
        if size:
            assert image.size == (size, size)


def test_a_cover_url_of_a_deleted_media_is_gone_not_another_media(app, client):
    private, public = private_and_public()
    secret = upload_media(private, root_space(private), None, "r.jpg", jpeg(RED), at(1))
    resp = client.get(cover_path("private", album=None, size=16, access_token=token_for(private)))
    old_location = resp.headers["Location"]
    with client.get(old_location) as first:
        assert first.status_code == 200
    secret_id = secret.id
    lib.delete_media([secret])
    next_id_will_be(secret_id)
    assert upload_media(public, root_space(public), None, "g.jpg", jpeg(GREEN), at(2)).id == secret_id
    with client.get(old_location) as again:
        assert again.status_code == 404 and again.get_json()["code"] == "FileNotFound"


def test_an_old_download_url_of_a_deleted_file_never_serves_the_file_that_got_its_id(app, client):
    private, public = private_and_public()
    secret = upload_media(private, root_space(private), None, "r.jpg", jpeg(RED), at(1))
    old_location = download_location(client, "private", "r.jpg", token_for(private))
    with client.get(old_location) as first:
        assert first.status_code == 200 and close_to(mean_color(image_of(first.get_data())), RED)
    secret_id = secret.id
    lib.delete_media([secret])
    next_id_will_be(secret_id)
    assert upload_media(public, root_space(public), None, "g.jpg", jpeg(GREEN), at(2)).id == secret_id
    with client.get(old_location) as again:
        assert again.status_code == 404 and again.get_json()["code"] == "FileNotFound"
    # The new file's own URL serves its own bytes.
    with client.get(download_location(client, "public", "g.jpg", token_for(public))) as own:
        assert own.status_code == 200 and close_to(mean_color(image_of(own.get_data())), GREEN)


def test_a_broken_mark_of_a_deleted_media_does_not_hide_the_cover_of_one_with_its_id(app, client):
    private, public = private_and_public()
    broken = insert_media(root_space(private), None, kind=IMAGE, data=b"not an image", ext=".jpg", at=at(1))
    resp = client.get(cover_path("private", album=None, size=16, access_token=token_for(private)))
    assert resp.status_code == 404 and resp.get_json()["code"] == "NoCoverMedia"  # marked broken now
    broken_id = broken.id
    lib.delete_media([broken])
    next_id_will_be(broken_id)
    assert upload_media(public, root_space(public), None, "g.jpg", jpeg(GREEN), at(2)).id == broken_id
    image, _, _ = fetch_cover(client, cover_path("public", album=None, size=16))
    assert close_to(mean_color(image), GREEN)


def test_a_download_is_named_after_the_media_never_its_storage_key(app, client):
    private, _ = private_and_public()
    media = upload_media(private, root_space(private), None, "holiday.jpg", jpeg(RED), at(1))
    key = media.storage_key
    with client.get(download_location(client, "private", "holiday.jpg", token_for(private))) as resp:
        assert resp.status_code == 200
        disposition = resp.headers.get("Content-Disposition", "")
        assert "holiday.jpg" in disposition
        assert key.rsplit("/", 1)[-1] not in disposition and key.split("/")[0] + "/" not in disposition
        assert resp.mimetype == "image/jpeg"
        assert key not in str(resp.headers)


# -- a rebuilt database, and two apps on one cache --------------------------------------


def _public_cover(flask_app: Flask, size: int | None = 16) -> tuple[float, ...]:
    query = {"size": size} if size else {}
    with flask_app.app_context():
        image, _, _ = fetch_cover(flask_app.test_client(), cover_path("public", album=None, **query))
    return mean_color(image)


def _public_library_with(color: tuple[int, int, int]) -> Media:
    _, public = private_and_public()
    return upload_media(public, root_space(public), None, "p.jpg", jpeg(color), at(1))


def test_a_rebuilt_database_with_the_cache_kept_never_shows_the_old_covers(app, app_config, client, clock):
    old = _public_library_with(RED)
    old_id = old.id
    old_location = client.get(cover_path("public", album=None, size=16)).headers["Location"]
    assert close_to(_public_cover(app), RED)
    # The operator drops and recreates the tables; the cache (files or Redis) stays.
    state = get_state()
    state.session.remove()
    Base.metadata.drop_all(state.db.engine)
    # A new worker process starts on the rebuilt database (nothing of the old one in memory).
    with second_app(app_config, clock) as rebuilt:
        with rebuilt.app_context():
            create_tables()
            next_id_will_be(old_id)
            assert _public_library_with(GREEN).id == old_id
        for size in (16, 24, None):
            assert close_to(_public_cover(rebuilt, size), GREEN), size
        with rebuilt.app_context(), rebuilt.test_client().get(old_location) as stale:
            assert stale.status_code in (403, 404)  # a URL of the old database names nothing here


def test_two_apps_with_two_databases_on_one_cache_never_see_each_others_covers(app, app_config, clock, tmp_path):
    # Same cache and key prefix, same SECRET_KEY, same library and space ids, same media ids.
    red_id = _public_library_with(RED).id
    red_location = app.test_client().get(cover_path("public", album=None, size=16)).headers["Location"]
    assert close_to(_public_cover(app), RED)
    other_db = {
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'other.sqlite3'}",
        "MEDIALIB_STORAGE_ROOT": str(tmp_path / "other-storage"),
    }
    with second_app(app_config, clock, **other_db) as other:
        with other.app_context():
            create_tables()
            next_id_will_be(red_id)
            assert _public_library_with(GREEN).id == red_id
        for size in (16, 24, None):
            assert close_to(_public_cover(other, size), GREEN), size
            assert close_to(_public_cover(app, size), RED), size
        assert close_to(_public_cover(other), GREEN)  # warm: from the memo
        with other.app_context(), other.test_client().get(red_location) as foreign:
            assert foreign.status_code == 403  # signed for another installation
            assert foreign.get_json()["code"] == "InvalidSignature"


def test_rows_inserted_in_bulk_get_uids_of_their_own(app):
    """Material imports insert rows with Core ``insert`` (executemany): the default still gives each a uid."""
    private, _ = private_and_public()
    space = root_space(private)
    now = at(0)
    row = {"space_pk": space.pk, "folder_pk": 0, "name": "m", "kind": IMAGE, "url": "https://example.com/m.jpg",
           "created_at": now, "updated_at": now, "uploaded_at": now}  # fmt: skip
    session = get_state().session
    session.execute(sa.insert(Media.__table__), [dict(row, name=f"m{n}") for n in range(5)])
    session.commit()
    uids = list(session.execute(sa.select(Media.uid)).scalars())
    assert len(uids) == 5 and len(set(uids)) == 5 and all(uid and len(uid) >= 22 for uid in uids)
