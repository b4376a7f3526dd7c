"""The demo gallery: albums of a public library as cover tiles, and a page per album.

Every cover is a plain ``<img src="{prefix}/album/{library}/-/cover/{album}?size=256">``:
the browser follows the extension's 302 to the signed image, which is the
whole point of the cover API.
"""

from __future__ import annotations

from urllib.parse import quote

from flask import Blueprint, abort, current_app, render_template, url_for
from sqlalchemy import func, select

from flask_medialib import get_state, signing
from flask_medialib.errors import HTTPError
from flask_medialib.models import Library, Media, Space
from flask_medialib.services import library as lib

bp = Blueprint(
    "gallery", __name__, template_folder="templates", static_folder="static", static_url_path="/gallery-static"
)

COVER_SIZE = 256


def library_id() -> str:
    return str(current_app.config.get("GALLERY_LIBRARY", "demo"))


def _prefix() -> str:
    return str(get_state().config["MEDIALIB_URL_PREFIX"])


def cover_url(album_name: str, size: int = COVER_SIZE) -> str:
    return f"{_prefix()}/album/{quote(library_id(), safe='')}/-/cover/{quote(album_name, safe='')}?size={size}"


def file_url(album_name: str, file_name: str) -> str:
    """The SMH download route: a 302 to a signed URL of the original."""
    return f"{_prefix()}/file/{quote(library_id(), safe='')}/-/{quote(album_name, safe='')}/{quote(file_name, safe='')}"


def thumb_url(media: Media, size: int = COVER_SIZE) -> str:
    """A signed, face-aware square rendition (a video gives its first frame)."""
    token = signing.sign(signing.COVER, media, size)
    return url_for("medialib_files.serve", token=token)


def _public_library() -> tuple[Library, Space]:
    try:
        library, space = lib.resolve(library_id(), lib.ROOT_SPACE)
    except HTTPError:
        abort(404)
    if not (library.public_read or space.public_read) or not library.album_based:
        abort(404)  # the gallery shows public album-based libraries only
    return library, space


@bp.route("/")
def index() -> str:
    library, space = _public_library()
    albums = lib.list_albums(library, space)
    counts = dict(
        get_state()
        .session.execute(
            select(Media.album_pk, func.count(Media.id))
            .where(Media.space_pk == space.pk, Media.album_pk.is_not(None))
            .group_by(Media.album_pk)
        )
        .all()
    )
    tiles = [
        {
            "name": a.name,
            "count": counts.get(a.pk, 0),
            "cover": cover_url(a.name),
            "href": url_for(".album", name=a.name),
        }
        for a in albums
    ]
    return render_template("gallery/index.html", library=library, tiles=tiles, size=COVER_SIZE)


@bp.route("/albums/<path:name>")
def album(name: str) -> str:
    library, space = _public_library()
    try:
        where = lib.folder(library, space, name)
    except HTTPError:
        abort(404)
    items = [
        {
            "name": m.name,
            "kind": m.kind_name,
            "thumb": thumb_url(m),
            "href": file_url(name, m.file_name or m.name),
            "width": m.width,
            "height": m.height,
            "duration": m.duration,
        }
        for m in lib.list_files(where)
    ]
    return render_template(
        "gallery/album.html", library=library, album=name, items=items, cover=cover_url(name), size=COVER_SIZE
    )
