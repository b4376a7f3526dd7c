"""Blinker signals sent after a change commits, one per event type."""

from __future__ import annotations

import logging

from flask import current_app
from flask.signals import Namespace

from ..models import MaterialEvent
from ..state import get_state
from .outbox import MATERIAL_ADD, MATERIAL_DELETE, MATERIAL_RENAME, as_message

log = logging.getLogger("flask_medialib.events")

signals = Namespace()
material_add = signals.signal(MATERIAL_ADD)
material_rename = signals.signal(MATERIAL_RENAME)
material_delete = signals.signal(MATERIAL_DELETE)
SIGNALS = {MATERIAL_ADD: material_add, MATERIAL_RENAME: material_rename, MATERIAL_DELETE: material_delete}


def announce(event: MaterialEvent) -> None:
    """After the commit: send the blinker signal and wake this process's delivery thread."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    message = as_message(event)
    try:
        SIGNALS[message["eventType"]].send(app, event=message)
    except Exception:  # a receiver's bug must not fail a committed change
        log.exception("a receiver of %s failed (event %s)", message["eventType"], message["eventId"])
    worker = get_state(app).event_worker
    if worker is not None:
        worker.wake()
