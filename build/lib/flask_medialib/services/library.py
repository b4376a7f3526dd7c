"""Libraries, spaces, albums and uploaded files."""

from __future__ import annotations

import datetime as dt
import os
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import IO, BinaryIO

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from .. import auth, generations
from ..errors import HTTPError, MediaError, bad_request, conflict, not_found
from ..imaging.probe import probe_media
from ..models import IMAGE, VIDEO, Album, Library, Media, Space
from ..state import get_state

ROOT_SPACE = "-"
_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
_CHUNK = 1024 * 1024


def check_id(value: str, what: str) -> str:
    if not _ID_RE.fullmatch(value or ""):
        raise bad_request(f"{what} {value!r} must be 1 to 64 letters, digits, '_' or '-'")
    return value


def check_name(value: str, what: str = "name") -> str:
    """A file or album name: no path tricks, no control characters, at most 255 bytes."""
    if not value or not value.strip():
        raise bad_request(f"the {what} must not be empty", "InvalidFileName")
    if "/" in value or "\\" in value or ".." in value:
        raise bad_request(f"the {what} {value!r} must not contain '/', '\\' or '..'", "InvalidFileName")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise bad_request(f"the {what} must not contain NUL or other control characters", "InvalidFileName")
    if len(value.encode("utf-8")) > 255:
        raise bad_request(f"the {what} is longer than 255 bytes", "InvalidFileName")
    if value in {".", "-"}:
        raise bad_request(f"the {what} {value!r} is reserved", "InvalidFileName")
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


def create_space(library: Library, space_id: str | None = None, *, public_read: bool = False) -> Space:
    state = get_state()
    if not library.multi_tenant:
        raise bad_request(f"library {library.id!r} is single-tenant: its one space is '-'", "MultiSpaceNotSupported")
    if space_id is None:
        space_id = "space" + secrets.token_hex(5)
    check_id(space_id, "space id")
    if space_id == ROOT_SPACE:
        raise bad_request("'-' is not a space of a multi-tenant library", "InvalidSpaceId")
    space = Space(library_id=library.id, space_id=space_id, public_read=public_read, created_at=state.clock())
    state.session.add(space)
    try:
        state.session.commit()
    except IntegrityError:
        state.session.rollback()
        raise conflict(f"space {space_id!r} already exists", "SpaceAlreadyExists") from None
    return space


def list_spaces(library: Library) -> list[Space]:
    stmt = select(Space).where(Space.library_id == library.id).order_by(Space.created_at, Space.pk)
    return list(get_state().session.execute(stmt).scalars())


def get_space(library: Library, space_id: str) -> Space:
    if library.multi_tenant and space_id == ROOT_SPACE:
        raise not_found(f"library {library.id!r} is multi-tenant: name a space, '-' is not one", "SpaceNotFound")
    if not library.multi_tenant and space_id != ROOT_SPACE:
        raise not_found(f"library {library.id!r} is single-tenant: its one space is '-'", "SpaceNotFound")
    stmt = select(Space).where(Space.library_id == library.id, Space.space_id == space_id)
    space = get_state().session.execute(stmt).scalar_one_or_none()
    if space is None:
        raise not_found(f"space {space_id!r} does not exist in library {library.id!r}", "SpaceNotFound")
    return space


def resolve(library_id: str, space_id: str) -> tuple[Library, Space]:
    library = get_library(library_id)
    return library, get_space(library, space_id)


# -- albums -----------------------------------------------------------------


def _require_albums(library: Library) -> None:
    if not library.album_based:
        raise bad_request(f"library {library.id!r} is not album-based: it has no albums", "AlbumNotSupported")


def create_album(library: Library, space: Space, name: str) -> Album:
    state = get_state()
    _require_albums(library)
    check_name(name, "album name")
    album = Album(space_pk=space.pk, name=name, created_at=state.clock())
    state.session.add(album)
    try:
        state.session.commit()
    except IntegrityError:
        state.session.rollback()
        raise conflict(f"album {name!r} already exists", "SameNameDirectoryOrFileExists") from None
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
    """Delete an album and its media; returns how many media went with it."""
    state = get_state()
    album = get_album(library, space, name)
    media = list(state.session.execute(select(Media).where(Media.album_pk == album.pk)).scalars())
    keys = [m.storage_key for m in media if m.storage_key]
    space_pk = space.pk
    state.session.execute(delete(Media).where(Media.album_pk == album.pk))
    state.session.delete(album)
    state.session.commit()
    generations.bump(space_pk)  # answers derived from the space's media are stale now
    for key in keys:  # after the commit: a failed commit must not lose bytes
        state.storage.delete(key)
    return len(media)


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
            "CannotUploadToRootDirectory",
        )
    if not library.album_based and album_name is not None:
        raise bad_request(
            f"library {library.id!r} is not album-based: a file path has no album part", "AlbumNotSupported"
        )
    album = get_album(library, space, album_name) if album_name is not None else None
    return Folder(library, space, album)


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


def save_upload(
    where: Folder,
    name: str,
    stream: IO[bytes],
    *,
    user: str | None = None,
    uploaded_at: dt.datetime | None = None,
) -> Media:
    """Store an image or video read from ``stream``; nothing is kept if anything fails."""
    state = get_state()
    check_name(name, "file name")
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
        media = Media(
            space_pk=where.space.pk,
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
        )
        state.session.add(media)
        try:
            state.session.flush()
        except IntegrityError:
            state.session.rollback()
            raise conflict(f"a file named {name!r} already exists here", "SameNameDirectoryOrFileExists") from None
        try:
            state.storage.put_file(temp_path, key)
            state.session.commit()
        except BaseException:
            # Neither a row without bytes nor bytes without a row may stay behind.
            state.session.rollback()
            state.storage.delete(key)
            raise
        generations.bump(media.space_pk)
        return media
    finally:
        if os.path.exists(temp_path):
            os.unlink(temp_path)


def _unsupported(name: str, detail: str, temp_path: str) -> HTTPError:
    """415 naming the client's file, not the staging file the probe saw."""
    staged = os.path.basename(temp_path)
    detail = detail.replace(temp_path, staged)
    detail = detail[len(staged) :].strip() if detail.startswith(staged) else detail.replace(staged, "the file")
    return HTTPError(
        f"{name!r} {detail} (its kind comes from its content, not its name); "
        "upload an image (JPEG, PNG, GIF, WebP, HEIC ...) or a video (MP4, MOV, WebM ...)",
        status=415,
        code="UnsupportedMediaType",
    )


def too_large(limit: int) -> HTTPError:
    return HTTPError(
        f"the file is larger than {limit} bytes (MEDIALIB_MAX_UPLOAD_BYTES)", status=413, code="EntityTooLarge"
    )


def _copy_limited(stream: IO[bytes], out: BinaryIO, limit: int) -> int:
    size = 0
    while chunk := stream.read(_CHUNK):
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
        out.write(chunk)
    return size


def delete_media(items: Iterable[Media]) -> None:
    state = get_state()
    items = list(items)
    keys = [m.storage_key for m in items if m.storage_key]
    spaces = {m.space_pk for m in items}
    for media in items:
        state.session.delete(media)
    state.session.commit()
    for space_pk in spaces:
        generations.bump(space_pk)
    for key in keys:
        state.storage.delete(key)
