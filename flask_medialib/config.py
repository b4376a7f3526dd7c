"""Every ``MEDIALIB_*`` configuration key: its default, its check, its meaning.

:func:`apply_defaults` runs in ``init_app``: it sets each default with
``app.config.setdefault`` and validates every value, so a bad key fails at
start-up with a message that names it. ``docs/configuration.rst`` is checked
against :data:`KEYS` by the test suite, so the two never drift apart.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .errors import ConfigError

Check = Callable[[str, Any], Any]


@dataclass(frozen=True)
class Key:
    name: str
    default: Any
    check: Check
    doc: str


def _int(lo: int, hi: int | None = None) -> Check:
    def check(name: str, value: Any) -> int:
        if isinstance(value, bool):
            raise ConfigError(f"{name} must be an integer, not {value!r}")
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{name} must be an integer, not {value!r}") from None
        if number < lo or (hi is not None and number > hi):
            bound = f"between {lo} and {hi}" if hi is not None else f"at least {lo}"
            raise ConfigError(f"{name} must be {bound}, not {number}")
        return number

    return check


def _float(lo: float, hi: float | None = None) -> Check:
    def check(name: str, value: Any) -> float:
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{name} must be a number, not {value!r}") from None
        if number < lo or (hi is not None and number > hi):
            raise ConfigError(f"{name} must be between {lo} and {hi}, not {number}")
        return number

    return check


def _bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in {"1", "true", "yes", "on", "0", "false", "no", "off"}:
        return value.lower() in {"1", "true", "yes", "on"}
    raise ConfigError(f"{name} must be true or false, not {value!r}")


def _choice(*options: str) -> Check:
    def check(name: str, value: Any) -> str:
        if value not in options:
            raise ConfigError(f"{name} must be one of {', '.join(options)}; got {value!r}")
        return str(value)

    return check


def _optional_str(name: str, value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value or None
    raise ConfigError(f"{name} must be a string or None, not {value!r}")


def _str(name: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{name} must be a non-empty string, not {value!r}")
    return value


def _str_list(name: str, value: Any) -> list[str]:
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{name} must be a list of strings (or a comma-separated string)")
    return list(value)


def _sizes(name: str, value: Any) -> list[int]:
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, list | tuple):
        raise ConfigError(f"{name} must be a list of cover sizes such as [256], not {value!r}")
    return sorted({_int(1, 8192)(name, size) for size in value})


def _prefix(name: str, value: Any) -> str:
    if not isinstance(value, str) or (value and not re.fullmatch(r"(/[A-Za-z0-9._~-]+)+", value)):
        raise ConfigError(f"{name} must be empty or a path such as /api/v1 (no trailing slash), not {value!r}")
    return value


def _timezone(name: str, value: Any) -> str:
    try:
        zoneinfo.ZoneInfo(str(value))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"{name} must be an IANA time zone such as UTC or Asia/Shanghai, not {value!r}") from None
    return str(value)


KEYS: tuple[Key, ...] = (
    Key("MEDIALIB_URL_PREFIX", "/api/v1", _prefix, "URL prefix of every route of the extension."),
    Key(
        "MEDIALIB_STORAGE_ROOT",
        None,
        _optional_str,
        "Folder of the local storage; defaults to ``<instance_path>/medialib-storage``.",
    ),
    Key(
        "MEDIALIB_MAX_UPLOAD_BYTES", 512 * 1024 * 1024, _int(1), "Largest upload body in bytes; a larger one gets 413."
    ),
    Key(
        "MEDIALIB_MAX_IMAGE_PIXELS",
        100_000_000,
        _int(1),
        "Largest image (width x height) that is decoded; a guard against decompression bombs.",
    ),
    Key("MEDIALIB_TOKEN_TTL", 86_400, _int(1), "Default lifetime of an access token in seconds; it renews on use."),
    Key(
        "MEDIALIB_TOKEN_MAX_TTL",
        30 * 86_400,
        _int(1),
        "Longest lifetime (``period``) a client may ask for when issuing a token.",
    ),
    Key(
        "MEDIALIB_SIGNED_URL_TTL",
        3600,
        _int(60),
        "Lifetime of a signed file URL in seconds (URLs are reused within a window of a tenth of it).",
    ),
    Key(
        "MEDIALIB_SIGNING_SECRET",
        None,
        _optional_str,
        "Secret that signs file URLs; defaults to ``SECRET_KEY``. Required unless testing or debugging.",
    ),
    Key(
        "MEDIALIB_CACHE_TYPE",
        "FileSystemCache",
        _str,
        "Flask-Caching backend of the extension's own cache when no ``cache`` is passed "
        "(``FileSystemCache``, ``RedisCache``, ``SimpleCache`` ...).",
    ),
    Key(
        "MEDIALIB_CACHE_DIR",
        None,
        _optional_str,
        "Folder of the FileSystemCache; defaults to ``<instance_path>/medialib-cache``.",
    ),
    Key(
        "MEDIALIB_CACHE_REDIS_URL",
        None,
        _optional_str,
        "Redis URL of the RedisCache, e.g. ``redis://127.0.0.1:6379/0``.",
    ),
    Key(
        "MEDIALIB_CACHE_TIMEOUT",
        7 * 86_400,
        _int(0),
        "Seconds a rendered cover or a face list stays cached (0: no expiry).",
    ),
    Key("MEDIALIB_CACHE_KEY_PREFIX", "medialib:", _str, "Prefix of every cache key of the extension."),
    Key(
        "MEDIALIB_COVER_ORDER",
        "oldest",
        _choice("oldest", "newest"),
        "Which media is the cover: the oldest upload (SMH's behaviour) or the newest.",
    ),
    Key("MEDIALIB_COVER_MAX_SIZE", 2048, _int(1, 8192), "Largest ``size`` a cover request may ask for."),
    Key("MEDIALIB_COVER_FORMAT", "JPEG", _choice("JPEG", "WEBP", "PNG"), "Encoding of rendered covers."),
    Key("MEDIALIB_COVER_QUALITY", 85, _int(1, 100), "JPEG/WebP quality of rendered covers."),
    Key(
        "MEDIALIB_COVER_ZOOM",
        1.0,
        _float(1.0, 10.0),
        "1.0 crops the largest square; a larger value crops tighter around the faces.",
    ),
    Key(
        "MEDIALIB_FACE_DETECTOR",
        "retinaface",
        _str,
        "``retinaface``, ``none`` or an import path ``package.module:Class`` of a FaceDetector.",
    ),
    Key(
        "MEDIALIB_DETECT_MAX_SIDE",
        640,
        _int(32, 4096),
        "Faces are detected on a copy whose longest side is at most this many pixels.",
    ),
    Key("MEDIALIB_FACE_THRESHOLD", 0.9, _float(0.0, 1.0), "Lowest score of a detected face."),
    Key(
        "MEDIALIB_PRELOAD_DETECTOR",
        False,
        _bool,
        "Load the face model at start-up (fail fast) instead of on first use.",
    ),
    Key(
        "MEDIALIB_COVER_REDIRECT_MAX_AGE",
        30,
        _int(0, 3600),
        "Seconds a browser may keep a cover's 302 (short, so a new cover shows soon).",
    ),
    Key(
        "MEDIALIB_COVER_MEMO_TTL",
        5,
        _int(0, 60),
        "Seconds a worker reuses a resolved cover 302 without the database (0: off); any media change "
        "in the space and any token revocation end it at once.",
    ),
    Key(
        "MEDIALIB_COVER_MASTER_SIDE",
        1024,
        _int(0, 8192),
        "Short side of the cached downscaled copy that covers of other sizes up to it are cut from "
        "(0: off; every size decodes the source).",
    ),
    Key(
        "MEDIALIB_JOBS",
        "inline",
        _choice("inline", "celery"),
        "Where covers render: ``inline`` in the web process on first view (nothing else to run), or "
        "``celery`` in render workers (``flask medialib worker``), with uploads pre-rendered.",
    ),
    Key(
        "MEDIALIB_CELERY_BROKER_URL",
        None,
        _optional_str,
        "Broker of the extension's own Celery app (``redis://...`` or ``amqp://...``) when ``MEDIALIB_JOBS`` is "
        "``celery`` and no ``celery=`` app is passed to ``MediaLib``.",
    ),
    Key("MEDIALIB_CELERY_QUEUE", "medialib", _str, "Celery queue of the extension's render and delivery jobs."),
    Key(
        "MEDIALIB_PRERENDER_SIZES",
        [256],
        _sizes,
        "Cover sizes rendered by a job after each image or video is added, for the media and the album "
        "and space covers it changes (celery only; empty: none).",
    ),
    Key(
        "MEDIALIB_RENDER_WAIT",
        10.0,
        _float(0.0, 120.0),
        "Seconds a cold cover request waits for its render job (celery only); then 503 with Retry-After.",
    ),
    Key(
        "MEDIALIB_RENDER_LOCK_TTL",
        120,
        _int(1, 3600),
        "Seconds a render lock or a queued-render mark lives at most, so a killed renderer blocks no one longer.",
    ),
    Key("MEDIALIB_MATERIAL_MAX_ITEMS", 1000, _int(1, 100_000), "Most items in one material ``add``."),
    Key(
        "MEDIALIB_IMPORT_LOCK_TIMEOUT",
        600,
        _int(1),
        "Seconds after which an unfinished material import no longer locks its enterprise.",
    ),
    Key("MEDIALIB_TIMEZONE", "UTC", _timezone, "Time zone of material ``createTime`` strings."),
    Key(
        "MEDIALIB_FETCH_ALLOWED_HOSTS",
        [],
        _str_list,
        "Hosts whose http(s) media URLs a cover may fetch; empty: fetching is off.",
    ),
    Key("MEDIALIB_FETCH_TIMEOUT", 10.0, _float(0.1, 300.0), "Timeout in seconds of one media fetch."),
    Key("MEDIALIB_FETCH_MAX_BYTES", 100 * 1024 * 1024, _int(1), "Largest media a fetch may download."),
    Key("MEDIALIB_WEBHOOK_URLS", [], _str_list, "URLs that receive every material event."),
    Key(
        "MEDIALIB_WEBHOOK_SECRET",
        None,
        _optional_str,
        "Secret of the HMAC-SHA256 signature of webhook deliveries; required when URLs are set.",
    ),
    Key("MEDIALIB_WEBHOOK_MAX_ATTEMPTS", 8, _int(1, 100), "Attempts before a delivery is dead-lettered."),
    Key(
        "MEDIALIB_WEBHOOK_BACKOFF",
        2.0,
        _float(0.0, 3600.0),
        "Seconds before the first retry; each later retry waits twice as long.",
    ),
    Key("MEDIALIB_WEBHOOK_TIMEOUT", 10.0, _float(0.1, 300.0), "Timeout in seconds of one webhook request."),
    Key(
        "MEDIALIB_EVENT_THREAD",
        False,
        _bool,
        "Deliver webhooks from a background thread of the app (else run ``flask medialib events deliver``).",
    ),
)

KEYS_BY_NAME = {key.name: key for key in KEYS}


def apply_defaults(config: dict[str, Any]) -> None:
    """Set every default and normalise every value, naming the key on failure."""
    for key in KEYS:
        config.setdefault(key.name, key.default)
        config[key.name] = key.check(key.name, config[key.name])
    unknown = sorted(k for k in config if k.startswith("MEDIALIB_") and k not in KEYS_BY_NAME)
    if unknown:
        raise ConfigError(f"unknown configuration key(s): {', '.join(unknown)} (a typo?)")
