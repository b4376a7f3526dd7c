"""SMH spaces: create with the JSON body, list with markers, delete (``force`` for a non-empty one)."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request

from ... import auth, schemas
from ...services import library as lib
from ..apidoc import doc
from . import authorize, bp, json_body, render


@bp.route("/space/<library_id>", methods=["POST"])
@doc(
    summary="Create a tenant space",
    tag="spaces",
    query=schemas.CreateSpaceQuery,
    body=schemas.CreateSpaceBody,
    responses={201: schemas.SpaceCreated},
    errors=(400, 403, 404, 409),
)
def create_space(library_id: str) -> tuple[Response, int]:
    library = lib.get_library(library_id)
    args = schemas.load(schemas.CreateSpaceQuery(), request.args)
    body = json_body(schemas.CreateSpaceBody())
    identity = authorize(library, None, auth.CREATE_SPACE)
    public = body["isPublicRead"] or bool(args["public_read"])
    bound = identity.token.space_pks if identity.token is not None else None
    space_id = lib.new_space_id(library, args["space_id"], bound)
    space = lib.create_space(library, space_id, public_read=public, created_by=identity.user_id)
    return jsonify(spaceId=space.space_id), 201


@bp.route("/space/<library_id>/list", methods=["GET"])
@bp.route("/space/<library_id>", methods=["GET"])
@doc(
    summary="List spaces: every space with an admin token, else those the token's user created",
    tag="spaces",
    query=schemas.SpaceListQuery,
    responses={200: schemas.SpaceList},
    errors=(400, 403, 404),
)
def list_spaces(library_id: str) -> Response:
    library = lib.get_library(library_id)
    args = schemas.load(schemas.SpaceListQuery(), request.args)
    identity = authorize(library, None)
    page = lib.list_spaces_page(
        library,
        created_by=identity.user_id,
        all_users=identity.is_admin,
        marker=args["marker"],
        limit=args["limit"],
        ordered=args["ordered"],
        prefix=args["prefix"],
        start_name=args["start_name"],
    )
    answer: dict[str, Any] = {"list": [render.space(s) for s in page.spaces]}
    if page.marker is not None:
        answer["marker"] = page.marker
    return jsonify(answer)


@bp.route("/space/<library_id>/<space_id>", methods=["DELETE"])
@doc(
    summary="Delete a space (force=1: with its albums and files)",
    tag="spaces",
    query=schemas.DeleteSpaceQuery,
    responses={204: None},
    errors=(400, 403, 404, 409),
)
def delete_space(library_id: str, space_id: str) -> tuple[str, int]:
    library, space = lib.resolve(library_id, space_id)
    args = schemas.load(schemas.DeleteSpaceQuery(), request.args)
    authorize(library, space, auth.DELETE_SPACE)
    lib.delete_space(library, space, force=args["force"])
    return "", 204
