"""THE write path of media rows, for both protocols and the CLI.

Every change of a :class:`~flask_medialib.models.Media` row (an SMH upload or
delete, an album delete, a CLI import, a material add, rename or delete) runs
in one :func:`transaction` of its space, which

1. serialises the space (:func:`events.serialise_space`), so events of one
   space get ids in commit order and reference counts cannot race;
2. writes the outbox event of each change in the same transaction
   (``material_add``, ``material_rename``, ``material_delete``, the item as the
   material API shows it), so a replica following the feed or the webhooks
   sees every change, whichever side made it;
3. moves staged bytes into storage before the commit (and removes them again
   when the transaction fails: never a row without bytes, nor bytes without
   a row);
4. after the commit: bumps the space generation, deletes the bytes that no
   row of their space references any more and the rendition objects (covers,
   previews: where the storage keeps them) of every media version deleted or
   replaced, and announces the events.

Bytes belong to the space of the upload that stored them; materials of the
same space may share them (``path: media:<id>``). A storage key is orphaned
when no row of the space that released it references it. Rows of other
spaces do not keep bytes alive, with one exception for data written before
keys were private: an uploaded file of another space keeps its own bytes.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, delete, insert, select, text
from sqlalchemy.exc import IntegrityError

from .. import events, generations, identity
from ..errors import HTTPError, MediaLibError
from ..models import MaterialEvent, Media, Space
from ..state import MediaLibState, get_state
from ..storage import keys
from . import items as rendering

log = logging.getLogger("flask_medialib")

# Column values of a new row that callers need not spell out.
_DEFAULTS: dict[str, Any] = {
    "album_pk": None,
    "folder_pk": 0,
    "file_name": None,
    "mime": None,
    "storage_key": None,
    "url": None,
    "thumb_url": None,
    "width": None,
    "height": None,
    "size": None,
    "duration": None,
    "content": None,
    "biz_type": 2,
    "upload_type": 0,
    "tag_ids": None,
    "keywords": None,
    "status": 1,
    "create_user": None,
    "update_user": None,
    "version": 1,
}
_CHUNK = 500  # ids or keys per IN (...): well inside every backend's parameter limit


def new_row(**values: Any) -> dict[str, Any]:
    """The column values of a new Media row: ``values`` over the defaults (no ``id`` yet)."""
    return {**_DEFAULTS, **values}


class Transaction:
    """The changes of one space in one database transaction; see :func:`transaction`."""

    def __init__(self, state: MediaLibState, space: Space) -> None:
        self.state = state
        self.space = space
        self.events: list[MaterialEvent] = []
        self.stored: list[str] = []  # keys moved in here: removed again if the transaction fails
        self.released: set[str] = set()  # keys rows stopped using: candidates for deletion
        self.retired: set[tuple[str, int]] = set()  # (uid, version) of media versions gone: their renditions go

    def add(self, rows: list[dict[str, Any]], *, on_conflict: MediaLibError | None = None) -> list[dict[str, Any]]:
        """Insert ``rows`` (from :func:`new_row`; each gets its ``id``) and their ``material_add`` event."""
        if not rows:
            return []
        for row in rows:
            row["space_pk"] = self.space.pk
        try:
            _insert_rows(rows)
        except IntegrityError:
            if on_conflict is None:
                raise
            raise on_conflict from None
        rendered = rendering.render(rows, self.space)
        self.events.append(events.record(self.space, events.MATERIAL_ADD, {"materials": rendered}))
        return rendered

    def store(self, temp_path: str, key: str, content_type: str | None = None) -> None:
        """Move a staged file to ``key`` now, so the commit never lands without the bytes."""
        self.stored.append(key)  # first: a move that fails half-way is undone too
        self.state.storage.put_file(temp_path, key, content_type)

    def changed(self, rows: Sequence[Media], *, released: Iterable[str] = ()) -> list[dict[str, Any]]:
        """Record ``rows`` (ORM rows of the space, already modified) and their ``material_rename`` event.

        ``released`` names storage keys the rows no longer use (bytes replaced).
        """
        self.state.session.flush()
        self.released.update(k for k in released if k)
        rendered = rendering.render(rows, self.space)
        if rendered:
            self.events.append(events.record(self.space, events.MATERIAL_RENAME, {"materials": rendered}))
        return rendered

    def delete(self, *, ids: Sequence[int] | None = None, where: ColumnElement[bool] | None = None) -> list[int]:
        """Delete rows of the space among ``ids`` and/or matching ``where``; returns the ids deleted.

        Ids that are not there are skipped. The order is that of ``ids``, else ascending.
        """
        session = self.state.session
        base = [Media.space_pk == self.space.pk] + ([where] if where is not None else [])
        found: dict[int, tuple[str | None, str, int]] = {}
        columns = (Media.id, Media.storage_key, Media.uid, Media.version)
        if ids is None:
            found.update((i, (k, u, v)) for i, k, u, v in session.execute(select(*columns).where(*base)))
            deleted = sorted(found)
        else:
            for part in _chunks(list(dict.fromkeys(ids))):
                stmt = select(*columns).where(*base, Media.id.in_(part))
                found.update((i, (k, u, v)) for i, k, u, v in session.execute(stmt))
            deleted = [i for i in dict.fromkeys(ids) if i in found]
        if not deleted:
            return []
        if ids is None:
            session.execute(delete(Media).where(*base))
        else:
            for part in _chunks(deleted):
                session.execute(delete(Media).where(Media.id.in_(part)))
        self.released.update(k for k, _, _ in found.values() if k)
        self.retired.update((u, v) for _, u, v in found.values())
        self.events.append(events.record(self.space, events.MATERIAL_DELETE, {"materialIds": deleted}))
        return deleted

    def orphans(self) -> set[str]:
        """Released keys that nothing keeps alive (read in the transaction, the space serialised)."""
        session = self.state.session
        used: set[str] = set()
        for part in _chunks(sorted(self.released)):
            same_space = select(Media.storage_key).where(Media.space_pk == self.space.pk, Media.storage_key.in_(part))
            # Legacy rows may share keys across spaces; another space's uploaded file still owns its bytes.
            owners_elsewhere = select(Media.storage_key).where(
                Media.space_pk != self.space.pk, Media.file_name.is_not(None), Media.storage_key.in_(part)
            )
            used.update(session.execute(same_space.union(owners_elsewhere)).scalars())
        return self.released - used


@contextlib.contextmanager
def transaction(space: Space) -> Iterator[Transaction]:
    """One all-or-nothing write to ``space``'s media; see the module's docstring for the sequence."""
    state = get_state()
    tx = Transaction(state, space)
    space_pk = space.pk
    try:
        events.serialise_space(space)
        yield tx
        orphans = tx.orphans()
        state.session.commit()
    except BaseException:
        state.session.rollback()
        for key in tx.stored:
            state.storage.delete(key)
        raise
    if tx.events:
        generations.bump(space_pk)  # answers derived from the space's media are stale now
    for key in orphans:  # after the commit: a failed commit must not lose bytes
        state.storage.delete(key)
    _drop_renditions(state, tx.retired)
    for event in tx.events:
        events.announce(event)


def _drop_renditions(state: MediaLibState, retired: Iterable[tuple[str, int]]) -> None:
    """Delete the rendition objects of media versions that no row shows any more (storages that keep them)."""
    if not state.storage.stores_renditions or not retired:
        return
    installation = identity.installation_id(state)
    for uid, version in sorted(retired):
        try:
            state.storage.delete_prefix(keys.rendition_prefix(installation, uid, version))
        except HTTPError as exc:
            # Committed already: the change stands, and no URL of this version is issued again
            # (presigned ones end with their lifetime); the log names what to remove by hand.
            log.warning("renditions of media %s v%s were not deleted: %s", uid, version, exc.message)


# -- one-call forms ------------------------------------------------------------------


def create(
    space: Space,
    rows: list[dict[str, Any]],
    *,
    staged: dict[str, str] | None = None,
    on_conflict: MediaLibError | None = None,
) -> list[dict[str, Any]]:
    """Insert ``rows`` into ``space``, all or nothing; ``staged`` maps storage keys to staging files."""
    with transaction(space) as tx:
        rendered = tx.add(rows, on_conflict=on_conflict)
        mimes = {row.get("storage_key"): row.get("mime") for row in rows}
        for key, temp_path in (staged or {}).items():
            tx.store(temp_path, key, mimes.get(key))
    return rendered


def replace(
    space: Space,
    media: Media,
    *,
    staged: tuple[str, str] | None = None,
    stored_key: str | None = None,
    **values: Any,
) -> dict[str, Any]:
    """Change one row in place (``values`` are column values); ``staged`` is (staging file, new key).

    ``stored_key`` names new bytes already in storage (a direct upload to the bucket) instead.

    New bytes get a new key and a new ``version`` (derived artefacts of the
    old bytes are never served again); the old bytes go after the commit
    unless something else in the space still references them.
    """
    with transaction(space) as tx:
        released: list[str] = []
        if staged is not None or stored_key is not None:
            if staged is not None:
                temp_path, key = staged
                tx.store(temp_path, key, values.get("mime", media.mime))
            else:
                key = str(stored_key)
            if media.storage_key:
                released.append(media.storage_key)
            tx.retired.add((media.uid, media.version))  # renditions of the old bytes
            media.storage_key = key
            media.version = (media.version or 1) + 1
        for name, value in values.items():
            setattr(media, name, value)
        (rendered,) = tx.changed([media], released=released)
    return rendered


def delete_rows(
    space: Space, *, ids: Sequence[int] | None = None, where: ColumnElement[bool] | None = None
) -> list[int]:
    """Delete rows of ``space`` (by ``ids`` and/or ``where``), all or nothing; returns the ids deleted."""
    with transaction(space) as tx:
        return tx.delete(ids=ids, where=where)


# -- staging files -----------------------------------------------------------------------

# A process sweeps at most this often on its own (uploads call it; init_app and the CLI force it).
SWEEP_EVERY = dt.timedelta(minutes=10)


def sweep_staging(state: MediaLibState | None = None, *, force: bool = False) -> int:
    """Remove staging files older than ``MEDIALIB_STAGING_MAX_AGE`` (uploads killed mid-way); returns how many."""
    state = state or get_state()
    if not state.due("sweep-staging", SWEEP_EVERY, force=force):
        return 0
    cutoff = state.clock().replace(tzinfo=dt.UTC).timestamp() - state.config["MEDIALIB_STAGING_MAX_AGE"]
    return state.storage.sweep_staging(cutoff)


def sweep_renditions(
    state: MediaLibState | None = None, *, dry_run: bool = False, on_page: Callable[[int, int], None] | None = None
) -> tuple[int, int]:
    """Remove rendition objects of media versions that no row shows: (objects looked at, removed).

    What a delete or replace misses: a render that was running when the change
    committed writes its object afterwards, and a folder delete that failed
    after the commit leaves one (both logged, neither reachable by any URL).
    Each page of the listing is judged against the rows read *after* it was
    listed: an object of version N exists only once a row of version N was
    committed, so a row that is gone or newer then means the object is garbage.
    Only this installation's folder is read; other installations sharing the
    bucket are not ours to judge. ``on_page(looked_at, removed)`` reports progress.
    """
    state = state or get_state()
    if not state.storage.stores_renditions:
        return 0, 0
    root = keys.renditions_root(identity.installation_id(state))
    looked_at = removed = 0
    for page in state.storage.list_objects(root):
        versions: dict[str, tuple[str, int]] = {}
        for key, _size in page:
            parts = key[len(root) :].split("/")
            # r/<installation>/<uid>/v<version>/<name>; anything else under it is not ours to remove.
            if len(parts) == 3 and parts[1][:1] == "v" and parts[1][1:].isdigit():
                versions[key] = (parts[0], int(parts[1][1:]))
        current: dict[str, int] = {}
        for part in _chunks(sorted({uid for uid, _ in versions.values()})):
            rows = state.session.execute(select(Media.uid, Media.version).where(Media.uid.in_(part)))
            current.update((uid, version) for uid, version in rows)
        state.session.rollback()  # a read; the next page reads what is committed by then
        stale = [key for key, (uid, version) in versions.items() if version < current.get(uid, version + 1)]
        if not dry_run:
            state.storage.delete_keys(stale)
        looked_at += len(page)
        removed += len(stale)
        if on_page is not None:
            on_page(len(page), len(stale))
    return looked_at, removed


# -- inserting many rows fast ------------------------------------------------------------


def _chunks(values: list[Any]) -> Iterator[list[Any]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


def _insert_rows(rows: list[dict[str, Any]]) -> None:
    """Insert ``rows`` in the session's transaction, setting each one's ``id`` (ascending in order).

    A Core executemany without RETURNING: building ORM objects and one huge
    INSERT ... RETURNING cost several times more for a 1000-item batch. The
    ids are taken first: on PostgreSQL from the table's sequence; on SQLite
    by inserting the first row alone, after which this transaction holds the
    database's only write lock until the commit (the space is serialised), so
    nobody else can take the ids that follow it.
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
