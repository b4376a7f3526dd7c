"""Album cover API (SMH): a 302 to a signed URL of the cover image."""

from __future__ import annotations

import functools
from typing import Any

from flask import request
from werkzeug.wrappers import Response

from .. import schemas
from ..extension import get_state
from ..services import covers
from .admin import access_token
from .apidoc import doc
from .common import smh_blueprint
from .files import redirect_to

bp = smh_blueprint("medialib_cover", __name__)

# One instance: building a schema costs more than loading with it, and loading keeps no state.
_QUERY = schemas.CoverQuery()


@functools.lru_cache(maxsize=4096)
def _query(query_string: bytes) -> tuple[tuple[str, Any], ...]:
    # The warm path is dominated by fixed costs; covers in <img> tags repeat the same
    # query strings, and loading is a pure function of them, so validate each once.
    return tuple(schemas.load(_QUERY, request.args).items())


@bp.route("/album/<library_id>/<space_id>/cover", methods=["GET"])
@bp.route("/album/<library_id>/<space_id>/cover/<album_name>", methods=["GET"])
@doc(
    summary="Cover of an album (or of a space without albums): 302 to the image",
    tag="covers",
    query=schemas.CoverQuery,
    responses={302: None},
    errors=(400, 401, 403, 404, 503),
)
def cover(library_id: str, space_id: str, album_name: str | None = None) -> Response:
    args = dict(_query(request.query_string))
    where = (library_id, space_id, album_name)
    who = {"size": args["size"], "token": access_token(), "user_id": args["user_id"]}
    # Warm: one cache round trip and no SQL; else the full walk (which memoises its answer).
    link = covers.memoised_link(*where, **who) or covers.cover_link(*where, **who)
    # Short-lived: the target URL changes with the media, so a browser must ask again soon.
    max_age = get_state().config["MEDIALIB_COVER_REDIRECT_MAX_AGE"]
    return redirect_to(link.token, f"{'public' if link.public else 'private'}, max-age={max_age}")
