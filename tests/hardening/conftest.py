"""Fixtures of the hardening tests: libraries with tokens, uploads, resident memory."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from flask import Flask

from flask_medialib import auth, get_state
from flask_medialib.services import library as lib
from tests.hardening.hostile_media import _picture, encode

API = "/api/v1"


@dataclass
class Lib:
    id: str
    secret: str
    admin: str  # an admin token bound to no space and no user
    tokens: dict[str, str] = field(default_factory=dict)


@pytest.fixture
def app_config(app_config: dict) -> dict:
    # Faces do not matter to these tests except where a module asks for the real detector.
    return {**app_config, "MEDIALIB_FACE_DETECTOR": "none"}


@pytest.fixture
def make_lib(app: Flask) -> Callable[..., Lib]:
    def make(
        library_id: str,
        *,
        multi_tenant: bool = False,
        album_based: bool = True,
        public_read: bool = False,
        spaces: tuple[str, ...] = (),
        albums: tuple[str, ...] = (),
    ) -> Lib:
        library, secret = lib.create_library(
            library_id, multi_tenant=multi_tenant, album_based=album_based, public_read=public_read
        )
        for space_id in spaces:
            lib.create_space(library, space_id)
        for space_id in spaces or ("-",):
            for name in albums:
                lib.create_album(library, lib.get_space(library, space_id), name)
        token, _ = auth.issue_token(library, grants=frozenset({"admin"}))
        get_state(app).session.commit()
        return Lib(library_id, secret, token)

    return make


@pytest.fixture
def issue(app: Flask) -> Callable[..., str]:
    def make(library_id: str, *, space: str | None = None, grants: str = "", ttl: int | None = None) -> str:
        library = lib.get_library(library_id)
        bound = lib.get_space(library, space) if space else None
        token, _ = auth.issue_token(library, space=bound, grants=auth.parse_grants(grants), ttl=ttl)
        get_state(app).session.commit()
        return token

    return make


@pytest.fixture(scope="session")
def photo() -> bytes:
    return encode(_picture(), "JPEG", quality=85)


def upload(client, library_id: str, space: str, path: str, data: bytes, token: str):
    response = client.put(f"{API}/file/{library_id}/{space}/{path}?access_token={token}", data=data)
    response.close()
    return response
