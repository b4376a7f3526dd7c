"""The 0.1.0 schema: every ``medialib_*`` table as 0.1.0's ``create_all`` makes it.

Revision ID: 0001
Revises:
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "medialib_library",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("multi_tenant", sa.Boolean(), nullable=False),
        sa.Column("album_based", sa.Boolean(), nullable=False),
        sa.Column("public_read", sa.Boolean(), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_medialib_library")),
    )
    op.create_table(
        "medialib_space",
        sa.Column("pk", sa.Integer(), nullable=False),
        sa.Column("library_id", sa.String(length=64), nullable=False),
        sa.Column("space_id", sa.String(length=64), nullable=False),
        sa.Column("public_read", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_medialib_space")),
        sa.UniqueConstraint("library_id", "space_id", name=op.f("uq_medialib_space_library_id")),
        sa.ForeignKeyConstraint(
            ["library_id"],
            ["medialib_library.id"],
            name=op.f("fk_medialib_space_library_id_medialib_library"),
            ondelete="CASCADE",
        ),
    )
    op.create_table(
        "medialib_access_token",
        sa.Column("pk", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("library_id", sa.String(length=64), nullable=False),
        sa.Column("space_pk", sa.Integer(), nullable=True),
        sa.Column("user_id", sa.String(length=255), nullable=True),
        sa.Column("grants", sa.String(length=500), nullable=False),
        sa.Column("ttl", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_medialib_access_token")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_medialib_access_token_token_hash")),
        sa.ForeignKeyConstraint(
            ["library_id"],
            ["medialib_library.id"],
            name=op.f("fk_medialib_access_token_library_id_medialib_library"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["space_pk"],
            ["medialib_space.pk"],
            name=op.f("fk_medialib_access_token_space_pk_medialib_space"),
            ondelete="CASCADE",
        ),
    )
    op.create_index(op.f("ix_medialib_access_token_library_id"), "medialib_access_token", ["library_id"])
    op.create_table(
        "medialib_album",
        sa.Column("pk", sa.Integer(), nullable=False),
        sa.Column("space_pk", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_medialib_album")),
        sa.UniqueConstraint("space_pk", "name", name=op.f("uq_medialib_album_space_pk")),
        sa.ForeignKeyConstraint(
            ["space_pk"],
            ["medialib_space.pk"],
            name=op.f("fk_medialib_album_space_pk_medialib_space"),
            ondelete="CASCADE",
        ),
    )
    op.create_index(op.f("ix_medialib_album_space_pk"), "medialib_album", ["space_pk"])
    op.create_table(
        "medialib_event",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("space_pk", sa.Integer(), nullable=False),
        sa.Column("library_id", sa.String(length=64), nullable=False),
        sa.Column("corp_id", sa.String(length=64), nullable=False),
        sa.Column("event_type", sa.String(length=32), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_medialib_event")),
        sa.ForeignKeyConstraint(
            ["space_pk"],
            ["medialib_space.pk"],
            name=op.f("fk_medialib_event_space_pk_medialib_space"),
            ondelete="CASCADE",
        ),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_medialib_event_space", "medialib_event", ["space_pk", "id"])
    op.create_table(
        "medialib_import_lock",
        sa.Column("space_pk", sa.Integer(), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("acquired_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("space_pk", name=op.f("pk_medialib_import_lock")),
        sa.ForeignKeyConstraint(
            ["space_pk"],
            ["medialib_space.pk"],
            name=op.f("fk_medialib_import_lock_space_pk_medialib_space"),
            ondelete="CASCADE",
        ),
    )
    op.create_table(
        "medialib_media",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("space_pk", sa.Integer(), nullable=False),
        sa.Column("album_pk", sa.Integer(), nullable=True),
        sa.Column("folder_pk", sa.Integer(), nullable=False),
        sa.Column("file_name", sa.String(length=255), nullable=True),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.SmallInteger(), nullable=False),
        sa.Column("mime", sa.String(length=100), nullable=True),
        sa.Column("storage_key", sa.String(length=255), nullable=True),
        sa.Column("url", sa.String(length=2048), nullable=True),
        sa.Column("thumb_url", sa.String(length=2048), nullable=True),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("duration", sa.Float(), nullable=True),
        sa.Column("content", sa.Text(), nullable=True),
        sa.Column("biz_type", sa.SmallInteger(), nullable=False),
        sa.Column("upload_type", sa.SmallInteger(), nullable=False),
        sa.Column("tag_ids", sa.String(length=1000), nullable=True),
        sa.Column("keywords", sa.String(length=1000), nullable=True),
        sa.Column("status", sa.SmallInteger(), nullable=False),
        sa.Column("create_user", sa.String(length=255), nullable=True),
        sa.Column("update_user", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("uploaded_at", sa.DateTime(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_medialib_media")),
        sa.UniqueConstraint("space_pk", "folder_pk", "file_name", name=op.f("uq_medialib_media_space_pk")),
        sa.ForeignKeyConstraint(
            ["space_pk"],
            ["medialib_space.pk"],
            name=op.f("fk_medialib_media_space_pk_medialib_space"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["album_pk"],
            ["medialib_album.pk"],
            name=op.f("fk_medialib_media_album_pk_medialib_album"),
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_medialib_media_cover", "medialib_media", ["space_pk", "album_pk", "kind", "uploaded_at", "id"])
    op.create_index(
        "ix_medialib_media_material",
        "medialib_media",
        ["space_pk", "created_at", "id", "biz_type", "create_user", "kind"],
    )
    op.create_index(
        "ix_medialib_media_visible", "medialib_media", ["space_pk", "biz_type", "create_user", "kind", "created_at"]
    )
    op.create_table(
        "medialib_webhook_delivery",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("event_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=False),
        sa.Column("lease_until", sa.DateTime(), nullable=True),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("delivered_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_medialib_webhook_delivery")),
        sa.UniqueConstraint("event_id", "url", name=op.f("uq_medialib_webhook_delivery_event_id")),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["medialib_event.id"],
            name=op.f("fk_medialib_webhook_delivery_event_id_medialib_event"),
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_medialib_webhook_delivery_due", "medialib_webhook_delivery", ["status", "next_attempt_at"])


def downgrade() -> None:
    op.drop_table("medialib_webhook_delivery")
    op.drop_table("medialib_media")
    op.drop_table("medialib_import_lock")
    op.drop_table("medialib_event")
    op.drop_index(op.f("ix_medialib_album_space_pk"), table_name="medialib_album")
    op.drop_table("medialib_album")
    op.drop_index(op.f("ix_medialib_access_token_library_id"), table_name="medialib_access_token")
    op.drop_table("medialib_access_token")
    op.drop_table("medialib_space")
    op.drop_table("medialib_library")
