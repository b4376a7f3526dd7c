"""Album cover API (SMH): a 302 to a signed URL of the cover image (or, on s3, to the store's URL of it)."""

from __future__ import annotations

from typing import Any

from flask import Response, request

from .. import schemas, signing
from ..services import covers
from ..state import get_state
from .apidoc import doc
from .common import access_token, let_proxy_keep, proxy_keep, redirect_to, smh_blueprint

bp = smh_blueprint("medialib_cover", __name__)

# One instance: building a schema costs more than loading with it, and loading keeps no state.
_QUERY = schemas.CoverQuery()


_QUERIES_MAX = 4096


def _query() -> dict[str, Any]:
    # The warm path is dominated by fixed costs; covers in <img> tags repeat the same
    # queries, and loading is a pure function of them and the app's config, so each app
    # validates each once. The token is left out of the key: it is not ours to keep.
    args = request.args
    key = tuple(sorted((k, v) for k, v in args.items(multi=True) if k != "access_token"))
    memo = get_state().cover_queries
    found = memo.get(key)
    if found is None:
        found = tuple((k, v) for k, v in schemas.load(_QUERY, args).items() if k != "access_token")
        if len(memo) >= _QUERIES_MAX:
            memo.clear()
        memo[key] = found
    return dict(found)


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
    args = _query()
    where = (library_id, space_id, album_name)
    token = access_token()
    who = {"size": args["size"], "token": token, "user_id": args["user_id"]}
    # Warm: one cache round trip and no SQL; else the full walk (which memoises its answer).
    link = covers.memoised_link(*where, **who) or covers.cover_link(*where, **who)
    # nginx keys what it keeps by the URI: an answer that depends on a token sent in a header is not for it.
    config = get_state().config
    keep = 0
    if config["MEDIALIB_PROXY_CACHE_SECONDS"] and (not token or request.args.get("access_token")):
        now = signing.now()
        token_left = None if link.token_expires is None else link.token_expires - now
        keep = proxy_keep(token_left, signing.expires(link.token) - now)
    # Short-lived: the target URL changes with the media, so a browser must ask again soon. A copy that
    # nginx hands out later is that much older: its max-age leaves room for that, the bound stays whole.
    max_age = max(config["MEDIALIB_COVER_REDIRECT_MAX_AGE"] - keep, 0)
    cache_control = f"{'public' if link.public else 'private'}, max-age={max_age}"
    if link.location is not None:  # s3: straight to the cover's object (it expires with our signed URL)
        response = Response(status=302, headers={"Location": link.location, "Cache-Control": cache_control})
    else:
        response = redirect_to(link.token, cache_control)
    return let_proxy_keep(response, keep)
