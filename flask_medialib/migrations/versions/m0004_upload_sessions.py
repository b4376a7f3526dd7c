"""SMH upload sessions: ``medialib_upload_session`` (begin -> bytes -> confirm; a new table, no data moves).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "medialib_upload_session",
        sa.Column("pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("space_pk", sa.Integer(), nullable=False),
        sa.Column("album_pk", sa.Integer(), nullable=True),
        sa.Column("file_name", sa.String(length=255), nullable=False),
        sa.Column("strategy", sa.String(length=16), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("multipart", sa.Boolean(), nullable=False),
        sa.Column("upload_id", sa.String(length=64), nullable=True),
        sa.Column("staging_path", sa.String(length=1024), nullable=True),
        sa.Column("storage_key", sa.String(length=255), nullable=True),
        sa.Column("meta_data", sa.Text(), nullable=True),
        sa.Column("user_id", sa.String(length=255), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("media_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["album_pk"],
            ["medialib_album.pk"],
            name=op.f("fk_medialib_upload_session_album_pk_medialib_album"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["space_pk"],
            ["medialib_space.pk"],
            name=op.f("fk_medialib_upload_session_space_pk_medialib_space"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_medialib_upload_session")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_medialib_upload_session_key_hash")),
    )
    with op.batch_alter_table("medialib_upload_session", schema=None) as batch_op:
        batch_op.create_index("ix_medialib_upload_session_expiry", ["state", "expires_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("medialib_upload_session", schema=None) as batch_op:
        batch_op.drop_index("ix_medialib_upload_session_expiry")

    op.drop_table("medialib_upload_session")
