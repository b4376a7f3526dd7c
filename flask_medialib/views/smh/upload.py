"""SMH upload sessions (contract section 4.1): begin, the extension's own upload URL, confirm, renew, abort.

Begin is the file ``PUT`` with ``?filesize`` (simple) or ``POST ?multipart&filesize``;
``file.py`` dispatches those here. The bytes go to ``{protocol}//{domain}{path}``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import Response, jsonify, request, url_for

from ... import auth, schemas
from ...errors import bad_request
from ...models import UploadSession
from ...services import library as lib
from ...services import uploads
from ...state import get_state
from ..apidoc import doc
from . import authorize, bp, json_body, render

_META_PREFIX = "x-smh-meta-"
_META_MAX = 2048  # bytes of all metadata names and values together
_BEGIN_QUERY = schemas.BeginUploadQuery()
_BEGIN_BODY_MAX = 64 * 1024
_SESSION_QUERY = schemas.UploadSessionQuery()


def meta_headers() -> dict[str, str]:
    meta = {k.lower(): v for k, v in request.headers.items() if k.lower().startswith(_META_PREFIX)}
    if sum(len(k) + len(v) for k, v in meta.items()) > _META_MAX:
        raise bad_request(f"x-smh-meta-* headers hold more than {_META_MAX} bytes")
    return meta


def begin(library_id: str, space_id: str, path: str, meta: dict[str, str]) -> tuple[Response, int]:
    """201 ``{domain, path, headers, confirmKey, expiration[, uploadId]}``: where to send the bytes."""
    library, space = lib.resolve(library_id, space_id)
    args = schemas.load(_BEGIN_QUERY, request.args)
    overwrite = args["conflict_resolution_strategy"] == uploads.OVERWRITE
    identity = authorize(library, space, auth.BEGIN_UPLOAD_FORCE if overwrite else auth.BEGIN_UPLOAD)
    limit = get_state().config["MEDIALIB_MAX_UPLOAD_BYTES"]
    if args["filesize"] > limit:  # before the body, the album or the name is looked at
        raise lib.too_large(limit)
    if (request.content_length or 0) > _BEGIN_BODY_MAX:  # the file sent in place of the begin request
        raise bad_request(f"the begin body is a JSON request of at most {_BEGIN_BODY_MAX} bytes, not the file")
    json_body(schemas.BeginUploadBody())
    where, name = lib.file_path(library, space, path)
    row, confirm_key = uploads.begin(
        where,
        name,
        size=args["filesize"],
        strategy=args["conflict_resolution_strategy"],
        multipart=args["multipart"],
        meta=meta,
        user=identity.user_id,
    )
    return jsonify(_target(row, confirm_key)), 201


def _target(row: UploadSession, confirm_key: str) -> dict[str, Any]:
    target = uploads.target(row, url_for(".upload_bytes", token=uploads.upload_token(row)))
    if target.url is not None:  # a presigned URL of the store: its host and its path with the signature
        parts = urlsplit(target.url)
        domain, path = parts.netloc, f"{parts.path}?{parts.query}"
    else:
        domain = get_state().config["MEDIALIB_UPLOAD_DOMAIN"] or request.host
        path = str(target.path)
    answer: dict[str, Any] = {"domain": domain, "path": path, "headers": target.headers, "confirmKey": confirm_key,
                              "expiration": render.iso(target.expires)}  # fmt: skip
    if row.upload_id:
        answer["uploadId"] = row.upload_id
    return answer


def session_post(library_id: str, space_id: str, confirm_key: str) -> tuple[Response, int]:
    """``?confirm`` (200 file info) or ``?renew`` (200 new target) of the session ``confirm_key``."""
    library, space = lib.resolve(library_id, space_id)
    args = schemas.load(_SESSION_QUERY, request.args)
    if args["confirm"]:
        identity = authorize(library, space, auth.CONFIRM_UPLOAD)
        body = json_body(schemas.ConfirmUploadBody())
        media = uploads.confirm(uploads.find(space, confirm_key), body["crc64"], user=identity.user_id)
        album = media.album.name if media.album else None
        info = render.file_info(media, album)
        info["isOverwritten"] = media.version > 1
        return jsonify(info), 200
    if args["renew"]:
        authorize(library, space, auth.BEGIN_UPLOAD)
        row = uploads.renew(uploads.find(space, confirm_key))
        return jsonify(_target(row, confirm_key)), 200
    raise bad_request("POST on a file takes ?multipart&filesize, ?confirm or ?renew")


def abort(library_id: str, space_id: str, confirm_key: str) -> tuple[str, int]:
    library, space = lib.resolve(library_id, space_id)
    authorize(library, space, auth.BEGIN_UPLOAD)
    uploads.abort(uploads.find(space, confirm_key))
    return "", 204


@bp.route("/file/<library_id>/<space_id>/<medialib_path:path>", methods=["POST"])
@doc(
    summary="SMH upload sessions: ?multipart&filesize begins a multipart one (201 target); on a confirm key, "
    "?confirm (body {crc64}; 200 file info) or ?renew (200 target)",
    tag="files",
    query=schemas.UploadSessionQuery,
    body=schemas.ConfirmUploadBody,
    responses={200: schemas.FileInfo, 201: schemas.UploadTarget},
    errors=(400, 403, 404, 409, 413),
)
def file_post(library_id: str, space_id: str, path: str) -> tuple[Response, int]:
    if "multipart" in request.args:
        return begin(library_id, space_id, path, meta_headers())
    return session_post(library_id, space_id, path)


@bp.route("/u/<token>", methods=["PUT"])
@doc(
    summary="The bytes of an upload session (the signed URL a begin answered), or one part "
    "(?partNumber=n&uploadId=...); streamed to disk, capped at the announced filesize",
    tag="files",
    query=schemas.UploadPartQuery,
    body="binary",
    body_type="application/octet-stream",
    responses={200: None},
    errors=(400, 403, 413),
)
def upload_bytes(token: str) -> Response:
    args = schemas.load(schemas.UploadPartQuery(), request.args)
    etag = uploads.receive(token, request.stream, part_number=args["partNumber"], upload_id=args["uploadId"])
    response = Response(status=200)
    response.headers["ETag"] = etag
    return response
