"""SMH tokens: create (GET), renew, delete one, delete a user's."""

from __future__ import annotations

from flask import Response, jsonify, request

from ... import auth, schemas
from ...errors import bad_request, not_found
from ...models import Library
from ...services import library as lib
from ...state import get_state
from ..apidoc import doc
from . import bp

_MAX_IDS = 100


def _library_with_secret(library_id: str | None, secret: str | None) -> Library:
    """The library, when ``secret`` is its secret; SMH's codes otherwise (no hint which one is wrong)."""
    if not library_id and not secret:
        raise bad_request("library_id and library_secret are required", "EmptyLibraryIdOrSecret")
    if not library_id:
        raise bad_request("library_id is required", "EmptyLibraryId")
    if not secret:
        raise bad_request("library_secret is required", "EmptyLibrarySecret")
    library = get_state().session.get(Library, library_id)
    if library is None or not auth.check_secret(library, secret):
        raise not_found("library_id or library_secret is wrong", "WrongLibraryIdOrSecret")
    return library


def _ids(raw: str | None, what: str) -> list[str]:
    items = [item.strip() for item in (raw or "").split(",") if item.strip()]
    if len(items) > _MAX_IDS:
        raise bad_request(f"{what} takes at most {_MAX_IDS} values")
    return items


@bp.route("/token", methods=["GET"])
@doc(
    summary="Create an access token with the library secret",
    tag="tokens",
    query=schemas.IssueTokenQuery,
    responses={200: schemas.TokenResponse},
    errors=(400, 404),
)
def issue_token() -> tuple[Response, int]:
    raw = request.args
    library = _library_with_secret(raw.get("library_id"), raw.get("library_secret"))
    for key, code in (("user_id", "UserIdLengthExceed"), ("client_id", "ClientIdLengthExceed")):
        if len(raw.get(key, "")) > 255:
            raise bad_request(f"{key} is longer than 255 characters", code)
    args = schemas.load(schemas.IssueTokenQuery(), raw)
    spaces = [lib.get_space(library, space_id) for space_id in _ids(args["space_id"], "space_id")]
    grants = auth.parse_grants(args["grant"])
    token, row = auth.issue_token(
        library,
        spaces=spaces,
        user_id=args["user_id"],
        client_id=args["client_id"],
        session_id=args["session_id"],
        grants=grants,
        ttl=args["period"],
    )
    get_state().session.commit()
    return jsonify(accessToken=token, expiresIn=row.ttl), 200


@bp.route("/token/<library_id>/<token>", methods=["POST"])
@doc(
    summary="Renew an access token: its period again from now",
    tag="tokens",
    responses={200: schemas.TokenResponse},
    errors=(403, 404),
)
def renew_token(library_id: str, token: str) -> tuple[Response, int]:
    row = auth.renew(lib.get_library(library_id), token)
    return jsonify(accessToken=token, expiresIn=row.ttl), 200


@bp.route("/token/<library_id>/<token>", methods=["DELETE"])
@doc(summary="Delete (revoke) an access token", tag="tokens", responses={204: None}, errors=(403, 404))
def revoke_token(library_id: str, token: str) -> tuple[str, int]:
    auth.revoke(lib.get_library(library_id), token)
    return "", 204


@bp.route("/token/<library_id>", methods=["DELETE"])
@doc(
    summary="Delete every access token of a user (optionally of some clients or sessions)",
    tag="tokens",
    query=schemas.DeleteUserTokensQuery,
    responses={204: None},
    errors=(400, 404),
)
def revoke_user_tokens(library_id: str) -> tuple[str, int]:
    library = _library_with_secret(library_id, request.args.get("library_secret"))
    args = schemas.load(schemas.DeleteUserTokensQuery(), request.args)
    auth.revoke_user(
        library,
        args["user_id"],
        client_ids=_ids(args["client_id"], "client_id"),
        session_ids=_ids(args["session_id"], "session_id"),
    )
    return "", 204
