"""Builders of the job tests: media in albums and through the material API, closing extra apps."""

from __future__ import annotations

import io

from cover_helpers import jpeg, make_library, root_space, upload
from material_helpers import BASE

from flask_medialib import auth, get_state, jobs
from flask_medialib.services import library as lib


def album_with_red(app):
    library = make_library("lib", public_read=True)
    space = root_space(library)
    lib.create_album(library, space, "a")
    return upload(library, space, "a", "red.jpg", jpeg((200, 0, 0)))


def stored(state, data: bytes) -> str:
    """A storage key holding ``data`` (what a client uploads before naming it in a material add)."""
    handle, temp = state.storage.temp_file()
    with handle:
        handle.write(data)
    key = state.storage.new_key(".jpg")
    state.storage.put_file(temp, key)
    return key


def add_materials(app, colors=((200, 0, 0), (0, 200, 0)), existing=None, broker=None):
    """Images (and a text) through the material API of enterprise ``existing`` (library id, space id)
    or a new one; returns the added items. The images' bytes are first uploaded through SMH (a material
    ``path`` names a stored file as ``media:<id>``); with ``broker``, the jobs of those uploads are purged,
    so what is queued afterwards is the add's own."""
    state = get_state(app)
    if existing is None:
        library, _ = lib.create_library("mat", multi_tenant=True)
        space = lib.create_space(library, "acme")
    else:
        library = lib.get_library(existing[0])
        space = lib.get_space(library, existing[1])
    writer, _ = auth.issue_token(library, space=space, grants=frozenset({"material_write"}))
    state.session.commit()
    sources = [
        lib.save_upload(lib.folder(library, space, None), f"source{i}.jpg", io.BytesIO(jpeg(c)))
        for i, c in enumerate(colors)
    ]
    if broker is not None:
        broker.purge()
    items = [{"name": f"p{i}", "bizType": 2, "type": 1, "path": f"media:{m.id}"} for i, m in enumerate(sources)]
    items.append({"name": "t", "bizType": 2, "type": 4, "content": "hello"})
    resp = app.test_client().post(f"{BASE}/add", query_string={"token": writer, "openId": "alice"}, json=items)
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()["list"]


def close_app(app) -> None:
    """Close what an extra app of a test opened (its broker pool, database and Redis sockets)."""
    state = get_state(app)
    with app.app_context():
        state.session.remove()
        jobs.close(app)
        state.db.engine.dispose()
        state.cache.cache._write_client.connection_pool.disconnect()
