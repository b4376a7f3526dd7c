"""Serves the signed, expiring URLs that covers and downloads redirect to."""

from __future__ import annotations

from flask import Response, request, send_file

from .. import signing
from ..errors import not_found
from ..extension import get_state
from ..models import Media
from .apidoc import doc
from .common import smh_blueprint

bp = smh_blueprint("medialib_files", __name__)

# The bytes behind one signed URL never change (media version is in it), so
# caches may keep them for as long as the URL lives.
_IMMUTABLE = "immutable"


@bp.route("/f/<token>", methods=["GET", "HEAD"])
@doc(
    summary="The bytes behind a signed URL (what covers and downloads redirect to)",
    tag="files",
    responses={200: "*/*", 304: None},
    errors=(403, 404),
)
def serve(token: str) -> Response:
    ref = signing.verify(token)
    state = get_state()
    media = state.session.get(Media, ref.media_id)
    if media is None or media.version != ref.version:
        raise not_found("the media behind this URL was changed or deleted; ask for the cover again", "FileNotFound")
    etag = f"{media.id}-{media.version}-{ref.rendition}{ref.size}"
    max_age = max(int(ref.expires - signing._now()), 0)
    visibility = "public" if media.space.public_read or media.space.library.public_read else "private"
    if ref.rendition == signing.ORIGINAL:
        if not media.storage_key:
            raise not_found("this media has no stored file", "FileNotFound")
        response = send_file(state.storage.path(media.storage_key), mimetype=media.mime, etag=etag, conditional=True)
    else:
        from ..services.covers import rendered_cover

        data, mime = rendered_cover(media, ref.size)
        response = Response(data, mimetype=mime)
        response.set_etag(etag)
        response.make_conditional(request)
    response.headers["Cache-Control"] = f"{visibility}, max-age={max_age}, {_IMMUTABLE}"
    return response
