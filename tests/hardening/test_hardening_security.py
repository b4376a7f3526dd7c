"""Security: hashed tokens, expiry and revocation, library isolation, signed URLs, path traversal."""

from __future__ import annotations

import base64
import inspect
import json
from pathlib import Path
from urllib.parse import quote, unquote

import pytest
import sqlalchemy as sa
from itsdangerous import URLSafeSerializer

from flask_medialib import auth, get_state, signing
from flask_medialib.models import Base
from tests.hardening.conftest import API, upload

# -- tokens -----------------------------------------------------------------------------


def _database_dump(app) -> str:
    """Every value of every medialib row, as one string."""
    engine = get_state(app).db.engine
    parts = []
    with engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            for row in conn.execute(sa.select(table)):
                parts.append(" ".join(repr(v) for v in row))
    return "\n".join(parts)


def test_tokens_and_secrets_are_stored_hashed(app, client, make_lib):
    a = make_lib("liba")
    response = client.get(
        f"{API}/token",
        query_string={"library_id": "liba", "library_secret": a.secret, "grant": "admin", "user_id": "alice"},
    )
    assert response.status_code == 200
    issued = response.get_json()["accessToken"]
    dump = _database_dump(app)
    assert "liba" in dump and "alice" in dump  # the dump does hold the rows
    for secret in (a.secret, a.admin, issued):
        assert len(secret) >= 32
        assert secret not in dump
        assert auth.digest(secret) in dump  # what is stored is the SHA-256 digest


def test_token_comparisons_are_constant_time():
    # A guard at source level: the hash is compared with hmac.compare_digest, never ==.
    for function in (auth.find_token, auth.check_secret):
        source = inspect.getsource(function)
        assert "hmac.compare_digest(" in source, function.__name__
    # Lookups go by digest, so the token itself is never compared or stored.
    assert "digest(token)" in inspect.getsource(auth.find_token)


def test_near_miss_token_is_refused(client, make_lib):
    a = make_lib("liba", albums=("x",))
    ok = client.get(f"{API}/directory/liba/-?access_token={a.admin}")
    assert ok.status_code == 200
    flipped = a.admin[:-1] + ("A" if a.admin[-1] != "A" else "B")
    for token in (flipped, a.admin[:-1], a.admin + "x", a.admin.upper(), " " + a.admin):
        response = client.get(f"{API}/directory/liba/-", query_string={"access_token": token})
        assert response.status_code == 403, token
        assert response.get_json()["code"] == "InvalidAccessToken"


def test_expired_token_is_refused(client, clock, make_lib, issue):
    make_lib("liba", albums=("x",))
    token = issue("liba", ttl=60)
    assert client.get(f"{API}/directory/liba/-?access_token={token}").status_code == 200
    clock.advance(59)  # used late in its life: it renews for another 60 s
    assert client.get(f"{API}/directory/liba/-?access_token={token}").status_code == 200
    clock.advance(61)
    response = client.get(f"{API}/directory/liba/-?access_token={token}")
    assert response.status_code == 403
    assert response.get_json()["code"] == "InvalidAccessToken"
    assert "expired" in response.get_json()["message"]


def test_revoked_token_is_refused_everywhere(client, make_lib, issue, photo):
    a = make_lib("liba", albums=("x",))
    token = issue("liba", grants="upload_file")
    assert upload(client, "liba", "-", "x/p.jpg", photo, token).status_code == 201
    response = client.delete(f"{API}/token/liba/{token}")
    assert response.status_code == 204
    for method, url in (
        ("GET", f"{API}/directory/liba/-?access_token={token}"),
        ("GET", f"{API}/album/liba/-/cover/x?access_token={token}"),
        ("GET", f"{API}/file/liba/-/x/p.jpg?access_token={token}"),
        ("PUT", f"{API}/file/liba/-/x/q.jpg?access_token={token}"),
    ):
        response = client.open(url, method=method, data=photo if method == "PUT" else None)
        assert response.status_code == 403, (method, url, response.get_json())
        assert response.get_json()["code"] == "InvalidAccessToken"
    assert client.get(f"{API}/directory/liba/-?access_token={a.admin}").status_code == 200  # only that one


# -- isolation of libraries and spaces -------------------------------------------------------


def _read_routes(library: str, space: str, album: str, name: str) -> list[str]:
    return [
        f"/directory/{library}/{space}",
        f"/directory/{library}/{space}/{album}",
        f"/file/{library}/{space}/{album}/{name}",
        f"/album/{library}/{space}/cover/{album}",
        f"/album/{library}/{space}/cover/{album}?size=64&",
        f"/space/{library}",
    ]


def _get(client, route: str, token: str, *, header: bool = False, user_id: str | None = None):
    url = f"{API}{route}" + ("" if "?" in route else "?")
    headers = {}
    if header:
        headers["Authorization"] = f"Bearer {token}"
    else:
        url += f"&access_token={quote(token)}"
    if user_id:
        url += f"&user_id={user_id}"
    response = client.get(url, headers=headers)
    response.close()
    return response


def test_a_token_of_library_a_never_reads_library_b(app, client, make_lib, issue, photo):
    a = make_lib("liba", albums=("x",))
    b = make_lib("libb", albums=("x",))
    assert upload(client, "libb", "-", "x/p.jpg", photo, b.admin).status_code == 201
    tokens_of_a = [
        a.admin,
        issue("liba"),
        issue("liba", space="-", grants="upload_file"),
        issue("liba", grants="upload_file,delete_file,create_directory,delete_directory"),
    ]
    routes = _read_routes("libb", "-", "x", "p.jpg")
    for route in routes:
        own = _get(client, route, b.admin)
        assert own.status_code in (200, 302), (route, own.get_json())  # the route does read
        for token in tokens_of_a:
            for header in (False, True):
                response = _get(client, route, token, header=header)
                assert response.status_code == 403, (route, header, response.status_code)
                assert response.get_json()["code"] == "AccessTokenNotMatchLibrary"
            # user_id must not open a door either
            assert _get(client, route, token, user_id="root").status_code == 403


def test_a_space_bound_token_never_reads_another_space(client, make_lib, issue, photo):
    make_lib("multi", multi_tenant=True, spaces=("s1", "s2"), albums=("x",))
    own = issue("multi", space="s1", grants="upload_file")
    other = issue("multi", space="s2", grants="upload_file")
    assert upload(client, "multi", "s2", "x/p.jpg", photo, other).status_code == 201
    for route in _read_routes("multi", "s2", "x", "p.jpg")[:-1]:
        assert _get(client, route, other).status_code in (200, 302), route
        assert _get(client, route, own).status_code == 403, route
    assert upload(client, "multi", "s2", "x/q.jpg", photo, own).status_code == 403


# -- signed file URLs --------------------------------------------------------------------


def _split(token: str) -> tuple[list, str]:
    payload, signature = token.rsplit(".", 1)
    padded = payload + "=" * (-len(payload) % 4)
    return json.loads(base64.urlsafe_b64decode(padded)), signature


def _encode(payload: list) -> str:
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _signed_path(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 302, response.get_json()
    location = response.headers["Location"]
    marker = f"{API}/f/"
    assert marker in location
    return location.split(marker, 1)[1].split("?", 1)[0]


def test_signed_urls_cannot_be_retargeted(app, client, make_lib, photo):
    a = make_lib("liba", albums=("x", "y"))
    assert upload(client, "liba", "-", "x/p.jpg", photo, a.admin).status_code == 201
    assert upload(client, "liba", "-", "y/q.jpg", photo, a.admin).status_code == 201
    cover_x = _signed_path(client, f"{API}/album/liba/-/cover/x?size=64&access_token={a.admin}")
    cover_y = _signed_path(client, f"{API}/album/liba/-/cover/y?size=64&access_token={a.admin}")
    original = _signed_path(client, f"{API}/file/liba/-/x/p.jpg?access_token={a.admin}")
    for token in (cover_x, cover_y, original):
        with client.get(f"{API}/f/{token}") as ok:
            assert ok.status_code == 200
    payload, signature = _split(cover_x)
    rendition, media_id, version, size, expires, *_visibility = payload  # covers also carry public, space
    other_payload, other_signature = _split(cover_y)
    forged = [
        [rendition, other_payload[1], version, size, expires],  # other media
        [rendition, media_id, version, 128, expires],  # another size
        [rendition, media_id, version, 0, expires],  # full size
        [signing.ORIGINAL, media_id, version, size, expires],  # the original instead of the cover
        [rendition, media_id, version + 1, size, expires],
        [rendition, media_id, version, size, expires + 10**6],  # a longer life
    ]
    attempts = [f"{_encode(p)}.{signature}" for p in forged]
    attempts.append(f"{_encode(other_payload)}.{signature}")  # a valid signature on another payload
    attempts.append(f"{_encode(payload)}.{other_signature}")
    attempts.append(URLSafeSerializer("not-the-key", salt="medialib-file-v1").dumps(forged[0]))
    attempts.append(URLSafeSerializer(get_state(app).signing_secret, salt="another-salt").dumps(payload))
    attempts.append(_encode(payload))  # no signature at all
    for token in attempts:
        with client.get(f"{API}/f/{quote(token, safe='')}") as response:
            assert response.status_code == 403, (token, response.status_code)
            assert response.get_json()["code"] in ("InvalidSignature", "SignatureExpired")


# -- path traversal ----------------------------------------------------------------------

TRAVERSALS = [
    "..",
    "../..",
    "../../etc/passwd",
    "..%2F..%2Fetc%2Fpasswd",
    "%2e%2e",
    "%2e%2e%2f%2e%2e%2fetc",
    "%252e%252e%252f",
    "..%5C..%5Cwindows",
    "..\\..\\windows",
    "%c0%ae%c0%ae%c0%af",
    "%00",
    "x%00.jpg",
    "\u2025",  # two dot leader
    "\uff0e\uff0e\uff0f\uff0e\uff0e",  # fullwidth ../..
    "\u2024\u2024\u2215",  # one dot leaders and a division slash
    "%e2%80%a5%2f",
    ".",
    "./.",
    "/etc/passwd",
    "%2Fetc%2Fpasswd",
    "a/../../b",
    "~",
    "CON",
    "\u202e3pm.jpg",
]


def _files_outside(root: Path, storage: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and storage not in p.parents]


def _quoted(value: str) -> str:
    # Literal percent sequences are sent as they are; other characters are encoded once.
    return quote(value, safe="%/\\~")


def test_path_traversal_in_every_name(app, client, make_lib, tmp_path, photo):
    a = make_lib("liba", albums=("x",))
    make_lib("multi", multi_tenant=True, spaces=("s1",), albums=("x",))
    storage = Path(get_state(app).config["MEDIALIB_STORAGE_ROOT"]).resolve()
    before = set(_files_outside(tmp_path, storage))
    token = a.admin
    for raw in TRAVERSALS:
        name = _quoted(raw)
        attempts = [
            ("PUT", f"/directory/liba/-/{name}"),  # album name
            ("GET", f"/directory/liba/-/{name}"),
            ("DELETE", f"/directory/liba/-/{name}"),
            ("PUT", f"/file/liba/-/x/{name}"),  # file name
            ("PUT", f"/file/liba/-/{name}/p.jpg"),  # album part of a file path
            ("GET", f"/file/liba/-/x/{name}"),
            ("DELETE", f"/file/liba/-/x/{name}"),
            ("GET", f"/album/liba/-/cover/{name}"),
            ("GET", f"/directory/multi/{name}"),  # space id
            ("PUT", f"/file/multi/{name}/x/p.jpg"),
            ("POST", f"/space/multi?space_id={name}"),
            ("GET", f"/directory/{name}/-"),  # library id
            ("PUT", f"/file/{name}/-/x/p.jpg"),
            ("GET", f"/album/{name}/-/cover/x"),
            ("GET", f"/f/{name}"),  # signed token
        ]
        for method, route in attempts:
            sep = "&" if "?" in route else "?"
            url = f"{API}{route}{sep}access_token={token}"
            response = client.open(url, method=method, data=photo if method == "PUT" else None)
            status = response.status_code
            body = response.get_data()
            response.close()
            assert status < 500, (method, route, status, body[:300])
            if 200 <= status < 300 and method in ("PUT", "POST"):
                # Accepted only as a literal name (decoded once, by the server) that stays one harmless name.
                decoded = unquote(name)
                assert not any(bad in decoded for bad in ("/", "\\", "..", "\x00")), (method, route, body)
                assert decoded in json.dumps(json.loads(body), ensure_ascii=False), (route, body)  # stored as sent
    after = set(_files_outside(tmp_path, storage))
    assert after - before == set(), "files were written outside the storage root"
    for path in storage.rglob("*"):
        assert path.resolve().is_relative_to(storage)


def test_storage_keys_never_come_from_names(app, client, make_lib, photo):
    a = make_lib("liba", albums=("x",))
    assert upload(client, "liba", "-", "x/\uff0e\uff0e\uff0fpasswd", photo, a.admin).status_code == 201
    storage = get_state(app).storage
    with pytest.raises(ValueError):
        storage.path("../../etc/passwd")
    with pytest.raises(ValueError):
        storage.path("/etc/passwd")
