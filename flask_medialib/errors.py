"""One exception root for the package.

``MediaLibError`` is the root. ``MediaError`` (broken or unsupported media)
carries no HTTP meaning and is raised by :mod:`flask_medialib.imaging`.
``HTTPError`` subclasses both the root and werkzeug's ``HTTPException`` so a
view can simply raise it; the blueprints render it as SMH-shaped JSON
(``{code, message, requestId}``) or, for the material API, as the envelope
``{success, code, msg, obj, map, list}``.

Codes and statuses are SMH's wherever SMH has one (``EmptyAccessToken`` 400,
``InvalidAccessToken`` 403, ``WrongLibraryIdOrSecret`` 404, ``ParamInvalid``
400 ...). :data:`OWN_CODES` lists the codes of our own, for cases SMH has no
code for; the README documents them.
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


def bad_request(message: str, code: str = "ParamInvalid") -> HTTPError:
    return HTTPError(message, status=400, code=code)


def unauthorized(message: str, code: str = "InvalidAccessToken") -> HTTPError:
    return HTTPError(message, status=401, code=code)


def forbidden(message: str, code: str = "NoPermission") -> HTTPError:
    return HTTPError(message, status=403, code=code)


def not_found(message: str, code: str) -> HTTPError:
    return HTTPError(message, status=404, code=code)


def conflict(message: str, code: str) -> HTTPError:
    return HTTPError(message, status=409, code=code)


#: Codes flask-medialib answers where SMH has none, with their status and meaning.
OWN_CODES: dict[str, tuple[int, str]] = {
    "EmptyFile": (400, "a raw-body upload with no bytes"),
    "SpaceAlreadyExists": (409, "space_id names an existing space"),
    "MethodNotAllowed": (405, "the route exists, the method does not"),
    "NoCoverMedia": (404, "the album or space has no image or video that can be a cover"),
    "CoverNotSupportedInRootDirectory": (400, "an album-based library's cover needs an album"),
    "AlbumNotSupported": (400, "the cover of an album in a library without albums"),
    "SignatureExpired": (403, "a signed file URL past its lifetime"),
    "InvalidSignature": (403, "a signed file URL that was altered"),
    "ImportInProgress": (409, "material API: another import of the enterprise runs"),
    "FaceDetectorUnavailable": (503, "the face detector cannot be loaded"),
    "LibraryAlreadyExists": (409, "CLI: the library id is taken"),
    "NotMultipartUpload": (400, "renew of an upload session that is not multipart"),
    "RequestExpired": (403, "an upload URL of an expired, aborted or confirmed upload session"),
}
