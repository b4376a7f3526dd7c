"""SQLAlchemy models, tables prefixed ``medialib_``.

They are declared on a plain SQLAlchemy base with its own ``MetaData`` rather
than on a Flask-SQLAlchemy ``db.Model``: that way they sit beside a host app's
tables and use the host's ``db.session`` (and so its transactions) whether or
not the host has its own ``SQLAlchemy`` instance.
"""

from __future__ import annotations

import datetime as dt
import secrets

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# Named constraints keep migrations (Alembic) deterministic on every backend.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# Media kinds; the numbers are the material API's ``type`` codes.
IMAGE, AUDIO, VIDEO, TEXT = 1, 2, 3, 4
VISUAL_KINDS = (IMAGE, VIDEO)
KIND_NAMES = {IMAGE: "image", AUDIO: "audio", VIDEO: "video", TEXT: "text"}


class Base(DeclarativeBase):
    metadata = metadata


def new_uid() -> str:
    """A media identity: 128 random bits, URL-safe (22 characters), never reused."""
    return secrets.token_urlsafe(16)


class Installation(Base):
    """One row, written once when the tables are created: this database's identity.

    Cache keys and signed URLs carry it, so a database that is rebuilt, or
    another app sharing the same cache, never meets this one's entries.
    """

    __tablename__ = "medialib_installation"
    __table_args__ = (CheckConstraint("pk = 1", name="one_row"),)

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    installation_id: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)


class Library(Base):
    __tablename__ = "medialib_library"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    multi_tenant: Mapped[bool] = mapped_column(Boolean, default=False)
    album_based: Mapped[bool] = mapped_column(Boolean, default=False)
    public_read: Mapped[bool] = mapped_column(Boolean, default=False)
    secret_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)

    spaces: Mapped[list[Space]] = relationship(back_populates="library", cascade="all, delete-orphan")


class Space(Base):
    __tablename__ = "medialib_space"
    __table_args__ = (UniqueConstraint("library_id", "space_id"),)

    pk: Mapped[int] = mapped_column(Integer, primary_key=True)
    library_id: Mapped[str] = mapped_column(ForeignKey("medialib_library.id", ondelete="CASCADE"))
    space_id: Mapped[str] = mapped_column(String(64))
    public_read: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    # The user whose token created the space (SMH: non-admin users list the spaces they created).
    created_by: Mapped[str | None] = mapped_column(String(255))

    library: Mapped[Library] = relationship(back_populates="spaces")


class Album(Base):
    __tablename__ = "medialib_album"
    __table_args__ = (UniqueConstraint("space_pk", "name"),)

    pk: Mapped[int] = mapped_column(Integer, primary_key=True)
    space_pk: Mapped[int] = mapped_column(ForeignKey("medialib_space.pk", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)

    space: Mapped[Space] = relationship()


class Media(Base):
    """One stored item; ``id`` is the media ID and the material ``id``."""

    __tablename__ = "medialib_media"
    __table_args__ = (
        # ``file_name`` is set for files uploaded by name (unique per folder);
        # materials leave it NULL, and NULLs never collide.
        UniqueConstraint("space_pk", "folder_pk", "file_name"),
        Index("ix_medialib_media_cover", "space_pk", "album_pk", "kind", "uploaded_at", "id"),
        # Material lists: pages walk this newest first and test visibility and type from it alone;
        # counts take index-only ranges of the next one (see services.materials._count).
        Index("ix_medialib_media_material", "space_pk", "created_at", "id", "biz_type", "create_user", "kind"),
        Index("ix_medialib_media_visible", "space_pk", "biz_type", "create_user", "kind", "created_at"),
        # A second line of defence beside ``uid``: SQLite never hands out a deleted row's id again.
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    space_pk: Mapped[int] = mapped_column(ForeignKey("medialib_space.pk", ondelete="CASCADE"))
    album_pk: Mapped[int | None] = mapped_column(ForeignKey("medialib_album.pk", ondelete="CASCADE"))
    folder_pk: Mapped[int] = mapped_column(Integer, default=0)  # album pk, or 0 for the space root
    file_name: Mapped[str | None] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(255))
    kind: Mapped[int] = mapped_column(SmallInteger)
    mime: Mapped[str | None] = mapped_column(String(100))
    # Indexed: deletes count the rows that still reference a key (services.media).
    storage_key: Mapped[str | None] = mapped_column(String(255), index=True)
    url: Mapped[str | None] = mapped_column(String(2048))
    thumb_url: Mapped[str | None] = mapped_column(String(2048))
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    size: Mapped[int | None] = mapped_column(BigInteger)
    duration: Mapped[float | None] = mapped_column(Float)
    content: Mapped[str | None] = mapped_column(Text)
    biz_type: Mapped[int] = mapped_column(SmallInteger, default=2)
    upload_type: Mapped[int] = mapped_column(SmallInteger, default=0)
    tag_ids: Mapped[str | None] = mapped_column(String(1000))
    keywords: Mapped[str | None] = mapped_column(String(1000))
    status: Mapped[int] = mapped_column(SmallInteger, default=1)
    create_user: Mapped[str | None] = mapped_column(String(255))
    update_user: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime)
    uploaded_at: Mapped[dt.datetime] = mapped_column(DateTime)
    # Bumped whenever the bytes change, so cached covers of old bytes are never served.
    version: Mapped[int] = mapped_column(Integer, default=1)
    # The identity derived artefacts (covers, faces, marks) and signed URLs are bound to:
    # random and never reused, unlike ``id`` (see docs/identity.rst). Every creation path,
    # ORM or Core insert, gets one from the Python-side default.
    uid: Mapped[str] = mapped_column(String(32), unique=True, default=new_uid)
    # SMH: CRC-64/XZ of the bytes in decimal, and the ``x-smh-meta-*`` metadata given at upload (JSON).
    crc64: Mapped[str | None] = mapped_column(String(20))
    meta_data: Mapped[str | None] = mapped_column(Text)

    space: Mapped[Space] = relationship()
    album: Mapped[Album | None] = relationship()

    @property
    def kind_name(self) -> str:
        return KIND_NAMES.get(self.kind, "unknown")


class AccessToken(Base):
    __tablename__ = "medialib_access_token"

    pk: Mapped[int] = mapped_column(Integer, primary_key=True)
    # SHA-256 of the token: tokens are 256-bit random strings, so a fast hash is safe.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    library_id: Mapped[str] = mapped_column(ForeignKey("medialib_library.id", ondelete="CASCADE"), index=True)
    space_pk: Mapped[int | None] = mapped_column(ForeignKey("medialib_space.pk", ondelete="CASCADE"))
    user_id: Mapped[str | None] = mapped_column(String(255))
    grants: Mapped[str] = mapped_column(String(500), default="")
    ttl: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    # Every space the token is bound to, comma-separated pks, when SMH's ``space_id`` named several.
    space_list: Mapped[str | None] = mapped_column(String(2000))
    client_id: Mapped[str | None] = mapped_column(String(255))
    session_id: Mapped[str | None] = mapped_column(String(255))

    library: Mapped[Library] = relationship()
    space: Mapped[Space | None] = relationship()

    @property
    def grant_set(self) -> frozenset[str]:
        return frozenset(g for g in self.grants.split(",") if g)

    @property
    def space_pks(self) -> frozenset[int] | None:
        """The spaces the token may act on; None: every space of its library."""
        if self.space_list:
            return frozenset(int(pk) for pk in self.space_list.split(","))
        return frozenset({self.space_pk}) if self.space_pk is not None else None


__all__ = ["AccessToken", "Album", "Base", "Installation", "Library", "Media", "Space", "metadata", "new_uid"]


# -- material events and the import lock (material API) ----------------------


class MaterialEvent(Base):
    """Outbox row: written in the transaction of the change it describes.

    ``id`` is the stable ``eventId`` and the cursor of the pull feed; writes of
    one space are serialised (see ``events.serialise_space``), so within a
    space ids grow in commit order and a cursor never skips a late commit.
    """

    __tablename__ = "medialib_event"
    # AUTOINCREMENT on SQLite: an eventId is never reused, even after rows of a deleted space go.
    __table_args__ = (Index("ix_medialib_event_space", "space_pk", "id"), {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    space_pk: Mapped[int] = mapped_column(ForeignKey("medialib_space.pk", ondelete="CASCADE"))
    library_id: Mapped[str] = mapped_column(String(64))
    corp_id: Mapped[str] = mapped_column(String(64))
    event_type: Mapped[str] = mapped_column(String(32))
    payload: Mapped[str] = mapped_column(Text)  # JSON of the event's ``data``
    occurred_at: Mapped[dt.datetime] = mapped_column(DateTime)


class WebhookDelivery(Base):
    """One event to one URL: pending -> delivered, or dead after the last attempt.

    A worker claims a row by setting ``lease_until``/``lease_owner`` in a short
    transaction; a worker that dies leaves the lease to expire, and the next
    run takes the row again (at-least-once).
    """

    __tablename__ = "medialib_webhook_delivery"
    __table_args__ = (
        UniqueConstraint("event_id", "url"),
        Index("ix_medialib_webhook_delivery_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    event_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), ForeignKey("medialib_event.id", ondelete="CASCADE")
    )
    url: Mapped[str] = mapped_column(String(2048))
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending, delivered, dead
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(DateTime)
    lease_until: Mapped[dt.datetime | None] = mapped_column(DateTime)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)

    event: Mapped[MaterialEvent] = relationship()


class ImportLock(Base):
    """One material import per enterprise (space): the row is the lock, across processes."""

    __tablename__ = "medialib_import_lock"

    space_pk: Mapped[int] = mapped_column(ForeignKey("medialib_space.pk", ondelete="CASCADE"), primary_key=True)
    owner: Mapped[str] = mapped_column(String(64))
    acquired_at: Mapped[dt.datetime] = mapped_column(DateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime)


__all__ += ["ImportLock", "MaterialEvent", "WebhookDelivery"]


class UploadSession(Base):
    """An SMH upload session (begin -> bytes -> confirm): where the bytes go and what they become.

    The confirm key is a credential (it names the session in confirm, renew and
    abort), so only its SHA-256 digest is stored. ``staging_path`` holds the
    bytes sent to the extension's own upload URL (local storage; multipart parts
    beside it as ``<path>.<n>``); ``storage_key`` the object a presigned PUT
    writes or multipart parts are joined into (s3; parts under ``<key>.parts/``).
    """

    __tablename__ = "medialib_upload_session"
    __table_args__ = (Index("ix_medialib_upload_session_expiry", "state", "expires_at"),)

    pk: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    space_pk: Mapped[int] = mapped_column(ForeignKey("medialib_space.pk", ondelete="CASCADE"))
    album_pk: Mapped[int | None] = mapped_column(ForeignKey("medialib_album.pk", ondelete="CASCADE"))
    file_name: Mapped[str] = mapped_column(String(255))
    strategy: Mapped[str] = mapped_column(String(16))  # ask, rename, overwrite
    size: Mapped[int] = mapped_column(BigInteger)
    multipart: Mapped[bool] = mapped_column(Boolean, default=False)
    upload_id: Mapped[str | None] = mapped_column(String(64))
    staging_path: Mapped[str | None] = mapped_column(String(1024))
    storage_key: Mapped[str | None] = mapped_column(String(255))
    meta_data: Mapped[str | None] = mapped_column(Text)  # JSON of the x-smh-meta-* headers
    user_id: Mapped[str | None] = mapped_column(String(255))
    state: Mapped[str] = mapped_column(String(16), default="open")  # open, confirmed, aborted
    media_id: Mapped[int | None] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime)


__all__ += ["UploadSession"]
