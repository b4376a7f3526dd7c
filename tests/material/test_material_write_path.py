"""One write path (issue 10, section 3): every media change, from SMH, the CLI or the material API, is an event.

A replica that follows the pull feed with an admin token ends up with exactly
the materials the list shows, whichever side made the changes.
"""

from __future__ import annotations

import io
import os
from typing import Any

import pytest
import sqlalchemy as sa
from material_helpers import assert_envelope, item
from PIL import Image
from sqlalchemy import func, select

from flask_medialib import events, get_state
from flask_medialib.errors import HTTPError
from flask_medialib.models import MaterialEvent, Media, WebhookDelivery
from flask_medialib.services import library as lib
from flask_medialib.services import media as media_service
from flask_medialib.storage import LocalStorage

HOOK = "http://127.0.0.1:9/hook"  # never called here: deliveries are only queued


@pytest.fixture
def app_config(app_config: dict) -> dict:
    return {
        **app_config,
        "MEDIALIB_FACE_DETECTOR": "none",
        "MEDIALIB_WEBHOOK_URLS": [HOOK],
        "MEDIALIB_WEBHOOK_SECRET": "s",
    }


@pytest.fixture
def albums(corp) -> Any:
    """Make the corp's library album-based (an SMH album library that also speaks the material API)."""
    library = lib.get_library(corp.library_id)
    library.album_based = True
    get_state().session.commit()
    space = lib.get_space(library, corp.space_id)
    for name in ("trip", "home"):
        lib.create_album(library, space, name)
    return space


def png(color: str = "red") -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), color).save(buf, "PNG")
    return buf.getvalue()


def smh(client, corp, method: str, path: str, data: bytes | None = None):
    return client.open(
        f"/api/v1/file/mat/acme/{path}", method=method, query_string={"access_token": corp.admin}, data=data
    )


def feed(api) -> list[dict]:
    body = assert_envelope(api.call("GET", "events", token="admin", corpId="acme", open_id="replica"), 200)
    return body["list"]


def replay(messages: list[dict]) -> dict[int, dict]:
    """What a replica holds after applying ``messages`` in order."""
    held: dict[int, dict] = {}
    for message in messages:
        data = message["data"]
        if message["eventType"] in ("material_add", "material_rename"):
            held.update((m["id"], m) for m in data["materials"])
        else:
            for gone in data["materialIds"]:
                held.pop(gone, None)
    return held


def listed(api) -> dict[int, dict]:
    body = assert_envelope(api.list(token="admin", corpId="acme", open_id="replica", pageSize=100), 200)
    return {m["id"]: m for m in body["list"]}


def event_count() -> int:
    return get_state().session.execute(select(func.count()).select_from(MaterialEvent)).scalar_one()


def test_a_replica_following_the_feed_sees_every_side(api, client, corp, albums, runner, tmp_path):
    assert smh(client, corp, "PUT", "trip/a.png", png("red")).status_code == 201
    assert smh(client, corp, "PUT", "trip/b.png", png("green")).status_code == 201
    assert smh(client, corp, "PUT", "home/c.png", png("blue")).status_code == 201
    folder = tmp_path / "import"
    folder.mkdir()
    (folder / "d.png").write_bytes(png("white"))
    (folder / "e.png").write_bytes(png("black"))
    imported = runner.invoke(args=["medialib", "import", "mat", "acme", "--album", "home", str(folder)])
    assert imported.exit_code == 0, imported.output
    (material,) = [m["id"] for m in assert_envelope(api.add([item(name="linked")]), 200)["list"]]
    assert smh(client, corp, "DELETE", "home/c.png").status_code == 204
    deleted = client.delete("/api/v1/directory/mat/acme/trip", query_string={"access_token": corp.admin})
    assert deleted.status_code == 204

    messages = feed(api)
    kinds = [m["eventType"] for m in messages]
    assert kinds == ["material_add"] * 6 + ["material_delete"] * 2
    assert messages[7]["data"]["materialIds"] == sorted(messages[7]["data"]["materialIds"])
    assert len(messages[7]["data"]["materialIds"]) == 2  # the album's two files, in one event
    held = replay(messages)
    assert held == listed(api)  # the same materials, in the same shape, as the API lists them
    assert {m["name"] for m in held.values()} == {"d.png", "e.png", "linked"} and material in held
    # The bytes of the deleted files went with them; the imported ones stay.
    keys = get_state().session.execute(select(Media.storage_key).where(Media.storage_key.is_not(None))).scalars()
    assert [p for p in _files() if not p.startswith("tmp")] == sorted(keys)
    # Webhooks got the same events queued in the same transactions.
    queued = get_state().session.execute(select(func.count()).select_from(WebhookDelivery)).scalar_one()
    assert queued == len(messages)


def test_an_smh_upload_event_is_the_material_as_the_api_shows_it(api, client, corp, albums):
    resp = smh(client, corp, "PUT", "trip/a.png", png())
    media_id = resp.get_json()["mediaId"]
    (event,) = feed(api)
    (shown,) = assert_envelope(api.call("GET", "listByIds", token="admin", corpId="acme", materialIds=media_id), 200)[
        "list"
    ]
    assert event["data"]["materials"] == [shown]
    assert shown["path"] == f"media:{media_id}" and shown["type"] == 1 and shown["size"] == len(png())


def test_signals_announce_smh_changes_after_the_commit(app, client, corp, albums):
    seen: list[tuple[str, int]] = []

    def on_event(sender, event):
        with get_state(sender).db.engine.connect() as conn:
            seen.append((event["eventType"], conn.execute(select(func.count()).select_from(Media)).scalar_one()))

    with (
        events.material_add.connected_to(on_event, app),
        events.material_delete.connected_to(on_event, app),
    ):
        smh(client, corp, "PUT", "trip/a.png", png())
        smh(client, corp, "DELETE", "trip/a.png")
    assert seen == [("material_add", 1), ("material_delete", 0)]


def test_a_refused_upload_writes_no_event_and_keeps_no_bytes(api, client, corp, albums):
    assert smh(client, corp, "PUT", "trip/a.png", png()).status_code == 201
    before = [p for p in _files() if not p.startswith("tmp")]
    assert smh(client, corp, "PUT", "trip/a.png", png("blue")).status_code == 409  # same name
    assert smh(client, corp, "PUT", "trip/x.png", b"not an image").status_code == 400  # ExtnameNotAllowed
    assert event_count() == 1
    assert [p for p in _files() if not p.startswith("tmp")] == before


def test_an_upload_into_an_album_deleted_meanwhile_is_a_404(api, client, corp, albums):
    """The album is resolved before the body is read; it may be gone by the time the row goes in."""
    where = lib.folder(lib.get_library("mat"), albums, "trip")
    lib.delete_album(lib.get_library("mat"), albums, "trip")
    with pytest.raises(HTTPError) as caught:
        lib.save_upload(where, "a.png", io.BytesIO(png()))
    assert (caught.value.code, caught.value.code_name) == (404, "DirectoryNotFound")
    assert get_state().session.execute(select(func.count()).select_from(Media)).scalar_one() == 0
    assert [p for p in _files() if not p.startswith("tmp")] == []


class FailingStorage(LocalStorage):
    """Local storage whose moves fail: a full disk at the worst moment."""

    def put_file(self, temp_path: str, key: str, content_type: str | None = None) -> None:
        super().put_file(temp_path, key, content_type)
        raise OSError("disk full")


def test_a_failed_store_leaves_no_row_no_event_and_no_bytes(app, api, client, corp, albums):
    state = get_state()
    state.storage = FailingStorage(str(state.storage.root))  # type: ignore[attr-defined]
    with pytest.raises(OSError, match="disk full"):
        lib.save_upload(lib.folder(lib.get_library("mat"), albums, "trip"), "a.png", io.BytesIO(png()))
    assert state.session.execute(select(func.count()).select_from(Media)).scalar_one() == 0
    assert event_count() == 0
    assert [p for p in _files() if not p.startswith("tmp")] == []


def test_replace_changes_bytes_in_one_event_and_drops_the_old_ones(api, client, corp, albums):
    state = get_state()
    media_id = smh(client, corp, "PUT", "trip/a.png", png()).get_json()["mediaId"]
    media = state.session.get(Media, media_id)
    old_key, old_version = media.storage_key, media.version
    handle, temp = state.storage.temp_file()
    with handle:
        handle.write(png("blue"))
    new_key = state.storage.new_key(".png")
    shown = media_service.replace(albums, media, staged=(temp, new_key), size=len(png("blue")))
    assert shown["path"] == f"media:{media_id}"
    assert not state.storage.exists(old_key) and state.storage.exists(new_key)
    assert state.session.get(Media, media_id).version == old_version + 1
    last = feed(api)[-1]
    assert last["eventType"] == "material_rename" and last["data"]["materials"] == [shown]


def test_replace_keeps_old_bytes_another_material_references(api, client, corp, albums):
    state = get_state()
    media_id = smh(client, corp, "PUT", "trip/a.png", png()).get_json()["mediaId"]
    assert_envelope(api.add([item(path=f"media:{media_id}")]), 200)
    media = state.session.get(Media, media_id)
    old_key = media.storage_key
    handle, temp = state.storage.temp_file()
    with handle:
        handle.write(png("blue"))
    media_service.replace(albums, media, staged=(temp, state.storage.new_key(".png")))
    assert state.storage.exists(old_key)


def test_smh_writes_bump_the_space_generation(api, client, corp, albums):
    assert assert_envelope(api.list(), 200)["map"]["count"] == 0  # now cached for this generation
    smh(client, corp, "PUT", "trip/a.png", png())
    assert assert_envelope(api.list(), 200)["map"]["count"] == 1
    smh(client, corp, "DELETE", "trip/a.png")
    assert assert_envelope(api.list(), 200)["map"]["count"] == 0


def test_the_space_is_serialised_before_anything_is_read(app, corp, backend):
    """SQLite: the write lock is taken at once, so counts read in the transaction cannot go stale."""
    if backend != "sqlite":
        pytest.skip("PostgreSQL locks the space row FOR UPDATE (the same call)")
    state = get_state()
    space = lib.get_space(lib.get_library("mat"), "acme")
    url = state.db.engine.url
    other = sa.create_engine(url, connect_args={"timeout": 0})
    try:
        with (
            media_service.transaction(space),
            other.connect() as conn,
            pytest.raises(sa.exc.OperationalError, match="locked"),
        ):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
    finally:
        other.dispose()


def _files() -> list[str]:
    root = str(get_state().storage.root)  # type: ignore[attr-defined]
    return sorted(os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs)
