"""The cover API over materials added through the material API (stored files and fetched URLs)."""

from __future__ import annotations

import io
from collections.abc import Iterator

import numpy as np
import pytest
from material_helpers import MediaServer, assert_envelope, item
from PIL import Image
from served import get_served

pytestmark = pytest.mark.both_storages  # covers of stored keys and of fetched URLs, on both storages

RED, GREEN, BLUE = (220, 20, 20), (20, 200, 20), (20, 20, 220)


@pytest.fixture
def app_config(app_config: dict) -> dict:
    return {**app_config, "MEDIALIB_FACE_DETECTOR": "none"}


def jpeg(color: tuple[int, int, int], size: tuple[int, int] = (60, 40)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "JPEG", quality=95)
    return buf.getvalue()


def stored(client, corp, data: bytes, name: str) -> str:
    """A file the replicating system uploaded through SMH, as a material ``path`` (``media:<id>``)."""
    resp = client.put(f"/api/v1/file/mat/acme/{name}", query_string={"access_token": corp.admin}, data=data)
    assert resp.status_code == 201, resp.get_json()
    return f"media:{resp.get_json()['mediaId']}"


def cover_color(client, corp, **query) -> tuple[float, ...]:
    resp = client.get(
        f"/api/v1/album/{corp.library_id}/{corp.space_id}/cover", query_string={"access_token": corp.reader, **query}
    )
    assert resp.status_code == 302, resp.get_data(as_text=True)
    status, body, _ = get_served(client, resp.headers["Location"])  # s3: originals come from the bucket
    assert status == 200
    image = Image.open(io.BytesIO(body))
    image.load()
    if "size" in query:
        assert image.size == (query["size"], query["size"])
    return tuple(np.asarray(image.convert("RGB"), dtype=np.float64).mean(axis=(0, 1)))


def close_to(color: tuple[float, ...], want: tuple[int, int, int]) -> bool:
    return all(abs(a - b) <= 15 for a, b in zip(color, want, strict=True))


def test_cover_is_the_oldest_image_material(client, api, corp):
    added = assert_envelope(
        api.add(
            [
                item(name="text", type=4, path=None, content="words", createTime="2023-01-01 00:00:00"),
                item(name="blue", path=stored(client, corp, jpeg(BLUE), "blue.jpg"), createTime="2024-01-02 00:00:00"),
                item(name="red", path=stored(client, corp, jpeg(RED), "red.jpg"), createTime="2024-01-01 00:00:00"),
                item(
                    name="green", path=stored(client, corp, jpeg(GREEN), "green.jpg"), createTime="2024-01-03 00:00:00"
                ),
            ]
        ),
        200,
    )["list"]
    assert close_to(cover_color(client, corp), RED)
    assert close_to(cover_color(client, corp, size=16), RED)
    red_id = next(m["id"] for m in added if m["name"] == "red")
    assert_envelope(api.call("POST", "delete", json={"materialIds": str(red_id)}), 200)
    assert close_to(cover_color(client, corp), BLUE)  # the next oldest once the first is gone


@pytest.fixture
def origin() -> Iterator[MediaServer]:
    server = MediaServer({"/green.jpg": jpeg(GREEN)})
    yield server
    server.close()


def test_cover_of_a_url_material_is_fetched_from_an_allowed_host(app, client, api, corp, origin):
    app.config["MEDIALIB_FETCH_ALLOWED_HOSTS"] = [f"127.0.0.1:{origin.port}"]
    assert_envelope(api.add([item(path=f"{origin.base}/green.jpg", createTime="2024-01-01 00:00:00")]), 200)
    assert close_to(cover_color(client, corp, size=8), GREEN)
