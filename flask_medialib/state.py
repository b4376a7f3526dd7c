"""The per-app state object and its accessor: the ground floor, importing nothing of ours above it."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flask import Flask, current_app

from .clock import utcnow

if TYPE_CHECKING:
    import datetime as dt

    from flask_caching import Cache
    from flask_sqlalchemy import SQLAlchemy

    from .imaging.faces import FaceDetector
    from .storage import Storage

EXTENSION_KEY = "medialib"


@dataclass
class MediaLibState:
    """Everything the extension keeps per app, in ``app.extensions["medialib"]`` and nowhere else."""

    extension: Any  # the MediaLib object (typed loosely: it lives a floor above)
    db: SQLAlchemy
    cache: Cache
    storage: Storage
    config: dict[str, Any]
    signing_secret: str
    clock: Callable[[], dt.datetime] = utcnow
    # Per-app, per-process memos (never shared between apps):
    installation_id: str | None = None  # identity.installation_id, read once
    file_serializer: Any = None  # signing: the serializer of file URLs (its salt names the installation)
    file_refs: dict[str, Any] = field(default_factory=dict)  # signing: token -> FileRef, of good tokens
    file_url_bases: dict[str, str] = field(default_factory=dict)  # script root -> ".../f/"
    cover_spaces: dict[tuple[str, str], int] = field(default_factory=dict)  # (library id, space id) -> space pk
    cover_queries: dict[tuple[tuple[str, str], ...], tuple[tuple[str, Any], ...]] = field(
        default_factory=dict
    )  # query less token -> args
    openapi_spec: dict[str, Any] | None = None
    event_worker: Any = None  # events.delivery.EventWorker when MEDIALIB_EVENT_THREAD is on
    last_runs: dict[str, dt.datetime] = field(default_factory=dict)  # chore -> when this process last ran it
    jobs: Any = None  # jobs.Jobs when MEDIALIB_JOBS is "celery"
    _detector: FaceDetector | None = None
    _detector_lock: threading.Lock = field(default_factory=threading.Lock)

    def detector(self) -> FaceDetector:
        """The face detector, loaded on first use (TensorFlow is heavy) once per process."""
        if self._detector is None:
            with self._detector_lock:
                if self._detector is None:
                    from .config import detector_options
                    from .imaging.faces import load_detector

                    self._detector = load_detector(
                        self.config["MEDIALIB_FACE_DETECTOR"], **detector_options(self.config)
                    )
        return self._detector

    def due(self, chore: str, every: dt.timedelta, *, force: bool = False) -> bool:
        """Whether this process should run ``chore`` now (at most once per ``every``); if so, it is marked run."""
        now = self.clock()
        last = self.last_runs.get(chore)
        if not force and last is not None and last <= now < last + every:
            return False
        self.last_runs[chore] = now
        return True

    @property
    def session(self) -> Any:
        return self.db.session


def get_state(app: Flask | None = None) -> MediaLibState:
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    try:
        return app.extensions[EXTENSION_KEY]
    except KeyError:
        raise RuntimeError(
            "flask-medialib is not registered on this app: call MediaLib(app) or medialib.init_app(app) first."
        ) from None
