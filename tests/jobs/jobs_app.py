"""The app that render workers and web subprocesses of the job tests run.

Its config is the JSON file named by ``MEDIALIB_TEST_APP_CONFIG`` (written by
:mod:`jobs_harness`), so the test process, the worker and the web subprocess
run one app on one database, cache and broker.
"""

from __future__ import annotations

import json
import os

from flask import Flask

from flask_medialib import MediaLib

CONFIG_ENV = "MEDIALIB_TEST_APP_CONFIG"


def create_app() -> Flask:
    with open(os.environ[CONFIG_ENV], encoding="utf-8") as fp:
        config = json.load(fp)
    app = Flask("medialib_jobs", instance_path=config.pop("INSTANCE_PATH"))
    app.config.update(config)
    MediaLib(app)
    return app
