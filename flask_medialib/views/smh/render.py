"""SMH's JSON shapes of spaces, albums and files, and the ``x-smh-*`` headers of a file."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from ...models import Album, Media, Space


def iso(value: dt.datetime) -> str:
    return value.replace(microsecond=0).isoformat() + "Z"


def space(row: Space) -> dict[str, Any]:
    return {"spaceId": row.space_id, "userId": row.created_by, "isPublicRead": row.public_read,
            "creationTime": iso(row.created_at)}  # fmt: skip


def album(row: Album) -> dict[str, Any]:
    stamp = iso(row.created_at)
    return {"name": row.name, "type": "dir", "creationTime": stamp, "modificationTime": stamp}


def etag(media: Media) -> str:
    # Names these bytes: a new version of the file gets a new eTag.
    return f'"{media.id}-{media.version}"'


def meta_data(media: Media) -> dict[str, str]:
    return dict(json.loads(media.meta_data)) if media.meta_data else {}


def file(media: Media) -> dict[str, Any]:
    """A directory entry of a file, with the extensions ``mediaId``, ``width`` and ``height``."""
    return {
        "name": media.file_name or media.name,
        "type": media.kind_name,
        "creationTime": iso(media.uploaded_at),
        "modificationTime": iso(media.updated_at),
        "contentType": media.mime or "application/octet-stream",
        "size": str(media.size or 0),
        "eTag": etag(media),
        "crc64": media.crc64,
        "metaData": meta_data(media),
        "mediaId": media.id,
        "width": media.width,
        "height": media.height,
    }


def file_info(media: Media, album_name: str | None) -> dict[str, Any]:
    name = media.file_name or media.name
    return {"path": [album_name, name] if album_name else [name], **file(media), "duration": media.duration}


def file_headers(media: Media) -> dict[str, str]:
    """SMH's ``x-smh-*`` headers of a download 302 and a HEAD."""
    headers = {
        "x-smh-type": media.kind_name,
        "x-smh-creation-time": iso(media.uploaded_at),
        "x-smh-modification-time": iso(media.updated_at),
        "x-smh-content-type": media.mime or "application/octet-stream",
        "x-smh-size": str(media.size or 0),
        "x-smh-etag": etag(media),
    }
    if media.crc64:
        headers["x-smh-crc64"] = media.crc64
    for key, value in meta_data(media).items():
        headers[key] = value  # stored with their x-smh-meta- names
    return headers
