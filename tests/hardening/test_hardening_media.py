"""The hostile media corpus through PUT /file and the cover API: a 4xx or a correct skip, never a 5xx.

Memory is measured as the peak resident set (VmHWM) of this process, reset
through ``/proc/self/clear_refs`` before each measurement. The bounds:

- each decompression bomb: +64 MB. Its header claims 1 to 12 GB of pixels; a
  refusal that reads only the header allocates next to nothing, while any
  decode of it, even an 1/8 draft of the JPEG, would need 200 MB or more;
- the whole corpus: +300 MB. The largest real picture here is 320 x 240, so
  what remains is RetinaFace's working memory (~100 MB at a 640 px input)
  and the allocator's slack; the face model itself is loaded before the
  measurement starts.
"""

from __future__ import annotations

import base64
import io
import json
import re
import warnings
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import select

from flask_medialib import get_state
from flask_medialib.models import Media
from tests.hardening.conftest import API, upload
from tests.hardening.hostile_media import BOMB, BROKEN, VALID, Sample, corpus

pytestmark = pytest.mark.slow

BOMB_BOUND_MB = 64
CORPUS_BOUND_MB = 300
SIZES = (None, 96)
GOOD = "zz-good.jpg"  # uploaded after the sample: the cover falls back to it


@pytest.fixture
def app_config(app_config: dict) -> dict:
    # The real face model: broken pixels must not upset it either.
    return {**app_config, "MEDIALIB_FACE_DETECTOR": "retinaface"}


@pytest.fixture(scope="session")
def samples() -> list[Sample]:
    return corpus()


def _status_kb(field: str) -> int:
    found = re.search(rf"{field}:\s+(\d+) kB", Path("/proc/self/status").read_text())
    return int(found.group(1)) if found else 0


def _reset_peak() -> int:
    """Reset VmHWM to the current RSS where the kernel lets us; returns the baseline in kB."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return _status_kb("VmRSS")
    except OSError:
        return _status_kb("VmHWM")  # no reset: growth beyond the earlier peak is still seen


def _peak_growth_mb(baseline_kb: int) -> float:
    return (_status_kb("VmHWM") - baseline_kb) / 1024


def _media_of(location: str) -> int | None:
    """The id of the media a signed cover URL names (its payload carries the media's uid)."""
    token = location.split(f"{API}/f/", 1)[1].split("?", 1)[0]
    payload = token.rsplit(".", 1)[0]
    uid = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))[1]
    return get_state().session.execute(select(Media.id).where(Media.uid == uid)).scalar_one_or_none()


def _cover(client, album: str, token: str, size: int | None):
    query = f"access_token={token}" + (f"&size={size}" if size else "")
    response = client.get(f"{API}/album/hostile/-/cover/{album}?{query}")
    response.close()
    return response


def _served_image(client, location: str) -> Image.Image:
    path = location.split("://", 1)[-1]
    path = path[path.index("/") :] if not location.startswith("/") else location
    with client.get(path) as served:
        assert served.status_code == 200, served.get_data()[:200]
        data = served.get_data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        image = Image.open(io.BytesIO(data))
        image.load()
    return image.convert("RGB")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc to measure memory")
def test_hostile_corpus_never_gets_a_5xx(app, client, make_lib, samples, photo):
    admin = make_lib("hostile", album_based=True).admin
    # Warm up: the face model and the code paths load before memory is measured.
    assert client.put(f"{API}/directory/hostile/-/warm?access_token={admin}").status_code == 201
    assert upload(client, "hostile", "-", "warm/p.jpg", photo, admin).status_code == 201
    assert _cover(client, "warm", admin, 96).status_code == 302
    kinds = {s.expect for s in samples}
    assert kinds == {VALID, BROKEN, BOMB}
    assert any(s.name.endswith(".mp4") for s in samples), "ffmpeg made no video samples"

    corpus_baseline = _reset_peak()
    problems: list[str] = []
    for index, sample in enumerate(samples):
        album = f"a{index}"
        assert client.put(f"{API}/directory/hostile/-/{album}?access_token={admin}").status_code == 201
        bomb_baseline = _reset_peak() if sample.expect == BOMB else None
        put = client.put(f"{API}/file/hostile/-/{album}/{sample.name}?access_token={admin}", data=sample.data)
        body = put.get_json(silent=True) or {}
        put.close()
        if bomb_baseline is not None:
            grown = _peak_growth_mb(bomb_baseline)
            if grown > BOMB_BOUND_MB:
                problems.append(f"{sample.name}: refusing the bomb grew the peak RSS by {grown:.0f} MB")
            corpus_baseline = min(corpus_baseline, bomb_baseline)
        stored = put.status_code == 201
        seen: list[str] = [f"{sample.name:24} {sample.expect:6} put={put.status_code}"]
        if put.status_code >= 500 or not (stored or 400 <= put.status_code < 500):
            problems.append(f"{sample.name}: upload answered {put.status_code} {body}")
            continue
        if sample.expect == VALID and not stored:
            problems.append(f"{sample.name} ({sample.why}) is valid but was refused: {put.status_code} {body}")
            continue
        if sample.expect == BOMB and stored:
            problems.append(f"{sample.name} ({sample.why}) was stored instead of refused")
        if not stored and "message" not in body:
            problems.append(f"{sample.name}: the refusal names no reason: {body}")

        # Alone in its album: a cover of it, or a 4xx saying there is none.
        for size in SIZES:
            response = _cover(client, album, admin, size)
            seen.append(f"cover{size or ''}={response.status_code}")
            if response.status_code == 302:
                image = _served_image(client, response.headers["Location"])
                if size and image.size != (size, size):
                    problems.append(f"{sample.name}: cover size {image.size}, asked for {size}")
                if sample.check_cover and (message := sample.check_cover(image)):
                    problems.append(f"{sample.name} size={size}: {message}")
            elif not (400 <= response.status_code < 500) or sample.expect == VALID:
                problems.append(f"{sample.name} size={size}: cover answered {response.status_code}")

        # With a good photo after it: the sample's cover, or a skip to the photo.
        good = client.put(f"{API}/file/hostile/-/{album}/{GOOD}?access_token={admin}", data=photo)
        good_id = good.get_json()["mediaId"]
        good.close()
        for size in SIZES:
            response = _cover(client, album, admin, size)
            if response.status_code != 302:
                problems.append(f"{sample.name} + good photo, size={size}: {response.status_code}, not a skip")
                continue
            chosen = _media_of(response.headers["Location"])
            seen.append("+good->" + ("sample" if chosen != good_id else "good"))
            image = _served_image(client, response.headers["Location"])
            if sample.expect == VALID and stored and chosen != body.get("mediaId"):
                problems.append(f"{sample.name}: valid but skipped for the next photo")
            if not stored and chosen != good_id:
                problems.append(f"{sample.name}: refused, yet the cover is media {chosen}")
            if size and image.size != (size, size):
                problems.append(f"{sample.name} + good photo: cover size {image.size}, asked for {size}")

        print("  ".join(seen))  # the outcome table, shown with -s or on failure
    grown = _peak_growth_mb(corpus_baseline)
    print(f"peak RSS growth over the corpus: {grown:.0f} MB")
    assert not problems, "\n".join(problems)
    assert grown < CORPUS_BOUND_MB, f"the corpus grew the peak RSS by {grown:.0f} MB"


def test_oversized_body_is_refused_with_413(app, client, make_lib):
    app.config["MEDIALIB_MAX_UPLOAD_BYTES"] = 1000
    admin = make_lib("hostile", album_based=True, albums=("x",)).admin
    response = client.put(f"{API}/file/hostile/-/x/big.jpg?access_token={admin}", data=b"\xff" * 5000)
    assert response.status_code == 413
    assert response.get_json()["code"] == "RequestEntityTooLarge"
