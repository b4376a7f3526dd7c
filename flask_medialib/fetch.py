"""Download the bytes behind a media URL, safely (for covers of url-only materials).

Off unless ``MEDIALIB_FETCH_ALLOWED_HOSTS`` names hosts. An entry is an exact
host name (``cdn.example.com``, ``127.0.0.1``, ``[::1]``), ``*.example.com``
(any sub-domain) or ``*`` (any host), with an optional ``:port`` (``:*`` for
any port); without one only the scheme's default port (80, 443) is allowed,
so naming a host never opens its other services. The name is resolved once and the
connection goes to that address (no second lookup an attacker could
rebind). Loopback, private, link-local, multicast, reserved and unspecified
addresses are refused unless the host is named exactly: a wildcard never
reaches the internal network. Each response may be at most
``MEDIALIB_FETCH_MAX_BYTES``; each socket operation and the whole fetch
end after ``MEDIALIB_FETCH_TIMEOUT`` seconds; up to three redirects are
followed, only to the same host and port, each checked again. Every refusal raises
:class:`~flask_medialib.errors.MediaError` with a message that says why.
"""

from __future__ import annotations

import http.client
import ipaddress
import os
import re
import socket
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

from .errors import MediaError
from .state import get_state

MAX_REDIRECTS = 3
_CHUNK = 64 * 1024
_REDIRECTS = {301, 302, 303, 307, 308}
_DIGITS = re.compile(r"[0-9]{1,19}")


ANY_PORT = -1
_DEFAULT_PORTS = {"http": 80, "https": 443}
_ENTRY = re.compile(r"(?P<host>\[[0-9A-Fa-f:.]+\]|[^\[\]:/\s]+)(?::(?P<port>[0-9]{1,5}|\*))?")


@dataclass(frozen=True)
class Rule:
    """One entry of the allow-list: a host pattern and a port (None: the scheme's default)."""

    host: str
    port: int | None

    def allows_port(self, scheme: str, port: int) -> bool:
        if self.port is None:
            return port == _DEFAULT_PORTS.get(scheme)
        return self.port in (ANY_PORT, port)


def parse_rule(entry: str) -> Rule:
    """``host``, ``host:port``, ``host:*``, ``[v6]:port``, ``*.domain``, ``*``; ValueError if none of them."""
    text = entry.strip().lower()
    if text.count(":") > 1 and not text.startswith("["):
        text = f"[{text}]"  # a bare IPv6 address: no port
    match = _ENTRY.fullmatch(text)
    port = match and match.group("port")
    if match is None or (port not in (None, "*") and not 1 <= int(port) <= 65535):
        raise ValueError(f"{entry!r} is not host, host:port, host:*, *.domain or * (IPv6 in brackets)")
    host = match.group("host").strip("[]").rstrip(".")
    if match.group("host").startswith("["):
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"{entry!r} does not name an IPv6 address in its brackets") from None
    return Rule(host, None if port is None else ANY_PORT if port == "*" else int(port))


def _match(rule: Rule, host: str) -> str | None:
    if rule.host == host:
        return "exact"
    if rule.host == "*" or (rule.host.startswith("*.") and host.endswith(rule.host[1:])):
        return "wildcard"
    return None


def host_rule(scheme: str, host: str, port: int, allowed: list[str]) -> str | None:
    """``"exact"``, ``"wildcard"`` or None: how ``host`` at ``port`` is allowed by the list."""
    host = host.lower().rstrip(".")
    kinds = {_match(rule, host) for rule in map(parse_rule, allowed) if rule.allows_port(scheme, port)}
    return "exact" if "exact" in kinds else "wildcard" if "wildcard" in kinds else None


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
    port = port or _DEFAULT_PORTS[parts.scheme]
    rule = host_rule(parts.scheme, host, port, allowed)
    if rule is None:
        if any(_match(rule, host.lower().rstrip(".")) for rule in map(parse_rule, allowed)):
            raise MediaError(
                f"port {port} of the host {host!r} is not allowed by MEDIALIB_FETCH_ALLOWED_HOSTS; "
                "an entry without a port allows only ports 80 and 443: name it as host:port"
            )
        raise MediaError(f"the host {host!r} is not in MEDIALIB_FETCH_ALLOWED_HOSTS")
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
    first: tuple[str, int] | None = None
    try:
        for _ in range(MAX_REDIRECTS + 1):
            scheme, host, port, ip = resolve(url, allowed)
            if first is None:
                first = (host, port)
            elif (host, port) != first:
                raise MediaError(f"the media URL redirects to another host or port ({host}:{port}); refused")
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
        # ASCII digits only: "1\u00b3" passes str.isdigit() and fails int(); any other value is no length.
        if length and _DIGITS.fullmatch(length) and int(length) > limit:
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
