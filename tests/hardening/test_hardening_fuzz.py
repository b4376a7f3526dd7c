"""Fuzzing from the served OpenAPI document: every route, no 5xx, every response as documented.

Schemathesis reads ``{prefix}/openapi.json`` from the example app (in process,
through WSGI) and generates requests for every operation in three variants:

- ``raw``: every parameter generated (ids, names, tokens: all random);
- ``pinned``: the ids of seeded libraries, spaces and albums and a valid token
  (an admin token for the SMH routes, a space-bound ``material_write`` token
  for the material routes); the rest generated, so the requests get past the
  door and reach the services;
- ``negative``: pinned as above, the rest deliberately invalid for the schema.

Every response passes schemathesis's ``not_a_server_error``,
``status_code_conformance``, ``content_type_conformance`` and
``response_schema_conformance`` checks, and one more: its status is listed
for the operation by itself, not only covered by ``default``. Hypothesis runs
derandomized (the same requests on every run) without a deadline. All
failures are collected and reported together; at least 2,000 requests are made.
"""

from __future__ import annotations

import os
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import Failure
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from flask_medialib import auth, get_state
from flask_medialib.services import library as lib
from tests.hardening.hostile_media import _picture, encode

pytestmark = pytest.mark.slow

MIN_REQUESTS = 2000
EXAMPLES_PER_VARIANT = int(os.environ.get("MEDIALIB_FUZZ_EXAMPLES", "40"))
MAX_FAILURES_SHOWN = 40
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]

LIBRARY, ALBUM, FILE = "fuzzlib", "album", "photo.jpg"
MULTI, SPACE = "fuzzmulti", "corp1"


class Seeded:
    """What the pinned variants aim at."""

    def __init__(self, app: Any) -> None:
        with app.app_context():
            library, self.secret = lib.create_library(LIBRARY, album_based=True)
            space = lib.get_space(library, "-")
            lib.create_album(library, space, ALBUM)
            multi, self.multi_secret = lib.create_library(MULTI, multi_tenant=True)
            corp = lib.create_space(multi, SPACE)
            self.admin, _ = auth.issue_token(library, grants=frozenset({"admin"}))
            self.multi_admin, _ = auth.issue_token(multi, grants=frozenset({"admin"}))
            self.material, _ = auth.issue_token(multi, space=corp, grants=frozenset({"material_write"}))
            get_state(app).session.commit()
        client = app.test_client()
        photo = encode(_picture(), "JPEG", quality=85)
        response = client.put(f"/api/v1/file/{LIBRARY}/-/{ALBUM}/{FILE}?access_token={self.admin}", data=photo)
        assert response.status_code == 201, response.get_data()
        self.media_id = response.get_json()["mediaId"]

    def pins(self, path: str, method: str, parameters: set[tuple[str, str]]) -> dict[str, dict[str, Any]]:
        """Fixed values, by location, for the parameters that open doors."""
        material = "/material/" in path
        pinned: dict[str, dict[str, Any]] = {"path": {}, "query": {}}
        names = {name for name, _ in parameters}
        if material:
            ids = {"library_id": MULTI, "space_id": SPACE, "corpId": SPACE, "token": self.material}
        else:
            ids = {"library_id": LIBRARY, "space_id": "-", "access_token": self.admin}
            if method != "DELETE" and method != "PUT":
                ids |= {"album_name": ALBUM, "path": f"{ALBUM}/{FILE}"}  # reads aim at real rows
            if path.endswith("/token"):
                ids |= {"library_secret": self.secret}
            if path.startswith("/api/v1/space"):
                ids |= {"library_id": MULTI, "access_token": self.multi_admin}
            ids.pop("token", None)
        for name, location in parameters:
            if name in ids and name in names and location in pinned:
                pinned[location][name] = ids[name]
        return pinned


def explicit_status(ctx: Any, response: Any, case: Any) -> bool | None:
    """The status is listed for the operation itself, not only covered by ``default``."""
    listed = {str(code) for code in case.operation.definition.raw.get("responses", {})}
    status = str(response.status_code)
    if status in listed or f"{status[0]}XX" in listed:
        return None
    raise Failure(
        operation=case.operation.label,
        title="Undocumented status",
        message=f"status {status} is not listed (listed: {', '.join(sorted(listed))})",
    )


def _operations(schema: Any) -> Iterator[Any]:
    for result in schema.get_all_operations():
        yield result.ok()


@pytest.fixture
def fuzz_app(tmp_path: Path, pg_database: str | None, redis_prefix: str) -> Iterator[Any]:
    from tests.hardening.served_app import build_app

    config: dict[str, Any] = {
        "TESTING": True,
        "SECRET_KEY": "fuzz-" + uuid.uuid4().hex,
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "MEDIALIB_FACE_DETECTOR": "retinaface",
    }
    redis_url = os.environ.get("MEDIALIB_TEST_REDIS_URL")
    if pg_database:  # the stricter backend when CI has it
        config["SQLALCHEMY_DATABASE_URI"] = pg_database
        if redis_url:
            config |= {
                "MEDIALIB_CACHE_TYPE": "RedisCache",
                "MEDIALIB_CACHE_REDIS_URL": redis_url,
                "MEDIALIB_CACHE_KEY_PREFIX": redis_prefix + "fuzz:",
            }
    else:
        config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{tmp_path / 'fuzz.sqlite3'}"
    app = build_app(config)
    yield app
    state = get_state(app)
    with app.app_context():
        state.cache.clear()
        if state.db.engine.dialect.name == "postgresql":
            from flask_medialib.models import Base

            Base.metadata.drop_all(state.db.engine)
        state.db.engine.dispose()


def _run_variant(
    operation: Any,
    strategy: Any,
    call: Callable[[Any], Any],
    record: Callable[[str, Any, BaseException], None],
    max_examples: int,
    negative: bool = False,
) -> int:
    made = 0

    @given(case=strategy)
    @settings(
        max_examples=max_examples,
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],  # failures are collected, not shrunk
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        nonlocal made
        made += 1
        try:
            response = call(case)
            case.validate_response(response, checks=[*CHECKS, explicit_status])
        except (Exception, BaseExceptionGroup) as exc:  # schemathesis's FailureGroup is a BaseExceptionGroup
            for failure in getattr(exc, "exceptions", None) or [exc]:
                record(operation.label, case, failure)

    try:
        run()
    except Unsatisfiable:
        if not negative:  # nothing left to make invalid once the doors are pinned is fine
            raise
    return made


def test_fuzz_every_route_from_the_openapi_document(fuzz_app: Any) -> None:
    seeded = Seeded(fuzz_app)
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", fuzz_app)
    operations = list(_operations(schema))
    paths = {op.path for op in operations}
    assert "/api/v1/album/{library_id}/{space_id}/cover/{album_name}" in paths
    assert "/api/v1/file/{library_id}/{space_id}/{path}" in paths

    failures: list[str] = []
    seen: set[tuple[str, str]] = set()
    requests_by_operation: Counter[str] = Counter()

    def record(label: str, case: Any, exc: BaseException) -> None:
        title = getattr(exc, "title", type(exc).__name__)
        key = (label, title, str(getattr(exc, "message", exc)).splitlines()[0][:80])
        if key in seen:
            return
        seen.add(key)
        message = str(getattr(exc, "message", exc))[:300]
        failures.append(f"{label}: {title}: {message}\n    reproduce: {case.as_curl_command()}")

    statuses: Counter[str] = Counter()

    def call(case: Any) -> Any:
        response = case.call()
        statuses[f"{case.operation.method.upper()} {response.status_code}"] += 1
        return response

    for operation in operations:
        parameters = {(p.name, p.location) for p in operation.iter_parameters()}
        pins = seeded.pins(operation.path, operation.method.upper(), parameters)
        variants = [("raw", operation.as_strategy())]
        if any(pins.values()):
            kwargs = {"path_parameters": pins["path"] or None, "query": pins["query"] or None}
            variants.append(("pinned", operation.as_strategy(**kwargs)))
            variants.append(("negative", operation.as_strategy(GenerationMode.NEGATIVE, **kwargs)))
        for name, strategy in variants:
            requests_by_operation[operation.label] += _run_variant(
                operation, strategy, call, record, EXAMPLES_PER_VARIANT, negative=name == "negative"
            )

    total = sum(requests_by_operation.values())
    summary = ", ".join(f"{label}: {n}" for label, n in sorted(requests_by_operation.items()))
    print(f"fuzzing made {total} requests over {len(operations)} operations ({summary})")
    print("statuses:", ", ".join(f"{k}: {n}" for k, n in sorted(statuses.items())))
    shown = "\n".join(failures[:MAX_FAILURES_SHOWN])
    assert not failures, f"{len(failures)} distinct failure(s) in {total} requests:\n{shown}"
    assert total >= MIN_REQUESTS, f"only {total} requests were generated; raise MEDIALIB_FUZZ_EXAMPLES"
