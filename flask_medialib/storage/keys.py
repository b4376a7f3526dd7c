"""Storage keys: made by the server, checked before any backend uses one.

Originals get random keys (:func:`new_key`). Renditions (covers, previews)
get keys derived from what they show: one folder per media version
(installation id, media ``uid``, version: :func:`rendition_prefix`) and a
name per set of rendition parameters (:func:`rendition_key`). Two renders of
the same rendition write the same bytes to the same key, a new version of a
media gets a new folder, and a media's renditions go with one prefix delete.
The two never meet: random keys start with two hex digits, renditions with ``r/``.
"""

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


#: The first segment of every rendition key (never two hex digits: no original's key starts so).
RENDITIONS = "r"


def renditions_root(installation: str) -> str:
    """The folder (ending in ``/``) of every rendition of one installation."""
    return check_key(f"{RENDITIONS}/{installation}") + "/"


def rendition_prefix(installation: str, uid: str, version: int) -> str:
    """The folder (ending in ``/``) of every rendition of one media version."""
    return check_key(f"{renditions_root(installation)}{uid}/v{int(version)}") + "/"


def rendition_key(prefix: str, name: str) -> str:
    """The key of rendition ``name`` (its parameters and extension, e.g. ``c256-1a2b3c.jpg``) under ``prefix``."""
    if "/" in name:
        raise ValueError(f"not a rendition name: {name!r}")
    return check_key(prefix + name)
