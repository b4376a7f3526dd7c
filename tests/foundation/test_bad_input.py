"""Every bad input of the issue: a clear 4xx with SMH's code, and nothing written anywhere."""

from __future__ import annotations

import io
from dataclasses import dataclass

import pytest
from flask import Flask
from foundation_helpers import API, jpeg_bytes, media_count, mp4_bytes, png_bytes, stored_files
from sqlalchemy import func, select

from flask_medialib import get_state
from flask_medialib.models import Album

LIMIT = 20_000


@pytest.fixture
def app_config(app_config: dict) -> dict:
    return {**app_config, "MEDIALIB_MAX_UPLOAD_BYTES": LIMIT, "MEDIALIB_MAX_IMAGE_PIXELS": 1_000_000}


@dataclass
class World:
    tokens: dict[str, str]


@pytest.fixture
def world(app: Flask, client, make_lib, issue, clock) -> World:
    """Three libraries, one file already stored, and tokens of every kind."""
    alb = make_lib("alb", album_based=True, albums=("a",))
    make_lib("flat")
    make_lib("multi", multi_tenant=True, album_based=True, spaces=("s1", "s2"), albums=("a",))
    tokens = {
        "alb": alb.admin,
        "flat": issue("flat", grants="upload_file,create_directory"),
        "multi": issue("multi", space="s1", grants="upload_file,create_directory"),
        "multi_s2": issue("multi", space="s2", grants="admin"),
        "read_only": issue("flat"),
        "expired": issue("flat", grants="admin", ttl=10),
        "revoked": issue("flat", grants="admin"),
        "wrong": "not-a-token",
    }
    assert client.delete(f"{API}/token/flat/{tokens['revoked']}").status_code == 204
    existing = client.put(
        f"{API}/file/flat/-/taken.png", query_string={"access_token": tokens["flat"]}, data=png_bytes()
    )
    assert existing.status_code == 201
    clock.advance(11)  # the "expired" token is now past its lifetime
    return World(tokens)


def snapshot(app: Flask) -> tuple[int, int, list[str]]:
    session = get_state(app).session
    albums = int(session.execute(select(func.count()).select_from(Album)).scalar_one())
    return media_count(app), albums, stored_files(app)


def bomb_png() -> bytes:
    out = io.BytesIO()
    from PIL import Image

    Image.new("L", (1200, 1000)).save(out, "PNG")  # 1.2 M pixels, a few KB
    assert len(out.getvalue()) < LIMIT
    return out.getvalue()


UPLOADS = [
    # (id, path under /file/, token name, body, status, code)
    ("empty body", "flat/-/e.png", "flat", b"", 400, "EmptyFile"),
    ("oversized", "flat/-/big.png", "flat", b"\x89PNG" + b"0" * LIMIT, 413, "RequestEntityTooLarge"),
    ("text", "flat/-/notes.png", "flat", b"hello, not a picture", 400, "ExtnameNotAllowed"),
    ("truncated jpeg", "flat/-/cut.jpg", "flat", jpeg_bytes(200, 100)[:120], 400, "ExtnameNotAllowed"),
    ("fake mp4", "flat/-/v.mp4", "flat", b"\x00\x00\x00\x20ftypisom" + b"\x00" * 200, 400, "ExtnameNotAllowed"),
    ("pixel bomb", "flat/-/bomb.png", "flat", bomb_png(), 400, "ExtnameNotAllowed"),
    ("dot dot", "flat/-/a..png", "flat", png_bytes(), 400, "IllegalFileName"),
    ("traversal in path", "alb/-/a/../../etc/passwd", "alb", png_bytes(), 400, "IllegalFileName"),
    ("encoded traversal", "flat/-/..%2F..%2Fetc%2Fpasswd", "flat", png_bytes(), 400, "IllegalFileName"),
    ("encoded slash is a path", "alb/-/a%2Fb%2Fc.png", "alb", png_bytes(), 400, "DirectoryLevelExceed"),
    ("backslash", "flat/-/a%5C..%5Cb.png", "flat", png_bytes(), 400, "IllegalFileName"),
    ("NUL", "flat/-/a%00.png", "flat", png_bytes(), 400, "ParamInvalid"),  # refused before any view
    ("control char", "flat/-/a%01b.png", "flat", png_bytes(), 400, "IllegalFileName"),
    ("DEL", "flat/-/a%7Fb.png", "flat", png_bytes(), 400, "IllegalFileName"),
    ("256 bytes", "flat/-/" + "%C3%A9" * 128, "flat", png_bytes(), 400, "FileNameLengthExceed"),
    ("blank", "flat/-/%20%20", "flat", png_bytes(), 400, "EmptyFileName"),
    ("dash", "flat/-/-", "flat", png_bytes(), 400, "IllegalFileName"),
    ("empty name", "alb/-/a/", "alb", png_bytes(), 400, "EmptyFileName"),
    ("duplicate", "flat/-/taken.png", "flat", png_bytes(), 409, "SameNameDirectoryOrFileExists"),
    ("missing album", "alb/-/nope/x.png", "alb", png_bytes(), 404, "DirectoryNotFound"),
    ("album in flat library", "flat/-/a/x.png", "flat", png_bytes(), 400, "DirectoryNotAllowed"),
    ("album library root", "alb/-/x.png", "alb", png_bytes(), 400, "UploadToRootDirectoryNotAllowed"),
    ("dash space in multi-tenant", "multi/-/a/x.png", "multi", png_bytes(), 404, "SpaceNotFound"),
    ("missing space", "multi/s9/a/x.png", "multi", png_bytes(), 404, "SpaceNotFound"),
    ("space of single-tenant", "flat/s1/x.png", "flat", png_bytes(), 404, "SpaceNotFound"),
    ("missing library", "nolib/-/x.png", "flat", png_bytes(), 404, "LibraryNotFound"),
    ("missing token", "flat/-/x.png", None, png_bytes(), 400, "EmptyAccessToken"),
    ("wrong token", "flat/-/x.png", "wrong", png_bytes(), 403, "InvalidAccessToken"),
    ("expired token", "flat/-/x.png", "expired", png_bytes(), 403, "InvalidAccessToken"),
    ("revoked token", "flat/-/x.png", "revoked", png_bytes(), 403, "InvalidAccessToken"),
    ("token of another library", "flat/-/x.png", "alb", png_bytes(), 403, "AccessTokenNotMatchLibrary"),
    ("token of another space", "multi/s1/a/x.png", "multi_s2", png_bytes(), 403, "AccessTokenNotMatchSpace"),
    ("token without grant", "flat/-/x.png", "read_only", png_bytes(), 403, "NoPermission"),
]


@pytest.mark.parametrize(
    ("path", "token", "body", "status", "code"), [u[1:] for u in UPLOADS], ids=[u[0] for u in UPLOADS]
)
def test_bad_upload_is_refused_and_writes_nothing(
    app: Flask, client, world: World, path: str, token: str | None, body: bytes, status: int, code: str
) -> None:
    before = snapshot(app)
    query = {"access_token": world.tokens[token]} if token else {}
    answer = client.put(f"{API}/file/{path}", query_string=query, data=body)
    assert (answer.status_code, answer.json["code"]) == (status, code), answer.json
    assert answer.json["message"] and answer.json["requestId"]
    assert snapshot(app) == before


def test_the_unsupported_content_message_names_the_file_and_what_to_send(client, world: World) -> None:
    answer = client.put(
        f"{API}/file/flat/-/report.png", query_string={"access_token": world.tokens["flat"]}, data=b"%PDF-1.4 not media"
    )
    message = answer.json["message"]
    assert "'report.png'" in message and "neither an image nor a video" in message
    assert "upload" in message and "upload-" not in message  # never the staging file's name


def test_oversized_chunked_body_without_content_length(app: Flask, client, world: World) -> None:
    before = snapshot(app)

    def send(body: bytes):
        # What gunicorn or the dev server hand over for Transfer-Encoding: chunked.
        return client.put(
            f"{API}/file/flat/-/chunked.png",
            query_string={"access_token": world.tokens["flat"]},
            input_stream=io.BytesIO(body),
            headers={"Transfer-Encoding": "chunked"},
            environ_overrides={"wsgi.input_terminated": True},
        )

    too_big = send(png_bytes() + b"\x00" * LIMIT)
    assert (too_big.status_code, too_big.json["code"]) == (413, "RequestEntityTooLarge")
    assert snapshot(app) == before
    small = send(png_bytes(5, 6))  # the same path takes a body that fits
    assert small.status_code == 201 and (small.json["width"], small.json["height"]) == (5, 6)


def test_a_video_within_the_limit_passes(client, world: World, tmp_path) -> None:
    clip = mp4_bytes(tmp_path)
    assert len(clip) < LIMIT
    answer = client.put(f"{API}/file/flat/-/ok.mp4", query_string={"access_token": world.tokens["flat"]}, data=clip)
    assert answer.status_code == 201 and answer.json["type"] == "video"


ALBUMS = [
    ("dot dot", "alb/-/a..b", "alb", 400, "IllegalFileName"),
    ("NUL", "alb/-/a%00b", "alb", 400, "ParamInvalid"),
    ("control char", "alb/-/a%1Fb", "alb", 400, "IllegalFileName"),
    ("256 bytes", "alb/-/" + "x" * 256, "alb", 400, "DirectoryNameLengthExceed"),
    ("dash", "alb/-/-", "alb", 400, "IllegalFileName"),
    ("duplicate", "alb/-/a", "alb", 409, "SameNameDirectoryOrFileExists"),
    ("album in flat library", "flat/-/new", "flat", 400, "DirectoryNotAllowed"),
    ("dash space in multi-tenant", "multi/-/new", "multi", 404, "SpaceNotFound"),
    ("token of another space", "multi/s1/new", "multi_s2", 403, "AccessTokenNotMatchSpace"),
    ("expired token", "alb/-/new", "expired", 403, "InvalidAccessToken"),
]


@pytest.mark.parametrize(("path", "token", "status", "code"), [a[1:] for a in ALBUMS], ids=[a[0] for a in ALBUMS])
def test_bad_album_is_refused_and_writes_nothing(
    app: Flask, client, world: World, path: str, token: str, status: int, code: str
) -> None:
    before = snapshot(app)
    answer = client.put(f"{API}/directory/{path}", query_string={"access_token": world.tokens[token]})
    assert (answer.status_code, answer.json["code"]) == (status, code), answer.json
    assert snapshot(app) == before


def test_longest_allowed_name_is_accepted(client, world: World) -> None:
    name = "x" * 251 + ".png"  # exactly 255 bytes
    answer = client.put(
        f"{API}/file/flat/-/{name}", query_string={"access_token": world.tokens["flat"]}, data=png_bytes()
    )
    assert answer.status_code == 201 and answer.json["name"] == name


def test_newline_in_a_name_is_refused_and_writes_nothing(app: Flask, client, world: World) -> None:
    before = snapshot(app)
    answer = client.put(
        f"{API}/file/flat/-/a%0Ab.png", query_string={"access_token": world.tokens["flat"]}, data=png_bytes()
    )
    # The file route's converter matches a newline too, so the name check answers (JSON), not the router (HTML).
    assert (answer.status_code, answer.json["code"]) == (400, "IllegalFileName")
    assert snapshot(app) == before
