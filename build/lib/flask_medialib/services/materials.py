"""The material library (Eqxiu-style third-party API) over the Media model.

A material is a :class:`~flask_medialib.models.Media` row of a space (the
enterprise, ``corpId``) with ``file_name`` NULL. Every change writes one
outbox event in its own transaction (:mod:`flask_medialib.events`) and
announces it after the commit.

Replication mode: ``path`` is either an http(s) URL, stored as is, or the
key of bytes that already sit in the extension's storage (put there by an
upload or by the replicating system); a key that does not exist, or that
would leave the storage root, is refused. The material API never writes or
deletes bytes of its own: deleting a material removes bytes only when the
row was an uploaded file (``file_name`` set) and no other row uses its key.
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
from types import SimpleNamespace
from typing import Any, cast

from marshmallow import ValidationError
from sqlalchemy import Select, Table, delete, func, insert, literal, or_, select, text, update
from sqlalchemy.exc import IntegrityError

from .. import auth, events, generations
from ..auth import Identity
from ..errors import HTTPError, bad_request, conflict, forbidden, unauthorized
from ..models import ImportLock, Library, Media, Space
from ..schemas import _TAG_IDS, _TIME_FORMAT, MaterialItemIn, MaterialRenameIn, load_batch, material_path
from ..state import get_state
from . import library as lib

log = logging.getLogger("flask_medialib.materials")

TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
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


# -- times --------------------------------------------------------------------


def _zone() -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(get_state().config["MEDIALIB_TIMEZONE"])


def parse_time(text: str, zone: zoneinfo.ZoneInfo) -> dt.datetime:
    """``YYYY-MM-DD HH:MM:SS`` in ``zone`` -> naive UTC (ValueError when not a real time)."""
    local = dt.datetime.strptime(text, TIME_FORMAT)
    if not 1900 <= local.year <= 9998:
        raise ValueError("the year must be between 1900 and 9998")
    return local.replace(tzinfo=zone).astimezone(dt.UTC).replace(tzinfo=None)


def format_time(value: dt.datetime, zone: zoneinfo.ZoneInfo) -> str:
    return value.replace(tzinfo=dt.UTC).astimezone(zone).strftime(TIME_FORMAT)


def from_epoch_ms(ms: int) -> dt.datetime:
    return dt.datetime(1970, 1, 1) + dt.timedelta(milliseconds=ms)


# -- rendering -----------------------------------------------------------------


def to_item(media: Media, space: Space, zone: zoneinfo.ZoneInfo, when: Any = None) -> dict[str, Any]:
    """A material in the shape of the API's own examples (``when`` formats a time, if given)."""
    if when is None:
        return to_item(media, space, zone, lambda value: format_time(value, zone))
    return {
        "id": media.id,
        "name": media.name,
        "bizType": media.biz_type,
        "type": media.kind,
        "corpId": space.space_id,
        "uploadType": media.upload_type,
        "path": media.storage_key or media.url,
        "tmbPath": media.thumb_url,
        "height": media.height,
        "width": media.width,
        "size": media.size,
        "durationTime": media.duration,
        "keywords": media.keywords,
        "status": media.status,
        "createUser": media.create_user,
        "createTime": when(media.created_at),
        "updateUser": media.update_user,
        "updateTime": when(media.updated_at),
        "content": media.content,
        "tagId": media.tag_ids,
        "transcodePath": None,  # no transcoding: the original is served
        "coverPath": media.thumb_url,
    }


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
        path = item["path"]
        if path and not path.startswith(("http://", "https://")):
            try:
                present = state.storage.exists(path)
            except ValueError:
                present = False
            if not present:
                raise _invalid(
                    f"item {index}: path: storage key {path!r} does not exist; upload the bytes "
                    "first or send an http(s) URL",
                    index,
                )
        try:
            created.append(_parse_time_cached(item["createTime"], zone) if item["createTime"] else now)
        except (ValueError, OverflowError) as exc:
            raise _invalid(
                f"item {index}: createTime: {item['createTime']!r} is not a real time ({exc})", index
            ) from None
    rows = [_new_row(who, item, created_at, now) for item, created_at in zip(items, created, strict=True)]
    with import_lock(who.space.pk):
        try:
            events.serialise_space(who.space)
            _insert_rows(rows)
            rendered = _render_rows(rows, who.space, zone)
            event = events.record(who.space, events.MATERIAL_ADD, {"materials": rendered})
            state.session.commit()
        except BaseException:
            state.session.rollback()
            raise
    generations.bump(who.space.pk)
    events.announce(event)
    return rendered


def _new_row(who: Actor, item: dict[str, Any], created_at: dt.datetime, now: dt.datetime) -> dict[str, Any]:
    """The column values of a new material's Media row (no ``id`` yet)."""
    path = item["path"]
    is_url = bool(path) and path.startswith(("http://", "https://"))
    return {
        "space_pk": who.space.pk,
        "album_pk": None,
        "folder_pk": 0,
        "file_name": None,
        "name": item["name"],
        "kind": item["type"],
        "mime": mimetypes.guess_type(path.split("?", 1)[0])[0] if path else None,
        "storage_key": None if is_url else path,
        "url": path if is_url else None,
        "thumb_url": item["tmbPath"],
        "width": item["width"],
        "height": item["height"],
        "size": item["size"],
        "duration": item["durationTime"],
        "content": item["content"],
        "biz_type": item["bizType"],
        "upload_type": item["uploadType"],
        "tag_ids": item["tagIds"],
        "keywords": item["keywords"],
        "status": 1,
        "create_user": who.open_id,
        "update_user": who.open_id,
        "created_at": created_at,
        "updated_at": now,
        "uploaded_at": created_at,  # covers order by upload time: a material's is its createTime
        "version": 1,
    }


def _insert_rows(rows: list[dict[str, Any]]) -> None:
    """Insert ``rows`` in the session's transaction, setting each one's ``id`` (ascending in order).

    A Core executemany without RETURNING: building ORM objects and one huge
    INSERT ... RETURNING cost several times more for a 1000-item batch. The
    ids are taken first: on PostgreSQL from the table's sequence; on SQLite
    by inserting the first row alone, after which this transaction holds the
    database's only write lock until the commit, so nobody else can take
    the ids that follow it.
    """
    state = get_state()
    conn = state.session.connection()
    table = cast(Table, Media.__table__)  # a mapped class's table is always a Table
    if conn.dialect.name == "postgresql":
        ids = sorted(
            conn.execute(
                text("SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :n)"),
                {"table": table.name, "n": len(rows)},
            ).scalars()
        )
        for row, new_id in zip(rows, ids, strict=True):
            row["id"] = new_id
        conn.execute(insert(table), rows)
        return
    if conn.dialect.name != "sqlite":
        for row in rows:  # other backends: one statement per row, still correct
            row["id"] = conn.execute(insert(table), row).inserted_primary_key[0]
        return
    first = conn.execute(insert(table), rows[0]).inserted_primary_key[0]
    rows[0]["id"] = first
    for offset, row in enumerate(rows[1:], start=1):
        row["id"] = first + offset
    if len(rows) > 1:
        conn.execute(insert(table), rows[1:])


def _render_rows(rows: list[dict[str, Any]], space: Space, zone: zoneinfo.ZoneInfo) -> list[dict[str, Any]]:
    times: dict[dt.datetime, str] = {}

    def when(value: dt.datetime) -> str:
        if value not in times:
            times[value] = format_time(value, zone)
        return times[value]

    rendered = []
    for row in rows:
        item = to_item(SimpleNamespace(**row), space, zone, when)  # type: ignore[arg-type]
        rendered.append(item)
    return rendered


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
    zone = _zone()
    try:
        events.serialise_space(who.space)
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
        state.session.flush()
        rendered = [to_item(found[item["materialId"]], who.space, zone) for item in items]
        event = events.record(who.space, events.MATERIAL_RENAME, {"materials": rendered})
        state.session.commit()
    except BaseException:
        state.session.rollback()
        raise
    generations.bump(who.space.pk)  # a rename changes which names match a search
    events.announce(event)
    return rendered


def delete_materials(who: Actor, ids: list[int]) -> list[int]:
    """Delete the visible materials among ``ids``; unknown ids are skipped (a retry is harmless)."""
    state = get_state()
    limit = state.config["MEDIALIB_MATERIAL_MAX_ITEMS"]
    if len(ids) > limit:
        raise HTTPError(
            f"{len(ids)} ids in one request; at most {limit} (MEDIALIB_MATERIAL_MAX_ITEMS)",
            status=413,
            code="TooManyItems",
        )
    event = None
    try:
        events.serialise_space(who.space)
        rows = {m.id: m for m in _visible_rows(who, ids)}
        deleted = [i for i in ids if i in rows]
        owned_keys = {m.storage_key for m in rows.values() if m.file_name is not None and m.storage_key}
        if deleted:
            state.session.execute(delete(Media).where(Media.id.in_(deleted)))
            event = events.record(who.space, events.MATERIAL_DELETE, {"materialIds": deleted})
        state.session.commit()
    except BaseException:
        state.session.rollback()
        raise
    if deleted:
        generations.bump(who.space.pk)
    for key in owned_keys:  # after the commit: a failed commit must not lose bytes
        still_used = state.session.execute(select(Media.id).where(Media.storage_key == key).limit(1)).first()
        if still_used is None:
            state.storage.delete(key)
    if event is not None:
        events.announce(event)
    return deleted


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
