"""Fixtures of the material API tests: an enterprise (space), its tokens and a call helper."""

from __future__ import annotations

import pytest
from material_helpers import Api, Corp

from flask_medialib import auth, get_state
from flask_medialib.services import library as lib


@pytest.fixture
def corp(app) -> Corp:
    library, _ = lib.create_library("mat", multi_tenant=True)
    space = lib.create_space(library, "acme")
    lib.create_space(library, "other")
    writer, _ = auth.issue_token(library, space=space, grants=frozenset({"material_write"}))
    reader, _ = auth.issue_token(library, space=space)
    admin, _ = auth.issue_token(library, grants=frozenset({"admin"}))
    get_state().session.commit()
    return Corp("mat", "acme", writer, reader, admin)


@pytest.fixture
def api(client, corp) -> Api:
    return Api(client, corp)
