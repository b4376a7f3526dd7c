"""The proposals that lead the finer pass, without the model: proposal -> window mapping, settings."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flask_medialib.config import KEYS_BY_NAME, apply_defaults, detector_options
from flask_medialib.errors import ConfigError
from flask_medialib.imaging.faces import PROPOSE_SCORE, RetinaFaceDetector, proposal_cells, proposal_windows

Tile = tuple[int, int, int, int]
tiles = st.integers(2, 64).map(lambda n: 32 * n)  # 64 .. 2048, as MEDIALIB_FINE_DETECT_TILE allows


def inside(box: tuple[float, ...], window: Tile) -> bool:
    return window[0] <= box[0] and window[1] <= box[1] and box[2] <= window[2] and box[3] <= window[3]


@st.composite
def layouts(draw: st.DrawFn) -> tuple[list[tuple[float, float]], int, int, int, int, int]:
    width, height = draw(st.integers(1, 3000)), draw(st.integers(1, 3000))
    tile = draw(tiles)
    overlap = draw(st.integers(8, tile // 2))
    pad = draw(st.integers(overlap // 2, 2 * tile))
    point = st.tuples(st.floats(-50, width + 50), st.floats(-50, height + 50))
    cells = draw(st.lists(point, max_size=40))
    return cells, width, height, pad, tile, overlap


@settings(max_examples=300, deadline=None)
@given(layout=layouts(), data=st.data())
def test_a_face_around_a_proposal_lies_whole_in_a_window(
    layout: tuple[list[tuple[float, float]], int, int, int, int, int], data: st.DataObject
) -> None:
    cells, width, height, pad, tile, overlap = layout
    windows = proposal_windows(cells, width, height, pad, tile, overlap)
    for x1, y1, x2, y2 in windows:  # in the image, no larger than a tile, each one model call
        assert 0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height
        assert x2 - x1 <= tile and y2 - y1 <= tile
    squares = [  # whole pixels: a square reaching half a pixel into the image counts
        (max(0, math.floor(cx - pad)), max(0, math.floor(cy - pad)),
         min(width, math.ceil(cx + pad)), min(height, math.ceil(cy + pad)))
        for cx, cy in cells
    ]  # fmt: skip
    squares = [s for s in squares if s[2] > s[0] and s[3] > s[1]]
    if not squares:
        return
    # nothing looked at outside the proposals' reach
    reach = (min(s[0] for s in squares) - 1, min(s[1] for s in squares) - 1,
             max(s[2] for s in squares) + 1, max(s[3] for s in squares) + 1)  # fmt: skip
    assert all(inside(w, reach) for w in windows)
    # a face the finer pass keeps (at most ``overlap``) within a proposal's square: whole in some window
    sq = data.draw(st.sampled_from(squares))
    fw = data.draw(st.floats(1, min(overlap, sq[2] - sq[0])))
    fh = data.draw(st.floats(1, min(overlap, sq[3] - sq[1])))
    fx = data.draw(st.floats(sq[0], sq[2] - fw))
    fy = data.draw(st.floats(sq[1], sq[3] - fh))
    assert any(inside((fx, fy, fx + fw, fy + fh), w) for w in windows)


@settings(max_examples=200, deadline=None)
@given(cells=st.lists(st.tuples(st.floats(0, 1280), st.floats(0, 960)), min_size=1, max_size=30))
def test_near_proposals_share_one_window_far_ones_do_not(cells: list[tuple[float, float]]) -> None:
    windows = proposal_windows(cells, 1280, 960, 100, 4096, 96)  # tiles so large that no cluster is cut
    # windows never meet (met ones were joined), and each holds its proposals' squares whole
    for i, a in enumerate(windows):
        for b in windows[i + 1 :]:
            assert a[2] < b[0] or b[2] < a[0] or a[3] < b[1] or b[3] < a[1]
    for cx, cy in cells:
        square = (max(0, cx - 100), max(0, cy - 100), min(1280, cx + 100), min(960, cy + 100))
        assert sum(inside(square, w) for w in windows) == 1


def test_a_row_of_faces_is_one_window_and_nothing_proposed_looks_nowhere() -> None:
    row = [(900.0 + 60 * k, 400.0 + (k % 2) * 20) for k in range(7)]  # a group photo's faces at 1280 px
    assert proposal_windows(row, 1280, 960, 109, 1024, 96) == [(791, 291, 1280, 529)]
    assert proposal_windows([], 1280, 960, 109, 1024, 96) == []
    # two groups far apart: two small windows, not the span between them
    apart = proposal_windows([(100.0, 100.0), (1100.0, 800.0)], 1280, 960, 50, 1024, 96)
    assert apart == [(50, 50, 150, 150), (1050, 750, 1150, 850)]


def test_propose_setting() -> None:
    defaults = {key.name: key.default for key in KEYS_BY_NAME.values()}
    assert detector_options(defaults)["propose_score"] == PROPOSE_SCORE == 0.005
    config = {"MEDIALIB_FINE_DETECT_PROPOSE": "0"}
    apply_defaults(config)
    assert detector_options(config)["propose_score"] == 0.0  # tile the whole finer copy
    for bad in ("-0.1", "0.6", "often"):
        with pytest.raises(ConfigError, match="MEDIALIB_FINE_DETECT_PROPOSE"):
            apply_defaults({"MEDIALIB_FINE_DETECT_PROPOSE": bad})
    for score in (-0.1, 1.0):
        with pytest.raises(ValueError, match="propose_score"):
            RetinaFaceDetector(propose_score=score)


def test_proposal_cells_read_the_finest_stride_of_the_real_region_only() -> None:
    """The graph's raw scores: stride-8 cells first, row-major, two anchors a cell, then coarser strides."""
    width, height, pw, ph = 70, 40, 96, 64  # a 70 x 40 image padded to 96 x 64
    cols, rows = pw // 8, ph // 8
    fine = np.zeros((rows, cols, 2))
    fine[1, 3, 1] = 0.2  # the second anchor of the cell at row 1, column 3: centre (28, 12)
    fine[4, 8, 0] = 0.9  # the last row and column, partly in the image: kept
    fine[5, 10, 0] = 0.9  # column 10 lies wholly in the padding: never a proposal
    coarser = np.full((rows * cols // 2, 2), 0.99)  # stride 16 and 32 anchors: not read
    face = np.concatenate([fine.reshape(-1, 2).ravel(), coarser.ravel()])
    scores = np.stack([1 - face, face], axis=-1)[None]
    assert proposal_cells(scores, width, height, pw, ph, 0.1) == [(28.0, 12.0), (68.0, 36.0)]
    assert proposal_cells(scores, width, height, pw, ph, 0.5) == [(68.0, 36.0)]
    assert proposal_cells(scores, width, height, pw, ph, 0.95) == []
