"""``flask medialib ...``: the commands others script against."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from flask import Flask
from foundation_helpers import jpeg_bytes, mp4_bytes, png_bytes, stored_files
from sqlalchemy import select

from flask_medialib import auth, get_state
from flask_medialib.models import AccessToken, Album, Base, Library, Media, Space
from flask_medialib.services import library as lib


def run(runner, *args: str):
    return runner.invoke(args=["medialib", *args])


def test_init_db_is_safe_to_run_twice(app: Flask, runner) -> None:
    with get_state(app).db.engine.begin() as conn:  # start from nothing
        Base.metadata.drop_all(conn)
    for _ in range(2):
        result = run(runner, "init-db")
        assert result.exit_code == 0, result.output
        assert "ready" in result.stdout
    names = set(sa.inspect(get_state(app).db.engine).get_table_names())
    assert {t.name for t in Base.metadata.sorted_tables} <= names
    assert all(t.name.startswith("medialib_") for t in Base.metadata.sorted_tables)


def test_library_create_prints_the_secret_once_and_list_shows_flags(app: Flask, runner, client) -> None:
    result = run(runner, "library", "create", "shop", "--multi-tenant", "--album-based", "--public-read")
    assert result.exit_code == 0, result.output
    secret = result.stdout.strip()
    assert len(secret.splitlines()) == 1 and len(secret) >= 40
    row = get_state(app).session.get(Library, "shop")
    assert (row.multi_tenant, row.album_based, row.public_read) == (True, True, True)
    assert secret not in row.secret_hash and auth.check_secret(row, secret)
    # The printed secret is the one that issues tokens.
    answer = client.get("/api/v1/token", query_string={"library_id": "shop", "library_secret": secret})
    assert answer.status_code == 200

    assert run(runner, "library", "create", "plain").exit_code == 0
    listing = run(runner, "library", "list")
    assert listing.exit_code == 0
    assert listing.stdout.splitlines() == ["plain\t-", "shop\tmulti-tenant,album-based,public-read"]


def test_library_create_twice_or_with_a_bad_id_fails(runner) -> None:
    assert run(runner, "library", "create", "dup").exit_code == 0
    again = run(runner, "library", "create", "dup")
    assert again.exit_code == 1 and "already exists" in again.output
    bad = run(runner, "library", "create", "no/slash")
    assert bad.exit_code == 1 and "library id" in bad.output


def test_single_tenant_library_has_the_dash_space(runner) -> None:
    run(runner, "library", "create", "solo")
    listing = run(runner, "space", "list", "solo")
    assert listing.exit_code == 0 and listing.stdout.splitlines() == ["-\t-"]
    refused = run(runner, "space", "create", "solo")
    assert refused.exit_code == 1 and "single-tenant" in refused.output


def test_space_create_and_list(app: Flask, runner) -> None:
    run(runner, "library", "create", "multi", "--multi-tenant")
    named = run(runner, "space", "create", "multi", "--id", "tenant1", "--public-read")
    assert named.exit_code == 0 and named.stdout.strip() == "tenant1"
    generated = run(runner, "space", "create", "multi")
    space_id = generated.stdout.strip()
    assert generated.exit_code == 0 and space_id and space_id != "tenant1"
    listing = run(runner, "space", "list", "multi")
    assert listing.stdout.splitlines() == ["tenant1\tpublic-read", f"{space_id}\t-"]
    dash = run(runner, "space", "create", "multi", "--id", "-")
    assert dash.exit_code == 1 and "'-'" in dash.output
    dup = run(runner, "space", "create", "multi", "--id", "tenant1")
    assert dup.exit_code == 1 and "already exists" in dup.output
    assert run(runner, "space", "list", "missing").exit_code == 1


def test_album_create(app: Flask, runner) -> None:
    run(runner, "library", "create", "albums", "--album-based")
    result = run(runner, "album", "create", "albums", "-", "Summer 2025")
    assert result.exit_code == 0, result.output
    assert get_state(app).session.execute(select(Album.name)).scalars().all() == ["Summer 2025"]
    again = run(runner, "album", "create", "albums", "-", "Summer 2025")
    assert again.exit_code == 1 and "already exists" in again.output
    run(runner, "library", "create", "flat")
    flat = run(runner, "album", "create", "flat", "-", "x")
    assert flat.exit_code == 1 and "not album-based" in flat.output


def test_token_create_with_every_option(app: Flask, runner, client, clock) -> None:
    run(runner, "library", "create", "tok", "--multi-tenant")
    run(runner, "space", "create", "tok", "--id", "s1")
    result = run(
        runner,
        "token",
        "create",
        "tok",
        "--space",
        "s1",
        "--user",
        "alice",
        "--grant",
        "upload_file,create_directory",
        "--ttl",
        "120",
    )
    assert result.exit_code == 0, result.output
    token = result.stdout.strip()
    row = get_state(app).session.execute(select(AccessToken)).scalar_one()
    assert row.token_hash == auth.digest(token) and token not in row.token_hash
    assert row.grant_set == {"upload_file", "create_directory"}
    assert (row.user_id, row.ttl, row.space.space_id) == ("alice", 120, "s1")
    assert row.expires_at == clock() + dt.timedelta(seconds=120)

    plain = run(runner, "token", "create", "tok")
    assert plain.exit_code == 0
    read_only = (
        get_state(app)
        .session.execute(select(AccessToken).where(AccessToken.token_hash == auth.digest(plain.stdout.strip())))
        .scalar_one()
    )
    assert read_only.grant_set == frozenset() and read_only.space_pk is None


def test_token_create_refuses_bad_options(runner) -> None:
    run(runner, "library", "create", "tok")
    unknown = run(runner, "token", "create", "tok", "--grant", "superuser")
    assert unknown.exit_code == 1 and "superuser" in unknown.output
    assert run(runner, "token", "create", "tok", "--ttl", "0").exit_code == 2
    assert run(runner, "token", "create", "tok", "--ttl", str(10**9)).exit_code == 1
    assert run(runner, "token", "create", "tok", "--space", "nope").exit_code == 1
    assert run(runner, "token", "create", "missing").exit_code == 1


@pytest.mark.both_storages
def test_import_follows_the_order_given(app: Flask, runner, tmp_path) -> None:
    run(runner, "library", "create", "imp", "--album-based")
    folder = tmp_path / "folder"
    (folder / "sub").mkdir(parents=True)
    (folder / "b.png").write_bytes(png_bytes(10, 10))
    (folder / "a.jpg").write_bytes(jpeg_bytes(12, 12))
    (folder / "sub" / "c.png").write_bytes(png_bytes(14, 14))
    (folder / ".hidden.png").write_bytes(png_bytes(5, 5))
    first = tmp_path / "z-first.mp4"
    first.write_bytes(mp4_bytes(tmp_path))
    last = tmp_path / "0-last.png"
    last.write_bytes(png_bytes(16, 16))

    result = run(runner, "import", "imp", "-", "--album", "trip", str(first), str(folder), str(last))
    assert result.exit_code == 0, result.output
    assert "imported 5 of 5" in result.stdout

    library = lib.get_library("imp")
    where = lib.folder(library, lib.get_space(library, "-"), "trip")  # the album was created
    files = lib.list_files(where)
    assert [m.file_name for m in files] == ["z-first.mp4", "a.jpg", "b.png", "c.png", "0-last.png"]
    times = [m.uploaded_at for m in files]
    assert times == sorted(times) and len(set(times)) == len(times)
    assert [m.kind_name for m in files] == ["video", "image", "image", "image", "image"]
    assert all(m.create_user == "cli" for m in files)
    assert not [f for f in stored_files(app) if f.startswith("tmp/")]


def test_import_into_a_flat_library_root(app: Flask, runner, tmp_path) -> None:
    run(runner, "library", "create", "flat")
    picture = tmp_path / "p.png"
    picture.write_bytes(png_bytes())
    assert run(runner, "import", "flat", "-", str(picture)).exit_code == 0
    assert get_state(app).session.execute(select(Media.file_name)).scalars().all() == ["p.png"]
    with_album = run(runner, "import", "flat", "-", "--album", "x", str(picture))
    assert with_album.exit_code == 1 and "not album-based" in with_album.output


@pytest.mark.both_storages
def test_import_skips_a_bad_file_with_a_message_and_exit_1(app: Flask, runner, tmp_path) -> None:
    run(runner, "library", "create", "imp", "--multi-tenant")
    run(runner, "space", "create", "imp", "--id", "t1")
    good1, bad, good2 = tmp_path / "1.png", tmp_path / "notes.txt", tmp_path / "2.png"
    good1.write_bytes(png_bytes())
    bad.write_bytes(b"just some text, not a picture")
    good2.write_bytes(png_bytes())
    result = run(runner, "import", "imp", "t1", str(good1), str(bad), str(good2))
    assert result.exit_code == 1
    assert "imported 2 of 3" in result.stdout
    assert "skipped" in result.stderr and "notes.txt" in result.stderr
    assert "neither an image nor a video" in result.stderr
    space = get_state(app).session.execute(select(Space).where(Space.space_id == "t1")).scalar_one()
    names = get_state(app).session.execute(select(Media.file_name).where(Media.space_pk == space.pk)).scalars()
    assert sorted(names) == ["1.png", "2.png"]
    assert len(stored_files(app)) == 2 and not [f for f in stored_files(app) if f.startswith("tmp/")]


@pytest.mark.both_storages
def test_import_a_duplicate_name_is_skipped_and_the_rest_continues(app: Flask, runner, tmp_path) -> None:
    run(runner, "library", "create", "imp")
    one = tmp_path / "one.png"
    one.write_bytes(png_bytes())
    assert run(runner, "import", "imp", "-", str(one)).exit_code == 0
    other = tmp_path / "other.png"
    other.write_bytes(png_bytes())
    result = run(runner, "import", "imp", "-", str(one), str(other))
    assert result.exit_code == 1 and "already exists" in result.stderr
    assert sorted(get_state(app).session.execute(select(Media.file_name)).scalars()) == ["one.png", "other.png"]
    assert len(stored_files(app)) == 2


def test_import_into_a_missing_space_fails(runner, tmp_path) -> None:
    run(runner, "library", "create", "imp", "--multi-tenant")
    picture = tmp_path / "p.png"
    picture.write_bytes(png_bytes())
    result = run(runner, "import", "imp", "-", str(picture))
    assert result.exit_code == 1 and "multi-tenant" in result.output
