"""Issue 10 §5: a filesystem cache whose folder was deleted makes it again instead of failing every write."""

from __future__ import annotations

import shutil

import pytest
from cover_helpers import at, close_to, cover_path, fetch_cover, jpeg, make_library, mean_color, root_space
from cover_helpers import upload as upload_media

from flask_medialib import get_state, locks
from flask_medialib.services import covers

RED, GREEN = (220, 20, 20), (20, 200, 20)


@pytest.fixture
def cover_cache() -> str:
    return "FileSystemCache"


def test_a_deleted_cache_folder_is_made_again_on_the_next_write(app, client, tmp_path):
    library = make_library("pub", album_based=False, public_read=True)
    space = root_space(library)
    red = upload_media(library, space, None, "r.jpg", jpeg(RED), at(1))
    assert close_to(mean_color(fetch_cover(client, cover_path("pub", album=None, size=16))[0]), RED)
    state = get_state()
    folder = tmp_path / "cache"
    assert locks.kind(state.cache) == "file" and folder.is_dir()
    shutil.rmtree(folder)  # a cleanup job, an operator
    shutil.rmtree(locks.lock_dir(str(folder)), ignore_errors=True)
    upload_media(library, space, None, "g.jpg", jpeg(GREEN), at(0))  # the new cover (older upload)
    assert close_to(mean_color(fetch_cover(client, cover_path("pub", album=None, size=16))[0]), GREEN)
    assert folder.is_dir()
    green = next(covers.candidates(space, None))
    assert green.id != red.id and state.cache.get(covers.cover_key(state, green, 16)) is not None  # written again
    assert state.cache.set("medialib:probe", 1) and state.cache.get("medialib:probe") == 1
