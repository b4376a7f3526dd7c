"""Webhook delivery: signing, leased claims, retries with backoff, and the background thread."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import http.client
import json
import logging
import secrets
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from flask import Flask
from sqlalchemy import and_, case, delete, or_, select, update
from sqlalchemy.orm import Session

from ..errors import ConfigError
from ..models import MaterialEvent, WebhookDelivery
from ..state import get_state
from .outbox import DEAD, DELIVERED, PENDING, as_message

log = logging.getLogger("flask_medialib.events")

_RESPONSE_SNIPPET = 500


# -- signing ---------------------------------------------------------------------


def signature(secret: str, timestamp: str, nonce: str, body: bytes) -> str:
    message = timestamp.encode() + b"." + nonce.encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def verify_signature(
    secret: str, headers: Any, body: bytes, *, now: float | None = None, tolerance: float = 300
) -> bool:
    """What a receiver checks: the HMAC of the raw body, and a timestamp near its clock.

    (Remembering nonces to refuse replays inside ``tolerance`` is the receiver's part.)
    """
    timestamp = headers.get("X-Medialib-Timestamp", "")
    nonce = headers.get("X-Medialib-Nonce", "")
    given = headers.get("X-Medialib-Signature", "")
    try:
        age = abs((time.time() if now is None else now) - int(timestamp))
    except ValueError:
        return False
    return age <= tolerance and hmac.compare_digest(signature(secret, timestamp, nonce, body), given)


# -- delivering --------------------------------------------------------------------


@dataclass
class DeliveryStats:
    delivered: int = 0
    retried: int = 0
    dead: int = 0

    @property
    def attempted(self) -> int:
        return self.delivered + self.retried + self.dead


def lease_seconds(config: Any) -> float:
    """How long a claim holds: longer than one attempt can take (connect + send + read)."""
    return 3 * float(config["MEDIALIB_WEBHOOK_TIMEOUT"]) + 30.0


def _due(now: Any) -> Any:
    return and_(
        WebhookDelivery.status == PENDING,
        WebhookDelivery.next_attempt_at <= now,
        or_(WebhookDelivery.lease_until.is_(None), WebhookDelivery.lease_until < now),
    )


def claim(limit: int = 50) -> tuple[str, list[int]]:
    """Claim up to ``limit`` due deliveries for this worker; returns (lease owner, ids).

    The claim is one conditional UPDATE per batch in a short transaction of its
    own: a row another worker claimed first no longer matches, so each row
    goes to one worker, and every process sees the lease at once.
    """
    state = get_state()
    now = state.clock()
    owner = uuid.uuid4().hex
    until = now + dt.timedelta(seconds=lease_seconds(state.config))
    with state.db.engine.begin() as conn:
        candidates = (
            select(WebhookDelivery.id)
            .where(_due(now))
            .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
            .limit(limit)
        )
        if state.db.engine.dialect.name == "postgresql":
            candidates = candidates.with_for_update(skip_locked=True)
        ids = list(conn.execute(candidates).scalars())
        if not ids:
            return owner, []
        conn.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id.in_(ids), _due(now))
            .values(lease_until=until, lease_owner=owner)
        )
        won = list(
            conn.execute(
                select(WebhookDelivery.id).where(WebhookDelivery.lease_owner == owner).order_by(WebhookDelivery.id)
            ).scalars()
        )
    return owner, won


def deliver_claimed(owner: str, delivery_id: int) -> str:
    """Send one claimed delivery and record the outcome; returns the new status."""
    state = get_state()
    config = state.config
    with Session(state.db.engine) as session:
        row = session.execute(
            select(WebhookDelivery, MaterialEvent)
            .join(MaterialEvent, MaterialEvent.id == WebhookDelivery.event_id)
            .where(WebhookDelivery.id == delivery_id, WebhookDelivery.lease_owner == owner)
        ).first()
    if row is None:  # lease lost (expired and taken by another worker)
        return "lost"
    delivery, event = row
    status_code, error = post(
        delivery.url,
        as_message(event),
        secret=config["MEDIALIB_WEBHOOK_SECRET"] or "",
        timeout=config["MEDIALIB_WEBHOOK_TIMEOUT"],
        now=state.clock(),
    )
    now = state.clock()
    attempts = delivery.attempts + 1
    values: dict[str, Any] = {
        "attempts": attempts,
        "last_status": status_code,
        "last_error": error,
        "lease_until": None,
        "lease_owner": None,
    }
    if error is None:
        values.update(status=DELIVERED, delivered_at=now)
    elif attempts >= config["MEDIALIB_WEBHOOK_MAX_ATTEMPTS"]:
        values.update(status=DEAD)
        log.error(
            "webhook delivery %s of event %s to %s is dead after %s attempts: %s",
            delivery_id,
            event.id,
            delivery.url,
            attempts,
            error,
        )
    else:
        delay = float(config["MEDIALIB_WEBHOOK_BACKOFF"]) * 2 ** (attempts - 1)
        values.update(next_attempt_at=now + dt.timedelta(seconds=delay))
    with state.db.engine.begin() as conn:
        done = conn.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id == delivery_id, WebhookDelivery.lease_owner == owner)
            .values(**values)
        ).rowcount
    if not done:
        return "lost"
    return str(values.get("status", "retry"))


def deliver_due(limit: int = 50, stop: threading.Event | None = None) -> DeliveryStats:
    """Claim one batch of due deliveries and send them."""
    stats = DeliveryStats()
    owner, ids = claim(limit)
    for delivery_id in ids:
        if stop is not None and stop.is_set():
            release(owner)
            break
        outcome = deliver_claimed(owner, delivery_id)
        if outcome == DELIVERED:
            stats.delivered += 1
        elif outcome == DEAD:
            stats.dead += 1
        elif outcome == "retry":
            stats.retried += 1
    return stats


def deliver_all_due(limit: int = 50, stop: threading.Event | None = None) -> DeliveryStats:
    """Deliver until nothing is due now (each failure moves its row into the future, so this ends)."""
    if get_state().due("prune-deliveries", PRUNE_EVERY):
        prune_delivered()
    total = DeliveryStats()
    while not (stop is not None and stop.is_set()):
        stats = deliver_due(limit, stop)
        if not stats.attempted:
            break
        total.delivered += stats.delivered
        total.retried += stats.retried
        total.dead += stats.dead
    return total


def deliver_job() -> float | None:
    """A delivery job (``MEDIALIB_JOBS = "celery"``): deliver what is due; seconds until the next retry is due.

    The outbox rows decide everything, so a job that is lost or killed midway
    loses no event: its leases expire and the next job (or
    ``flask medialib events deliver``) sends again.
    """
    state = get_state()
    deliver_all_due()
    # A row leased by another worker is due again only when its lease ends.
    due_at = case(
        (WebhookDelivery.lease_until > WebhookDelivery.next_attempt_at, WebhookDelivery.lease_until),
        else_=WebhookDelivery.next_attempt_at,
    )
    with state.db.engine.connect() as conn:
        due = conn.execute(select(due_at).where(WebhookDelivery.status == PENDING).order_by(due_at).limit(1)).scalar()
    if due is None:
        return None
    return max(0.0, (due - state.clock()).total_seconds())


PRUNE_EVERY = dt.timedelta(hours=1)
_PRUNE_BATCH = 1000


def prune_delivered(*, keep_days: int | None = None) -> int:
    """Delete delivered rows older than ``MEDIALIB_WEBHOOK_KEEP_DELIVERED`` days; returns how many.

    Only delivered rows go: pending and dead rows are work or evidence, and the
    events themselves are the pull feed, which a new replica reads from the start.
    Batches keep each transaction (and its locks) short beside live deliveries.
    """
    state = get_state()
    days = state.config["MEDIALIB_WEBHOOK_KEEP_DELIVERED"] if keep_days is None else keep_days
    if days <= 0:
        return 0
    cutoff = state.clock() - dt.timedelta(days=days)
    old = select(WebhookDelivery.id).where(WebhookDelivery.status == DELIVERED, WebhookDelivery.delivered_at < cutoff)
    deleted = 0
    while True:
        with state.db.engine.begin() as conn:
            ids = list(conn.execute(old.order_by(WebhookDelivery.id).limit(_PRUNE_BATCH)).scalars())
            if ids:
                conn.execute(
                    delete(WebhookDelivery).where(WebhookDelivery.id.in_(ids), WebhookDelivery.status == DELIVERED)
                )
        deleted += len(ids)
        if len(ids) < _PRUNE_BATCH:
            return deleted


def release(owner: str) -> None:
    """Give back claimed rows not yet attempted (a worker that stops politely)."""
    with get_state().db.engine.begin() as conn:
        conn.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.lease_owner == owner, WebhookDelivery.status == PENDING)
            .values(lease_until=None, lease_owner=None)
        )


def retry_dead() -> int:
    """Make every dead delivery pending again, due now; returns how many."""
    state = get_state()
    with state.db.engine.begin() as conn:
        return int(
            conn.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.status == DEAD)
                .values(status=PENDING, attempts=0, next_attempt_at=state.clock(), lease_until=None, lease_owner=None)
            ).rowcount
        )


def post(url: str, message: dict[str, Any], *, secret: str, timeout: float, now: Any) -> tuple[int | None, str | None]:
    """POST one signed event; returns (status, error) with error None on a 2xx answer."""
    body = json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    timestamp = str(int(now.replace(tzinfo=dt.UTC).timestamp()))
    nonce = secrets.token_hex(16)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "flask-medialib-webhook",
        "X-Medialib-Event-Id": str(message["eventId"]),
        "X-Medialib-Event-Type": message["eventType"],
        "X-Medialib-Timestamp": timestamp,
        "X-Medialib-Nonce": nonce,
        "X-Medialib-Signature": signature(secret, timestamp, nonce, body),
    }
    parts = urlsplit(url)
    conn_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    conn = conn_class(parts.hostname or "", parts.port, timeout=timeout)
    try:
        conn.request("POST", target, body=body, headers=headers)
        response = conn.getresponse()
        snippet = response.read(_RESPONSE_SNIPPET).decode("utf-8", "replace")
        if 200 <= response.status < 300:
            return response.status, None
        return response.status, f"HTTP {response.status}: {snippet}"
    except (OSError, http.client.HTTPException) as exc:
        return None, f"{type(exc).__name__}: {exc}"
    finally:
        conn.close()


# -- the background thread ---------------------------------------------------------


class EventWorker:
    """Delivers due webhooks from a daemon thread of one app; wakes up after each event."""

    def __init__(self, app: Flask, interval: float = 1.0) -> None:
        self.app = app
        self.interval = interval
        self._stop = threading.Event()
        self._wake = threading.Event()
        self.thread = threading.Thread(target=self._run, name="medialib-events", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self._wake.set()
        if self.thread.is_alive():
            self.thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                with self.app.app_context():
                    deliver_all_due(stop=self._stop)
                    get_state(self.app).db.session.remove()
            except Exception:  # a receiver's bug must not fail a committed change
                log.exception("webhook delivery round failed")
            self._wake.wait(self.interval)


def worker(app: Flask) -> EventWorker | None:
    return get_state(app).event_worker


def stop_worker(app: Flask) -> None:
    state = get_state(app)
    found, state.event_worker = state.event_worker, None
    if found is not None:
        found.stop()


# -- set-up ----------------------------------------------------------------------------


def init_app(app: Flask) -> None:
    """Check the webhook keys and, when ``MEDIALIB_EVENT_THREAD`` is on, start the delivery thread.

    With gunicorn's ``--preload`` the thread would start in the master and not
    survive the fork: there, run ``flask medialib events deliver`` instead.
    """
    urls = app.config["MEDIALIB_WEBHOOK_URLS"]
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ConfigError(f"MEDIALIB_WEBHOOK_URLS: {url!r} is not an http(s) URL")
    if urls and not app.config["MEDIALIB_WEBHOOK_SECRET"]:
        raise ConfigError(
            "MEDIALIB_WEBHOOK_SECRET must be set when MEDIALIB_WEBHOOK_URLS is non-empty: it signs every delivery"
        )
    if app.config["MEDIALIB_EVENT_THREAD"]:
        found = EventWorker(app)
        get_state(app).event_worker = found
        found.start()
