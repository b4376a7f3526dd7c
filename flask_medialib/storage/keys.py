"""Storage keys: made by the server, checked before any backend uses one."""

from __future__ import annotations

import re
import secrets

# What :func:`new_key` makes and what the material API accepts as a ``path``:
# relative, '/'-separated, no empty, '.' or '..' segment.
_KEY = re.compile(r"[A-Za-z0-9._~-]+(/[A-Za-z0-9._~-]+)*")


def new_key(ext: str) -> str:
    """A fresh random key in two levels of hashed folders, e.g. ``3f/a2/3fa2....jpg``."""
    token = secrets.token_hex(16)
    return f"{token[:2]}/{token[2:4]}/{token}{ext}"


def check_key(key: str) -> str:
    """``key`` itself, or ValueError when it could leave the storage's root or prefix."""
    if not _KEY.fullmatch(key) or any(part in (".", "..") for part in key.split("/")):
        raise ValueError(f"not a storage key: {key!r}")
    return key
