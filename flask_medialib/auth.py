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

from .errors import HTTPError, bad_request, forbidden, not_found
from .models import AccessToken, Library, Space
from .state import get_state

log = logging.getLogger("flask_medialib")

# Every grant name SMH knows (JS SDK ``CreateTokenGrantEnum``), plus ``material_write`` for the
# material API. Grants of features we do not have (recycle bin, symlinks) are accepted and unused.
GRANTS = frozenset(
    {
        "admin",
        "create_space",
        "delete_space",
        "space_admin",
        "create_directory",
        "delete_directory",
        "delete_directory_permanent",
        "move_directory",
        "copy_directory",
        "upload_file",
        "upload_file_force",
        "begin_upload",
        "begin_upload_force",
        "confirm_upload",
        "create_symlink",
        "create_symlink_force",
        "delete_file",
        "delete_file_permanent",
        "move_file",
        "move_file_force",
        "copy_file",
        "copy_file_force",
        "delete_recycled",
        "restore_recycled",
        "material_write",
    }
)

# The grants each SMH route asks for ("要求权限" in the JS SDK's apis/*.ts); ``admin`` always does.
CREATE_SPACE = ("create_space",)
DELETE_SPACE = ("delete_space",)
CREATE_DIRECTORY = ("space_admin", "create_directory")
MOVE_DIRECTORY = ("space_admin", "move_directory")
DELETE_DIRECTORY = ("space_admin", "delete_directory", "delete_directory_permanent")
UPLOAD_FILE = ("space_admin", "upload_file", "upload_file_force", "begin_upload", "begin_upload_force")
DELETE_FILE = ("space_admin", "delete_file", "delete_file_permanent")
# SMH upload sessions: begin, renew and abort (overwriting needs a *_force grant); confirm.
BEGIN_UPLOAD = UPLOAD_FILE
BEGIN_UPLOAD_FORCE = ("space_admin", "upload_file_force", "begin_upload_force")
CONFIRM_UPLOAD = ("space_admin", "upload_file", "upload_file_force", "confirm_upload")


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
    spaces: Iterable[Space] = (),
    user_id: str | None = None,
    client_id: str | None = None,
    session_id: str | None = None,
    grants: frozenset[str] = frozenset(),
    ttl: int | None = None,
) -> tuple[str, AccessToken]:
    """A new token (returned once; only its digest is stored) bound to ``space`` or ``spaces``, if any."""
    state = get_state()
    max_ttl = state.config["MEDIALIB_TOKEN_MAX_TTL"]
    ttl = state.config["MEDIALIB_TOKEN_TTL"] if ttl is None else ttl
    if ttl < 1 or ttl > max_ttl:
        raise bad_request(f"period must be between 1 and {max_ttl} seconds, not {ttl}")
    bound = ([space] if space is not None else []) + [s for s in spaces if space is None or s.pk != space.pk]
    now = state.clock()
    token = new_secret()
    row = AccessToken(
        token_hash=digest(token),
        library_id=library.id,
        space_pk=bound[0].pk if bound else None,
        space_list=",".join(str(s.pk) for s in bound) if len(bound) > 1 else None,
        user_id=user_id or None,
        client_id=client_id or None,
        session_id=session_id or None,
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
    need: str | tuple[str, ...] | None = None,
    user_id: str | None = None,
) -> Identity:
    """Check that ``token`` may act on ``library``/``space`` with one of the grants ``need``.

    ``need=None`` is a read; ``admin`` satisfies every need. ``space=None`` is
    a library-level call (create or list spaces): a token bound to spaces may
    make it, as SMH's own SDK tests do. Public-read libraries and spaces take
    reads without a token. ``user_id`` is honoured only for an admin token
    issued without a user identity.
    """
    if not token:
        public = library.public_read or (space is not None and space.public_read)
        if need is None and public and not user_id:
            return Identity(None, None, frozenset())
        raise bad_request("an access_token is required for this request", "EmptyAccessToken")
    row = find_token(token)
    if row.library_id != library.id:
        raise forbidden("the access token belongs to another library", "AccessTokenNotMatchLibrary")
    bound = row.space_pks
    if space is not None and bound is not None and space.pk not in bound:
        raise forbidden("the access token belongs to another space", "AccessTokenNotMatchSpace")
    grants = row.grant_set
    wanted = (need,) if isinstance(need, str) else need
    if wanted is not None and "admin" not in grants and not grants & set(wanted):
        raise forbidden(f"the access token lacks a grant among {', '.join(('admin', *wanted))}", "NoPermission")
    acting_user = row.user_id
    if user_id:
        if "admin" not in grants or row.user_id is not None:
            raise forbidden(
                "user_id is accepted only with an admin token issued without a user identity", "NoPermission"
            )
        acting_user = user_id
    _slide(row)
    return Identity(row, acting_user, grants)


def authorize_secret(library: Library, secret: str, *, user_id: str | None = None) -> Identity:
    """SMH's other credential: the library secret acts as an admin token without a user."""
    if not check_secret(library, secret):
        raise not_found("library_id or library_secret is wrong", "WrongLibraryIdOrSecret")
    return Identity(None, user_id, frozenset({"admin"}))


def _slide(row: AccessToken) -> None:
    """Sliding expiry: every use grants ``period`` again (SMH).

    Written only once the expiry lags ``now + period`` by more than a tenth of
    the period (a minute at most), so a token used many times a second does
    not write on every request.
    """
    state = get_state()
    now = state.clock()
    fresh = now + dt.timedelta(seconds=row.ttl)
    if fresh - row.expires_at <= dt.timedelta(seconds=min(row.ttl / 10, 60)):
        return
    engine = state.db.engine
    if isinstance(engine.pool, (StaticPool, SingletonThreadPool)):
        # One shared connection (in-memory SQLite): its commit would be the caller's, so
        # leave the new expiry to the caller's unit of work.
        row.expires_at = fresh
        return
    # In a transaction of its own: the caller's unit of work is the caller's to commit.
    try:
        with engine.connect() as conn:
            _write_expiry(conn, row.pk, fresh)
    except OperationalError as exc:
        # Busy (the caller's own transaction holds SQLite's write lock, say): the next use tries again.
        log.info("token renewal deferred: %s", exc.orig)
        return
    set_committed_value(row, "expires_at", fresh)  # what the database holds now; not a change to flush


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


def renew(library: Library, token: str) -> AccessToken:
    """SMH's renew: a live token gets its original period again from now."""
    state = get_state()
    row = find_token(token)
    if row.library_id != library.id:
        raise forbidden("the access token belongs to another library", "AccessTokenNotMatchLibrary")
    row.expires_at = state.clock() + dt.timedelta(seconds=row.ttl)
    state.session.commit()
    return row


def revoke(library: Library, token: str) -> None:
    state = get_state()
    row = state.session.execute(select(AccessToken).where(AccessToken.token_hash == digest(token))).scalar_one_or_none()
    if row is None or row.library_id != library.id:
        raise forbidden("no such access token in this library", "InvalidAccessToken")
    _revoke_rows([row])


def revoke_user(
    library: Library, user_id: str, *, client_ids: Iterable[str] = (), session_ids: Iterable[str] = ()
) -> int:
    """Revoke the live tokens of ``user_id`` (only those of the given clients/sessions, when given)."""
    state = get_state()
    stmt = select(AccessToken).where(
        AccessToken.library_id == library.id, AccessToken.user_id == user_id, AccessToken.revoked_at.is_(None)
    )
    client_ids, session_ids = list(client_ids), list(session_ids)
    if client_ids:
        stmt = stmt.where(AccessToken.client_id.in_(client_ids))
    if session_ids:
        stmt = stmt.where(AccessToken.session_id.in_(session_ids))
    rows = list(state.session.execute(stmt).scalars())
    _revoke_rows(rows)
    return len(rows)


def _revoke_rows(rows: list[AccessToken]) -> None:
    state = get_state()
    now = state.clock()
    for row in rows:
        if row.revoked_at is None:
            row.revoked_at = now
    state.session.commit()
    # Answers memoised for a token (covers) check this mark in the same cache
    # round trip, so a revocation holds at once; memos live at most a minute.
    for row in rows:
        state.cache.set(revoked_key(row.token_hash), True, timeout=120)


def revoked_key(token_hash: str) -> str:
    return f"token:revoked:{token_hash}"


__all__ = [
    "GRANTS",
    "HTTPError",
    "Identity",
    "authorize",
    "authorize_secret",
    "check_secret",
    "digest",
    "issue_token",
    "renew",
    "revoke",
    "revoke_user",
]
