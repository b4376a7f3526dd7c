"""A per-space generation number in the extension's cache, for memoising derived answers.

Whoever caches something derived from a space's media (a material count, a
cover) keys it by :func:`current` read *before* reading the database;
every write to the space calls :func:`bump` *after* its commit. A client
that wrote and then reads therefore never meets an answer computed before
its write.

A bump stores a fresh random number rather than adding one: a single SET is
atomic on every cache backend (Redis, files, memory), so no concurrent bump
is lost, and a key that was evicted or expired can never come back as a
number that already keys a cached answer. With ``NullCache`` every read is a
new number, so nothing is ever reused. ``SimpleCache`` lives in one process,
like everything that process caches.
"""

from __future__ import annotations

import secrets

from . import identity
from .state import get_state

_PREFIX = "medialib:gen:"


def _key(space_pk: int) -> str:
    # Space pks are reused (a rebuilt database, another app on the same cache): the
    # installation id keeps each database's generations apart.
    return f"{_PREFIX}{identity.installation_id()}:{space_pk}"


def _fresh() -> int:
    return secrets.randbits(62) + 1


def bump(space_pk: int) -> None:
    """Call after a committed write to the space: every answer keyed by the old generation is dead."""
    get_state().cache.set(_key(space_pk), _fresh(), timeout=0)


def current(space_pk: int) -> int:
    """The space's generation now (a new one when the cache has none)."""
    cache = get_state().cache
    value = cache.get(_key(space_pk))
    if isinstance(value, int):
        return value
    value = _fresh()
    # add (set-if-absent where the backend has it): two first readers agree instead of overwriting a bump.
    if not cache.add(_key(space_pk), value, timeout=0):
        stored = cache.get(_key(space_pk))
        if isinstance(stored, int):
            return stored
    return value


def key(space_pk: int) -> str:
    """The cache key of the space's generation, for readers that fetch it in one ``get_many`` with their own keys."""
    return _key(space_pk)
