"""Videos (first frame, rotation), broken media skipped once, URL-only media (no face model)."""

from __future__ import annotations

import io
import logging
import os
from urllib.parse import urlsplit

import pytest
from cover_helpers import (
    at,
    big_header_png,
    close_to,
    cover_path,
    fetch_cover,
    insert_media,
    jpeg,
    make_library,
    mean_color,
    root_space,
    upload,
)
from PIL import Image
from served import get_served

from flask_medialib import get_state
from flask_medialib.models import IMAGE, VIDEO
from flask_medialib.services import library as lib

GREEN = (20, 200, 20)


@pytest.fixture
def album(app):
    library = make_library("lib", album_based=True, public_read=True)
    space = root_space(library)
    album = lib.create_album(library, space, "a")
    return library, space, album


def test_video_cover_is_its_first_frame(client, album, media_dir):
    library, space, _ = album
    upload(library, space, "a", "blue.mp4", (media_dir / "blue.mp4").read_bytes(), at(1))
    image, _, headers = fetch_cover(client, cover_path("lib", size=32))
    assert image.size == (32, 32) and headers["Content-Type"] == "image/jpeg"
    red, green, blue = mean_color(image)
    assert blue > 150 and red < 60 and green < 60
    full, _, _ = fetch_cover(client, cover_path("lib"))
    assert full.size == (320, 240)  # full resolution without size


def test_rotated_video_cover_is_upright(client, album, media_dir):
    library, space, _ = album
    upload(library, space, "a", "rotated.mp4", (media_dir / "rotated.mp4").read_bytes(), at(1))
    full, _, _ = fetch_cover(client, cover_path("lib"))
    assert full.size == (240, 320)  # stored 320 x 240, shown turned by 90 degrees
    square, _, _ = fetch_cover(client, cover_path("lib", size=50))
    assert square.size == (50, 50)


BROKEN = {
    "zero-bytes": (IMAGE, lambda d: b"", ".jpg"),
    "random-bytes": (IMAGE, lambda d: os.urandom(4096), ".jpg"),
    "truncated-jpeg": (IMAGE, lambda d: jpeg((10, 10, 10), (400, 300))[:600], ".jpg"),
    "50000x50000-header": (IMAGE, lambda d: big_header_png(), ".png"),
    "video-without-frames": (VIDEO, lambda d: (d / "frameless.mp4").read_bytes(), ".mp4"),
    "random-video": (VIDEO, lambda d: os.urandom(4096), ".mp4"),
}


@pytest.mark.parametrize("name", sorted(BROKEN))
@pytest.mark.parametrize("size", [None, 24])
def test_broken_media_is_skipped_and_logged_once(client, album, media_dir, caplog, name, size):
    library, space, alb = album
    kind, make, ext = BROKEN[name]
    broken = insert_media(space, alb, kind=kind, data=make(media_dir), at=at(1), ext=ext, name=name)
    upload(library, space, "a", "g.jpg", jpeg(GREEN), at(2))
    query = {"size": size} if size else {}
    with caplog.at_level(logging.WARNING, logger="flask_medialib"):
        for _ in range(3):
            image, _, _ = fetch_cover(client, cover_path("lib", **query))
            assert close_to(mean_color(image), GREEN)
    skips = [r for r in caplog.records if "skips media" in r.getMessage() and f"media {broken.id} " in r.getMessage()]
    assert len(skips) == 1


def test_no_usable_media_is_404_never_500(client, album, media_dir):
    _, space, alb = album
    for index, name in enumerate(sorted(BROKEN)):
        kind, make, ext = BROKEN[name]
        insert_media(space, alb, kind=kind, data=make(media_dir), at=at(index), ext=ext, name=name)
    for query in ({}, {"size": 16}):
        resp = client.get(cover_path("lib", **query))
        assert resp.status_code == 404
        assert resp.get_json()["code"] == "NoCoverMedia"


@pytest.mark.both_storages
def test_media_that_breaks_after_its_302_is_404_on_the_file_url(client, album, storage_backend):
    library, space, _ = album
    media = upload(library, space, "a", "g.jpg", jpeg(GREEN), at(1))
    location = client.get(cover_path("lib", size=16)).headers["Location"]
    get_state().cache.clear()  # the rendered cover is evicted ...
    get_state().storage.put_bytes(media.storage_key, b"garbage")  # ... and the file broke
    if storage_backend == "s3":
        # The 302 named the cover's own object, drawn from this version's good bytes: it stays.
        status, body, _ = get_served(client, location)
        assert status == 200 and Image.open(io.BytesIO(body)).size == (16, 16)
        return
    with client.get(location) as resp:
        assert resp.status_code == 404
        assert resp.get_json()["code"] == "NoCoverMedia"


def test_url_only_media_that_cannot_be_fetched_is_skipped(client, album):
    library, space, alb = album
    insert_media(space, alb, kind=IMAGE, url="http://127.0.0.1:9/nothing.jpg", at=at(1))
    upload(library, space, "a", "g.jpg", jpeg(GREEN), at(2))
    image, _, _ = fetch_cover(client, cover_path("lib", size=8))
    assert close_to(mean_color(image), GREEN)


@pytest.mark.both_storages
def test_cached_cover_survives_a_lost_file_until_the_version_changes(client, album):
    """The cache is keyed by version: the same version keeps being served from it."""
    library, space, _ = album
    media = upload(library, space, "a", "g.jpg", jpeg(GREEN), at(1))
    _, body, _ = fetch_cover(client, cover_path("lib", size=16))
    get_state().storage.delete(media.storage_key)
    _, body_again, _ = fetch_cover(client, cover_path("lib", size=16))
    assert body_again == body


@pytest.fixture
def media_server():
    """A loopback HTTP server of one JPEG (what a replicated material's URL points at)."""
    import http.server
    import threading

    body = jpeg(GREEN, (90, 60))

    class Handler(http.server.BaseHTTPRequestHandler):
        hits = 0

        def do_GET(self) -> None:
            Handler.hits += 1
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/photo.jpg", body, Handler
    server.shutdown()
    server.server_close()
    thread.join()


def test_url_only_media_is_fetched_when_its_host_is_allowed(client, album, media_server):
    _, space, alb = album
    url, body, handler = media_server
    get_state().config["MEDIALIB_FETCH_ALLOWED_HOSTS"] = [urlsplit(url).netloc]  # host:port
    insert_media(space, alb, kind=IMAGE, url=url, at=at(1))
    image, _, _ = fetch_cover(client, cover_path("lib", size=20))
    assert image.size == (20, 20) and close_to(mean_color(image), GREEN)
    _, original, _ = fetch_cover(client, cover_path("lib"))
    assert original == body  # the original, as the URL serves it
    hits = handler.hits
    fetch_cover(client, cover_path("lib", size=20))
    fetch_cover(client, cover_path("lib"))
    assert handler.hits == hits  # cached: not fetched again
