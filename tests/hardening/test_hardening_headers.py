"""Security headers on every response of ours, and error answers that read a bounded part of the body."""

from __future__ import annotations

import io

import pytest

from flask_medialib.views import common
from tests.hardening.conftest import API, upload

MATERIAL = f"{API}/biz/material/third"


def _responses(app, client, lib, photo):
    """(what, response) for answers of every blueprint: success, errors, redirects and files."""
    assert upload(client, "liba", "-", "x/p.jpg", photo, lib.admin).status_code == 201
    cover = client.get(f"{API}/album/liba/-/cover/x?size=64&access_token={lib.admin}")
    original = client.get(f"{API}/file/liba/-/x/p.jpg?access_token={lib.admin}")
    yield "token", client.get(f"{API}/token", query_string={"library_id": "liba", "library_secret": lib.secret})
    yield "bad secret", client.get(f"{API}/token", query_string={"library_id": "liba", "library_secret": "no"})
    yield "directory", client.get(f"{API}/directory/liba/-?access_token={lib.admin}")
    yield "cover 302", cover
    yield "original 302", original
    yield "unrouted 404", client.get(f"{API}/nothing/here")
    yield "405", client.post(f"{API}/openapi.json")
    yield "openapi", client.get(f"{API}/openapi.json")
    yield "material 401", client.get(f"{MATERIAL}/list?openId=a")
    yield "material unrouted", client.get(f"{MATERIAL}/nothing")
    for what, redirect in (("cover file", cover), ("original file", original)):
        location = redirect.headers["Location"]
        served = client.get(location)
        served.close()
        yield what, served
        yield f"{what} 304", client.get(location, headers={"If-None-Match": served.headers["ETag"]})
    yield "bad signature", client.get(f"{API}/f/nonsense")


def test_every_response_of_ours_says_nosniff_and_files_are_sandboxed(app, client, make_lib, photo):
    lib = make_lib("liba", albums=("x",))
    seen = set()
    for what, response in _responses(app, client, lib, photo):
        response.close()
        seen.add(response.status_code)
        assert response.headers.get("X-Content-Type-Options") == "nosniff", what
        csp = response.headers.get("Content-Security-Policy")
        if what.startswith(("cover file", "original file", "bad signature")):
            assert csp == "default-src 'none'; sandbox", what
    assert {200, 302, 304, 401, 403, 404, 405} <= seen


def test_the_hosts_own_pages_keep_their_headers(app, client):
    app.add_url_rule("/hello", "hello", lambda: "hi")
    response = client.get("/hello")
    assert response.status_code == 200
    assert "X-Content-Type-Options" not in response.headers
    assert "Content-Security-Policy" not in response.headers


class CountingInput(io.BytesIO):
    """A request body that records how much was read of it, and in which pieces."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.reads: list[int] = []

    def read(self, size: int | None = -1) -> bytes:
        chunk = super().read(size)
        self.reads.append(len(chunk))
        return chunk

    def readinto(self, buffer) -> int:  # werkzeug's LimitedStream reads this way
        count = super().readinto(buffer)
        self.reads.append(count)
        return count


def _post_unauthorised(client, size: int) -> tuple[int, CountingInput]:
    body = CountingInput(b"[" + b" " * (size - 2) + b"]")
    response = client.post(
        f"{MATERIAL}/add?openId=a",  # no token: refused before the body is read
        input_stream=body,
        headers={"Content-Type": "application/json", "Content-Length": str(size)},
    )
    assert response.get_json()["map"]["error"] == "MissingAccessToken"
    return response.status_code, body


@pytest.mark.parametrize("size", [10, 100_000, common.DRAIN_LIMIT])
def test_an_error_drains_a_small_body_in_chunks(client, size):
    status, body = _post_unauthorised(client, size)
    assert status == 401
    assert sum(body.reads) == size
    assert max(body.reads) <= 64 * 1024


@pytest.mark.parametrize("size", [common.DRAIN_LIMIT + 1, 10 * 1024 * 1024])
def test_an_error_leaves_a_large_body_unread(client, size):
    status, body = _post_unauthorised(client, size)
    assert status == 401
    assert sum(body.reads) == 0
