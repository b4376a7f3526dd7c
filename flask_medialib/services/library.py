"""Libraries, spaces, albums and uploaded files."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import IO, BinaryIO

from sqlalchemy import delete, func, or_, select
from sqlalchemy.exc import IntegrityError

from .. import auth, generations
from ..crc import crc64_file
from ..errors import HTTPError, MediaError, bad_request, conflict, not_found
from ..imaging.probe import probe_media
from ..models import IMAGE, VIDEO, AccessToken, Album, Library, Media, Space
from ..state import get_state
from . import media as media_service

ROOT_SPACE = "-"
_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
_CHUNK = 1024 * 1024


def check_id(value: str, what: str) -> str:
    if not _ID_RE.fullmatch(value or ""):
        raise bad_request(f"{what} {value!r} must be 1 to 64 letters, digits, '_' or '-'")
    return value


def check_name(value: str, what: str = "name") -> str:
    """A file or album name: no path tricks, no control characters, at most 255 bytes (SMH's codes)."""
    directory = "album" in what or "directory" in what
    if not value or not value.strip():
        raise bad_request(f"the {what} must not be empty", "ParamInvalid" if directory else "EmptyFileName")
    if "/" in value or "\\" in value or ".." in value:
        raise bad_request(f"the {what} {value!r} must not contain '/', '\\' or '..'", "IllegalFileName")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise bad_request(f"the {what} must not contain NUL or other control characters", "IllegalFileName")
    if len(value.encode("utf-8")) > 255:
        code = "DirectoryNameLengthExceed" if directory else "FileNameLengthExceed"
        raise bad_request(f"the {what} is longer than 255 bytes", code)
    if value in {".", "-"}:
        raise bad_request(f"the {what} {value!r} is reserved", "IllegalFileName")
    return value


# -- libraries and spaces ---------------------------------------------------


def create_library(
    library_id: str, *, multi_tenant: bool = False, album_based: bool = False, public_read: bool = False
) -> tuple[Library, str]:
    """Create a library and, when single-tenant, its one space ``-``; returns the secret once."""
    state = get_state()
    check_id(library_id, "library id")
    if state.session.get(Library, library_id) is not None:
        raise conflict(f"library {library_id!r} already exists", "LibraryAlreadyExists")
    secret = auth.new_secret()
    now = state.clock()
    library = Library(
        id=library_id,
        multi_tenant=multi_tenant,
        album_based=album_based,
        public_read=public_read,
        secret_hash=auth.digest(secret),
        created_at=now,
    )
    state.session.add(library)
    if not multi_tenant:
        state.session.add(Space(library=library, space_id=ROOT_SPACE, public_read=public_read, created_at=now))
    state.session.commit()
    return library, secret


def get_library(library_id: str) -> Library:
    library = get_state().session.get(Library, library_id)
    if library is None:
        raise not_found(f"library {library_id!r} does not exist", "LibraryNotFound")
    return library


def list_libraries() -> list[Library]:
    return list(get_state().session.execute(select(Library).order_by(Library.id)).scalars())


# SMH: lowercase letters, digits and '-', 2 to 32 characters, no '-' at either end.
_SPACE_ID_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,30}[a-z0-9]")


def create_space(
    library: Library, space_id: str | None = None, *, public_read: bool = False, created_by: str | None = None
) -> Space:
    state = get_state()
    if not library.multi_tenant:
        raise bad_request(f"library {library.id!r} is single-tenant: its one space is '-'", "NotMultiSpaceLibrary")
    if space_id is None:
        space_id = "space" + secrets.token_hex(5)
    if not _SPACE_ID_RE.fullmatch(space_id):
        raise bad_request(
            f"space id {space_id!r} must be 2 to 32 lowercase letters, digits or '-', not starting or ending with '-'",
            "SpaceIdInvalid",
        )
    space = Space(
        library_id=library.id,
        space_id=space_id,
        public_read=public_read,
        created_by=created_by,
        created_at=state.clock(),
    )
    state.session.add(space)
    try:
        state.session.commit()
    except IntegrityError:
        state.session.rollback()
        raise conflict(f"space {space_id!r} already exists", "SpaceAlreadyExists") from None
    return space


def new_space_id(library: Library, space_id: str | None, bound: frozenset[int] | None) -> str | None:
    """The id a create-space call asks for; None lets the server pick one.

    The SDKs' clients fill ``space_id`` with their default space on every call,
    so a create through a client bound to space ``s`` sends ``space_id=s`` (the
    JS SDK's own space-api test does). An existing space the token is bound to
    is that default, not a wish for a duplicate: the server picks the id.
    """
    if space_id is None or bound is None:
        return space_id
    stmt = select(Space.pk).where(Space.library_id == library.id, Space.space_id == space_id)
    pk = get_state().session.execute(stmt).scalar_one_or_none()
    return None if pk is not None and pk in bound else space_id


def list_spaces(library: Library) -> list[Space]:
    stmt = select(Space).where(Space.library_id == library.id).order_by(Space.created_at, Space.pk)
    return list(get_state().session.execute(stmt).scalars())


@dataclass(frozen=True)
class SpacePage:
    spaces: list[Space]
    marker: str | None  # None on the last page


def list_spaces_page(
    library: Library,
    *,
    created_by: str | None,
    all_users: bool,
    marker: str | None,
    limit: int,
    ordered: bool,
    prefix: str | None,
    start_name: str | None,
) -> SpacePage:
    """SMH's space list: by creation, or by id with ``ordered`` (then ``prefix``/``start_name``).

    The marker is where the page ended: the last pk (by creation) or the last
    space id (ordered); ``marker`` wins over ``start_name``. Without
    ``all_users`` (an admin token) only the spaces ``created_by`` made show.
    """
    stmt = select(Space).where(Space.library_id == library.id)
    if not all_users:
        if created_by is None:
            return SpacePage([], None)
        stmt = stmt.where(Space.created_by == created_by)
    if ordered:
        if prefix:
            stmt = stmt.where(Space.space_id.startswith(prefix, autoescape=True))
        after = marker if marker is not None else start_name
        if after is not None:
            stmt = stmt.where(Space.space_id > after)
        stmt = stmt.order_by(Space.space_id)
    else:
        if marker is not None:
            if not marker.isdigit():
                raise not_found(f"marker {marker!r} is not one this list gave", "MarkerNotFound")
            stmt = stmt.where(Space.pk > int(marker))
        stmt = stmt.order_by(Space.pk)
    rows = list(get_state().session.execute(stmt.limit(limit + 1)).scalars())
    more = len(rows) > limit
    rows = rows[:limit]
    next_marker = (rows[-1].space_id if ordered else str(rows[-1].pk)) if more else None
    return SpacePage(rows, next_marker)


def delete_space(library: Library, space: Space, *, force: bool) -> None:
    """Delete a space; one holding albums or media only with ``force`` (then they go too)."""
    state = get_state()
    if not library.multi_tenant:
        raise bad_request(f"library {library.id!r} is single-tenant: its space '-' stays", "NotMultiSpaceLibrary")
    media = list(state.session.execute(select(Media).where(Media.space_pk == space.pk)).scalars())
    albums = state.session.execute(select(Album.pk).where(Album.space_pk == space.pk).limit(1)).first()
    if (media or albums) and not force:
        raise conflict(f"space {space.space_id!r} is not empty; delete it with force=1", "SpaceNotEmpty")
    if media:
        delete_media(media)  # the one write path: rows, events, bytes
    space_pk = space.pk
    # Tokens bound to the space go with it: SQLite may reuse its pk for a later space.
    bound = or_(AccessToken.space_pk == space_pk, AccessToken.space_list.is_not(None))
    for row in state.session.execute(select(AccessToken).where(AccessToken.library_id == library.id, bound)).scalars():
        pks = row.space_pks
        if pks is not None and space_pk in pks:
            state.session.delete(row)
    state.session.execute(delete(Album).where(Album.space_pk == space_pk))
    state.session.delete(space)
    state.session.commit()
    generations.bump(space_pk)


def _check_space_id(library: Library, space_id: str) -> None:
    if library.multi_tenant and space_id == ROOT_SPACE:
        raise not_found(f"library {library.id!r} is multi-tenant: name a space, '-' is not one", "SpaceNotFound")
    if not library.multi_tenant and space_id != ROOT_SPACE:
        raise not_found(f"library {library.id!r} is single-tenant: its one space is '-'", "SpaceNotFound")


def _space_missing(library: Library, space_id: str) -> HTTPError:
    return not_found(f"space {space_id!r} does not exist in library {library.id!r}", "SpaceNotFound")


def get_space(library: Library, space_id: str) -> Space:
    _check_space_id(library, space_id)
    stmt = select(Space).where(Space.library_id == library.id, Space.space_id == space_id)
    space = get_state().session.execute(stmt).scalar_one_or_none()
    if space is None:
        raise _space_missing(library, space_id)
    return space


def resolve(library_id: str, space_id: str) -> tuple[Library, Space]:
    """The library and its space from one query (most requests start here), or the 404 of either."""
    joined = (Space.library_id == Library.id) & (Space.space_id == space_id)
    stmt = select(Library, Space).outerjoin(Space, joined).where(Library.id == library_id)
    row = get_state().session.execute(stmt).one_or_none()
    if row is None:
        raise not_found(f"library {library_id!r} does not exist", "LibraryNotFound")
    library, space = row
    _check_space_id(library, space_id)
    if space is None:
        raise _space_missing(library, space_id)
    return library, space


# -- albums -----------------------------------------------------------------


def _require_albums(library: Library) -> None:
    if not library.album_based:
        raise bad_request(f"library {library.id!r} is not album-based: it has no directories", "DirectoryNotAllowed")


ASK, RENAME = "ask", "rename"


def create_album(library: Library, space: Space, name: str, strategy: str = ASK) -> Album:
    """A new album; an existing name is SMH's 409 (``ask``) or gets a free variant (``rename``)."""
    state = get_state()
    _require_albums(library)
    check_name(name, "album name")
    final = _free_album_name(space, name) if strategy == RENAME else name
    album = Album(space_pk=space.pk, name=final, created_at=state.clock())
    state.session.add(album)
    try:
        state.session.commit()
    except IntegrityError:
        state.session.rollback()
        raise conflict(f"album {final!r} already exists", "SameNameDirectoryOrFileExists") from None
    return album


def _album_exists(space: Space, name: str) -> bool:
    stmt = select(Album.pk).where(Album.space_pk == space.pk, Album.name == name)
    return get_state().session.execute(stmt).first() is not None


def _free_album_name(space: Space, name: str) -> str:
    """``name``, else ``name(1)``, ``name(2)`` ... (SMH's ``rename`` strategy)."""
    candidate, n = name, 0
    while _album_exists(space, candidate):
        n += 1
        candidate = f"{name}({n})"
        check_name(candidate, "album name")
    return candidate


def move_album(library: Library, space: Space, source: str, target: str, strategy: str = ASK) -> Album:
    """Rename album ``source`` to ``target``: it keeps its media (and so its cover)."""
    state = get_state()
    album = get_album(library, space, source)
    check_name(target, "album name")
    if target == source:
        return album
    final = _free_album_name(space, target) if strategy == RENAME else target
    if strategy != RENAME and _album_exists(space, final):
        raise conflict(f"album {final!r} already exists", "SameNameDirectoryOrFileExists")
    album.name = final
    try:
        state.session.commit()
    except IntegrityError:
        state.session.rollback()
        raise conflict(f"album {final!r} already exists", "SameNameDirectoryOrFileExists") from None
    generations.bump(space.pk)  # memoised covers are keyed by album name
    return album


def get_album(library: Library, space: Space, name: str) -> Album:
    _require_albums(library)
    stmt = select(Album).where(Album.space_pk == space.pk, Album.name == name)
    album = get_state().session.execute(stmt).scalar_one_or_none()
    if album is None:
        raise not_found(f"album {name!r} does not exist", "DirectoryNotFound")
    return album


def list_albums(library: Library, space: Space) -> list[Album]:
    _require_albums(library)
    stmt = select(Album).where(Album.space_pk == space.pk).order_by(Album.name)
    return list(get_state().session.execute(stmt).scalars())


def delete_album(library: Library, space: Space, name: str) -> int:
    """Delete an album and its media (one ``material_delete`` event); returns how many media went with it."""
    album = get_album(library, space, name)
    album_pk = album.pk
    with media_service.transaction(space) as tx:
        # Selected after the space is serialised: an upload landing meanwhile goes with the album, evented.
        deleted = tx.delete(where=Media.album_pk == album_pk)
        get_state().session.delete(album)
    return len(deleted)


# -- files ------------------------------------------------------------------


@dataclass(frozen=True)
class Folder:
    """Where a file goes: the space root (``album`` None) or an album."""

    library: Library
    space: Space
    album: Album | None

    @property
    def folder_pk(self) -> int:
        return self.album.pk if self.album else 0


def folder(library: Library, space: Space, album_name: str | None) -> Folder:
    if library.album_based and album_name is None:
        raise bad_request(
            f"library {library.id!r} is album-based: files go into an album (path AlbumName/FileName)",
            "UploadToRootDirectoryNotAllowed",
        )
    if not library.album_based and album_name is not None:
        raise bad_request(
            f"library {library.id!r} is not album-based: a file path has no album part", "DirectoryNotAllowed"
        )
    album = get_album(library, space, album_name) if album_name is not None else None
    return Folder(library, space, album)


def _segments(path: str) -> list[str]:
    return path.split("/") if path else []


def directory_path(library: Library, path: str) -> str | None:
    """The album a directory path names (None: the space root), or SMH's 400 for a deeper path.

    SMH clients send the path as one encoded segment (``a%2Fb``): it arrives here decoded.
    """
    parts = _segments(path.strip("/"))
    if not parts:
        return None
    if not library.album_based:
        raise bad_request(f"library {library.id!r} has no directories; {path!r} names one", "DirectoryNotAllowed")
    if len(parts) > 1:
        raise bad_request(f"an album-based library has one level of albums; {path!r} is deeper", "DirectoryLevelExceed")
    return check_name(parts[0], "album name")


def file_path(library: Library, space: Space, path: str) -> tuple[Folder, str]:
    """(folder, file name) of a file path: ``Album/Name`` in album-based libraries, ``Name`` otherwise."""
    parts = _segments(path)
    for part in parts[:-1]:
        check_name(part, "album name")  # a '..' is an illegal name before it is a deep path
    depth = 2 if library.album_based else 1
    if len(parts) > depth:
        code = "DirectoryLevelExceed" if library.album_based else "DirectoryNotAllowed"
        raise bad_request(f"the file path {path!r} is deeper than this library allows", code)
    name = check_name(parts[-1] if parts else "", "file name")
    album_name = parts[0] if len(parts) == 2 else None
    return folder(library, space, album_name), name


def find_file(where: Folder, name: str) -> Media:
    stmt = select(Media).where(
        Media.space_pk == where.space.pk, Media.folder_pk == where.folder_pk, Media.file_name == name
    )
    media = get_state().session.execute(stmt).scalar_one_or_none()
    if media is None:
        raise not_found(f"file {name!r} does not exist", "FileNotFound")
    return media


def list_files(where: Folder) -> list[Media]:
    stmt = (
        select(Media)
        .where(Media.space_pk == where.space.pk, Media.folder_pk == where.folder_pk)
        .order_by(Media.uploaded_at, Media.id)
    )
    return list(get_state().session.execute(stmt).scalars())


# SMH's ``order_by`` names, per kind of entry; upload time stands for creation (SMH: media libraries).
_MEDIA_ORDER = {
    "name": Media.file_name,
    "creationTime": Media.uploaded_at,
    "localCreationTime": Media.uploaded_at,
    "modificationTime": Media.updated_at,
    "size": Media.size,
}
_ALBUM_ORDER = {
    "name": Album.name,
    "creationTime": Album.created_at,
    "localCreationTime": Album.created_at,
    "modificationTime": Album.created_at,
    "size": Album.name,
}
ORDER_BY = frozenset(_MEDIA_ORDER)


@dataclass(frozen=True)
class Listing:
    """One page of a directory: albums (space root of an album library) or files."""

    albums: list[Album]
    media: list[Media]
    total: int  # entries of the whole directory, after ``only``
    dir_count: int
    file_count: int


def list_directory(
    library: Library,
    space: Space,
    album_name: str | None,
    *,
    order_by: str | None = None,
    descending: bool = False,
    only: str | None = None,
    offset: int = 0,
    limit: int = 20,
) -> Listing:
    """A page of a directory. The root of an album library holds albums only, an album or the
    root of a library without albums files only, so each page is of one kind."""
    session = get_state().session
    if library.album_based and album_name is None:
        dir_count = session.execute(select(func.count()).where(Album.space_pk == space.pk)).scalar_one()
        if only == "file":
            return Listing([], [], 0, dir_count, 0)
        album_key = _ALBUM_ORDER.get(order_by or "name", Album.name)
        album_order = [album_key.desc(), Album.pk.desc()] if descending else [album_key, Album.pk]
        albums = select(Album).where(Album.space_pk == space.pk).order_by(*album_order).offset(offset).limit(limit)
        return Listing(list(session.execute(albums).scalars()), [], dir_count, dir_count, 0)
    where = folder(library, space, album_name)
    scope = (Media.space_pk == space.pk, Media.folder_pk == where.folder_pk, Media.file_name.is_not(None))
    file_count = session.execute(select(func.count()).select_from(Media).where(*scope)).scalar_one()
    if only == "dir":
        return Listing([], [], 0, 0, file_count)
    key = _MEDIA_ORDER.get(order_by or "creationTime", Media.uploaded_at)
    order = [key.desc(), Media.id.desc()] if descending else [key, Media.id]
    stmt = select(Media).where(*scope).order_by(*order).offset(offset).limit(limit)
    return Listing([], list(session.execute(stmt).scalars()), file_count, 0, file_count)


def save_upload(
    where: Folder,
    name: str,
    stream: IO[bytes],
    *,
    user: str | None = None,
    uploaded_at: dt.datetime | None = None,
    meta: dict[str, str] | None = None,
) -> Media:
    """Store an image or video read from ``stream`` (one ``material_add`` event); nothing is kept if anything fails."""
    state = get_state()
    check_name(name, "file name")
    media_service.sweep_staging(state)  # uploads killed mid-way left staging files behind
    limit = state.config["MEDIALIB_MAX_UPLOAD_BYTES"]
    handle, temp_path = state.storage.temp_file()
    try:
        with handle:
            size = _copy_limited(stream, handle, limit)
        if size == 0:
            raise bad_request("the request body is empty: send the file's bytes", "EmptyFile")
        try:
            info = probe_media(temp_path, max_pixels=state.config["MEDIALIB_MAX_IMAGE_PIXELS"])
        except MediaError as exc:
            raise _unsupported(name, str(exc), temp_path) from None
        key = state.storage.new_key(info.ext)
        now = state.clock()
        row = media_service.new_row(
            album_pk=where.album.pk if where.album else None,
            folder_pk=where.folder_pk,
            file_name=name,
            name=name,
            kind=IMAGE if info.kind == "image" else VIDEO,
            mime=info.mime,
            storage_key=key,
            width=info.width,
            height=info.height,
            size=size,
            duration=info.duration,
            create_user=user,
            update_user=user,
            created_at=now,
            updated_at=now,
            uploaded_at=uploaded_at or now,
            crc64=crc64_file(temp_path),
            meta_data=json.dumps(meta, sort_keys=True) if meta else None,
        )
        exists = conflict(f"a file named {name!r} already exists here", "SameNameDirectoryOrFileExists")
        with media_service.transaction(where.space) as tx:
            # Checked with the space serialised: an album deleted meanwhile is a 404, not a key violation.
            if (
                where.album is not None
                and state.session.execute(select(Album.pk).where(Album.pk == where.album.pk)).first() is None
            ):
                raise not_found(f"album {where.album.name!r} does not exist", "DirectoryNotFound")
            tx.add([row], on_conflict=exists)
            tx.store(temp_path, key, info.mime)
        media = state.session.get(Media, row["id"])
        assert media is not None  # committed just now
        return media
    finally:
        if os.path.exists(temp_path):
            os.unlink(temp_path)


def _unsupported(name: str, detail: str, temp_path: str) -> HTTPError:
    """400 naming the client's file, not the staging file the probe saw."""
    staged = os.path.basename(temp_path)
    detail = detail.replace(temp_path, staged)
    detail = detail[len(staged) :].strip() if detail.startswith(staged) else detail.replace(staged, "the file")
    return HTTPError(
        f"{name!r} {detail} (its kind comes from its content, not its name); "
        "upload an image (JPEG, PNG, GIF, WebP, HEIC ...) or a video (MP4, MOV, WebM ...)",
        status=400,
        code="ExtnameNotAllowed",
    )


def too_large(limit: int) -> HTTPError:
    return HTTPError(
        f"the file is larger than {limit} bytes (MEDIALIB_MAX_UPLOAD_BYTES)", status=413, code="RequestEntityTooLarge"
    )


def _copy_limited(stream: IO[bytes], out: BinaryIO, limit: int) -> int:
    size = 0
    while chunk := stream.read(_CHUNK):
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
        out.write(chunk)
    return size


def delete_media(items: Iterable[Media]) -> list[int]:
    """Delete media (one ``material_delete`` event per space); all or nothing within each space."""
    by_space: dict[int, tuple[Space, list[int]]] = {}
    for media in items:
        by_space.setdefault(media.space_pk, (media.space, []))[1].append(media.id)
    deleted: list[int] = []
    for space, ids in by_space.values():
        deleted += media_service.delete_rows(space, ids=ids)
    return deleted
