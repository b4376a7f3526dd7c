"""The finer pass's plumbing, without the model: tile layout, mapping back, merge across tiles."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flask_medialib.config import KEYS_BY_NAME, detector_options
from flask_medialib.imaging.faces import (
    _EDGE,
    RELIABLE_FACE,
    TILES,
    Face,
    RetinaFaceDetector,
    merge_faces,
    same_face,
    tile_layout,
    touches_inner_edge,
)

sides = st.integers(1, 5000)
tiles = st.integers(2, 64).map(lambda n: 32 * n)  # 64 .. 2048, as MEDIALIB_FINE_DETECT_TILE allows


def spans(layout: list[tuple[int, int, int, int]], axis: int) -> list[tuple[int, int]]:
    return sorted({(t[axis], t[axis + 2]) for t in layout})


@settings(max_examples=300, deadline=None)
@given(width=sides, height=sides, tile=tiles, data=st.data())
def test_tiles_cover_the_image_and_overlap_enough(width: int, height: int, tile: int, data: st.DataObject) -> None:
    overlap = data.draw(st.integers(0, tile // 2))
    layout = tile_layout(width, height, tile, overlap)
    for x1, y1, x2, y2 in layout:
        assert 0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height
        assert x2 - x1 <= tile and y2 - y1 <= tile
        # a side the graph takes as is (a multiple of 32) unless the whole side fits in one tile
        assert (x2 - x1) % 32 == 0 or (x1, x2) == (0, width)
        assert (y2 - y1) % 32 == 0 or (y1, y2) == (0, height)
    for axis, length in ((0, width), (1, height)):
        runs = spans(layout, axis)
        assert runs[0][0] == 0 and runs[-1][1] == length  # from edge to edge
        assert len({b - a for a, b in runs}) == 1  # one tile size per axis
        for (_, end), (start, _) in itertools.pairwise(runs):
            assert end - start >= overlap  # neighbours overlap: no gap, no face lost between them
        # no more tiles than needed
        assert len(runs) == 1 or len(runs) == math.ceil((length - overlap) / (tile - overlap))
    assert len(layout) == len(spans(layout, 0)) * len(spans(layout, 1))


@settings(max_examples=300, deadline=None)
@given(width=sides, height=sides, tile=tiles, data=st.data())
def test_every_face_up_to_the_overlap_lies_whole_in_a_tile_away_from_its_inner_edges(
    width: int, height: int, tile: int, data: st.DataObject
) -> None:
    overlap = data.draw(st.integers(8, tile // 2))
    biggest = overlap - 2 * _EDGE - 1
    w = data.draw(st.floats(0.5, min(biggest, width)))
    h = data.draw(st.floats(0.5, min(biggest, height)))
    x = data.draw(st.floats(0, width - w))
    y = data.draw(st.floats(0, height - h))
    box = (x, y, x + w, y + h)
    holders = [
        t
        for t in tile_layout(width, height, tile, overlap)
        if t[0] <= box[0] and t[1] <= box[1] and box[2] <= t[2] and box[3] <= t[3]
        and not touches_inner_edge((box[0] - t[0], box[1] - t[1], box[2] - t[0], box[3] - t[1]), t, width, height)
    ]  # fmt: skip
    assert holders


@settings(max_examples=200, deadline=None)
@given(width=st.integers(200, 4000), height=st.integers(200, 4000), tile=tiles, data=st.data())
def test_a_face_cut_by_tile_edges_counts_once_in_source_pixels(
    width: int, height: int, tile: int, data: st.DataObject
) -> None:
    """What each tile would see of one face (whole or cut off at its edge), mapped back: one face, the whole one."""
    overlap = data.draw(st.integers(16, tile // 2))
    size = data.draw(st.floats(4, min(overlap - 2 * _EDGE - 1, width, height)))
    x, y = data.draw(st.floats(0, width - size)), data.draw(st.floats(0, height - size))
    face = (x, y, x + size, y + size)
    scale = data.draw(st.sampled_from([1.0, 2.0, 3.15, 4032 / 1280]))  # finer copy -> source
    seen, cut = [], []
    for t in tile_layout(width, height, tile, overlap):
        part = (
            max(face[0], t[0]) - t[0],
            max(face[1], t[1]) - t[1],
            min(face[2], t[2]) - t[0],
            min(face[3], t[3]) - t[1],
        )
        if part[2] - part[0] > 0 and part[3] - part[1] > 0:
            in_tile = Face(part, 0.95, found_by=TILES)
            cut.append(touches_inner_edge(part, t, width, height))
            seen.append(in_tile.moved(1.0, 1.0, t[0], t[1]).scaled(scale, scale))  # tile -> copy -> source
    merged = merge_faces(seen, cut)
    assert len(merged) == 1
    assert merged[0].box == pytest.approx(tuple(v * scale for v in face))
    assert merged[0].found_by == TILES


boxes = st.builds(
    lambda x, y, w, h: (x, y, x + w, y + h),
    st.floats(0, 1000),
    st.floats(0, 1000),
    st.floats(1, 300),
    st.floats(1, 300),
)
faces_and_cuts = st.lists(st.tuples(boxes, st.floats(0.9, 1.0), st.booleans()), max_size=25)


@settings(max_examples=300, deadline=None)
@given(items=faces_and_cuts)
def test_merge_keeps_one_box_per_face(items: list[tuple[tuple[float, ...], float, bool]]) -> None:
    faces = [Face(box, score) for box, score, _ in items]  # type: ignore[arg-type]
    cut = [c for _, _, c in items]
    kept = merge_faces(faces, cut)
    ids = [next(i for i, f in enumerate(faces) if f is k) for k in kept]
    assert len(set(ids)) == len(ids)  # a subset of the input
    assert [k.score for k in kept] == sorted((k.score for k in kept), reverse=True)
    for i, a in enumerate(kept):  # no two kept boxes show one face
        assert not any(same_face(a.box, b.box) for b in kept[i + 1 :])

    def rank(i: int) -> tuple[bool, float, int]:
        return (cut[i], -faces[i].score, i)

    for i, face in enumerate(faces):  # each dropped box shows a kept face that outranks it
        if i not in ids:
            assert any(same_face(face.box, faces[j].box) and rank(j) < rank(i) for j in ids)
    assert merge_faces(kept) == kept  # idempotent


@settings(max_examples=200, deadline=None)
@given(items=faces_and_cuts, order=st.randoms(use_true_random=False))
def test_merge_ignores_input_order(items: list[tuple[tuple[float, ...], float, bool]], order) -> None:
    scores = {s for _, s, _ in items}
    if len(scores) < len(items):
        return  # equal scores are ranked by position, on purpose
    faces = [Face(box, score) for box, score, _ in items]  # type: ignore[arg-type]
    cut = [c for _, _, c in items]
    order_ = list(range(len(items)))
    order.shuffle(order_)
    assert merge_faces(faces, cut) == merge_faces([faces[i] for i in order_], [cut[i] for i in order_])


def test_whole_boxes_outrank_cut_ones_of_any_score() -> None:
    whole = Face((100.0, 100.0, 160.0, 170.0), 0.91)
    part = Face((100.0, 100.0, 140.0, 170.0), 0.99)  # the same face, cut at a tile edge
    other = Face((400.0, 100.0, 460.0, 170.0), 0.95)
    assert merge_faces([part, whole, other], [True, False, False]) == [other, whole]
    with pytest.raises(ValueError):
        merge_faces([whole], [True, False])


def test_same_face() -> None:
    a = (0.0, 0.0, 10.0, 10.0)
    assert same_face(a, a)
    assert same_face(a, (0.0, 0.0, 4.0, 10.0))  # a piece of it: 40 % IoU but wholly inside
    assert not same_face(a, (5.0, 0.0, 15.0, 10.0))  # side by side, a third shared
    assert not same_face(a, (10.0, 0.0, 20.0, 10.0))  # touching only


def test_mapping_back_through_tile_and_copy() -> None:
    face = Face((10.0, 20.0, 40.0, 60.0), 0.97, ((15.0, 30.0),), found_by=TILES)
    source = face.moved(1.0, 1.0, 600.0, 300.0).scaled(3.15, 3.15)  # tile at (600, 300) of a 1280 px copy
    assert source.box == pytest.approx((610 * 3.15, 320 * 3.15, 640 * 3.15, 360 * 3.15))
    assert source.landmarks[0] == pytest.approx((615 * 3.15, 330 * 3.15))
    assert source.found_by == TILES and source.score == 0.97


def test_overlap_holds_the_faces_the_first_pass_misses() -> None:
    config = {key.name: key.default for key in KEYS_BY_NAME.values()}
    detector = RetinaFaceDetector(**detector_options(config))
    # a face below RELIABLE_FACE px in the first copy is below this in the finer one; tiles overlap twice that
    missed = RELIABLE_FACE * detector.fine_side / detector.max_side
    assert detector.overlap >= 2 * missed and detector.overlap % 32 == 0
    assert detector.overlap <= detector.tile_side // 2
    off = detector_options({**config, "MEDIALIB_FINE_DETECT": "off"})
    assert off["fine_side"] == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"fine_side": 16}, "fine_side"),
        ({"tile_side": 100}, "tile_side"),
        ({"tile_side": 32}, "tile_side"),
        ({"fine_when": "sometimes"}, "fine_when"),
    ],
)
def test_bad_fine_settings(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RetinaFaceDetector(**kwargs)


def test_empty_layout_and_bad_overlap() -> None:
    assert tile_layout(0, 10, 64, 8) == []
    assert tile_layout(50, 40, 64, 8) == [(0, 0, 50, 40)]
    with pytest.raises(ValueError):
        tile_layout(100, 100, 64, 64)
