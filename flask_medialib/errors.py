"""One exception root for the package.

``MediaLibError`` is the root. ``MediaError`` (broken or unsupported media)
carries no HTTP meaning and is raised by :mod:`flask_medialib.imaging`.
``HTTPError`` subclasses both the root and werkzeug's ``HTTPException`` so a
view can simply raise it; the blueprints render it as SMH-shaped JSON
(``{code, message, requestId}``) or, for the material API, as the envelope
``{success, code, msg, obj, map, list}``.
"""

from __future__ import annotations

from typing import Any

from werkzeug.exceptions import HTTPException


class MediaLibError(Exception):
    """Root of every exception raised by flask-medialib."""


class ConfigError(MediaLibError, ValueError):
    """A ``MEDIALIB_*`` configuration key has a bad value."""


class MediaError(MediaLibError):
    """Media bytes that cannot be decoded or are not allowed (bomb, empty ...)."""


class DetectorUnavailable(MediaLibError, RuntimeError):
    """The face detector cannot be loaded; the message says how to install it."""


class HTTPError(MediaLibError, HTTPException):
    """An error with an HTTP status and a stable machine-readable ``code``."""

    code_name = "InternalError"

    def __init__(
        self,
        message: str,
        *,
        status: int,
        code: str,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.code = status  # werkzeug reads ``code`` as the status
        self.code_name = code
        self.description = message
        self.extra = extra or {}
        self.headers = headers or {}  # e.g. Retry-After of a 503
        HTTPException.__init__(self, message)

    @property
    def message(self) -> str:
        return str(self.description)


def bad_request(message: str, code: str = "InvalidParameter") -> HTTPError:
    return HTTPError(message, status=400, code=code)


def unauthorized(message: str, code: str = "InvalidAccessToken") -> HTTPError:
    return HTTPError(message, status=401, code=code)


def forbidden(message: str, code: str = "NoPermission") -> HTTPError:
    return HTTPError(message, status=403, code=code)


def not_found(message: str, code: str) -> HTTPError:
    return HTTPError(message, status=404, code=code)


def conflict(message: str, code: str) -> HTTPError:
    return HTTPError(message, status=409, code=code)
