"""Issue 14: small faces of a group photo taken from afar, found by the finer pass (real RetinaFace).

The finer pass in both of its modes: led by proposals (the default) and
tiling the whole finer copy (``MEDIALIB_FINE_DETECT_PROPOSE=0``).

Each photo is a 4032 x 3024 JPEG (a 12 MP phone photo) of a row of real
faces from scikit-image, 60-90 px wide, at the left or right edge.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from group_photos import FRAME, Box, grain, group_photo, scene, write_jpeg
from PIL import Image
from skimage import data as skdata

from flask_medialib import get_state
from flask_medialib.config import KEYS_BY_NAME, detector_options
from flask_medialib.imaging import plan_crop
from flask_medialib.imaging.faces import PROPOSALS, TILES, WHOLE, Face, RetinaFaceDetector
from flask_medialib.imaging.probe import probe_media
from flask_medialib.services import covers
from flask_medialib.services import library as lib

pytestmark = pytest.mark.slow

DEFAULTS = {key.name: key.default for key in KEYS_BY_NAME.values()}


def iou(a: Box, b: Box) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def inside(box: Box, crop: tuple[int, ...]) -> bool:
    return crop[0] <= box[0] and crop[1] <= box[1] and box[2] <= crop[2] and box[3] <= crop[3]


def centre_crop() -> tuple[int, int, int, int]:
    side = min(FRAME)
    x = (FRAME[0] - side) // 2
    return (x, 0, x + side, side)


MODES = {PROPOSALS: DEFAULTS, TILES: {**DEFAULTS, "MEDIALIB_FINE_DETECT_PROPOSE": 0.0}}


@pytest.fixture(scope="module")
def two_pass(retinaface_detector: RetinaFaceDetector) -> RetinaFaceDetector:
    """RetinaFace with the default settings of both passes (the shared graph is already loaded)."""
    return RetinaFaceDetector(**detector_options(DEFAULTS))


@pytest.fixture(scope="module", params=[PROPOSALS, TILES])
def fine_mode(request: pytest.FixtureRequest, retinaface_detector: RetinaFaceDetector) -> RetinaFaceDetector:
    """The default detector in each mode of its finer pass; the mode is also the pass its faces name."""
    return RetinaFaceDetector(**detector_options(MODES[request.param]))


def mode_of(detector: RetinaFaceDetector) -> str:
    return PROPOSALS if detector.propose_score else TILES


def draft(path: Path, long_side: int) -> Image.Image:
    """What the cover service decodes: a JPEG draft just large enough for ``long_side``."""
    with Image.open(path) as im:
        im.draft("RGB", (long_side * 3 // 4, long_side * 3 // 4))
        return im.convert("RGB")


@pytest.mark.parametrize(
    ("people", "face_width", "left", "picture"),
    [(7, 75, True, "coffee"), (6, 90, False, "rocket"), (7, 60, False, "coffee")],
)
def test_group_from_afar_found_by_the_finer_pass_and_kept_by_the_crop(
    fine_mode: RetinaFaceDetector, tmp_path: Path, people: int, face_width: int, left: bool, picture: str
) -> None:
    image, truth = group_photo(people, face_width, left=left, seed=face_width, picture=picture)
    path = write_jpeg(tmp_path / "group.jpg", image)
    first_copy = draft(path, DEFAULTS["MEDIALIB_DETECT_MAX_SIDE"])
    # the bug: the first pass alone finds nobody, and the centre crop cuts the group
    only_first = RetinaFaceDetector(**detector_options({**DEFAULTS, "MEDIALIB_FINE_DETECT": "off"}))
    assert only_first.detect(first_copy) == []
    assert not all(inside(box, centre_crop()) for box in truth)

    found = fine_mode.detect(first_copy, source=lambda side: draft(path, side))
    sx, sy = FRAME[0] / first_copy.width, FRAME[1] / first_copy.height
    faces = [face.scaled(sx, sy) for face in found]  # in source pixels, as the cover service keeps them
    assert all(
        face.found_by == mode_of(fine_mode) and face.score >= DEFAULTS["MEDIALIB_FACE_THRESHOLD"] for face in faces
    )
    matched = [max(truth, key=lambda t, f=face: iou(f.box, t)) for face in faces]
    assert all(iou(face.box, t) > 0.4 for face, t in zip(faces, matched, strict=True))  # no false positive
    assert len(set(matched)) == len(matched)  # one box per face, however the tiles cut it
    if face_width >= 75:
        assert len(faces) == people  # everyone, from ~75 px on (at 60 px, some)
    else:
        assert faces
    crop = plan_crop(*FRAME, faces, 256)
    assert all(inside(box, crop) for box in truth)


@pytest.mark.parametrize("picture", ["chelsea", "brick", "hubble_deep_field"])  # a cat's face, a wall, galaxies
def test_photos_without_faces_find_none(fine_mode: RetinaFaceDetector, picture: str) -> None:
    photo = grain(scene(picture=picture, blur=0), seed=3)
    assert fine_mode.detect(photo) == []


@pytest.mark.parametrize("picture", ["chelsea", "coffee"])  # sharp: no cell lights up
def test_where_nothing_is_proposed_the_finer_copy_is_not_even_decoded(
    two_pass: RetinaFaceDetector, tmp_path: Path, picture: str
) -> None:
    """What a large faceless photo costs: the first pass, nothing more (the tiles decode and look everywhere)."""
    path = write_jpeg(tmp_path / "faceless.jpg", grain(scene(picture=picture, blur=0), seed=3))
    first_copy = draft(path, DEFAULTS["MEDIALIB_DETECT_MAX_SIDE"])
    assert two_pass.detect(first_copy, source=lambda side: pytest.fail(f"decoded again at {side}")) == []
    tiles = RetinaFaceDetector(**detector_options(MODES[TILES]))
    decoded: list[int] = []
    assert tiles.detect(first_copy, source=lambda side: decoded.append(side) or draft(path, side)) == []
    assert decoded == [DEFAULTS["MEDIALIB_FINE_DETECT_SIDE"]]


def test_windows_of_a_large_draft_are_enlarged_not_decoded_again(two_pass: RetinaFaceDetector, tmp_path: Path) -> None:
    """A 12 MP JPEG's quarter-size draft (1008 px, 3/4 of the finer copy's 1280 and more) serves both passes."""
    image, truth = group_photo(7, 75, left=False, seed=75)  # the benchmark's group photo
    path = write_jpeg(tmp_path / "group.jpg", image)
    first_copy = draft(path, DEFAULTS["MEDIALIB_DETECT_MAX_SIDE"])
    assert max(first_copy.size) == 1008
    found = two_pass.detect(first_copy, source=lambda side: pytest.fail(f"decoded again at {side}"))
    faces = [face.scaled(FRAME[0] / first_copy.width, FRAME[1] / first_copy.height) for face in found]
    assert len(faces) == 7 and all(face.found_by == PROPOSALS for face in faces)
    assert all(max(iou(face.box, t) for t in truth) > 0.4 for face in faces)
    # a draft under 3/4 of the finer copy is decoded again
    finer = RetinaFaceDetector(**{**detector_options(DEFAULTS), "fine_side": 1600})
    decoded: list[int] = []
    assert len(finer.detect(first_copy, source=lambda side: decoded.append(side) or draft(path, side))) == 7
    assert decoded == [1600]


def test_lfw_non_faces_find_none_at_any_pass(fine_mode: RetinaFaceDetector) -> None:
    """scikit-image's LFW subset: its last 100 crops are not faces; tiled small in a 12 MP frame."""
    crops = skdata.lfw_subset()[100:]
    canvas = scene(picture="grass")
    for k, crop in enumerate(crops):
        patch = Image.fromarray((crop * 255).astype("uint8")).convert("RGB").resize((75, 75))
        canvas.paste(patch, (100 + (k % 20) * 190, 300 + (k // 20) * 500))
    assert fine_mode.detect(grain(canvas, 5)) == []


def test_a_face_the_first_pass_finds_skips_the_finer_one(two_pass: RetinaFaceDetector) -> None:
    canvas = scene(picture="coffee")
    canvas.paste(Image.fromarray(skdata.astronaut()).resize((900, 900)), (2900, 600))
    faces = two_pass.detect(canvas, source=lambda side: pytest.fail("the finer pass ran"))
    assert len(faces) == 1 and faces[0].found_by == WHOLE


@pytest.mark.parametrize("mode", [PROPOSALS, TILES])
def test_always_merges_both_passes(retinaface_detector: RetinaFaceDetector, tmp_path: Path, mode: str) -> None:
    image, truth = group_photo(4, 90, left=True, seed=4)
    image.paste(Image.fromarray(skdata.astronaut()).resize((1800, 1800)), (2200, 600))  # a ~330 px face
    always = RetinaFaceDetector(**detector_options({**MODES[mode], "MEDIALIB_FINE_DETECT": "always"}))
    faces = always.detect(image)
    # the big face once, by the first pass: the finer pass keeps only faces the first pass could miss
    assert sorted(f.found_by for f in faces) == sorted([mode] * 4 + [WHOLE])
    assert all(max(f.box[2] - f.box[0], f.box[3] - f.box[1]) <= always.overlap * 4032 / 1280 for f in faces[1:])
    small = [f for f in faces if f.found_by == mode]
    assert all(max(iou(f.box, t) for t in truth) > 0.4 for f in small)


def test_cover_service_caches_tile_faces_in_source_pixels_and_crop_plan_shows_the_pass(
    app, make_lib, client, runner, tmp_path: Path
) -> None:
    image, truth = group_photo(7, 80, left=False, seed=8)
    path = write_jpeg(tmp_path / "group.jpg", image)
    make_lib("lib", album_based=True, public_read=True, albums=("a",))
    library = lib.get_library("lib")
    where = lib.folder(library, lib.get_space(library, "-"), "a")
    media = lib.save_upload(where, "group.jpg", io.BytesIO(path.read_bytes()))

    resp = client.get("/api/v1/album/lib/-/cover/a?size=256")
    assert resp.status_code == 302
    with client.get(resp.headers["Location"]) as file_resp:
        assert file_resp.status_code == 200
        assert Image.open(io.BytesIO(file_resp.get_data())).size == (256, 256)
    state = get_state()
    cached = [Face.from_dict(item) for item in state.cache.get(covers.faces_key(state, media))]
    assert len(cached) == 7 and all(face.found_by == PROPOSALS for face in cached)
    assert all(max(iou(face.box, t) for t in truth) > 0.4 for face in cached)  # source pixels, not the draft's
    info = probe_media(path, max_pixels=DEFAULTS["MEDIALIB_MAX_IMAGE_PIXELS"])
    crop = plan_crop(info.width, info.height, cached, 256)
    assert all(inside(box, crop) for box in truth) and crop != centre_crop()

    result = runner.invoke(args=["medialib", "crop-plan", str(path), "--size", "256"])
    assert result.exit_code == 0, result.output
    plan = json.loads(result.output)
    assert [face["pass"] for face in plan["faces"]] == [PROPOSALS] * 7
    assert all(inside(box, plan["crop"]) for box in truth)
