"""Access tokens and library secrets: issue, hash, verify, grants, identity.

Tokens and secrets are 256-bit random strings, so they are stored as SHA-256
digests (a slow password hash buys nothing against a random secret) and
compared in constant time.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Connection, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.pool import SingletonThreadPool, StaticPool

from .errors import HTTPError, bad_request, forbidden, unauthorized
from .models import AccessToken, Library, Space
from .state import get_state

log = logging.getLogger("flask_medialib")

# SMH's grant names, plus ``material_write`` for the material API.
GRANTS = frozenset({"admin", "upload_file", "delete_file", "create_directory", "delete_directory", "material_write"})


def digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def check_secret(library: Library, secret: str | None) -> bool:
    return bool(secret) and hmac.compare_digest(library.secret_hash, digest(secret or ""))


def parse_grants(raw: str | Iterable[str] | None) -> frozenset[str]:
    if raw is None:
        return frozenset()
    items = raw.split(",") if isinstance(raw, str) else list(raw)
    grants = frozenset(g.strip() for g in items if g.strip())
    unknown = sorted(grants - GRANTS)
    if unknown:
        raise bad_request(f"unknown grant(s) {', '.join(unknown)}; known grants: {', '.join(sorted(GRANTS))}")
    return grants


@dataclass(frozen=True)
class Identity:
    """Who a request acts as: the token (None when anonymous), the user and the grants."""

    token: AccessToken | None
    user_id: str | None
    grants: frozenset[str]

    @property
    def is_admin(self) -> bool:
        return "admin" in self.grants

    def has(self, grant: str) -> bool:
        return self.is_admin or grant in self.grants


def issue_token(
    library: Library,
    *,
    space: Space | None = None,
    user_id: str | None = None,
    grants: frozenset[str] = frozenset(),
    ttl: int | None = None,
) -> tuple[str, AccessToken]:
    state = get_state()
    max_ttl = state.config["MEDIALIB_TOKEN_MAX_TTL"]
    ttl = state.config["MEDIALIB_TOKEN_TTL"] if ttl is None else ttl
    if ttl < 1 or ttl > max_ttl:
        raise bad_request(f"period must be between 1 and {max_ttl} seconds, not {ttl}")
    now = state.clock()
    token = new_secret()
    row = AccessToken(
        token_hash=digest(token),
        library_id=library.id,
        space_pk=space.pk if space else None,
        user_id=user_id or None,
        grants=",".join(sorted(grants)),
        ttl=ttl,
        created_at=now,
        expires_at=now + dt.timedelta(seconds=ttl),
    )
    state.session.add(row)
    return token, row


def find_token(token: str) -> AccessToken:
    """The live token row, or 403 ``InvalidAccessToken`` saying why not."""
    state = get_state()
    wanted = digest(token)
    # No autoflush: the caller's pending changes are not ours to write (on SQLite that
    # would also take the write lock that a renewal then has to wait for).
    with state.session.no_autoflush:
        stmt = select(AccessToken).where(AccessToken.token_hash == wanted)
        row = state.session.execute(stmt).scalar_one_or_none()
    # The lookup is by digest; comparing again in constant time costs nothing and
    # keeps the check honest if the index ever matches loosely (collations).
    if row is None or not hmac.compare_digest(row.token_hash, wanted):
        raise forbidden("the access token is not valid; issue a new one", "InvalidAccessToken")
    if row.revoked_at is not None:
        raise forbidden("the access token was revoked; issue a new one", "InvalidAccessToken")
    now = state.clock()
    if row.expires_at <= now:
        raise forbidden("the access token has expired; issue a new one", "InvalidAccessToken")
    return row


def authorize(
    library: Library,
    space: Space | None,
    token: str | None,
    *,
    need: str | None = None,
    user_id: str | None = None,
) -> Identity:
    """Check that ``token`` may act on ``library``/``space`` with grant ``need``.

    ``need=None`` is a read. Public-read libraries and spaces take reads
    without a token. ``user_id`` is honoured only for an admin token issued
    without a user identity.
    """
    if not token:
        public = library.public_read or (space is not None and space.public_read)
        if need is None and public and not user_id:
            return Identity(None, None, frozenset())
        raise unauthorized("an access_token is required for this request", "MissingAccessToken")
    row = find_token(token)
    if row.library_id != library.id:
        raise forbidden("the access token belongs to another library", "NoPermission")
    if row.space_pk is not None and (space is None or row.space_pk != space.pk):
        raise forbidden("the access token belongs to another space", "NoPermission")
    grants = row.grant_set
    if need is not None and need not in grants and "admin" not in grants:
        raise forbidden(f"the access token lacks the grant {need!r}", "NoPermission")
    acting_user = row.user_id
    if user_id:
        if "admin" not in grants or row.user_id is not None:
            raise forbidden(
                "user_id is accepted only with an admin token issued without a user identity", "NoPermission"
            )
        acting_user = user_id
    _renew(row)
    return Identity(row, acting_user, grants)


def _renew(row: AccessToken) -> None:
    # Sliding expiry, written only when half the lifetime is gone so reads rarely write.
    state = get_state()
    now = state.clock()
    if row.expires_at - now >= dt.timedelta(seconds=row.ttl / 2):
        return
    expires = now + dt.timedelta(seconds=row.ttl)
    engine = state.db.engine
    if isinstance(engine.pool, (StaticPool, SingletonThreadPool)):
        # One shared connection (in-memory SQLite): its commit would be the caller's, so
        # leave the new expiry to the caller's unit of work.
        row.expires_at = expires
        return
    # In a transaction of its own: the caller's unit of work is the caller's to commit.
    try:
        with engine.connect() as conn:
            _write_expiry(conn, row.pk, expires)
    except OperationalError as exc:
        # Busy (the caller's own transaction holds SQLite's write lock, say): the next use tries again.
        log.info("token renewal deferred: %s", exc.orig)
        return
    set_committed_value(row, "expires_at", expires)  # what the database holds now; not a change to flush


#: How long a renewal waits for a lock before it leaves the renewal to the next use.
_RENEW_LOCK_WAIT_MS = 1000


def _write_expiry(conn: Connection, pk: int, expires: dt.datetime) -> None:
    stmt = update(AccessToken).where(AccessToken.pk == pk, AccessToken.expires_at < expires).values(expires_at=expires)
    with conn.begin():
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql(f"SET LOCAL lock_timeout = {_RENEW_LOCK_WAIT_MS}")
        if conn.dialect.name != "sqlite":
            conn.execute(stmt)
            return
        # SQLite's busy timeout belongs to the pooled connection: set it back afterwards.
        before = conn.exec_driver_sql("PRAGMA busy_timeout").scalar()
        conn.exec_driver_sql(f"PRAGMA busy_timeout = {_RENEW_LOCK_WAIT_MS}")
        try:
            conn.execute(stmt)
        finally:
            conn.exec_driver_sql(f"PRAGMA busy_timeout = {int(before or 0)}")


def revoke(library: Library, token: str) -> None:
    state = get_state()
    row = state.session.execute(select(AccessToken).where(AccessToken.token_hash == digest(token))).scalar_one_or_none()
    if row is None or row.library_id != library.id:
        raise forbidden("no such access token in this library", "InvalidAccessToken")
    if row.revoked_at is None:
        row.revoked_at = state.clock()
    state.session.commit()
    # Answers memoised for this token (covers) check this mark in the same cache
    # round trip, so a revocation holds at once; memos live at most a minute.
    state.cache.set(revoked_key(row.token_hash), True, timeout=120)


def revoked_key(token_hash: str) -> str:
    return f"token:revoked:{token_hash}"


__all__ = ["GRANTS", "HTTPError", "Identity", "authorize", "check_secret", "digest", "issue_token", "revoke"]
