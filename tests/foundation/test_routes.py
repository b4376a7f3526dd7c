"""SMH routes: spaces, directories (albums) and files."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from foundation_helpers import API, jpeg_bytes, media_count, mp4_bytes, png_bytes, stored_files
from sqlalchemy import select

from flask_medialib import get_state, signing
from flask_medialib.models import Album, Media


def q(token: str, **extra) -> dict:
    return {"access_token": token, **extra}


# -- spaces -----------------------------------------------------------------


def test_create_and_list_spaces_with_an_admin_token(client, make_lib, clock) -> None:
    made = make_lib(multi_tenant=True)
    named = client.post(f"{API}/space/lib1", query_string=q(made.admin, space_id="shop"), json={"isPublicRead": True})
    assert (named.status_code, named.json) == (201, {"spaceId": "shop"})
    clock.advance(1)
    generated = client.post(f"{API}/space/lib1", query_string=q(made.admin))
    assert generated.status_code == 201 and generated.json["spaceId"] not in ("shop", "-")
    listed = client.get(f"{API}/space/lib1/list", query_string=q(made.admin))
    assert listed.status_code == 200 and "marker" not in listed.json
    assert [(s["spaceId"], s["isPublicRead"]) for s in listed.json["list"]] == [
        ("shop", True),
        (generated.json["spaceId"], False),
    ]
    dup = client.post(f"{API}/space/lib1", query_string=q(made.admin, space_id="shop"))
    assert (dup.status_code, dup.json["code"]) == (409, "SpaceAlreadyExists")


def test_spaces_need_their_grants(client, make_lib, issue) -> None:
    make_lib(multi_tenant=True)
    writer = issue("lib1", grants="upload_file,create_directory")
    answer = client.post(f"{API}/space/lib1", query_string=q(writer))
    assert (answer.status_code, answer.json["code"]) == (403, "NoPermission")
    # A token that is not admin lists only the spaces its user created: none here.
    assert client.get(f"{API}/space/lib1/list", query_string=q(writer)).json == {"list": []}
    for answer in (client.post(f"{API}/space/lib1"), client.get(f"{API}/space/lib1/list")):
        assert (answer.status_code, answer.json["code"]) == (400, "EmptyAccessToken")


def test_no_space_creation_in_a_single_tenant_library(client, make_lib) -> None:
    made = make_lib()
    answer = client.post(f"{API}/space/lib1", query_string=q(made.admin))
    assert (answer.status_code, answer.json["code"]) == (400, "NotMultiSpaceLibrary")


def test_bad_space_ids_are_refused(client, make_lib) -> None:
    made = make_lib(multi_tenant=True)
    for bad in ("-", "a b", "x" * 33, "a/b", "Upper", "a", "-ab", "ab-", "a_b"):
        answer = client.post(f"{API}/space/lib1", query_string=q(made.admin, space_id=bad))
        assert (answer.status_code, answer.json["code"]) == (400, "SpaceIdInvalid"), bad
    assert client.get(f"{API}/space/lib1/list", query_string=q(made.admin)).json == {"list": []}
    for good in ("ab", "a-b", "x" * 32, "0s9"):
        assert client.post(f"{API}/space/lib1", query_string=q(made.admin, space_id=good)).status_code == 201


# -- directories ------------------------------------------------------------


def test_create_list_delete_albums(app: Flask, client, make_lib) -> None:
    made = make_lib(album_based=True)
    created = client.put(f"{API}/directory/lib1/-/Holidays", query_string=q(made.admin))
    assert created.status_code == 201 and created.json["path"] == ["Holidays"]
    again = client.put(f"{API}/directory/lib1/-/Holidays", query_string=q(made.admin))
    assert (again.status_code, again.json["code"]) == (409, "SameNameDirectoryOrFileExists")
    client.put(f"{API}/directory/lib1/-/Art", query_string=q(made.admin))
    listed = client.get(f"{API}/directory/lib1/-", query_string=q(made.admin))
    assert [(e["name"], e["type"]) for e in listed.json["contents"]] == [("Art", "dir"), ("Holidays", "dir")]

    gone = client.delete(f"{API}/directory/lib1/-/Art", query_string=q(made.admin))
    assert gone.status_code == 204
    listed = client.get(f"{API}/directory/lib1/-", query_string=q(made.admin))
    assert [e["name"] for e in listed.json["contents"]] == ["Holidays"]
    missing = client.delete(f"{API}/directory/lib1/-/Art", query_string=q(made.admin))
    assert (missing.status_code, missing.json["code"]) == (404, "DirectoryNotFound")


@pytest.mark.both_storages
def test_deleting_an_album_removes_its_media_and_bytes(app: Flask, client, make_lib) -> None:
    made = make_lib(album_based=True, albums=("keep", "drop"))
    for album, name in [("drop", "1.png"), ("drop", "2.jpg"), ("keep", "3.png")]:
        data = jpeg_bytes() if name.endswith("jpg") else png_bytes()
        assert client.put(f"{API}/file/lib1/-/{album}/{name}", query_string=q(made.admin), data=data).status_code == 201
    assert media_count(app) == 3 and len(stored_files(app)) == 3
    assert client.delete(f"{API}/directory/lib1/-/drop", query_string=q(made.admin)).status_code == 204
    session = get_state(app).session
    assert session.execute(select(Media.file_name)).scalars().all() == ["3.png"]
    assert session.execute(select(Album.name)).scalars().all() == ["keep"]
    assert len(stored_files(app)) == 1


def test_directory_grants(client, make_lib, issue) -> None:
    make_lib(album_based=True)
    creator = issue("lib1", grants="create_directory")
    assert client.put(f"{API}/directory/lib1/-/a", query_string=q(creator)).status_code == 201
    assert client.delete(f"{API}/directory/lib1/-/a", query_string=q(creator)).status_code == 403
    deleter = issue("lib1", grants="delete_directory")
    assert client.put(f"{API}/directory/lib1/-/b", query_string=q(deleter)).status_code == 403
    assert client.delete(f"{API}/directory/lib1/-/a", query_string=q(deleter)).status_code == 204


def test_albums_in_a_multi_tenant_library_are_per_space(client, make_lib) -> None:
    made = make_lib(multi_tenant=True, album_based=True, spaces=("s1", "s2"))
    assert client.put(f"{API}/directory/lib1/s1/same", query_string=q(made.admin)).status_code == 201
    assert client.put(f"{API}/directory/lib1/s2/same", query_string=q(made.admin)).status_code == 201
    assert client.get(f"{API}/directory/lib1/s1", query_string=q(made.admin)).json["contents"][0]["name"] == "same"


# -- files ------------------------------------------------------------------


@pytest.mark.both_storages
def test_kind_comes_from_content_not_name(app: Flask, client, make_lib) -> None:
    made = make_lib()
    answer = client.put(f"{API}/file/lib1/-/x.mp4", query_string=q(made.admin), data=png_bytes(33, 21))
    assert answer.status_code == 201
    assert answer.json["type"] == "image" and (answer.json["width"], answer.json["height"]) == (33, 21)
    media = get_state(app).session.get(Media, answer.json["mediaId"])
    assert media.mime == "image/png"
    # The key is random hex plus the extension of the content: nothing of the client's name.
    assert re.fullmatch(r"[0-9a-f]{2}/[0-9a-f]{2}/[0-9a-f]{32}\.png", media.storage_key)
    assert stored_files(app) == [media.storage_key]


@pytest.mark.both_storages
def test_image_and_video_are_probed(app: Flask, client, make_lib, tmp_path) -> None:
    made = make_lib()
    image = client.put(f"{API}/file/lib1/-/photo.jpg", query_string=q(made.admin), data=jpeg_bytes(80, 60))
    assert image.json["type"] == "image" and (image.json["width"], image.json["height"]) == (80, 60)
    assert image.json["duration"] is None

    clip = mp4_bytes(tmp_path, width=64, height=48, frames=20, fps=10)
    video = client.put(f"{API}/file/lib1/-/clip.bin", query_string=q(made.admin), data=clip)
    assert video.status_code == 201, video.json
    assert video.json["type"] == "video"
    assert (video.json["width"], video.json["height"]) == (64, 48)
    assert video.json["duration"] == 2.0
    assert video.json["size"] == str(len(clip))  # a string, as SMH sends sizes
    media = get_state(app).session.get(Media, video.json["mediaId"])
    assert media.mime == "video/mp4" and media.kind_name == "video"


def test_get_file_redirects_to_a_signed_url_of_the_same_bytes(app: Flask, client, make_lib) -> None:
    made = make_lib(album_based=True, albums=("a",))
    data = jpeg_bytes(50, 40)
    client.put(f"{API}/file/lib1/-/a/pic.jpg", query_string=q(made.admin), data=data)
    answer = client.get(f"{API}/file/lib1/-/a/pic.jpg", query_string=q(made.admin))
    assert answer.status_code == 302
    location = answer.headers["Location"]
    # The URL carries the media's identity, never its name or the token (decoded: its base64 may spell "pic").
    prefix, token = location.rsplit("/", 1)
    with app.app_context():
        ref = signing.verify(token)
        assert ref.uid == get_state(app).session.execute(select(Media.uid)).scalar_one()
    assert "pic" not in prefix and made.admin not in location
    with client.get(location) as served:
        assert served.status_code == 200
        assert served.data == data
        assert served.mimetype == "image/jpeg"
    with client.get(location[:-3] + "xyz") as forged:
        assert (forged.status_code, forged.json["code"]) == (403, "InvalidSignature")


def test_get_missing_file(client, make_lib) -> None:
    made = make_lib()
    answer = client.get(f"{API}/file/lib1/-/none.png", query_string=q(made.admin))
    assert (answer.status_code, answer.json["code"]) == (404, "FileNotFound")


@pytest.mark.both_storages
def test_delete_file_removes_row_and_bytes(app: Flask, client, make_lib) -> None:
    made = make_lib()
    client.put(f"{API}/file/lib1/-/a.png", query_string=q(made.admin), data=png_bytes())
    client.put(f"{API}/file/lib1/-/b.png", query_string=q(made.admin), data=png_bytes())
    assert len(stored_files(app)) == 2
    answer = client.delete(f"{API}/file/lib1/-/a.png", query_string=q(made.admin))
    assert answer.status_code == 204
    assert get_state(app).session.execute(select(Media.file_name)).scalars().all() == ["b.png"]
    assert len(stored_files(app)) == 1
    again = client.delete(f"{API}/file/lib1/-/a.png", query_string=q(made.admin))
    assert (again.status_code, again.json["code"]) == (404, "FileNotFound")


def test_file_grants(client, make_lib, issue) -> None:
    make_lib()
    uploader = issue("lib1", grants="upload_file")
    assert client.put(f"{API}/file/lib1/-/a.png", query_string=q(uploader), data=png_bytes()).status_code == 201
    assert client.delete(f"{API}/file/lib1/-/a.png", query_string=q(uploader)).status_code == 403
    deleter = issue("lib1", grants="delete_file")
    assert client.put(f"{API}/file/lib1/-/b.png", query_string=q(deleter), data=png_bytes()).status_code == 403
    assert client.delete(f"{API}/file/lib1/-/a.png", query_string=q(deleter)).status_code == 204


def test_files_list_in_upload_time_then_id_order(client, make_lib, clock) -> None:
    made = make_lib(album_based=True, albums=("a",))
    for name in ("z.png", "y.png"):  # same upload time: id decides
        client.put(f"{API}/file/lib1/-/a/{name}", query_string=q(made.admin), data=png_bytes())
    clock.advance(-60)  # an earlier upload time sorts first whatever its id
    client.put(f"{API}/file/lib1/-/a/early.png", query_string=q(made.admin), data=png_bytes())
    listed = client.get(f"{API}/directory/lib1/-/a", query_string=q(made.admin))
    assert [e["name"] for e in listed.json["contents"]] == ["early.png", "z.png", "y.png"]


def test_flat_library_lists_its_files_at_the_space_root(client, make_lib) -> None:
    made = make_lib()
    client.put(f"{API}/file/lib1/-/a.png", query_string=q(made.admin), data=png_bytes(7, 9))
    listed = client.get(f"{API}/directory/lib1/-", query_string=q(made.admin))
    [entry] = listed.json["contents"]
    assert (entry["name"], entry["type"], entry["width"], entry["height"]) == ("a.png", "image", 7, 9)
