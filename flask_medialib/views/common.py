"""What every blueprint of the extension shares: request ids and JSON errors."""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Flask, Response, g, jsonify, request, url_for
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound

from ..errors import HTTPError, bad_request
from ..state import get_state

log = logging.getLogger("flask_medialib")

# Every response of ours: browsers must not guess a type (an upload served as HTML would run).
NOSNIFF = ("X-Content-Type-Options", "nosniff")
# Served files (uploads, originals, covers) are bytes from clients: nothing in them may run,
# load anything or reach this origin, whatever a browser makes of them.
FILE_CSP = ("Content-Security-Policy", "default-src 'none'; sandbox")
# An error answered before the body was read drains at most this much of it, so a client
# that is still sending sees the answer; a larger body is left to the server (which closes the connection).
DRAIN_LIMIT = 1024 * 1024
_DRAIN_CHUNK = 64 * 1024

# SMH-style codes for werkzeug's own errors (413 from MAX_CONTENT_LENGTH, 405 ...).
_WERKZEUG_CODES = {
    400: "BadRequest",
    403: "NoPermission",
    404: "RouteNotFound",
    405: "MethodNotAllowed",
    413: "RequestEntityTooLarge",
    414: "URITooLong",
    422: "ParamInvalid",
    429: "RateLimitExceeded",
    431: "HeaderFieldsTooLarge",
}


def request_id() -> str:
    if "medialib_request_id" not in g:
        g.medialib_request_id = uuid.uuid4().hex
    return str(g.medialib_request_id)


def error_parts(exc: Exception) -> tuple[int, str, str, dict[str, Any]]:
    """(status, code, message, extra) of any exception a view let out."""
    if isinstance(exc, HTTPError):
        return int(exc.code or 500), exc.code_name, exc.message, exc.extra
    if isinstance(exc, HTTPException):
        status = exc.code or 500
        fallback = "BadRequest" if status < 500 else "InternalServerError"
        return status, _WERKZEUG_CODES.get(status, fallback), str(exc.description), {}
    log.exception("unhandled error in a medialib view (request %s)", request_id())
    return 500, "InternalServerError", "internal error; quote the requestId when reporting it", {}


def access_token() -> str | None:
    """The token from ``access_token`` or an ``Authorization: Bearer`` header."""
    token = request.args.get("access_token")
    header = request.headers.get("Authorization", "")
    if not token and header.lower().startswith("bearer "):
        token = header[7:].strip()
    return token or None


def redirect_to(token: str, cache_control: str) -> Response:
    """A bare 302 to the signed URL ``token`` (what covers and downloads answer)."""
    # url_for costs as much as the rest of a warm cover; the prefix only depends on the script root.
    bases = get_state().file_url_bases
    base = bases.get(request.script_root)
    if base is None:
        base = bases[request.script_root] = url_for("medialib_files.serve", token="~")[:-1]  # noqa: S106 - a placeholder
    return Response(status=302, headers={"Location": f"{base}{token}", "Cache-Control": cache_control})


def proxy_keep(*lives: float | None) -> int:
    """Seconds nginx in front may keep this answer (``MEDIALIB_PROXY_CACHE_SECONDS``), at most what is left
    of each life given (a token's, a signed URL's); 0: it must not."""
    keep = int(get_state().config["MEDIALIB_PROXY_CACHE_SECONDS"])
    for left in lives:
        if left is not None:
            keep = min(keep, int(left))
    return max(keep, 0)


def let_proxy_keep(response: Response, keep: int) -> Response:
    """Mark a successful answer for nginx's ``proxy_cache``; nginx consumes the header, clients never see it."""
    if keep > 0 and response.status_code in (200, 302):
        response.headers["X-Accel-Expires"] = str(keep)
    return response


def drain_body() -> None:
    """Read what is left of the request body, if it is at most ``DRAIN_LIMIT`` bytes."""
    length = request.content_length
    if not length or length > DRAIN_LIMIT:
        return
    stream = request.stream
    left = length
    with contextlib.suppress(Exception):  # best effort: a client gone away is no error of ours
        while left > 0 and (chunk := stream.read(min(_DRAIN_CHUNK, left))):
            left -= len(chunk)


def secure_headers(response: Response, *, files: bool = False) -> Response:
    response.headers.setdefault(*NOSNIFF)
    if files:
        response.headers.setdefault(*FILE_CSP)
    return response


def install(
    bp: Blueprint, render: Callable[[int, str, str, dict[str, Any]], Response], *, serves_files: bool = False
) -> None:
    """Request ids, security headers and error rendering on ``bp`` only: the host's own pages stay untouched."""

    @bp.before_request
    def _refuse_nul() -> None:
        # No id, name or parameter may hold NUL: PostgreSQL text cannot store it (a 500 there).
        for key, value in [*(request.view_args or {}).items(), *request.args.items(multi=True)]:
            if isinstance(value, str) and "\x00" in value:
                raise bad_request(f"{key} must not contain a NUL character")

    @bp.after_request
    def _add_request_id(response: Response) -> Response:
        response.headers["X-Request-Id"] = request_id()
        return secure_headers(response, files=serves_files)

    def _handle(exc: Exception) -> Response:
        # The body of a request that failed early may be unread; a small one is drained so
        # the client sees our answer instead of a reset connection. A large one is not: an
        # error must not cost a worker the time to read 64 MiB.
        drain_body()
        status, code, message, extra = error_parts(exc)
        response = render(status, code, message, extra)
        response.status_code = status
        if isinstance(exc, HTTPError):
            response.headers.update(exc.headers)
        return response

    bp.register_error_handler(Exception, _handle)


def smh_error(status: int, code: str, message: str, extra: dict[str, Any]) -> Response:
    return jsonify({"code": code, "message": message, "requestId": request_id(), **extra})


# Blueprints whose responses are stored bytes of clients (see FILE_CSP).
FILE_BLUEPRINTS = frozenset({"medialib_files"})


def smh_blueprint(name: str, import_name: str) -> Blueprint:
    bp = Blueprint(name, import_name)
    install(bp, smh_error, serves_files=name in FILE_BLUEPRINTS)
    return bp


Render = Callable[[int, str, str, dict[str, Any]], Response]


def install_unrouted(app: Flask, prefix: str, renderers: list[tuple[str, Render]]) -> None:
    """JSON 404/405 for URLs under ``prefix`` that match no route of ours.

    Routing fails before any blueprint is known, so blueprint handlers never see
    these; an app-wide error handler would take over the host's own pages. A
    before-request hook that answers only under our prefix does neither. With an
    empty prefix every URL would be "ours", so nothing is installed.
    ``renderers`` pairs a sub-path with the error shape of its API (first match wins).
    """
    if not prefix:
        return

    @app.before_request
    def _unrouted() -> Response | None:
        exc = request.routing_exception
        path = request.path
        if not isinstance(exc, NotFound | MethodNotAllowed) or not (path == prefix or path.startswith(prefix + "/")):
            return None
        render = next((r for sub, r in renderers if path.startswith(prefix + sub)), smh_error)
        if isinstance(exc, MethodNotAllowed):
            allowed = ", ".join(sorted(exc.valid_methods or ()))
            response = render(405, "MethodNotAllowed", f"{request.method} is not allowed on {path}; use {allowed}", {})
            response.status_code = 405
            response.headers["Allow"] = allowed
        else:
            message = f"no route {request.method} {path}; {prefix}/openapi.json lists every route"
            response = render(404, "RouteNotFound", message, {})
            response.status_code = 404
        response.headers["X-Request-Id"] = request_id()
        return secure_headers(response)
