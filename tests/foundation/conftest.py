"""Fixtures of the foundation tests: libraries with admin tokens, tokens on demand."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from flask import Flask
from foundation_helpers import API

from flask_medialib import auth, get_state
from flask_medialib.services import library as lib


@dataclass
class Lib:
    id: str
    secret: str
    admin: str  # an admin token bound to no space and no user

    def url(self, route: str, space: str = "-", tail: str = "") -> str:
        return f"{API}/{route}/{self.id}/{space}" + (f"/{tail}" if tail else "")


@pytest.fixture
def make_lib(app: Flask):
    """Create a library (and, for multi-tenant ones, spaces) with an admin token."""

    def make(
        library_id: str = "lib1",
        *,
        multi_tenant: bool = False,
        album_based: bool = False,
        public_read: bool = False,
        spaces: tuple[str, ...] = (),
        albums: tuple[str, ...] = (),
    ) -> Lib:
        library, secret = lib.create_library(
            library_id, multi_tenant=multi_tenant, album_based=album_based, public_read=public_read
        )
        for space_id in spaces:
            lib.create_space(library, space_id)
        for name in albums:
            lib.create_album(library, lib.get_space(library, spaces[0] if spaces else "-"), name)
        token, _ = auth.issue_token(library, grants=frozenset({"admin"}))
        get_state(app).session.commit()
        return Lib(library_id, secret, token)

    return make


@pytest.fixture
def issue(app: Flask):
    """Issue a token through the service: issue("lib1", space="s1", user="u", grants="upload_file", ttl=60)."""

    def make(
        library_id: str, *, space: str | None = None, user: str | None = None, grants: str = "", ttl: int | None = None
    ) -> str:
        library = lib.get_library(library_id)
        bound = lib.get_space(library, space) if space else None
        token, _ = auth.issue_token(library, space=bound, user_id=user, grants=auth.parse_grants(grants), ttl=ttl)
        get_state(app).session.commit()
        return token

    return make
