"""Named locks that hold across processes, chosen from the cache backend.

- ``RedisCache`` (and the other redis backends): a Redis lock on the cache's
  own client, so it holds across gunicorn workers and hosts.
- ``FileSystemCache``: a ``filelock.FileLock`` in a folder beside the cache
  folder (the cache treats every file inside its own folder as an entry), so
  it holds across the processes of one machine.
- ``SimpleCache``/``NullCache``: a ``threading.Lock``. Those caches live in
  one process anyway, so a lock in that process is all they can need.

A lock that cannot be had within ``wait`` seconds is given up: the caller then
does the work itself (the locks only save repeated work, never guard
correctness), and :func:`hold` yields False so the caller can tell.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import threading
from collections.abc import Iterator
from typing import Any

log = logging.getLogger("flask_medialib")

#: File locks are striped over this many files, so lock files never pile up.
FILE_STRIPES = 256


def _redis_client(backend: Any) -> Any | None:
    client = getattr(backend, "_write_client", None)
    return client if client is not None and callable(getattr(client, "lock", None)) else None


@contextlib.contextmanager
def _redis_lock(client: Any, name: str, timeout: float, wait: float) -> Iterator[bool]:
    from redis.exceptions import LockError, RedisError

    # The lock expires after ``timeout`` so a worker killed mid-work cannot block others forever.
    lock = client.lock(name, timeout=timeout, blocking_timeout=wait, thread_local=False)
    try:
        acquired = bool(lock.acquire())
    except RedisError as exc:
        log.warning("lock %s unavailable (%s); going on without it", name, exc)
        acquired = False
    try:
        yield acquired
    finally:
        if acquired:
            with contextlib.suppress(LockError, RedisError):  # expired or lost: nothing left to free
                lock.release()


def lock_dir(cache_dir: str) -> str:
    return os.path.normpath(cache_dir) + "-locks"


@contextlib.contextmanager
def _file_lock(cache_dir: str, name: str, wait: float) -> Iterator[bool]:
    from filelock import FileLock, Timeout

    folder = lock_dir(cache_dir)
    os.makedirs(folder, exist_ok=True)
    stripe = int(hashlib.sha256(name.encode()).hexdigest()[:8], 16) % FILE_STRIPES
    lock = FileLock(os.path.join(folder, f"{stripe:03d}.lock"), timeout=wait)
    try:
        lock.acquire()
        acquired = True
    except Timeout:
        log.warning("lock %s not acquired within %ss; going on without it", name, wait)
        acquired = False
    try:
        yield acquired
    finally:
        if acquired:
            lock.release()


class _ThreadLocks:
    """Named in-process locks, dropped when nobody holds or waits for them."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, tuple[threading.Lock, int]] = {}

    @contextlib.contextmanager
    def hold(self, name: str, wait: float) -> Iterator[bool]:
        with self._guard:
            lock, users = self._locks.get(name, (threading.Lock(), 0))
            self._locks[name] = (lock, users + 1)
        acquired = lock.acquire(timeout=wait)
        try:
            yield acquired
        finally:
            if acquired:
                lock.release()
            with self._guard:
                lock, users = self._locks[name]
                if users == 1:
                    del self._locks[name]
                else:
                    self._locks[name] = (lock, users - 1)


_thread_locks = _ThreadLocks()


def kind(cache: Any) -> str:
    """Which lock :func:`hold` uses for this Flask-Caching ``Cache``: redis, file or thread."""
    backend = getattr(cache, "cache", cache)
    if _redis_client(backend) is not None:
        return "redis"
    if isinstance(getattr(backend, "_path", None), str):
        return "file"
    return "thread"


@contextlib.contextmanager
def hold(cache: Any, name: str, *, timeout: float = 120.0, wait: float = 60.0) -> Iterator[bool]:
    """Hold the lock ``name`` of ``cache``'s backend; yields whether it was acquired.

    ``timeout``: how long a Redis lock lives at most (a crashed holder frees
    it then); ``wait``: how long to wait for it before going on without it.
    """
    backend = getattr(cache, "cache", cache)
    which = kind(cache)
    if which == "redis":
        prefix = getattr(backend, "key_prefix", "") or ""
        prefix = prefix() if callable(prefix) else prefix
        with _redis_lock(_redis_client(backend), f"{prefix}lock:{name}", timeout, wait) as acquired:
            yield acquired
    elif which == "file":
        with _file_lock(backend._path, name, wait) as acquired:
            yield acquired
    else:
        with _thread_locks.hold(name, wait) as acquired:
            yield acquired
