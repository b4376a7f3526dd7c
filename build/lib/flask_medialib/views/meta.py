"""Facts about the API itself: its OpenAPI document."""

from __future__ import annotations

from flask import Response, current_app, jsonify

from .apidoc import doc
from .common import smh_blueprint

bp = smh_blueprint("medialib_meta", __name__)


@bp.route("/openapi.json", methods=["GET"])
@doc(summary="The OpenAPI 3 document of every route of the extension", tag="meta", responses={200: "application/json"})
def openapi_document() -> Response:
    from ..openapi import cached_spec

    return jsonify(cached_spec(current_app._get_current_object()))  # type: ignore[attr-defined]
