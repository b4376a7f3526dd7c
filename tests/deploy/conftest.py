"""The app on a loopback port behind the nginx of docs/deployment.rst (``docs/nginx/medialib.conf``)."""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
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
def served(app: Flask, app_hits: list[str]) -> Iterator[int]:
    """The app on a loopback port (werkzeug, in a thread of this process), counting what reaches it."""
    inner = app.wsgi_app

    def counting(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        app_hits.append(environ["PATH_INFO"])
        return inner(environ, start_response)

    server = make_server("127.0.0.1", 0, counting)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_port
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def nginx(app: Flask, served: int, tmp_path: Path) -> Iterator[str]:
    """Base URL of an nginx (one process of this user) running the docs' config in front of ``served``."""
    if nginx_conf.NGINX is None:
        pytest.skip("nginx is not installed (apt-get install nginx-light)")
    folder = tmp_path / "nginx"
    port = _free_port()
    argv = nginx_conf.write_conf(folder, port, served, get_state(app).storage.root)
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
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
