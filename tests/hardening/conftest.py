"""Fixtures of the hardening tests: libraries with tokens, uploads, resident memory."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

from tests.hardening.hostile_media import _picture, encode

if TYPE_CHECKING:
    from tests.conftest import Lib

API = "/api/v1"


@pytest.fixture
def app_config(app_config: dict) -> dict:
    # Faces do not matter to these tests except where a module asks for the real detector.
    return {**app_config, "MEDIALIB_FACE_DETECTOR": "none"}


@pytest.fixture
def make_lib(make_lib: Callable[..., Lib]) -> Callable[..., Lib]:
    # Most hardening tests work on album libraries.
    return functools.partial(make_lib, album_based=True)


@pytest.fixture(scope="session")
def photo() -> bytes:
    return encode(_picture(), "JPEG", quality=85)


def upload(client, library_id: str, space: str, path: str, data: bytes, token: str):
    response = client.put(f"{API}/file/{library_id}/{space}/{path}?access_token={token}", data=data)
    response.close()
    return response
