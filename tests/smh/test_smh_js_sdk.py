"""The official SMH JavaScript SDK against the example app, for the calls in scope (``js/sdk_flow.js``),
its ``Uploader`` (simple and multipart upload sessions, ``protocol: 'http:'``) and ``Downloader`` included.

Needs Node and the SDK bundled into one CommonJS file, named by ``MEDIALIB_SMH_JS_SDK``::

    git clone <snapshot of github.com/cuijiawei123/smh-js-sdk> smh-js-sdk && cd smh-js-sdk
    npm install axios@1 hash-wasm@4 esbuild@0.27   # next to the bundle, so the script finds axios
    npx esbuild index.ts --bundle --platform=node --format=cjs --outfile=/path/smh.js

Skipped without them: the Python tests in this folder are the requirement.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from foundation_helpers import jpeg_bytes
from PIL import Image

from flask_medialib import get_state
from flask_medialib.services import library as lib

BUNDLE = os.environ.get("MEDIALIB_SMH_JS_SDK", "")
NODE = shutil.which("node")
SCRIPT = Path(__file__).with_name("js") / "sdk_flow.js"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (BUNDLE and os.path.isfile(BUNDLE) and NODE), reason="MEDIALIB_SMH_JS_SDK or node missing"),
]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """The example app on a free port, with a multi-tenant album library ``sdk`` and its space ``home``."""
    from werkzeug.serving import make_server

    from example_app import create_app

    app = create_app(
        {
            "EXAMPLE_DEMO_DATA": False,
            "INSTANCE_PATH": str(tmp_path / "instance"),
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'sdk.sqlite3'}",
            "MEDIALIB_FACE_DETECTOR": "none",
        }
    )
    with app.app_context():
        library, secret = lib.create_library("sdk", multi_tenant=True, album_based=True)
        lib.create_space(library, "home")
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_port}", secret
    finally:
        httpd.shutdown()
        thread.join()
        httpd.server_close()
        with app.app_context():
            get_state(app).db.engine.dispose()


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
