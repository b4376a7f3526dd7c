"""SMH-compatible management routes: tokens, spaces, albums (directories), files."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request
from werkzeug.routing import PathConverter
from werkzeug.wrappers import Response as BaseResponse

from .. import auth, schemas, signing
from ..auth import Identity
from ..errors import bad_request, forbidden
from ..models import Album, Library, Media, Space
from ..services import library as lib
from ..state import get_state
from .apidoc import doc
from .common import access_token, redirect_to, smh_blueprint

bp = smh_blueprint("medialib_admin", __name__)


class FilePathConverter(PathConverter):
    """``path`` that also matches a line break, so such a name gets our 400, not the router's HTML 404."""

    regex = "[^/](?s:.)*?"


@bp.record_once
def _register_converter(setup: Any) -> None:
    setup.app.url_map.converters.setdefault("medialib_path", FilePathConverter)


def authorize(library: Library, space: Space | None, need: str | None = None) -> Identity:
    args = schemas.load(schemas.TokenAuthQuery(), request.args)
    return auth.authorize(library, space, access_token(), need=need, user_id=args["user_id"])


def iso(value: Any) -> str:
    return value.replace(microsecond=0).isoformat() + "Z"


# -- tokens -----------------------------------------------------------------


@bp.route("/token", methods=["GET", "POST"])
@doc(
    summary="Issue an access token with the library secret",
    tag="tokens",
    query=schemas.IssueTokenQuery,
    responses={200: schemas.TokenResponse},
    errors=(400, 403, 404),
)
def issue_token() -> tuple[Response, int]:
    args = schemas.load(schemas.IssueTokenQuery(), request.args)
    library = lib.get_library(args["library_id"])
    if not auth.check_secret(library, args["library_secret"]):
        raise forbidden("library_secret is wrong for this library", "InvalidLibrarySecret")
    space = lib.get_space(library, args["space_id"]) if args["space_id"] else None
    grants = auth.parse_grants(args["grant"])
    token, row = auth.issue_token(library, space=space, user_id=args["user_id"], grants=grants, ttl=args["period"])
    get_state().session.commit()
    return jsonify(accessToken=token, expiresIn=row.ttl), 200


@bp.route("/token/<library_id>/<token>", methods=["DELETE"])
@doc(summary="Revoke an access token", tag="tokens", responses={204: None}, errors=(403, 404))
def revoke_token(library_id: str, token: str) -> tuple[str, int]:
    auth.revoke(lib.get_library(library_id), token)
    return "", 204


# -- spaces -----------------------------------------------------------------


@bp.route("/space/<library_id>", methods=["POST"])
@doc(
    summary="Create a tenant space (admin token)",
    tag="spaces",
    query=schemas.CreateSpaceQuery,
    responses={201: schemas.SpaceCreated},
    errors=(400, 401, 403, 404, 409),
)
def create_space(library_id: str) -> tuple[Response, int]:
    library = lib.get_library(library_id)
    args = schemas.load(schemas.CreateSpaceQuery(), request.args)
    authorize(library, None, "admin")
    space = lib.create_space(library, args["space_id"], public_read=args["public_read"])
    return jsonify(spaceId=space.space_id), 201


@bp.route("/space/<library_id>", methods=["GET"])
@doc(
    summary="List the spaces of a library (admin token)",
    tag="spaces",
    query=schemas.TokenAuthQuery,
    responses={200: schemas.SpaceSchema(many=True)},
    errors=(401, 403, 404),
)
def list_spaces(library_id: str) -> Response:
    library = lib.get_library(library_id)
    authorize(library, None, "admin")
    return jsonify(
        [
            {"spaceId": s.space_id, "isPublicRead": s.public_read, "creationTime": iso(s.created_at)}
            for s in lib.list_spaces(library)
        ]
    )


# -- albums -----------------------------------------------------------------


@bp.route("/directory/<library_id>/<space_id>/<album_name>", methods=["PUT"])
@doc(
    summary="Create an album",
    tag="albums",
    query=schemas.TokenAuthQuery,
    responses={201: schemas.AlbumCreated},
    errors=(400, 401, 403, 404, 409),
)
def create_album(library_id: str, space_id: str, album_name: str) -> tuple[Response, int]:
    library, space = lib.resolve(library_id, space_id)
    authorize(library, space, "create_directory")
    album = lib.create_album(library, space, album_name)
    return jsonify(path=[album.name], creationTime=iso(album.created_at)), 201


@bp.route("/directory/<library_id>/<space_id>", methods=["GET"])
@doc(
    summary="List the albums of a space (the files, in a library without albums)",
    tag="albums",
    query=schemas.TokenAuthQuery,
    responses={200: schemas.DirectoryListing},
    errors=(401, 403, 404),
)
def list_albums(library_id: str, space_id: str) -> Response:
    library, space = lib.resolve(library_id, space_id)
    authorize(library, space)
    if not library.album_based:
        return jsonify(path=[], contents=[_file_entry(m) for m in lib.list_files(lib.folder(library, space, None))])
    return jsonify(path=[], contents=[_album_entry(a) for a in lib.list_albums(library, space)])


@bp.route("/directory/<library_id>/<space_id>/<album_name>", methods=["GET"])
@doc(
    summary="List the files of an album, oldest upload first",
    tag="albums",
    query=schemas.TokenAuthQuery,
    responses={200: schemas.DirectoryListing},
    errors=(400, 401, 403, 404),
)
def list_album(library_id: str, space_id: str, album_name: str) -> Response:
    library, space = lib.resolve(library_id, space_id)
    authorize(library, space)
    where = lib.folder(library, space, album_name)
    return jsonify(path=[album_name], contents=[_file_entry(m) for m in lib.list_files(where)])


@bp.route("/directory/<library_id>/<space_id>/<album_name>", methods=["DELETE"])
@doc(
    summary="Delete an album and its media",
    tag="albums",
    query=schemas.TokenAuthQuery,
    responses={204: None},
    errors=(400, 401, 403, 404),
)
def delete_album(library_id: str, space_id: str, album_name: str) -> tuple[str, int]:
    library, space = lib.resolve(library_id, space_id)
    authorize(library, space, "delete_directory")
    lib.delete_album(library, space, album_name)
    return "", 204


def _album_entry(album: Album) -> dict[str, Any]:
    return {"name": album.name, "type": "dir", "creationTime": iso(album.created_at)}


def _file_entry(media: Media) -> dict[str, Any]:
    return {
        "name": media.file_name or media.name,
        "type": media.kind_name,
        "creationTime": iso(media.uploaded_at),
        "mediaId": media.id,
        "size": media.size,
        "width": media.width,
        "height": media.height,
    }


# -- files ------------------------------------------------------------------


def _file_path(library: Library, space: Space, path: str) -> tuple[lib.Folder, str]:
    parts = path.split("/")
    if len(parts) in (1, 2) and (len(parts) == 2) != library.album_based:
        lib.folder(library, space, parts[0] if len(parts) == 2 else None)  # raises the precise error
    expected = 2 if library.album_based else 1
    if len(parts) != expected:
        shape = "AlbumName/FileName" if library.album_based else "FileName"
        raise bad_request(f"the file path {path!r} must be {shape}; names must not contain '/'", "InvalidFileName")
    album_name = parts[0] if library.album_based else None
    lib.check_name(parts[-1], "file name")
    return lib.folder(library, space, album_name), parts[-1]


@bp.route("/file/<library_id>/<space_id>/<medialib_path:path>", methods=["PUT"])
@doc(
    summary="Upload an image or video (the request body is the file)",
    tag="files",
    query=schemas.TokenAuthQuery,
    body="binary",
    body_type="application/octet-stream",
    responses={201: schemas.FileInfo},
    errors=(400, 401, 403, 404, 409, 413, 415),
)
def upload_file(library_id: str, space_id: str, path: str) -> tuple[Response, int]:
    library, space = lib.resolve(library_id, space_id)
    identity = authorize(library, space, "upload_file")
    limit = get_state().config["MEDIALIB_MAX_UPLOAD_BYTES"]
    if request.content_length is not None and request.content_length > limit:
        raise lib.too_large(limit)
    where, name = _file_path(library, space, path)
    media = lib.save_upload(where, name, request.stream, user=identity.user_id)
    return jsonify(_file_info(media, where)), 201


@bp.route("/file/<library_id>/<space_id>/<medialib_path:path>", methods=["GET"])
@doc(
    summary="Download a file: 302 to a signed, expiring URL of its bytes",
    tag="files",
    query=schemas.TokenAuthQuery,
    responses={302: None},
    errors=(400, 401, 403, 404),
)
def get_file(library_id: str, space_id: str, path: str) -> BaseResponse:
    """302 to a signed URL of the original bytes, like SMH's download."""
    library, space = lib.resolve(library_id, space_id)
    authorize(library, space)
    where, name = _file_path(library, space, path)
    media = lib.find_file(where, name)
    return redirect_to(signing.sign(signing.ORIGINAL, media), "private, max-age=60")


@bp.route("/file/<library_id>/<space_id>/<medialib_path:path>", methods=["DELETE"])
@doc(
    summary="Delete a file",
    tag="files",
    query=schemas.TokenAuthQuery,
    responses={204: None},
    errors=(400, 401, 403, 404),
)
def delete_file(library_id: str, space_id: str, path: str) -> tuple[str, int]:
    library, space = lib.resolve(library_id, space_id)
    authorize(library, space, "delete_file")
    where, name = _file_path(library, space, path)
    lib.delete_media([lib.find_file(where, name)])
    return "", 204


def _file_info(media: Media, where: lib.Folder) -> dict[str, Any]:
    return {
        "path": [where.album.name, media.name] if where.album else [media.name],
        "name": media.name,
        "mediaId": media.id,
        "type": media.kind_name,
        "size": media.size,
        "width": media.width,
        "height": media.height,
        "duration": media.duration,
        "creationTime": iso(media.uploaded_at),
    }
