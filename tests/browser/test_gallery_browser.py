"""Covers in real <img> tags: headless Chromium (Debian's package) against the example app.

The example app is served on 127.0.0.1 from a thread; Chromium opens the
gallery and every cover must arrive through the cover API's 302 as a 256 x 256
image, while a private album's cover without a token must not load.
"""

from __future__ import annotations

import http.client
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is absent: apt-get install chromium"),
]

ALL_IMAGES_DONE = "return Array.from(document.images).every(img => img.complete);"
PRIVATE_COVER = "/api/v1/album/demo-private/-/cover/Secret?size=256"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, object]]:
    from werkzeug.serving import make_server

    from example_app import create_app

    instance = tmp_path_factory.mktemp("instance")
    app = create_app({"INSTANCE_PATH": str(instance)})
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_port}", app
    finally:
        httpd.shutdown()
        thread.join()
        httpd.server_close()
        from flask_medialib import get_state

        with app.app_context():
            get_state(app).db.engine.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must never try to download a driver
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1280,1000",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(120)
    try:
        yield driver
    finally:
        driver.quit()


def wait_for_images(driver) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    # The first cover loads TensorFlow and the face model; later ones are quick.
    WebDriverWait(driver, 180, poll_frequency=0.2).until(lambda d: d.execute_script(ALL_IMAGES_DONE))


def raw_get(base: str, path: str) -> tuple[int, str]:
    """Status and Location of one request, redirects not followed."""
    parts = urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        return response.status, response.getheader("Location") or ""
    finally:
        conn.close()


def test_every_cover_img_loads_through_the_302_as_256_square(server, browser, tmp_path: Path) -> None:
    base, _ = server
    browser.get(f"{base}/gallery/")
    wait_for_images(browser)
    covers = browser.execute_script(
        """return Array.from(document.querySelectorAll('img.cover')).map(img => {
             const timing = performance.getEntriesByName(img.src)[0];
             return {src: img.getAttribute('src'), current: img.currentSrc, w: img.naturalWidth,
                     h: img.naturalHeight, redirected: timing ? timing.redirectEnd > 0 : null};
           });"""
    )
    browser.save_screenshot(str(tmp_path / "gallery.png"))
    assert len(covers) >= 5, covers
    for cover in covers:
        assert cover["src"].startswith("/api/v1/album/demo/-/cover/") and cover["src"].endswith("?size=256")
        assert (cover["w"], cover["h"]) == (256, 256), cover
        # Same-origin redirects show in Resource Timing: the image came through the 302.
        assert cover["redirected"] is True, cover
        status, location = raw_get(base, cover["src"])
        assert status == 302 and location.startswith("/api/v1/f/"), (cover["src"], status, location)


def test_private_cover_does_not_load_without_a_token(server, browser, tmp_path: Path) -> None:
    base, app = server
    from flask_medialib import auth, get_state
    from flask_medialib.services import library as lib

    with app.app_context():
        library = lib.get_library("demo-private")
        token, _ = auth.issue_token(library, space=None, user_id=None, grants=frozenset(), ttl=3600)
        get_state(app).session.commit()

    browser.get(f"{base}/gallery/")
    wait_for_images(browser)
    results = browser.execute_async_script(
        """const done = arguments[arguments.length - 1];
           const load = (src) => new Promise(resolve => {
             const img = new Image();
             img.onload = () => resolve({event: 'load', w: img.naturalWidth, h: img.naturalHeight});
             img.onerror = () => resolve({event: 'error', w: img.naturalWidth, h: img.naturalHeight});
             img.src = src;
             document.querySelector('main').appendChild(img);
           });
           Promise.all([load(arguments[0]), load(arguments[1])]).then(done);""",
        PRIVATE_COVER,
        f"{PRIVATE_COVER}&access_token={token}",
    )
    browser.save_screenshot(str(tmp_path / "private.png"))
    without, with_token = results
    assert without == {"event": "error", "w": 0, "h": 0}
    # The same album does have a cover: it is the token that makes the difference.
    assert with_token == {"event": "load", "w": 256, "h": 256}
    status, _ = raw_get(base, PRIVATE_COVER)
    assert status == 400  # SMH's EmptyAccessToken


def test_album_page_shows_its_media(server, browser, tmp_path: Path) -> None:
    base, _ = server
    browser.get(f"{base}/gallery/albums/Clips")
    wait_for_images(browser)
    thumbs = browser.execute_script(
        "return Array.from(document.querySelectorAll('img.thumb')).map(i => [i.alt, i.naturalWidth, i.naturalHeight]);"
    )
    browser.save_screenshot(str(tmp_path / "album.png"))
    # The video's thumbnail is its first frame, cropped square like every other.
    assert thumbs == [["astronaut-pan.mp4", 256, 256], ["astronaut.jpg", 256, 256]]
