"""Library secrets and access tokens never reach the logs: ours, and werkzeug's request log."""

from __future__ import annotations

import logging
import sys
import threading
import urllib.error
import urllib.request
from urllib.parse import urlencode

import pytest
from werkzeug.serving import make_server

from flask_medialib import logs
from tests.hardening.conftest import API


@pytest.fixture
def served(app):
    """``app`` behind werkzeug's development server on 127.0.0.1 (what ``flask run`` logs through)."""
    server = make_server("127.0.0.1", 0, app)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()
    thread.join(10)


def _call(method: str, url: str) -> int:
    request = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()
            return response.status
    except urllib.error.HTTPError as exc:
        exc.read()
        exc.close()
        return exc.code


def test_werkzeug_request_log_redacts_secrets_and_tokens(served, make_lib, caplog):
    lib = make_lib("liba", albums=("x",))
    caplog.set_level(logging.INFO, logger="werkzeug")
    issue = {"library_id": "liba", "library_secret": lib.secret, "grant": "admin"}
    assert _call("GET", f"{served}{API}/token?{urlencode(issue)}") == 200
    assert (
        _call("GET", f"{served}{API}/token?{urlencode({**issue, 'library_secret': lib.secret + 'x'})}") == 404
    )  # WrongLibraryIdOrSecret
    assert _call("GET", f"{served}{API}/directory/liba/-?access_token={lib.admin}") == 200
    assert _call("GET", f"{served}{API}/biz/material/third/list?openId=a&token={lib.admin}&corpId=-") == 200
    assert _call("DELETE", f"{served}{API}/token/liba/{lib.admin}") == 204
    lines = [r.getMessage() for r in caplog.records if r.name == "werkzeug"]
    assert len([line for line in lines if f"{API}/" in line]) == 5, lines  # every request was logged
    text = "\n".join(lines)
    assert lib.secret not in text and lib.admin not in text
    assert "library_secret=[redacted]" in text and "access_token=[redacted]" in text and "token=[redacted]" in text
    assert f"/token/liba/{logs.REDACTED}" in text
    assert "library_id=liba" in text and "openId=a" in text  # the rest of the line stays readable


def test_our_loggers_redact_messages_arguments_and_tracebacks(app, caplog):
    caplog.set_level(logging.DEBUG)
    secret = "s3cr3t-value-that-must-not-leak"
    logging.getLogger("flask_medialib").warning("GET /api/v1/token?library_id=a&library_secret=%s", secret)
    logging.getLogger("flask_medialib.materials").info("calling %s", f"http://h/x?access_token={secret}&b=1")
    logging.getLogger("flask_medialib.events").error("DELETE /api/v1/token/lib/%s", secret)
    try:
        raise ValueError(f"bad url http://h/?token={secret}")
    except ValueError:
        logging.getLogger("flask_medialib").exception("failed")
    assert len(caplog.records) == 4
    assert secret not in caplog.text
    assert "library_secret=[redacted]" in caplog.text and "access_token=[redacted]&b=1" in caplog.text
    assert "/token/lib/[redacted]" in caplog.text and "?token=[redacted]" in caplog.text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a?library_secret=x&b=1", "a?library_secret=[redacted]&b=1"),
        ("ACCESS_TOKEN=abc def", "ACCESS_TOKEN=[redacted] def"),
        ('"GET /x?token=abc HTTP/1.1" 200', '"GET /x?token=[redacted] HTTP/1.1" 200'),
        ("mytoken=abc", "mytoken=abc"),  # another parameter that only ends in "token"
        ("/token/lib/abc?x=1", "/token/lib/[redacted]?x=1"),
        ("/token", "/token"),
        ("nothing here", "nothing here"),
    ],
)
def test_redact(text, expected):
    assert logs.redact(text) == expected


def test_installing_the_filter_while_another_thread_makes_loggers() -> None:
    # Apps made in threads (workers starting together): another thread's getLogger grows the
    # logger dict while install() reads it. A switch interval of a microsecond makes the overlap
    # near certain: reading the dict itself raised "dictionary changed size" in 65 of 300 calls.
    before = sys.getswitchinterval()
    names = [f"medialib-test-churn.{n}" for n in range(5000)]
    done = threading.Event()

    def churn() -> None:
        for name in names:
            logging.getLogger(name)
        done.set()

    sys.setswitchinterval(1e-6)
    thread = threading.Thread(target=churn)
    try:
        thread.start()
        calls = 0
        while not done.is_set():
            logs.install()
            calls += 1
    finally:
        sys.setswitchinterval(before)
        thread.join()
        for name in names:  # not kept for the rest of the run
            logging.root.manager.loggerDict.pop(name, None)
    assert calls > 0
