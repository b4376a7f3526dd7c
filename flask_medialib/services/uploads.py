"""SMH upload sessions: begin -> bytes straight to the store -> confirm (SMH contract, section 4.1).

A session names where the bytes go and what they become. Its bytes go

- on ``s3``, simple uploads: to the bucket, by a presigned PUT of exactly the
  announced size (they never pass through the app);
- on ``s3``, multipart (the SDKs build part URLs as
  ``{path}?partNumber=n&uploadId=...``, which no presigned URL survives): to
  the extension's own signed upload URL, each part streamed through a local
  temporary file into an object of the bucket (``<key>.parts/<n>``), so any
  web host may take any part; confirm reads them once (CRC-64, probe) and
  joins them inside the bucket into the media's key;
- on local storage: to the extension's own signed upload URL, streamed into a
  staging file under the storage root (parts into ``<staging>.<n>``).

Every body is size-capped by what the session announced.

Confirm checks the size and the CRC-64/XZ, probes the bytes and makes them a
media through the single write path (:mod:`.media`), in the transaction that
marks the session confirmed. Sessions past their expiry are swept with
their bytes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import glob
import hashlib
import json
import logging
import os
import re
import secrets
from typing import IO, Any

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import delete, select, update

from .. import auth
from ..crc import crc64_file
from ..errors import HTTPError, MediaError, bad_request, conflict, forbidden, not_found
from ..imaging.probe import probe_media
from ..models import IMAGE, VIDEO, Album, Media, Space, UploadSession
from ..state import MediaLibState, get_state
from . import library as lib
from . import media as media_service

log = logging.getLogger("flask_medialib")

ASK, RENAME, OVERWRITE = "ask", "rename", "overwrite"
STRATEGIES = (ASK, RENAME, OVERWRITE)
OPEN, CONFIRMING, CONFIRMED, ABORTED = "open", "confirming", "confirmed", "aborted"
MAX_PARTS = 10_000
SWEEP_EVERY = dt.timedelta(minutes=1)
# Rows stay this long past their expiry: a presigned PUT that started just before it may still land,
# and the sweep deletes what it wrote.
SWEEP_GRACE = dt.timedelta(minutes=15)
_CHUNK = 1024 * 1024


@dataclasses.dataclass(frozen=True)
class Target:
    """Where the client sends the bytes: ``url`` (absolute) or a ``path`` on the app; with ``headers``."""

    url: str | None
    path: str | None
    headers: dict[str, str]
    expires: dt.datetime


def _exists(where: lib.Folder, name: str) -> Media | None:
    stmt = select(Media).where(
        Media.space_pk == where.space.pk, Media.folder_pk == where.folder_pk, Media.file_name == name
    )
    return get_state().session.execute(stmt).scalar_one_or_none()


def begin(
    where: lib.Folder,
    name: str,
    *,
    size: int,
    strategy: str,
    multipart: bool,
    meta: dict[str, str],
    user: str | None,
) -> tuple[UploadSession, str]:
    """A new session (committed) and its confirm key; every check is made before anything is stored."""
    state = get_state()
    lib.check_name(name, "file name")
    limit = state.config["MEDIALIB_MAX_UPLOAD_BYTES"]
    if size > limit:
        raise lib.too_large(limit)
    if size == 0:
        raise bad_request("filesize is 0: an empty file is not an image or a video", "EmptyFile")
    if strategy not in STRATEGIES:
        raise bad_request(f"conflict_resolution_strategy must be one of {', '.join(STRATEGIES)}, not {strategy!r}")
    if strategy == ASK and _exists(where, name) is not None:
        raise conflict(f"a file named {name!r} already exists here", "SameNameDirectoryOrFileExists")
    sweep(state)
    now = state.clock()
    confirm_key = secrets.token_urlsafe(32)
    row = UploadSession(
        key_hash=auth.digest(confirm_key),
        space_pk=where.space.pk,
        album_pk=where.album.pk if where.album else None,
        file_name=name,
        strategy=strategy,
        size=size,
        multipart=multipart,
        upload_id=secrets.token_hex(16) if multipart else None,
        meta_data=json.dumps(meta, sort_keys=True) if meta else None,
        user_id=user,
        state=OPEN,
        created_at=now,
        expires_at=now + dt.timedelta(seconds=state.config["MEDIALIB_UPLOAD_SESSION_TTL"]),
    )
    if hasattr(state.storage, "compose"):
        # In the bucket, never on one host's disk; never named after the client's file: confirm
        # copies (simple) or joins (multipart, parts under ``<key>.parts/``) the bytes into a key
        # typed by the probe.
        row.storage_key = state.storage.new_key("")
    else:
        handle, row.staging_path = state.storage.temp_file()
        handle.close()
    state.session.add(row)
    state.session.commit()
    return row, confirm_key


def find(space: Space, confirm_key: str) -> UploadSession:
    """The session of ``confirm_key`` in ``space``, or SMH's 404 ``ConfirmKeyNotFound`` (expired ones too)."""
    state = get_state()
    stmt = select(UploadSession).where(
        UploadSession.key_hash == auth.digest(confirm_key), UploadSession.space_pk == space.pk
    )
    row = state.session.execute(stmt).scalar_one_or_none()
    if row is None or row.state == ABORTED or (row.state == OPEN and row.expires_at <= state.clock()):
        raise not_found("no upload session has this confirm key (unknown, aborted or expired)", "ConfirmKeyNotFound")
    return row


def target(row: UploadSession, upload_path: str) -> Target:
    """Where the bytes of ``row`` go: a presigned PUT (s3, simple) or ``upload_path`` (the app's URL)."""
    state = get_state()
    seconds = max(int((row.expires_at - state.clock()).total_seconds()), 1)
    if row.storage_key is not None and not row.multipart:
        url = state.storage.presign_put(row.storage_key, seconds, row.size)  # type: ignore[attr-defined]
        return Target(url, None, {}, row.expires_at)
    return Target(None, upload_path, {}, row.expires_at)


def renew(row: UploadSession) -> UploadSession:
    """A multipart session lives another TTL from now (SMH renews multipart sessions only)."""
    state = get_state()
    if not row.multipart:
        raise bad_request("only multipart upload sessions can be renewed", "NotMultipartUpload")
    _require_open(row)
    row.expires_at = state.clock() + dt.timedelta(seconds=state.config["MEDIALIB_UPLOAD_SESSION_TTL"])
    state.session.commit()
    return row


def _require_open(row: UploadSession) -> None:
    if row.state != OPEN:
        raise conflict("this upload is confirmed already", "UploadComplete")


# -- the extension's own upload URL ------------------------------------------------


def _serializer(state: MediaLibState) -> URLSafeSerializer:
    return URLSafeSerializer(state.signing_secret, salt="medialib-upload-v1")


def upload_token(row: UploadSession) -> str:
    """The signed token of the extension's upload URL of ``row`` (valid while the session is)."""
    return str(_serializer(get_state()).dumps([row.pk, row.upload_id or ""]))


def receive(token: str, stream: IO[bytes], *, part_number: int | None, upload_id: str | None) -> str:
    """Write the body of an upload URL into the session's staging file or part; returns its ETag."""
    state = get_state()
    try:
        pk, expected_upload_id = _serializer(state).loads(token)
    except (BadSignature, ValueError, TypeError):
        raise forbidden("this upload URL is not valid", "InvalidSignature") from None
    row = state.session.get(UploadSession, pk)
    ours = row is not None and (row.staging_path is not None or (row.multipart and row.storage_key is not None))
    if row is None or not ours or row.state != OPEN or row.expires_at <= state.clock():
        raise forbidden("Request has expired: begin the upload again", "RequestExpired")
    if not row.multipart:
        if part_number is not None:
            raise bad_request("this upload session is not multipart: send the whole file without partNumber")
        assert row.staging_path is not None
        path, cap = row.staging_path, row.size
        state.session.rollback()  # no transaction held open while the bytes arrive (``row`` is expired now)
        return _receive_file(stream, path, cap)
    if part_number is None or upload_id != expected_upload_id:
        raise bad_request("a multipart upload URL takes ?partNumber=n&uploadId=... of its session")
    if not 1 <= part_number <= MAX_PARTS:
        raise bad_request(f"partNumber must be between 1 and {MAX_PARTS}")
    staging, storage_key, size = row.staging_path, row.storage_key, row.size
    state.session.rollback()
    # All parts together hold at most the announced size: 10,000 parts cannot fill the disk (or the bucket).
    if staging is not None:
        path = _part_path(staging, part_number)
        return _receive_file(stream, path, size - sum(_size(p) for p in _parts(staging) if p != path))
    assert storage_key is not None
    key = _part_key(storage_key, part_number)
    others = sum(length for part, length in _stored_parts(state, storage_key).items() if part != key)
    handle, temp = state.storage.temp_file()
    try:
        with handle:
            etag = _copy_capped(stream, handle, size - others)
        state.storage.put_file(temp, key)  # the same key again for a retried part: the last one counts
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
    return etag


def _receive_file(stream: IO[bytes], path: str, cap: int) -> str:
    # Written beside the target and renamed: a retried or concurrent part never leaves a torn file.
    temp = f"{path}.{secrets.token_hex(4)}.tmp"
    try:
        with open(temp, "wb") as out:
            etag = _copy_capped(stream, out, cap)
        os.replace(temp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
    return etag


def _copy_capped(stream: IO[bytes], out: IO[bytes], cap: int) -> str:
    """Copy ``stream`` to ``out``, at most ``cap`` bytes (else 413); the quoted MD5 ETag of what it copied."""
    digest = hashlib.md5(usedforsecurity=False)
    size = 0
    while chunk := stream.read(_CHUNK):
        size += len(chunk)
        if size > cap:
            raise HTTPError(
                "the bytes exceed the size announced at begin (filesize)", status=413, code="RequestEntityTooLarge"
            )
        out.write(chunk)
        digest.update(chunk)
    return f'"{digest.hexdigest()}"'


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except FileNotFoundError:  # a part being replaced, or a session being aborted
        return 0


def _part_path(staging: str, number: int) -> str:
    return f"{staging}.{number:05d}"


def _parts(staging: str) -> list[str]:
    return sorted(p for p in glob.glob(glob.escape(staging) + ".*") if re.fullmatch(r"\d{5}", p.rsplit(".", 1)[1]))


def _parts_folder(storage_key: str) -> str:
    """Where the parts of a multipart session on s3 wait for confirm: objects beside its key."""
    return f"{storage_key}.parts/"


def _part_key(storage_key: str, number: int) -> str:
    return f"{_parts_folder(storage_key)}{number:05d}"


def _stored_parts(state: MediaLibState, storage_key: str) -> dict[str, int]:
    """Part key -> size, of the parts in the bucket (at most 10,000: ten pages of the listing)."""
    return {key: size for page in state.storage.list_objects(_parts_folder(storage_key)) for key, size in page}


# -- confirm -----------------------------------------------------------------------


def confirm(row: UploadSession, crc64: str | None, *, user: str | None) -> Media:
    """Make the session's bytes a media (size and CRC checked, probed, one write-path transaction).

    The session is claimed first (open -> confirming, committed), so of two
    confirms racing one makes the media and the other is 409 ``UploadComplete``;
    a confirm that fails gives the session back (open again).
    """
    state = get_state()
    _require_open(row)
    pk = row.pk
    claimed = state.session.execute(
        update(UploadSession).where(UploadSession.pk == pk, UploadSession.state == OPEN).values(state=CONFIRMING)
    )
    state.session.commit()
    if claimed.rowcount != 1:
        raise conflict("this upload is confirmed already", "UploadComplete")
    try:
        return _confirm(row, crc64, user=user)
    except BaseException:
        state.session.rollback()
        reopen = update(UploadSession).where(UploadSession.pk == pk, UploadSession.state == CONFIRMING)
        state.session.execute(reopen.values(state=OPEN))
        state.session.commit()
        raise


def _confirm(row: UploadSession, crc64: str | None, *, user: str | None) -> Media:
    state = get_state()
    space = state.session.get(Space, row.space_pk)
    assert space is not None  # a session goes with its space (ON DELETE CASCADE)
    if row.storage_key is not None and row.multipart:
        folder = _parts_folder(row.storage_key)
        parts = _ordered_parts(state, row, row.storage_key)
        # Read once for the CRC and the probe; then joined inside the bucket straight into the
        # media's key, or (parts S3 cannot join) the copy read here is what is stored.
        with state.storage.open_joined([key for key, _ in parts]) as path:  # type: ignore[attr-defined]
            media = _finish(row, space, path, crc64, stored_key=None, parts=parts, user=user)
        _drop_parts(state, folder)
        return media
    if row.storage_key is not None:
        try:
            stored = state.storage.size(row.storage_key)
        except FileNotFoundError:
            stored = -1
        if stored != row.size:
            raise _incomplete(row.size)
        with state.storage.open_local(row.storage_key) as path:
            return _finish(row, space, path, crc64, stored_key=row.storage_key, user=user)
    assert row.staging_path is not None
    if row.multipart:
        _join_parts(row)
    if not os.path.isfile(row.staging_path) or os.path.getsize(row.staging_path) != row.size:
        raise _incomplete(row.size)
    return _finish(row, space, row.staging_path, crc64, stored_key=None, user=user)


def _incomplete(size: int) -> HTTPError:
    return bad_request(f"the upload is incomplete: fewer or more than the {size} bytes announced", "UploadIncomplete")


def _ordered_parts(state: MediaLibState, row: UploadSession, storage_key: str) -> list[tuple[str, int]]:
    """(key, size) of parts 1..n in the bucket, in order; UploadIncomplete unless they hold the announced size."""
    parts = _stored_parts(state, storage_key)
    numbers = sorted(int(key.rsplit("/", 1)[1]) for key in parts)
    if not parts or numbers != list(range(1, len(parts) + 1)) or sum(parts.values()) != row.size:
        raise _incomplete(row.size)
    return [(_part_key(storage_key, n), parts[_part_key(storage_key, n)]) for n in numbers]


def _drop_parts(state: MediaLibState, folder: str) -> None:
    try:
        state.storage.delete_prefix(folder)
    except HTTPError as exc:  # the media stands; the parts are garbage the log names
        log.warning("the parts under %s were not deleted: %s", folder, exc.message)


def _join_parts(row: UploadSession) -> None:
    """Join parts 1..n (contiguous, as SMH requires) into the staging file; missing ones are UploadIncomplete."""
    assert row.staging_path is not None
    parts = _parts(row.staging_path)
    numbers = [int(p.rsplit(".", 1)[1]) for p in parts]
    if not parts or numbers != list(range(1, len(parts) + 1)):
        raise _incomplete(row.size)
    if sum(os.path.getsize(p) for p in parts) != row.size:
        raise _incomplete(row.size)
    with open(row.staging_path, "wb") as out:
        for part in parts:
            with open(part, "rb") as src:
                while chunk := src.read(_CHUNK):
                    out.write(chunk)
    for part in parts:
        os.unlink(part)


def _finish(
    row: UploadSession,
    space: Space,
    path: str,
    crc64: str | None,
    *,
    stored_key: str | None,
    user: str | None,
    parts: list[tuple[str, int]] | None = None,
) -> Media:
    state = get_state()
    actual = crc64_file(path)
    if crc64 is not None and crc64 != actual:
        raise bad_request(f"crc64 {crc64} does not match the bytes received ({actual})", "BadCrc64")
    try:
        info = probe_media(path, max_pixels=state.config["MEDIALIB_MAX_IMAGE_PIXELS"])
    except MediaError as exc:
        raise HTTPError(
            f"{row.file_name!r} is not an image or a video we can read ({exc.__class__.__name__}); "
            "upload an image (JPEG, PNG, GIF, WebP, HEIC ...) or a video (MP4, MOV, WebM ...)",
            status=400,
            code="ExtnameNotAllowed",
        ) from None
    album = state.session.get(Album, row.album_pk) if row.album_pk is not None else None
    if row.album_pk is not None and album is None:
        raise not_found("the album of this upload does not exist any more", "DirectoryNotFound")
    where = lib.Folder(space.library, space, album)
    key = state.storage.new_key(info.ext)
    if parts is not None and state.storage.compose(parts, key, info.mime):  # type: ignore[attr-defined]
        try:
            return _commit(row, where, info.mime, _values(row, info, actual, user), stored=key)
        except BaseException:
            state.storage.delete(key)
            raise
    if stored_key is None:
        return _commit(row, where, info.mime, _values(row, info, actual, user), staged=(path, key))
    # The presigned PUT wrote a key with no type: a server-side copy gives the bytes a key and a
    # Content-Type from the probe, as every other upload has.
    state.storage.copy(stored_key, key, info.mime)  # type: ignore[attr-defined]
    try:
        media = _commit(row, where, info.mime, _values(row, info, actual, user), stored=key)
    except BaseException:
        state.storage.delete(key)
        raise
    state.storage.delete(stored_key)
    return media


def _values(row: UploadSession, info: Any, crc64: str, user: str | None) -> dict[str, Any]:
    now = get_state().clock()
    return {
        "kind": IMAGE if info.kind == "image" else VIDEO,
        "mime": info.mime,
        "width": info.width,
        "height": info.height,
        "size": row.size,
        "duration": info.duration,
        "update_user": user or row.user_id,
        "updated_at": now,
        "crc64": crc64,
        "meta_data": row.meta_data,
    }


def _commit(
    row: UploadSession,
    where: lib.Folder,
    mime: str,
    values: dict[str, Any],
    *,
    staged: tuple[str, str] | None = None,
    stored: str | None = None,
) -> Media:
    """The media of the session, through the single write path: new bytes from ``staged`` (staging
    file, key) or already ``stored`` under a key; the session is marked confirmed in the same transaction."""
    state = get_state()
    space = where.space
    existing = _exists(where, row.file_name)
    if existing is not None and row.strategy == OVERWRITE:
        _mark_confirmed(row, existing.id)  # committed by (or rolled back with) the replace
        media_service.replace(space, existing, staged=staged, stored_key=stored, **values)
        state.session.refresh(existing)
        return existing
    if existing is not None and row.strategy == ASK:
        raise conflict(f"a file named {row.file_name!r} already exists here", "SameNameDirectoryOrFileExists")
    name = _free_file_name(where, row.file_name) if existing is not None else row.file_name
    new = media_service.new_row(
        album_pk=row.album_pk,
        folder_pk=where.folder_pk,
        file_name=name,
        name=name,
        storage_key=stored or (staged[1] if staged else None),
        create_user=values["update_user"],
        created_at=values["updated_at"],
        uploaded_at=values["updated_at"],
        **values,
    )
    exists = conflict(f"a file named {name!r} already exists here", "SameNameDirectoryOrFileExists")
    with media_service.transaction(space) as tx:
        tx.add([new], on_conflict=exists)
        if staged is not None:
            tx.store(staged[0], staged[1], mime)
        _mark_confirmed(row, new["id"])
    media = state.session.get(Media, new["id"])
    assert media is not None  # committed just now
    return media


def _mark_confirmed(row: UploadSession, media_id: int) -> None:
    # In the media's transaction: the sweep never deletes bytes a media now holds.
    row.state, row.media_id, row.storage_key = CONFIRMED, media_id, None


def _free_file_name(where: lib.Folder, name: str) -> str:
    """``a.jpg``, else ``a(1).jpg``, ``a(2).jpg`` ... (SMH's ``rename`` strategy)."""
    stem, ext = os.path.splitext(name)
    candidate, n = name, 0
    while _exists(where, candidate) is not None:
        n += 1
        candidate = lib.check_name(f"{stem}({n}){ext}", "file name")
    return candidate


# -- abort and expiry --------------------------------------------------------------


def abort(row: UploadSession) -> None:
    """Drop an open session's bytes (a confirmed one is a media now: 409 ``UploadComplete``).

    The row stays, aborted, until the sweep: a presigned PUT cannot be revoked, so
    bytes sent to it after the abort are deleted again once it has expired.
    """
    _require_open(row)
    state = get_state()
    _drop_bytes(state, row)
    row.state = ABORTED
    state.session.commit()


def _drop_bytes(state: MediaLibState, row: UploadSession) -> None:
    if row.storage_key:
        state.storage.delete(row.storage_key)
        if row.multipart:
            state.storage.delete_prefix(_parts_folder(row.storage_key))
    if row.staging_path:
        for path in [row.staging_path, *_parts(row.staging_path)]:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)


def sweep(state: MediaLibState | None = None, *, force: bool = False) -> int:
    """Remove sessions expired for :data:`SWEEP_GRACE`, with the bytes of unconfirmed ones; returns how many.

    Runs at most once a minute per process on its own (begin calls it); the CLI forces it.
    """
    state = state or get_state()
    if not state.due("sweep-upload-sessions", SWEEP_EVERY, force=force):
        return 0
    now = state.clock()
    stmt = select(UploadSession).where(UploadSession.expires_at <= now - SWEEP_GRACE)
    expired = list(state.session.execute(stmt).scalars())
    for row in expired:
        if row.state != CONFIRMED:  # a confirmed session's key is a media's bytes now
            _drop_bytes(state, row)
    if expired:
        state.session.execute(delete(UploadSession).where(UploadSession.pk.in_([r.pk for r in expired])))
        state.session.commit()
    return len(expired)
