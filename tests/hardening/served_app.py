"""The example app as gunicorn workers and ``flask`` subprocesses load it in the hardening tests.

The config is the JSON file named by ``MEDIALIB_TEST_APP_CONFIG`` (written by
:mod:`tests.hardening.gunicorn_harness`), so the server, its workers, the event
worker and the test process all run one app on one database and cache.
"""

from __future__ import annotations

import json
import os
from typing import Any

from flask import Flask

from example_app import create_app

CONFIG_ENV = "MEDIALIB_TEST_APP_CONFIG"


def build_app(config: dict[str, Any]) -> Flask:
    # The demo data (scikit-image photos) would only slow the start; tests seed their own rows.
    return create_app({"EXAMPLE_DEMO_DATA": False, **config})


def _from_env() -> Flask | None:
    path = os.environ.get(CONFIG_ENV)
    if not path:
        return None
    with open(path, encoding="utf-8") as fp:
        return build_app(json.load(fp))


app = _from_env()
