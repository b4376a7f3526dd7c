"""The 0.1.0 tables, frozen: ``flask_medialib/models.py`` as 0.1.0 shipped it, less relationships and properties.

The upgrade tests build databases from these, never from the live models, so
they keep showing what a 0.1.0 database looks like while models.py moves on.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    Boolean,
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
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class Base(DeclarativeBase):
    metadata = metadata


class Library(Base):
    __tablename__ = "medialib_library"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    multi_tenant: Mapped[bool] = mapped_column(Boolean, default=False)
    album_based: Mapped[bool] = mapped_column(Boolean, default=False)
    public_read: Mapped[bool] = mapped_column(Boolean, default=False)
    secret_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)


class Space(Base):
    __tablename__ = "medialib_space"
    __table_args__ = (UniqueConstraint("library_id", "space_id"),)

    pk: Mapped[int] = mapped_column(Integer, primary_key=True)
    library_id: Mapped[str] = mapped_column(ForeignKey("medialib_library.id", ondelete="CASCADE"))
    space_id: Mapped[str] = mapped_column(String(64))
    public_read: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)


class Album(Base):
    __tablename__ = "medialib_album"
    __table_args__ = (UniqueConstraint("space_pk", "name"),)

    pk: Mapped[int] = mapped_column(Integer, primary_key=True)
    space_pk: Mapped[int] = mapped_column(ForeignKey("medialib_space.pk", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)


class Media(Base):
    __tablename__ = "medialib_media"
    __table_args__ = (
        UniqueConstraint("space_pk", "folder_pk", "file_name"),
        Index("ix_medialib_media_cover", "space_pk", "album_pk", "kind", "uploaded_at", "id"),
        Index("ix_medialib_media_material", "space_pk", "created_at", "id", "biz_type", "create_user", "kind"),
        Index("ix_medialib_media_visible", "space_pk", "biz_type", "create_user", "kind", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    space_pk: Mapped[int] = mapped_column(ForeignKey("medialib_space.pk", ondelete="CASCADE"))
    album_pk: Mapped[int | None] = mapped_column(ForeignKey("medialib_album.pk", ondelete="CASCADE"))
    folder_pk: Mapped[int] = mapped_column(Integer, default=0)
    file_name: Mapped[str | None] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(255))
    kind: Mapped[int] = mapped_column(SmallInteger)
    mime: Mapped[str | None] = mapped_column(String(100))
    storage_key: Mapped[str | None] = mapped_column(String(255))
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
    version: Mapped[int] = mapped_column(Integer, default=1)


class AccessToken(Base):
    __tablename__ = "medialib_access_token"

    pk: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    library_id: Mapped[str] = mapped_column(ForeignKey("medialib_library.id", ondelete="CASCADE"), index=True)
    space_pk: Mapped[int | None] = mapped_column(ForeignKey("medialib_space.pk", ondelete="CASCADE"))
    user_id: Mapped[str | None] = mapped_column(String(255))
    grants: Mapped[str] = mapped_column(String(500), default="")
    ttl: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class MaterialEvent(Base):
    __tablename__ = "medialib_event"
    __table_args__ = (Index("ix_medialib_event_space", "space_pk", "id"), {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    space_pk: Mapped[int] = mapped_column(ForeignKey("medialib_space.pk", ondelete="CASCADE"))
    library_id: Mapped[str] = mapped_column(String(64))
    corp_id: Mapped[str] = mapped_column(String(64))
    event_type: Mapped[str] = mapped_column(String(32))
    payload: Mapped[str] = mapped_column(Text)
    occurred_at: Mapped[dt.datetime] = mapped_column(DateTime)


class WebhookDelivery(Base):
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
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(DateTime)
    lease_until: Mapped[dt.datetime | None] = mapped_column(DateTime)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)


class ImportLock(Base):
    __tablename__ = "medialib_import_lock"

    space_pk: Mapped[int] = mapped_column(ForeignKey("medialib_space.pk", ondelete="CASCADE"), primary_key=True)
    owner: Mapped[str] = mapped_column(String(64))
    acquired_at: Mapped[dt.datetime] = mapped_column(DateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime)
