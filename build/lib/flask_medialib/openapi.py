"""The OpenAPI 3 document of every route of the extension, built from ``@doc`` and the marshmallow schemas.

It walks ``app.url_map`` (so a route that exists is a route that is documented,
whatever the URL prefix) and reads the facts each view carries from
:func:`flask_medialib.views.apidoc.doc`. Error responses use the blueprint's
error shape: ``SmhError`` for the SMH-compatible blueprints, the response
envelope for the material API.
"""

from __future__ import annotations

import re
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Flask
from werkzeug.routing import Rule

from . import __version__, schemas
from .state import get_state

BLUEPRINT_PREFIX = "medialib_"
OPENAPI_VERSION = "3.0.3"
_IGNORED_METHODS = {"HEAD", "OPTIONS"}
_RULE_ARG = re.compile(r"<(?:(?P<converter>[a-zA-Z_][a-zA-Z0-9_]*)(?:\([^)]*\))?:)?(?P<name>[a-zA-Z_][a-zA-Z0-9_]*)>")
_CONVERTER_TYPES = {
    "int": {"type": "integer"},
    "float": {"type": "number"},
    "uuid": {"type": "string", "format": "uuid"},
}
_STATUS_TEXT = {
    200: "OK",
    201: "Created",
    204: "No content",
    302: "Redirect to a signed, expiring URL",
    304: "Not modified",
    400: "Bad request: the message names the parameter to fix",
    401: "Missing or unknown access token",
    403: "The token or signature does not allow this",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "The body is too large",
    415: "Unsupported media type",
    422: "Unprocessable",
    429: "Too many requests",
    500: "Internal error",
    503: "Service unavailable",
}
# The material API answers errors in its envelope; every other blueprint speaks SMH.
_ENVELOPE_BLUEPRINTS = {"medialib_material"}
_ENVELOPE_SCHEMA_NAMES = ("Envelope", "EnvelopeSchema", "MaterialEnvelope", "ResponseEnvelope")


def openapi_path(rule: str) -> str:
    """``/file/<library_id>/<path:path>`` -> ``/file/{library_id}/{path}``."""
    return _RULE_ARG.sub(lambda m: "{" + m.group("name") + "}", rule)


def _path_parameters(rule: Rule) -> list[dict[str, Any]]:
    params = []
    for match in _RULE_ARG.finditer(rule.rule):
        converter = match.group("converter") or "default"
        param: dict[str, Any] = {
            "in": "path",
            "name": match.group("name"),
            "required": True,
            "schema": dict(_CONVERTER_TYPES.get(converter, {"type": "string"})),
        }
        if converter.endswith("path"):
            param["description"] = "May contain '/'."
        params.append(param)
    return params


def envelope_schema() -> Any:
    for name in _ENVELOPE_SCHEMA_NAMES:
        found = getattr(schemas, name, None)
        if found is not None:
            return found
    return None


def _error_schema(blueprint: str) -> Any:
    if blueprint in _ENVELOPE_BLUEPRINTS:
        envelope = envelope_schema()
        if envelope is not None:
            return envelope
    return schemas.SmhError


def _fallback_doc(view: Any, blueprint: str) -> dict[str, Any]:
    """For a view without ``@doc``: its docstring's first line, no declared bodies."""
    summary = (view.__doc__ or "").strip().splitlines()[0:1]
    return {
        "summary": summary[0] if summary else view.__name__.replace("_", " "),
        "tag": blueprint.removeprefix(BLUEPRINT_PREFIX),
        "query": None,
        "body": None,
        "body_type": "application/json",
        "responses": {200: None},
        "errors": (),
    }


def _content(value: Any, default_type: str = "application/json") -> dict[str, Any] | None:
    """A schema class/instance -> JSON content; a content type string -> binary content; None -> no body."""
    if value is None:
        return None
    if isinstance(value, str):
        if value.endswith("json"):
            return {value: {"schema": {"type": "object"}}}
        content_type = "application/octet-stream" if value == "binary" else value
        return {content_type: {"schema": {"type": "string", "format": "binary"}}}
    return {default_type: {"schema": value}}


def _body_content(body: Any, body_type: str) -> dict[str, Any]:
    """A schema -> ``body_type`` JSON; ``"binary"`` -> raw bytes (of ``body_type`` when it is not JSON)."""
    if isinstance(body, str):
        if body == "binary":
            body = "application/octet-stream" if body_type == "application/json" else body_type
        return {body: {"schema": {"type": "string", "format": "binary"}}}
    return {body_type: {"schema": body}}


def _operation(rule: Rule, method: str, meta: dict[str, Any], blueprint: str, operation_id: str) -> dict[str, Any]:
    parameters = _path_parameters(rule)
    if meta["query"] is not None:
        parameters.append({"in": "query", "schema": meta["query"]})
    operation: dict[str, Any] = {
        "operationId": operation_id,
        "summary": meta["summary"],
        "tags": [meta["tag"]],
        "parameters": parameters,
        "responses": {},
    }
    if meta["body"] is not None and method in {"POST", "PUT", "PATCH"}:
        operation["requestBody"] = {"required": True, "content": _body_content(meta["body"], meta["body_type"])}
    for status, value in sorted(meta["responses"].items()):
        response: dict[str, Any] = {"description": _STATUS_TEXT.get(int(status), "Response")}
        content = _content(value)
        if content:
            response["content"] = content
        if int(status) in {301, 302, 303, 307, 308}:
            response["headers"] = {
                "Location": {"description": "Where the client goes next.", "schema": {"type": "string"}}
            }
        operation["responses"][str(status)] = response
    error_schema = _error_schema(blueprint)
    # Every parameter is checked (schema, NUL guard in views.common), so any route that takes one can answer 400.
    for status in sorted(set(meta["errors"]) | ({400} if parameters else set())):
        operation["responses"][str(status)] = {
            "description": _STATUS_TEXT.get(int(status), "Error"),
            "content": {"application/json": {"schema": error_schema}},
        }
    # Anything else a client can meet (413 from a proxy limit, 500 ...) has the same shape.
    operation["responses"]["default"] = {
        "description": "Any other error",
        "content": {"application/json": {"schema": error_schema}},
    }
    return operation


def medialib_rules(app: Flask) -> list[Rule]:
    """Every rule of every blueprint of the extension, in a stable order."""
    rules = [r for r in app.url_map.iter_rules() if r.endpoint.split(".", 1)[0].startswith(BLUEPRINT_PREFIX)]
    return sorted(rules, key=lambda r: (openapi_path(r.rule), r.endpoint))


def rule_methods(rule: Rule) -> list[str]:
    return sorted((rule.methods or set()) - _IGNORED_METHODS)


def build_spec(app: Flask) -> dict[str, Any]:
    """The OpenAPI document (a plain dict) of ``app``'s medialib routes."""
    spec = APISpec(
        title="flask-medialib",
        version=__version__,
        openapi_version=OPENAPI_VERSION,
        plugins=[MarshmallowPlugin()],
        info={"description": "Album covers (SMH-compatible), albums and files, and the material library API."},
    )
    # Register the error shapes once under stable names; the plugin refers to them by $ref.
    spec.components.schema("SmhError", schema=schemas.SmhError)
    envelope = envelope_schema()
    if envelope is not None:
        spec.components.schema("Envelope", schema=envelope)

    paths: dict[str, dict[str, dict[str, Any]]] = {}
    tags: set[str] = set()
    used_ids: set[str] = set()
    for rule in medialib_rules(app):
        blueprint = rule.endpoint.split(".", 1)[0]
        view = app.view_functions[rule.endpoint]
        meta = getattr(view, "_medialib_doc", None) or _fallback_doc(view, blueprint)
        tags.add(meta["tag"])
        for method in rule_methods(rule):
            operation_id = re.sub(r"\W", "_", f"{rule.endpoint}_{method.lower()}")
            while operation_id in used_ids:  # one view under two rules (cover with/without album)
                operation_id += "_"
            used_ids.add(operation_id)
            operations = paths.setdefault(openapi_path(rule.rule), {})
            operations[method.lower()] = _operation(rule, method, meta, blueprint, operation_id)
    for tag in sorted(tags):
        spec.tag({"name": tag})
    for path, operations in paths.items():
        spec.path(path=path, operations=operations)
    return spec.to_dict()


def cached_spec(app: Flask) -> dict[str, Any]:
    """The document, built once per app (routes do not change after start-up)."""
    state = get_state(app)
    if state.openapi_spec is None:
        state.openapi_spec = build_spec(app)
    return state.openapi_spec
