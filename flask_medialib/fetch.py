"""Download the bytes behind a media URL, safely (for covers of url-only materials).

Off unless ``MEDIALIB_FETCH_ALLOWED_HOSTS`` names hosts. An entry is an exact
host name (``cdn.example.com``, ``127.0.0.1``), ``*.example.com`` (any
sub-domain) or ``*`` (any host). The name is resolved once and the
connection goes to that address (no second lookup an attacker could
rebind). Loopback, private, link-local, multicast, reserved and unspecified
addresses are refused unless the host is named exactly: a wildcard never
reaches the internal network. Each response may be at most
``MEDIALIB_FETCH_MAX_BYTES``; each socket operation and the whole fetch
end after ``MEDIALIB_FETCH_TIMEOUT`` seconds; up to three redirects are
followed, only to the same host, each checked again. Every refusal raises
:class:`~flask_medialib.errors.MediaError` with a message that says why.
"""

from __future__ import annotations

import http.client
import ipaddress
import os
import socket
import time
from typing import Any
from urllib.parse import urljoin, urlsplit

from .errors import MediaError
from .state import get_state

MAX_REDIRECTS = 3
_CHUNK = 64 * 1024
_REDIRECTS = {301, 302, 303, 307, 308}


def host_rule(host: str, allowed: list[str]) -> str | None:
    """``"exact"``, ``"wildcard"`` or None: how ``host`` is allowed by the list."""
    host = host.lower().rstrip(".")
    rules = [a.lower().rstrip(".") for a in allowed]
    if host in rules:
        return "exact"
    for rule in rules:
        if rule == "*" or (rule.startswith("*.") and host.endswith(rule[1:])):
            return "wildcard"
    return None


def is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    # is_global also rules out shared (100.64/10, carrier NAT), benchmarking and documentation ranges.
    return ip.is_global and not (
        ip.is_loopback or ip.is_private or ip.is_link_local or ip.is_multicast or ip.is_reserved or ip.is_unspecified
    )


def resolve(url: str, allowed: list[str]) -> tuple[str, str, int, str]:
    """Check ``url`` against the rules; returns (scheme, host, port, ip to connect to)."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"}:
        raise MediaError(f"only http(s) media URLs can be fetched, not {parts.scheme or 'a relative URL'!r}")
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        raise MediaError(f"the media URL {url!r} has a bad port") from None
    if not host:
        raise MediaError(f"the media URL {url!r} has no host")
    if not allowed:
        raise MediaError("fetching media URLs is off: name the host in MEDIALIB_FETCH_ALLOWED_HOSTS to allow it")
    rule = host_rule(host, allowed)
    if rule is None:
        raise MediaError(f"the host {host!r} is not in MEDIALIB_FETCH_ALLOWED_HOSTS")
    port = port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise MediaError(f"the host {host!r} cannot be resolved: {exc}") from None
    addresses = [str(info[4][0]) for info in infos]
    if not addresses:
        raise MediaError(f"the host {host!r} has no address")
    if rule != "exact":
        inner = [a for a in addresses if not is_public(a)]
        if inner:
            raise MediaError(
                f"the host {host!r} resolves to the non-public address {inner[0]}; "
                "name the host exactly in MEDIALIB_FETCH_ALLOWED_HOSTS to allow it"
            )
    return parts.scheme, host, port, addresses[0]


def _connection(scheme: str, host: str, port: int, ip: str, timeout: float) -> http.client.HTTPConnection:
    cls = http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
    conn = cls(host, port, timeout=timeout)
    # Connect to the address we checked; Host header and TLS name (SNI, certificate) stay ``host``.
    conn._create_connection = lambda _addr, timeout=timeout, source=None: socket.create_connection(  # type: ignore[attr-defined]
        (ip, port), timeout, source
    )
    return conn


def fetch_to_file(url: str, dest_path: str) -> None:
    """Download ``url`` into ``dest_path`` under the rules above; nothing is left behind on failure."""
    config = get_state().config
    allowed: list[str] = config["MEDIALIB_FETCH_ALLOWED_HOSTS"]
    timeout = float(config["MEDIALIB_FETCH_TIMEOUT"])
    limit = int(config["MEDIALIB_FETCH_MAX_BYTES"])
    deadline = time.monotonic() + timeout
    first_host = urlsplit(url).hostname
    try:
        for _ in range(MAX_REDIRECTS + 1):
            scheme, host, port, ip = resolve(url, allowed)
            if host != first_host:
                raise MediaError(f"the media URL redirects to another host ({host!r}); refused")
            location = _get(url, scheme, host, port, ip, dest_path, timeout, deadline, limit)
            if location is None:
                return
            url = urljoin(url, location)
        raise MediaError(f"the media URL redirects more than {MAX_REDIRECTS} times")
    except BaseException:
        if os.path.exists(dest_path):
            os.unlink(dest_path)
        raise


def _get(
    url: str,
    scheme: str,
    host: str,
    port: int,
    ip: str,
    dest_path: str,
    timeout: float,
    deadline: float,
    limit: int,
) -> str | None:
    """One GET; returns the Location of a redirect, or None once the body is saved."""
    parts = urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    conn = _connection(scheme, host, port, ip, timeout)
    try:
        conn.request("GET", target, headers={"User-Agent": "flask-medialib-fetch", "Accept": "*/*"})
        response = conn.getresponse()
        if response.status in _REDIRECTS:
            location = response.getheader("Location")
            if not location:
                raise MediaError(f"the media URL answered {response.status} without a Location")
            return location
        if response.status != 200:
            raise MediaError(f"the media URL answered HTTP {response.status}")
        length = response.getheader("Content-Length")
        if length and length.isdigit() and int(length) > limit:
            raise MediaError(f"the media is {length} bytes, more than MEDIALIB_FETCH_MAX_BYTES ({limit})")
        _save(response, dest_path, deadline, limit)
        return None
    except (OSError, http.client.HTTPException) as exc:
        raise MediaError(f"fetching the media URL failed: {type(exc).__name__}: {exc}") from None
    finally:
        conn.close()


def _save(response: Any, dest_path: str, deadline: float, limit: int) -> None:
    size = 0
    with open(dest_path, "wb") as out:
        while chunk := response.read(_CHUNK):
            size += len(chunk)
            if size > limit:
                raise MediaError(f"the media is larger than MEDIALIB_FETCH_MAX_BYTES ({limit} bytes)")
            if time.monotonic() > deadline:
                raise MediaError("fetching the media took longer than MEDIALIB_FETCH_TIMEOUT")
            out.write(chunk)
