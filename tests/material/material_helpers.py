"""Helpers of the material API tests (imported by the test modules)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

BASE = "/api/v1/biz/material/third"


@dataclass
class Corp:
    library_id: str
    space_id: str
    writer: str  # material_write, bound to the space
    reader: str  # no grant, bound to the space
    admin: str  # admin, library-wide


class Api:
    def __init__(self, client, corp: Corp) -> None:
        self.client = client
        self.corp = corp

    def call(
        self,
        method: str,
        endpoint: str,
        *,
        token: str | None = "writer",
        open_id: str | None = "alice",
        json: Any = None,
        **params: Any,
    ):
        query = dict(params)
        if token is not None:
            query["token"] = getattr(self.corp, token, token)
        if open_id is not None:
            query["openId"] = open_id
        return self.client.open(f"{BASE}/{endpoint}", method=method, query_string=query, json=json)

    def add(self, items: list[dict], **kw: Any):
        return self.call("POST", "add", json=items, **kw)

    def list(self, **kw: Any):
        kw.setdefault("token", "reader")
        return self.call("GET", "list", **kw)


def item(**over: Any) -> dict:
    base = {"name": "pic", "bizType": 2, "type": 1, "path": "https://cdn.example.com/a.jpg"}
    base.update(over)
    return base


def assert_envelope(resp, status: int) -> dict:
    body = resp.get_json()
    assert resp.status_code == status, body
    assert set(body) == {"success", "code", "msg", "obj", "map", "list"}
    assert body["code"] == str(status) and isinstance(body["code"], str)
    assert body["success"] is (status == 200)
    if status != 200:
        assert body["msg"] and body["map"]["error"] and body["map"]["requestId"]
    return body


class Receiver:
    """A real webhook receiver on 127.0.0.1: answers ``plan`` statuses in turn, then 200.

    ``hang_first`` makes the first request wait for ``release`` before answering
    (a delivery in flight when its worker is killed).
    """

    def __init__(self, plan: list[int] | None = None, hang_first: bool = False) -> None:
        import http.server
        import threading

        self.plan = list(plan or [])
        self.requests: list[dict] = []
        self.got_one = threading.Event()
        self.release = threading.Event()
        self.hang_first = hang_first
        self._lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver._lock:
                    hang = receiver.hang_first and not receiver.requests
                    status = receiver.plan.pop(0) if receiver.plan else 200
                    # A hung request is never answered to its (killed) sender: not a delivery.
                    receiver.requests.append(
                        {
                            "headers": dict(self.headers),
                            "body": body,
                            "status": 0 if hang else status,
                            "path": self.path,
                        }
                    )
                receiver.got_one.set()
                if hang:
                    receiver.release.wait(60)
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a client killed mid-request is expected here

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def delivered(self) -> list[dict]:
        return [r for r in self.requests if 200 <= r["status"] < 300]

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)


class MediaServer:
    """A tiny origin on 127.0.0.1 for fetch tests: files, redirects, errors, chunked and hanging answers."""

    def __init__(self, files: dict[str, bytes]) -> None:
        import http.server
        import threading

        self.files = files
        self.hosts: list[str] = []
        self.redirects: dict[str, str] = {}  # more redirects a test adds: path -> Location
        self.release = threading.Event()
        server_ref = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                server_ref.hosts.append(self.headers.get("Host", ""))
                path = self.path.split("?", 1)[0]
                port = server_ref.port
                redirects = {
                    "/same": "/img.jpg",
                    "/same-abs": f"http://127.0.0.1:{port}/img.jpg",
                    "/other": f"http://localhost:{port}/img.jpg",
                    "/loop": "/loop",
                    "/no-location": None,
                    **server_ref.redirects,
                }
                if path in redirects:
                    self.send_response(302)
                    if redirects[path]:
                        self.send_header("Location", redirects[path])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                elif path == "/chunked":
                    self.send_response(200)
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    for _ in range(8):
                        chunk = b"x" * 4096
                        self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                    self.wfile.write(b"0\r\n\r\n")
                elif path == "/odd-length":
                    # A Content-Length that str.isdigit() accepts and int() refuses; the body ends at close.
                    self.send_response(200)
                    self.send_header("Content-Length", "1\u00b3")
                    self.send_header("Connection", "close")
                    self.end_headers()
                    self.wfile.write(b"odd bytes")
                    self.close_connection = True
                elif path == "/hang":
                    server_ref.release.wait(30)
                elif path in server_ref.files:
                    data = server_ref.files[path]
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                else:
                    self.send_response(500)
                    self.send_header("Content-Length", "0")
                    self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)
