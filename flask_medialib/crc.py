"""CRC-64/XZ, the checksum SMH clients verify downloads and uploads with (sent as a decimal string).

Reflected polynomial 0xC96C5795D7870F42, initial value and final xor all ones
(the JS SDK's ``utils/crc64.ts``); crcmod's C extension computes it at memory speed.
"""

from __future__ import annotations

from collections.abc import Callable

import crcmod

_CHUNK = 1024 * 1024
# crcmod takes the polynomial with its x^64 term; ``initCrc=0`` with ``rev`` and the xor is XZ's all-ones start.
_crc: Callable[..., int] = crcmod.mkCrcFun(0x142F0E1EBA9EA3693, initCrc=0, xorOut=0xFFFFFFFFFFFFFFFF, rev=True)


def crc64(data: bytes, value: int = 0) -> int:
    """CRC-64/XZ of ``data``, continuing from the CRC ``value`` of the bytes before it."""
    return _crc(data, value)


def crc64_file(path: str) -> str:
    """The file's CRC-64/XZ as SMH writes it: a decimal string."""
    value = 0
    with open(path, "rb") as fp:
        while chunk := fp.read(_CHUNK):
            value = _crc(chunk, value)
    return str(value)
