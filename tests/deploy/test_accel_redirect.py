"""Local storage behind nginx: signed downloads hand the file to nginx (X-Accel-Redirect), no bytes through Python."""

from __future__ import annotations

import io
import os
from urllib.parse import urlsplit

import pytest
import requests
from flask import Flask
from PIL import Image

from flask_medialib import get_state
from flask_medialib.errors import ConfigError
from flask_medialib.models import Media

API = "/api/v1"
PREFIX = "/_medialib_files"


@pytest.fixture
def app_config(app_config: dict) -> dict:
    return {**app_config, "MEDIALIB_FACE_DETECTOR": "none", "MEDIALIB_ACCEL_REDIRECT_PREFIX": PREFIX}


def jpeg(color: str = "red") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (30, 20), color).save(out, "JPEG")
    return out.getvalue()


def upload(client, made, name: str = "pic.jpg", data: bytes | None = None) -> tuple[str, str]:
    """(signed download path, storage key) of a freshly uploaded file."""
    resp = client.put(f"{API}/file/lib1/-/{name}", query_string={"access_token": made.admin}, data=data or jpeg())
    assert resp.status_code == 201, resp.get_data(as_text=True)
    key = get_state().session.get(Media, resp.get_json()["mediaId"]).storage_key
    signed = client.get(f"{API}/file/lib1/-/{name}", query_string={"access_token": made.admin})
    assert signed.status_code == 302
    return urlsplit(signed.headers["Location"]).path, key


def test_a_signed_download_is_handed_to_nginx(client, make_lib) -> None:
    made = make_lib()
    path, key = upload(client, made)
    with client.get(path) as resp:
        assert resp.status_code == 200 and resp.data == b""  # nginx sends the bytes
        assert resp.headers["X-Accel-Redirect"] == f"{PREFIX}/{key}"
        assert resp.headers["Content-Type"] == "image/jpeg"
        assert resp.headers["Content-Disposition"] == "inline; filename=pic.jpg"
        assert resp.headers["Cache-Control"].startswith("private, max-age=")
        etag = resp.headers["ETag"]
        # The key reaches nginx only: no other header names it.
        assert [name for name, value in resp.headers.items() if key in value] == ["X-Accel-Redirect"]
    with client.get(path, headers={"If-None-Match": etag}) as again:
        assert again.status_code == 304 and "X-Accel-Redirect" not in again.headers


def test_a_missing_file_is_the_apps_404_not_a_redirect(app, client, make_lib) -> None:
    made = make_lib()
    path, key = upload(client, made)
    os.unlink(get_state(app).storage.path(key))
    with client.get(path) as resp:
        assert (resp.status_code, resp.get_json()["code"]) == (404, "FileNotFound")
        assert "X-Accel-Redirect" not in resp.headers and key not in resp.get_data(as_text=True)


def test_headers_match_what_flask_sends_itself(app, client, make_lib) -> None:
    made = make_lib()
    path, _key = upload(client, made, "été.jpg")
    with client.get(path) as handed:
        handed_headers = dict(handed.headers)
    app.config["MEDIALIB_ACCEL_REDIRECT_PREFIX"] = None
    with client.get(path) as sent:
        assert sent.data  # Flask sends the bytes itself when the prefix is off
        assert "X-Accel-Redirect" not in sent.headers
        for name in ("Content-Type", "Content-Disposition", "ETag", "Cache-Control"):
            assert handed_headers[name] == sent.headers[name], name


def test_a_missing_or_foreign_prefix_is_refused_at_start() -> None:
    from flask_medialib import MediaLib

    for bad in ("", "files", "/files/", "/a b"):
        app = Flask("accel")
        app.config.update(MEDIALIB_ACCEL_REDIRECT_PREFIX=bad, SQLALCHEMY_DATABASE_URI="sqlite://")
        with pytest.raises(ConfigError, match="MEDIALIB_ACCEL_REDIRECT_PREFIX"):
            MediaLib(app)


# -- through a real nginx (the docs' config, see conftest.py) --------------------------


@pytest.mark.slow
def test_nginx_sends_the_file_of_a_signed_download(client, make_lib, nginx: str) -> None:
    made = make_lib()
    data = jpeg("blue")
    path, key = upload(client, made, data=data)
    with client.get(path) as answer:
        flask_headers = answer.headers
    # The download's redirect is a path: right behind the proxy, whatever its scheme and host.
    with requests.get(f"{nginx}{API}/file/lib1/-/pic.jpg", params={"access_token": made.admin},
                      allow_redirects=False, timeout=10) as redirect:  # fmt: skip
        assert redirect.status_code == 302 and redirect.headers["Location"].startswith(f"{API}/f/")
    with requests.get(nginx + path, timeout=10) as got:
        assert got.status_code == 200 and got.content == data
        assert got.headers["Content-Type"] == "image/jpeg"
        assert got.headers["Content-Disposition"] == "inline; filename=pic.jpg"
        assert got.headers["Cache-Control"].startswith("private, max-age=")
        assert "X-Accel-Redirect" not in got.headers
        for name in ("ETag", "X-Content-Type-Options", "Content-Security-Policy"):
            assert got.headers[name] == flask_headers[name], name
        assert not [name for name, value in got.headers.items() if key in value]
    with requests.get(nginx + path, headers={"If-None-Match": flask_headers["ETag"]}, timeout=10) as cached:
        assert cached.status_code == 304 and cached.content == b""
    # The internal location answers only nginx's own redirects, never a client.
    with requests.get(f"{nginx}{PREFIX}/{key}", timeout=10) as direct:
        assert direct.status_code == 404 and direct.content != data
    # A wrong signature is refused by the app before nginx touches a file.
    with requests.get(nginx + path[:-2] + "xx", timeout=10) as forged:
        assert forged.status_code in (403, 404) and forged.content != data
