"""The official SMH JavaScript SDK against the example app, for the calls in scope (``js/sdk_flow.js``),
its ``Uploader`` (simple and multipart upload sessions, ``protocol: 'http:'``) and ``Downloader`` included.

Needs Node and the SDK bundled into one CommonJS file, named by ``MEDIALIB_SMH_JS_SDK``::

    git clone <snapshot of github.com/cuijiawei123/smh-js-sdk> smh-js-sdk && cd smh-js-sdk
    npm install axios@1 hash-wasm@4 esbuild@0.27   # next to the bundle, so the script finds axios
    npx esbuild index.ts --bundle --platform=node --format=cjs --outfile=/path/smh.js

Skipped without them: the Python tests in this folder are the requirement.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from flask import Flask, request
from foundation_helpers import jpeg_bytes
from PIL import Image

from flask_medialib import get_state
from flask_medialib.services import library as lib

BUNDLE = os.environ.get("MEDIALIB_SMH_JS_SDK", "")
NODE = shutil.which("node")
SCRIPT = Path(__file__).with_name("js") / "sdk_flow.js"
UPLOAD_SCRIPT = Path(__file__).with_name("js") / "sdk_upload.js"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (BUNDLE and os.path.isfile(BUNDLE) and NODE), reason="MEDIALIB_SMH_JS_SDK or node missing"),
]


@contextlib.contextmanager
def serve(tmp_path: Path, **config: object) -> Iterator[tuple[str, str, Flask]]:
    """The example app on a free port, with a multi-tenant album library ``sdk``, its space ``home``
    and (in it) the album ``holiday``; yields (base URL, library secret, app)."""
    from werkzeug.serving import make_server

    from example_app import create_app

    app = create_app(
        {
            "EXAMPLE_DEMO_DATA": False,
            "INSTANCE_PATH": str(tmp_path / "instance"),
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'sdk.sqlite3'}",
            "MEDIALIB_FACE_DETECTOR": "none",
            **config,
        }
    )
    with app.app_context():
        library, secret = lib.create_library("sdk", multi_tenant=True, album_based=True)
        lib.create_space(library, "home")
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_port}", secret, app
    finally:
        httpd.shutdown()
        thread.join()
        httpd.server_close()
        with app.app_context():
            get_state(app).db.engine.dispose()
            close = getattr(get_state(app).storage, "close", None)
            if close is not None:
                close()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, str]]:
    with serve(tmp_path) as (base, secret, _app):
        yield base, secret


def test_the_official_js_sdk_flow(served: tuple[str, str], tmp_path: Path) -> None:
    base, secret = served
    photo = tmp_path / "p.jpg"
    photo.write_bytes(jpeg_bytes(80, 60))
    big = tmp_path / "big.jpg"  # noise compresses badly: over 1 MB, so the Downloader asks in Range parts
    noise = np.random.default_rng(7).integers(0, 256, (1000, 1000, 3), dtype=np.uint8)
    Image.fromarray(noise).save(big, "JPEG", quality=95)
    result = subprocess.run(
        [str(NODE), str(SCRIPT), os.path.abspath(BUNDLE), base, "sdk", secret],
        env={**os.environ, "SMH_PHOTO": str(photo), "SMH_BIG": str(big)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SMH JS SDK flow: ok" in result.stdout


def test_the_js_uploader_sends_simple_uploads_straight_to_s3(tmp_path: Path, s3_server: str) -> None:
    """On S3 the Uploader PUTs a small file to the presigned URL: the app's upload route sees nothing.

    ``s3_server`` (tests/conftest.py) made the bucket ``medialib-test``."""
    config = {"MEDIALIB_STORAGE": "s3", "MEDIALIB_S3_BUCKET": "medialib-test", "MEDIALIB_S3_PREFIX": "js-sdk/",
              "MEDIALIB_S3_ENDPOINT_URL": s3_server, "MEDIALIB_S3_REGION": "us-east-1"}  # fmt: skip
    photo, big = tmp_path / "p.jpg", tmp_path / "big.jpg"
    photo.write_bytes(jpeg_bytes(80, 60))
    noise = np.random.default_rng(7).integers(0, 256, (1000, 1000, 3), dtype=np.uint8)
    Image.fromarray(noise).save(big, "JPEG", quality=95)
    hits: list[str] = []
    with serve(tmp_path, **config) as (base, secret, app):
        app.before_request(lambda: hits.append(request.path) if "/u/" in request.path else None)
        with app.app_context():
            library = lib.get_library("sdk")
            lib.create_album(library, lib.get_space(library, "home"), "holiday")
        for phase in ("simple", "multipart"):
            result = subprocess.run(
                [str(NODE), str(UPLOAD_SCRIPT), os.path.abspath(BUNDLE), base, "sdk", secret, phase],
                env={**os.environ, "SMH_PHOTO": str(photo), "SMH_BIG": str(big)},
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            assert result.returncode == 0, result.stdout + result.stderr
            assert f"SMH JS SDK upload ({phase}): ok" in result.stdout
            if phase == "simple":
                assert hits == []  # the bytes went to the bucket
    parts = -(-big.stat().st_size // 2**20)
    assert parts >= 2 and len(hits) == parts  # the multipart parts (1 MB each) went to the extension's upload URL
