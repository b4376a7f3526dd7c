"""Covers and previews as objects of the store (s3): 302s straight to them, rendered once, gone with their media."""

from __future__ import annotations

import io
from urllib.parse import parse_qs, parse_qsl, quote, unquote, urlsplit, urlunsplit

import boto3
import pytest
import requests
from botocore.auth import S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from flask_medialib import get_state, identity, signing
from flask_medialib.models import Media, new_uid
from flask_medialib.services import covers, previews
from flask_medialib.services import media as media_service
from flask_medialib.storage import check_key, make_storage, new_key, rendition_key, rendition_prefix

API = "/api/v1"


@pytest.fixture
def app_config(app_config: dict) -> dict:
    return {**app_config, "MEDIALIB_FACE_DETECTOR": "none"}  # centre crops: no TensorFlow here


@pytest.fixture
def renders(monkeypatch) -> list[str]:
    """What was rendered (covers and previews), counted where the pixels are made."""
    done: list[str] = []
    cover_render, preview_render = covers._render, previews._render

    def cover(state, media, size, timings):
        done.append(f"cover {media.uid} {size}")
        return cover_render(state, media, size, timings)

    def preview(media, kind, box):
        done.append(f"preview {media.uid} {box}")
        return preview_render(media, kind, box)

    monkeypatch.setattr(covers, "_render", cover)
    monkeypatch.setattr(previews, "_render", preview)
    return done


def jpeg(color: str = "red", size: tuple[int, int] = (40, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "JPEG")
    return out.getvalue()


def bucket_key(app, location: str) -> str:
    """The storage key a presigned GET (path-style, as moto's address gives) names, without the test's prefix."""
    path = unquote(urlsplit(location).path)
    bucket_and_prefix = f"/{app.config['MEDIALIB_S3_BUCKET']}/{app.config['MEDIALIB_S3_PREFIX']}"
    assert path.startswith(bucket_and_prefix), path
    return path[len(bucket_and_prefix) :]


def objects(app, prefix: str) -> list[str]:
    storage = get_state(app).storage
    listed = storage.client.list_objects_v2(Bucket=storage.bucket, Prefix=storage.object_key(prefix.rstrip("/")) + "/")
    return [item["Key"] for item in listed.get("Contents", ())]


def signature_of(url: str) -> str:
    """The SigV4 signature a store computes for a presigned GET (what it compares with X-Amz-Signature)."""
    parts = urlsplit(url)
    params = [(k, v) for k, v in parse_qsl(parts.query) if k != "X-Amz-Signature"]
    found = dict(params)
    request = AWSRequest(method="GET", url=urlunsplit(parts._replace(query="")), params=dict(params))
    request.context["timestamp"] = found["X-Amz-Date"]
    signer = S3SigV4QueryAuth(
        boto3.session.Session().get_credentials(), "s3", "us-east-1", expires=int(found["X-Amz-Expires"])
    )
    return str(signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request))


def the_media(app, name: str) -> Media:
    return get_state(app).session.query(Media).filter_by(file_name=name).one()


def replace_bytes(app, media: Media, data: bytes) -> None:
    """What an overwrite does: new bytes under a new key, the version bumped, through the one write path."""
    storage = get_state(app).storage
    handle, staged = storage.temp_file()
    with handle:
        handle.write(data)
    media_service.replace(media.space, media, staged=(staged, storage.new_key(".jpg")))


def prefix_of(app, media: Media) -> str:
    return rendition_prefix(identity.installation_id(get_state(app)), media.uid, media.version)


# -- keys ------------------------------------------------------------------------------------

_IDS = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", min_size=1, max_size=40)


@given(installation=_IDS, uid=_IDS, version=st.integers(1, 10**9), size=st.integers(0, 4096))
def test_rendition_keys_are_storage_keys_of_their_own_folder(installation, uid, version, size) -> None:
    prefix = rendition_prefix(installation, uid, version)
    key = rendition_key(prefix, f"c{size}-abc.jpg")
    assert check_key(key) == key and key.startswith(prefix) and prefix.endswith("/")
    # One folder per identity: another version, media or installation never shares it.
    assert not rendition_prefix(installation, uid, version + 1).startswith(prefix)
    assert not key.startswith(rendition_prefix(installation + "x", uid, version))
    # Originals' random keys start with two hex digits, renditions with "r/": they never meet.
    assert not new_key(".jpg").startswith("r/")


@pytest.mark.parametrize("bad", ["../x.jpg", "a/b.jpg", ""])
def test_a_rendition_name_cannot_leave_its_folder(bad) -> None:
    with pytest.raises(ValueError):
        rendition_key(rendition_prefix("inst", new_uid(), 1), bad)


@pytest.mark.both_storages
def test_delete_prefix_removes_a_folder_and_nothing_beside_it(app, storage_backend) -> None:
    storage = get_state(app).storage
    mine, other = rendition_prefix("inst", "uid1", 1), rendition_prefix("inst", "uid1", 2)
    for name in ("c8-x.jpg", "c16-x.jpg"):
        storage.put_bytes(rendition_key(mine, name), b"bytes", "image/jpeg")
    storage.put_bytes(rendition_key(other, "c8-x.jpg"), b"kept", "image/jpeg")
    assert storage.delete_prefix(mine) == 2
    assert not storage.exists(rendition_key(mine, "c8-x.jpg"))
    assert storage.get_bytes(rendition_key(other, "c8-x.jpg")) == b"kept"
    assert storage.delete_prefix(mine) == 0  # nothing left: no error


def test_local_storage_keeps_renditions_in_the_cache(app, client, make_lib, renders) -> None:
    made = make_lib(album_based=True, albums=("a",))
    client.put(f"{API}/file/lib1/-/a/p.jpg", query_string={"access_token": made.admin}, data=jpeg())
    cover = client.get(f"{API}/album/lib1/-/cover/a", query_string={"access_token": made.admin, "size": 16})
    assert urlsplit(cover.headers["Location"]).path.startswith(f"{API}/f/")  # the app's own signed URL
    root = get_state(app).storage.root
    assert not (root / "r").exists()  # no rendition file beside the originals
    assert len(renders) == 1


# -- covers on s3 -----------------------------------------------------------------------------


@pytest.mark.s3_only
def test_a_warm_cover_is_a_302_to_its_object_and_renders_nothing(app, client, make_lib, renders, clock) -> None:
    made = make_lib(album_based=True, albums=("a",))
    data = jpeg("red")
    client.put(f"{API}/file/lib1/-/a/p.jpg", query_string={"access_token": made.admin}, data=data)
    query = {"access_token": made.admin, "size": 16}
    first = client.get(f"{API}/album/lib1/-/cover/a", query_string=query)
    assert first.status_code == 302 and first.data == b""
    location = first.headers["Location"]
    media = the_media(app, "p.jpg")
    key = bucket_key(app, location)
    assert key.startswith(prefix_of(app, media)) and key.endswith(".jpg") and "/c16-" in key
    signed = parse_qs(urlsplit(location).query)
    assert "X-Amz-Signature" in signed and made.admin not in location
    # The store's URL lives as long as the app's own signed URL would have.
    assert int(signed["X-Amz-Expires"][0]) == signing.expiry() - int(signing.now())
    assert len(renders) == 1

    with requests.get(location, timeout=10) as got:
        assert got.status_code == 200 and got.headers["Content-Type"] == "image/jpeg"
        assert got.headers["Cache-Control"].startswith("private, max-age=")
        assert Image.open(io.BytesIO(got.content)).size == (16, 16)

    warm = client.get(f"{API}/album/lib1/-/cover/a", query_string=query)
    assert (warm.status_code, warm.headers["Location"], warm.data) == (302, location, b"")
    clock.advance(app.config["MEDIALIB_COVER_MEMO_TTL"] + 1)  # past the memo: the walk, then the cache
    walked = client.get(f"{API}/album/lib1/-/cover/a", query_string=query)
    assert walked.status_code == 302 and bucket_key(app, walked.headers["Location"]) == key
    state = get_state(app)
    state.cache.delete(covers.cover_key(state, media, 16))  # the cache forgot: the object is found, not redrawn
    clock.advance(app.config["MEDIALIB_COVER_MEMO_TTL"] + 1)
    found = client.get(f"{API}/album/lib1/-/cover/a", query_string=query)
    assert found.status_code == 302 and bucket_key(app, found.headers["Location"]) == key
    assert len(renders) == 1
    assert objects(app, prefix_of(app, media)) == [state.storage.object_key(key)]


@pytest.mark.s3_only
def test_a_second_render_of_a_rendition_writes_the_same_bytes_to_the_same_key(app, client, make_lib, renders) -> None:
    # Two hosts racing on a cold cover (or a lock that timed out) both write: the writes must agree.
    made = make_lib(album_based=True, albums=("a",))
    client.put(f"{API}/file/lib1/-/a/p.jpg", query_string={"access_token": made.admin}, data=jpeg("green"))
    media = the_media(app, "p.jpg")
    state = get_state(app)
    first = covers.cover_entry(media, 20)
    data = state.storage.get_bytes(first.key)
    state.cache.delete(covers.cover_key(state, media, 20))
    state.storage.delete(first.key)  # as if the other host had not written yet
    second = covers.cover_entry(media, 20)
    assert len(renders) == 2 and second == first and state.storage.get_bytes(second.key) == data


@pytest.mark.s3_only
def test_the_app_s_signed_cover_url_goes_to_the_same_object(app, client, make_lib, renders) -> None:
    made = make_lib(album_based=True, albums=("a",))
    client.put(f"{API}/file/lib1/-/a/p.jpg", query_string={"access_token": made.admin}, data=jpeg())
    media = the_media(app, "p.jpg")
    with app.test_request_context():
        token = signing.sign(signing.COVER, media, 24, public=False, space_pk=media.space_pk)
    served = client.get(f"{API}/f/{token}")
    assert served.status_code == 302 and served.data == b""  # no byte through the app
    assert bucket_key(app, served.headers["Location"]).startswith(prefix_of(app, media))
    with requests.get(served.headers["Location"], timeout=10) as got:
        assert Image.open(io.BytesIO(got.content)).size == (24, 24)
    assert len(renders) == 1


@pytest.mark.s3_only
def test_deleting_or_replacing_a_media_deletes_its_rendition_objects(app, client, make_lib) -> None:
    made = make_lib(album_based=True, albums=("a",))
    auth = {"access_token": made.admin}
    client.put(f"{API}/file/lib1/-/a/p.jpg", query_string=auth, data=jpeg("red"))
    old = the_media(app, "p.jpg")
    old_prefix, old_version = prefix_of(app, old), old.version
    first = client.get(f"{API}/album/lib1/-/cover/a", query_string={**auth, "size": 8}).headers["Location"]
    client.get(f"{API}/file/lib1/-/a/p.jpg", query_string={**auth, "preview": 1, "width_size": 20})
    assert len(objects(app, old_prefix)) == 2  # the cover and the preview

    replace_bytes(app, old, jpeg("blue"))
    new = the_media(app, "p.jpg")
    assert new.version == old_version + 1
    assert objects(app, old_prefix) == []  # the old version's renditions went with its bytes
    with requests.get(first, timeout=10) as gone:
        assert gone.status_code in (403, 404)  # a URL given out earlier shows nothing any more
    second = client.get(f"{API}/album/lib1/-/cover/a", query_string={**auth, "size": 8}).headers["Location"]
    assert bucket_key(app, second).startswith(prefix_of(app, new))
    with requests.get(second, timeout=10) as got:
        assert Image.open(io.BytesIO(got.content)).convert("RGB").getpixel((4, 4))[2] > 200  # blue now

    assert client.delete(f"{API}/file/lib1/-/a/p.jpg", query_string=auth).status_code == 204
    assert objects(app, prefix_of(app, new)) == []
    with requests.get(second, timeout=10) as gone:
        assert gone.status_code in (403, 404)


@pytest.mark.s3_only
def test_a_broken_media_is_skipped_and_leaves_no_object(app, client, make_lib, renders) -> None:
    made = make_lib(album_based=True, albums=("a",))
    auth = {"access_token": made.admin}
    client.put(f"{API}/file/lib1/-/a/1.jpg", query_string=auth, data=jpeg("red"))
    client.put(f"{API}/file/lib1/-/a/2.jpg", query_string=auth, data=jpeg("blue"))
    lost, kept = the_media(app, "1.jpg"), the_media(app, "2.jpg")
    get_state(app).storage.delete(lost.storage_key)  # its original is gone: it cannot be drawn
    cover = client.get(f"{API}/album/lib1/-/cover/a", query_string={**auth, "size": 8})
    assert cover.status_code == 302
    assert bucket_key(app, cover.headers["Location"]).startswith(prefix_of(app, kept))
    assert objects(app, prefix_of(app, lost)) == []
    state = get_state(app)
    assert state.cache.get(covers.broken_key(state, lost)) is not None
    count = len(renders)
    client.get(f"{API}/album/lib1/-/cover/a", query_string={**auth, "size": 12})
    assert len(renders) == count + 1  # the broken one is not tried again, the next one is drawn


@pytest.mark.s3_only
def test_no_other_tenant_s_rendition_can_be_reached(app, client, make_lib, issue) -> None:
    made = make_lib(multi_tenant=True, album_based=True, spaces=("s1", "s2"), albums=("a",))
    for space, color in (("s1", "red"), ("s2", "blue")):
        client.put(f"{API}/file/lib1/{space}/a/p.jpg", query_string={"access_token": made.admin}, data=jpeg(color))
    one = issue("lib1", space="s1")
    mine = client.get(f"{API}/album/lib1/s1/cover/a", query_string={"access_token": one, "size": 8})
    assert mine.status_code == 302
    theirs = client.get(f"{API}/album/lib1/s2/cover/a", query_string={"access_token": one, "size": 8})
    assert theirs.status_code in (401, 403) and "Location" not in theirs.headers
    # The other space's cover exists (its admin drew it); s1's signature does not reach its key.
    other = client.get(f"{API}/album/lib1/s2/cover/a", query_string={"access_token": made.admin, "size": 8})
    my_key, their_key = bucket_key(app, mine.headers["Location"]), bucket_key(app, other.headers["Location"])
    assert my_key != their_key
    # moto serves any URL unchecked, so the store's check is redone here: SigV4 signs the path.
    location = mine.headers["Location"]
    assert signature_of(location) == parse_qs(urlsplit(location).query)["X-Amz-Signature"][0]
    forged = location.replace(quote(my_key), quote(their_key))
    assert forged != location and signature_of(forged) != parse_qs(urlsplit(forged).query)["X-Amz-Signature"][0]
    # Keys hold the installation: another database's renditions live in another folder.
    assert my_key.startswith(f"r/{identity.installation_id(get_state(app))}/")


# -- previews on s3 ----------------------------------------------------------------------------


@pytest.mark.s3_only
def test_a_scaled_preview_is_an_object_drawn_once(app, client, make_lib, renders) -> None:
    made = make_lib(album_based=True, albums=("a",))
    client.put(f"{API}/file/lib1/-/a/p.jpg", query_string={"access_token": made.admin}, data=jpeg(size=(40, 30)))
    query = {"access_token": made.admin, "preview": 1, "width_size": 20}
    first = client.get(f"{API}/file/lib1/-/a/p.jpg", query_string=query)
    assert first.status_code == 302 and first.data == b""
    key = bucket_key(app, first.headers["Location"])
    assert key.startswith(prefix_of(app, the_media(app, "p.jpg"))) and "/p20x15-" in key
    with requests.get(first.headers["Location"], timeout=10) as got:
        assert got.status_code == 200 and Image.open(io.BytesIO(got.content)).size == (20, 15)
    again = client.get(f"{API}/file/lib1/-/a/p.jpg", query_string=query)
    assert again.status_code == 302 and bucket_key(app, again.headers["Location"]) == key
    assert renders == [f"preview {the_media(app, 'p.jpg').uid} (20, 15)"]


@pytest.mark.s3_only
def test_a_public_base_serves_covers_from_their_objects(app, client, make_lib) -> None:
    state = get_state(app)
    state.storage.close()
    state.storage = make_storage({**app.config, "MEDIALIB_S3_PUBLIC_URL": "https://cdn.example.com/m/"}, "unused")
    made = make_lib(album_based=True, albums=("a",))
    client.put(f"{API}/file/lib1/-/a/p.jpg", query_string={"access_token": made.admin}, data=jpeg())
    cover = client.get(f"{API}/album/lib1/-/cover/a", query_string={"access_token": made.admin, "size": 8})
    base = f"https://cdn.example.com/m/{app.config['MEDIALIB_S3_PREFIX']}"
    assert cover.status_code == 302 and cover.headers["Location"].startswith(base)
    key = cover.headers["Location"][len(base) :]
    assert key.startswith(prefix_of(app, the_media(app, "p.jpg"))) and state.storage.exists(key)


@pytest.mark.s3_only
def test_nginx_may_keep_the_302_to_the_object_no_longer_than_it_lives(app, client, make_lib) -> None:
    app.config["MEDIALIB_PROXY_CACHE_SECONDS"] = 5
    made = make_lib(album_based=True, albums=("a",))
    client.put(f"{API}/file/lib1/-/a/p.jpg", query_string={"access_token": made.admin}, data=jpeg())
    for _ in range(2):  # cold, then from the memo
        cover = client.get(f"{API}/album/lib1/-/cover/a", query_string={"access_token": made.admin, "size": 16})
        assert cover.status_code == 302 and bucket_key(app, cover.headers["Location"]).startswith("r/")
        assert cover.headers["X-Accel-Expires"] == "5"
        max_age = app.config["MEDIALIB_COVER_REDIRECT_MAX_AGE"] - 5
        assert cover.headers["Cache-Control"].endswith(f"max-age={max_age}")
    # A token in a header: nginx keys by the URI, so this answer is not for it.
    headers = {"Authorization": f"Bearer {made.admin}"}
    cover = client.get(f"{API}/album/lib1/-/cover/a", query_string={"size": 16}, headers=headers)
    assert cover.status_code == 302 and "X-Accel-Expires" not in cover.headers


# -- the sweep of renditions no row shows ------------------------------------------------------


@pytest.mark.s3_only
def test_the_sweep_removes_what_raced_renders_left_and_nothing_else(app, client, make_lib, renders) -> None:
    made = make_lib(album_based=True, albums=("a",))
    auth = {"access_token": made.admin}
    client.put(f"{API}/file/lib1/-/a/kept.jpg", query_string=auth, data=jpeg("red"))
    client.put(f"{API}/file/lib1/-/a/gone.jpg", query_string=auth, data=jpeg("green"))
    state = get_state(app)
    kept, gone = the_media(app, "kept.jpg"), the_media(app, "gone.jpg")
    gone_prefix = prefix_of(app, gone)
    # A replace: version 2 is current, then a render of version 1 that was running finishes late.
    old_prefix = prefix_of(app, kept)
    replace_bytes(app, kept, jpeg("blue"))
    kept = the_media(app, "kept.jpg")
    state.storage.put_bytes(rendition_key(old_prefix, "c8-late.jpg"), jpeg("red"), "image/jpeg")
    # A delete, then a render of the deleted media that finishes late.
    assert client.delete(f"{API}/file/lib1/-/a/gone.jpg", query_string=auth).status_code == 204
    state.storage.put_bytes(rendition_key(gone_prefix, "c8-late.jpg"), jpeg("green"), "image/jpeg")
    # The current version's cover, another installation's object, and a key of a shape not ours.
    cover = client.get(f"{API}/album/lib1/-/cover/a", query_string={**auth, "size": 8})
    current = bucket_key(app, cover.headers["Location"])
    foreign = rendition_key(rendition_prefix("another-installation", gone.uid, 1), "c8-x.jpg")
    odd = f"r/{identity.installation_id(state)}/notes.txt"
    for key in (foreign, odd):
        state.storage.put_bytes(key, b"not ours", "text/plain")
    rendered = len(renders)

    runner = app.test_cli_runner()
    dry = runner.invoke(args=["medialib", "sweep-renditions", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "looked at 4 rendition object(s); would remove 2 stale one(s)" in dry.output
    assert len(objects(app, old_prefix)) == 1 and len(objects(app, gone_prefix)) == 1

    swept = runner.invoke(args=["medialib", "sweep-renditions"])
    assert swept.exit_code == 0, swept.output
    assert "looked at 4 rendition object(s); removed 2 stale one(s)" in swept.output
    assert objects(app, old_prefix) == [] and objects(app, gone_prefix) == []
    for key in (current, foreign, odd):
        assert state.storage.exists(key), key
    # The live cover still answers from its object, drawn nothing again.
    again = client.get(f"{API}/album/lib1/-/cover/a", query_string={**auth, "size": 8})
    assert bucket_key(app, again.headers["Location"]) == current and len(renders) == rendered
    assert runner.invoke(args=["medialib", "sweep-renditions"]).output.endswith("removed 0 stale one(s)\n")


def test_the_sweep_has_nothing_to_do_on_local_storage(app, client, make_lib) -> None:
    made = make_lib(album_based=True, albums=("a",))
    client.put(f"{API}/file/lib1/-/a/p.jpg", query_string={"access_token": made.admin}, data=jpeg())
    assert media_service.sweep_renditions() == (0, 0)
    result = app.test_cli_runner().invoke(args=["medialib", "sweep-renditions"])
    assert result.exit_code == 0 and "nothing to sweep" in result.output
    assert get_state(app).storage.exists(the_media(app, "p.jpg").storage_key)  # the original, untouched


@pytest.mark.both_storages
def test_listing_and_deleting_keys_by_page(app, storage_backend) -> None:
    storage = get_state(app).storage
    prefix = rendition_prefix("inst", "uid1", 1)
    names = [rendition_key(prefix, f"c{n}-x.jpg") for n in range(5)]
    for key in names:
        storage.put_bytes(key, b"x", "image/jpeg")
    storage.put_bytes(rendition_key(rendition_prefix("inst", "uid2", 1), "c1-x.jpg"), b"y", "image/jpeg")
    assert sorted(item for page in storage.list_objects(prefix) for item in page) == [(k, 1) for k in sorted(names)]
    storage.delete_keys([names[0], names[1], rendition_key(prefix, "never-was.jpg")])
    assert sorted(key for page in storage.list_objects(prefix) for key, _ in page) == sorted(names[2:])
    with pytest.raises(ValueError):
        storage.delete_keys(["../outside"])
