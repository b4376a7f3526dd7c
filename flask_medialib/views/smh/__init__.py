"""SMH-compatible routes, one module per SMH API: tokens, spaces, directories (albums), files.

Views only translate HTTP to service calls and back; the rules live in
:mod:`flask_medialib.auth` and :mod:`flask_medialib.services.library`.
"""

from __future__ import annotations

from typing import Any

from flask import request
from werkzeug.routing import PathConverter

from ... import auth, schemas
from ...auth import Identity
from ...errors import HTTPError
from ...models import Library, Space
from ..common import access_token, smh_blueprint

bp = smh_blueprint("medialib_smh", __name__)


class FilePathConverter(PathConverter):
    """``path`` that also matches a line break, so such a name gets our 400, not the router's HTML 404."""

    regex = "[^/](?s:.)*?"


@bp.record_once
def _register_converter(setup: Any) -> None:
    setup.app.url_map.converters.setdefault("medialib_path", FilePathConverter)


_AUTH_QUERY = schemas.SmhAuthQuery()


def authorize(library: Library, space: Space | None, need: str | tuple[str, ...] | None = None) -> Identity:
    """The caller's identity: an access token, else the library secret (SMH's alternative credential)."""
    args = schemas.load(_AUTH_QUERY, request.args)
    token, secret = access_token(), args["library_secret"]
    if not token and secret:
        return auth.authorize_secret(library, secret, user_id=args["user_id"])
    return auth.authorize(library, space, token, need=need, user_id=args["user_id"])


def json_body(schema: schemas.Schema) -> dict[str, Any]:
    """The JSON body through ``schema``; no body (or an empty one) is ``{}`` as SMH allows."""
    if not request.content_length and not request.is_json:
        return dict(schema.load({}))
    data = request.get_json(silent=True)
    if data is None:
        if request.get_data():
            raise HTTPError("the body must be JSON", status=400, code="BadRequest")
        data = {}
    if not isinstance(data, dict):
        raise HTTPError("the body must be a JSON object", status=400, code="BadRequest")
    return schemas.load(schema, data)


# The route modules register their views on ``bp``.
from . import directory as _directory  # noqa: E402,F401
from . import file as _file  # noqa: E402,F401
from . import space as _space  # noqa: E402,F401
from . import token as _token  # noqa: E402,F401
from . import upload as _upload  # noqa: E402,F401
