"""Jobs: cover renders and webhook deliveries, inline (the embedded default) or on Celery.

``MEDIALIB_JOBS = "inline"``: nothing else to run. A cold cover renders in the
web process that received the request; webhooks go out from
``flask medialib events deliver`` or the app's delivery thread.

``MEDIALIB_JOBS = "celery"``: renders run in worker processes
(``flask medialib worker``), so web processes never import TensorFlow.

- After a ``material_add`` event (every upload, import or material add) or a
  ``material_rename`` (which also reports replaced bytes), a job renders
  ``MEDIALIB_PRERENDER_SIZES`` for those images and videos and for the album
  and space covers they change: the first ``<img>`` is warm. What is cached
  already costs the job one cache lookup.
- A cold cover request enqueues its render once across processes (a cache
  ``add`` of a mark keyed by the cover's cache key, which lives at most
  ``MEDIALIB_RENDER_LOCK_TTL`` seconds) and polls the cache where the worker
  stores the render, for up to ``MEDIALIB_RENDER_WAIT`` seconds; then 503 with
  ``Retry-After``. A mark whose job died with its worker expires and the next
  poll enqueues again.
- Every event enqueues a delivery job when webhooks are configured. The outbox
  stays the source of truth: a lost job only delays a delivery until the next
  job or ``flask medialib events deliver``.

The Celery app is the host's (``MediaLib(app, celery=...)``) or one made here
from ``MEDIALIB_CELERY_BROKER_URL`` and the optional ``CELERY`` dict of the
Flask config (Flask's documented Celery pattern). Either way each task runs
inside this Flask app's context. Celery is imported only in celery mode.
"""

from __future__ import annotations

import contextvars
import hashlib
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flask import Flask
from sqlalchemy import select

from . import locks
from .errors import ConfigError, HTTPError, MediaError
from .models import VISUAL_KINDS, Library, Media, Space
from .state import MediaLibState, get_state

if TYPE_CHECKING:
    from celery import Celery

log = logging.getLogger("flask_medialib.jobs")

INLINE, CELERY = "inline", "celery"
RENDER_TASK = "flask_medialib.render"
PRERENDER_TASK = "flask_medialib.prerender"
DELIVER_TASK = "flask_medialib.deliver"
#: Media ids per pre-render job: a 1000-item material add becomes 10 jobs that workers share.
PRERENDER_BATCH = 100
#: Longest countdown of a follow-up delivery job (a Redis broker redelivers long-held ETA jobs).
DELIVERY_FOLLOW_UP_MAX = 300.0
#: Runs of a job after the first whose worker process died under it (Celery >= 5.7: retry_on_worker_lost).
LOST_JOB_RETRIES = 2
_POLL_FIRST, _POLL_MAX = 0.02, 0.25

# True while a job of ours runs: covers render here instead of enqueueing themselves.
_in_job: contextvars.ContextVar[bool] = contextvars.ContextVar("medialib_in_job", default=False)


@dataclass
class Jobs:
    """The Celery side of one app (``MediaLibState.jobs``; None when jobs are inline)."""

    celery: Celery
    queue: str
    owned: bool  # made here (closed with the app), not the host's

    def send(self, name: str, args: list[Any], *, task_id: str | None = None, countdown: float | None = None) -> None:
        self.celery.send_task(
            name,
            args=args,
            queue=self.queue,
            task_id=task_id,
            countdown=countdown,
            # A broker that is down must not hold a request for long: fail fast, the caller decides.
            retry_policy={"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5},
        )

    def close(self) -> None:
        if self.owned:
            self.celery.close()


# -- set-up ----------------------------------------------------------------------------


def init_app(app: Flask, celery: Celery | None = None) -> None:
    """In celery mode: check the keys, make or adopt the Celery app, register the tasks, subscribe."""
    state = get_state(app)
    config = app.config
    if config["MEDIALIB_JOBS"] != CELERY:
        if celery is not None:
            raise ConfigError("MediaLib(celery=...) needs MEDIALIB_JOBS = 'celery'; it is 'inline'")
        return
    too_big = [size for size in config["MEDIALIB_PRERENDER_SIZES"] if size > config["MEDIALIB_COVER_MAX_SIZE"]]
    if too_big:
        raise ConfigError(f"MEDIALIB_PRERENDER_SIZES: {too_big} exceed MEDIALIB_COVER_MAX_SIZE")
    if locks.kind(app.extensions["cache"][state.cache]) == "thread":
        raise ConfigError(
            "MEDIALIB_JOBS = 'celery' needs a cache that workers share with web processes "
            "(RedisCache, or FileSystemCache on one machine), not one that lives in a single process"
        )
    owned = celery is None
    if celery is None:
        celery = _make_celery(app)
    state.jobs = Jobs(celery, config["MEDIALIB_CELERY_QUEUE"], owned)
    _register(app, celery)

    from .events.signals import SIGNALS, material_add, material_rename

    # A rename event also stands for new bytes (a file replaced): covers of a new version are cold.
    material_add.connect(_on_materials_changed, sender=app, weak=False)
    material_rename.connect(_on_materials_changed, sender=app, weak=False)
    if config["MEDIALIB_WEBHOOK_URLS"]:
        for signal in SIGNALS.values():
            signal.connect(_on_event, sender=app, weak=False)


def _make_celery(app: Flask) -> Celery:
    try:
        from celery import Celery
    except ImportError:
        raise ConfigError("MEDIALIB_JOBS = 'celery' needs Celery: pip install 'flask-medialib[jobs]'") from None
    broker = app.config["MEDIALIB_CELERY_BROKER_URL"]
    if not broker:
        raise ConfigError(
            "MEDIALIB_JOBS = 'celery' needs MEDIALIB_CELERY_BROKER_URL (redis://... or amqp://...) "
            "or a Celery app: MediaLib(app, celery=...)"
        )
    celery = Celery(app.import_name, broker=broker, set_as_current=False)
    celery.conf.update(
        task_default_queue=app.config["MEDIALIB_CELERY_QUEUE"],
        task_ignore_result=True,
        # A job whose worker dies is given back to the broker, not dropped.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        broker_connection_retry_on_startup=True,
    )
    # Flask's documented pattern: the rest of Celery's settings come from app.config["CELERY"].
    celery.conf.update(app.config.get("CELERY") or {})
    return celery


def _register(app: Flask, celery: Celery) -> None:
    def in_app(name: str, body: Callable[..., None]) -> None:
        def run(*args: Any) -> None:
            with app.app_context():
                mark = _in_job.set(True)
                try:
                    body(*args)
                finally:
                    _in_job.reset(mark)
                    get_state(app).session.remove()

        run.__name__ = run.__qualname__ = body.__name__
        celery.task(
            name=name,
            shared=False,
            ignore_result=True,
            acks_late=True,
            reject_on_worker_lost=True,
            # A job whose process dies runs again, at most twice more: media that kills
            # every renderer (a decoder crash, the OOM killer) must not loop for ever.
            retry_on_worker_lost=True,
            max_retries=LOST_JOB_RETRIES,
            default_retry_delay=0,
        )(run)

    in_app(RENDER_TASK, _render_job)
    in_app(PRERENDER_TASK, _prerender_job)
    in_app(DELIVER_TASK, _deliver_job)


def close(app: Flask) -> None:
    """Close the broker connections of a Celery app made here (tests, app shutdown)."""
    found = get_state(app).jobs
    if found is not None:
        found.close()


# -- the web side ----------------------------------------------------------------------


def renders_here(state: MediaLibState) -> bool:
    """Whether this process renders covers itself: inline mode, or inside a job."""
    return state.jobs is None or _in_job.get()


def _queued_key(cover_key: str) -> str:
    return f"jobs:render:{cover_key}"


def render_remote(state: MediaLibState, media: Media, size: int, cover_key: str, broken_key: str) -> Any:
    """The cache entry ``cover_key`` (as stored) that a worker renders: enqueued once, waited for; 503 on timeout.

    Raises :class:`MediaError` when the worker found the media broken (``broken_key``).
    """
    jobs = state.jobs
    assert jobs is not None
    wait = state.config["MEDIALIB_RENDER_WAIT"]
    ttl = state.config["MEDIALIB_RENDER_LOCK_TTL"]
    queued = _queued_key(cover_key)
    deadline = time.monotonic() + wait
    pause = _POLL_FIRST
    while True:
        entry, broken, mark = state.cache.get_many(cover_key, broken_key, queued)
        if entry is not None:  # as the worker stored it (the caller knows its shape)
            return entry
        if broken is not None:
            raise MediaError(str(broken))
        # No mark: never queued, done without a result, or its worker died and the mark expired.
        if mark is None and state.cache.add(queued, 1, timeout=ttl):
            task_id = "render-" + hashlib.sha256(cover_key.encode()).hexdigest()[:32]
            try:
                jobs.send(RENDER_TASK, [media.id, size, cover_key], task_id=task_id)
            except Exception as exc:  # noqa: BLE001 - each transport raises its own errors; the mark must go
                state.cache.delete(queued)
                log.warning("cannot enqueue the render of %s: %s", cover_key, exc)
                raise _unavailable("the render queue is unavailable", "RenderQueueUnavailable", ttl) from None
        left = deadline - time.monotonic()
        if left <= 0:
            raise _unavailable(
                f"the cover is being rendered; ask again in a moment (waited {wait:g} s)", "CoverRendering", 1
            )
        time.sleep(min(pause, left))
        pause = min(pause * 2, _POLL_MAX)


def _unavailable(message: str, code: str, retry_after: float) -> HTTPError:
    return HTTPError(message, status=503, code=code, headers={"Retry-After": str(max(1, round(retry_after)))})


def _on_materials_changed(app: Flask, event: dict[str, Any]) -> None:
    jobs = get_state(app).jobs
    sizes = app.config["MEDIALIB_PRERENDER_SIZES"]
    if jobs is None or not sizes:
        return
    items = event.get("data", {}).get("materials", [])
    # Kinds the event names are filtered here; the job filters again on the rows.
    ids = [item["id"] for item in items if item.get("type") in VISUAL_KINDS or "type" not in item]
    for start in range(0, len(ids), PRERENDER_BATCH):
        jobs.send(PRERENDER_TASK, [ids[start : start + PRERENDER_BATCH]])


def _on_event(app: Flask, event: dict[str, Any]) -> None:
    jobs = get_state(app).jobs
    if jobs is not None:
        jobs.send(DELIVER_TASK, [])


# -- the worker side -------------------------------------------------------------------


def _render_job(media_id: int, size: int, cover_key: str) -> None:
    from .services import covers

    state = get_state()
    try:
        media = state.session.get(Media, media_id)
        # Another identity now (replaced, deleted, another database): nothing to do for this key.
        if media is not None and covers.cover_key(state, media, size) == cover_key:
            covers.ensure_cover(media, size)
    finally:
        state.cache.delete(_queued_key(cover_key))


def _prerender_job(media_ids: list[int]) -> None:
    from .services import covers

    state = get_state()
    sizes = state.config["MEDIALIB_PRERENDER_SIZES"]
    stmt = select(Media).where(Media.id.in_(media_ids), Media.kind.in_(VISUAL_KINDS)).order_by(Media.id)
    rows = list(state.session.execute(stmt).scalars())
    for media in rows:
        for size in sizes:
            covers.ensure_cover(media, size)  # faces are detected once; other sizes reuse them
    for space, album_pk in _folders(state, rows):
        for size in sizes:
            _first_cover(covers, space, album_pk, size)


def _folders(state: MediaLibState, rows: Iterable[Media]) -> list[tuple[Space, int | None]]:
    """The album covers (and, without albums, the space covers) that ``rows`` may change."""
    found: list[tuple[Space, int | None]] = []
    for space_pk, album_pk in sorted({(m.space_pk, m.album_pk) for m in rows}, key=repr):
        space = state.session.get(Space, space_pk)
        library = state.session.get(Library, space.library_id) if space is not None else None
        if space is None or library is None:
            continue
        if album_pk is not None:
            found.append((space, album_pk))
        if not library.album_based:
            found.append((space, None))
    return found


def _first_cover(covers: Any, space: Space, album_pk: int | None, size: int) -> None:
    """Render what the cover of the album (or space) shows now: its first usable media."""
    for media in covers.candidates(space, album_pk):
        if covers.ensure_cover(media, size):
            return


def _deliver_job() -> None:
    from .events import delivery

    state = get_state()
    delay = delivery.deliver_job()
    # Retries wait in the outbox; one follow-up job at a time picks them up when due.
    if delay is not None:
        delay = min(max(delay, 1.0), DELIVERY_FOLLOW_UP_MAX)
        if state.cache.add("jobs:deliver:follow-up", 1, timeout=max(1, int(delay))):
            assert state.jobs is not None
            state.jobs.send(DELIVER_TASK, [], countdown=delay)
