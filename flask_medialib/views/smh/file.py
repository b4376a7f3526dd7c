"""SMH files: info, HEAD, download 302 with ``x-smh-*`` headers, preview, delete; and the raw-body
``PUT`` upload (an extension). SMH's own upload sessions (``?filesize``, ``?upload``) are in ``upload.py``."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from ... import auth, schemas, signing
from ...errors import bad_request, forbidden
from ...models import VISUAL_KINDS, Library, Media, Space
from ...services import covers, previews
from ...services import library as lib
from ...state import get_state
from ..apidoc import doc
from ..common import redirect_to
from . import authorize, bp, render, upload

_PREVIEW = "p"  # the signed rendition of a scaled preview, served by ``preview`` below


@bp.route("/file/<library_id>/<space_id>/<medialib_path:path>", methods=["PUT"])
@doc(
    summary="With ?filesize: begin an SMH upload session (JSON body; 201 target). Without: upload an image or "
    "video, the request body being the file (extension). x-smh-meta-* headers kept",
    tag="files",
    query=schemas.SmhAuthQuery,
    body="binary",
    body_type="application/octet-stream",
    responses={201: schemas.FileInfo},
    errors=(400, 403, 404, 409, 413),
)
def upload_file(library_id: str, space_id: str, path: str) -> tuple[Response, int]:
    if "filesize" in request.args:  # SMH's begin: the body is a JSON request, not the file
        return upload.begin(library_id, space_id, path, upload.meta_headers())
    library, space = lib.resolve(library_id, space_id)
    identity = authorize(library, space, auth.UPLOAD_FILE)
    limit = get_state().config["MEDIALIB_MAX_UPLOAD_BYTES"]
    if request.content_length is not None and request.content_length > limit:
        raise lib.too_large(limit)
    where, name = lib.file_path(library, space, path)
    meta = upload.meta_headers()
    media = lib.save_upload(where, name, request.stream, user=identity.user_id, meta=meta)
    return jsonify(render.file_info(media, where.album.name if where.album else None)), 201


@bp.route("/file/<library_id>/<space_id>/<medialib_path:path>", methods=["GET"])
@doc(
    summary="Download (302 to a signed URL, x-smh-* headers), info=1 (JSON), preview=1 (302 to an image); HEAD",
    tag="files",
    query=schemas.FileQuery,
    responses={200: schemas.FileInfo, 302: None},
    errors=(400, 403, 404),
)
def get_file(library_id: str, space_id: str, path: str) -> BaseResponse:
    library, space = lib.resolve(library_id, space_id)
    args = schemas.load(schemas.FileQuery(), request.args)
    authorize(library, space)
    where, name = lib.file_path(library, space, path)
    media = lib.find_file(where, name)
    if request.method == "HEAD":
        return Response(status=200, headers=render.file_headers(media))
    if args["info"]:
        token = signing.sign(signing.ORIGINAL, media, ttl=args["period"])
        info = render.file_info(media, where.album.name if where.album else None)
        info["cosUrl"] = url_for("medialib_files.serve", token=token, _external=True)
        return jsonify(info)
    if args["preview"]:
        return _preview(library, space, media, args)
    response = redirect_to(signing.sign(signing.ORIGINAL, media), "private, max-age=60")
    response.headers.update(render.file_headers(media))
    return response


def _preview(library: Library, space: Space, media: Media, args: dict[str, Any]) -> BaseResponse:
    """The cover engine's face-aware ``size`` square; else ``scale``/``width_size``/``height_size``
    (the whole picture, ratio kept); else the original (a video's first frame). A file that cannot
    be shown redirects to its download, as SMH does."""
    size = args["size"]
    top = get_state().config["MEDIALIB_COVER_MAX_SIZE"]
    if size is not None and size > top:
        raise bad_request(f"size must be an integer from 1 to {top}, not {size}")
    public = library.public_read or space.public_read
    cache_control = f"{'public' if public else 'private'}, max-age=60"
    if media.kind in VISUAL_KINDS:
        box = None
        if size is None:
            box = previews.preview_box(media.width or 0, media.height or 0, scale=args["scale"],
                                       width_size=args["width_size"], height_size=args["height_size"])  # fmt: skip
        # s3: straight to the rendition's object, whose URL lives as long as ours would.
        expires = signing.expiry()
        if box is not None:
            direct = previews.stored_preview_url(media, box, int(expires - signing.now()))
            if direct is not None:
                return Response(status=302, headers={"Location": direct, "Cache-Control": cache_control})
            token = signing.sign(_PREVIEW, media, previews.pack(box), expires=expires)
            return Response(status=302, headers={"Location": url_for(".preview", token=token),
                                                 "Cache-Control": cache_control})  # fmt: skip
        if covers.ensure_cover(media, size or 0):
            direct = covers.cover_location(get_state(), media, size or 0, expires, public=public)
            if direct is not None:
                return Response(status=302, headers={"Location": direct, "Cache-Control": cache_control})
            token = signing.sign(signing.COVER, media, size or 0, public=public, space_pk=space.pk, expires=expires)
            return redirect_to(token, cache_control)
    response = redirect_to(signing.sign(signing.ORIGINAL, media), "private, max-age=60")
    response.headers.update(render.file_headers(media))
    return response


@bp.route("/preview/<token>", methods=["GET"])
@doc(
    summary="The bytes of a scaled preview (what ?preview&scale|width_size|height_size redirects to)",
    tag="files",
    responses={200: "image/*", 304: None},
    errors=(403, 404),
)
def preview(token: str) -> Response:
    ref = signing.verify(token)
    if ref.rendition != _PREVIEW:
        raise forbidden("this URL is not a preview URL", "InvalidSignature")
    media = covers.signed_media(ref)
    left = max(int(ref.expires - signing.now()), 0)
    direct = previews.stored_preview_url(media, previews.unpack(ref.size), left)
    if direct is not None:  # s3: the preview's object, from the bucket
        return Response(status=302, headers={"Location": direct, "Cache-Control": f"private, max-age={left}"})
    data, mime = previews.rendered_preview(media, previews.unpack(ref.size))
    response = Response(data, mimetype=mime)
    response.set_etag(ref.etag)
    response.headers["Cache-Control"] = f"private, max-age={max(int(ref.expires - signing.now()), 0)}, immutable"
    response.make_conditional(request)
    return response


@bp.route("/file/<library_id>/<space_id>/<medialib_path:path>", methods=["DELETE"])
@doc(
    summary="Delete a file; with ?upload, abort the upload session whose confirm key is the path",
    tag="files",
    query=schemas.DeleteFileQuery,
    responses={204: None},
    errors=(400, 403, 404),
)
def delete_file(library_id: str, space_id: str, path: str) -> tuple[str, int]:
    if "upload" in request.args:
        return upload.abort(library_id, space_id, path)
    library, space = lib.resolve(library_id, space_id)
    authorize(library, space, auth.DELETE_FILE)
    where, name = lib.file_path(library, space, path)
    lib.delete_media([lib.find_file(where, name)])
    return "", 204
