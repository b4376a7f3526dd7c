"""The floors of pyproject.toml are what `make test-lowest` pins, and they are real releases."""

from __future__ import annotations

import importlib.util
import re
import tomllib
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _floors_module():
    spec = importlib.util.spec_from_file_location("floors", ROOT / ".ci" / "floors.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_runtime_requirement_gets_an_exact_pin():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    pins = _floors_module().floors(pyproject)
    names = {pin.split("==")[0].lower() for pin in pins}
    assert {"flask", "werkzeug", "sqlalchemy", "marshmallow", "psycopg", "redis"} <= names
    for pin in pins:
        # A full release number: "==4.8" would match no opencv release (they are 4.8.0.76 ...).
        assert re.fullmatch(r"[A-Za-z0-9._-]+==[0-9]+\.[0-9]+\.[0-9]+(\.[0-9]+)?", pin), pin


def test_flask_floor_allows_a_per_request_body_limit():
    # The material views set request.max_content_length, which Flask 3.0 cannot.
    pins = dict(
        pin.split("==") for pin in _floors_module().floors(tomllib.loads((ROOT / "pyproject.toml").read_text()))
    )
    assert tuple(int(p) for p in pins["Flask"].split(".")[:2]) >= (3, 1)
    assert tuple(int(p) for p in version("flask").split(".")[:2]) >= (3, 1)
