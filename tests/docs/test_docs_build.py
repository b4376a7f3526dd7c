"""The Sphinx docs build with warnings as errors, list every config key, and their examples work."""

from __future__ import annotations

import html
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flask_medialib import events
from flask_medialib.config import KEYS

DOCS = Path(__file__).resolve().parents[2] / "docs"
PAGES = [
    "index",
    "quickstart",
    "configuration",
    "covers",
    "identity",
    "materials",
    "openapi",
    "deployment",
    "changelog",
]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("docs-html")
    result = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", str(DOCS), str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, f"sphinx-build failed:\n{result.stdout}\n{result.stderr}"
    return out


def test_every_page_is_built(built: Path) -> None:
    for page in PAGES:
        assert (built / f"{page}.html").is_file(), page


def test_configuration_page_lists_every_key_with_its_default(built: Path) -> None:
    text = html.unescape(re.sub(r"<[^>]+>", "", (built / "configuration.html").read_text(encoding="utf-8")))
    missing = [key.name for key in KEYS if key.name not in text]
    assert not missing, f"keys missing from docs/configuration: {missing}"
    rows = {line.strip() for line in text.splitlines()}
    # Each key's default is rendered right under its name.
    for key in KEYS:
        default = "None" if key.default is None else repr(key.default)
        assert default in text, (key.name, default)
    assert "MEDIALIB_URL_PREFIX" in rows


def _receiver_source() -> str:
    source = (DOCS / "materials.rst").read_text(encoding="utf-8")
    block = source.split("A receiver that verifies signatures", 1)[1].split(".. code-block:: python", 1)[1]
    lines = []
    for line in block.splitlines()[1:]:
        if line and not line.startswith("   "):
            break
        lines.append(line[3:])
    return "\n".join(lines)


def test_the_documented_webhook_receiver_accepts_our_signature_and_rejects_tampering() -> None:
    handled: list[tuple[str, str, dict]] = []
    namespace: dict = {"__name__": __name__, "handle": lambda kind, corp, data: handled.append((kind, corp, data))}
    exec(compile(_receiver_source(), "docs/materials.rst", "exec"), namespace)
    secret = namespace["SECRET"].decode()
    client = namespace["app"].test_client()
    body = json.dumps(
        {"eventId": 7, "eventType": "material_add", "corpId": "acme", "occurredAt": "x", "data": {"materials": []}}
    ).encode()

    def post(payload: bytes, nonce: str, timestamp: int | None = None, key: str = secret) -> int:
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        headers = {
            "Content-Type": "application/json",
            "X-Medialib-Event-Id": "7",
            "X-Medialib-Timestamp": stamp,
            "X-Medialib-Nonce": nonce,
            "X-Medialib-Signature": events.signature(key, stamp, nonce, body),
        }
        return client.post("/medialib-webhook", data=payload, headers=headers).status_code

    assert post(body, "n1") == 204
    assert handled == [("material_add", "acme", {"materials": []})]
    assert post(body.replace(b"acme", b"evil"), "n2") == 401  # body changed after signing
    assert post(body, "n3", key="another secret") == 401
    assert post(body, "n4", timestamp=int(time.time()) - 3600) == 400
    assert post(body, "n1") == 409  # replayed nonce
    assert post(body, "n5") == 204  # a redelivery of event 7 is accepted but handled once
    assert len(handled) == 1
