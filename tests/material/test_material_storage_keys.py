"""Storage keys are never taken from clients nor shown to them (issue 10, section 2).

A material ``path`` is an http(s) URL or ``media:<id>``, a stored file of the
caller's own enterprise; bytes belong to their space and go when nothing in
that space references them any more.
"""

from __future__ import annotations

import io
import json
import os
import re

import pytest
from material_helpers import assert_envelope, item
from PIL import Image
from sqlalchemy import event as sa_event
from sqlalchemy import func, select

from flask_medialib import auth, get_state
from flask_medialib.models import MaterialEvent, Media
from flask_medialib.services import library as lib

# A storage key as LocalStorage writes it, or its last part (what a file name would carry).
KEY_PART = re.compile(r"[0-9a-f]{32}")


@pytest.fixture
def app_config(app_config: dict) -> dict:
    return {**app_config, "MEDIALIB_FACE_DETECTOR": "none"}


def png(color: str = "red") -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), color).save(buf, "PNG")
    return buf.getvalue()


def upload(client, token: str, name: str, color: str = "red", library: str = "mat", space: str = "acme") -> int:
    resp = client.put(f"/api/v1/file/{library}/{space}/{name}", query_string={"access_token": token}, data=png(color))
    assert resp.status_code == 201, resp.get_json()
    return int(resp.get_json()["mediaId"])


def key_of(media_id: int) -> str:
    media = get_state().session.get(Media, media_id)
    assert media is not None and media.storage_key
    return media.storage_key


def count_media() -> int:
    return get_state().session.execute(select(func.count()).select_from(Media)).scalar_one()


@pytest.fixture
def victim(app, client) -> tuple[str, int, str]:
    """Another library's private file: (admin token, media id, its storage key)."""
    library, _ = lib.create_library("private")
    admin, _ = auth.issue_token(library, grants=frozenset({"admin"}))
    get_state().session.commit()
    media_id = upload(client, admin, "secret.png", "blue", library="private", space="-")
    return admin, media_id, key_of(media_id)


# -- a path is never a raw storage key --------------------------------------------


def test_add_refuses_the_storage_key_of_another_librarys_file(api, victim):
    _, _, key = victim
    body = assert_envelope(api.add([item(path=key)]), 422)
    assert body["map"]["badIndexes"] == [0] and "path" in body["msg"]
    assert key not in body["msg"]
    assert count_media() == 1  # only the victim's file


@pytest.mark.parametrize("path", ["tmp", "ab", "ab/cd", "."])
def test_add_refuses_staging_and_folder_keys(api, path):
    os.makedirs(os.path.join(get_state().storage.root, "ab", "cd"), exist_ok=True)  # type: ignore[attr-defined]
    assert_envelope(api.add([item(path=path)]), 422)
    assert count_media() == 0


def test_the_add_error_does_not_tell_whether_a_key_exists(api, victim):
    _, _, key = victim
    missing = key[:-8] + "00000000.png"
    present = assert_envelope(api.add([item(path=key)]), 422)
    absent = assert_envelope(api.add([item(path=missing)]), 422)
    assert present["msg"].replace(key, "K") == absent["msg"].replace(missing, "K")
    assert key not in present["msg"] and missing not in absent["msg"]


def test_a_reader_who_learnt_a_key_keeps_no_access_after_revocation(app, client, api, corp, victim):
    """Read once, token revoked: the key must not give the bytes through one's own library."""
    _, media_id, key = victim
    reader, _ = auth.issue_token(lib.get_library("private"))
    get_state().session.commit()
    download = client.get("/api/v1/file/private/-/secret.png", query_string={"access_token": reader})
    assert download.status_code == 302
    auth.revoke(lib.get_library("private"), reader)
    # Whatever the reader saw, a key (or the media id) of that library adds nothing to its own.
    assert_envelope(api.add([item(path=key)]), 422)
    assert_envelope(api.add([item(path=f"media:{media_id}")]), 422)
    cover = client.get("/api/v1/album/mat/acme/cover", query_string={"access_token": corp.reader})
    assert cover.status_code == 404


def test_media_of_another_enterprise_or_missing_gets_the_same_answer(api, client, corp):
    other = upload(client, corp.admin, "o.png", space="other")
    foreign = assert_envelope(api.add([item(path=f"media:{other}")]), 422)
    missing = assert_envelope(api.add([item(path="media:987654")]), 422)
    assert foreign["msg"].replace(str(other), "N") == missing["msg"].replace("987654", "N")
    assert foreign["map"]["error"] == missing["map"]["error"]


def test_media_reference_of_the_own_enterprise_shares_the_stored_file(api, client, corp):
    source = upload(client, corp.admin, "s.png")
    created = assert_envelope(api.add([item(path=f"media:{source}")]), 200)["list"][0]
    assert created["path"] == f"media:{created['id']}"
    row = get_state().session.get(Media, created["id"])
    assert row is not None and row.storage_key == key_of(source) and row.mime == "image/png"


@pytest.mark.parametrize("path", ["media:", "media:0", "media:-1", "media:1x", "media:\u0661", "MEDIA:1"])
def test_malformed_media_references_are_refused(api, path):
    assert_envelope(api.add([item(path=path)]), 422)


# -- storage keys never appear in a response ------------------------------------------


def test_download_names_the_file_not_its_storage_key(client, victim):
    admin, _, key = victim
    signed = client.get("/api/v1/file/private/-/secret.png", query_string={"access_token": admin})
    assert signed.status_code == 302
    assert not KEY_PART.search(signed.headers["Location"].split("/f/", 1)[0])
    with client.get(signed.headers["Location"]) as served:
        assert served.status_code == 200
    headers = "\n".join(f"{k}: {v}" for k, v in served.headers.items())
    assert os.path.basename(key) not in headers and key.split("/")[-1][:32] not in headers
    assert "secret.png" in served.headers.get("Content-Disposition", "secret.png")


def test_material_list_and_events_show_no_storage_keys(api, client, corp):
    uploaded = upload(client, corp.admin, "u.png")
    key = key_of(uploaded)
    (shared,) = [m["id"] for m in assert_envelope(api.add([item(path=f"media:{uploaded}")]), 200)["list"]]
    listed = assert_envelope(api.list(token="admin", corpId="acme"), 200)["list"]
    by_ids = assert_envelope(api.call("GET", "listByIds", token="reader", materialIds=f"{uploaded},{shared}"), 200)[
        "list"
    ]
    feed = assert_envelope(api.call("GET", "events", token="admin", corpId="acme"), 200)["list"]
    for answer in (listed, by_ids, feed):
        text = json.dumps(answer)
        assert key not in text and os.path.basename(key) not in text
    assert {m["id"]: m["path"] for m in by_ids} == {uploaded: f"media:{uploaded}", shared: f"media:{shared}"}


def test_legacy_events_with_storage_keys_are_shown_without_them(api, corp):
    """Outbox rows written before this rule carried keys in ``path``; the feed rewrites them."""
    (created,) = [m for m in assert_envelope(api.add([item()]), 200)["list"]]
    session = get_state().session
    event = session.execute(select(MaterialEvent)).scalar_one()
    key = "ab/cd/abcdef0123456789abcdef0123456789.jpg"
    legacy = dict(created, path=key, tmbPath=key, coverPath=key)
    event.payload = json.dumps({"materials": [legacy]})
    session.commit()
    feed = assert_envelope(api.call("GET", "events", token="admin", corpId="acme"), 200)["list"]
    shown = feed[0]["data"]["materials"][0]
    assert (shown["path"], shown["tmbPath"], shown["coverPath"]) == (f"media:{created['id']}", None, None)


def test_legacy_rows_with_key_thumbnails_show_no_keys(api, corp):
    """0.1 also took storage keys as ``tmbPath``; such rows show no thumbnail rather than the key."""
    (created,) = assert_envelope(api.add([item(tmbPath="https://cdn.example.com/t.jpg")]), 200)["list"]
    assert created["tmbPath"] == created["coverPath"] == "https://cdn.example.com/t.jpg"
    session = get_state().session
    row = session.get(Media, created["id"])
    row.thumb_url = "ab/cd/abcdef0123456789abcdef0123456789.jpg"
    session.commit()
    (shown,) = assert_envelope(api.call("GET", "listByIds", materialIds=created["id"]), 200)["list"]
    assert shown["tmbPath"] is None and shown["coverPath"] is None
    assert_envelope(api.add([item(tmbPath="ab/cd/abcdef0123456789abcdef0123456789.jpg")]), 422)


# -- deleting bytes -----------------------------------------------------------------------


def _legacy_share(space_id: str, key: str) -> int:
    """A row of another enterprise pointing at ``key``: what the old ``add`` of a raw key created."""
    state = get_state()
    library = lib.get_library("mat")
    space = lib.get_space(library, space_id)
    now = state.clock()
    row = Media(
        space_pk=space.pk,
        folder_pk=0,
        name="borrowed",
        kind=1,
        storage_key=key,
        created_at=now,
        updated_at=now,
        uploaded_at=now,
    )
    state.session.add(row)
    state.session.commit()
    return row.id


def test_a_delete_through_one_enterprise_leaves_no_bytes_served_to_another(api, client, corp):
    storage = get_state().storage
    owned = upload(client, corp.admin, "mine.png", space="other")
    key = key_of(owned)
    _legacy_share("acme", key)  # acme borrowed the bytes of other's file through its key
    # The owner deletes its file through the material API (an uploaded file is a material too).
    deleted = api.call("POST", "delete", token="admin", corpId="other", json={"materialIds": str(owned)})
    assert assert_envelope(deleted, 200)["list"] == [owned]
    assert not storage.exists(key)  # nobody else keeps the bytes of the owner's deleted file
    cover = client.get("/api/v1/album/mat/acme/cover", query_string={"access_token": corp.reader})
    if cover.status_code == 302:
        assert client.get(cover.headers["Location"]).status_code == 404


def test_a_borrower_deleting_its_legacy_row_keeps_the_owners_bytes(api, client, corp):
    storage = get_state().storage
    owned = upload(client, corp.admin, "mine.png", space="other")
    key = key_of(owned)
    borrowed = _legacy_share("acme", key)
    assert_envelope(api.call("POST", "delete", json={"materialIds": str(borrowed)}), 200)
    assert storage.exists(key)  # still the uploaded file of enterprise "other"


def test_bytes_go_when_nothing_in_their_space_references_them(api, client, corp):
    storage = get_state().storage
    source = upload(client, corp.admin, "s.png")
    key = key_of(source)
    (first, second) = [m["id"] for m in assert_envelope(api.add([item(path=f"media:{source}")] * 2), 200)["list"]]
    resp = client.delete("/api/v1/file/mat/acme/s.png", query_string={"access_token": corp.admin})
    assert resp.status_code == 204
    assert storage.exists(key)  # two materials still reference the bytes
    assert_envelope(api.call("POST", "delete", json={"materialIds": str(first)}), 200)
    assert storage.exists(key)
    assert_envelope(api.call("POST", "delete", json={"materialIds": str(second)}), 200)
    assert not storage.exists(key)  # the last reference in the space went


def test_a_material_cannot_reference_media_deleted_before_it(api, client, corp):
    source = upload(client, corp.admin, "s.png")
    key = key_of(source)
    client.delete("/api/v1/file/mat/acme/s.png", query_string={"access_token": corp.admin})
    assert not get_state().storage.exists(key)
    assert_envelope(api.add([item(path=f"media:{source}")]), 422)


def test_references_are_checked_inside_the_import_lock_and_the_transaction(api, client, corp, app):
    """The check of ``media:<id>`` and the insert see the same database: no delete can slip between."""
    source = upload(client, corp.admin, "s.png")
    engine = get_state().db.engine
    seen: list[tuple[int, str]] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        seen.append((id(conn.connection.dbapi_connection), " ".join(statement.split()).upper()))

    def committed(conn):
        seen.append((id(conn.connection.dbapi_connection), "COMMIT"))

    sa_event.listen(engine, "before_cursor_execute", record)
    sa_event.listen(engine, "commit", committed)
    try:
        assert_envelope(api.add([item(path=f"media:{source}")]), 200)
    finally:
        sa_event.remove(engine, "before_cursor_execute", record)
        sa_event.remove(engine, "commit", committed)

    def first(pattern: str) -> int:
        return next(i for i, (_, sql) in enumerate(seen) if re.search(pattern, sql))

    lock = first(r"^INSERT INTO MEDIALIB_IMPORT_LOCK")
    serialise = first(r"^(UPDATE MEDIALIB_SPACE|SELECT .* FROM MEDIALIB_SPACE .* FOR UPDATE)")
    check = first(r"^SELECT .* FROM MEDIALIB_MEDIA .*STORAGE_KEY IS NOT NULL")
    insert = first(r"^INSERT INTO MEDIALIB_MEDIA")
    unlock = first(r"^DELETE FROM MEDIALIB_IMPORT_LOCK")
    assert lock < serialise < check < insert < unlock
    # One connection, hence one transaction, from the serialisation to the insert.
    assert seen[serialise][0] == seen[check][0] == seen[insert][0]
    assert not any(sql == "COMMIT" and c == seen[insert][0] for c, sql in seen[serialise:insert])
    assert any(sql == "COMMIT" and c == seen[insert][0] for c, sql in seen[insert:unlock])
