"""plan_crop: every rule, checked against a brute force over all offsets."""

from __future__ import annotations

import io
import math

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from PIL import Image

from flask_medialib.imaging import Face, encode_image, plan_as_dict, plan_crop, render_cover
from flask_medialib.imaging.crop import PROGRESSIVE_MIN_SIDE

FAST = settings(max_examples=400, deadline=None)


@st.composite
def scenes(draw: st.DrawFn, max_side: int = 48, max_faces: int = 5) -> tuple[int, int, list[Face]]:
    """A small image with faces inside it (float boxes, positive area)."""
    width = draw(st.integers(1, max_side))
    height = draw(st.integers(1, max_side))
    faces = []
    for _ in range(draw(st.integers(0, max_faces))):
        x1 = draw(st.floats(0, width - 0.5))
        y1 = draw(st.floats(0, height - 0.5))
        x2 = draw(st.floats(x1 + 0.5, width))
        y2 = draw(st.floats(y1 + 0.5, height))
        score = draw(st.sampled_from([0.5, 0.9, 1.0]) | st.floats(0.5, 1.0))
        faces.append(Face((x1, y1, x2, y2), score))
    return width, height, faces


def along(width: int, height: int, face: Face) -> tuple[float, float]:
    x1, y1, x2, y2 = face.box
    return (x1, x2) if width >= height else (y1, y2)


def inside(face: Face, crop: tuple[int, int, int, int]) -> bool:
    return crop[0] <= face.box[0] and face.box[2] <= crop[2] and crop[1] <= face.box[1] and face.box[3] <= crop[3]


def offset_of(width: int, height: int, crop: tuple[int, int, int, int]) -> int:
    return crop[0] if width >= height else crop[1]


def reference(width: int, height: int, faces: list[Face], t: int) -> tuple[float, int, float]:
    """(-importance kept whole, faces cut, distance to the kept faces' centre) at offset t."""
    side, length = min(width, height), max(width, height)
    spans = [along(width, height, f) for f in faces]
    weights = [(f.box[2] - f.box[0]) * (f.box[3] - f.box[1]) * f.score for f in faces]
    whole = [i for i, (a, b) in enumerate(spans) if t <= a and b <= t + side]
    fits = [math.ceil(b) - math.floor(a) <= side for a, b in spans]  # on the pixel grid
    cut = sum(1 for i, (a, b) in enumerate(spans) if i not in whole and fits[i] and a < t + side and b > t)
    if whole:
        focus = (min(spans[i][0] for i in whole) + max(spans[i][1] for i in whole)) / 2
    elif faces:
        a, b = spans[max(range(len(faces)), key=lambda i: weights[i])]
        focus = (a + b) / 2
    else:
        focus = length / 2
    return -math.fsum(weights[i] for i in whole), cut, abs(t + side / 2 - focus)


@FAST
@given(scenes())
def test_crop_is_the_largest_square_inside_the_image(scene: tuple[int, int, list[Face]]) -> None:
    width, height, faces = scene
    x1, y1, x2, y2 = plan_crop(width, height, faces, 64)
    assert all(isinstance(v, int) for v in (x1, y1, x2, y2))
    assert 0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height
    assert x2 - x1 == y2 - y1 == min(width, height)


@st.composite
def fitting_scenes(draw: st.DrawFn) -> tuple[int, int, list[Face]]:
    """Faces that some square on the pixel grid can hold all together."""
    width, height, faces = draw(scenes(max_side=400, max_faces=8))
    side, long = min(width, height), max(width, height)
    start = draw(st.integers(0, long - side))
    fitted = []
    for f in faces:  # squeeze every face into [start, start + side] along the long axis
        a, b = along(width, height, f)
        a2, b2 = start + a * side / long, start + b * side / long
        x1, y1, x2, y2 = f.box
        box = (a2, y1, b2, y2) if width >= height else (x1, a2, x2, b2)
        fitted.append(Face(box, f.score))
    return width, height, fitted


@FAST
@given(fitting_scenes())
def test_contains_every_face_when_they_all_fit(scene: tuple[int, int, list[Face]]) -> None:
    width, height, faces = scene
    spans = [along(width, height, f) for f in faces] or [(0.0, 0.0)]
    lo, hi = math.floor(min(a for a, _ in spans)), math.ceil(max(b for _, b in spans))
    assume(hi - lo <= min(width, height))  # float rounding aside, always true
    crop = plan_crop(width, height, faces, 64)
    assert all(inside(f, crop) for f in faces)


@FAST
@given(scenes())
def test_optimal_against_brute_force(scene: tuple[int, int, list[Face]]) -> None:
    """Most importance kept whole; then fewest cut; then centred on the kept faces."""
    width, height, faces = scene
    span = max(width, height) - min(width, height)
    keys = {t: reference(width, height, faces, t) for t in range(span + 1)}
    chosen = keys[offset_of(width, height, plan_crop(width, height, faces, 64))]
    best_weight = min(k[0] for k in keys.values())
    assert chosen[0] == best_weight
    fewest_cuts = min(k[1] for k in keys.values() if k[0] == best_weight)
    assert chosen[1] == fewest_cuts
    nearest = min(k[2] for k in keys.values() if k[:2] == (best_weight, fewest_cuts))
    assert chosen[2] == pytest.approx(nearest, abs=1e-9)


@FAST
@given(st.integers(1, 400), st.integers(1, 400))
def test_no_faces_gives_the_centre_crop(width: int, height: int) -> None:
    t = offset_of(width, height, plan_crop(width, height, [], 100))
    assert abs(t - (max(width, height) - min(width, height)) / 2) <= 0.5


@FAST
@given(scenes(max_side=300, max_faces=12), st.floats(1.0, 8.0), st.integers(1, 400))
def test_zoom_stays_inside_and_keeps_the_kept_faces(scene: tuple[int, int, list[Face]], zoom: float, size: int) -> None:
    width, height, faces = scene
    full = plan_crop(width, height, faces, size)
    kept = [f for f in faces if inside(f, full)]
    x1, y1, x2, y2 = plan_crop(width, height, faces, size, zoom=zoom)
    side = x2 - x1
    assert side == y2 - y1
    assert min(x1, y1) >= 0 and x2 <= width and y2 <= height
    short = min(width, height)
    assert min(short, max(math.ceil(short / zoom), size)) <= side <= short
    assert all(inside(f, (x1, y1, x2, y2)) for f in kept)


def test_zoom_without_faces_is_centred_and_smaller() -> None:
    assert plan_crop(1000, 800, [], 100, zoom=2.0) == (300, 200, 700, 600)
    assert plan_crop(1000, 800, [], 600, zoom=2.0) == (200, 100, 800, 700)  # never below size
    face = Face((900.0, 10.0, 990.0, 100.0), 1.0)
    assert plan_crop(1000, 800, [face], 100, zoom=4.0) == (800, 0, 1000, 200)


@settings(max_examples=50, deadline=None)
@given(
    st.integers(2000, 8000),
    st.integers(2000, 8000),
    st.lists(st.tuples(st.floats(0, 1), st.floats(0, 1)), max_size=60),
)
def test_many_faces_still_get_the_full_square(width: int, height: int, spots: list[tuple[float, float]]) -> None:
    faces = []
    for fx, fy in spots:
        x, y = fx * (width - 50), fy * (height - 50)
        faces.append(Face((x, y, x + 50, y + 50), 0.95))
    x1, y1, x2, y2 = plan_crop(width, height, faces, 256)
    assert x2 - x1 == y2 - y1 == min(width, height)
    assert x1 >= 0 and x2 <= width and y1 >= 0 and y2 <= height


def test_faces_outside_the_image_are_clipped() -> None:
    crop = plan_crop(300, 100, [Face((-50.0, -20.0, 30.0, 60.0), 1.0)], 50)
    assert crop == (0, 0, 100, 100)
    assert plan_crop(300, 100, [Face((400.0, 0.0, 450.0, 50.0), 1.0)], 50) == (100, 0, 200, 100)


@pytest.mark.parametrize(
    ("width", "height", "boxes", "expected"),
    [
        # one face near the right edge: crop pushed to the edge
        (300, 100, [(250, 20, 290, 70)], (200, 0, 300, 100)),
        # portrait, face near the top
        (100, 300, [(30, 10, 70, 40)], (0, 0, 100, 100)),
        # one face in the middle: centred on it
        (400, 100, [(180, 10, 220, 60)], (150, 0, 250, 100)),
        # two faces that fit together: both kept, centred on their bounding box
        (500, 100, [(100, 0, 140, 40), (160, 0, 180, 20)], (90, 0, 190, 100)),
        # two that cannot fit: the bigger one wins
        (500, 100, [(0, 0, 30, 30), (400, 0, 480, 80)], (390, 0, 490, 100)),
    ],
)
def test_hand_examples(width: int, height: int, boxes: list[tuple[int, int, int, int]], expected: tuple) -> None:
    faces = [Face(tuple(float(v) for v in b), 1.0) for b in boxes]
    assert plan_crop(width, height, faces, 100) == expected


def test_fewer_cut_faces_win_over_centring() -> None:
    # The big face alone is kept (the small one cannot join it). Centred on
    # the big face the crop would start at 90 and cut the small one (70..95);
    # it starts at 95 instead, the nearest offset that cuts nothing.
    big = Face((100.0, 0.0, 180.0, 80.0), 1.0)
    small = Face((70.0, 0.0, 95.0, 10.0), 0.5)
    assert plan_crop(400, 100, [big, small], 100) == (95, 0, 195, 100)


def test_oversized_face_is_centred() -> None:
    huge = Face((100.0, 0.0, 260.0, 100.0), 1.0)  # wider than the 100 px square
    assert plan_crop(400, 100, [huge], 100) == (130, 0, 230, 100)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        plan_crop(0, 10, [], 10)
    with pytest.raises(ValueError):
        plan_crop(10, 10, [], 10, zoom=0.5)


def test_plan_as_dict_is_json_shaped() -> None:
    face = Face((1.234, 2.0, 30.0, 40.0), 0.98765, found_by="tiles")
    assert plan_as_dict(100, 50, [face], (10, 0, 60, 50)) == {
        "width": 100,
        "height": 50,
        "faces": [{"box": [1.23, 2.0, 30.0, 40.0], "score": 0.9877, "pass": "tiles"}],
        "crop": [10, 0, 60, 50],
    }


def test_render_and_encode() -> None:
    img = Image.new("RGB", (400, 200), (255, 0, 0))
    img.paste((0, 0, 255), (200, 0, 400, 200))
    cover = render_cover(img, (200, 0, 400, 200), 64)
    assert cover.size == (64, 64) and cover.getpixel((32, 32)) == (0, 0, 255)
    # a box planned on the full-size source, applied to a half-size decode
    half = img.resize((200, 100))
    cover = render_cover(half, (200, 0, 400, 200), 32, source_size=(400, 200))
    assert cover.getpixel((16, 16)) == (0, 0, 255)
    up = render_cover(img, (0, 0, 50, 50), 300)  # upscales a small source
    assert up.size == (300, 300)
    jpeg = encode_image(cover)
    assert jpeg[:2] == b"\xff\xd8"
    assert encode_image(cover, "WEBP")[8:12] == b"WEBP"
    assert encode_image(cover, "png")[:8] == b"\x89PNG\r\n\x1a\n"
    assert encode_image(Image.new("RGBA", (8, 8)), "JPEG")[:2] == b"\xff\xd8"
    with pytest.raises(ValueError):
        encode_image(cover, "BMPX")


def test_jpeg_is_progressive_only_from_the_threshold_up():
    def progressive(side: int) -> bool:
        with Image.open(io.BytesIO(encode_image(Image.new("RGB", (side, side), (10, 200, 30))))) as im:
            return bool(im.info.get("progressive"))

    assert not progressive(256)
    assert not progressive(PROGRESSIVE_MIN_SIDE - 1)
    assert progressive(PROGRESSIVE_MIN_SIDE)
