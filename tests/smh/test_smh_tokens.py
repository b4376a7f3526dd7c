"""SMH tokens (contract section 1): create with every parameter, renew, delete one, delete by user,
grants per route, sliding expiry, and 403 ``InvalidAccessToken`` (the SDKs' refresh trigger) everywhere."""

from __future__ import annotations

import pytest
from foundation_helpers import png_bytes
from smh_helpers import API, dir_url, file_url, qs

from flask_medialib import auth
from flask_medialib.services import library as lib

# JS CreateTokenGrantEnum, copied from the contract rather than from our own GRANTS.
SMH_GRANTS = [
    "admin", "create_space", "delete_space", "space_admin", "create_directory", "delete_directory",
    "delete_directory_permanent", "move_directory", "copy_directory", "upload_file", "upload_file_force",
    "begin_upload", "begin_upload_force", "confirm_upload", "create_symlink", "create_symlink_force",
    "delete_file", "delete_file_permanent", "move_file", "move_file_force", "copy_file", "copy_file_force",
    "delete_recycled", "restore_recycled",
]  # fmt: skip


def create(client, library: str, secret: str, **params: object):
    return client.get(f"{API}/token" + qs(library_id=library, library_secret=secret, **params))


def test_create_with_every_parameter_binds_several_spaces(client, make_lib) -> None:
    made = make_lib(multi_tenant=True, album_based=True, spaces=("s1", "s2", "s3"))
    answer = create(client, "lib1", made.secret, space_id="s1,s2", user_id="u1", client_id="web",
                    session_id="sess-1", period=600, grant="space_admin")  # fmt: skip
    assert answer.status_code == 200
    assert set(answer.json) == {"accessToken", "expiresIn"} and answer.json["expiresIn"] == 600
    token = answer.json["accessToken"]
    for space in ("s1", "s2"):
        assert client.put(dir_url("lib1", space, "new", access_token=token)).status_code == 201
    other = client.put(dir_url("lib1", "s3", "new", access_token=token))
    assert (other.status_code, other.json["code"]) == (403, "AccessTokenNotMatchSpace")


@pytest.mark.parametrize("grant", SMH_GRANTS)
def test_every_smh_grant_name_is_accepted(client, make_lib, grant: str) -> None:
    made = make_lib()
    answer = create(client, "lib1", made.secret, grant=grant)
    assert answer.status_code == 200, answer.json


def test_grant_empty_means_read_only(client, make_lib) -> None:
    made = make_lib(album_based=True, albums=("a",))
    token = create(client, "lib1", made.secret).json["accessToken"]
    assert client.get(dir_url("lib1", "-", "", "by-marker", access_token=token)).status_code == 200
    answer = client.put(dir_url("lib1", "-", "b", access_token=token))
    assert (answer.status_code, answer.json["code"]) == (403, "NoPermission")


@pytest.mark.parametrize(
    ("grant", "allowed"),
    [("admin", True), ("space_admin", True), ("create_directory", True), ("move_directory", False),
     ("upload_file", False)],
)  # fmt: skip
def test_create_directory_takes_the_grants_smh_names(client, make_lib, issue, grant: str, allowed: bool) -> None:
    make_lib(album_based=True)
    answer = client.put(dir_url("lib1", "-", "a", access_token=issue("lib1", grants=grant)))
    assert answer.status_code == (201 if allowed else 403)


@pytest.mark.parametrize("grant", ["upload_file", "upload_file_force", "begin_upload", "begin_upload_force",
                                   "space_admin"])  # fmt: skip
def test_upload_takes_every_begin_upload_grant(client, make_lib, issue, grant: str) -> None:
    make_lib()
    answer = client.put(file_url("lib1", "-", "x.png", access_token=issue("lib1", grants=grant)), data=png_bytes())
    assert answer.status_code == 201


def test_grants_of_move_and_delete(client, make_lib, issue) -> None:
    made = make_lib(album_based=True, albums=("a",))
    client.put(file_url("lib1", "-", "a/x.png", access_token=made.admin), data=png_bytes())
    creator = issue("lib1", grants="create_directory")
    refused = client.put(dir_url("lib1", "-", "b", access_token=creator), json={"from": "a"})
    assert (refused.status_code, refused.json["code"]) == (403, "NoPermission")
    mover = issue("lib1", grants="move_directory")
    assert client.put(dir_url("lib1", "-", "b", access_token=mover), json={"from": "a"}).status_code == 204
    assert client.delete(file_url("lib1", "-", "b/x.png", access_token=mover)).status_code == 403
    deleter = issue("lib1", grants="delete_file")
    assert client.delete(file_url("lib1", "-", "b/x.png", access_token=deleter)).status_code == 204
    assert client.delete(dir_url("lib1", "-", "b", access_token=deleter)).status_code == 403
    dir_deleter = issue("lib1", grants="delete_directory")
    assert client.delete(dir_url("lib1", "-", "b", access_token=dir_deleter)).status_code == 204


def test_renew_gives_the_period_again_and_keeps_the_token(client, make_lib, clock) -> None:
    made = make_lib()
    token = create(client, "lib1", made.secret, period=100).json["accessToken"]
    clock.advance(90)
    renewed = client.post(f"{API}/token/lib1/{token}")  # no query, no body (JS renewToken)
    assert (renewed.status_code, renewed.json) == (200, {"accessToken": token, "expiresIn": 100})
    clock.advance(99)
    assert client.get(dir_url("lib1", "-", "", access_token=token)).status_code == 200
    clock.advance(101)
    expired = client.post(f"{API}/token/lib1/{token}")
    assert (expired.status_code, expired.json["code"]) == (403, "InvalidAccessToken")


def test_renew_refuses_unknown_and_foreign_tokens(client, make_lib) -> None:
    make_lib("lib1")
    other = make_lib("lib2")
    unknown = client.post(f"{API}/token/lib1/not-a-token")
    assert (unknown.status_code, unknown.json["code"]) == (403, "InvalidAccessToken")
    foreign = client.post(f"{API}/token/lib1/{other.admin}")
    assert (foreign.status_code, foreign.json["code"]) == (403, "AccessTokenNotMatchLibrary")
    missing = client.post(f"{API}/token/nolib/{other.admin}")
    assert (missing.status_code, missing.json["code"]) == (404, "LibraryNotFound")


def test_sliding_expiry_by_period(client, make_lib, clock) -> None:
    made = make_lib()
    token = create(client, "lib1", made.secret, period=100).json["accessToken"]
    for _ in range(5):  # used every 80 s, the token outlives its first 100 s many times over
        clock.advance(80)
        assert client.get(dir_url("lib1", "-", "", access_token=token)).status_code == 200
    clock.advance(101)
    answer = client.get(dir_url("lib1", "-", "", access_token=token))
    assert (answer.status_code, answer.json["code"]) == (403, "InvalidAccessToken")


def test_delete_one_token(client, make_lib) -> None:
    made = make_lib()
    token = create(client, "lib1", made.secret).json["accessToken"]
    assert client.delete(f"{API}/token/lib1/{token}").status_code == 204  # no secret: callable from clients
    answer = client.get(dir_url("lib1", "-", "", access_token=token))
    assert (answer.status_code, answer.json["code"]) == (403, "InvalidAccessToken")


def test_delete_by_user_with_client_and_session_filters(client, make_lib) -> None:
    made = make_lib()

    def token(user: str, client_id: str, session_id: str) -> str:
        answer = create(client, "lib1", made.secret, user_id=user, client_id=client_id, session_id=session_id)
        return str(answer.json["accessToken"])

    def alive(value: str) -> bool:
        return client.get(dir_url("lib1", "-", "", access_token=value)).status_code == 200

    def delete(**filters: str):
        return client.delete(f"{API}/token/lib1" + qs(library_secret=made.secret, **filters))

    web1, web2, app1 = token("u", "web", "s1"), token("u", "web", "s2"), token("u", "app", "s3")
    bob = token("bob", "web", "s1")
    assert delete(user_id="u", client_id="web", session_id="s1").status_code == 204
    assert [alive(t) for t in (web1, web2, app1, bob)] == [False, True, True, True]
    assert delete(user_id="u", client_id="app,other").status_code == 204
    assert [alive(t) for t in (web2, app1, bob)] == [True, False, True]
    assert delete(user_id="u").status_code == 204
    assert [alive(t) for t in (web2, bob)] == [False, True]


def test_delete_by_user_needs_the_secret(client, make_lib) -> None:
    make_lib()
    wrong = client.delete(f"{API}/token/lib1" + qs(library_secret="nope", user_id="u"))
    assert (wrong.status_code, wrong.json["code"]) == (404, "WrongLibraryIdOrSecret")
    empty = client.delete(f"{API}/token/lib1" + qs(user_id="u"))
    assert (empty.status_code, empty.json["code"]) == (400, "EmptyLibrarySecret")


def test_delete_by_user_takes_at_most_100_ids(client, make_lib) -> None:
    made = make_lib()
    ids = ",".join(f"c{i}" for i in range(101))
    answer = client.delete(f"{API}/token/lib1" + qs(library_secret=made.secret, user_id="u", client_id=ids))
    assert (answer.status_code, answer.json["code"]) == (400, "ParamInvalid")


def test_invalid_token_is_403_invalid_access_token_on_every_route(client, make_lib, issue, clock) -> None:
    made = make_lib(multi_tenant=True, album_based=True, spaces=("s1",), albums=("a",))
    client.put(file_url("lib1", "s1", "a/x.png", access_token=made.admin), data=png_bytes())
    expired = issue("lib1", grants="admin", ttl=10)
    revoked = issue("lib1", grants="admin")
    client.delete(f"{API}/token/lib1/{revoked}")
    clock.advance(11)
    for token in (expired, revoked, "unknown-token"):
        for method, url in [
            ("get", dir_url("lib1", "s1", "", "by-marker=1", access_token=token)),
            ("get", dir_url("lib1", "s1", "a", "by-marker=1", access_token=token)),
            ("put", dir_url("lib1", "s1", "b", access_token=token)),
            ("get", file_url("lib1", "s1", "a/x.png", "info=1", access_token=token)),
            ("get", file_url("lib1", "s1", "a/x.png", "preview=1", size=32, access_token=token)),
            ("delete", file_url("lib1", "s1", "a/x.png", access_token=token)),
            ("get", f"{API}/album/lib1/s1/cover/a" + qs(access_token=token)),
            ("get", f"{API}/space/lib1/list" + qs(access_token=token)),
            ("post", f"{API}/space/lib1" + qs(access_token=token)),
            ("delete", f"{API}/space/lib1/s1" + qs(access_token=token)),
        ]:
            answer = getattr(client, method)(url)
            assert (answer.status_code, answer.json["code"]) == (403, "InvalidAccessToken"), (method, url)


def test_tokens_keep_client_and_session(app, make_lib) -> None:
    make_lib()
    _, row = auth.issue_token(lib.get_library("lib1"), user_id="u", client_id="c", session_id="s")
    assert (row.client_id, row.session_id) == ("c", "s")


def test_library_secret_is_the_alternative_credential(client, make_lib) -> None:
    made = make_lib(album_based=True)
    created = client.put(dir_url("lib1", "-", "a", library_secret=made.secret))
    assert created.status_code == 201
    uploaded = client.put(file_url("lib1", "-", "a/p.png", library_secret=made.secret, user_id="bob"), data=png_bytes())
    assert uploaded.status_code == 201
    assert client.get(file_url("lib1", "-", "a/p.png", "info", library_secret=made.secret)).status_code == 200
    wrong = client.get(dir_url("lib1", "-", "a", library_secret="nope"))
    assert (wrong.status_code, wrong.json["code"]) == (404, "WrongLibraryIdOrSecret")
    other = make_lib("lib2")
    foreign = client.get(dir_url("lib1", "-", "a", library_secret=other.secret))
    assert (foreign.status_code, foreign.json["code"]) == (404, "WrongLibraryIdOrSecret")
