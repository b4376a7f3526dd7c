"""External material URLs: loopback, private ranges, redirects to them and names resolving to them are refused.

Only 127.0.0.0/8 is ever contacted: a guard makes any other connection fail the
test before it leaves the machine, and names that must look external resolve,
through a stand-in for the system resolver, to 127.0.0.1 (a DNS answer an
attacker controls).
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from flask_medialib import fetch
from flask_medialib.errors import MediaError
from tests.hardening.conftest import API
from tests.hardening.hostile_media import _picture, encode

JPEG = encode(_picture(64, 48), "JPEG")
REBOUND = "media.attacker.test"  # resolves to 127.0.0.1 below


class Origin:
    """An HTTP server on 127.0.0.1: /photo.jpg, and /to?url=... redirecting anywhere. Counts every hit."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        origin = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                origin.hits.append(self.path)
                if self.path.startswith("/to?url="):
                    self.send_response(302)
                    self.send_header("Location", self.path.split("=", 1)[1])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "image/jpeg")
                self.send_header("Content-Length", str(len(JPEG)))
                self.end_headers()
                self.wfile.write(JPEG)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def origin() -> Iterator[Origin]:
    server = Origin()
    yield server
    server.close()


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Never let a connection leave 127.0.0.0/8; resolve REBOUND to 127.0.0.1."""
    real_connect = socket.create_connection
    real_getaddrinfo = socket.getaddrinfo

    def connect(address: tuple[str, int], *args: Any, **kwargs: Any) -> socket.socket:
        host = address[0]
        if not ipaddress.ip_address(host).is_loopback or ipaddress.ip_address(host).version != 4:
            pytest.fail(f"a connection to {host} was attempted: only 127.0.0.0/8 may be contacted")
        return real_connect(address, *args, **kwargs)

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(host, str) and host.lower().rstrip(".") == REBOUND:
            host = "127.0.0.1"
        return real_getaddrinfo(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", connect)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def _fetch(app, url: str, tmp_path: Path, allowed: list[str]) -> bytes:
    app.config["MEDIALIB_FETCH_ALLOWED_HOSTS"] = allowed
    app.config["MEDIALIB_FETCH_TIMEOUT"] = 5.0
    dest = tmp_path / "fetched"
    fetch.fetch_to_file(url, str(dest))
    return dest.read_bytes()


NON_PUBLIC = [
    "http://127.0.0.1/x.jpg",
    "http://127.1/x.jpg",
    "http://2130706433/x.jpg",  # 127.0.0.1 as one number
    "http://0x7f000001/x.jpg",
    "http://0177.0.0.1/x.jpg",
    "http://[::1]/x.jpg",
    "http://[::ffff:127.0.0.1]/x.jpg",
    "http://0.0.0.0/x.jpg",
    "http://10.0.0.1/x.jpg",
    "http://172.16.5.4/x.jpg",
    "http://192.168.1.1/x.jpg",
    "http://169.254.169.254/latest/meta-data/",  # cloud metadata
    "http://[fd00::1]/x.jpg",
    "http://[fe80::1]/x.jpg",
    "http://100.64.0.1/x.jpg",  # carrier-grade NAT
    "http://224.0.0.1/x.jpg",
    "http://localhost/x.jpg",
    "http://LOCALHOST./x.jpg",
    f"http://{REBOUND}/x.jpg",
]


@pytest.mark.parametrize("url", NON_PUBLIC)
def test_wildcards_never_reach_non_public_addresses(app, tmp_path, url: str) -> None:
    for allowed in (["*"], ["*.attacker.test", "*"]):
        with pytest.raises(MediaError) as caught:
            _fetch(app, url, tmp_path, allowed)
        assert (
            "non-public" in str(caught.value)
            or "cannot be resolved" in str(caught.value)
            or "bad port" in str(caught.value)
        ), str(caught.value)
        assert not (tmp_path / "fetched").exists()


def test_fetching_is_off_by_default_and_other_schemes_are_refused(app, tmp_path, origin: Origin) -> None:
    for url, allowed in [
        (f"http://127.0.0.1:{origin.port}/photo.jpg", []),
        (f"http://127.0.0.1:{origin.port}/photo.jpg", ["cdn.example.com"]),
        ("file:///etc/passwd", ["*"]),
        ("gopher://127.0.0.1:70/", ["*"]),
        (f"ftp://127.0.0.1:{origin.port}/photo.jpg", [f"127.0.0.1:{origin.port}"]),
        (f"http://127.0.0.1:{origin.port}/photo.jpg", ["127.0.0.1"]),  # a named host at another port
        (f"http://127.0.0.1:{origin.port}/photo.jpg", ["*:*"]),  # a wildcard of any port: still not loopback
    ]:
        with pytest.raises(MediaError):
            _fetch(app, url, tmp_path, allowed)
    assert origin.hits == []


def test_an_exactly_named_host_is_fetched(app, tmp_path, origin: Origin) -> None:
    # The control: an operator who names 127.0.0.1 exactly gets it, so the refusals above are real.
    assert _fetch(app, f"http://127.0.0.1:{origin.port}/photo.jpg", tmp_path, [f"127.0.0.1:{origin.port}"]) == JPEG
    assert origin.hits == ["/photo.jpg"]


def test_redirects_to_other_hosts_are_refused(app, tmp_path, origin: Origin) -> None:
    here = f"http://127.0.0.1:{origin.port}"
    targets = [
        f"http://localhost:{origin.port}/photo.jpg",
        f"http://127.0.0.2:{origin.port}/photo.jpg",
        f"http://{REBOUND}:{origin.port}/photo.jpg",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/photo.jpg",
        "file:///etc/passwd",
        "http://127.0.0.1/photo.jpg",  # the same host, another port (allowed on its own)
        f"http://127.0.0.1:{origin.port + 1}/photo.jpg",
    ]
    for target in targets:
        origin.hits.clear()
        with pytest.raises(MediaError):
            _fetch(app, f"{here}/to?url={target}", tmp_path, [f"127.0.0.1:{origin.port}", "127.0.0.1"])
        assert origin.hits == [f"/to?url={target}"], "the redirect target must never be requested"
        assert not (tmp_path / "fetched").exists()
    # A redirect loop on the allowed host ends too.
    origin.hits.clear()
    with pytest.raises(MediaError):
        _fetch(
            app,
            f"{here}/to?url={here}/to?url={here}/to?url={here}/to?url={here}/photo.jpg",
            tmp_path,
            [f"127.0.0.1:{origin.port}"],
        )
    assert len(origin.hits) <= fetch.MAX_REDIRECTS + 1


def test_wildcard_name_resolving_to_loopback_is_refused_end_to_end(app, client, make_lib, issue, origin) -> None:
    """A material whose path is a URL on a name that resolves to 127.0.0.1: its cover is never fetched."""
    app.config["MEDIALIB_FETCH_ALLOWED_HOSTS"] = ["*.attacker.test", "*"]
    make_lib("corp", multi_tenant=True, album_based=False, spaces=("acme",))
    token = issue("corp", space="acme", grants="material_write")
    items = [
        {"name": f"evil-{i}", "bizType": 2, "type": 1, "path": url}
        for i, url in enumerate(
            [
                f"http://{REBOUND}:{origin.port}/photo.jpg",
                f"http://localhost:{origin.port}/photo.jpg",
                f"http://127.0.0.1:{origin.port}/photo.jpg",
                "http://169.254.169.254/latest/meta-data/",
            ]
        )
    ]
    added = client.post(f"{API}/biz/material/third/add?token={token}&openId=u1", json=items)
    assert added.status_code == 200, added.get_json()
    cover = client.get(f"{API}/album/corp/acme/cover?access_token={token}&size=64")
    assert cover.status_code == 404, cover.get_json()
    assert cover.get_json()["code"] == "NoCoverMedia"
    assert origin.hits == [], "the service fetched from a loopback address"


def test_an_exactly_named_host_gives_a_cover_end_to_end(app, client, make_lib, issue, origin) -> None:
    """The control of the test above: the same material path on an exactly named host is fetched."""
    app.config["MEDIALIB_FETCH_ALLOWED_HOSTS"] = [f"127.0.0.1:{origin.port}"]
    make_lib("corp", multi_tenant=True, album_based=False, spaces=("acme",))
    token = issue("corp", space="acme", grants="material_write")
    item = {"name": "ok", "bizType": 2, "type": 1, "path": f"http://127.0.0.1:{origin.port}/photo.jpg"}
    added = client.post(f"{API}/biz/material/third/add?token={token}&openId=u1", json=[item])
    assert added.status_code == 200, added.get_json()
    cover = client.get(f"{API}/album/corp/acme/cover?access_token={token}&size=32")
    assert cover.status_code == 302, cover.get_json()
    assert origin.hits == ["/photo.jpg"]
