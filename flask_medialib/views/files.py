"""Serves the signed, expiring URLs that covers and downloads redirect to."""

from __future__ import annotations

from flask import Response, request, send_file

from .. import generations, signing
from ..services import covers
from ..state import get_state
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
    max_age = max(int(ref.expires - signing.now()), 0)
    if ref.space_pk:  # a cover URL that names its space and visibility: no lookup needed for these
        cache_control = f"{'public' if ref.public else 'private'}, max-age={max_age}, {_IMMUTABLE}"
        if request.if_none_match.contains_weak(ref.etag):
            # The client holds these very bytes (the ETag names media, version and size), so
            # nothing is looked up: a URL of media deleted since then also gets this 304.
            response = Response(status=304)
            response.set_etag(ref.etag)
            response.headers["Cache-Control"] = cache_control
            return response
        cached = covers.cached_file(ref)
        if cached is not None:
            # If-None-Match was answered above and these bytes take no ranges: no make_conditional.
            data, mime = cached
            return Response(data, mimetype=mime, headers={"ETag": f'"{ref.etag}"', "Cache-Control": cache_control})
    state = get_state()
    # Read before the media row: see covers.confirm.
    generation = generations.current(ref.space_pk) if ref.space_pk else None
    media = covers.signed_media(ref)
    visibility = "public" if covers.media_is_public(media) else "private"
    cache_control = f"{visibility}, max-age={max_age}, {_IMMUTABLE}"
    if ref.rendition == signing.ORIGINAL:
        original = covers.original_file(media)
        # Named after the media, never after its storage key.
        response = send_file(
            original.path, mimetype=original.mime, download_name=original.name, etag=ref.etag, conditional=True
        )
        response.headers["Cache-Control"] = cache_control
        return response
    rendered = covers.rendered_cover(media, ref.size)
    covers.confirm(state, media.uid, media.version, generation)
    return _bytes_response(rendered, ref.etag, cache_control)


def _bytes_response(rendered: tuple[bytes, str], etag: str, cache_control: str) -> Response:
    data, mime = rendered
    response = Response(data, mimetype=mime)
    response.set_etag(etag)
    response.make_conditional(request)
    response.headers["Cache-Control"] = cache_control
    return response
