"""Builders of the cover tests: libraries, uploads, raw media rows, media files made here."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import os
import struct
import subprocess
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from flask import Flask
from PIL import Image
from skimage import data as skdata
from sqlalchemy import event

from flask_medialib import MediaLib, auth, get_state
from flask_medialib.models import Album, Library, Media, Space
from flask_medialib.services import library as lib

PREFIX = "/api/v1"
FFMPEG = "/usr/bin/ffmpeg"


def jpeg(color: tuple[int, int, int], size: tuple[int, int] = (120, 80), **save: object) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "JPEG", quality=95, **save)
    return buf.getvalue()


def png_bytes(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return buf.getvalue()


def astronaut() -> Image.Image:
    return Image.fromarray(skdata.astronaut())


def wide_astronaut() -> Image.Image:
    """A 2000 x 600 canvas with the astronaut at its left edge: a centre crop cuts the face off."""
    canvas = Image.new("RGB", (2000, 600), (90, 110, 130))
    canvas.paste(astronaut().resize((560, 560), Image.Resampling.LANCZOS), (20, 20))
    return canvas


def big_header_png(width: int = 50_000, height: int = 50_000) -> bytes:
    """A PNG that declares width x height pixels and holds none of them."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64))


def ffmpeg(*args: str) -> None:
    subprocess.run([FFMPEG, "-y", "-loglevel", "error", *args], check=True, capture_output=True)


def make_video(out: Path, source: list[str], *, rotate: int | None = None) -> Path:
    """An H.264 MP4 of one second from ffmpeg input args; ``rotate`` adds display-rotation metadata."""
    plain = out.with_suffix(".plain.mp4") if rotate is not None else out
    ffmpeg(
        *source, "-t", "1", "-r", "10", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-movflags", "+faststart", str(plain)
    )
    if rotate is not None:
        # Set on a stream copy: this ffmpeg drops the tag when it encodes.
        ffmpeg("-i", str(plain), "-c", "copy", "-metadata:s:v:0", f"rotate={rotate}", str(out))
    return out


def frameless_video(valid: Path) -> bytes:
    """A video whose header is whole and whose frames are cut off."""
    data = valid.read_bytes()
    return data[: data.index(b"mdat") + 20]


# -- database ---------------------------------------------------------------------


def make_library(
    library_id: str = "lib", *, album_based: bool = True, multi_tenant: bool = False, public_read: bool = False
) -> Library:
    library, _ = lib.create_library(
        library_id, album_based=album_based, multi_tenant=multi_tenant, public_read=public_read
    )
    return library


def root_space(library: Library) -> Space:
    return lib.get_space(library, "-")


def upload(
    library: Library, space: Space, album: str | None, name: str, data: bytes, at: dt.datetime | None = None
) -> Media:
    where = lib.folder(library, space, album)
    return lib.save_upload(where, name, io.BytesIO(data), uploaded_at=at)


def insert_media(
    space: Space,
    album: Album | None,
    *,
    kind: int,
    data: bytes | None = None,
    url: str | None = None,
    at: dt.datetime,
    ext: str = ".bin",
    name: str = "raw",
) -> Media:
    """A media row written directly (uploads refuse broken files), with ``data`` in storage."""
    state = get_state()
    key = None
    if data is not None:
        key = state.storage.new_key(ext)
        path = state.storage.path(key)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        Path(path).write_bytes(data)
    media = Media(
        space_pk=space.pk,
        album_pk=album.pk if album else None,
        folder_pk=album.pk if album else 0,
        name=name,
        kind=kind,
        storage_key=key,
        url=url,
        content="text" if kind == 4 else None,
        created_at=at,
        updated_at=at,
        uploaded_at=at,
    )
    state.session.add(media)
    state.session.commit()
    return media


def token_for(
    library: Library, *, space: Space | None = None, user_id: str | None = None, grants: frozenset[str] = frozenset()
) -> str:
    value, _ = auth.issue_token(library, space=space, user_id=user_id, grants=grants)
    get_state().session.commit()
    return value


def at(seconds: float) -> dt.datetime:
    return dt.datetime(2025, 6, 1, 8, 0, 0) + dt.timedelta(seconds=seconds)


# -- app instances ------------------------------------------------------------------


@contextlib.contextmanager
def sql_count(app: Flask) -> Iterator[list[str]]:
    """The SQL statements the app's engine runs inside the block."""
    seen: list[str] = []

    def record(_conn, _cursor, statement, *_args) -> None:
        seen.append(statement)

    engine = get_state(app).db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


@contextlib.contextmanager
def second_app(app_config: dict, clock, **overrides: object) -> Iterator[Flask]:
    """Another instance of the app (another worker): same database, same cache, unless ``overrides`` say."""
    other = Flask("medialib_other", instance_path=app_config["MEDIALIB_STORAGE_ROOT"] + "-other")
    other.config.update({**app_config, **overrides})
    MediaLib(other)
    state = get_state(other)
    state.clock = clock
    try:
        yield other
    finally:
        with other.app_context():
            state.db.session.remove()
            state.db.engine.dispose()
            client = getattr(state.cache.cache, "_write_client", None)
            if client is not None:
                client.connection_pool.disconnect()


# -- HTTP -------------------------------------------------------------------------


def cover_path(library_id: str, space_id: str = "-", album: str | None = "a", **query: object) -> str:
    path = f"{PREFIX}/album/{library_id}/{space_id}/cover" + (f"/{album}" if album is not None else "")
    if query:
        path += "?" + "&".join(f"{k}={v}" for k, v in query.items())
    return path


def fetch_cover(client, path: str) -> tuple[Image.Image, bytes, object]:
    """Follow a cover's 302 and return (image, bytes, file response headers)."""
    resp = client.get(path)
    assert resp.status_code == 302, resp.get_data(as_text=True)
    with client.get(resp.headers["Location"]) as file_resp:
        assert file_resp.status_code == 200
        body = file_resp.get_data()
        headers = file_resp.headers
    image = Image.open(io.BytesIO(body))
    image.load()
    return image, body, headers


def mean_color(image: Image.Image) -> tuple[float, ...]:
    return tuple(float(v) for v in np.asarray(image.convert("RGB"), dtype=np.float64).mean(axis=(0, 1)))


def close_to(color: tuple[float, ...], want: tuple[int, int, int], tol: float = 12.0) -> bool:
    return all(abs(a - b) <= tol for a, b in zip(color, want, strict=True))
