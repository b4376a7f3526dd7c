"""Job tests: the app in celery mode on Redis (cache and broker), with real worker processes where marked slow.

Every test gets a private queue key space (``global_keyprefix`` under the
session's Redis prefix) that is emptied before it runs, so a job left by one
test is never taken by the next test's worker.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis as redis_lib

try:
    import celery  # noqa: F401 - only to know whether the jobs extra is installed
except ImportError:  # the run on the oldest allowed dependencies installs no jobs extra (see .ci/lowest)
    collect_ignore_glob = ["test_*.py"]

HERE = Path(__file__).resolve().parent
# The shared helpers of other folders (cover builders, the webhook receiver) and this folder's modules.
for folder in (HERE, HERE.parent / "cover", HERE.parent / "material"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

from job_detectors import SPEC  # noqa: E402

from flask_medialib import jobs  # noqa: E402

REDIS_URL = os.environ.get("MEDIALIB_TEST_REDIS_URL") or "redis://127.0.0.1:6379/0"
RABBIT_URL = os.environ.get("MEDIALIB_TEST_AMQP_URL") or "amqp://guest:guest@127.0.0.1:5672//"
QUEUE = "medialib-jobs"


@pytest.fixture
def jobs_config(request: pytest.FixtureRequest) -> dict:
    """Keys a test changes: override it, or parametrize it indirectly."""
    return dict(getattr(request, "param", {}))


@pytest.fixture
def app_config(app_config: dict, redis_prefix: str, jobs_config: dict) -> dict:
    return {
        **app_config,
        "MEDIALIB_JOBS": "celery",
        "MEDIALIB_CELERY_BROKER_URL": REDIS_URL,
        "MEDIALIB_CELERY_QUEUE": QUEUE,
        "CELERY": {"broker_transport_options": {"global_keyprefix": f"{redis_prefix}celery:"}},
        "MEDIALIB_CACHE_TYPE": "RedisCache",
        "MEDIALIB_CACHE_REDIS_URL": REDIS_URL,
        "MEDIALIB_CACHE_KEY_PREFIX": redis_prefix,
        "MEDIALIB_FACE_DETECTOR": SPEC,
        "MEDIALIB_RENDER_WAIT": 0.2,
        **jobs_config,
    }


class Broker:
    """The test's view of the Redis broker: the messages waiting in our queue."""

    def __init__(self, prefix: str) -> None:
        self.client = redis_lib.Redis.from_url(REDIS_URL)
        self.key = f"{prefix}celery:{QUEUE}"

    def messages(self) -> list[dict]:
        return [json.loads(raw) for raw in self.client.lrange(self.key, 0, -1)]

    def tasks(self, name: str | None = None) -> list[tuple[str, list]]:
        """(task name, args) of each waiting message (of task ``name`` only, when given)."""
        out = []
        for message in self.messages():
            import base64

            body = json.loads(base64.b64decode(message["body"]))
            if name is None or message["headers"]["task"] == name:
                out.append((message["headers"]["task"], body[0]))
        return out

    def purge(self) -> None:
        self.client.delete(self.key)

    def close(self) -> None:
        self.client.close()


@pytest.fixture
def broker(app, redis_prefix: str) -> Iterator[Broker]:
    found = Broker(redis_prefix)
    found.purge()
    yield found
    found.purge()
    found.close()


@pytest.fixture(autouse=True)
def _close_celery(app) -> Iterator[None]:
    yield
    jobs.close(app)


@pytest.fixture
def redis_client() -> Iterator[redis_lib.Redis]:
    client = redis_lib.Redis.from_url(REDIS_URL)
    yield client
    client.close()
