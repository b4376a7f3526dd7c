"""The Storage protocol, the same on both backends: local files and S3 objects (moto's S3 server)."""

from __future__ import annotations

import os
import posixpath
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st

from flask_medialib import get_state
from flask_medialib.storage import check_key, new_key

pytestmark = pytest.mark.both_storages


@pytest.fixture
def storage(app):
    return get_state(app).storage


def test_a_staged_file_is_stored_read_sized_and_deleted(storage, storage_backend) -> None:
    key = storage.new_key(".jpg")
    handle, temp = storage.temp_file()
    with handle:
        handle.write(b"jpeg bytes")
    assert not storage.exists(key)
    storage.put_file(temp, key, "image/jpeg")
    assert not os.path.exists(temp)  # put_file consumes the staged file
    assert storage.exists(key) and storage.size(key) == 10
    assert storage.get_bytes(key) == b"jpeg bytes"
    storage.delete(key)
    assert not storage.exists(key)
    storage.delete(key)  # deleting nothing is no error


def test_open_local_lends_a_path_for_the_block_only(storage, storage_backend) -> None:
    key = storage.new_key(".png")
    storage.put_bytes(key, b"png bytes", "image/png")
    with storage.open_local(key) as path:
        with open(path, "rb") as fh:
            assert fh.read() == b"png bytes"
        assert path.endswith(".png")  # decoders that look at the name see the right one
    if storage_backend == "s3":
        assert not os.path.exists(path)  # the temporary download is gone
    else:
        assert os.path.exists(path)  # the stored file itself


def test_a_key_without_bytes_is_file_not_found_everywhere(storage) -> None:
    key = new_key(".jpg")
    with pytest.raises(FileNotFoundError):
        storage.get_bytes(key)
    with pytest.raises(FileNotFoundError):
        storage.size(key)
    with pytest.raises(FileNotFoundError), storage.open_local(key):
        pass
    assert storage.exists(key) is False


@pytest.mark.parametrize("bad", ["../x.jpg", "/etc/passwd", "a//b.jpg", "a/./b.jpg", "a/../../b", "", "a b.jpg"])
def test_keys_that_could_leave_the_root_or_prefix_are_refused(storage, bad) -> None:
    for call in (storage.exists, storage.get_bytes, storage.delete, lambda k: storage.put_bytes(k, b"x")):
        with pytest.raises(ValueError, match="storage key"):
            call(bad)


def test_url_is_none_locally_and_a_presigned_get_on_s3(storage, storage_backend) -> None:
    key = storage.new_key(".jpg")
    storage.put_bytes(key, b"the bytes", "image/jpeg")
    url = storage.url(key, 1234, filename="Ferien 2024 \u00e9t\u00e9.jpg")
    if storage_backend == "local":
        assert url is None  # the extension serves local files through its own signed URLs
        return
    query = parse_qs(urlsplit(url).query)
    assert query["X-Amz-Expires"] == ["1234"]
    with requests.get(url, timeout=10) as got:
        assert got.status_code == 200 and got.content == b"the bytes"
        assert got.headers["Content-Type"] == "image/jpeg"
        assert "filename*=UTF-8''Ferien%202024%20%C3%A9t%C3%A9.jpg" in got.headers["Content-Disposition"]
    # (moto does not check signatures, so a forged URL is not tested here; S3 refuses it with 403)


@pytest.mark.s3_only
def test_s3_objects_live_under_the_prefix_and_lifetimes_are_clamped(app, storage) -> None:
    key = storage.new_key(".bin")
    storage.put_bytes(key, b"x")
    config = app.config
    client = boto3.session.Session().client(
        "s3", endpoint_url=config["MEDIALIB_S3_ENDPOINT_URL"], region_name=config["MEDIALIB_S3_REGION"]
    )
    try:
        listed = client.list_objects_v2(Bucket=config["MEDIALIB_S3_BUCKET"], Prefix=config["MEDIALIB_S3_PREFIX"])
    finally:
        client.close()
    assert [obj["Key"] for obj in listed["Contents"]] == [config["MEDIALIB_S3_PREFIX"] + key]
    week = parse_qs(urlsplit(storage.url(key, 10**9)).query)["X-Amz-Expires"]
    assert week == [str(7 * 86_400)]  # SigV4's longest
    assert parse_qs(urlsplit(storage.url(key, 0)).query)["X-Amz-Expires"] == ["1"]


@given(st.text(alphabet="ab./_-~", max_size=12), st.sampled_from(["", ".jpg", ".mp4"]))
def test_a_key_that_passes_the_check_stays_inside_any_root(text: str, ext: str) -> None:
    made = new_key(ext)
    assert check_key(made) == made
    try:
        check_key(text)
    except ValueError:
        return
    normal = posixpath.normpath(text)
    assert normal == text and not normal.startswith(("/", "../")) and normal != ".."
