"""Alembic environment of the ``medialib_*`` tables (run by ``flask_medialib.migrations``, never by hand).

Online, the caller hands over a connection that already holds the
database-wide DDL lock; offline (``--sql``) only the dialect's name is needed.
"""

from __future__ import annotations

from typing import Any

from alembic import context

from flask_medialib.migrations import VERSION_TABLE, include_medialib_object
from flask_medialib.models import metadata

config = context.config
options: dict[str, Any] = {
    "target_metadata": metadata,
    "version_table": VERSION_TABLE,
    "include_object": include_medialib_object,
    "compare_type": True,
    # SQLite alters tables by copying them; autogenerate then writes batch operations.
    "render_as_batch": True,
}

if context.is_offline_mode():
    context.configure(dialect_name=config.attributes["dialect"], literal_binds=True, **options)
else:
    context.configure(connection=config.attributes["connection"], **options)

with context.begin_transaction():
    context.run_migrations()
