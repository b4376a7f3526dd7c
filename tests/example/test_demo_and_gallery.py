"""The example app's demo data (seeded once, even by racing workers) and its gallery pages."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from sqlalchemy import func, select

from example_app import create_app
from example_app.demo import ALBUMS, DEMO_LIBRARY, PRIVATE_LIBRARY
from flask_medialib import get_state
from flask_medialib.models import Library, Media

EXPECTED_MEDIA = sum(len(items) for items in ALBUMS.values()) + 1  # + the private album's photo


def media_count(app) -> int:
    with app.app_context():
        return int(get_state(app).session.execute(select(func.count(Media.id))).scalar_one())


def dispose(app) -> None:
    with app.app_context():
        get_state(app).db.engine.dispose()


@pytest.fixture
def example(tmp_path: Path):
    app = create_app({"INSTANCE_PATH": str(tmp_path / "instance"), "TESTING": True})
    yield app
    dispose(app)


def test_first_start_seeds_and_later_starts_do_not(example, tmp_path: Path) -> None:
    assert media_count(example) == EXPECTED_MEDIA
    again = create_app({"INSTANCE_PATH": str(tmp_path / "instance"), "TESTING": True})
    try:
        assert media_count(again) == EXPECTED_MEDIA
        with again.app_context():
            libraries = {lib.id: lib for lib in get_state(again).session.execute(select(Library)).scalars()}
        assert libraries["demo"].public_read and libraries["demo"].album_based
        assert not libraries[PRIVATE_LIBRARY].public_read
    finally:
        dispose(again)


def test_workers_starting_together_seed_once(tmp_path: Path) -> None:
    instance = tmp_path / "shared-instance"
    script = textwrap.dedent(
        f"""
        from example_app import create_app
        app = create_app({{"INSTANCE_PATH": {str(instance)!r}}})
        """
    )
    workers = [subprocess.Popen([sys.executable, "-c", script], stderr=subprocess.PIPE, text=True) for _ in range(3)]
    errors = [w.communicate(timeout=300)[1] for w in workers]
    assert [w.returncode for w in workers] == [0, 0, 0], errors
    app = create_app({"INSTANCE_PATH": str(instance), "TESTING": True})
    try:
        assert media_count(app) == EXPECTED_MEDIA
    finally:
        dispose(app)


def test_gallery_lists_albums_as_cover_img_tags(example) -> None:
    page = example.test_client().get("/gallery/").get_data(as_text=True)
    for name in ALBUMS:
        src = f'src="/api/v1/album/demo/-/cover/{name.replace(" ", "%20")}?size=256"'
        assert src in page, name
    assert "3 items" in page and "1 item<" in page


def test_album_page_links_each_media_to_its_original(example) -> None:
    client = example.test_client()
    page = client.get("/gallery/albums/Still life").get_data(as_text=True)
    assert page.count('class="thumb"') == len(ALBUMS["Still life"])
    with client.get("/api/v1/file/demo/-/Still%20life/coffee.jpg") as resp:
        assert resp.status_code == 302
    assert 'href="/api/v1/file/demo/-/Still%20life/coffee.jpg"' in page
    assert client.get("/gallery/albums/Nope").status_code == 404


def test_gallery_refuses_a_private_library(tmp_path: Path) -> None:
    app = create_app({"INSTANCE_PATH": str(tmp_path / "i"), "TESTING": True, "GALLERY_LIBRARY": PRIVATE_LIBRARY})
    try:
        assert app.test_client().get("/gallery/").status_code == 404
    finally:
        dispose(app)


def test_home_page_lists_public_libraries_only(example) -> None:
    with example.app_context():
        libraries = get_state(example).session.execute(select(Library.id, Library.public_read)).all()
    assert (PRIVATE_LIBRARY, False) in libraries and (DEMO_LIBRARY, True) in libraries  # both exist
    page = example.test_client().get("/").get_data(as_text=True)
    assert f"<code>{DEMO_LIBRARY}</code>" in page
    assert PRIVATE_LIBRARY not in page
