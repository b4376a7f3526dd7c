"""Downloads and uploads over HTTP on both storages: on S3 the bytes come from the bucket, never through Flask."""

from __future__ import annotations

import io
import socket
import time
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from PIL import Image

from flask_medialib import get_state, signing
from flask_medialib.models import Media
from flask_medialib.storage import make_storage

pytestmark = pytest.mark.both_storages

API = "/api/v1"


@pytest.fixture
def app_config(app_config: dict) -> dict:
    return {**app_config, "MEDIALIB_FACE_DETECTOR": "none"}  # centre crops: no TensorFlow here


def jpeg(color: str = "blue") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (30, 20), color).save(out, "JPEG")
    return out.getvalue()


def test_upload_stores_the_original_with_its_type(app, client, make_lib) -> None:
    made = make_lib()
    data = jpeg()
    resp = client.put(f"{API}/file/lib1/-/pic.jpg", query_string={"access_token": made.admin}, data=data)
    assert resp.status_code == 201
    media = get_state(app).session.get(Media, resp.get_json()["mediaId"])
    storage = get_state(app).storage
    assert storage.get_bytes(media.storage_key) == data and storage.size(media.storage_key) == len(data)
    assert "pic" not in media.storage_key  # keys are made by the server


def test_download_of_an_original(app, client, make_lib, clock, storage_backend) -> None:
    made = make_lib()
    data = jpeg("red")
    client.put(f"{API}/file/lib1/-/pic.jpg", query_string={"access_token": made.admin}, data=data)
    first = client.get(f"{API}/file/lib1/-/pic.jpg", query_string={"access_token": made.admin})
    assert first.status_code == 302
    signed = first.headers["Location"]
    clock.advance(100)  # the bucket's URL lives exactly as long as what is left of the signed one
    with client.get(signed) as served:
        if storage_backend == "local":
            assert served.status_code == 200 and served.data == data
            return
        assert served.status_code == 302 and served.data == b""  # no byte passes through Flask
        location = served.headers["Location"]
        assert served.headers["Cache-Control"].startswith("private, max-age=")
    ref = signing.verify(signed.rsplit("/", 1)[1])
    left = int(ref.expires - signing.now())
    assert parse_qs(urlsplit(location).query)["X-Amz-Expires"] == [str(left)]
    assert served.headers["Cache-Control"] == f"private, max-age={left}"
    # The object key comes from the server, not the name; the name only asks the download to be saved so.
    assert "pic" not in urlsplit(location).path and made.admin not in location
    with requests.get(location, timeout=10) as got:
        assert got.status_code == 200 and got.content == data
        assert got.headers["Content-Type"] == "image/jpeg"
        assert "pic.jpg" in got.headers["Content-Disposition"]


def test_a_replaced_or_deleted_file_is_no_longer_served(app, client, make_lib) -> None:
    made = make_lib()
    client.put(f"{API}/file/lib1/-/pic.jpg", query_string={"access_token": made.admin}, data=jpeg())
    signed = client.get(f"{API}/file/lib1/-/pic.jpg", query_string={"access_token": made.admin}).headers["Location"]
    key = get_state(app).session.query(Media).one().storage_key
    assert client.delete(f"{API}/file/lib1/-/pic.jpg", query_string={"access_token": made.admin}).status_code == 204
    assert not get_state(app).storage.exists(key)
    with client.get(signed) as gone:
        assert (gone.status_code, gone.get_json()["code"]) == (404, "FileNotFound")


def test_a_lost_original_is_a_404_never_a_500(app, client, make_lib, storage_backend) -> None:
    made = make_lib()
    client.put(f"{API}/file/lib1/-/pic.jpg", query_string={"access_token": made.admin}, data=jpeg())
    get_state(app).storage.delete(get_state(app).session.query(Media).one().storage_key)
    signed = client.get(f"{API}/file/lib1/-/pic.jpg", query_string={"access_token": made.admin}).headers["Location"]
    with client.get(signed) as served:
        if storage_backend == "local":
            assert (served.status_code, served.get_json()["code"]) == (404, "FileNotFound")
            return
        assert served.status_code == 302  # no request to the bucket on the way: the bucket says 404
        with requests.get(served.headers["Location"], timeout=10) as got:
            # The bucket refuses: 404, or 403 where the reader may not list the bucket (moto with
            # response-content-disposition, and AWS without s3:ListBucket) - never bytes.
            assert got.status_code in (403, 404)


@pytest.mark.s3_only
def test_public_url_base_replaces_presigned_gets(app, client, make_lib) -> None:
    state = get_state(app)
    state.storage.close()
    config = {**app.config, "MEDIALIB_S3_PUBLIC_URL": "https://cdn.example.com/media/"}
    state.storage = make_storage(config, default_root="unused")
    made = make_lib()
    client.put(f"{API}/file/lib1/-/pic.jpg", query_string={"access_token": made.admin}, data=jpeg())
    key = get_state(app).session.query(Media).one().storage_key
    signed = client.get(f"{API}/file/lib1/-/pic.jpg", query_string={"access_token": made.admin}).headers["Location"]
    with client.get(signed) as served:
        assert served.status_code == 302
        assert served.headers["Location"] == f"https://cdn.example.com/media/{app.config['MEDIALIB_S3_PREFIX']}{key}"


def exif_rotated_jpeg() -> bytes:
    image = Image.new("RGB", (30, 20), "green")
    exif = image.getexif()
    exif[0x0112] = 6  # shown rotated: the app must re-encode it upright
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif)
    return out.getvalue()


def test_a_cover_without_size_that_is_the_original_comes_from_the_bucket(client, make_lib, storage_backend) -> None:
    made = make_lib(album_based=True, albums=("a",))
    data = jpeg("red")
    client.put(f"{API}/file/lib1/-/a/pic.jpg", query_string={"access_token": made.admin}, data=data)
    cover = client.get(f"{API}/album/lib1/-/cover/a", query_string={"access_token": made.admin})
    assert cover.status_code == 302
    if storage_backend == "local":
        with client.get(cover.headers["Location"]) as served:
            assert served.status_code == 200 and served.data == data
        return
    location = cover.headers["Location"]  # s3: the original itself, straight from the bucket
    key = get_state(client.application).session.query(Media).one().storage_key
    assert urlsplit(location).path.endswith(f"/{client.application.config['MEDIALIB_S3_PREFIX']}{key}")
    with requests.get(location, timeout=10) as got:
        assert got.status_code == 200 and got.content == data


def test_a_cover_that_must_be_re_encoded_is_served_upright(client, make_lib, storage_backend) -> None:
    made = make_lib(album_based=True, albums=("a",))
    client.put(f"{API}/file/lib1/-/a/turned.jpg", query_string={"access_token": made.admin}, data=exif_rotated_jpeg())
    cover = client.get(f"{API}/album/lib1/-/cover/a", query_string={"access_token": made.admin})
    location = cover.headers["Location"]
    if storage_backend == "s3":  # re-encoded once into a rendition object, which the bucket serves
        assert "/r/" in urlsplit(location).path
        with requests.get(location, timeout=10) as got:
            assert got.status_code == 200 and got.headers["Content-Type"] == "image/jpeg"
            assert Image.open(io.BytesIO(got.content)).size == (20, 30)
        return
    with client.get(location) as served:
        assert served.status_code == 200
        assert Image.open(io.BytesIO(served.data)).size == (20, 30)  # upright


@pytest.mark.s3_only
def test_a_store_that_is_down_is_a_503_that_leaves_nothing_half_done(app, client, make_lib) -> None:
    made = make_lib(album_based=True, albums=("a",))
    client.put(f"{API}/file/lib1/-/a/old.jpg", query_string={"access_token": made.admin}, data=jpeg("red"))
    state = get_state(app)
    working = state.storage
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
    state.storage = make_storage({**app.config, "MEDIALIB_S3_ENDPOINT_URL": dead}, default_root="unused")
    try:
        started = time.monotonic()
        put = client.put(f"{API}/file/lib1/-/a/new.jpg", query_string={"access_token": made.admin}, data=jpeg())
        assert (put.status_code, put.get_json()["code"]) == (503, "StorageUnavailable")
        assert dead not in put.get_json()["message"]  # the store's address is not shown
        cover = client.get(f"{API}/album/lib1/-/cover/a", query_string={"access_token": made.admin, "size": 8})
        assert (cover.status_code, cover.get_json()["code"]) == (503, "StorageUnavailable")
        assert time.monotonic() - started < 20  # bounded: a few quick retries, then the answer
    finally:
        state.storage.close()
        state.storage = working
    assert [m.file_name for m in state.session.query(Media)] == ["old.jpg"]  # no row without bytes
    # An outage is not a broken media: once the store is back, the cover is there.
    cover = client.get(f"{API}/album/lib1/-/cover/a", query_string={"access_token": made.admin, "size": 8})
    assert cover.status_code == 302
