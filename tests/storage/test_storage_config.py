"""The storage keys are checked at start-up, each failure naming its key; no request is made then."""

from __future__ import annotations

import pytest
from flask import Flask

from flask_medialib import MediaLib, get_state
from flask_medialib.errors import ConfigError
from flask_medialib.storage import LocalStorage
from flask_medialib.storage.s3 import S3Storage


def start(tmp_path, **config) -> Flask:
    app = Flask("storage_config", instance_path=str(tmp_path / "instance"))
    app.config.update(
        SECRET_KEY="s",
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'c.sqlite3'}",
        MEDIALIB_CACHE_TYPE="SimpleCache",
        **config,
    )
    MediaLib(app)
    with app.app_context():
        get_state(app).db.engine.dispose()
    return app


@pytest.mark.parametrize(
    ("config", "named"),
    [
        ({"MEDIALIB_STORAGE": "gcs"}, "MEDIALIB_STORAGE"),
        ({"MEDIALIB_STORAGE": "s3"}, "MEDIALIB_S3_BUCKET"),  # s3 needs a bucket
        ({"MEDIALIB_STORAGE": "s3", "MEDIALIB_S3_BUCKET": ""}, "MEDIALIB_S3_BUCKET"),
        ({"MEDIALIB_S3_BUCKET": "My_Bucket"}, "MEDIALIB_S3_BUCKET"),
        ({"MEDIALIB_S3_BUCKET": "b" * 64}, "MEDIALIB_S3_BUCKET"),
        ({"MEDIALIB_S3_ENDPOINT_URL": "localhost:9000"}, "MEDIALIB_S3_ENDPOINT_URL"),
        ({"MEDIALIB_S3_ENDPOINT_URL": "ftp://minio.local"}, "MEDIALIB_S3_ENDPOINT_URL"),
        ({"MEDIALIB_S3_ENDPOINT_URL": "https://"}, "MEDIALIB_S3_ENDPOINT_URL"),
        ({"MEDIALIB_S3_PUBLIC_URL": "cdn.example.com/m"}, "MEDIALIB_S3_PUBLIC_URL"),
        ({"MEDIALIB_S3_PUBLIC_URL": "https://cdn.example.com/m?x=1"}, "MEDIALIB_S3_PUBLIC_URL"),
        ({"MEDIALIB_S3_PREFIX": "/media/"}, "MEDIALIB_S3_PREFIX"),
        ({"MEDIALIB_S3_PREFIX": "media//x/"}, "MEDIALIB_S3_PREFIX"),
        ({"MEDIALIB_S3_PREFIX": "media/../x/"}, "MEDIALIB_S3_PREFIX"),
        ({"MEDIALIB_S3_PREFIX": 7}, "MEDIALIB_S3_PREFIX"),
        ({"MEDIALIB_S3_REGION": 7}, "MEDIALIB_S3_REGION"),
        ({"MEDIALIB_S3_ADDRESSING_STYLE": "dns"}, "MEDIALIB_S3_ADDRESSING_STYLE"),
    ],
)
def test_a_bad_storage_key_fails_at_start_up_naming_the_key(tmp_path, config, named) -> None:
    with pytest.raises(ConfigError, match=named):
        start(tmp_path, **config)


def test_local_is_the_default(tmp_path) -> None:
    app = start(tmp_path)
    assert isinstance(get_state(app).storage, LocalStorage)


def test_s3_settings_reach_the_backend_without_a_request(tmp_path) -> None:
    # Nothing listens on port 9: building the storage must not talk to it.
    app = start(
        tmp_path,
        MEDIALIB_STORAGE="s3",
        MEDIALIB_S3_BUCKET="media-1250000000",
        MEDIALIB_S3_PREFIX="media",
        MEDIALIB_S3_ENDPOINT_URL="http://127.0.0.1:9",
        MEDIALIB_S3_REGION="ap-guangzhou",
        MEDIALIB_S3_PUBLIC_URL="https://cdn.example.com/base/",
        MEDIALIB_S3_ADDRESSING_STYLE="virtual",
    )
    storage = get_state(app).storage
    assert isinstance(storage, S3Storage)
    assert (storage.bucket, storage.prefix, storage.endpoint_url, storage.region) == (
        "media-1250000000",
        "media/",
        "http://127.0.0.1:9",
        "ap-guangzhou",
    )
    assert storage.url("ab/cd/x.jpg", 60) == "https://cdn.example.com/base/media/ab/cd/x.jpg"
