"""The material-list indexes that a database made before 0.1.0 was final may lack.

``create_all`` never adds an index to a table that exists, so a database created
by an early 0.1.0 build kept the three-column ``ix_medialib_media_material`` and
has no ``ix_medialib_media_visible``. Online this revision builds only what
differs; on a database that revision 0001 made, nothing does and it changes
nothing. Offline (``--sql``) it rebuilds both, unless the same script starts
from an empty database.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TABLE = "medialib_media"
LATE_INDEXES = {
    "ix_medialib_media_material": ["space_pk", "created_at", "id", "biz_type", "create_user", "kind"],
    "ix_medialib_media_visible": ["space_pk", "biz_type", "create_user", "kind", "created_at"],
}


def upgrade() -> None:
    if context.is_offline_mode():
        if context.get_starting_revision_argument() is None:
            return  # the same script runs 0001 first, which creates them
        for name, columns in LATE_INDEXES.items():
            op.drop_index(name, table_name=TABLE, if_exists=True)
            op.create_index(name, TABLE, columns)
        return
    found = {ix["name"]: ix["column_names"] for ix in sa.inspect(op.get_bind()).get_indexes(TABLE)}
    for name, columns in LATE_INDEXES.items():
        if found.get(name) == columns:
            continue
        if name in found:
            op.drop_index(name, table_name=TABLE)
        op.create_index(name, TABLE, columns)


def downgrade() -> None:
    pass  # revision 0001 has these indexes already
