"""Media identity, the installation id, SMH fields, and the storage-key index.

- ``medialib_installation``: the one-row installation id (written on first use).
- ``medialib_media.uid``: a random identity per row, never reused; existing rows
  get one each here, then the column becomes NOT NULL and unique. On SQLite the
  media table is rebuilt with AUTOINCREMENT, so a deleted row's id is never
  handed out again.
- ``medialib_media.crc64``/``meta_data``, ``medialib_space.created_by``, and the
  token's ``space_list``/``client_id``/``session_id`` (SMH conformance).
- ``ix_medialib_media_storage_key``: bytes are deleted only when nothing in
  their space references them, which this index keeps from scanning.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""

from __future__ import annotations

import secrets

import sqlalchemy as sa
from alembic import context, op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_BATCH = 1000


def upgrade() -> None:
    op.create_table(
        "medialib_installation",
        sa.Column("pk", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("installation_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("pk = 1", name=op.f("ck_medialib_installation_one_row")),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_medialib_installation")),
    )
    with op.batch_alter_table("medialib_access_token", schema=None) as batch_op:
        batch_op.add_column(sa.Column("space_list", sa.String(length=2000), nullable=True))
        batch_op.add_column(sa.Column("client_id", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("session_id", sa.String(length=255), nullable=True))
    with op.batch_alter_table("medialib_space", schema=None) as batch_op:
        batch_op.add_column(sa.Column("created_by", sa.String(length=255), nullable=True))

    if context.is_offline_mode() and context.get_context().dialect.name == "sqlite":
        _rebuild_media_sqlite_offline()
        return
    with op.batch_alter_table("medialib_media", schema=None) as batch_op:
        batch_op.add_column(sa.Column("uid", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("crc64", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("meta_data", sa.Text(), nullable=True))
    _fill_uids()
    # SQLite cannot alter a column in place: the table is rebuilt, and the rebuilt one carries AUTOINCREMENT
    # (elsewhere sequences never hand an id out twice).
    with op.batch_alter_table(
        "medialib_media", schema=None, recreate="auto", table_kwargs={"sqlite_autoincrement": True}
    ) as batch_op:
        batch_op.alter_column("uid", existing_type=sa.String(length=32), nullable=False)
        batch_op.create_index(batch_op.f("ix_medialib_media_storage_key"), ["storage_key"], unique=False)
        batch_op.create_unique_constraint(batch_op.f("uq_medialib_media_uid"), ["uid"])


# -- SQLite, offline (--sql): batch mode must read the table, so the rebuild is spelt out (frozen here) --

_OLD_COLUMNS = (
    "id, space_pk, album_pk, folder_pk, file_name, name, kind, mime, storage_key, url, thumb_url, width, height, "
    "size, duration, content, biz_type, upload_type, tag_ids, keywords, status, create_user, update_user, "
    "created_at, updated_at, uploaded_at, version"
)
# One line per constraint, as create_all writes them (older SQLAlchemy reflects FK names line by line).
_FK_SPACE = (
    "CONSTRAINT fk_medialib_media_space_pk_medialib_space FOREIGN KEY(space_pk) "
    "REFERENCES medialib_space (pk) ON DELETE CASCADE"
)
_FK_ALBUM = (
    "CONSTRAINT fk_medialib_media_album_pk_medialib_album FOREIGN KEY(album_pk) "
    "REFERENCES medialib_album (pk) ON DELETE CASCADE"
)
_MEDIA_0003 = f"""CREATE TABLE _medialib_media_0003 (
    id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    space_pk INTEGER NOT NULL,
    album_pk INTEGER,
    folder_pk INTEGER NOT NULL,
    file_name VARCHAR(255),
    name VARCHAR(255) NOT NULL,
    kind SMALLINT NOT NULL,
    mime VARCHAR(100),
    storage_key VARCHAR(255),
    url VARCHAR(2048),
    thumb_url VARCHAR(2048),
    width INTEGER,
    height INTEGER,
    size BIGINT,
    duration FLOAT,
    content TEXT,
    biz_type SMALLINT NOT NULL,
    upload_type SMALLINT NOT NULL,
    tag_ids VARCHAR(1000),
    keywords VARCHAR(1000),
    status SMALLINT NOT NULL,
    create_user VARCHAR(255),
    update_user VARCHAR(255),
    created_at DATETIME NOT NULL,
    updated_at DATETIME NOT NULL,
    uploaded_at DATETIME NOT NULL,
    version INTEGER NOT NULL,
    uid VARCHAR(32) NOT NULL,
    crc64 VARCHAR(20),
    meta_data TEXT,
    CONSTRAINT uq_medialib_media_space_pk UNIQUE (space_pk, folder_pk, file_name),
    {_FK_SPACE},
    {_FK_ALBUM},
    CONSTRAINT uq_medialib_media_uid UNIQUE (uid)
)"""
_MEDIA_INDEXES = {
    "ix_medialib_media_cover": ["space_pk", "album_pk", "kind", "uploaded_at", "id"],
    "ix_medialib_media_material": ["space_pk", "created_at", "id", "biz_type", "create_user", "kind"],
    "ix_medialib_media_storage_key": ["storage_key"],
    "ix_medialib_media_visible": ["space_pk", "biz_type", "create_user", "kind", "created_at"],
}


def _rebuild_media_sqlite_offline() -> None:
    op.execute(_MEDIA_0003)
    op.execute(
        f"INSERT INTO _medialib_media_0003 ({_OLD_COLUMNS}, uid) "  # noqa: S608 - constants
        f"SELECT {_OLD_COLUMNS}, lower(hex(randomblob(16))) FROM medialib_media"
    )
    op.execute("DROP TABLE medialib_media")
    op.execute("ALTER TABLE _medialib_media_0003 RENAME TO medialib_media")
    for name, columns in _MEDIA_INDEXES.items():
        op.create_index(name, "medialib_media", columns)


def _fill_uids() -> None:
    """A random uid for every existing row (offline: SQL that the database computes)."""
    media = sa.table("medialib_media", sa.column("id", sa.BigInteger), sa.column("uid", sa.String))
    if context.is_offline_mode():  # PostgreSQL (SQLite offline rebuilds the table instead)
        op.execute("UPDATE medialib_media SET uid = md5(random()::text || clock_timestamp()::text) WHERE uid IS NULL")
        return
    bind = op.get_bind()
    while True:
        ids = bind.execute(sa.select(media.c.id).where(media.c.uid.is_(None)).limit(_BATCH)).scalars().all()
        if not ids:
            return
        bind.execute(
            sa.update(media).where(media.c.id == sa.bindparam("row_id")),
            [{"row_id": row_id, "uid": secrets.token_urlsafe(16)} for row_id in ids],
        )


def downgrade() -> None:
    with op.batch_alter_table("medialib_space", schema=None) as batch_op:
        batch_op.drop_column("created_by")
    with op.batch_alter_table("medialib_media", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_medialib_media_uid"), type_="unique")
        batch_op.drop_index(batch_op.f("ix_medialib_media_storage_key"))
        batch_op.drop_column("meta_data")
        batch_op.drop_column("crc64")
        batch_op.drop_column("uid")
    with op.batch_alter_table("medialib_access_token", schema=None) as batch_op:
        batch_op.drop_column("session_id")
        batch_op.drop_column("client_id")
        batch_op.drop_column("space_list")
    op.drop_table("medialib_installation")
