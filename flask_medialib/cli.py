"""``flask medialib ...``: the command line others script against."""

from __future__ import annotations

import datetime as dt
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click
from alembic import command
from alembic.util import CommandError as AlembicError
from flask.cli import AppGroup

from . import auth, identity, migrations
from .errors import MediaLibError
from .services import library as lib
from .state import MediaLibState, get_state

medialib_cli = AppGroup("medialib", help="Manage the media library.")


def create_tables() -> None:
    """Bring the ``medialib_*`` tables to head, as ``flask medialib db upgrade`` (safe to run again, and at once).

    Several workers starting together all call this: each takes a database-wide
    lock first, so one migrates and the others then find the schema at head.
    """
    state = get_state()
    with migrations.locked(state.db.engine) as conn:
        migrations.upgrade(conn)
        # Under the same lock: workers starting together agree on one installation id.
        installation = identity.ensure(conn, state.clock())
    identity.remember(state, installation)


def _fail(exc: MediaLibError) -> None:
    raise click.ClickException(getattr(exc, "message", str(exc)))


@medialib_cli.command("init-db")
def init_db() -> None:
    """Create the database tables, or upgrade them (the same as ``db upgrade``)."""
    try:
        create_tables()
    except MediaLibError as exc:
        _fail(exc)
    click.echo("medialib tables are ready")


# -- schema migrations --------------------------------------------------------


@medialib_cli.group("db")
def db_group() -> None:
    """Schema migrations of the medialib_* tables (version table medialib_alembic_version)."""


_SQL_HELP = (
    "Print the SQL instead of running it. The database is only read (for its revision), or not at all for FROM:TO."
)


def _print_sql(action: Callable[..., Any], revision: str, *, adopt: bool) -> None:
    """Run ``action`` (Alembic's upgrade or downgrade) offline from the database's revision to ``revision``."""
    engine = get_state().db.engine
    cfg = migrations.alembic_config(dialect=engine.dialect.name, output_buffer=sys.stdout)
    if ":" not in revision:
        with engine.connect() as conn:  # a read, rolled back when it closes
            current = migrations.current_revision(conn)
            if current is None and adopt and migrations.our_tables(conn):
                current = migrations.adoption_revision(conn)
                command.stamp(cfg, current, sql=True)
        if current is None and not adopt:
            raise click.ClickException("the database has no medialib revision; give the range as FROM:TO")
        if current is not None:
            revision = f"{current}:{revision}"
    action(cfg, revision, sql=True)


def _move(
    online: Callable[[Any, str], Any], offline: Callable[..., Any], revision: str, *, sql: bool, adopt: bool
) -> str | None:
    """One schema move, under the schema lock or printed as SQL; the revision reached (None: base, or SQL printed)."""
    try:
        if sql:
            _print_sql(offline, revision, adopt=adopt)
            return None
        with migrations.locked(get_state().db.engine) as conn:
            online(conn, revision)
            return migrations.current_revision(conn)
    except (MediaLibError, AlembicError) as exc:
        raise click.ClickException(str(exc)) from exc


@db_group.command("upgrade")
@click.argument("revision", default="head")
@click.option("--sql", is_flag=True, help=_SQL_HELP)
def db_upgrade(revision: str, sql: bool) -> None:
    """Upgrade to REVISION (default head); adopts tables made before migrations existed."""
    reached = _move(migrations.upgrade, command.upgrade, revision, sql=sql, adopt=True)
    if not sql:
        click.echo(f"medialib schema at {reached}", err=True)


@db_group.command("downgrade")
@click.argument("revision")
@click.option("--sql", is_flag=True, help=_SQL_HELP)
def db_downgrade(revision: str, sql: bool) -> None:
    """Downgrade to REVISION (an id, -1, or base: base drops every medialib table and its rows)."""
    reached = _move(migrations.downgrade, command.downgrade, revision, sql=sql, adopt=False)
    if not sql:
        click.echo(f"medialib schema at {reached or 'base'}", err=True)


@db_group.command("current")
def db_current() -> None:
    """Print the revision the database is at."""
    with get_state().db.engine.connect() as conn:
        current = migrations.current_revision(conn)
        before_migrations = current is None and bool(migrations.our_tables(conn))
    if current is None:
        click.echo("none (tables from before migrations: db upgrade adopts them)" if before_migrations else "none")
    else:
        click.echo(current + (" (head)" if current == migrations.head() else ""))


@db_group.command("history")
@click.option("--verbose", "-v", is_flag=True, help="Show each revision in full.")
def db_history(verbose: bool) -> None:
    """List the revisions, newest first."""
    command.history(migrations.alembic_config(stdout=sys.stdout), verbose=verbose)


@db_group.command("stamp")
@click.argument("revision")
def db_stamp(revision: str) -> None:
    """Record REVISION as the database's revision without running anything."""
    try:
        with migrations.locked(get_state().db.engine) as conn:
            migrations.stamp(conn, revision)
    except MediaLibError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"medialib schema stamped {revision}", err=True)


@db_group.command("revision")
@click.option("--message", "-m", required=True, help="What the revision changes.")
@click.option("--autogenerate", is_flag=True, help="Write the operations that models.py differs by.")
def db_revision(message: str, autogenerate: bool) -> None:
    """Write the next revision file into flask_medialib/migrations/versions (for developers of flask-medialib).

    --autogenerate compares models.py with a scratch SQLite database taken
    through every revision; the app's database is not touched.
    """
    migrations.write_revision(message, autogenerate=autogenerate)  # Alembic prints the file's path


# -- libraries --------------------------------------------------------------


@medialib_cli.group()
def library() -> None:
    """Libraries."""


@library.command("create")
@click.argument("library_id")
@click.option("--multi-tenant", is_flag=True, help="Tenants get spaces of their own.")
@click.option("--album-based", is_flag=True, help="Media live in named albums.")
@click.option("--public-read", is_flag=True, help="Reads need no token.")
def library_create(library_id: str, multi_tenant: bool, album_based: bool, public_read: bool) -> None:
    """Create a library and print its secret (shown only once)."""
    try:
        _, secret = lib.create_library(
            library_id, multi_tenant=multi_tenant, album_based=album_based, public_read=public_read
        )
    except MediaLibError as exc:
        _fail(exc)
    click.echo(f"library {library_id} created; its secret (shown once):", err=True)
    click.echo(secret)


@library.command("list")
def library_list() -> None:
    """List libraries."""
    for item in lib.list_libraries():
        flags = [
            name
            for name, on in (
                ("multi-tenant", item.multi_tenant),
                ("album-based", item.album_based),
                ("public-read", item.public_read),
            )
            if on
        ]
        click.echo(f"{item.id}\t{','.join(flags) or '-'}")


# -- spaces and albums ------------------------------------------------------


@medialib_cli.group()
def space() -> None:
    """Tenant spaces."""


@space.command("create")
@click.argument("library_id")
@click.option("--id", "space_id", help="Space id; a random one when left out.")
@click.option("--public-read", is_flag=True, help="Reads in this space need no token.")
def space_create(library_id: str, space_id: str | None, public_read: bool) -> None:
    """Create a space in a multi-tenant library and print its id."""
    try:
        created = lib.create_space(lib.get_library(library_id), space_id, public_read=public_read)
    except MediaLibError as exc:
        _fail(exc)
    click.echo(created.space_id)


@space.command("list")
@click.argument("library_id")
def space_list(library_id: str) -> None:
    """List the spaces of a library."""
    try:
        spaces = lib.list_spaces(lib.get_library(library_id))
    except MediaLibError as exc:
        _fail(exc)
    for item in spaces:
        click.echo(f"{item.space_id}\t{'public-read' if item.public_read else '-'}")


@medialib_cli.group()
def album() -> None:
    """Albums."""


@album.command("create")
@click.argument("library_id")
@click.argument("space_id")
@click.argument("name")
def album_create(library_id: str, space_id: str, name: str) -> None:
    """Create an album."""
    try:
        found_library, found_space = lib.resolve(library_id, space_id)
        lib.create_album(found_library, found_space, name)
    except MediaLibError as exc:
        _fail(exc)
    click.echo(f"album {name} created")


# -- tokens -----------------------------------------------------------------


@medialib_cli.group()
def token() -> None:
    """Access tokens."""


@token.command("create")
@click.argument("library_id")
@click.option("--space", "space_id", help="Bind the token to this space.")
@click.option("--user", "user_id", help="Bind the token to this user identity.")
@click.option("--grant", "grant", default="", help="Comma-separated grants, e.g. admin or upload_file.")
@click.option("--ttl", type=click.IntRange(min=1), help="Lifetime in seconds (renews on use).")
def token_create(library_id: str, space_id: str | None, user_id: str | None, grant: str, ttl: int | None) -> None:
    """Issue an access token and print it."""
    try:
        found = lib.get_library(library_id)
        bound = lib.get_space(found, space_id) if space_id else None
        value, _ = auth.issue_token(found, space=bound, user_id=user_id, grants=auth.parse_grants(grant), ttl=ttl)
        get_state().session.commit()
    except MediaLibError as exc:
        _fail(exc)
    click.echo(value)


# -- import -----------------------------------------------------------------


def _walk(paths: tuple[str, ...]) -> Iterator[Path]:
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
        else:
            yield path


@medialib_cli.command("import")
@click.argument("library_id")
@click.argument("space_id")
@click.option("--album", "album_name", help="Album to import into (created when missing).")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
def import_media(library_id: str, space_id: str, album_name: str | None, paths: tuple[str, ...]) -> None:
    """Import image and video files and folders, one upload time per file in the order given."""
    try:
        found_library, found_space = lib.resolve(library_id, space_id)
        if album_name is not None and found_library.album_based:
            try:
                lib.get_album(found_library, found_space, album_name)
            except MediaLibError:
                lib.create_album(found_library, found_space, album_name)
        where = lib.folder(found_library, found_space, album_name)
    except MediaLibError as exc:
        _fail(exc)
    files = list(_walk(paths))
    start = get_state().clock()
    imported, failures = 0, []
    with click.progressbar(files, label="importing", item_show_func=lambda p: p.name if p else None) as bar:
        for index, path in enumerate(bar):
            try:
                with open(path, "rb") as stream:
                    # Distinct, increasing upload times keep the order given on the command line.
                    lib.save_upload(
                        where, path.name, stream, user="cli", uploaded_at=start + dt.timedelta(milliseconds=index)
                    )
                imported += 1
            except (MediaLibError, OSError) as exc:
                failures.append(f"{os.fspath(path)}: {getattr(exc, 'message', exc)}")
    click.echo(f"imported {imported} of {len(files)} file(s)")
    for line in failures:
        click.echo(f"skipped {line}", err=True)
    if failures:
        raise SystemExit(1)


@medialib_cli.command("sweep-staging")
def sweep_staging_command() -> None:
    """Remove staging files of unfinished uploads older than MEDIALIB_STAGING_MAX_AGE, and expired
    SMH upload sessions with their bytes."""
    from .services.media import sweep_staging
    from .services.uploads import sweep

    click.echo(f"removed {sweep_staging(force=True)} stale staging file(s)")
    click.echo(f"removed {sweep(force=True)} expired upload session(s)")


@medialib_cli.command("sweep-renditions")
@click.option("--dry-run", is_flag=True, help="Count what would be removed; remove nothing.")
def sweep_renditions_command(dry_run: bool) -> None:
    """Remove rendition objects (s3) of media versions that no longer exist: renders that raced a
    delete or replace, and folder deletes that failed. Reads the whole rendition folder of this
    installation: run it from cron (daily is plenty), not per request."""
    from .services.media import sweep_renditions

    if not get_state().storage.stores_renditions:
        click.echo("nothing to sweep: this storage keeps no rendition objects (covers live in the cache)")
        return
    totals = [0, 0]

    def progress(looked_at: int, stale: int) -> None:  # the listing's length is unknown: a running count
        totals[0] += looked_at
        totals[1] += stale
        click.echo(f"\rlooked at {totals[0]} object(s), {totals[1]} stale", nl=False, err=True)

    try:
        looked_at, removed = sweep_renditions(dry_run=dry_run, on_page=progress)
    except MediaLibError as exc:
        click.echo(err=True)
        _fail(exc)
    click.echo(err=True)
    verb = "would remove" if dry_run else "removed"
    click.echo(f"looked at {looked_at} rendition object(s); {verb} {removed} stale one(s)")


# -- OpenAPI ----------------------------------------------------------------


@medialib_cli.command("openapi")
@click.option("--indent", type=click.IntRange(min=0), default=2, show_default=True, help="JSON indentation.")
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True), help="Write to this file.")
def openapi_command(indent: int, output: str | None) -> None:
    """Print the OpenAPI 3 document of the extension's routes."""
    import json

    from flask import current_app

    from .openapi import build_spec

    text = json.dumps(build_spec(current_app), indent=indent or None, sort_keys=True)
    if output:
        Path(output).write_text(text + "\n", encoding="utf-8")
        click.echo(f"wrote {output}", err=True)
    else:
        click.echo(text)


# -- covers -----------------------------------------------------------------


@medialib_cli.command("crop-plan")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--size", type=click.IntRange(min=1), default=256, show_default=True, help="Cover side in pixels.")
def crop_plan(file: str, size: int) -> None:
    """Print the faces and the cover crop of an image (a video's first frame) as JSON, in source pixels.

    Each face has its box, score and "pass": "whole" (the first pass) or "tiles" (the finer pass).
    """
    import json

    from .services.covers import plan_for_file

    try:
        plan = plan_for_file(file, size)
    except MediaLibError as exc:
        _fail(exc)
    click.echo(json.dumps(plan))


# -- render workers ------------------------------------------------------------


def _load_detector(state: MediaLibState) -> None:
    load = getattr(state.detector(), "load", None)
    if callable(load):
        load()


@medialib_cli.command("worker")
@click.option(
    "--concurrency", "-c", type=click.IntRange(min=1), help="Worker processes or threads (default: one per CPU)."
)
@click.option("--queues", "-Q", help="Comma-separated queues to consume (default: MEDIALIB_CELERY_QUEUE).")
@click.option(
    "--loglevel",
    "-l",
    type=click.Choice(["debug", "info", "warning", "error", "critical"], case_sensitive=False),
    default="info",
    show_default=True,
)
@click.option(
    "--pool", type=click.Choice(["prefork", "solo", "threads"]), default="prefork", show_default=True, help="Pool."
)
@click.option("--hostname", "-n", help="Node name, e.g. render1@%h (default: celery@<host>).")
@click.option(
    "--preload/--no-preload",
    default=True,
    show_default=True,
    help="Load the face model before taking jobs (the first render does not pay for it).",
)
def worker_command(
    concurrency: int | None, queues: str | None, loglevel: str, pool: str, hostname: str | None, preload: bool
) -> None:
    """Run a Celery worker for covers and webhook deliveries (MEDIALIB_JOBS = "celery")."""
    state = get_state()
    if state.jobs is None:
        raise click.ClickException('MEDIALIB_JOBS is "inline": covers render in the web process; no worker to run')
    if preload and pool == "prefork":
        # TensorFlow's threads do not survive a fork: each pool process loads the model itself.
        from celery.signals import worker_process_init

        worker_process_init.connect(lambda **_: _load_detector(state), weak=False)
    elif preload:
        _load_detector(state)
    argv = ["worker", f"--loglevel={loglevel}", f"--pool={pool}", f"--queues={queues or state.jobs.queue}"]
    if concurrency:
        argv.append(f"--concurrency={concurrency}")
    if hostname:
        argv.append(f"--hostname={hostname}")
    # Forked pool processes must not share this process's database connections.
    state.db.engine.dispose()
    state.jobs.celery.worker_main(argv)


# -- material events ----------------------------------------------------------


@medialib_cli.group("events")
def events_group() -> None:
    """Material events: webhook delivery and the dead letters."""


@events_group.command("deliver")
@click.option("--once", is_flag=True, help="Deliver what is due now, then exit (for cron or tests).")
@click.option(
    "--interval",
    type=click.FloatRange(min=0.1),
    default=1.0,
    show_default=True,
    help="Seconds between polls when running on.",
)
@click.option(
    "--batch", type=click.IntRange(min=1, max=1000), default=50, show_default=True, help="Deliveries claimed at a time."
)
def events_deliver(once: bool, interval: float, batch: int) -> None:
    """Send due webhook deliveries (safe to run in several processes at once)."""
    import time

    from . import events

    while True:
        stats = events.deliver_all_due(batch)
        get_state().session.remove()
        if stats.attempted or once:
            click.echo(f"delivered {stats.delivered}, to retry {stats.retried}, dead {stats.dead}")
        if once:
            return
        time.sleep(interval)


@events_group.command("list")
@click.option("--status", type=click.Choice(["pending", "delivered", "dead"]), help="Only deliveries in this state.")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
def events_list(status: str | None, limit: int) -> None:
    """List webhook deliveries, newest first: id, event, type, url, status, attempts, last error."""
    from sqlalchemy import select

    from .models import MaterialEvent, WebhookDelivery

    stmt = (
        select(WebhookDelivery, MaterialEvent.event_type)
        .join(MaterialEvent, MaterialEvent.id == WebhookDelivery.event_id)
        .order_by(WebhookDelivery.id.desc())
        .limit(limit)
    )
    if status:
        stmt = stmt.where(WebhookDelivery.status == status)
    for row, event_type in get_state().session.execute(stmt):
        error = (row.last_error or "-").replace("\n", " ")[:120]
        click.echo(f"{row.id}\t{row.event_id}\t{event_type}\t{row.url}\t{row.status}\t{row.attempts}\t{error}")


@events_group.command("retry-dead")
def events_retry_dead() -> None:
    """Make dead deliveries pending again, due now."""
    from . import events

    click.echo(f"{events.retry_dead()} dead deliveries are pending again")


@events_group.command("prune")
@click.option(
    "--keep-days",
    type=click.IntRange(min=1),
    help="Delete delivered rows older than this many days (default: MEDIALIB_WEBHOOK_KEEP_DELIVERED).",
)
def events_prune(keep_days: int | None) -> None:
    """Delete old delivered webhook rows (pending, dead and the events themselves stay)."""
    from . import events

    click.echo(f"{events.prune_delivered(keep_days=keep_days)} delivered deliveries deleted")
