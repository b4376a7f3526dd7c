"""Named locks that hold across processes, chosen from the cache backend.

- ``RedisCache`` (and the other redis backends): a Redis lock on the cache's
  own client, so it holds across gunicorn workers and hosts.
- ``FileSystemCache``: an advisory lock (``flock``) on a file of its own per
  name, in a folder beside the cache folder (the cache treats every file
  inside its own folder as an entry), so it holds across the processes of one
  machine and unrelated names never wait for each other. The holder removes
  the file when it is done, so lock files do not pile up.
- ``SimpleCache``/``NullCache``: a ``threading.Lock``. Those caches live in
  one process anyway, so a lock in that process is all they can need.

A lock that cannot be had within ``wait`` seconds is given up: the caller then
does the work itself (the locks only save repeated work, never guard
correctness), and :func:`hold` yields False so the caller can tell.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import threading
import time
from collections.abc import Iterator
from typing import Any

log = logging.getLogger("flask_medialib")


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


def _file_path(cache_dir: str, name: str) -> str:
    return os.path.join(lock_dir(cache_dir), hashlib.sha256(name.encode()).hexdigest()[:32] + ".lock")


@contextlib.contextmanager
def _file_lock(cache_dir: str, name: str, wait: float) -> Iterator[bool]:
    path = _file_path(cache_dir, name)
    fd = _acquire_file(path, wait)
    if fd is None:
        log.warning("lock %s not acquired within %ss; going on without it", name, wait)
    try:
        yield fd is not None
    finally:
        if fd is not None:
            # Removed while still held: a waiter that opened this file sees it is gone and opens anew.
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
            os.close(fd)


def _acquire_file(path: str, wait: float) -> int | None:
    """A descriptor holding the lock of ``path``, or None after ``wait`` seconds."""
    deadline = time.monotonic() + wait
    pause = 0.002
    while True:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            time.sleep(min(pause, left))
            pause = min(pause * 2, 0.05)
            continue
        # The previous holder may have removed the file after we opened it: a lock
        # on a file no longer at ``path`` guards nothing, so try again.
        try:
            here = os.stat(path)
        except FileNotFoundError:
            here = None
        mine = os.fstat(fd)
        if here is not None and (here.st_ino, here.st_dev) == (mine.st_ino, mine.st_dev):
            return fd
        os.close(fd)


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
