"""The cover route: which media, SMH errors, access, the 302 and the signed file URL (no face model)."""

from __future__ import annotations

import base64
import json

import pytest
import requests
from cover_helpers import (
    at,
    close_to,
    cover_path,
    fetch_cover,
    insert_media,
    jpeg,
    make_library,
    mean_color,
    root_space,
    token_for,
    upload,
)

from flask_medialib import generations, get_state
from flask_medialib.models import AUDIO, IMAGE, TEXT
from flask_medialib.services import library as lib

RED, GREEN, BLUE = (220, 20, 20), (20, 200, 20), (20, 20, 220)


@pytest.fixture
def album_lib(app):
    library = make_library("lib", album_based=True, public_read=True)
    space = root_space(library)
    lib.create_album(library, space, "a")
    return library, space


@pytest.mark.both_storages
def test_cover_is_a_302_to_a_signed_square_jpeg(client, album_lib):
    library, space = album_lib
    upload(library, space, "a", "red.jpg", jpeg(RED), at(1))
    upload(library, space, "a", "green.jpg", jpeg(GREEN), at(2))
    resp = client.get(cover_path("lib", size=64))
    assert resp.status_code == 302
    assert resp.headers["Cache-Control"] == "public, max-age=30"
    image, _, headers = fetch_cover(client, cover_path("lib", size=64))
    assert image.format == "JPEG" and image.size == (64, 64)
    assert headers["Content-Type"] == "image/jpeg"
    assert close_to(mean_color(image), RED)
    assert "max-age=" in headers["Cache-Control"]
    etag = headers["ETag"]
    location = resp.headers["Location"]
    if location.startswith("http://127.0.0.1"):  # s3: the cover's object, from the bucket
        with requests.get(location, headers={"If-None-Match": etag}, timeout=10) as again:
            assert again.status_code == 304
        return
    with client.get(location, headers={"If-None-Match": etag}) as again:
        assert again.status_code == 304


def test_private_library_302_is_private(client, app):
    library = make_library("priv", album_based=False)
    upload(library, root_space(library), None, "r.jpg", jpeg(RED), at(1))
    token = token_for(library)
    resp = client.get(cover_path("priv", album=None, size=8, access_token=token))
    assert resp.status_code == 302
    assert resp.headers["Cache-Control"] == "private, max-age=30"


def test_size_is_upscaled_to_n_by_n(client, album_lib):
    library, space = album_lib
    upload(library, space, "a", "tiny.jpg", jpeg(RED, (30, 20)), at(1))
    for size in (1, 17, 2048):
        image, _, _ = fetch_cover(client, cover_path("lib", size=size))
        assert image.size == (size, size)


@pytest.mark.parametrize("bad", ["0", "-3", "2049", "abc", "1.5", ""])
def test_size_out_of_bounds_is_400(client, album_lib, bad):
    library, space = album_lib
    upload(library, space, "a", "r.jpg", jpeg(RED), at(1))
    resp = client.get(cover_path("lib", size=bad))
    assert resp.status_code == 400
    assert resp.get_json()["code"] == "ParamInvalid"
    assert "size" in resp.get_json()["message"]


def test_max_size_follows_config(client, app, album_lib):
    library, space = album_lib
    upload(library, space, "a", "r.jpg", jpeg(RED), at(1))
    get_state().config["MEDIALIB_COVER_MAX_SIZE"] = 100
    assert client.get(cover_path("lib", size=101)).status_code == 400
    assert client.get(cover_path("lib", size=100)).status_code == 302


@pytest.mark.both_storages
def test_no_size_serves_the_original_bytes(client, album_lib):
    library, space = album_lib
    original = jpeg(RED, (300, 200))
    upload(library, space, "a", "r.jpg", original, at(1))
    image, body, _ = fetch_cover(client, cover_path("lib"))
    assert body == original
    assert image.size == (300, 200)


@pytest.mark.both_storages
def test_no_size_turns_an_exif_rotated_photo_upright(client, album_lib):
    library, space = album_lib
    exif = __import__("PIL.Image", fromlist=["Exif"]).Exif()
    exif[0x0112] = 6  # stored landscape, shown portrait
    upload(library, space, "a", "rot.jpg", jpeg(RED, (300, 200), exif=exif.tobytes()), at(1))
    image, _, _ = fetch_cover(client, cover_path("lib"))
    assert image.size == (200, 300)


def test_ties_in_upload_time_are_broken_by_id(client, album_lib):
    library, space = album_lib
    upload(library, space, "a", "z-green.jpg", jpeg(GREEN), at(5))
    upload(library, space, "a", "a-red.jpg", jpeg(RED), at(5))
    image, _, _ = fetch_cover(client, cover_path("lib", size=8))
    assert close_to(mean_color(image), GREEN)  # same time: the lower id (uploaded first)


def test_oldest_upload_wins_whatever_the_insert_order(client, album_lib):
    library, space = album_lib
    upload(library, space, "a", "late.jpg", jpeg(GREEN), at(50))
    upload(library, space, "a", "early.jpg", jpeg(RED), at(10))
    image, _, _ = fetch_cover(client, cover_path("lib", size=8))
    assert close_to(mean_color(image), RED)


def test_newest_order(client, app, album_lib):
    library, space = album_lib
    get_state().config["MEDIALIB_COVER_ORDER"] = "newest"
    upload(library, space, "a", "old.jpg", jpeg(RED), at(1))
    upload(library, space, "a", "new-1.jpg", jpeg(GREEN), at(9))
    upload(library, space, "a", "new-2.jpg", jpeg(BLUE), at(9))
    image, _, _ = fetch_cover(client, cover_path("lib", size=8))
    assert close_to(mean_color(image), BLUE)  # same time: the higher id


def test_audio_and_text_are_skipped(client, album_lib):
    library, space = album_lib
    album = lib.get_album(library, space, "a")
    insert_media(space, album, kind=AUDIO, data=b"ID3" + b"\x00" * 100, at=at(1), ext=".mp3")
    insert_media(space, album, kind=TEXT, at=at(2))
    upload(library, space, "a", "g.jpg", jpeg(GREEN), at(3))
    image, _, _ = fetch_cover(client, cover_path("lib", size=8))
    assert close_to(mean_color(image), GREEN)


def test_only_the_album_counts(client, album_lib):
    library, space = album_lib
    lib.create_album(library, space, "b")
    upload(library, space, "b", "r.jpg", jpeg(RED), at(1))
    upload(library, space, "a", "g.jpg", jpeg(GREEN), at(2))
    image, _, _ = fetch_cover(client, cover_path("lib", album="a", size=8))
    assert close_to(mean_color(image), GREEN)
    image, _, _ = fetch_cover(client, cover_path("lib", album="b", size=8))
    assert close_to(mean_color(image), RED)


def test_space_cover_of_a_library_without_albums(client, app):
    library = make_library("flat", album_based=False, multi_tenant=True)
    one = lib.create_space(library, "one", public_read=True)
    two = lib.create_space(library, "two", public_read=True)
    upload(library, two, None, "r.jpg", jpeg(RED), at(1))
    upload(library, one, None, "g.jpg", jpeg(GREEN), at(2))
    image, _, _ = fetch_cover(client, cover_path("flat", "one", album=None, size=8))
    assert close_to(mean_color(image), GREEN)


def test_an_album_name_is_looked_up_in_its_own_space_only(client):
    library = make_library("multi", album_based=True, multi_tenant=True, public_read=True)
    one, two = lib.create_space(library, "one"), lib.create_space(library, "two")
    lib.create_album(library, one, "a")
    upload(library, one, "a", "r.jpg", jpeg(RED), at(1))
    lib.create_album(library, two, "b")
    image, _, _ = fetch_cover(client, cover_path("multi", "one", album="a", size=8))
    assert close_to(mean_color(image), RED)
    missing = client.get(cover_path("multi", "two", album="a", size=8))
    assert (missing.status_code, missing.get_json()["code"]) == (404, "DirectoryNotFound")
    empty = client.get(cover_path("multi", "two", album="b", size=8))
    assert (empty.status_code, empty.get_json()["code"]) == (404, "NoCoverMedia")


def test_empty_album_is_404(client, album_lib):
    resp = client.get(cover_path("lib", size=8))
    assert resp.status_code == 404
    assert resp.get_json()["code"] == "NoCoverMedia"


@pytest.mark.both_storages
def test_deleting_the_cover_media_moves_the_cover_on(client, album_lib):
    library, space = album_lib
    first = upload(library, space, "a", "r.jpg", jpeg(RED), at(1))
    upload(library, space, "a", "g.jpg", jpeg(GREEN), at(2))
    old_location = client.get(cover_path("lib", size=8)).headers["Location"]
    lib.delete_media([first])
    image, _, _ = fetch_cover(client, cover_path("lib", size=8))
    assert close_to(mean_color(image), GREEN)
    with client.get(old_location) as gone:
        assert gone.status_code == 404


@pytest.mark.both_storages
def test_replaced_bytes_with_a_new_version_are_never_served_stale(client, album_lib):
    library, space = album_lib
    media = upload(library, space, "a", "r.jpg", jpeg(RED), at(1))
    old_location = client.get(cover_path("lib", size=8)).headers["Location"]
    # What a replace does: new bytes, version bumped, in one commit, then the space's generation bumped.
    state = get_state()
    state.storage.put_bytes(media.storage_key, jpeg(BLUE))
    media.version += 1
    state.session.commit()
    generations.bump(space.pk)
    image, _, _ = fetch_cover(client, cover_path("lib", size=8))
    assert close_to(mean_color(image), BLUE)
    with client.get(old_location) as stale:
        assert stale.status_code == 404


# -- SMH errors -----------------------------------------------------------------


def test_smh_errors(client, app):
    albums = make_library("albums", album_based=True, public_read=True)
    make_library("flat", album_based=False, public_read=True)
    make_library("multi", album_based=True, multi_tenant=True, public_read=True)
    lib.create_album(albums, root_space(albums), "a")
    cases = [
        (cover_path("nope", size=8), 404, "LibraryNotFound"),
        (cover_path("albums", "other", size=8), 404, "SpaceNotFound"),
        (cover_path("multi", "-", size=8), 404, "SpaceNotFound"),
        (cover_path("albums", album="missing", size=8), 404, "DirectoryNotFound"),
        (cover_path("albums", album=None, size=8), 400, "CoverNotSupportedInRootDirectory"),
        (cover_path("flat", album="a", size=8), 400, "AlbumNotSupported"),
    ]
    for path, status, code in cases:
        resp = client.get(path)
        body = resp.get_json()
        assert (resp.status_code, body["code"]) == (status, code), path
        assert body["message"] and body["requestId"]


# -- access ------------------------------------------------------------------------


@pytest.fixture
def private_setup(app):
    library = make_library("priv", album_based=True, multi_tenant=True)
    mine = lib.create_space(library, "mine")
    other = lib.create_space(library, "other")
    public = lib.create_space(library, "open", public_read=True)
    for space in (mine, other, public):
        lib.create_album(library, space, "a")
        upload(library, space, "a", "r.jpg", jpeg(RED), at(1))
    return library, mine, other


def test_private_space_needs_a_token(client, private_setup):
    resp = client.get(cover_path("priv", "mine", size=8))
    assert resp.status_code == 400  # SMH: EmptyAccessToken is a 400
    assert resp.get_json()["code"] == "EmptyAccessToken"
    bad = client.get(cover_path("priv", "mine", size=8, access_token="not-a-token"))
    assert bad.status_code == 403 and bad.get_json()["code"] == "InvalidAccessToken"


def test_public_space_needs_no_token(client, private_setup):
    assert client.get(cover_path("priv", "open", size=8)).status_code == 302


def test_token_of_the_space_works_and_bearer_header_too(client, private_setup):
    library, mine, _ = private_setup
    token = token_for(library, space=mine)
    assert client.get(cover_path("priv", "mine", size=8, access_token=token)).status_code == 302
    resp = client.get(cover_path("priv", "mine", size=8), headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 302


def test_token_of_another_space_or_library_is_403(client, private_setup):
    library, _, other = private_setup
    other_token = token_for(library, space=other)
    resp = client.get(cover_path("priv", "mine", size=8, access_token=other_token))
    assert resp.status_code == 403
    stranger = make_library("stranger", album_based=True)
    resp = client.get(cover_path("priv", "mine", size=8, access_token=token_for(stranger)))
    assert resp.status_code == 403


def test_user_id_needs_an_admin_token_without_a_user(client, private_setup):
    library, _, _ = private_setup
    admin = token_for(library, grants=frozenset({"admin"}))
    admin_of_user = token_for(library, user_id="alice", grants=frozenset({"admin"}))
    plain = token_for(library)
    assert client.get(cover_path("priv", "mine", size=8, access_token=admin, user_id="bob")).status_code == 302
    for token in (admin_of_user, plain):
        resp = client.get(cover_path("priv", "mine", size=8, access_token=token, user_id="bob"))
        assert resp.status_code == 403


# -- the signed URL -----------------------------------------------------------------


def test_tampered_and_retargeted_urls_are_403(client, album_lib):
    library, space = album_lib
    upload(library, space, "a", "r.jpg", jpeg(RED), at(1))
    location = client.get(cover_path("lib", size=64)).headers["Location"]
    with client.get(location[:-2] + ("AA" if not location.endswith("AA") else "BB")) as resp:
        assert resp.status_code == 403 and resp.get_json()["code"] == "InvalidSignature"
    # Same signature, the payload asks for another size.
    prefix, token = location.rsplit("/", 1)
    payload, signature = token.split(".")
    fields = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert fields[3] == 64
    fields[3] = 512
    forged = base64.urlsafe_b64encode(json.dumps(fields, separators=(",", ":")).encode()).rstrip(b"=").decode()
    with client.get(f"{prefix}/{forged}.{signature}") as resp:
        assert resp.status_code == 403 and resp.get_json()["code"] == "InvalidSignature"


def test_expired_url_is_403(client, album_lib, clock):
    library, space = album_lib
    upload(library, space, "a", "r.jpg", jpeg(RED), at(1))
    location = client.get(cover_path("lib", size=8)).headers["Location"]
    ttl = get_state().config["MEDIALIB_SIGNED_URL_TTL"]
    clock.advance(ttl * 1.2)
    with client.get(location) as resp:
        assert resp.status_code == 403 and resp.get_json()["code"] == "SignatureExpired"
    # A fresh 302 gives a fresh URL.
    assert fetch_cover(client, cover_path("lib", size=8))[0].size == (8, 8)


def test_image_media_row_without_bytes_or_url_is_skipped(client, album_lib):
    library, space = album_lib
    album = lib.get_album(library, space, "a")
    insert_media(space, album, kind=IMAGE, at=at(1))
    upload(library, space, "a", "g.jpg", jpeg(GREEN), at(2))
    image, _, _ = fetch_cover(client, cover_path("lib", size=8))
    assert close_to(mean_color(image), GREEN)


@pytest.mark.parametrize("detector_spec", ["no_such_module_for_covers:Detector"])
def test_unloadable_detector_is_a_503_that_says_why(client, album_lib, detector_spec):
    library, space = album_lib
    upload(library, space, "a", "r.jpg", jpeg(RED), at(1))
    resp = client.get(cover_path("lib", size=16))
    assert resp.status_code == 503
    body = resp.get_json()
    assert body["code"] == "FaceDetectorUnavailable" and "no_such_module_for_covers" in body["message"]
    # Without a size nothing is cropped, so no detector is needed.
    assert fetch_cover(client, cover_path("lib"))[0].size == (120, 80)
