"""Material events: outbox, signals and webhook delivery.

Every change of a media row, from the material API, the SMH side or the CLI
(:mod:`flask_medialib.services.media`), writes one event row
(``material_add``, ``material_rename``, ``material_delete``) in the same
transaction as the change, plus one delivery row per URL of
``MEDIALIB_WEBHOOK_URLS``. After the commit a blinker signal of the same name
is sent (``sender`` is the app, ``event`` the event as delivered below).

Webhook wire format (one POST per event and URL)::

    POST <url>
    Content-Type: application/json
    X-Medialib-Event-Id: 42
    X-Medialib-Timestamp: 1767268800            (Unix seconds)
    X-Medialib-Nonce: 3f9c...                   (random, new on every attempt)
    X-Medialib-Signature: <hex HMAC-SHA256>

    {"eventId": 42, "eventType": "material_add", "corpId": "acme",
     "occurredAt": "2026-01-01T12:00:00Z", "data": {...}}

``data`` is ``{"materials": [...]}`` (the materials in their new state, as the
material API shows them: ``path`` is a URL or ``media:<id>``, never a storage
key) for adds and renames, ``{"materialIds": [...]}`` for deletes. The signature is
``hex(HMAC-SHA256(MEDIALIB_WEBHOOK_SECRET, timestamp + "." + nonce + "." + body))``
over the raw body bytes. A receiver recomputes it from the raw body and the
two headers, compares with :func:`hmac.compare_digest`, rejects a timestamp
far from its own clock and a nonce it has seen, and treats ``eventId`` as the
idempotency key: delivery is at-least-once, the same event can arrive twice.
:func:`verify_signature` does exactly that check.

Any 2xx answer is a success. Anything else (a non-2xx status, a refused
connection, a timeout) is retried after ``MEDIALIB_WEBHOOK_BACKOFF`` seconds,
then twice as long each time; after ``MEDIALIB_WEBHOOK_MAX_ATTEMPTS`` attempts
the delivery is ``dead`` (``flask medialib events retry-dead`` revives it).

Workers (``flask medialib events deliver`` or the app's background thread
when ``MEDIALIB_EVENT_THREAD`` is on) claim due deliveries with a lease: a
conditional UPDATE that only one process can win. A worker killed in the
middle of a delivery leaves a lease that expires; the next run sends again.
"""

from .delivery import (
    DeliveryStats,
    EventWorker,
    claim,
    deliver_all_due,
    deliver_claimed,
    deliver_due,
    deliver_job,
    init_app,
    lease_seconds,
    post,
    prune_delivered,
    release,
    retry_dead,
    signature,
    stop_worker,
    verify_signature,
    worker,
)
from .outbox import (
    DEAD,
    DELIVERED,
    EVENT_TYPES,
    MATERIAL_ADD,
    MATERIAL_DELETE,
    MATERIAL_RENAME,
    PENDING,
    as_message,
    feed,
    record,
    serialise_space,
)
from .signals import SIGNALS, announce, material_add, material_delete, material_rename, signals

__all__ = [
    "DEAD",
    "DELIVERED",
    "EVENT_TYPES",
    "MATERIAL_ADD",
    "MATERIAL_DELETE",
    "MATERIAL_RENAME",
    "PENDING",
    "SIGNALS",
    "DeliveryStats",
    "EventWorker",
    "announce",
    "as_message",
    "claim",
    "deliver_all_due",
    "deliver_claimed",
    "deliver_due",
    "deliver_job",
    "feed",
    "init_app",
    "lease_seconds",
    "material_add",
    "material_delete",
    "material_rename",
    "post",
    "prune_delivered",
    "record",
    "release",
    "retry_dead",
    "serialise_space",
    "signals",
    "signature",
    "stop_worker",
    "verify_signature",
    "worker",
]
