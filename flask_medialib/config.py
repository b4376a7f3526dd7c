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
from urllib.parse import urlsplit

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


def _multiple_of(step: int, lo: int, hi: int) -> Check:
    within = _int(lo, hi)

    def check(name: str, value: Any) -> int:
        number = within(name, value)
        if number % step:
            raise ConfigError(f"{name} must be a multiple of {step}, not {number}")
        return number

    return check


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


def _fetch_hosts(name: str, value: Any) -> list[str]:
    from .fetch import parse_rule  # fetch reads the config at run time; no import at load time

    entries = _str_list(name, value)
    for entry in entries:
        try:
            parse_rule(entry)
        except ValueError as exc:
            raise ConfigError(f"{name}: {exc}") from None
    return entries


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


def _optional_prefix(name: str, value: Any) -> str | None:
    if value is None:
        return None
    if not value:
        raise ConfigError(f"{name} must be None (off) or a path such as /_medialib_files, not {value!r}")
    return _prefix(name, value)


def _timezone(name: str, value: Any) -> str:
    try:
        zoneinfo.ZoneInfo(str(value))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"{name} must be an IANA time zone such as UTC or Asia/Shanghai, not {value!r}") from None
    return str(value)


def _optional_url(name: str, value: Any) -> str | None:
    value = _optional_str(name, value)
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise ConfigError(f"{name} must be an http(s) URL such as https://s3.example.com, not {value!r}")
    return value


def _bucket(name: str, value: Any) -> str | None:
    value = _optional_str(name, value)
    if value is not None and not re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", value):
        raise ConfigError(f"{name} must be an S3 bucket name (3-63 of a-z, 0-9, '.', '-'), not {value!r}")
    return value


def _key_prefix(name: str, value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or (value and not re.fullmatch(r"([A-Za-z0-9._~-]+/)*[A-Za-z0-9._~-]*", value)):
        raise ConfigError(
            f"{name} must be empty or a key prefix such as media/ (letters, digits, '._~-/', "
            f"no leading slash, no empty segment), not {value!r}"
        )
    if any(part in (".", "..") for part in value.split("/")):
        raise ConfigError(f"{name} must not hold a '.' or '..' segment, not {value!r}")
    return value


KEYS: tuple[Key, ...] = (
    Key("MEDIALIB_URL_PREFIX", "/api/v1", _prefix, "URL prefix of every route of the extension."),
    Key(
        "MEDIALIB_STORAGE_ROOT",
        None,
        _optional_str,
        "Folder of the local storage; defaults to ``<instance_path>/medialib-storage``.",
    ),
    Key(
        "MEDIALIB_STORAGE",
        "local",
        _choice("local", "s3"),
        "Where media bytes live: ``local`` (a folder) or ``s3`` (a bucket of any S3-compatible store; "
        "needs the ``s3`` extra, i.e. boto3).",
    ),
    Key(
        "MEDIALIB_ACCEL_REDIRECT_PREFIX",
        None,
        _optional_prefix,
        "Local storage behind nginx: signed downloads of originals answer with an empty body and "
        "``X-Accel-Redirect: <prefix>/<storage key>``, so nginx sends the file from an ``internal`` "
        "location (e.g. ``/_medialib_files``); None: Flask sends the bytes.",
    ),
    Key("MEDIALIB_S3_BUCKET", None, _bucket, "Bucket of the ``s3`` storage (required with it)."),
    Key(
        "MEDIALIB_S3_PREFIX",
        "",
        _key_prefix,
        "Key prefix of every object the extension writes, e.g. ``media/`` (no leading slash; a missing "
        "trailing one is added).",
    ),
    Key(
        "MEDIALIB_S3_ENDPOINT_URL",
        None,
        _optional_url,
        "Endpoint of an S3-compatible store (MinIO, Ceph RGW, Tencent COS ...); None: AWS S3.",
    ),
    Key("MEDIALIB_S3_REGION", None, _optional_str, "Region of the bucket; None: boto3's own default."),
    Key(
        "MEDIALIB_S3_ADDRESSING_STYLE",
        "auto",
        _choice("auto", "path", "virtual"),
        "Bucket in the path (MinIO, Ceph) or in the host name (Tencent COS); ``auto`` lets boto3 choose.",
    ),
    Key(
        "MEDIALIB_S3_PUBLIC_URL",
        None,
        _optional_url,
        "Public or CDN base URL of the bucket (objects at ``<base>/<prefix><key>``); downloads redirect "
        "there instead of to presigned GETs. None: presigned GETs that live as long as the signed URLs.",
    ),
    Key(
        "MEDIALIB_MAX_UPLOAD_BYTES", 512 * 1024 * 1024, _int(1), "Largest upload body in bytes; a larger one gets 413."
    ),
    Key(
        "MEDIALIB_UPLOAD_DOMAIN",
        None,
        _optional_str,
        "Host (and port) SMH upload sessions send the bytes to on local storage (``domain`` of the begin "
        "answer: clients PUT to ``{protocol}//{domain}{path}``); set it to the public host behind a proxy. "
        "None: the host of the begin request.",
    ),
    Key(
        "MEDIALIB_UPLOAD_SESSION_TTL",
        3600,
        _int(60, 86_400),
        "Seconds an SMH upload session (and its upload URLs) lives after begin or renew; abandoned "
        "sessions are swept with their bytes after that. Keep it below ``MEDIALIB_STAGING_MAX_AGE``: "
        "staged parts older than that are swept as leftovers.",
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
    Key("MEDIALIB_FACE_THRESHOLD", 0.9, _float(0.0, 1.0), "Lowest score of a detected face (both passes)."),
    Key(
        "MEDIALIB_FINE_DETECT",
        "no-face",
        _choice("no-face", "always", "off"),
        "When RetinaFace looks again, tile by tile on a finer copy, for small faces (a group photo taken "
        "from afar): ``no-face`` when the first pass found none, ``always``, or ``off``.",
    ),
    Key(
        "MEDIALIB_FINE_DETECT_SIDE",
        1280,
        _int(64, 8192),
        "Longest side of the finer copy; it runs only on images at least 1.25 times larger than the first "
        "pass's copy. RetinaFace finds faces from ~24 px wide in its input: at 1280 a 12 MP photo's faces "
        "from ~75 px.",
    ),
    Key(
        "MEDIALIB_FINE_DETECT_TILE",
        1024,
        _multiple_of(32, 64, 4096),
        "Longest side of a tile of the finer copy (a multiple of 32), one model call each; larger tiles "
        "overlap less (a 12 MP photo: 2 tiles of 704 x 960, against 6 of 512 x 544 at 640).",
    ),
    Key(
        "MEDIALIB_FINE_DETECT_PROPOSE",
        0.005,
        _float(0.0, 0.5),
        "Raw face probability (before the model's own threshold) from which an 8 px cell of the first pass "
        "proposes a small face; the finer pass looks only at windows of its copy around proposals, and not at "
        "all (no second decode) where none is proposed. ``0``: tile the whole finer copy (3-4 times the CPU, "
        "looks everywhere).",
    ),
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
        "MEDIALIB_PROXY_CACHE_SECONDS",
        0,
        _int(0, 60),
        "Seconds nginx in front (``proxy_cache``, see the deployment docs) may answer a cover's 302 and the "
        "bytes of a signed file URL without the app: sent as ``X-Accel-Expires`` on those answers only (never "
        "on errors, nor on a cover whose token came in an ``Authorization`` header), capped by what is left "
        "of the token and of the URL; the same bound applies after a delete or a revocation. Browsers get that "
        "much less ``max-age``, so counting the time in nginx they keep nothing longer than without it. 0: off.",
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
        "MEDIALIB_STAGING_MAX_AGE",
        86_400,
        _int(300),
        "Seconds after which a staging file of an unfinished upload (a client or worker killed mid-way) "
        "is removed: at start-up, every ten minutes on upload, and by ``flask medialib sweep-staging``.",
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
        _fetch_hosts,
        "Hosts whose http(s) media URLs a cover may fetch: ``host``, ``*.domain`` or ``*``, each with an "
        "optional ``:port`` (``:*`` any port; without one only 80 and 443); empty: fetching is off.",
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
        "MEDIALIB_WEBHOOK_KEEP_DELIVERED",
        30,
        _int(0, 36500),
        "Days a delivered webhook delivery row is kept; the delivering process deletes older ones (at most "
        "hourly) and ``flask medialib events prune`` does it at once. 0 keeps them. Pending and dead deliveries "
        "and the events themselves are never deleted.",
    ),
    Key(
        "MEDIALIB_EVENT_THREAD",
        False,
        _bool,
        "Deliver webhooks from a background thread of the app (else run ``flask medialib events deliver``).",
    ),
)

KEYS_BY_NAME = {key.name: key for key in KEYS}


def detector_options(config: Any) -> dict[str, Any]:
    """The keyword arguments of :func:`~flask_medialib.imaging.faces.load_detector` from a config.

    Every value that changes which faces are found: cache keys of faces and covers hash these too.
    """
    fine = config["MEDIALIB_FINE_DETECT"]
    return {
        "max_side": config["MEDIALIB_DETECT_MAX_SIDE"],
        "threshold": config["MEDIALIB_FACE_THRESHOLD"],
        "fine_side": 0 if fine == "off" else config["MEDIALIB_FINE_DETECT_SIDE"],
        "tile_side": config["MEDIALIB_FINE_DETECT_TILE"],
        "fine_when": "no-face" if fine == "off" else fine,
        "propose_score": config["MEDIALIB_FINE_DETECT_PROPOSE"],
    }


def apply_defaults(config: dict[str, Any]) -> None:
    """Set every default and normalise every value, naming the key on failure."""
    for key in KEYS:
        config.setdefault(key.name, key.default)
        config[key.name] = key.check(key.name, config[key.name])
    unknown = sorted(k for k in config if k.startswith("MEDIALIB_") and k not in KEYS_BY_NAME)
    if unknown:
        raise ConfigError(f"unknown configuration key(s): {', '.join(unknown)} (a typo?)")
    _check_together(config)


def _check_together(config: dict[str, Any]) -> None:
    """Checks that need more than one key."""
    if config["MEDIALIB_STORAGE"] == "s3" and not config["MEDIALIB_S3_BUCKET"]:
        raise ConfigError("MEDIALIB_S3_BUCKET must be set when MEDIALIB_STORAGE is s3")
