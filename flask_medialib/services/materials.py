"""The material library (Eqxiu-style third-party API) over the Media model.

A material is a :class:`~flask_medialib.models.Media` row of a space (the
enterprise, ``corpId``); files uploaded through SMH are materials too. Every
change goes through :mod:`flask_medialib.services.media`, which writes its
outbox event in the same transaction and announces it after the commit.

Replication mode: ``path`` is either an http(s) URL, stored as is, or
``media:<id>``, a stored file of the same enterprise (an SMH upload or a
material holding one) whose bytes the new material shares. Storage keys are
never taken nor shown. Deleting a material removes its bytes when nothing
else in the enterprise references them.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import hashlib
import json
import logging
import math
import mimetypes
import uuid
import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from marshmallow import ValidationError
from sqlalchemy import Select, delete, func, insert, literal, or_, select, update
from sqlalchemy.exc import IntegrityError

from .. import auth, events, generations
from ..auth import Identity
from ..errors import HTTPError, bad_request, conflict, forbidden, unauthorized
from ..models import ImportLock, Library, Media, Space
from ..schemas import (
    _TAG_IDS,
    _TIME_FORMAT,
    MEDIA_REF,
    MaterialItemIn,
    MaterialRenameIn,
    load_batch,
    material_path,
)
from ..state import get_state
from . import library as lib
from . import media as media_service
from .items import TIME_FORMAT as TIME_FORMAT  # re-exported: the API's time format
from .items import format_time as format_time
from .items import parse_time, to_item
from .items import zone as _zone

log = logging.getLogger("flask_medialib.materials")

ENTERPRISE, EMPLOYEE = 2, 3


# -- who is asking ------------------------------------------------------------


@dataclass(frozen=True)
class Actor:
    """The enterprise (space) a request acts on and the user (``openId``) acting."""

    library: Library
    space: Space
    open_id: str
    identity: Identity


def actor(token: str | None, open_id: str, corp_id: str | None = None, *, need: str | None = None) -> Actor:
    """Resolve ``token`` (+ ``corpId`` for a library-wide admin token) to the enterprise it acts on.

    Tokens of the material API are bound to a space; a token issued for the
    whole library is accepted only with the ``admin`` grant and a ``corpId``.
    A token issued to a user identity acts only as that ``openId``.
    """
    if not token:
        raise unauthorized(
            "the token query parameter is required (an access token of the enterprise)", "MissingAccessToken"
        )
    row = auth.find_token(token)
    library = row.library
    if row.space_pk is not None:
        space = row.space
        assert space is not None
        if corp_id is not None and corp_id != space.space_id:
            raise forbidden(f"the token belongs to enterprise {space.space_id!r}, not corpId {corp_id!r}")
    else:
        if "admin" not in row.grant_set:
            raise forbidden(
                "the material API needs a token bound to an enterprise (space), or a library-wide "
                "admin token together with corpId"
            )
        if not corp_id:
            raise bad_request("corpId is required with a library-wide admin token: name the enterprise (space id)")
        space = lib.get_space(library, corp_id)
    if row.user_id is not None and row.user_id != open_id:
        raise forbidden(f"the token was issued to user {row.user_id!r}; openId must be that user")
    identity = auth.authorize(library, space, token, need=need)
    return Actor(library, space, open_id, identity)


def _visible(who: Actor) -> Any:
    # Employee materials belong to their openId; enterprise ones to everybody in the space.
    return or_(Media.biz_type != EMPLOYEE, Media.create_user == who.open_id)


# -- times ---------------------------------------------------------------------


def from_epoch_ms(ms: int) -> dt.datetime:
    return dt.datetime(1970, 1, 1) + dt.timedelta(milliseconds=ms)


# -- the import lock -------------------------------------------------------------


def acquire_import_lock(space_pk: int, owner: str) -> None:
    """Take the enterprise's import lock or raise 409 ``ImportInProgress``.

    The lock is a row, inserted in a transaction of its own so that every
    process sees it at once. A row whose holder crashed expires after
    ``MEDIALIB_IMPORT_LOCK_TIMEOUT`` and is then taken over by one atomic
    UPDATE, so two waiters can never both win it.
    """
    state = get_state()
    engine = state.db.engine
    for _ in range(3):  # the holder may release between our INSERT and UPDATE
        now = state.clock()
        expires = now + dt.timedelta(seconds=state.config["MEDIALIB_IMPORT_LOCK_TIMEOUT"])
        values = {"owner": owner, "acquired_at": now, "expires_at": expires}
        try:
            with engine.begin() as conn:
                conn.execute(insert(ImportLock).values(space_pk=space_pk, **values))
            return
        except IntegrityError:
            pass
        with engine.begin() as conn:
            taken = conn.execute(
                update(ImportLock).where(ImportLock.space_pk == space_pk, ImportLock.expires_at < now).values(**values)
            ).rowcount
            holder = conn.execute(select(ImportLock.acquired_at).where(ImportLock.space_pk == space_pk)).first()
        if taken == 1:
            log.warning("took over the expired import lock of space %s (its import crashed or hung)", space_pk)
            return
        if holder is not None:
            raise conflict(
                f"another import is running for this enterprise (since {holder[0]:%Y-%m-%d %H:%M:%S} UTC); "
                "send the next batch when it has finished",
                "ImportInProgress",
            )
    raise conflict("another import is running for this enterprise; try again", "ImportInProgress")


def release_import_lock(space_pk: int, owner: str) -> None:
    with get_state().db.engine.begin() as conn:
        conn.execute(delete(ImportLock).where(ImportLock.space_pk == space_pk, ImportLock.owner == owner))


@contextlib.contextmanager
def import_lock(space_pk: int) -> Iterator[str]:
    owner = uuid.uuid4().hex
    acquire_import_lock(space_pk, owner)
    try:
        yield owner
    finally:
        release_import_lock(space_pk, owner)


# -- writes -----------------------------------------------------------------------


def _check_batch_size(raw: Any, what: str) -> None:
    if not isinstance(raw, list):
        raise bad_request(f"the body must be a JSON array of {what}s")
    if not raw:
        raise bad_request(f"the body is an empty array: send at least one {what}")
    limit = get_state().config["MEDIALIB_MATERIAL_MAX_ITEMS"]
    if len(raw) > limit:
        raise HTTPError(
            f"{len(raw)} {what}s in one request; at most {limit} (MEDIALIB_MATERIAL_MAX_ITEMS): split the batch",
            status=413,
            code="TooManyItems",
        )


def _invalid(message: str, index: int) -> HTTPError:
    return HTTPError(message, status=422, code="InvalidParameter", extra={"badIndexes": [index]})


# The plain shape of an ``add`` item that :func:`quick_load` accepts without marshmallow:
# field -> (default when absent, may be None, check of a present non-None value).
_QUICK_FIELDS: dict[str, tuple[Any, bool, Any]] = {
    "name": (..., False, lambda v: type(v) is str and 1 <= len(v) <= 255),
    "bizType": (..., False, lambda v: type(v) is int and v in (2, 3)),
    "type": (..., False, lambda v: type(v) is int and v in (1, 2, 3, 4)),
    "uploadType": (0, False, lambda v: type(v) is int and 0 <= v <= 3),
    "path": (None, True, lambda v: type(v) is str and len(v) <= 2048),
    "tmbPath": (None, True, lambda v: type(v) is str and len(v) <= 2048),
    "width": (None, True, lambda v: type(v) is int and 0 <= v <= 1_000_000),
    "height": (None, True, lambda v: type(v) is int and 0 <= v <= 1_000_000),
    "size": (None, True, lambda v: type(v) is int and 0 <= v <= 2**62),
    "durationTime": (None, True, lambda v: type(v) in (int, float) and 0 <= v <= 10**9 and math.isfinite(v)),
    "createTime": (None, True, lambda v: type(v) is str and _TIME_FORMAT.fullmatch(v) is not None),
    "content": (None, True, lambda v: type(v) is str and len(v) <= 65_535),
    "tagIds": (None, True, lambda v: type(v) is str and len(v) <= 1000 and _TAG_IDS.fullmatch(v) is not None),
    "keywords": (None, True, lambda v: type(v) is str and len(v) <= 1000),
}


def quick_load(raw: list[Any]) -> list[dict[str, Any]] | None:
    """What ``MaterialItemIn().load(raw, many=True)`` returns, when every item is plainly valid; else None.

    A 1000-item batch through marshmallow costs tens of milliseconds. This
    accepts only the unambiguous case (exact JSON types, every rule of
    :class:`~flask_medialib.schemas.MaterialItemIn` met) and gives up on
    anything else, so every error message still comes from marshmallow.
    """
    out: list[dict[str, Any]] = []
    for item in raw:
        if type(item) is not dict or not item.keys() <= _QUICK_FIELDS.keys():
            return None
        loaded: dict[str, Any] = {}
        for key, (default, nullable, check) in _QUICK_FIELDS.items():
            if key not in item:
                if default is ...:
                    return None
                loaded[key] = default
                continue
            value = item[key]
            if value is None:
                if not nullable:
                    return None
            elif not check(value):
                return None
            loaded[key] = value
        name = loaded["name"]
        if not name.strip() or any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
            return None
        for key in ("path", "tmbPath"):
            if loaded[key]:
                try:
                    material_path(loaded[key], key)
                except ValidationError:
                    return None
        if (loaded["type"] == 4 and not loaded["content"]) or (loaded["type"] != 4 and not loaded["path"]):
            return None
        if loaded["durationTime"] is not None:
            loaded["durationTime"] = float(loaded["durationTime"])
        out.append(loaded)
    return out


@functools.lru_cache(maxsize=256)
def _parse_time_cached(text: str, zone: zoneinfo.ZoneInfo) -> dt.datetime:
    # A batch often shares one createTime; parsing and zone conversion per item add up.
    return parse_time(text, zone)


def add(who: Actor, raw: Any) -> list[dict[str, Any]]:
    """Add a batch of materials, all or nothing; returns them as the API renders them."""
    state = get_state()
    _check_batch_size(raw, "item")
    items = quick_load(raw)
    if items is None:
        items = load_batch(MaterialItemIn(), raw)
    zone = _zone()
    now = state.clock()
    created: list[dt.datetime] = []
    for index, item in enumerate(items):
        try:
            created.append(_parse_time_cached(item["createTime"], zone) if item["createTime"] else now)
        except (ValueError, OverflowError) as exc:
            raise _invalid(
                f"item {index}: createTime: {item['createTime']!r} is not a real time ({exc})", index
            ) from None
    rows = [_new_row(who, item, created_at, now) for item, created_at in zip(items, created, strict=True)]
    shares = {
        index: int(found.group(1))
        for index, item in enumerate(items)
        if item["path"] and (found := MEDIA_REF.fullmatch(item["path"]))
    }
    with import_lock(who.space.pk), media_service.transaction(who.space) as tx:
        # Inside the lock and the transaction: a referenced file deleted meanwhile is never shared.
        _share_stored_files(who, rows, shares)
        return tx.add(rows)


def _share_stored_files(who: Actor, rows: list[dict[str, Any]], shares: dict[int, int]) -> None:
    """Point the rows of ``media:<id>`` paths at the bytes of those files of the enterprise."""
    if not shares:
        return
    wanted = sorted(set(shares.values()))
    sources: dict[int, Media] = {}
    for start in range(0, len(wanted), 500):
        stmt = select(Media).where(
            Media.space_pk == who.space.pk,
            Media.id.in_(wanted[start : start + 500]),
            Media.storage_key.is_not(None),
            _visible(who),
        )
        sources.update((m.id, m) for m in get_state().session.execute(stmt).scalars())
    for index, media_id in shares.items():
        source = sources.get(media_id)
        if source is None:
            # One answer for missing, foreign, invisible and byte-less media: nothing to probe.
            raise _invalid(
                f"item {index}: path: media:{media_id} is not a stored file of this enterprise; "
                "upload the file first (SMH PUT file) and use its mediaId, or send an http(s) URL",
                index,
            )
        row = rows[index]
        row["storage_key"], row["mime"] = source.storage_key, source.mime
        for column in ("width", "height", "size", "duration"):
            if row[column] is None:
                row[column] = getattr(source, column)


def _new_row(who: Actor, item: dict[str, Any], created_at: dt.datetime, now: dt.datetime) -> dict[str, Any]:
    """The column values of a new material's Media row (no ``id`` yet; ``media:<id>`` paths resolved later)."""
    path = item["path"]
    is_url = bool(path) and path.startswith(("http://", "https://"))
    return media_service.new_row(
        name=item["name"],
        kind=item["type"],
        mime=mimetypes.guess_type(path.split("?", 1)[0])[0] if is_url else None,
        url=path if is_url else None,
        thumb_url=item["tmbPath"],
        width=item["width"],
        height=item["height"],
        size=item["size"],
        duration=item["durationTime"],
        content=item["content"],
        biz_type=item["bizType"],
        upload_type=item["uploadType"],
        tag_ids=item["tagIds"],
        keywords=item["keywords"],
        create_user=who.open_id,
        update_user=who.open_id,
        created_at=created_at,
        updated_at=now,
        uploaded_at=created_at,  # covers order by upload time: a material's is its createTime
    )


def rename(who: Actor, raw: Any) -> list[dict[str, Any]]:
    """Rename a batch of materials, all or nothing."""
    state = get_state()
    _check_batch_size(raw, "item")
    items = load_batch(MaterialRenameIn(), raw)
    first: dict[int, int] = {}
    for index, item in enumerate(items):
        if item["materialId"] in first:
            raise _invalid(
                f"item {index}: materialId {item['materialId']} is also item {first[item['materialId']]}; "
                "name each material once",
                index,
            )
        first[item["materialId"]] = index
    with media_service.transaction(who.space) as tx:
        found = {m.id: m for m in _visible_rows(who, list(first))}
        for index, item in enumerate(items):
            if item["materialId"] not in found:
                raise HTTPError(
                    f"item {index}: material {item['materialId']} does not exist in this enterprise",
                    status=404,
                    code="MaterialNotFound",
                    extra={"badIndexes": [index]},
                )
        now = state.clock()
        for item in items:
            media = found[item["materialId"]]
            media.name = item["name"]
            media.update_user = who.open_id
            media.updated_at = now
        return tx.changed([found[item["materialId"]] for item in items])


def delete_materials(who: Actor, ids: list[int]) -> list[int]:
    """Delete the visible materials among ``ids``; unknown ids are skipped (a retry is harmless)."""
    limit = get_state().config["MEDIALIB_MATERIAL_MAX_ITEMS"]
    if len(ids) > limit:
        raise HTTPError(
            f"{len(ids)} ids in one request; at most {limit} (MEDIALIB_MATERIAL_MAX_ITEMS)",
            status=413,
            code="TooManyItems",
        )
    return media_service.delete_rows(who.space, ids=ids, where=_visible(who))


# -- reads ------------------------------------------------------------------------


def _visible_rows(who: Actor, ids: list[int]) -> list[Media]:
    if not ids:
        return []
    stmt = select(Media).where(Media.space_pk == who.space.pk, Media.id.in_(ids), _visible(who))
    return list(get_state().session.execute(stmt).scalars())


def by_ids(who: Actor, ids: list[int]) -> list[dict[str, Any]]:
    """The visible materials among ``ids``, in the order asked."""
    zone = _zone()
    rows = {m.id: m for m in _visible_rows(who, ids)}
    return [to_item(rows[i], who.space, zone) for i in ids if i in rows]


def feed(who: Actor, after: int, limit: int) -> tuple[list[dict[str, Any]], int]:
    """Events of the enterprise after the cursor ``after``, as shown to ``who``; and the next cursor.

    Employee materials of other users stay private (like in :func:`list_materials`);
    a replica uses an admin token to see them all.
    """
    found = events.feed(who.space, after, limit)
    messages = [events.as_message(e) for e in found]
    if not who.identity.is_admin:
        for message in messages:
            items = message["data"].get("materials")
            if items is not None:
                message["data"]["materials"] = [
                    m for m in items if m.get("bizType") != EMPLOYEE or m.get("createUser") == who.open_id
                ]
    return messages, found[-1].id if found else after


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    count: int
    page_no: int
    page_size: int

    @property
    def end(self) -> bool:
        return self.page_no * self.page_size >= self.count


_FILTERS = ("name", "type", "bizType", "tagIds", "startTime", "endTime")


def _filtered(stmt: Select[Any], query: dict[str, Any]) -> Select[Any]:
    """``stmt`` narrowed by the list filters of ``query`` (all but visibility)."""
    if query.get("name"):
        # autoescape: % and _ in the search text match themselves; case-insensitive on every backend.
        stmt = stmt.where(Media.name.icontains(query["name"], autoescape=True))
    if query.get("type") is not None:
        stmt = stmt.where(Media.kind == query["type"])
    if query.get("bizType") is not None:
        stmt = stmt.where(Media.biz_type == query["bizType"])
    if query.get("tagIds"):
        padded = literal(",").concat(Media.tag_ids).concat(",")
        stmt = stmt.where(or_(*(padded.contains(f",{tag},") for tag in query["tagIds"].split(","))))
    if query.get("startTime") is not None:
        stmt = stmt.where(Media.created_at >= from_epoch_ms(query["startTime"]))
    if query.get("endTime") is not None:
        stmt = stmt.where(Media.created_at <= from_epoch_ms(query["endTime"]))
    return stmt


def _count(who: Actor, query: dict[str, Any]) -> int:
    """How many visible materials match, counted as three index-friendly parts.

    ``biz_type != 3 OR create_user = ?`` cannot use an index as one range, so
    the count is taken over the disjoint parts ``biz_type < 3``, ``biz_type >
    3`` and ``biz_type = 3 AND create_user = ?``: each is a range of
    ``ix_medialib_media_visible`` and, without name or tag filters, is
    counted from the index alone.
    """
    base = select(func.count()).select_from(Media).where(Media.space_pk == who.space.pk)
    parts = [
        base.where(Media.biz_type < EMPLOYEE),
        base.where(Media.biz_type > EMPLOYEE),
        base.where(Media.biz_type == EMPLOYEE, Media.create_user == who.open_id),
    ]
    total = sum((_filtered(part, query).scalar_subquery() for part in parts), literal(0))
    return int(get_state().session.execute(select(total)).scalar_one())


def _cached_count(who: Actor, query: dict[str, Any]) -> int:
    """:func:`_count`, memoised per space generation (every write to the space bumps it).

    The generation is read before the count runs and bumped after each
    write's commit, so a count is never reused across a write: a client that
    wrote and then lists always gets a count that includes its write.
    """
    generation = generations.current(who.space.pk)
    space = who.space
    # The space's identity, not only its pk: a pk reused after a delete must not inherit counts.
    identity = [space.library_id, space.space_id, str(space.created_at), who.open_id]
    filters = [query.get(key) for key in _FILTERS]
    digest = hashlib.sha256(json.dumps([identity, filters]).encode()).hexdigest()[:32]
    key = f"medialib:mcount:{space.pk}:{generation}:{digest}"
    cache = get_state().cache
    count = cache.get(key)
    if not isinstance(count, int):
        count = _count(who, query)
        cache.set(key, count)
    return count


def list_materials(who: Actor, query: dict[str, Any]) -> Page:
    """One page of the visible materials, newest createTime first (ties: larger id first)."""
    count = _cached_count(who, query)
    page_no, page_size = query.get("pageNo", 1), query.get("pageSize", 10)
    session = get_state().session
    # Ids first (from ix_medialib_media_material alone when no name/tag filter), then only those rows.
    ids_stmt = _filtered(select(Media.id).where(Media.space_pk == who.space.pk, _visible(who)), query)
    ids = list(
        session.execute(
            ids_stmt.order_by(Media.created_at.desc(), Media.id.desc())
            .offset((page_no - 1) * page_size)
            .limit(page_size)
        ).scalars()
    )
    rows = {m.id: m for m in session.execute(select(Media).where(Media.id.in_(ids))).scalars()} if ids else {}
    zone = _zone()
    return Page([to_item(rows[i], who.space, zone) for i in ids if i in rows], count, page_no, page_size)
