"""A media row as the material API shows it: in answers, and in the events of every write path.

``path`` is the http(s) URL of a linked material or ``media:<id>`` (the row's
own id) for stored bytes: storage keys never leave the server.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Callable, Iterable
from types import SimpleNamespace
from typing import Any

from ..models import Media, Space
from ..state import get_state

TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


def zone() -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(get_state().config["MEDIALIB_TIMEZONE"])


def parse_time(text: str, zone: zoneinfo.ZoneInfo) -> dt.datetime:
    """``YYYY-MM-DD HH:MM:SS`` in ``zone`` -> naive UTC (ValueError when not a real time)."""
    local = dt.datetime.strptime(text, TIME_FORMAT)
    if not 1900 <= local.year <= 9998:
        raise ValueError("the year must be between 1900 and 9998")
    return local.replace(tzinfo=zone).astimezone(dt.UTC).replace(tzinfo=None)


def format_time(value: dt.datetime, zone: zoneinfo.ZoneInfo) -> str:
    return value.replace(tzinfo=dt.UTC).astimezone(zone).strftime(TIME_FORMAT)


def public_path(media: Any) -> str | None:
    """What a client sees as ``path``: never the storage key."""
    return f"media:{media.id}" if media.storage_key else media.url


def public_thumb(media: Any) -> str | None:
    # 0.1 took storage keys as tmbPath too; only URLs are shown.
    thumb = media.thumb_url
    return thumb if thumb and thumb.startswith(("http://", "https://")) else None


def to_item(
    media: Media, space: Space, zone: zoneinfo.ZoneInfo, when: Callable[[dt.datetime], str] | None = None
) -> dict[str, Any]:
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
        "path": public_path(media),
        "tmbPath": public_thumb(media),
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
        "coverPath": public_thumb(media),
    }


def render(rows: Iterable[Media | dict[str, Any]], space: Space) -> list[dict[str, Any]]:
    """``to_item`` of ORM rows or of column dicts (Core inserts), formatting each distinct time once."""
    tz = zone()
    times: dict[dt.datetime, str] = {}

    def when(value: dt.datetime) -> str:
        if value not in times:
            times[value] = format_time(value, tz)
        return times[value]

    return [
        to_item(SimpleNamespace(**row) if isinstance(row, dict) else row, space, tz, when)  # type: ignore[arg-type]
        for row in rows
    ]
