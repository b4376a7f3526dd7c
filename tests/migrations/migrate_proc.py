"""A worker starting: ``python migrate_proc.py DB_URL`` prints ``ready``, waits for a line, runs create_tables."""

from __future__ import annotations

import sys

from flask import Flask

from flask_medialib import MediaLib, migrations
from flask_medialib.cli import create_tables


def main() -> None:
    app = Flask("medialib_migrate_proc")
    app.config.update(TESTING=True, SECRET_KEY="proc", SQLALCHEMY_DATABASE_URI=sys.argv[1])
    app.config.update(MEDIALIB_CACHE_TYPE="SimpleCache", MEDIALIB_FACE_DETECTOR="none")
    MediaLib(app)
    with app.app_context():
        print("ready", flush=True)
        sys.stdin.readline()
        create_tables()
        with migrations.locked(app.extensions["medialib"].db.engine) as conn:
            print(migrations.current_revision(conn), flush=True)


if __name__ == "__main__":
    main()
