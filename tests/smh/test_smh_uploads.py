"""SMH upload sessions driven exactly as the JS SDK's ``loaders/Uploader.ts`` drives them (contract 4.1).

Begin: ``PUT ?filesize`` (or ``POST ?multipart=1&filesize``) with a JSON body; bytes: ``PUT
{protocol}//{domain}{path}`` (parts: ``...{path}?partNumber=n&uploadId=...``) with the answer's
``headers``; confirm: ``POST .../{confirmKey}?confirm=1`` with ``{crc64}``.
"""

from __future__ import annotations

import os
import tempfile
from urllib.parse import urlsplit

import pytest
import requests
from flask import Flask, request
from foundation_helpers import jpeg_bytes, media_count, mp4_bytes, png_bytes, stored_files
from smh_helpers import API, crc64_reference, dir_url, enc, file_url, qs
from sqlalchemy import func, select, update

from flask_medialib import get_state
from flask_medialib.models import MaterialEvent, Media, UploadSession
from flask_medialib.services import uploads

PROTOCOL = "http:"  # the Uploader's ``protocol`` option in development
JSON = {"Content-Type": "application/json"}


@pytest.fixture
def made(make_lib):
    return make_lib(album_based=True, albums=("a",))


def begin(client, token: str, path: str, size: int, *, multipart: bool = False, strategy: str | None = None,
          body: dict | None = None, headers: dict | None = None):  # fmt: skip
    """``simpleUploadFile`` (PUT) or ``multipartUploadFile`` (POST), as the SDK sends them."""
    flags = ("multipart=1",) if multipart else ()
    url = f"{API}/file/lib1/-/{enc(path)}" + qs(*flags, filesize=size, access_token=token,
                                                conflict_resolution_strategy=strategy)  # fmt: skip
    send = client.post if multipart else client.put
    return send(url, json=body if body is not None else {}, headers=headers)


def put_bytes(client, target: dict, data: bytes, query: str = ""):
    """``axios.put(`${protocol}//${domain}${path}`, data, {headers})``: the app's URL or the store's."""
    url = f"{PROTOCOL}//{target['domain']}{target['path']}{query}"
    if target["domain"] == "localhost":  # the test client's host: the extension's own upload URL
        parts = urlsplit(url)
        return client.put(parts.path + (f"?{parts.query}" if parts.query else ""), data=data,
                          headers=target["headers"])  # fmt: skip
    answer = requests.put(url, data=data, headers=target["headers"], timeout=30)
    answer.close()
    return answer


def confirm(client, token: str, confirm_key: str, crc64: str | None, flag: str = "confirm=1"):
    url = f"{API}/file/lib1/-/{confirm_key}" + qs(flag, access_token=token)
    return client.post(url, json={"crc64": crc64} if crc64 is not None else {})


def crc(data: bytes) -> str:
    return str(crc64_reference(data))


def events(app: Flask, kind: str) -> int:
    session = get_state(app).session
    stmt = select(func.count()).select_from(MaterialEvent).where(MaterialEvent.event_type == kind)
    return int(session.execute(stmt).scalar_one())


def sessions(app: Flask) -> list[UploadSession]:
    session = get_state(app).session
    session.expire_all()
    return list(session.execute(select(UploadSession)).scalars())


@pytest.mark.both_storages
def test_simple_upload_as_the_sdk_does_it(app: Flask, client, made) -> None:
    data = jpeg_bytes(64, 48)
    meta = {"x-smh-meta-camera": "x100"}
    answer = begin(client, made.admin, "a/p.jpg", len(data), headers=meta)
    assert answer.status_code == 201, answer.json
    target = answer.json
    assert set(target) >= {"domain", "path", "headers", "confirmKey", "expiration"}
    assert "uploadId" not in target  # not on the simple path
    assert media_count(app) == 0  # nothing is a media before the confirm
    sent = put_bytes(client, target, data)
    assert 200 <= sent.status_code < 300 and sent.headers["ETag"]
    simple = confirm(client, made.admin, target["confirmKey"], None, flag="renew=1")
    assert simple.status_code == 400 and simple.json["code"] == "NotMultipartUpload"
    done = confirm(client, made.admin, target["confirmKey"], crc(data))
    assert done.status_code == 200, done.json
    info = done.json
    assert info["path"] == ["a", "p.jpg"] and info["name"] == "p.jpg"
    assert info["size"] == str(len(data)) and info["crc64"] == crc(data)
    assert info["contentType"] == "image/jpeg" and info["eTag"] and info["isOverwritten"] is False
    assert info["metaData"] == meta
    # The single write path: an event, the listing, the bytes and the album cover.
    assert events(app, "material_add") == 1
    listing = client.get(dir_url("lib1", "-", "a", access_token=made.admin)).json
    assert [c["name"] for c in listing["contents"]] == ["p.jpg"]
    download = client.get(file_url("lib1", "-", "a/p.jpg", access_token=made.admin))
    assert download.status_code == 302
    media = get_state(app).session.execute(select(Media)).scalar_one()
    assert get_state(app).storage.get_bytes(media.storage_key) == data
    cover = client.get(f"{API}/album/lib1/-/cover/a" + qs(size=32, access_token=made.admin))
    assert cover.status_code == 302


@pytest.mark.both_storages
def test_multipart_upload_with_renew_as_the_sdk_does_it(app: Flask, client, made, clock, tmp_path) -> None:
    data = mp4_bytes(tmp_path, frames=30)
    cut = [0, len(data) // 3, 2 * len(data) // 3, len(data)]
    answer = begin(client, made.admin, "a/clip.mp4", len(data), multipart=True, body={"size": str(len(data))})
    assert answer.status_code == 201, answer.json
    target = answer.json
    assert target["uploadId"] and target["confirmKey"]
    # Parts out of order, as parallel uploaders send them; the ETag is read from the answer.
    for number in (3, 1):
        part = data[cut[number - 1] : cut[number]]
        sent = put_bytes(client, target, part, f"?partNumber={number}&uploadId={target['uploadId']}")
        assert sent.status_code == 200 and sent.headers["ETag"]
    clock.advance(3000)
    renewed = confirm(client, made.admin, target["confirmKey"], None, flag="renew=1")
    assert renewed.status_code == 200, renewed.json
    assert renewed.json["expiration"] > target["expiration"] and renewed.json["uploadId"] == target["uploadId"]
    clock.advance(3000)  # past the first expiration: the renewed session still takes parts
    sent = put_bytes(client, renewed.json, data[cut[1] : cut[2]], f"?partNumber=2&uploadId={target['uploadId']}")
    assert sent.status_code == 200
    done = confirm(client, made.admin, target["confirmKey"], crc(data))
    assert done.status_code == 200, done.json
    assert done.json["type"] == "video" and done.json["size"] == str(len(data))
    media = get_state(app).session.execute(select(Media)).scalar_one()
    assert get_state(app).storage.get_bytes(media.storage_key) == data


@pytest.mark.s3_only
def test_on_s3_no_upload_byte_passes_through_the_app(app: Flask, client, made) -> None:
    hits: list[str] = []
    app.before_request(lambda: hits.append(request.path) if request.path.startswith(f"{API}/u/") else None)
    data = png_bytes(50, 30)
    target = begin(client, made.admin, "a/p.png", len(data)).json
    endpoint = urlsplit(app.config["MEDIALIB_S3_ENDPOINT_URL"])
    assert target["domain"] == endpoint.netloc  # the store's host, not the app's
    sent = put_bytes(client, target, data)  # over the network, with requests, to the bucket
    assert sent.status_code == 200
    assert len(stored_files(app)) == 1  # the bytes are in the bucket already
    uploaded = stored_files(app)
    assert confirm(client, made.admin, target["confirmKey"], crc(data)).status_code == 200
    assert hits == []  # the extension's upload route never saw a byte
    # Confirm copied the object inside the bucket to a key of ours, typed by the probe; the upload key went.
    media = get_state(app).session.execute(select(Media)).scalar_one()
    assert stored_files(app) == [media.storage_key] and media.storage_key not in uploaded
    assert media.storage_key.endswith(".png") and "p.png" not in media.storage_key
    with requests.get(get_state(app).storage.url(media.storage_key, 60), timeout=10) as got:
        assert got.headers["Content-Type"] == "image/png" and got.content == data
    # The length is a signed header (S3 refuses another; moto does not check): confirm checks it too.
    again = begin(client, made.admin, "a/q.png", len(data)).json
    put_bytes(client, again, data + b"x")
    wrong = confirm(client, made.admin, again["confirmKey"], crc(data + b"x"))
    assert wrong.status_code == 400 and wrong.json["code"] == "UploadIncomplete"


@pytest.mark.s3_only
def test_on_s3_the_parts_of_one_upload_may_reach_different_hosts(
    app: Flask, client, made, clock, app_config, tmp_path, monkeypatch
) -> None:
    from cover_helpers import second_app

    data = png_bytes(600, 400)
    cut = [0, len(data) // 3, 2 * len(data) // 3, len(data)]
    target = begin(client, made.admin, "a/p.png", len(data), multipart=True).json
    query = "?partNumber={}&uploadId=" + target["uploadId"]
    (row,) = sessions(app)
    parts = f"{row.storage_key}.parts/"
    with second_app(app_config, clock) as other:
        other_client = other.test_client()
        # Each host has a disk of its own: whatever one keeps there, the other never sees.
        for number, (host, disk) in enumerate([(client, "a"), (other_client, "b"), (client, "a")], 1):
            (tmp_path / disk).mkdir(exist_ok=True)
            monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / disk))
            sent = put_bytes(host, target, data[cut[number - 1] : cut[number]], query.format(number))
            assert sent.status_code == 200 and sent.headers["ETag"]
            assert sorted(os.listdir(tmp_path / disk)) == []  # nothing left on the host's disk
        # The parts are objects of the bucket, beside the session's key.
        assert [key for key in stored_files(app) if key.startswith(parts)] == [f"{parts}{n:05d}" for n in (1, 2, 3)]
        monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "b"))
        with other.app_context():
            done = confirm(other_client, made.admin, target["confirmKey"], crc(data))
    assert done.status_code == 200, done.json
    media = get_state(app).session.execute(select(Media)).scalar_one()
    assert get_state(app).storage.get_bytes(media.storage_key) == data
    assert stored_files(app) == [media.storage_key]  # the parts and the joined upload went


@pytest.mark.s3_only
def test_on_s3_parts_of_5_mib_are_joined_inside_the_bucket(app: Flask, client, made, monkeypatch) -> None:
    image = png_bytes(64, 48)
    data = image + os.urandom(2 * 5 * 1024 * 1024 + 1000 - len(image))  # a PNG reads fine with trailing bytes
    cut = [0, 5 * 1024 * 1024, 10 * 1024 * 1024, len(data)]
    target = begin(client, made.admin, "a/big.png", len(data), multipart=True).json
    for number in (1, 2, 3):
        sent = put_bytes(client, target, data[cut[number - 1] : cut[number]],
                         f"?partNumber={number}&uploadId={target['uploadId']}")  # fmt: skip
        assert sent.status_code == 200
    storage = get_state(app).storage
    calls: list[tuple[str, str]] = []
    for name in ("get_object", "put_object", "upload_file", "upload_part_copy"):
        real = getattr(storage.client, name)

        def record(*args, _name=name, _real=real, **kwargs):
            calls.append((_name, kwargs.get("Key") or args[2]))
            return _real(*args, **kwargs)

        monkeypatch.setattr(storage.client, name, record)
    done = confirm(client, made.admin, target["confirmKey"], crc(data))
    assert done.status_code == 200, done.json
    media = get_state(app).session.execute(select(Media)).scalar_one()
    final = storage.object_key(media.storage_key)
    # Each part read once (the CRC-64 and the probe), then joined by UploadPartCopy straight into the
    # media's key: no byte of the media goes up through the app, and no intermediate object is made.
    parts = [key for name, key in calls if name == "get_object"]
    assert len(parts) == 3 and all(".parts/" in key for key in parts)
    assert [(name, key) for name, key in calls if name != "get_object"] == [("upload_part_copy", final)] * 3
    monkeypatch.undo()
    assert storage.get_bytes(media.storage_key) == data and stored_files(app) == [media.storage_key]


@pytest.mark.s3_only
def test_on_s3_a_one_part_upload_is_copied_and_a_retried_confirm_joins_again(app: Flask, client, made) -> None:
    data = jpeg_bytes()
    target = begin(client, made.admin, "a/one.jpg", len(data), multipart=True).json
    assert put_bytes(client, target, data, f"?partNumber=1&uploadId={target['uploadId']}").status_code == 200
    bad = confirm(client, made.admin, target["confirmKey"], str(int(crc(data)) ^ 1))
    assert bad.status_code == 400 and bad.json["code"] == "BadCrc64"
    done = confirm(client, made.admin, target["confirmKey"], crc(data))  # the parts are still there
    assert done.status_code == 200, done.json
    media = get_state(app).session.execute(select(Media)).scalar_one()
    assert get_state(app).storage.get_bytes(media.storage_key) == data and stored_files(app) == [media.storage_key]


@pytest.mark.s3_only
def test_on_s3_abort_and_expiry_drop_the_parts(app: Flask, client, made, clock) -> None:
    data = jpeg_bytes()
    keys = []
    for name in ("aborted.jpg", "abandoned.jpg"):
        target = begin(client, made.admin, f"a/{name}", len(data), multipart=True).json
        query = f"?partNumber={{}}&uploadId={target['uploadId']}"
        put_bytes(client, target, data[:100], query.format(1))
        put_bytes(client, target, data[100:], query.format(2))
        keys.append(target["confirmKey"])
    assert len(stored_files(app)) == 4
    url = f"{API}/file/lib1/-/{keys[0]}" + qs("upload=1", access_token=made.admin)
    assert client.delete(url).status_code == 204
    assert len(stored_files(app)) == 2  # the aborted session's parts went at once
    clock.advance(app.config["MEDIALIB_UPLOAD_SESSION_TTL"] + 16 * 60)
    assert uploads.sweep(force=True) == 2
    assert stored_files(app) == []


@pytest.mark.both_storages
def test_a_bad_crc64_is_refused_and_nothing_is_stored(app: Flask, client, made) -> None:
    data = jpeg_bytes()
    target = begin(client, made.admin, "a/p.jpg", len(data)).json
    put_bytes(client, target, data)
    bad = confirm(client, made.admin, target["confirmKey"], str(int(crc(data)) ^ 1))
    assert bad.status_code == 400 and bad.json["code"] == "BadCrc64"
    assert media_count(app) == 0 and events(app, "material_add") == 0
    # The session is still open: the right checksum confirms it.
    assert confirm(client, made.admin, target["confirmKey"], crc(data)).status_code == 200


@pytest.mark.both_storages
def test_missing_bytes_are_upload_incomplete(app: Flask, client, made) -> None:
    data = jpeg_bytes()
    target = begin(client, made.admin, "a/p.jpg", len(data)).json
    early = confirm(client, made.admin, target["confirmKey"], crc(data))
    assert early.status_code == 400 and early.json["code"] == "UploadIncomplete"
    # Multipart: part 2 of 2 missing.
    parts = begin(client, made.admin, "a/q.jpg", len(data), multipart=True).json
    put_bytes(client, parts, data[:10], f"?partNumber=1&uploadId={parts['uploadId']}")
    gap = confirm(client, made.admin, parts["confirmKey"], crc(data))
    assert gap.status_code == 400 and gap.json["code"] == "UploadIncomplete"
    assert media_count(app) == 0


def test_more_bytes_than_announced_are_refused(app: Flask, client, made) -> None:
    data = jpeg_bytes()
    target = begin(client, made.admin, "a/p.jpg", len(data) - 1).json
    sent = put_bytes(client, target, data)
    assert sent.status_code == 413 and sent.json["code"] == "RequestEntityTooLarge"
    (row,) = sessions(app)
    assert os.path.getsize(row.staging_path) == 0  # nothing half-written in place


def test_parts_together_hold_at_most_the_announced_size(app: Flask, client, made) -> None:
    data = jpeg_bytes()
    target = begin(client, made.admin, "a/p.jpg", len(data), multipart=True).json
    query = "?partNumber={}&uploadId=" + target["uploadId"]
    assert put_bytes(client, target, data[:-10], query.format(1)).status_code == 200
    over = put_bytes(client, target, b"x" * 11, query.format(2))
    assert over.status_code == 413 and over.json["code"] == "RequestEntityTooLarge"
    assert put_bytes(client, target, data[-10:], query.format(2)).status_code == 200
    # A retried part replaces the one before it (it does not count twice).
    assert put_bytes(client, target, data[-10:], query.format(2)).status_code == 200
    bad_id = put_bytes(client, target, data[-10:], "?partNumber=2&uploadId=other")
    assert bad_id.status_code == 400
    assert confirm(client, made.admin, target["confirmKey"], crc(data)).status_code == 200


@pytest.mark.both_storages
def test_a_second_confirm_is_upload_complete_and_an_unknown_key_is_not_found(app: Flask, client, made) -> None:
    data = jpeg_bytes()
    target = begin(client, made.admin, "a/p.jpg", len(data)).json
    put_bytes(client, target, data)
    assert confirm(client, made.admin, target["confirmKey"], crc(data)).status_code == 200
    again = confirm(client, made.admin, target["confirmKey"], crc(data))
    assert again.status_code == 409 and again.json["code"] == "UploadComplete"
    assert media_count(app) == 1 and events(app, "material_add") == 1
    unknown = confirm(client, made.admin, "not-a-confirm-key", crc(data))
    assert unknown.status_code == 404 and unknown.json["code"] == "ConfirmKeyNotFound"


@pytest.mark.both_storages
def test_abort_drops_the_session_and_its_bytes(app: Flask, client, made, clock) -> None:
    data = jpeg_bytes()
    target = begin(client, made.admin, "a/p.jpg", len(data)).json
    put_bytes(client, target, data)
    before = stored_files(app)
    (row,) = sessions(app)
    url = f"{API}/file/lib1/-/{target['confirmKey']}" + qs("upload=1", access_token=made.admin)
    assert client.delete(url).status_code == 204
    assert media_count(app) == 0
    assert len(stored_files(app)) == len(before) - 1  # the staging file or the bucket object is gone
    if row.staging_path:
        assert not os.path.exists(row.staging_path)
    gone = confirm(client, made.admin, target["confirmKey"], crc(data))
    assert gone.status_code == 404 and gone.json["code"] == "ConfirmKeyNotFound"
    assert client.delete(url).status_code == 404
    late = put_bytes(client, target, data)
    if row.staging_path:
        assert late.status_code == 403  # the extension's upload URL dies with the session
    else:
        # A presigned PUT cannot be revoked: what it writes late is swept once it has expired.
        assert late.status_code == 200 and get_state(app).storage.exists(row.storage_key)
        clock.advance(app.config["MEDIALIB_UPLOAD_SESSION_TTL"] + 16 * 60)
        assert uploads.sweep(force=True) == 1
        assert not get_state(app).storage.exists(row.storage_key)
    assert len(stored_files(app)) == len(before) - 1


@pytest.mark.both_storages
def test_abandoned_sessions_expire_and_are_swept_with_their_bytes(app: Flask, client, made, clock, runner) -> None:
    data = jpeg_bytes()
    ttl = app.config["MEDIALIB_UPLOAD_SESSION_TTL"]
    old = begin(client, made.admin, "a/p.jpg", len(data)).json
    put_bytes(client, old, data)
    (row,) = sessions(app)
    held = row.storage_key or row.staging_path
    clock.advance(ttl + 1)
    expired = confirm(client, made.admin, old["confirmKey"], crc(data))
    assert expired.status_code == 404 and expired.json["code"] == "ConfirmKeyNotFound"
    if row.staging_path:
        assert put_bytes(client, old, data).status_code == 403
    clock.advance(uploads.SWEEP_GRACE.total_seconds())
    begin(client, made.admin, "a/q.jpg", len(data))  # a begin sweeps
    left = sessions(app)
    assert len(left) == 1 and left[0].file_name == "q.jpg"
    if row.storage_key:
        assert not get_state(app).storage.exists(held)
    else:
        assert not os.path.exists(held)
    clock.advance(ttl + uploads.SWEEP_GRACE.total_seconds())
    result = runner.invoke(args=["medialib", "sweep-staging"])
    assert "removed 1 expired upload session" in result.output
    assert sessions(app) == []


def test_a_begin_over_the_size_limit_is_refused_before_anything_is_stored(app: Flask, client, made) -> None:
    limit = app.config["MEDIALIB_MAX_UPLOAD_BYTES"]
    before = stored_files(app)
    for multipart in (False, True):
        answer = begin(client, made.admin, "a/big.mp4", limit + 1, multipart=multipart)
        assert answer.status_code == 413 and answer.json["code"] == "RequestEntityTooLarge"
    assert sessions(app) == [] and stored_files(app) == before


def test_begin_checks_the_album_the_name_and_the_grants(app: Flask, client, made, issue) -> None:
    missing = begin(client, made.admin, "nope/p.jpg", 10)
    assert missing.status_code == 404 and missing.json["code"] == "DirectoryNotFound"
    assert begin(client, made.admin, "a/..", 10).status_code == 400
    reader = issue("lib1", grants="")
    assert begin(client, reader, "a/p.jpg", 10).status_code == 403
    uploader = issue("lib1", grants="begin_upload")
    assert begin(client, uploader, "a/p.jpg", 10).status_code == 201
    # Overwriting asks for a *_force grant.
    assert begin(client, uploader, "a/p.jpg", 10, strategy="overwrite").status_code == 403
    forced = issue("lib1", grants="begin_upload_force")
    assert begin(client, forced, "a/p.jpg", 10, strategy="overwrite").status_code == 201
    assert begin(client, made.admin, "a/p.jpg", 10, strategy="bogus").status_code == 400


def test_a_begin_whose_body_is_the_file_is_refused(app: Flask, client, made) -> None:
    big = b"\xff\xd8" + b"x" * (64 * 1024)
    url = f"{API}/file/lib1/-/{enc('a/p.jpg')}" + qs(filesize=len(big), access_token=made.admin)
    answer = client.put(url, data=big, headers={"Content-Type": "application/octet-stream"})
    assert answer.status_code == 400 and answer.json["code"] == "ParamInvalid"
    assert sessions(app) == []


@pytest.mark.both_storages
def test_conflict_strategies_ask_rename_overwrite(app: Flask, client, made) -> None:
    first, second = jpeg_bytes(40, 20), png_bytes(30, 30)

    def upload(strategy: str | None, data: bytes):
        target = begin(client, made.admin, "a/p.jpg", len(data), strategy=strategy)
        if target.status_code != 201:
            return target
        put_bytes(client, target.json, data)
        return confirm(client, made.admin, target.json["confirmKey"], crc(data))

    assert upload(None, first).json["name"] == "p.jpg"
    asked = upload("ask", second)
    assert asked.status_code == 409 and asked.json["code"] == "SameNameDirectoryOrFileExists"
    renamed = upload(None, second)  # rename is SMH's default
    assert renamed.status_code == 200 and renamed.json["name"] == "p(1).jpg"
    old = get_state(app).session.execute(select(Media).where(Media.file_name == "p.jpg")).scalar_one()
    old_key, media_id = old.storage_key, old.id
    over = upload("overwrite", second)
    assert over.status_code == 200, over.json
    assert over.json["name"] == "p.jpg" and over.json["isOverwritten"] is True
    assert over.json["contentType"] == "image/png" and over.json["size"] == str(len(second))
    media = get_state(app).session.get(Media, media_id)
    get_state(app).session.refresh(media)
    assert media.version == 2 and media.storage_key != old_key  # media.replace: same id, new bytes
    assert get_state(app).storage.get_bytes(media.storage_key) == second
    assert not get_state(app).storage.exists(old_key)  # the old bytes went after the commit
    assert events(app, "material_rename") == 1 and media_count(app) == 2


def test_a_forged_upload_url_is_refused(client, made) -> None:
    answer = client.put(f"{API}/u/forged-token", data=b"x")
    assert answer.status_code == 403 and answer.json["code"] == "InvalidSignature"


@pytest.mark.parametrize("configured", [None, "media.example.com"])
def test_domain_is_the_configured_public_host_or_the_requests(app: Flask, client, made, configured) -> None:
    app.config["MEDIALIB_UPLOAD_DOMAIN"] = configured
    get_state(app).config["MEDIALIB_UPLOAD_DOMAIN"] = configured
    target = begin(client, made.admin, "a/p.jpg", 10).json
    assert target["domain"] == (configured or "localhost")
    assert target["path"].startswith(f"{API}/u/")


def test_the_raw_body_upload_without_filesize_still_works(app: Flask, client, made) -> None:
    data = jpeg_bytes()
    answer = client.put(file_url("lib1", "-", "a/raw.jpg", access_token=made.admin), data=data)
    assert answer.status_code == 201 and answer.json["name"] == "raw.jpg"


def test_a_confirm_that_lost_the_race_is_upload_complete(app: Flask, client, made) -> None:
    """Two confirms that both read the session open: the claim lets only the first make a media."""
    from flask_medialib.errors import HTTPError
    from flask_medialib.services import library as lib

    data = jpeg_bytes()
    target = begin(client, made.admin, "a/p.jpg", len(data)).json
    put_bytes(client, target, data)
    session = get_state(app).session
    stale = uploads.find(lib.get_space(lib.get_library("lib1"), "-"), target["confirmKey"])
    session.expunge(stale)  # read open here ...
    session.rollback()
    with get_state(app).db.engine.begin() as conn:  # ... then another worker's confirm claims it
        conn.execute(update(UploadSession).where(UploadSession.pk == stale.pk).values(state="confirming"))
    assert stale.state == "open"
    with pytest.raises(HTTPError) as lost:
        uploads.confirm(stale, crc(data), user=None)
    assert lost.value.code_name == "UploadComplete"
    assert media_count(app) == 0 and events(app, "material_add") == 0


def test_a_confirm_key_works_in_its_own_space_only(app: Flask, client, make_lib, issue) -> None:
    make_lib("lib1", multi_tenant=True, spaces=("s1", "s2"))
    one, two = issue("lib1", space="s1", grants="admin"), issue("lib1", space="s2", grants="admin")
    data = jpeg_bytes()
    url = f"{API}/file/lib1/s1/p.jpg" + qs(filesize=len(data), access_token=one)
    target = client.put(url, json={}).json
    put_bytes(client, target, data)
    for flag in ("confirm=1", "renew=1"):
        other = client.post(f"{API}/file/lib1/s2/{target['confirmKey']}" + qs(flag, access_token=two), json={})
        assert other.status_code == 404 and other.json["code"] == "ConfirmKeyNotFound"
    aborted = client.delete(f"{API}/file/lib1/s2/{target['confirmKey']}" + qs("upload=1", access_token=two))
    assert aborted.status_code == 404 and media_count(app) == 0
    mine = client.post(f"{API}/file/lib1/s1/{target['confirmKey']}" + qs("confirm=1", access_token=one),
                       json={"crc64": crc(data)})  # fmt: skip
    assert mine.status_code == 200 and mine.json["path"] == ["p.jpg"]
