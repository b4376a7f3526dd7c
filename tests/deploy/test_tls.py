"""The TLS half of docs/nginx/medialib.conf: its https server (HTTP/2, the docs' TLS lines with a
self-signed certificate) and its http-to-https server, in front of the app, on loopback."""

from __future__ import annotations

import functools
import io
import socket
import ssl

import pytest
import requests
from PIL import Image

API = "/api/v1"

pytestmark = pytest.mark.slow


@pytest.fixture
def app_config(app_config: dict) -> dict:
    return {
        **app_config,
        "MEDIALIB_FACE_DETECTOR": "none",
        "MEDIALIB_ACCEL_REDIRECT_PREFIX": "/_medialib_files",
        "MEDIALIB_PROXY_CACHE_SECONDS": 60,
    }


def jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), "green").save(out, "JPEG")
    return out.getvalue()


def test_covers_and_originals_over_https(client, make_lib, nginx_tls, app_headers) -> None:
    made = make_lib()
    original = jpeg()
    put = client.put(f"{API}/file/lib1/-/pic.jpg", query_string={"access_token": made.admin}, data=original)
    assert put.status_code == 201
    with requests.Session() as https:
        # A client that checks the certificate, as browsers do (per request: REQUESTS_CA_BUNDLE beats Session.verify).
        https.request = functools.partial(https.request, verify=str(nginx_tls.cert))  # type: ignore[method-assign]
        cover_url = f"{nginx_tls.https}{API}/album/lib1/-/cover?size=16&access_token={made.admin}"
        first = https.get(cover_url, allow_redirects=False, timeout=10)
        assert first.status_code == 302 and first.headers["X-Cache-Status"] == "MISS"
        # The app learns the scheme from nginx (for a host's ProxyFix); its redirect is a path, right behind TLS.
        assert app_headers[-1]["HTTP_X_FORWARDED_PROTO"] == "https"
        assert first.headers["Location"].startswith(f"{API}/f/")
        image = https.get(nginx_tls.https + first.headers["Location"], timeout=10)
        assert image.status_code == 200 and image.headers["Content-Type"] == "image/jpeg"
        assert Image.open(io.BytesIO(image.content)).size == (16, 16)
        again = https.get(cover_url, allow_redirects=False, timeout=10)
        assert again.headers["X-Cache-Status"] == "HIT" and again.headers["Location"] == first.headers["Location"]
        # An original: the app checks the signed URL, nginx's internal location sends the bytes over TLS.
        download = https.get(f"{nginx_tls.https}{API}/file/lib1/-/pic.jpg?access_token={made.admin}", timeout=10)
        assert download.status_code == 200 and download.content == original
        assert download.history[0].status_code == 302 and "X-Accel-Redirect" not in download.headers
    with pytest.raises(requests.exceptions.SSLError):  # nothing is served to a client that trusts nothing
        requests.get(cover_url, timeout=10)


def test_http2_is_offered(nginx_tls) -> None:
    context = ssl.create_default_context(cafile=str(nginx_tls.cert))
    context.set_alpn_protocols(["h2", "http/1.1"])
    with (
        socket.create_connection(("127.0.0.1", nginx_tls.port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="media.example.com") as tls,
    ):
        assert tls.selected_alpn_protocol() == "h2"
        assert tls.version() in ("TLSv1.2", "TLSv1.3")


def test_plain_http_is_sent_to_https(nginx_tls, app_hits) -> None:
    resp = requests.get(f"{nginx_tls.http}{API}/album/lib1/-/cover?size=16&access_token=t", allow_redirects=False,
                        timeout=10)  # fmt: skip
    assert resp.status_code == 301
    # The same path and query on https (port 443 in production): the token never reaches the app over http.
    assert resp.headers["Location"] == f"https://127.0.0.1{API}/album/lib1/-/cover?size=16&access_token=t"
    assert app_hits == []
