"""SMH spaces (contract section 2): create with the SDK's JSON body, space_id rules, list with markers,
delete with force, what non-admin users see, and the SDK's own space-api test flow."""

from __future__ import annotations

from flask import Flask
from foundation_helpers import media_count, png_bytes, stored_files
from smh_helpers import API, dir_url, file_url, qs


def create_space(client, token: str, body: dict | None = None, **params: object):
    return client.post(f"{API}/space/lib1" + qs(access_token=token, **params), json={} if body is None else body)


def listing(client, token: str, *flags: str, **params: object):
    answer = client.get(f"{API}/space/lib1/list" + qs(*flags, access_token=token, **params))
    assert answer.status_code == 200, answer.json
    return answer.json


def test_the_sdk_space_api_flow(client, make_lib) -> None:
    """JS ``__tests__/integration/space-api.test.ts``: the helper's token (grant=admin, issued for another
    space, with a user) creates a space; an admin token issued for the new space deletes it."""
    made = make_lib(multi_tenant=True, spaces=("home",))
    helper = client.get(f"{API}/token" + qs(library_id="lib1", library_secret=made.secret, space_id="home",
                                            user_id="sdk-user", grant="admin")).json["accessToken"]  # fmt: skip
    body = {
        "isPublicRead": False,
        "isMultiAlbum": True,
        "allowPhoto": True,
        "allowVideo": True,
        "allowPhotoExtname": [".jpg"],
        "allowVideoExtname": [".mp4"],
        "recognizeSensitiveContent": False,
    }
    # The SDK's client adds its default space_id ("home") to every call, this one included.
    created = create_space(client, helper, body, space_id="home")
    assert created.status_code == 201
    space_id = created.json["spaceId"]
    own = client.get(f"{API}/token" + qs(library_id="lib1", library_secret=made.secret, space_id=space_id,
                                         grant="admin")).json["accessToken"]  # fmt: skip
    assert client.delete(f"{API}/space/lib1/{space_id}" + qs(access_token=own)).status_code == 204
    assert space_id not in [s["spaceId"] for s in listing(client, made.admin)["list"]]


def test_public_read_from_the_body_serves_without_a_token(client, make_lib) -> None:
    made = make_lib(multi_tenant=True, album_based=True)
    assert create_space(client, made.admin, {"isPublicRead": True}, space_id="open").status_code == 201
    assert create_space(client, made.admin, {}, space_id="closed").status_code == 201
    for space in ("open", "closed"):
        assert client.put(dir_url("lib1", space, "a", access_token=made.admin)).status_code == 201
        put = client.put(file_url("lib1", space, "a/p.png", access_token=made.admin), data=png_bytes())
        assert put.status_code == 201
    assert client.get(f"{API}/album/lib1/open/cover/a" + qs(size=16)).status_code == 302
    assert client.get(file_url("lib1", "open", "a/p.png")).status_code == 302
    assert client.get(file_url("lib1", "open", "a/p.png", "info")).status_code == 200
    assert client.get(file_url("lib1", "open", "a/p.png", "preview", size=16)).status_code == 302
    assert client.get(dir_url("lib1", "open", "a", "by-marker=1")).status_code == 200
    for url in (f"{API}/album/lib1/closed/cover/a", file_url("lib1", "closed", "a/p.png")):
        answer = client.get(url)
        assert (answer.status_code, answer.json["code"]) == (400, "EmptyAccessToken")
    # Writes always need a token.
    answer = client.put(dir_url("lib1", "open", "b"))
    assert (answer.status_code, answer.json["code"]) == (400, "EmptyAccessToken")


def test_space_id_rules(client, make_lib) -> None:
    made = make_lib(multi_tenant=True)
    for bad in ("a", "x" * 33, "Ab", "a_b", "-ab", "ab-", "a b"):
        answer = create_space(client, made.admin, space_id=bad)
        assert (answer.status_code, answer.json["code"]) == (400, "SpaceIdInvalid"), bad
    for good in ("ab", "a-b", "0" * 32):
        assert create_space(client, made.admin, space_id=good).json == {"spaceId": good}
    generated = create_space(client, made.admin).json["spaceId"]
    assert 2 <= len(generated) <= 32 and generated == generated.lower()


def test_list_pages_with_marker_absent_on_the_last_page(client, make_lib, clock) -> None:
    made = make_lib(multi_tenant=True)
    for name in ("ee", "bb", "dd", "aa", "cc"):
        create_space(client, made.admin, space_id=name)
        clock.advance(1)
    seen, marker, pages = [], None, 0
    while True:
        page = listing(client, made.admin, limit=2, marker=marker)
        pages += 1
        seen += [s["spaceId"] for s in page["list"]]
        if "marker" not in page:
            break
        marker = page["marker"]
    assert (seen, pages) == (["ee", "bb", "dd", "aa", "cc"], 3)  # creation order
    entry = listing(client, made.admin, limit=1)["list"][0]
    assert set(entry) >= {"spaceId", "userId", "creationTime"}


def test_ordered_list_with_prefix_start_name_and_marker(client, make_lib) -> None:
    made = make_lib(multi_tenant=True)
    for name in ("b2", "a1", "b1", "c1", "b3"):
        create_space(client, made.admin, space_id=name)

    def ids(page: dict) -> list[str]:
        return [s["spaceId"] for s in page["list"]]

    assert ids(listing(client, made.admin, "ordered=1")) == ["a1", "b1", "b2", "b3", "c1"]
    assert ids(listing(client, made.admin, "ordered", prefix="b")) == ["b1", "b2", "b3"]
    assert ids(listing(client, made.admin, "ordered=1", start_name="b1")) == ["b2", "b3", "c1"]  # exclusive
    first = listing(client, made.admin, "ordered=1", prefix="b", limit=2)
    assert ids(first) == ["b1", "b2"] and first["marker"]
    rest = listing(client, made.admin, "ordered=1", prefix="b", limit=2, marker=first["marker"], start_name="a")
    assert ids(rest) == ["b3"] and "marker" not in rest  # marker wins over start_name


def test_non_admin_users_see_the_spaces_they_created(client, make_lib, issue) -> None:
    made = make_lib(multi_tenant=True)
    alice = issue("lib1", user="alice", grants="create_space")
    bob = issue("lib1", user="bob", grants="create_space")
    create_space(client, alice, space_id="al")
    create_space(client, bob, space_id="bo")
    create_space(client, made.admin, space_id="ad")
    assert [(s["spaceId"], s["userId"]) for s in listing(client, alice)["list"]] == [("al", "alice")]
    assert [s["spaceId"] for s in listing(client, bob)["list"]] == ["bo"]
    assert [s["spaceId"] for s in listing(client, made.admin)["list"]] == ["al", "bo", "ad"]


def test_delete_needs_force_for_a_space_that_is_not_empty(app: Flask, client, make_lib) -> None:
    made = make_lib(multi_tenant=True, album_based=True, spaces=("full", "empty"))
    client.put(dir_url("lib1", "full", "a", access_token=made.admin))
    client.put(file_url("lib1", "full", "a/p.png", access_token=made.admin), data=png_bytes())
    assert media_count(app) == 1 and len(stored_files(app)) == 1
    for query in ({}, {"force": 0}):
        answer = client.delete(f"{API}/space/lib1/full" + qs(access_token=made.admin, **query))
        assert (answer.status_code, answer.json["code"]) == (409, "SpaceNotEmpty")
    assert media_count(app) == 1
    assert client.delete(f"{API}/space/lib1/empty" + qs(access_token=made.admin)).status_code == 204
    forced = client.delete(f"{API}/space/lib1/full" + qs(access_token=made.admin, force=1))
    assert forced.status_code == 204 and forced.data == b""
    assert media_count(app) == 0 and stored_files(app) == []
    assert listing(client, made.admin)["list"] == []
    gone = client.get(dir_url("lib1", "full", "", access_token=made.admin))
    assert (gone.status_code, gone.json["code"]) == (404, "SpaceNotFound")


def test_tokens_bound_to_a_deleted_space_die_with_it(client, make_lib, issue) -> None:
    made = make_lib(multi_tenant=True, spaces=("s1", "s2"))
    only = issue("lib1", space="s1", grants="admin")
    both = client.get(f"{API}/token" + qs(library_id="lib1", library_secret=made.secret, space_id="s1,s2",
                                          grant="admin")).json["accessToken"]  # fmt: skip
    assert client.delete(f"{API}/space/lib1/s1" + qs(access_token=made.admin)).status_code == 204
    create_space(client, made.admin, space_id="s1")  # a new space of the same name
    for token in (only, both):
        answer = client.get(dir_url("lib1", "s1", "", access_token=token))
        assert (answer.status_code, answer.json["code"]) == (403, "InvalidAccessToken")


def test_delete_space_grants_and_single_tenant(client, make_lib, issue) -> None:
    make_lib(multi_tenant=True, spaces=("s1",))
    writer = issue("lib1", grants="create_space")
    answer = client.delete(f"{API}/space/lib1/s1" + qs(access_token=writer))
    assert (answer.status_code, answer.json["code"]) == (403, "NoPermission")
    deleter = issue("lib1", grants="delete_space")
    assert client.delete(f"{API}/space/lib1/s1" + qs(access_token=deleter)).status_code == 204
    single = make_lib("solo")
    answer = client.delete(f"{API}/space/solo/-" + qs(access_token=single.admin))
    assert (answer.status_code, answer.json["code"]) == (400, "NotMultiSpaceLibrary")
