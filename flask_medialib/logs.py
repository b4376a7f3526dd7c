"""Secrets never reach the logs: a filter on our loggers and on werkzeug's request log.

Library secrets and access tokens travel in query strings (``library_secret``,
``access_token``, the material API's ``token``) and in one path
(``DELETE /token/<library_id>/<token>``). The filter rewrites every record of
the ``flask_medialib`` loggers and of ``werkzeug`` (whose development server logs
each request line) so that those values read ``[redacted]``, tracebacks included.
Access logs written by other servers (gunicorn's ``%(r)s``/``%(q)s``, a proxy)
are outside our reach: docs/deployment.rst says how to keep secrets out of them.
"""

from __future__ import annotations

import logging
import re

REDACTED = "[redacted]"
SECRET_PARAMETERS = ("library_secret", "access_token", "token")
_IN_QUERY = re.compile(r"(?i)((?<![A-Za-z0-9_])(?:" + "|".join(SECRET_PARAMETERS) + r")=)[^&\s\"';#]+")
_IN_PATH = re.compile(r"(/token/[^/\s?#\"']+/)[^/\s?#\"']+")
# Loggers whose records are filtered: ours (each module's child logger too) and werkzeug's.
LOGGERS = ("flask_medialib", "flask_medialib.materials", "flask_medialib.events", "werkzeug")


def redact(text: str) -> str:
    """``text`` with the value of every secret-bearing parameter and token path replaced."""
    if "=" not in text and "/token/" not in text:
        return text
    return _IN_PATH.sub(rf"\g<1>{REDACTED}", _IN_QUERY.sub(rf"\g<1>{REDACTED}", text))


class RedactSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a malformed record: logging reports it, we add nothing
            return True
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            # Formatted once here (handlers reuse exc_text), so an exception's message is redacted too.
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        return True


_FILTER = RedactSecrets()


def install() -> None:
    """Put the filter on every logger named in LOGGERS and on any other ``flask_medialib.*`` logger."""
    # A logger's filters see only records made on it, not those its children pass up: each gets one.
    # list() copies the names in one step (no other thread runs inside it): another thread may be
    # making a logger meanwhile (apps made in threads), which breaks an iteration of the dict itself.
    known = [name for name in list(logging.root.manager.loggerDict) if name.startswith("flask_medialib.")]
    for name in {*LOGGERS, *known}:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
