"""Serves the signed, expiring URLs that covers and downloads redirect to."""

from __future__ import annotations

import unicodedata
from urllib.parse import quote

from flask import Response, request, send_file

from .. import generations, signing
from ..errors import not_found
from ..services import covers
from ..state import get_state
from .apidoc import doc
from .common import let_proxy_keep, proxy_keep, smh_blueprint

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
    left = ref.expires - signing.now()
    max_age = max(int(left), 0)
    # Cover bytes may be kept by nginx in front (MEDIALIB_PROXY_CACHE_SECONDS), never past the URL's life; a
    # copy it hands out later is that much older, so browsers get that much less: they too stop by then.
    keep = proxy_keep(left) if ref.rendition == signing.COVER else 0
    fresh = max(max_age - keep, 0)
    if ref.space_pk:  # a cover URL that names its space and visibility: no lookup needed for these
        cache_control = f"{'public' if ref.public else 'private'}, max-age={fresh}, {_IMMUTABLE}"
        if request.if_none_match.contains_weak(ref.etag):
            # The client holds these very bytes (the ETag names media, version and size), so
            # nothing is looked up: a URL of media deleted since then also gets this 304.
            return _not_modified(ref.etag, cache_control)
        cached = covers.cached_file(ref)
        if cached is not None:
            # If-None-Match was answered above and these bytes take no ranges: no make_conditional.
            data, mime = cached
            headers = {"ETag": f'"{ref.etag}"', "Cache-Control": cache_control}
            return let_proxy_keep(Response(data, mimetype=mime, headers=headers), keep)
    state = get_state()
    # Read before the media row: see covers.confirm.
    generation = generations.current(ref.space_pk) if ref.space_pk else None
    media = covers.signed_media(ref)
    visibility = "public" if covers.media_is_public(media) else "private"
    cache_control = f"{visibility}, max-age={max_age}, {_IMMUTABLE}"
    if ref.rendition == signing.ORIGINAL:
        original = covers.original_file(media)
        direct = state.storage.url(original.key, max_age, original.name)
        if direct is not None:  # s3: the bucket (or its CDN) serves the bytes, for what is left of this URL's life
            return _to_storage(direct, f"{visibility}, max-age={max_age}")
        accel = state.config["MEDIALIB_ACCEL_REDIRECT_PREFIX"]
        if accel is not None:  # nginx sends the bytes from its internal location; none pass through Python
            if not state.storage.exists(original.key):  # the app's 404, as without nginx, not nginx's page
                raise not_found("the stored file of this media is missing", "FileNotFound")
            return _to_nginx(accel, original, ref.etag, cache_control)
        try:
            with state.storage.open_local(original.key) as path:
                # Named after the media, never after its storage key.
                response = send_file(
                    path, mimetype=original.mime, download_name=original.name, etag=ref.etag, conditional=True
                )
        except FileNotFoundError:
            raise not_found("the stored file of this media is missing", "FileNotFound") from None
        response.headers["Cache-Control"] = cache_control
        return response
    direct = covers.stored_cover_url(media, ref.size, max_age, public=visibility == "public")
    if direct is not None:  # s3: the cover's object (or the original as uploaded) comes from the bucket too
        return _to_storage(direct, f"{visibility}, max-age={max_age}")
    rendered = covers.rendered_cover(media, ref.size)
    covers.confirm(state, media.uid, media.version, generation)
    return let_proxy_keep(_bytes_response(rendered, ref.etag, f"{visibility}, max-age={fresh}, {_IMMUTABLE}"), keep)


def _to_nginx(prefix: str, original: covers.OriginalFile, etag: str, cache_control: str) -> Response:
    # The storage key is only in X-Accel-Redirect, which nginx consumes and never forwards; every
    # header the client sees is the same as Flask's own answer would carry (nginx keeps them).
    if request.if_none_match.contains_weak(etag):  # a 304 names no file: nginx must not redirect it
        return _not_modified(etag, cache_control)
    response = Response(mimetype=original.mime)
    response.headers["X-Accel-Redirect"] = f"{prefix}/{original.key}"
    response.headers.set("Content-Disposition", "inline", **_file_names(original.name))
    response.set_etag(etag)
    response.headers["Cache-Control"] = cache_control
    return response


def _not_modified(etag: str, cache_control: str) -> Response:
    response = Response(status=304)
    response.set_etag(etag)
    response.headers["Cache-Control"] = cache_control
    return response


def _file_names(name: str) -> dict[str, str]:
    """``filename`` (and ``filename*`` when not ASCII) as send_file sets them, so both paths name files alike."""
    try:
        name.encode("ascii")
    except UnicodeEncodeError:
        simple = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
        return {"filename": simple, "filename*": "UTF-8''" + quote(name, safe="!#$&+^`|~")}
    return {"filename": name}


def _to_storage(location: str, cache_control: str) -> Response:
    return Response(status=302, headers={"Location": location, "Cache-Control": cache_control})


def _bytes_response(rendered: tuple[bytes, str], etag: str, cache_control: str) -> Response:
    data, mime = rendered
    response = Response(data, mimetype=mime)
    response.set_etag(etag)
    response.make_conditional(request)
    response.headers["Cache-Control"] = cache_control
    return response
