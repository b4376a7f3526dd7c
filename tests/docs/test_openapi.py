"""The OpenAPI document: valid, complete, with error shapes."""

from __future__ import annotations

import json

import pytest
from flask import Flask
from openapi_spec_validator import validate

from flask_medialib.openapi import build_spec, medialib_rules, openapi_path, rule_methods


@pytest.fixture
def spec(client) -> dict:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    return response.get_json()


def test_document_validates(spec: dict) -> None:
    validate(spec)
    assert spec["openapi"].startswith("3.")


def test_every_rule_of_every_blueprint_appears_with_its_methods(app: Flask, spec: dict) -> None:
    rules = medialib_rules(app)
    blueprints = {r.endpoint.split(".", 1)[0] for r in rules}
    assert {"medialib_smh", "medialib_files", "medialib_meta"} <= blueprints
    missing = []
    for rule in rules:
        path = openapi_path(rule.rule)
        for method in rule_methods(rule):
            if method.lower() not in spec["paths"].get(path, {}):
                missing.append(f"{method} {rule.rule}")
    assert not missing, f"routes missing from the OpenAPI document: {missing}"


def test_every_route_is_annotated_with_doc(app: Flask) -> None:
    # The document is only as good as the @doc facts: every view of the extension carries them.
    bare = [r.endpoint for r in medialib_rules(app) if not hasattr(app.view_functions[r.endpoint], "_medialib_doc")]
    assert not bare, f"views without @doc(...) from views/apidoc.py: {sorted(set(bare))}"


def test_paths_use_openapi_templates_and_declare_every_path_parameter(spec: dict) -> None:
    for path, operations in spec["paths"].items():
        assert "<" not in path and ">" not in path, path
        names = set(path.replace("}", "{").split("{")[1::2])
        for operation in operations.values():
            declared = {p["name"] for p in operation["parameters"] if p["in"] == "path"}
            assert declared == names, (path, declared)


def test_error_responses_use_the_blueprint_error_shape(app: Flask, spec: dict) -> None:
    file_get = spec["paths"]["/api/v1/file/{library_id}/{space_id}/{path}"]["get"]
    assert file_get["responses"]["404"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/SmhError"
    }
    assert set(spec["components"]["schemas"]["SmhError"]["required"]) == {"code", "message", "requestId"}
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            errors = [s for s in operation["responses"] if s == "default" or s.startswith(("4", "5"))]
            assert errors, f"{method.upper()} {path} documents no error response"
            schema = operation["responses"]["default"]["content"]["application/json"]["schema"]["$ref"]
            if "/biz/material/" in path:
                assert not schema.endswith("/SmhError"), f"{path}: the material API answers errors in its envelope"
            else:
                assert schema.endswith("/SmhError"), path


def test_query_parameters_and_bodies_come_from_the_schemas(spec: dict) -> None:
    token = spec["paths"]["/api/v1/token"]
    names = {p["name"]: p for p in token["get"]["parameters"] if p["in"] == "query"}
    assert names["library_id"]["required"] is True
    assert names["library_secret"]["required"] is True
    assert names["period"]["schema"]["type"] == "integer"
    upload = spec["paths"]["/api/v1/file/{library_id}/{space_id}/{path}"]["put"]
    body = next(iter(upload["requestBody"]["content"].values()))
    assert body["schema"] == {"type": "string", "format": "binary"}


def test_the_prefix_follows_the_config(tmp_path) -> None:
    from flask_medialib import MediaLib

    app = Flask("prefixed", instance_path=str(tmp_path))
    app.config.update(TESTING=True, MEDIALIB_URL_PREFIX="/media", MEDIALIB_CACHE_TYPE="SimpleCache")
    MediaLib(app)
    paths = build_spec(app)["paths"]
    assert "/media/openapi.json" in paths
    assert not any(p.startswith("/api/v1") for p in paths)


def test_cli_prints_the_same_document(runner, spec: dict) -> None:
    result = runner.invoke(args=["medialib", "openapi"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == spec
