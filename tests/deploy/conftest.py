"""The app on a loopback port behind the nginx of docs/deployment.rst (``docs/nginx/medialib.conf``)."""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import make_server

from bench import nginx as nginx_conf
from flask_medialib import get_state


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def app_hits(app: Flask) -> list[str]:
    """Paths of the requests that reached the app (through ``served``), in order."""
    return []


@pytest.fixture
def app_headers(app: Flask) -> list[dict[str, str]]:
    """The headers nginx sent the app (``HTTP_*`` of each request's environ), in order."""
    return []


@pytest.fixture
def served(app: Flask, app_hits: list[str], app_headers: list[dict[str, str]]) -> Iterator[int]:
    """The app on a loopback port (werkzeug, in a thread of this process), counting what reaches it."""
    inner = app.wsgi_app

    def counting(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        app_hits.append(environ["PATH_INFO"])
        app_headers.append({k: v for k, v in environ.items() if k.startswith("HTTP_")})
        return inner(environ, start_response)

    server = make_server("127.0.0.1", 0, counting)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_port
    server.shutdown()
    server.server_close()
    thread.join()


@contextlib.contextmanager
def _nginx(app: Flask, served: int, folder: Path, tls: nginx_conf.TLS | None = None) -> Iterator[int]:
    if nginx_conf.NGINX is None:
        pytest.skip("nginx is not installed (apt-get install nginx-light)")
    port = _free_port()
    argv = nginx_conf.write_conf(folder, port, served, get_state(app).storage.root, tls=tls)
    proc = subprocess.Popen(argv)
    try:
        deadline = time.monotonic() + 20
        while True:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"nginx did not start: {(folder / 'error.log').read_text()}")
            time.sleep(0.05)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def nginx(app: Flask, served: int, tmp_path: Path) -> Iterator[str]:
    """Base URL of an nginx (one process of this user) running the docs' config in front of ``served``."""
    with _nginx(app, served, tmp_path / "nginx") as port:
        yield f"http://127.0.0.1:{port}"


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 (and media.example.com) valid for a day, and its key."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "media.example.com")])
    now = dt.datetime.now(dt.UTC)
    alt = x509.SubjectAlternativeName(
        [x509.DNSName("media.example.com"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    )
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1)).add_extension(alt, critical=False)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    folder.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = folder / "fullchain.pem", folder / "privkey.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


@dataclass(frozen=True)
class TLSFront:
    https: str  # base URL of the TLS server
    http: str  # base URL of the http-to-https server
    cert: Path  # what a client trusts
    port: int


@pytest.fixture
def nginx_tls(app: Flask, served: int, tmp_path: Path) -> Iterator[TLSFront]:
    """The docs' config with its TLS lines and its http-to-https server, on loopback, with a self-signed cert."""
    cert, key = self_signed(tmp_path / "tls")
    tls = nginx_conf.TLS(cert, key, _free_port())
    with _nginx(app, served, tmp_path / "nginx", tls) as port:
        yield TLSFront(f"https://127.0.0.1:{port}", f"http://127.0.0.1:{tls.http_port}", cert, port)
