"""Build requests the way the SMH SDKs do: paths through encodeURIComponent, flags as bare keys or ``=1``."""

from __future__ import annotations

from urllib.parse import quote

API = "/api/v1"


def enc(path: str) -> str:
    """JS ``encodeURIComponent``: ``album/a.jpg`` -> ``album%2Fa.jpg`` (one path segment)."""
    return quote(path, safe="-_.!~*'()")


def qs(*flags: str, **params: object) -> str:
    """A query string: bare ``flags`` (Android: ``?info``), then ``params`` (``None`` left out)."""
    parts = list(flags) + [f"{k}={quote(str(v), safe='')}" for k, v in params.items() if v is not None]
    return "?" + "&".join(parts) if parts else ""


def file_url(library: str, space: str, path: str, *flags: str, **params: object) -> str:
    return f"{API}/file/{library}/{space}/{enc(path)}" + qs(*flags, **params)


def dir_url(library: str, space: str, path: str, *flags: str, **params: object) -> str:
    """``path`` "" is the root: ``/directory/L/S/`` with the trailing slash, as the JS SDK sends it."""
    return f"{API}/directory/{library}/{space}/{enc(path)}" + qs(*flags, **params)


def crc64_reference(data: bytes) -> int:
    """CRC-64/XZ bit by bit, straight from its definition (reflected 0xC96C5795D7870F42, all-ones in and out)."""
    crc = 0xFFFFFFFFFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0xC96C5795D7870F42 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFFFFFFFFFF
