"""SMH files (contract sections 4.2 and 7): info (bare ``?info`` and ``info=1``), HEAD, download 302
with ``x-smh-*`` headers, preview through the cover engine, delete, and ``x-smh-meta-*`` metadata."""

from __future__ import annotations

import io

import pytest
from flask import Flask
from foundation_helpers import jpeg_bytes, mp4_bytes, png_bytes
from PIL import Image
from smh_helpers import API, crc64_reference, file_url, qs

from flask_medialib import get_state
from flask_medialib.models import AUDIO, Media

META = {"x-smh-meta-author": "Ada", "x-smh-meta-place": "Lyon"}


@pytest.fixture
def stored(client, make_lib):
    """An album library with ``a/p.jpg`` uploaded with metadata; returns (admin token, bytes)."""
    made = make_lib(album_based=True, albums=("a",))
    data = jpeg_bytes(60, 40)
    answer = client.put(file_url("lib1", "-", "a/p.jpg", access_token=made.admin), data=data, headers=META)
    assert answer.status_code == 201
    return made.admin, data


@pytest.mark.parametrize("flag", ["info=1", "info"])
def test_info_as_the_sdks_ask_for_it(client, stored, flag: str) -> None:
    token, data = stored
    answer = client.get(file_url("lib1", "-", "a/p.jpg", flag, "purpose=download", access_token=token))
    assert answer.status_code == 200, answer.json
    info = answer.json
    assert info["path"] == ["a", "p.jpg"] and info["type"] == "image"
    assert info["size"] == str(len(data)) and info["contentType"] == "image/jpeg"
    assert info["crc64"] == str(crc64_reference(data))
    assert info["eTag"] and info["creationTime"].endswith("Z") and info["modificationTime"].endswith("Z")
    assert info["metaData"] == META
    assert info["cosUrl"].startswith("http://")  # absolute: the JS Downloader fetches it as it is
    with client.get(info["cosUrl"]) as got:
        assert got.status_code == 200 and got.data == data
        # What the Downloader checks after fetching (FileSizeMismatch, FileCrc64Mismatch).
        assert (len(got.data), str(crc64_reference(got.data))) == (int(info["size"]), info["crc64"])


def test_info_period_bounds_and_lifetime(client, stored, clock) -> None:
    token, _ = stored
    for bad in (59, 7201, "soon"):
        answer = client.get(file_url("lib1", "-", "a/p.jpg", "info=1", period=bad, access_token=token))
        assert (answer.status_code, answer.json["code"]) == (400, "ParamInvalid"), bad
    short = client.get(file_url("lib1", "-", "a/p.jpg", "info=1", period=60, access_token=token)).json["cosUrl"]
    long = client.get(file_url("lib1", "-", "a/p.jpg", "info=1", period=7200, access_token=token)).json["cosUrl"]
    clock.advance(120)
    with client.get(short) as expired:
        assert (expired.status_code, expired.json["code"]) == (403, "SignatureExpired")
    with client.get(long) as alive:
        assert alive.status_code == 200


def test_download_is_a_302_with_the_smh_headers(client, stored) -> None:
    token, data = stored
    answer = client.get(file_url("lib1", "-", "a/p.jpg", access_token=token))
    assert answer.status_code == 302
    headers = answer.headers
    assert headers["x-smh-type"] == "image" and headers["x-smh-content-type"] == "image/jpeg"
    assert headers["x-smh-size"] == str(len(data)) and headers["x-smh-crc64"] == str(crc64_reference(data))
    assert headers["x-smh-etag"] and headers["x-smh-creation-time"] and headers["x-smh-modification-time"]
    assert headers["x-smh-meta-author"] == "Ada"
    with client.get(headers["Location"]) as got:
        assert got.data == data


def test_head(client, stored) -> None:
    token, data = stored
    answer = client.head(file_url("lib1", "-", "a/p.jpg", access_token=token))
    assert (answer.status_code, answer.data) == (200, b"")
    assert answer.headers["x-smh-size"] == str(len(data))
    missing = client.head(file_url("lib1", "-", "a/none.jpg", access_token=token))
    assert missing.status_code == 404


@pytest.mark.parametrize("flag", ["preview=1", "preview"])
def test_preview_with_size_is_the_cover_engines_square(client, stored, flag: str) -> None:
    token, _ = stored
    answer = client.get(file_url("lib1", "-", "a/p.jpg", flag, "mobile", size=32, access_token=token))
    assert answer.status_code == 302
    with client.get(answer.headers["Location"]) as got:
        preview = got.data
    assert Image.open(io.BytesIO(preview)).size == (32, 32)
    # The same engine as the album cover: with one photo in the album, the same pixels.
    cover = client.get(f"{API}/album/lib1/-/cover/a" + qs(size=32, access_token=token))
    with client.get(cover.headers["Location"]) as got:
        assert got.data == preview


def test_preview_without_size_is_the_original(client, stored) -> None:
    token, data = stored
    answer = client.get(file_url("lib1", "-", "a/p.jpg", "preview=1", access_token=token))
    assert answer.status_code == 302
    with client.get(answer.headers["Location"]) as got:
        assert got.data == data


def test_preview_of_a_video_is_its_first_frame(client, make_lib, tmp_path) -> None:
    made = make_lib()
    clip = mp4_bytes(tmp_path, width=64, height=48)
    assert client.put(file_url("lib1", "-", "v.mp4", access_token=made.admin), data=clip).status_code == 201
    answer = client.get(file_url("lib1", "-", "v.mp4", "preview=1", size=16, access_token=made.admin))
    with client.get(answer.headers["Location"]) as got:
        image = Image.open(io.BytesIO(got.data))
        assert image.size == (16, 16) and got.mimetype.startswith("image/")


def test_a_file_that_cannot_be_previewed_redirects_to_its_download(app: Flask, client, stored) -> None:
    token, data = stored
    session = get_state(app).session
    media = session.query(Media).one()
    media.kind = AUDIO  # not an image or video: nothing to preview
    session.commit()
    answer = client.get(file_url("lib1", "-", "a/p.jpg", "preview=1", size=32, access_token=token))
    assert answer.status_code == 302 and answer.headers["x-smh-size"] == str(len(data))
    with client.get(answer.headers["Location"]) as got:
        assert got.data == data


def test_preview_size_bounds(client, stored) -> None:
    token, _ = stored
    for bad in (0, 100_000, "x"):
        answer = client.get(file_url("lib1", "-", "a/p.jpg", "preview=1", size=bad, access_token=token))
        assert (answer.status_code, answer.json["code"]) == (400, "ParamInvalid"), bad


def test_delete(client, stored) -> None:
    token, _ = stored
    assert client.delete(file_url("lib1", "-", "a/p.jpg", access_token=token, permanent=1)).status_code == 204
    answer = client.get(file_url("lib1", "-", "a/p.jpg", "info=1", access_token=token))
    assert (answer.status_code, answer.json["code"]) == (404, "FileNotFound")


def test_upload_answer_is_smh_shaped(client, make_lib) -> None:
    made = make_lib()
    data = png_bytes(9, 7)
    answer = client.put(file_url("lib1", "-", "x.png", access_token=made.admin), data=data, headers=META)
    assert answer.status_code == 201
    assert answer.json["size"] == str(len(data)) and answer.json["crc64"] == str(crc64_reference(data))
    assert answer.json["metaData"] == META and answer.json["path"] == ["x.png"]


def test_too_much_metadata_is_refused(app: Flask, client, make_lib) -> None:
    made = make_lib()
    headers = {f"x-smh-meta-k{i}": "v" * 100 for i in range(30)}
    answer = client.put(file_url("lib1", "-", "x.png", access_token=made.admin), data=png_bytes(), headers=headers)
    assert (answer.status_code, answer.json["code"]) == (400, "ParamInvalid")
    assert get_state(app).session.query(Media).count() == 0


@pytest.mark.parametrize(
    ("query", "want"),
    [
        ({"scale": 50}, (30, 20)),
        ({"width_size": 15}, (15, 10)),  # the other side keeps the ratio
        ({"height_size": 10}, (15, 10)),
        ({"width_size": 30, "height_size": 5}, (8, 5)),  # both: fits inside them
        ({"scale": 100}, (60, 40)),  # never larger than the original: the original
        ({"width_size": 600}, (60, 40)),
    ],
)
def test_preview_scale_and_sides_keep_the_ratio(client, stored, query: dict, want: tuple[int, int]) -> None:
    token, _ = stored
    answer = client.get(file_url("lib1", "-", "a/p.jpg", "preview", access_token=token, **query))
    assert answer.status_code == 302
    with client.get(answer.headers["Location"]) as got:
        assert got.status_code == 200 and got.mimetype.startswith("image/")
        assert Image.open(io.BytesIO(got.data)).size == want


def test_size_wins_over_scale(client, stored) -> None:
    token, _ = stored
    answer = client.get(file_url("lib1", "-", "a/p.jpg", "preview=1", size=16, scale=50, access_token=token))
    with client.get(answer.headers["Location"]) as got:
        assert Image.open(io.BytesIO(got.data)).size == (16, 16)


def test_preview_url_of_a_replaced_or_deleted_file_is_404(client, stored) -> None:
    token, _ = stored
    location = client.get(file_url("lib1", "-", "a/p.jpg", "preview", scale=50, access_token=token)).headers["Location"]
    assert client.delete(file_url("lib1", "-", "a/p.jpg", access_token=token)).status_code == 204
    with client.get(location) as gone:
        assert (gone.status_code, gone.json["code"]) == (404, "FileNotFound")
    with client.get(location[:-2] + "xx") as forged:
        assert (forged.status_code, forged.json["code"]) == (403, "InvalidSignature")
