"""Album covers: which media, which pixels, cached once per media version.

resolve -> authorize -> walk the candidates (first image or video by upload
time) -> the cover of the first usable one (cache, else render under a lock)
-> a signed URL. Broken media are remembered per media version and skipped.

Every cache key holds the installation id, the media's ``uid`` and its
version, never the integer id alone (ids are reused: see
``docs/identity.rst``), so a replaced file (new version), a deleted row, a
rebuilt database or another app on the same cache can never bring back an
old cover. Faces are kept in the source's own (upright, full-resolution)
pixels, so every size of a media shares one detection, and a downscaled
"master" copy of the decoded source is cached beside them, so other sizes up
to its short side are cut from it instead of decoding the source again.

The warm path asks the cache once and the database never:

- the 302: :func:`memoised_link` fetches the memo of the resolved answer and
  the space's generation (:mod:`..generations`) in one ``get_many``. A memo
  counts only while its generation is the space's current one (every media
  change in the space bumps it), it is younger than
  ``MEDIALIB_COVER_MEMO_TTL`` and its token has not expired; so a revoked
  token is refused again at most that many seconds later.
- the file step: :func:`cached_file` fetches the cover bytes, the media's
  "confirmed" marker and the generation in one ``get_many``. The marker holds
  the generation at which the database last showed the media at this
  version; any change in the space (a delete, a replace) makes it stale, so a
  deleted or replaced media's URL goes back to the database and 404s.

Where the storage keeps renditions (``s3``: ``Storage.stores_renditions``), a
rendered cover is an object under its rendition key (:mod:`..storage.keys`:
installation, uid, version, size and variant) and the cache keeps only that
key, so the 302 goes straight to the store's URL of the object (memoised with
the answer) and no cover byte passes through the app. A cache miss asks the
store once (HEAD) before it renders again; the objects of a media version go
when the media is deleted or replaced (:mod:`.media`). Faces, masters, memos
and broken marks stay in the cache.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import io
import logging
import math
import mimetypes
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from PIL import Image
from sqlalchemy import select

from .. import auth, generations, identity, jobs, locks, signing
from ..config import detector_options
from ..errors import DetectorUnavailable, HTTPError, MediaError, bad_request, not_found
from ..fetch import fetch_to_file
from ..imaging.crop import encode_image, plan_as_dict, plan_crop, render_cover
from ..imaging.decode import DECODE_ERRORS, IMAGE_FORMATS, load_media_image, quiet
from ..imaging.faces import Face, SourceLoader, detect_faces
from ..imaging.probe import probe_media
from ..models import IMAGE, KIND_NAMES, VIDEO, Album, Library, Media, Space
from ..state import MediaLibState, get_state
from ..storage import keys
from . import library as lib

log = logging.getLogger("flask_medialib")

_MIME = {"JPEG": "image/jpeg", "WEBP": "image/webp", "PNG": "image/png"}
#: Originals browsers show as they are; anything else (TIFF, HEIC ...) is re-encoded.
_WEB_FORMATS = {"JPEG": "image/jpeg", "MPO": "image/jpeg", "PNG": "image/png", "GIF": "image/gif", "WEBP": "image/webp"}
#: A failed fetch may be passing; a broken file of a given version stays broken.
_FETCH_FAILURE_TTL = 300
_BATCH = 20


@dataclass(frozen=True)
class CoverLink:
    """What the cover view redirects to."""

    token: str  # for signing.COVER, served at medialib_files.serve
    public: bool  # the library or space is public-read
    token_expires: float | None = None  # epoch seconds of the access token's expiry (None: no token)
    location: str | None = None  # the store's own URL of the cover (s3), which the 302 goes to instead


@dataclass(frozen=True)
class CoverEntry:
    """A cached cover: encoded bytes, a stored rendition object (``key``), or (neither) "serve the
    stored original as it is"."""

    mime: str
    data: bytes | None = None
    key: str | None = None  # the storage key of the rendition object (storages that keep renditions)


@dataclass(frozen=True)
class Master:
    """A downscaled decoded source (JPEG) that smaller sizes are cut from."""

    short: int  # its short side
    source_size: tuple[int, int]  # the upright source's size, which faces are measured in
    data: bytes


@dataclass(frozen=True)
class Memo:
    """A memoised answer of :func:`cover_link` and what it holds only while true."""

    space_pk: int
    generation: int
    made_at: float  # epoch seconds
    token_expires: float | None  # epoch seconds
    link: CoverLink


# -- the request ----------------------------------------------------------------


def cover_link(
    library_id: str,
    space_id: str,
    album_name: str | None,
    *,
    size: int | None,
    token: str | None,
    user_id: str | None,
) -> CoverLink:
    """The signed URL of the cover of an album (or of a space without albums), or an SMH error."""
    library, space = lib.resolve(library_id, space_id)
    if library.album_based and album_name is None:
        raise bad_request(
            f"library {library.id!r} is album-based: ask for the cover of an album (.../cover/AlbumName)",
            "CoverNotSupportedInRootDirectory",
        )
    if not library.album_based and album_name is not None:
        raise bad_request(
            f"library {library.id!r} has no albums: ask for the cover of the space (.../cover) without a name",
            "AlbumNotSupported",
        )
    state = get_state()
    # Read before the media rows: a write committed after this read bumps it, so
    # what is memoised under it can never hide that write.
    generation = generations.current(space.pk)
    caller = auth.authorize(library, space, token, user_id=user_id)
    size = size or 0
    # The album is found by name inside the media query: one round trip less on the cold path.
    for media in candidates(space, album_name=album_name):
        if ensure_cover(media, size):
            public = is_public(library, space)
            token_expires = _epoch(caller.token.expires_at) if caller.token is not None else None
            # One end for both URLs: the store's lives exactly as long as ours.
            expires = signing.expiry()
            signed = signing.sign(signing.COVER, media, size, public=public, space_pk=space.pk, expires=expires)
            location = cover_location(state, media, size, expires, public=public)
            link = CoverLink(signed, public, token_expires, location)
            confirm(state, media.uid, media.version, generation)
            _memoise(state, (library_id, space_id, album_name, size, token, user_id), space.pk, generation, link)
            return link
    if album_name is not None:
        lib.get_album(library, space, album_name)  # 404 DirectoryNotFound when there is no such album
    where = f"album {album_name!r}" if album_name is not None else f"space {space.space_id!r}"
    raise not_found(f"{where} has no image or video that can be shown as a cover", "NoCoverMedia")


# -- the warm path ------------------------------------------------------------------

_SPACES_MAX = 10_000


def _space_pks() -> dict[tuple[str, str], int]:
    # Per app and process: a space's pk never changes, and a memo names its pk, so a
    # stale entry (a library deleted and made again) only costs a miss.
    return get_state().cover_spaces


def _memo_key(state: MediaLibState, request_key: tuple[Any, ...]) -> str:
    library_id, space_id, album_name, size, token, user_id = request_key
    who = auth.digest(token) if token else ""
    # Library and space ids repeat across databases and apps sharing the cache: the installation parts them.
    raw = repr((identity.installation_id(state), library_id, space_id, album_name, size or 0, who, user_id or ""))
    return "cover:memo:" + hashlib.sha256(raw.encode()).hexdigest()[:40]


def memoised_link(
    library_id: str, space_id: str, album_name: str | None, *, size: int | None, token: str | None,
    user_id: str | None,
) -> CoverLink | None:  # fmt: skip
    """The memoised answer of :func:`cover_link`, from one cache round trip; None on a miss."""
    state = get_state()
    ttl = state.config["MEDIALIB_COVER_MEMO_TTL"]
    space_pk = _space_pks().get((library_id, space_id))
    if not ttl or space_pk is None:
        return None
    key = _memo_key(state, (library_id, space_id, album_name, size, token, user_id))
    revoked_mark = auth.revoked_key(auth.digest(token)) if token else "-"
    memo, generation, revoked = state.cache.get_many(key, generations.key(space_pk), revoked_mark)
    if not isinstance(memo, Memo) or generation is None or revoked:
        return None
    now = signing.now()
    if memo.space_pk != space_pk or memo.generation != generation or not 0 <= now - memo.made_at < ttl:
        return None
    if memo.token_expires is not None and now >= memo.token_expires:
        return None  # the slow path says why (expired) or renews it
    return memo.link


def _epoch(value: dt.datetime) -> float:
    return value.replace(tzinfo=dt.UTC).timestamp()


def _memoise(
    state: MediaLibState, request_key: tuple[Any, ...], space_pk: int, generation: int, link: CoverLink
) -> None:
    ttl = state.config["MEDIALIB_COVER_MEMO_TTL"]
    if not ttl:
        return
    spaces = _space_pks()
    if len(spaces) >= _SPACES_MAX:
        spaces.clear()
    spaces[(request_key[0], request_key[1])] = space_pk
    memo = Memo(space_pk, generation, signing.now(), link.token_expires, link)
    state.cache.set(_memo_key(state, request_key), memo, timeout=ttl)


def confirmed_key(state: MediaLibState, uid: str, version: int) -> str:
    return f"cover:ok:{_tag(state, uid, version)}"


def confirm(state: MediaLibState, uid: str, version: int, generation: int | None) -> None:
    """Note that the database showed this media at this version under ``generation`` (read before it)."""
    if generation is not None:
        state.cache.set(confirmed_key(state, uid, version), generation)


def cached_file(ref: signing.FileRef) -> tuple[bytes, str] | None:
    """(bytes, mime) of a signed cover from one cache round trip, or None: ask the database."""
    if ref.rendition != signing.COVER or not ref.space_pk:
        return None
    state = get_state()
    entry, confirmed, generation = state.cache.get_many(
        _cover_key(state, ref.uid, ref.version, ref.size),
        confirmed_key(state, ref.uid, ref.version),
        generations.key(ref.space_pk),
    )
    if not isinstance(entry, CoverEntry) or entry.data is None or generation is None or confirmed != generation:
        return None
    return entry.data, entry.mime


# -- the file step: what a signed URL names, and who may keep its bytes ----------------


def is_public(library: Library, space: Space) -> bool:
    """Whether reads of the space need no token: the rule of covers and of the files they point at."""
    return bool(library.public_read or space.public_read)


def signed_media(ref: signing.FileRef) -> Media:
    """The media a signed URL names (by uid), at the version it names; 404 when deleted or replaced since."""
    stmt = select(Media).where(Media.uid == ref.uid)
    media = get_state().session.execute(stmt).scalar_one_or_none()
    if media is None or media.version != ref.version:
        raise not_found("the media behind this URL was changed or deleted; ask for the cover again", "FileNotFound")
    return media


def media_is_public(media: Media) -> bool:
    """:func:`is_public` of the media's space (caches may then keep its files as public)."""
    return is_public(media.space.library, media.space)


@dataclass(frozen=True)
class OriginalFile:
    """The stored bytes of a media as uploaded, and what to call them (never the storage key)."""

    key: str  # the storage key: for the storage only, never shown
    mime: str
    name: str


def original_file(media: Media) -> OriginalFile:
    if not media.storage_key:
        raise not_found("this media has no stored file", "FileNotFound")
    mime = media.mime or mimetypes.guess_type(media.storage_key)[0] or "application/octet-stream"
    return OriginalFile(media.storage_key, mime, media.file_name or media.name)


def candidates(space: Space, album_pk: int | None = None, *, album_name: str | None = None) -> Iterator[Media]:
    """Images and videos in cover order (upload time, then id), read a batch at a time; those of
    the album ``album_pk`` or ``album_name`` when one is given (none of an album that does not exist)."""
    state = get_state()
    newest = state.config["MEDIALIB_COVER_ORDER"] == "newest"
    stmt = select(Media).where(Media.space_pk == space.pk, Media.kind.in_((IMAGE, VIDEO)))
    if album_name is not None:
        named = select(Album.pk).where(Album.space_pk == space.pk, Album.name == album_name)
        stmt = stmt.where(Media.album_pk == named.scalar_subquery())
    elif album_pk is not None:
        stmt = stmt.where(Media.album_pk == album_pk)
    if newest:
        stmt = stmt.order_by(Media.uploaded_at.desc(), Media.id.desc())
    else:
        stmt = stmt.order_by(Media.uploaded_at, Media.id)
    offset = 0
    while True:
        batch = list(state.session.execute(stmt.offset(offset).limit(_BATCH)).scalars())
        yield from batch
        if len(batch) < _BATCH:
            return
        offset += _BATCH


# -- cache keys -------------------------------------------------------------------


def _variant(state: MediaLibState) -> str:
    """What besides the media changes the pixels: detector settings and encoding."""
    cfg = state.config
    parts = (
        cfg["MEDIALIB_FACE_DETECTOR"],
        *detector_options(cfg).values(),
        cfg["MEDIALIB_COVER_FORMAT"],
        cfg["MEDIALIB_COVER_QUALITY"],
        cfg["MEDIALIB_COVER_ZOOM"],
    )
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:10]


def _tag(state: MediaLibState, uid: str, version: int) -> str:
    """What every key of a media's artefacts holds: installation, uid, version (never the reusable id)."""
    return f"{identity.installation_id(state)}:{uid}:{version}"


def media_tag(state: MediaLibState, media: Media) -> str:
    """The identity part of the cache keys of ``media``'s artefacts (previews use it too)."""
    return _tag(state, media.uid, media.version)


def cover_key(state: MediaLibState, media: Media, size: int) -> str:
    return _cover_key(state, media.uid, media.version, size)


def _cover_key(state: MediaLibState, uid: str, version: int, size: int) -> str:
    return f"cover:img:{_tag(state, uid, version)}:{size}:{_variant(state)}"


def master_key(state: MediaLibState, media: Media) -> str:
    return f"cover:master:{_tag(state, media.uid, media.version)}:{state.config['MEDIALIB_COVER_MASTER_SIDE']}"


def faces_key(state: MediaLibState, media: Media) -> str:
    cfg = state.config
    detector = (cfg["MEDIALIB_FACE_DETECTOR"], *detector_options(cfg).values())
    tag = hashlib.sha256(repr(detector).encode()).hexdigest()[:10]
    return f"cover:faces:{_tag(state, media.uid, media.version)}:{tag}"


def broken_key(state: MediaLibState, media: Media) -> str:
    return f"cover:broken:{_tag(state, media.uid, media.version)}"


def _lock_name(state: MediaLibState, media: Media) -> str:
    return f"cover:{_tag(state, media.uid, media.version)}"


# -- cache or render --------------------------------------------------------------


def ensure_cover(media: Media, size: int) -> bool:
    """Whether ``media`` gives a cover of ``size``; renders and caches it on a miss."""
    state = get_state()
    # No cover is ever stored for a broken version, so the warm path asks once.
    if state.cache.has(cover_key(state, media, size)):
        return True
    return cover_entry(media, size) is not None


def cover_entry(media: Media, size: int) -> CoverEntry | None:
    """The cover of ``media`` at ``size`` (rendered and cached on a miss); None when the media is broken."""
    state = get_state()
    entry = state.cache.get(cover_key(state, media, size))
    if isinstance(entry, CoverEntry):
        return entry
    if state.cache.get(broken_key(state, media)) is not None:
        return None
    try:
        return _cached_or_render(state, media, size)
    except MediaError as exc:
        _mark_broken(state, media, exc)
        return None


def cover_location(state: MediaLibState, media: Media, size: int, expires: float, *, public: bool) -> str | None:
    """The store's URL (until epoch ``expires``) of a cover that ``ensure_cover`` found; None: the app serves it.

    Only storages that keep renditions have one (local storage: no cache round trip).
    """
    if not state.storage.stores_renditions:
        return None
    entry = state.cache.get(cover_key(state, media, size))
    if not isinstance(entry, CoverEntry):
        return None  # evicted meanwhile: the app's URL renders or finds it again
    return _direct_url(state, media, entry, int(expires - signing.now()), public)


def _direct_url(state: MediaLibState, media: Media, entry: CoverEntry, seconds: int, public: bool) -> str | None:
    # The headers the app's own answer would carry: these bytes never change under this URL.
    cache_control = f"{'public' if public else 'private'}, max-age={seconds}, immutable"
    if entry.key is not None:
        return state.storage.url(entry.key, seconds, cache_control=cache_control)
    if entry.data is None and media.storage_key:  # the stored original as uploaded
        return state.storage.url(media.storage_key, seconds, cache_control=cache_control)
    return None


def rendered_cover(media: Media, size: int) -> tuple[bytes, str]:
    """(bytes, mime) of the cover of ``media`` at ``size`` (0: full size): cached or rendered now."""
    state = get_state()
    try:
        entry = _cached_or_render(state, media, size)
        if entry.key is not None:
            try:
                return state.storage.get_bytes(entry.key), entry.mime
            except (FileNotFoundError, ValueError):
                raise MediaError(f"media {media.id}: its stored cover is missing") from None
        if entry.data is None:
            with _local_file(state, media) as path, open(path, "rb") as fp:
                return fp.read(), entry.mime
        return entry.data, entry.mime
    except MediaError as exc:
        _mark_broken(state, media, exc)
        raise not_found("this media can no longer be shown; ask for the cover again", "NoCoverMedia") from None


def stored_cover_url(media: Media, size: int, seconds: int, *, public: bool) -> str | None:
    """The store's URL (for ``seconds``) of a cover of ``media``, rendered first if need be; None: the app serves it.

    Storages that keep renditions only (s3: its rendition object or the original as uploaded).
    """
    state = get_state()
    if not state.storage.stores_renditions:
        return None
    entry = cover_entry(media, size)
    if entry is None:
        raise not_found("this media can no longer be shown; ask for the cover again", "NoCoverMedia")
    return _direct_url(state, media, entry, seconds, public)


def _cached_or_render(state: MediaLibState, media: Media, size: int) -> CoverEntry:
    """The cache entry of a cover, rendered and stored on a miss."""
    key = cover_key(state, media, size)
    entry = state.cache.get(key)
    if isinstance(entry, CoverEntry):
        return entry
    entry = _stored_rendition(state, media, size)  # rendered before, and the cache forgot it
    if entry is not None:
        state.cache.set(key, entry)
        return entry
    if not jobs.renders_here(state):  # MEDIALIB_JOBS = "celery": a worker renders, this process waits
        return jobs.render_remote(state, media, size, key, broken_key(state, media))
    # One renderer per media version at a time, across processes; the others
    # wait and then find its result (double-checked below).
    with locks.hold(state.cache, _lock_name(state, media), timeout=state.config["MEDIALIB_RENDER_LOCK_TTL"]):
        entry = state.cache.get(key)
        if isinstance(entry, CoverEntry):
            return entry
        entry = _keep(state, media, size, _render(state, media, size, Timings()))
        state.cache.set(key, entry)
        return entry


# -- rendition objects (storages that keep renditions) ------------------------------------

_EXT = {"image/jpeg": ".jpg", "image/webp": ".webp", "image/png": ".png", "image/gif": ".gif"}


def rendition_key(state: MediaLibState, media: Media, name: str, mime: str) -> str:
    """The storage key of rendition ``name`` of ``media`` (its folder is its identity: see storage.keys)."""
    prefix = keys.rendition_prefix(identity.installation_id(state), media.uid, media.version)
    return keys.rendition_key(prefix, name + _EXT.get(mime, ".bin"))


def _cover_name(state: MediaLibState, size: int) -> str:
    return f"c{size}-{_variant(state)}"


def _keep(state: MediaLibState, media: Media, size: int, entry: CoverEntry) -> CoverEntry:
    """Rendered bytes as the storage wants them: an object (s3) or the cache entry itself (local)."""
    if entry.data is None or not state.storage.stores_renditions:
        return entry
    # Same key, same bytes: two renders of one cover (two hosts, a lock that timed out) write alike.
    key = rendition_key(state, media, _cover_name(state, size), entry.mime)
    state.storage.put_bytes(key, entry.data, entry.mime)
    return CoverEntry(entry.mime, key=key)


def _stored_rendition(state: MediaLibState, media: Media, size: int) -> CoverEntry | None:
    """The cover's object when the store holds it already (one HEAD, on cache misses only)."""
    if not state.storage.stores_renditions:
        return None
    mime = _MIME[state.config["MEDIALIB_COVER_FORMAT"]]
    key = rendition_key(state, media, _cover_name(state, size), mime)
    return CoverEntry(mime, key=key) if state.storage.exists(key) else None


def _mark_broken(state: MediaLibState, media: Media, exc: Exception) -> None:
    fetch_failed = media.storage_key is None
    ttl = _FETCH_FAILURE_TTL if fetch_failed else None
    # ``add`` sets only when absent, so each process-wide skip is logged once.
    if state.cache.add(broken_key(state, media), str(exc) or type(exc).__name__, timeout=ttl):
        log.warning("cover skips media %s (version %s): %s", media.id, media.version, exc)


# -- rendering ---------------------------------------------------------------------


@dataclass
class Timings:
    """Seconds spent in each step of one render (for measurements and logs)."""

    load: float = 0.0
    decode: float = 0.0
    detect: float = 0.0
    crop_encode: float = 0.0


def _render(state: MediaLibState, media: Media, size: int, timings: Timings) -> CoverEntry:
    kind = KIND_NAMES.get(media.kind)
    if kind not in ("image", "video"):
        raise MediaError(f"media {media.id} is {kind or 'of an unknown kind'}, not an image or video")
    max_pixels = state.config["MEDIALIB_MAX_IMAGE_PIXELS"]
    if size:
        entry = _render_from_master(state, media, size, timings)
        if entry is not None:
            return entry
    start = time.perf_counter()
    with _local_file(state, media) as path:
        timings.load = time.perf_counter() - start
        if size == 0:
            return _render_full(state, path, kind, max_pixels, timings, stored=bool(media.storage_key))
        faces = _cached_faces(state, media)
        source_size = None
        if kind == "image":
            info = probe_media(path, max_pixels=max_pixels)  # header only: the upright full size
            source_size = (info.width, info.height)
        target = size if faces is not None else max(size, _detect_target(state, source_size))
        start = time.perf_counter()
        image = load_media_image(path, kind, max_pixels=max_pixels, target=target)
        timings.decode = time.perf_counter() - start
        source_size = source_size or image.size
        if faces is None:  # here, while the file is at hand: the finer pass may decode more of it
            more = _source_loader(path, kind, max_pixels, source_size) if image.size != source_size else None
            faces = _detect_once(state, media, image, source_size, timings, more)
    start = time.perf_counter()
    data = render_size(state, image, source_size, faces, size)
    timings.crop_encode = time.perf_counter() - start
    _store_master(state, media, image, source_size)
    return CoverEntry(_MIME[state.config["MEDIALIB_COVER_FORMAT"]], data)


# -- the master: a downscaled decoded source that other sizes are cut from -------------

_MASTER_QUALITY = 90


def _render_from_master(state: MediaLibState, media: Media, size: int, timings: Timings) -> CoverEntry | None:
    """A cover cut from the cached master, when it and the faces are cached and it is big enough."""
    master, faces = state.cache.get_many(master_key(state, media), faces_key(state, media))
    if not isinstance(master, Master) or faces is None:
        return None
    need = math.ceil(size * state.config["MEDIALIB_COVER_ZOOM"])
    if master.short < min(need, min(master.source_size)):
        return None  # too small for this size: decode the source
    start = time.perf_counter()
    try:
        with quiet(), Image.open(io.BytesIO(master.data), formats=("JPEG",)) as im:
            im.draft("RGB", (need, need))  # a small size needs only a fraction of the master
            image = im.convert("RGB")
    except DECODE_ERRORS:
        return None  # a damaged entry: the source is still there
    timings.decode = time.perf_counter() - start
    start = time.perf_counter()
    out = render_size(state, image, master.source_size, [Face.from_dict(item) for item in faces], size)
    timings.crop_encode = time.perf_counter() - start
    return CoverEntry(_MIME[state.config["MEDIALIB_COVER_FORMAT"]], out)


def _store_master(state: MediaLibState, media: Media, image: Image.Image, source_size: tuple[int, int]) -> None:
    """Cache what was decoded anyway, shrunk by a whole factor (cheap) to a short side <= the setting."""
    side = state.config["MEDIALIB_COVER_MASTER_SIDE"]
    if not side:
        return
    key = master_key(state, media)
    old = state.cache.get(key)
    factor = math.ceil(min(image.size) / side)
    short = min(image.size) // max(factor, 1)
    if isinstance(old, Master) and old.short >= short:
        return
    master = image.reduce(factor) if factor > 1 else image
    buf = io.BytesIO()
    master.save(buf, "JPEG", quality=_MASTER_QUALITY)
    state.cache.set(key, Master(min(master.size), (source_size[0], source_size[1]), buf.getvalue()))


def render_size(
    state: MediaLibState, image: Image.Image, source_size: tuple[int, int], faces: list[Face], size: int
) -> bytes:
    """Plan on the decoded image (faces scaled from source pixels when draft decoding shrank it), then encode."""
    sx, sy = image.width / source_size[0], image.height / source_size[1]
    scaled = [face.scaled(sx, sy) for face in faces] if (sx, sy) != (1.0, 1.0) else faces
    box = plan_crop(image.width, image.height, scaled, size, zoom=state.config["MEDIALIB_COVER_ZOOM"])
    cover = render_cover(image, box, size)
    return encode_image(cover, state.config["MEDIALIB_COVER_FORMAT"], state.config["MEDIALIB_COVER_QUALITY"])


def _render_full(
    state: MediaLibState, path: str, kind: str, max_pixels: int, timings: Timings, *, stored: bool
) -> CoverEntry:
    start = time.perf_counter()
    image = load_media_image(path, kind, max_pixels=max_pixels)  # proves the whole file decodes
    timings.decode = time.perf_counter() - start
    mime = _servable_original(path) if kind == "image" else None
    if mime:
        if stored:
            return CoverEntry(mime)  # the stored file, served as uploaded
        with open(path, "rb") as fp:  # fetched to a temp file: keep the bytes
            return CoverEntry(mime, fp.read())
    start = time.perf_counter()
    fmt = state.config["MEDIALIB_COVER_FORMAT"]
    data = encode_image(image, fmt, state.config["MEDIALIB_COVER_QUALITY"])
    timings.crop_encode = time.perf_counter() - start
    return CoverEntry(_MIME[fmt], data)


def _servable_original(path: str) -> str | None:
    """The mime of an image file that a browser shows upright as it is, else None."""
    try:
        with open(path, "rb") as fp, quiet(), Image.open(fp, formats=IMAGE_FORMATS) as header:
            mime = _WEB_FORMATS.get(str(header.format))
            upright = header.getexif().get(0x0112) in (None, 1)
    except DECODE_ERRORS:
        return None
    return mime if upright else None


def _detect_target(state: MediaLibState, source_size: tuple[int, int] | None) -> int:
    """Short side a draft decode must keep so detection still sees ``MEDIALIB_DETECT_MAX_SIDE`` pixels."""
    max_side = state.config["MEDIALIB_DETECT_MAX_SIDE"]
    if not source_size:
        return max_side
    w, h = source_size
    return min(min(w, h), math.ceil(max_side * min(w, h) / max(w, h)))


# -- faces ----------------------------------------------------------------------------


def _cached_faces(state: MediaLibState, media: Media) -> list[Face] | None:
    entry = state.cache.get(faces_key(state, media))
    if entry is None:
        return None
    return [Face.from_dict(item) for item in entry]


def _source_loader(path: str, kind: str, max_pixels: int, source_size: tuple[int, int]) -> SourceLoader:
    """Decodes the file again with its longest side at least n px: the finer face pass needs more than the draft."""

    def load(long_side: int) -> Image.Image:
        target = math.ceil(long_side * min(source_size) / max(source_size))
        return load_media_image(path, kind, max_pixels=max_pixels, target=target)

    return load


def _detect_once(
    state: MediaLibState, media: Media, image: Image.Image, source_size: tuple[int, int], timings: Timings,
    source: SourceLoader | None = None,
) -> list[Face]:  # fmt: skip
    """Faces in source pixels; detection runs only when no other request stored them first."""
    # Callers hold the media's lock; this second look covers a render of another size.
    cached = _cached_faces(state, media)
    if cached is not None:
        return cached
    try:
        detector = state.detector()
    except DetectorUnavailable as exc:
        raise HTTPError(str(exc), status=503, code="FaceDetectorUnavailable") from None
    start = time.perf_counter()
    try:
        found = detect_faces(detector, image, source)
    except DetectorUnavailable as exc:
        raise HTTPError(str(exc), status=503, code="FaceDetectorUnavailable") from None
    timings.detect = time.perf_counter() - start
    sx, sy = source_size[0] / image.width, source_size[1] / image.height
    faces = [face.scaled(sx, sy) for face in found]
    state.cache.set(faces_key(state, media), [face.to_dict() for face in faces])
    return faces


# -- bytes of a media -----------------------------------------------------------------


@contextlib.contextmanager
def _local_file(state: MediaLibState, media: Media) -> Iterator[str]:
    """A local path to the media's bytes: its stored file, or its URL fetched to a temp file."""
    if media.storage_key:
        with contextlib.ExitStack() as stack:
            try:
                path = stack.enter_context(state.storage.open_local(media.storage_key))
            except ValueError as exc:
                raise MediaError(f"media {media.id} has a bad storage key: {exc}") from None
            except FileNotFoundError:
                raise MediaError(f"media {media.id}: its stored file is missing") from None
            yield path
        return
    if not media.url:
        raise MediaError(f"media {media.id} has neither a stored file nor a URL")
    fd, temp = tempfile.mkstemp(prefix="medialib-fetch-")
    os.close(fd)
    try:
        try:
            fetch_to_file(media.url, temp)  # MediaError when not allowed or failed
        except OSError as exc:
            raise MediaError(f"media {media.id}: fetching its URL failed: {exc}") from None
        yield temp
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)


# -- inspection -------------------------------------------------------------------------


def plan_for_file(path: str, size: int) -> dict[str, Any]:
    """The crop plan of a local image or video file, in its (first frame's) source pixels."""
    state = get_state()
    max_pixels = state.config["MEDIALIB_MAX_IMAGE_PIXELS"]
    info = probe_media(path, max_pixels=max_pixels)
    image = load_media_image(path, info.kind, max_pixels=max_pixels)
    faces = state.detector().detect(image)
    box = plan_crop(image.width, image.height, faces, size, zoom=state.config["MEDIALIB_COVER_ZOOM"])
    return plan_as_dict(image.width, image.height, faces, box)


def measure_render(media: Media, size: int) -> Timings:
    """Render a cover without the cache (faces still come from it when present); for benchmarks."""
    state = get_state()
    timings = Timings()
    _render(state, media, size, timings)
    return timings
