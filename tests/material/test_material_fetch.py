"""fetch_to_file: allow list, private addresses, resolved-IP connection, limits, redirects."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st
from material_helpers import MediaServer

from flask_medialib import config
from flask_medialib.errors import ConfigError, MediaError
from flask_medialib.fetch import fetch_to_file, host_rule, is_public, parse_rule

IMG = b"\xff\xd8" + b"jpeg-bytes" * 100


@pytest.fixture
def origin() -> Iterator[MediaServer]:
    server = MediaServer({"/img.jpg": IMG, "/big": b"b" * 5000})
    yield server
    server.close()


@pytest.fixture
def allow(app):
    def set_hosts(*hosts: str, **config: object) -> None:
        app.config["MEDIALIB_FETCH_ALLOWED_HOSTS"] = list(hosts)
        app.config.update(config)

    return set_hosts


def refused(url: str, dest, text: str) -> None:
    with pytest.raises(MediaError, match=text):
        fetch_to_file(url, str(dest))
    assert not dest.exists()


def test_off_by_default(app, origin, tmp_path):
    refused(f"{origin.base}/img.jpg", tmp_path / "out", "MEDIALIB_FETCH_ALLOWED_HOSTS")


def test_a_host_named_exactly_is_fetched(origin, allow, tmp_path):
    allow(f"127.0.0.1:{origin.port}")
    fetch_to_file(f"{origin.base}/img.jpg?v=1", str(tmp_path / "out"))
    assert (tmp_path / "out").read_bytes() == IMG


def test_hosts_not_in_the_list_and_other_schemes_are_refused(origin, allow, tmp_path):
    allow("cdn.example.com")
    refused(f"{origin.base}/img.jpg", tmp_path / "out", "not in MEDIALIB_FETCH_ALLOWED_HOSTS")
    refused("ftp://cdn.example.com/a.jpg", tmp_path / "out", "only http")
    refused("file:///etc/passwd", tmp_path / "out", "only http")
    refused("http://cdn.example.com:99999/a", tmp_path / "out", "port")


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_a_wildcard_never_reaches_private_addresses(origin, allow, tmp_path, host):
    allow("*:*")
    refused(f"http://{host}:{origin.port}/img.jpg", tmp_path / "out", "non-public address")


def test_the_connection_goes_to_the_address_that_was_checked(origin, allow, tmp_path, monkeypatch):
    # A name that only our resolver knows: the fetch works only if it connects to the checked address,
    # and it resolves once per request, so a rebinding DNS cannot swap the address after the check.
    calls: list[str] = []
    real = socket.getaddrinfo

    def fake(host, port, *args, **kwargs):
        calls.append(host)
        if host == "media.test":
            return real("127.0.0.1", port, *args, **kwargs)
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    allow(f"media.test:{origin.port}")
    fetch_to_file(f"http://media.test:{origin.port}/img.jpg", str(tmp_path / "out"))
    assert (tmp_path / "out").read_bytes() == IMG
    # One lookup of the name; the connect only parses the checked address literal.
    assert calls.count("media.test") == 1 and all(c == "media.test" or ipaddress.ip_address(c) for c in calls)
    assert origin.hosts[-1] == f"media.test:{origin.port}"


def test_same_host_redirects_are_followed_other_hosts_refused(origin, allow, tmp_path):
    allow(f"127.0.0.1:{origin.port}", f"localhost:{origin.port}")
    fetch_to_file(f"{origin.base}/same", str(tmp_path / "a"))
    fetch_to_file(f"{origin.base}/same-abs", str(tmp_path / "b"))
    assert (tmp_path / "a").read_bytes() == (tmp_path / "b").read_bytes() == IMG
    refused(f"{origin.base}/other", tmp_path / "c", "another host or port")
    refused(f"{origin.base}/loop", tmp_path / "d", "more than 3")
    refused(f"{origin.base}/no-location", tmp_path / "e", "without a Location")


def test_size_limit_with_and_without_content_length(origin, allow, tmp_path):
    allow(f"127.0.0.1:{origin.port}", MEDIALIB_FETCH_MAX_BYTES=4096)
    refused(f"{origin.base}/big", tmp_path / "out", "MEDIALIB_FETCH_MAX_BYTES")
    refused(f"{origin.base}/chunked", tmp_path / "out", "MEDIALIB_FETCH_MAX_BYTES")


def test_error_statuses_and_timeouts(origin, allow, tmp_path):
    allow(f"127.0.0.1:{origin.port}", "127.0.0.1:9", MEDIALIB_FETCH_TIMEOUT=0.2)
    refused(f"{origin.base}/missing", tmp_path / "out", "HTTP 500")
    refused(f"{origin.base}/hang", tmp_path / "out", "timed out|TimeoutError|failed")
    refused("http://127.0.0.1:9/none", tmp_path / "out", "failed")


def test_host_rules():
    assert host_rule("https", "CDN.example.com.", 443, ["cdn.example.com"]) == "exact"
    assert host_rule("http", "a.cdn.example.com", 80, ["*.example.com"]) == "wildcard"
    assert host_rule("http", "example.com", 80, ["*.example.com"]) is None
    assert host_rule("http", "evilexample.com", 80, ["*.example.com"]) is None
    assert host_rule("http", "anything", 80, ["*"]) == "wildcard"
    assert host_rule("http", "anything", 80, []) is None


def test_host_rules_match_the_port_too():
    # Without a port only the scheme's default is allowed: naming a host never opens its other services.
    assert host_rule("http", "cdn.example.com", 8080, ["cdn.example.com"]) is None
    assert host_rule("https", "cdn.example.com", 80, ["cdn.example.com"]) is None
    assert host_rule("http", "a.example.com", 6379, ["*.example.com"]) is None
    assert host_rule("http", "anything", 22, ["*"]) is None
    assert host_rule("http", "cdn.example.com", 8080, ["cdn.example.com:8080"]) == "exact"
    assert host_rule("http", "cdn.example.com", 80, ["cdn.example.com:8080"]) is None
    assert host_rule("http", "cdn.example.com", 9, ["cdn.example.com:*"]) == "exact"
    assert host_rule("http", "a.example.com", 8443, ["*.example.com:8443"]) == "wildcard"
    assert host_rule("http", "::1", 8080, ["[::1]:8080"]) == "exact"
    assert host_rule("http", "::1", 80, ["::1"]) == "exact"
    assert host_rule("http", "::1", 8080, ["::1"]) is None


@pytest.mark.parametrize("entry", ["a:b", "a:0", "a:65536", "a:80:81", "http://a", "a/b", "", "[::1", "a b"])
def test_bad_allow_list_entries_fail_at_start(app, entry):
    with pytest.raises(ValueError):
        parse_rule(entry)
    with pytest.raises(ConfigError, match="MEDIALIB_FETCH_ALLOWED_HOSTS"):
        config.apply_defaults({**app.config, "MEDIALIB_FETCH_ALLOWED_HOSTS": [entry]})


def test_an_allowed_host_reaches_only_the_allowed_port(origin, allow, tmp_path):
    allow("127.0.0.1")  # ports 80 and 443 only
    refused(f"{origin.base}/img.jpg", tmp_path / "out", f"port {origin.port} of the host")
    assert origin.hosts == []
    allow("127.0.0.1:1")
    refused(f"{origin.base}/img.jpg", tmp_path / "out", "name it as host:port")
    assert origin.hosts == []


def test_a_redirect_to_another_port_of_the_same_host_is_refused(origin, allow, tmp_path):
    other = MediaServer({"/img.jpg": b"secret"})
    try:
        allow(f"127.0.0.1:{origin.port}", f"127.0.0.1:{other.port}")
        origin.redirects["/to-other-port"] = f"{other.base}/img.jpg"
        refused(f"{origin.base}/to-other-port", tmp_path / "out", "another host or port")
        assert other.hosts == []
    finally:
        other.close()


@given(st.ip_addresses())
def test_is_public_agrees_with_ipaddress(ip):
    # Public means global and none of the internal kinds (carrier NAT 100.64/10 is not global).
    mapped = getattr(ip, "ipv4_mapped", None)
    target = mapped or ip
    inner = (
        not target.is_global
        or target.is_loopback
        or target.is_private
        or target.is_link_local
        or target.is_multicast
        or target.is_reserved
        or target.is_unspecified
    )
    assert is_public(str(ip)) is (not inner)


@pytest.mark.parametrize(
    "address",
    [
        "10.0.0.1",
        "172.16.3.4",
        "192.168.1.1",
        "169.254.169.254",
        "::1",
        "::ffff:127.0.0.1",
        "fe80::1",
        "224.0.0.1",
        "0.0.0.0",
        "fc00::1",
    ],
)
def test_internal_addresses_are_not_public(address):
    assert not is_public(address)
    assert is_public("93.184.216.34") and is_public(str(ipaddress.ip_address("2606:4700::1111")))


def test_a_content_length_of_other_digits_is_no_500(origin, allow, tmp_path):
    # "1\u00b3" passes str.isdigit() and fails int(): read as an unknown length, bounded by the limit.
    allow(f"127.0.0.1:{origin.port}")
    fetch_to_file(f"{origin.base}/odd-length", str(tmp_path / "out"))
    assert (tmp_path / "out").read_bytes() == b"odd bytes"
