"""SMH directories, which are albums here: create, rename/move, list, HEAD, delete.

Paths arrive as one encoded segment (``album%2Ffile``) and the root as an empty
path with a trailing slash (``/directory/L/S/``); the rules of which paths a
library allows live in :func:`..services.library.directory_path`.
"""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request
from werkzeug.wrappers import Response as BaseResponse

from ... import auth, schemas
from ...errors import bad_request
from ...services import library as lib
from ..apidoc import doc
from . import authorize, bp, json_body, render

_STRATEGIES = (lib.ASK, lib.RENAME)
_FILTERS = {"onlyDir": "dir", "onlyFile": "file"}


@bp.route("/directory/<library_id>/<space_id>/", methods=["PUT"], strict_slashes=False)
@bp.route("/directory/<library_id>/<space_id>/<medialib_path:path>", methods=["PUT"])
@doc(
    summary="Create an album; with the body {from}, rename the album `from` to this one",
    tag="albums",
    query=schemas.CreateDirectoryQuery,
    body=schemas.DirectoryBody,
    responses={201: schemas.AlbumCreated, 200: schemas.AlbumCreated, 204: None},
    errors=(400, 403, 404, 409),
)
def put_directory(library_id: str, space_id: str, path: str = "") -> tuple[Response | str, int]:
    library, space = lib.resolve(library_id, space_id)
    args = schemas.load(schemas.CreateDirectoryQuery(), request.args)
    strategy = args["conflict_resolution_strategy"]
    if strategy not in _STRATEGIES:
        raise bad_request(f"conflict_resolution_strategy must be ask or rename, not {strategy!r}",
                          "InvalidConflictResolutionStrategy")  # fmt: skip
    body = json_body(schemas.DirectoryBody())
    target = lib.directory_path(library, path)
    if target is None:
        raise bad_request("the root directory cannot be created or replaced", "RootDirectoryNotAllowed")
    if body["from_"] is not None:
        authorize(library, space, auth.MOVE_DIRECTORY)
        source = lib.directory_path(library, body["from_"])
        if source is None:
            raise bad_request("the root directory cannot be moved", "RootDirectoryNotAllowed")
        album = lib.move_album(library, space, source, target, strategy)
        return (jsonify(path=[album.name]), 200) if strategy == lib.RENAME else ("", 204)
    authorize(library, space, auth.CREATE_DIRECTORY)
    album = lib.create_album(library, space, target, strategy)
    return jsonify(path=[album.name], creationTime=render.iso(album.created_at)), 201


@bp.route("/directory/<library_id>/<space_id>/", methods=["GET"], strict_slashes=False)
@bp.route("/directory/<library_id>/<space_id>/<medialib_path:path>", methods=["GET"])
@doc(
    summary="List the root (albums, or files without albums) or an album; HEAD: does it exist",
    tag="albums",
    query=schemas.ListDirectoryQuery,
    responses={200: schemas.DirectoryListing},
    errors=(400, 403, 404),
)
def list_directory(library_id: str, space_id: str, path: str = "") -> BaseResponse:
    library, space = lib.resolve(library_id, space_id)
    album_name = lib.directory_path(library, path)
    if request.method == "HEAD":
        authorize(library, space)
        if album_name is not None:
            lib.get_album(library, space, album_name)
        return Response(status=200)
    args = schemas.load(schemas.ListDirectoryQuery(), request.args)
    order_by, descending, only = _order(args)
    authorize(library, space)
    if args["by_page"]:
        limit = args["page_size"]
        offset = (args["page"] - 1) * limit
    else:
        limit, offset = args["limit"], _marker(args["marker"])
    listing = lib.list_directory(
        library, space, album_name, order_by=order_by, descending=descending, only=only, offset=offset, limit=limit
    )
    answer: dict[str, Any] = {
        "path": [album_name] if album_name else [],
        "contents": [render.album(a) for a in listing.albums] + [render.file(m) for m in listing.media],
    }
    if args["by_page"]:
        answer |= {"fileCount": listing.file_count, "subDirCount": listing.dir_count, "totalNum": listing.total}
    elif offset + limit < listing.total:
        answer["nextMarker"] = str(offset + limit)
    return jsonify(answer)


def _order(args: dict[str, Any]) -> tuple[str | None, bool, str | None]:
    order_by, order_type, only = args["order_by"], args["order_by_type"], args["filter"]
    if order_by is not None and order_by not in lib.ORDER_BY:
        raise bad_request(f"order_by must be one of {', '.join(sorted(lib.ORDER_BY))}", "OrderByNotAllowed")
    if order_type is not None and order_type not in ("asc", "desc"):
        raise bad_request("order_by_type must be asc or desc", "OrderByTypeNotAllowed")
    if only is not None and only not in _FILTERS:
        raise bad_request("filter must be onlyDir or onlyFile")
    return order_by, order_type == "desc", _FILTERS.get(only) if only else None


def _marker(marker: str | None) -> int:
    """The markers this list gives are offsets; anything else is SMH's ``MarkerNotFound``."""
    if not marker:
        return 0
    if not marker.isdigit() or len(marker) > 12:
        raise lib.not_found(f"marker {marker!r} is not one this list gave", "MarkerNotFound")
    return int(marker)


@bp.route("/directory/<library_id>/<space_id>/", methods=["DELETE"], strict_slashes=False)
@bp.route("/directory/<library_id>/<space_id>/<medialib_path:path>", methods=["DELETE"])
@doc(
    summary="Delete an album and its media",
    tag="albums",
    query=schemas.DeleteFileQuery,
    responses={204: None},
    errors=(400, 403, 404),
)
def delete_directory(library_id: str, space_id: str, path: str = "") -> tuple[str, int]:
    library, space = lib.resolve(library_id, space_id)
    album_name = lib.directory_path(library, path)
    if album_name is None:
        raise bad_request("the root directory cannot be deleted", "RootDirectoryNotAllowed")
    authorize(library, space, auth.DELETE_DIRECTORY)
    lib.delete_album(library, space, album_name)
    return "", 204
