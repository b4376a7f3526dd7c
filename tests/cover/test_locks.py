"""flask_medialib.locks: one holder at a time, across threads and (Redis, file) processes."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import textwrap
import threading

import pytest
from flask import Flask
from flask_caching import Cache

from flask_medialib import locks

REDIS_URL = os.environ.get("MEDIALIB_TEST_REDIS_URL")

CACHE_CONFIGS = {
    "thread": {"CACHE_TYPE": "SimpleCache"},
    "file": {"CACHE_TYPE": "FileSystemCache", "CACHE_DIR": "{tmp}/cache"},
    "redis": {"CACHE_TYPE": "RedisCache", "CACHE_REDIS_URL": REDIS_URL or "", "CACHE_KEY_PREFIX": "{prefix}"},
}
KINDS = ["thread", "file"] + (["redis"] if REDIS_URL else [])


def _cache_config(kind: str, tmp_path, redis_prefix: str) -> dict:
    return {k: str(v).format(tmp=tmp_path, prefix=redis_prefix) for k, v in CACHE_CONFIGS[kind].items()}


_opened: list[Cache] = []


def _cache(config: dict) -> Cache:
    app = Flask("locks_test")
    cache = Cache()
    cache.init_app(app, config=config)
    _opened.append(cache)
    return cache


@pytest.fixture(autouse=True)
def _close_redis_clients():
    """Redis sockets left to the garbage collector warn (and the suite turns warnings into errors)."""
    yield
    while _opened:
        client = getattr(_opened.pop().cache, "_write_client", None)
        if client is not None:
            client.connection_pool.disconnect()


@pytest.mark.parametrize("kind", KINDS)
def test_kind_follows_the_backend(kind, tmp_path, redis_prefix):
    assert locks.kind(_cache(_cache_config(kind, tmp_path, redis_prefix))) == kind


def test_null_cache_uses_a_thread_lock():
    assert locks.kind(_cache({"CACHE_TYPE": "NullCache", "CACHE_NO_NULL_WARNING": True})) == "thread"


@pytest.mark.parametrize("kind", KINDS)
def test_one_holder_at_a_time_between_threads(kind, tmp_path, redis_prefix):
    cache = _cache(_cache_config(kind, tmp_path, redis_prefix))
    held, release, results = threading.Event(), threading.Event(), []

    def holder() -> None:
        with locks.hold(cache, "media:1:1") as acquired:
            results.append(acquired)
            held.set()
            release.wait()

    thread = threading.Thread(target=holder)
    thread.start()
    held.wait()
    with locks.hold(cache, "media:1:1", wait=0) as acquired:
        assert acquired is False  # taken: the caller goes on without it
    release.set()
    thread.join()
    with locks.hold(cache, "media:1:1", wait=0) as acquired:
        assert acquired is True  # freed by the holder
    assert results == [True]


CHILD = textwrap.dedent(
    """
    import json, sys
    from flask import Flask
    from flask_caching import Cache
    from flask_medialib import locks
    cache = Cache()
    cache.init_app(Flask("child"), config=json.loads(sys.argv[1]))
    with locks.hold(cache, "media:7:1") as acquired:
        print("held" if acquired else "missed", flush=True)
        sys.stdin.readline()
    """
)


@pytest.mark.parametrize("kind", [k for k in KINDS if k != "thread"])
def test_one_holder_at_a_time_between_processes(kind, tmp_path, redis_prefix):
    import json

    config = _cache_config(kind, tmp_path, redis_prefix)
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, json.dumps(config)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout.readline().strip() == "held"
        cache = _cache(config)
        with locks.hold(cache, "media:7:1", wait=0) as acquired:
            assert acquired is False
        child.stdin.write("\n")
        child.stdin.flush()
        assert child.wait(timeout=60) == 0
        with locks.hold(cache, "media:7:1", wait=0) as acquired:
            assert acquired is True
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        child.stdin.close()
        child.stdout.close()


def test_file_locks_live_beside_the_cache_folder_and_do_not_pile_up(tmp_path):
    cache = _cache(_cache_config("file", tmp_path, ""))
    for number in range(600):
        with locks.hold(cache, f"media:{number}:1") as acquired:
            assert acquired
            assert len(os.listdir(locks.lock_dir(str(tmp_path / "cache")))) == 1  # its own file while held
    assert not [name for name in os.listdir(tmp_path / "cache") if name.endswith(".lock")]
    assert os.listdir(locks.lock_dir(str(tmp_path / "cache"))) == []


def _names_of_one_old_stripe() -> tuple[str, str]:
    """Two names that shared one of the 256 lock files of the striped scheme (issue 10 §6)."""
    seen: dict[int, str] = {}
    for number in range(1000):
        name = f"cover:{number}:1"
        stripe = int(hashlib.sha256(name.encode()).hexdigest()[:8], 16) % 256
        if stripe in seen:
            return seen[stripe], name
        seen[stripe] = name
    raise AssertionError("unreachable: 1000 names in 256 stripes")


@pytest.mark.parametrize("kind", KINDS)
def test_unrelated_names_never_wait_for_each_other(kind, tmp_path, redis_prefix):
    cache = _cache(_cache_config(kind, tmp_path, redis_prefix))
    first, second = _names_of_one_old_stripe()
    with locks.hold(cache, first) as held:
        assert held
        with locks.hold(cache, second, wait=0) as other:
            assert other is True  # another key: free at once
        with locks.hold(cache, first, wait=0) as same:
            assert same is False  # the same key: taken


def test_one_holder_at_a_time_while_lock_files_come_and_go(tmp_path):
    """Each holder removes its file on release; contending threads still never hold the lock together."""
    cache = _cache(_cache_config("file", tmp_path, ""))
    order: list[int] = []
    overlaps: list[int] = []
    inside = threading.Semaphore(1)  # taken by whoever holds the lock
    start = threading.Barrier(8)

    def worker(number: int) -> None:
        start.wait(timeout=60)
        for _ in range(25):
            with locks.hold(cache, "media:5:1", wait=30) as acquired:
                if not acquired or not inside.acquire(blocking=False):
                    overlaps.append(number)
                    continue
                order.append(number)
                inside.release()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert overlaps == [] and len(order) == 200
