"""Warm covers answered by nginx: the app marks its cover 302s and cover bytes with X-Accel-Expires
(``MEDIALIB_PROXY_CACHE_SECONDS``), and the nginx of docs/deployment.rst keeps exactly those, by the whole URI."""

from __future__ import annotations

import io
import time
from urllib.parse import urlsplit

import pytest
import requests
from PIL import Image

from flask_medialib import MediaLib
from flask_medialib.errors import ConfigError

API = "/api/v1"
KEEP = 60


@pytest.fixture
def app_config(app_config: dict) -> dict:
    return {
        **app_config,
        "MEDIALIB_FACE_DETECTOR": "none",
        "MEDIALIB_ACCEL_REDIRECT_PREFIX": "/_medialib_files",
        "MEDIALIB_PROXY_CACHE_SECONDS": KEEP,
    }


def jpeg(color: str = "red") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), color).save(out, "JPEG")
    return out.getvalue()


def cover(token: str | None, library: str = "lib1", size: int = 16) -> str:
    query = f"?size={size}" + (f"&access_token={token}" if token else "")
    return f"{API}/album/{library}/-/cover{query}"


def put(client, library: str, token: str, name: str = "pic.jpg", color: str = "red") -> None:
    resp = client.put(f"{API}/file/{library}/-/{name}", query_string={"access_token": token}, data=jpeg(color))
    assert resp.status_code == 201, resp.get_data(as_text=True)


# -- what the app sends (no nginx) ------------------------------------------------


def test_a_cover_302_and_its_bytes_say_how_long_nginx_may_keep_them(client, make_lib) -> None:
    made = make_lib()
    put(client, "lib1", made.admin)
    redirect = client.get(cover(made.admin))
    assert redirect.status_code == 302 and redirect.headers["X-Accel-Expires"] == str(KEEP)
    # The browser's bound (MEDIALIB_COVER_REDIRECT_MAX_AGE, 30) counts the time spent in nginx: none is left.
    assert redirect.headers["Cache-Control"] == "private, max-age=0"
    with client.get(redirect.headers["Location"]) as got:
        assert got.status_code == 200 and got.headers["X-Accel-Expires"] == str(KEEP)
        # The URL lives 3600 s (MEDIALIB_SIGNED_URL_TTL, expiry rounded up to 360 s): browsers get what
        # is left after nginx's share, so a copy nginx hands out late still ends with the URL.
        max_age = int(got.headers["Cache-Control"].split("max-age=")[1].split(",")[0])
        assert 3600 - KEEP <= max_age <= 3600 + 360 - KEEP
    with client.get(redirect.headers["Location"], headers={"If-None-Match": got.headers["ETag"]}) as same:
        assert same.status_code == 304 and "X-Accel-Expires" not in same.headers


def test_nothing_is_marked_when_the_key_is_off(app, client, make_lib) -> None:
    app.config["MEDIALIB_PROXY_CACHE_SECONDS"] = 0
    made = make_lib()
    put(client, "lib1", made.admin)
    redirect = client.get(cover(made.admin))
    assert redirect.status_code == 302 and "X-Accel-Expires" not in redirect.headers
    assert redirect.headers["Cache-Control"] == "private, max-age=30"
    with client.get(redirect.headers["Location"]) as got:
        assert got.status_code == 200 and "X-Accel-Expires" not in got.headers


def test_the_mark_never_outlives_the_token(client, make_lib, issue) -> None:
    made = make_lib()
    put(client, "lib1", made.admin)
    short = issue("lib1", ttl=20)
    resp = client.get(cover(short))
    assert resp.status_code == 302 and resp.headers["X-Accel-Expires"] == "20"


def test_a_token_in_a_header_errors_and_downloads_are_never_marked(client, make_lib) -> None:
    made = make_lib()
    put(client, "lib1", made.admin)
    # The URI does not name the token: a cache keyed by the URI must not keep the answer.
    bearer = client.get(cover(None), headers={"Authorization": f"Bearer {made.admin}"})
    assert bearer.status_code == 302 and "X-Accel-Expires" not in bearer.headers
    for path in (cover("nope"), cover(None), f"{API}/album/lib1/-/cover/none?access_token={made.admin}"):
        resp = client.get(path)
        assert resp.status_code in (400, 403, 404) and "X-Accel-Expires" not in resp.headers, path
    download = client.get(f"{API}/file/lib1/-/pic.jpg", query_string={"access_token": made.admin})
    assert download.status_code == 302 and "X-Accel-Expires" not in download.headers
    with client.get(download.headers["Location"]) as original:  # nginx sends it (X-Accel-Redirect) anyway
        assert original.status_code == 200 and "X-Accel-Expires" not in original.headers


def test_the_bound_is_checked_at_start() -> None:
    from flask import Flask

    for bad in (-1, 61, "soon", True):
        app = Flask("proxy")
        app.config.update(MEDIALIB_PROXY_CACHE_SECONDS=bad, SQLALCHEMY_DATABASE_URI="sqlite://")
        with pytest.raises(ConfigError, match="MEDIALIB_PROXY_CACHE_SECONDS"):
            MediaLib(app)


# -- through a real nginx ------------------------------------------------------------


def get(url: str, **kwargs) -> requests.Response:
    return requests.get(url, allow_redirects=False, timeout=10, **kwargs)


@pytest.mark.slow
def test_a_second_warm_cover_never_reaches_the_app(client, make_lib, nginx: str, app_hits: list[str]) -> None:
    made = make_lib()
    put(client, "lib1", made.admin, color="blue")
    first = get(nginx + cover(made.admin))
    assert first.status_code == 302 and first.headers["X-Cache-Status"] == "MISS"
    location = first.headers["Location"]
    image = get(nginx + location)
    assert image.status_code == 200 and image.headers["X-Cache-Status"] == "MISS"
    hits = len(app_hits)
    for _ in range(3):
        again = get(nginx + cover(made.admin))
        assert (again.status_code, again.headers["Location"]) == (302, location)
        assert again.headers["X-Cache-Status"] == "HIT"
        same = get(nginx + location)
        assert same.status_code == 200 and same.content == image.content and same.headers["X-Cache-Status"] == "HIT"
        # nginx consumes the mark; the client sees the app's own headers.
        assert "X-Accel-Expires" not in again.headers and "X-Accel-Expires" not in same.headers
        assert same.headers["Cache-Control"] == image.headers["Cache-Control"]
        assert same.headers["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert len(app_hits) == hits  # none of these six reached the app
    # A browser that holds the bytes gets its 304 from nginx too.
    cached = get(nginx + location, headers={"If-None-Match": image.headers["ETag"]})
    assert cached.status_code == 304 and len(app_hits) == hits


@pytest.mark.slow
def test_errors_are_never_kept(client, make_lib, nginx: str, app_hits: list[str]) -> None:
    made = make_lib()
    put(client, "lib1", made.admin)
    location = get(nginx + cover(made.admin)).headers["Location"]
    forged = location[:-2] + ("xx" if not location.endswith("xx") else "yy")
    paths = {
        cover(None): 400,  # no token
        cover("not-a-token"): 403,
        f"{API}/album/lib1/-/cover/none?access_token={made.admin}": 400,  # no albums in this library
        cover(made.admin, library="nolib"): 404,
        forged: 403,
    }
    for path, status in paths.items():
        before = len(app_hits)
        for _ in range(2):
            resp = get(nginx + path)
            assert resp.status_code == status, (path, resp.text)
            assert resp.headers.get("X-Cache-Status") in (None, "MISS"), path
        assert len(app_hits) == before + 2, path  # both reached the app


@pytest.mark.slow
def test_two_tokens_never_share_an_entry(client, make_lib, issue, nginx: str, app_hits: list[str]) -> None:
    one, other = make_lib("lib1"), make_lib("lib2")
    put(client, "lib1", one.admin, color="red")
    put(client, "lib2", other.admin, color="green")
    mine = get(nginx + cover(one.admin))
    assert mine.status_code == 302 and get(nginx + cover(one.admin)).headers["X-Cache-Status"] == "HIT"
    # Another library's token on the same cover: the app's 403, not the 302 nginx keeps for the first.
    foreign = get(nginx + cover(other.admin))
    assert foreign.status_code == 403 and foreign.json()["code"] == "AccessTokenNotMatchLibrary"
    # A second token of the same library: its own entry, asked of the app once.
    second = issue("lib1", grants="admin")
    before = len(app_hits)
    theirs = get(nginx + cover(second))
    assert theirs.status_code == 302 and theirs.headers["X-Cache-Status"] == "MISS"
    assert len(app_hits) == before + 1
    # A token in a header is not in the URI: never kept, never answered from what was kept.
    before = len(app_hits)
    for _ in range(2):
        bearer = get(nginx + cover(None), headers={"Authorization": f"Bearer {one.admin}"})
        assert bearer.status_code == 302 and bearer.headers["X-Cache-Status"] == "BYPASS"
    assert len(app_hits) == before + 2
    bare = get(nginx + cover(None))
    assert (bare.status_code, bare.json()["code"]) == (400, "EmptyAccessToken")
    # Each library's cover image is its own.
    red = Image.open(io.BytesIO(get(nginx + mine.headers["Location"]).content)).convert("RGB").getpixel((8, 8))
    lib2 = get(nginx + cover(other.admin, library="lib2"))
    green = Image.open(io.BytesIO(get(nginx + lib2.headers["Location"]).content)).convert("RGB").getpixel((8, 8))
    assert red[0] > 200 > 100 > red[1] and green[1] > 100 > green[0]


@pytest.mark.slow
def test_a_delete_or_a_revocation_shows_once_the_bound_is_over(
    app, client, make_lib, issue, nginx: str, app_hits: list[str]
) -> None:
    app.config["MEDIALIB_PROXY_CACHE_SECONDS"] = 1
    made = make_lib()
    put(client, "lib1", made.admin)
    revoked = issue("lib1", grants="admin")
    first = get(nginx + cover(made.admin))
    location = first.headers["Location"]
    assert get(nginx + location).status_code == 200
    assert get(nginx + cover(revoked)).status_code == 302
    stored = time.monotonic()
    gone = requests.delete(f"{nginx}{API}/file/lib1/-/pic.jpg", params={"access_token": made.admin}, timeout=10)
    assert gone.status_code == 204
    assert requests.delete(f"{nginx}{API}/token/lib1/{revoked}", timeout=10).status_code == 204
    # Within the bound nginx may still answer from what it keeps (that is the documented bound)...
    if time.monotonic() - stored < 0.9:
        assert get(nginx + cover(made.admin)).headers["X-Cache-Status"] == "HIT"
    # ...and after it, never. nginx's own clock is what is under test here (it counts X-Accel-Expires in
    # whole seconds: an entry kept "1 s" is fresh until the end of the next second), so this sleeps.
    time.sleep(2.1)
    after = get(nginx + cover(made.admin))
    assert (after.status_code, after.json()["code"]) == (404, "NoCoverMedia")
    file_after = get(nginx + location)
    assert (file_after.status_code, file_after.json()["code"]) == (404, "FileNotFound")
    token_after = get(nginx + cover(revoked))
    assert (token_after.status_code, token_after.json()["code"]) == (403, "InvalidAccessToken")
    assert urlsplit(location).path.startswith(f"{API}/f/")


@pytest.mark.slow
def test_the_app_decides_nginx_keeps_nothing_unmarked(app, client, make_lib, nginx: str, app_hits: list[str]) -> None:
    app.config["MEDIALIB_PROXY_CACHE_SECONDS"] = 0
    made = make_lib(public_read=True)
    put(client, "lib1", made.admin)
    first = get(nginx + cover(None))
    # Public answers that browsers and CDNs may keep (Cache-Control): nginx still keeps none of them.
    assert first.status_code == 302 and first.headers["Cache-Control"] == "public, max-age=30"
    before = len(app_hits)
    for _ in range(2):
        assert get(nginx + cover(None)).headers["X-Cache-Status"] == "MISS"
        image = get(nginx + first.headers["Location"])
        assert image.status_code == 200 and image.headers["Cache-Control"].startswith("public, max-age=")
        assert image.headers["X-Cache-Status"] == "MISS"
    assert len(app_hits) == before + 4
