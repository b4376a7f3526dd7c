"""Material library API (Eqxiu third-party material, data-replication mode).

Every answer, errors included, is the envelope ``{success, code, msg, obj,
map, list}``; ``code`` is the HTTP status as a string ("200" on success) and
an error's ``map`` holds ``error`` (a stable machine code) and ``requestId``.
Statuses: 400 bad parameter or body shape, 401 no token, 403 token refused,
404 unknown material or space, 409 an import is running for the enterprise,
413 more items than ``MEDIALIB_MATERIAL_MAX_ITEMS``, 422 a well-formed batch
with a bad item (the message names its index and field; nothing is stored).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from .. import schemas
from ..errors import bad_request
from ..services import materials
from ..state import get_state
from .apidoc import doc
from .common import install, request_id

bp = Blueprint("medialib_material", __name__)
BASE = "/biz/material/third"
TAG = "material"
ERRORS = (400, 401, 403, 404, 409, 413, 422)
# A 1000-item batch with long text contents fits well inside this.
MAX_BODY_BYTES = 64 * 1024 * 1024


def envelope(*, obj: Any = None, map: Any = None, list: Any = None) -> Response:
    return jsonify({"success": True, "code": "200", "msg": "success", "obj": obj, "map": map, "list": list})


def render_error(status: int, code: str, message: str, extra: dict[str, Any]) -> Response:
    return jsonify(
        {
            "success": False,
            "code": str(status),
            "msg": message,
            "obj": None,
            "map": {"error": code, "requestId": request_id(), **extra},
            "list": None,
        }
    )


install(bp, render_error)


def _actor(query: type[schemas.MaterialAuthQuery], need: str | None = None) -> tuple[materials.Actor, dict]:
    args = schemas.load(query(), request.args)
    who = materials.actor(args["token"], args["openId"], args["corpId"], need=need)
    return who, args


def _json_body() -> Any:
    """The body as JSON; size, nesting, item count and text are checked before any value is looked at."""
    request.max_content_length = MAX_BODY_BYTES  # Flask 3.1: a limit of this request only
    limit = get_state().config["MEDIALIB_MATERIAL_MAX_ITEMS"]
    return schemas.parse_json(request.get_data(cache=False), max_items=limit)


@bp.route(f"{BASE}/add", methods=["POST"])
@doc(
    summary="Add materials (a JSON array, at most MEDIALIB_MATERIAL_MAX_ITEMS; all or nothing)",
    tag=TAG,
    query=schemas.MaterialAuthQuery,
    body=schemas.MaterialItemIn,
    responses={200: schemas.MaterialEnvelope},
    errors=ERRORS,
)
def add() -> Response:
    who, _ = _actor(schemas.MaterialAuthQuery, "material_write")
    return envelope(list=materials.add(who, _json_body()))


@bp.route(f"{BASE}/list", methods=["GET"])
@doc(
    summary="One page of materials, newest createTime first",
    tag=TAG,
    query=schemas.MaterialListQuery,
    responses={200: schemas.MaterialEnvelope},
    errors=(400, 401, 403, 404),
)
def list_materials() -> Response:
    who, args = _actor(schemas.MaterialListQuery)
    page = materials.list_materials(who, args)
    return envelope(
        list=page.items, map={"pageNo": page.page_no, "count": page.count, "pageSize": page.page_size, "end": page.end}
    )


@bp.route(f"{BASE}/listByIds", methods=["GET"])
@doc(
    summary="Materials by id, in the order asked (unknown or invisible ids left out)",
    tag=TAG,
    query=schemas.MaterialIdsQuery,
    responses={200: schemas.MaterialEnvelope},
    errors=(400, 401, 403, 404),
)
def list_by_ids() -> Response:
    who, args = _actor(schemas.MaterialIdsQuery)
    return envelope(list=materials.by_ids(who, args["materialIds"]))


@bp.route(f"{BASE}/rename", methods=["POST"])
@doc(
    summary="Rename materials ([{materialId, name}], all or nothing)",
    tag=TAG,
    query=schemas.MaterialAuthQuery,
    body=schemas.MaterialRenameIn,
    responses={200: schemas.MaterialEnvelope},
    errors=ERRORS,
)
def rename() -> Response:
    who, _ = _actor(schemas.MaterialAuthQuery, "material_write")
    return envelope(list=materials.rename(who, _json_body()))


@bp.route(f"{BASE}/delete", methods=["POST"])
@doc(
    summary='Delete materials ({materialIds: "1,2"}); ids already gone are skipped',
    tag=TAG,
    query=schemas.MaterialAuthQuery,
    body=schemas.MaterialDeleteIn,
    responses={200: schemas.Envelope},
    errors=(400, 401, 403, 404, 413),
)
def delete() -> Response:
    who, _ = _actor(schemas.MaterialAuthQuery, "material_write")
    body = _json_body()
    if not isinstance(body, dict):
        raise bad_request('the body must be a JSON object such as {"materialIds": "1,2"}')
    ids = schemas.load(schemas.MaterialDeleteIn(), body)["materialIds"]
    deleted = materials.delete_materials(who, ids)
    return envelope(obj={"count": len(deleted)}, list=deleted)


@bp.route(f"{BASE}/events", methods=["GET"])
@doc(
    summary="Pull feed of material events after a cursor (eventId), oldest first",
    tag=TAG,
    query=schemas.MaterialEventsQuery,
    responses={200: schemas.MaterialEventsEnvelope},
    errors=(400, 401, 403, 404),
)
def event_feed() -> Response:
    who, args = _actor(schemas.MaterialEventsQuery)
    messages, next_cursor = materials.feed(who, args["after"], args["limit"])
    return envelope(
        list=messages,
        map={"after": args["after"], "next": next_cursor, "limit": args["limit"], "end": len(messages) < args["limit"]},
    )
