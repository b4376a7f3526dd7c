"""The outbox: event rows written in the transaction of the change they describe, and the pull feed."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from ..models import MaterialEvent, Space, WebhookDelivery
from ..state import get_state

MATERIAL_ADD, MATERIAL_RENAME, MATERIAL_DELETE = "material_add", "material_rename", "material_delete"
EVENT_TYPES = (MATERIAL_ADD, MATERIAL_RENAME, MATERIAL_DELETE)
PENDING, DELIVERED, DEAD = "pending", "delivered", "dead"


# -- writing events (inside the caller's transaction) ---------------------------


def serialise_space(space: Space) -> None:
    """Lock the space row until the commit so events of one space get ids in commit order.

    Without it two concurrent writers could commit ids 8 then 7, and a pull
    feed reader at cursor 8 would never see 7. SQLite already has one writer
    at a time.
    """
    state = get_state()
    if state.db.engine.dialect.name != "sqlite":
        state.session.execute(select(Space.pk).where(Space.pk == space.pk).with_for_update())


def record(space: Space, event_type: str, data: dict[str, Any]) -> MaterialEvent:
    """Add an outbox row and its delivery rows to the current transaction (the caller commits)."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {event_type!r}")
    state = get_state()
    now = state.clock()
    event = MaterialEvent(
        space_pk=space.pk,
        library_id=space.library_id,
        corp_id=space.space_id,
        event_type=event_type,
        payload=json.dumps(data, separators=(",", ":"), ensure_ascii=False),
        occurred_at=now,
    )
    state.session.add(event)
    state.session.flush()
    state.session.add_all(
        WebhookDelivery(event_id=event.id, url=url, status=PENDING, attempts=0, next_attempt_at=now, created_at=now)
        for url in state.config["MEDIALIB_WEBHOOK_URLS"]
    )
    return event


def as_message(event: MaterialEvent) -> dict[str, Any]:
    """The event as webhooks, signals and the pull feed show it."""
    return {
        "eventId": event.id,
        "eventType": event.event_type,
        "corpId": event.corp_id,
        "occurredAt": event.occurred_at.replace(microsecond=0).isoformat() + "Z",
        "data": json.loads(event.payload),
    }


def feed(space: Space, after: int, limit: int) -> list[MaterialEvent]:
    """Events of ``space`` with an id above ``after``, oldest first."""
    stmt = (
        select(MaterialEvent)
        .where(MaterialEvent.space_pk == space.pk, MaterialEvent.id > after)
        .order_by(MaterialEvent.id)
        .limit(limit)
    )
    return list(get_state().session.execute(stmt).scalars())
