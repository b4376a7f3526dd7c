"""GET/DELETE /token and what a token may do: expiry, renewal, revocation, scope, user_id (SMH codes)."""

from __future__ import annotations

import datetime as dt

import pytest
from flask import Flask
from foundation_helpers import API, png_bytes
from sqlalchemy import select

from flask_medialib import auth, get_state
from flask_medialib.models import AccessToken, Media


def post_token(client, **params):
    """SMH creates tokens with GET (JS ``createToken``, Android ``getAccessToken``)."""
    return client.get(f"{API}/token", query_string=params)


def listing(client, token: str | None, library: str = "lib1", space: str = "-", **params):
    if token:
        params["access_token"] = token
    return client.get(f"{API}/directory/{library}/{space}", query_string=params)


def test_issue_a_token(app: Flask, client, make_lib) -> None:
    made = make_lib()
    answer = post_token(client, library_id="lib1", library_secret=made.secret, grant="admin,upload_file", period=600)
    assert answer.status_code == 200
    assert set(answer.json) == {"accessToken", "expiresIn"} and answer.json["expiresIn"] == 600
    token = answer.json["accessToken"]
    row = (
        get_state(app)
        .session.execute(select(AccessToken).where(AccessToken.token_hash == auth.digest(token)))
        .scalar_one()
    )
    assert row.grant_set == {"admin", "upload_file"} and row.ttl == 600
    assert listing(client, token).status_code == 200


def test_default_period_is_the_configured_token_ttl(client, make_lib) -> None:
    made = make_lib()
    answer = post_token(client, library_id="lib1", library_secret=made.secret)
    assert answer.json["expiresIn"] == 86_400


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"library_secret": "wrong"}, 404, "WrongLibraryIdOrSecret"),
        ({"library_secret": ""}, 400, "EmptyLibrarySecret"),
        ({"library_secret": None}, 400, "EmptyLibrarySecret"),
        ({"library_id": None}, 400, "EmptyLibraryId"),
        ({"library_id": None, "library_secret": None}, 400, "EmptyLibraryIdOrSecret"),
        ({"library_id": "nolib"}, 404, "WrongLibraryIdOrSecret"),
        ({"grant": "admin,root"}, 400, "ParamInvalid"),
        ({"period": 0}, 400, "ParamInvalid"),
        ({"period": -5}, 400, "ParamInvalid"),
        ({"period": 30 * 86_400 + 1}, 400, "ParamInvalid"),
        ({"period": "soon"}, 400, "ParamInvalid"),
        ({"space_id": "other"}, 404, "SpaceNotFound"),
        ({"user_id": ""}, 400, "ParamInvalid"),
        ({"user_id": "u" * 256}, 400, "UserIdLengthExceed"),
        ({"client_id": "c" * 256}, 400, "ClientIdLengthExceed"),
    ],
)
def test_issue_refuses_bad_requests(app: Flask, client, make_lib, params, status, code) -> None:
    made = make_lib()
    query = {"library_id": "lib1", "library_secret": made.secret, **params}
    answer = post_token(client, **{k: v for k, v in query.items() if v is not None})
    assert (answer.status_code, answer.json["code"]) == (status, code)
    assert answer.json["message"] and answer.json["requestId"]
    assert get_state(app).session.execute(select(AccessToken)).scalars().all().__len__() == 1  # make_lib's own


def test_period_bounds_are_inclusive(client, make_lib) -> None:
    made = make_lib()
    for period in (1, 30 * 86_400):
        answer = post_token(client, library_id="lib1", library_secret=made.secret, period=period)
        assert answer.status_code == 200 and answer.json["expiresIn"] == period


def test_unknown_grant_is_named(client, make_lib) -> None:
    made = make_lib()
    answer = post_token(client, library_id="lib1", library_secret=made.secret, grant="upload_file,fly")
    assert "fly" in answer.json["message"]


def test_delete_token_revokes_it(app: Flask, client, make_lib) -> None:
    made = make_lib()
    token = post_token(client, library_id="lib1", library_secret=made.secret).json["accessToken"]
    assert listing(client, token).status_code == 200
    gone = client.delete(f"{API}/token/lib1/{token}")
    assert gone.status_code == 204
    answer = listing(client, token)
    assert (answer.status_code, answer.json["code"]) == (403, "InvalidAccessToken")
    assert "revoked" in answer.json["message"]


def test_delete_token_of_another_library_or_unknown_is_refused(client, make_lib) -> None:
    make_lib("lib1")
    other = make_lib("lib2")
    assert client.delete(f"{API}/token/lib1/{other.admin}").status_code == 403
    assert listing(client, other.admin, "lib2").status_code == 200  # still alive
    assert client.delete(f"{API}/token/lib1/not-a-token").json["code"] == "InvalidAccessToken"
    assert client.delete(f"{API}/token/nolib/x").json["code"] == "LibraryNotFound"


def test_missing_token(client, make_lib) -> None:
    make_lib()
    answer = listing(client, None)
    assert (answer.status_code, answer.json["code"]) == (400, "EmptyAccessToken")


def test_wrong_token(client, make_lib) -> None:
    make_lib()
    answer = listing(client, "made-up")
    assert (answer.status_code, answer.json["code"]) == (403, "InvalidAccessToken")


def test_expired_token(client, make_lib, issue, clock) -> None:
    make_lib()
    token = issue("lib1", ttl=100)
    clock.advance(99)
    assert listing(client, token).status_code == 200  # 1 s left: renewed to 100 s from now
    clock.advance(100)
    answer = listing(client, token)
    assert (answer.status_code, answer.json["code"]) == (403, "InvalidAccessToken")
    assert "expired" in answer.json["message"]


def test_sliding_renewal_on_use(app: Flask, client, make_lib, issue, clock) -> None:
    make_lib()
    token = issue("lib1", ttl=100)
    row = (
        get_state(app)
        .session.execute(select(AccessToken).where(AccessToken.token_hash == auth.digest(token)))
        .scalar_one()
    )
    start = clock()
    clock.advance(5)
    assert listing(client, token).status_code == 200
    get_state(app).session.refresh(row)
    assert row.expires_at == start + dt.timedelta(seconds=100)  # lagging by less than a tenth: no write
    clock.advance(25)
    assert listing(client, token).status_code == 200
    get_state(app).session.refresh(row)
    assert row.expires_at == clock() + dt.timedelta(seconds=100)  # every use grants the period again (SMH)
    # Used every 60 s, a 100 s token lives on well past its first expiry.
    for _ in range(5):
        clock.advance(60)
        assert listing(client, token).status_code == 200
    get_state(app).session.refresh(row)
    assert row.expires_at == clock() + dt.timedelta(seconds=100)
    clock.advance(101)
    assert listing(client, token).status_code == 403


def test_bearer_header_is_accepted(client, make_lib) -> None:
    made = make_lib()
    answer = client.get(f"{API}/directory/lib1/-", headers={"Authorization": f"Bearer {made.admin}"})
    assert answer.status_code == 200


def test_token_of_another_library(client, make_lib) -> None:
    make_lib("lib1")
    other = make_lib("lib2")
    answer = listing(client, other.admin)
    assert (answer.status_code, answer.json["code"]) == (403, "AccessTokenNotMatchLibrary")
    assert "another library" in answer.json["message"]


def test_token_of_another_space(client, make_lib, issue) -> None:
    make_lib(multi_tenant=True, spaces=("s1", "s2"))
    token = issue("lib1", space="s1", grants="admin")
    assert listing(client, token, space="s1").status_code == 200
    answer = listing(client, token, space="s2")
    assert (answer.status_code, answer.json["code"]) == (403, "AccessTokenNotMatchSpace")
    assert "another space" in answer.json["message"]


def test_a_token_without_grants_can_only_read(client, make_lib, issue) -> None:
    make_lib(album_based=True, albums=("a",))
    token = issue("lib1")
    assert listing(client, token).status_code == 200
    assert client.get(f"{API}/directory/lib1/-/a", query_string={"access_token": token}).status_code == 200
    for method, url in [
        ("put", f"{API}/directory/lib1/-/b"),
        ("delete", f"{API}/directory/lib1/-/a"),
        ("put", f"{API}/file/lib1/-/a/x.png"),
        ("post", f"{API}/space/lib1"),
    ]:
        body = png_bytes() if "/file/" in url else None
        answer = getattr(client, method)(url, query_string={"access_token": token}, data=body)
        assert (answer.status_code, answer.json["code"]) == (403, "NoPermission"), url


def test_public_read_library_reads_without_token_but_writes_need_one(client, make_lib) -> None:
    make_lib(public_read=True)
    assert listing(client, None).status_code == 200
    answer = client.put(f"{API}/file/lib1/-/x.png", data=png_bytes())
    assert (answer.status_code, answer.json["code"]) == (400, "EmptyAccessToken")


def test_user_id_only_with_an_admin_token_issued_without_a_user(app: Flask, client, make_lib, issue) -> None:
    made = make_lib()
    upload = client.put(
        f"{API}/file/lib1/-/a.png", query_string={"access_token": made.admin, "user_id": "bob"}, data=png_bytes()
    )
    assert upload.status_code == 201
    media = get_state(app).session.get(Media, upload.json["mediaId"])
    assert media.create_user == "bob"

    for token in (issue("lib1", user="carol", grants="admin"), issue("lib1", grants="upload_file")):
        answer = client.put(
            f"{API}/file/lib1/-/b.png", query_string={"access_token": token, "user_id": "bob"}, data=png_bytes()
        )
        assert (answer.status_code, answer.json["code"]) == (403, "NoPermission")
        assert "user_id" in answer.json["message"]

    as_carol = issue("lib1", user="carol", grants="upload_file")
    own = client.put(f"{API}/file/lib1/-/c.png", query_string={"access_token": as_carol}, data=png_bytes())
    assert get_state(app).session.get(Media, own.json["mediaId"]).create_user == "carol"
