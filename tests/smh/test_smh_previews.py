"""The pure rule of scaled previews: ratio kept, never larger than the original."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from flask_medialib.services.previews import MAX_SIDE, pack, preview_box, unpack

sides = st.integers(1, 20_000)
wanted = st.one_of(st.none(), st.integers(1, 30_000))


@given(sides, sides, st.one_of(st.none(), st.integers(1, 100)), wanted, wanted)
def test_preview_box_keeps_ratio_and_never_grows(
    width: int, height: int, scale: int | None, width_size: int | None, height_size: int | None
) -> None:
    box = preview_box(width, height, scale=scale, width_size=width_size, height_size=height_size)
    if scale is None and width_size is None and height_size is None:
        assert box is None
    if box is None:
        return
    w, h = box
    assert 1 <= w <= width and 1 <= h <= height
    # The ratio is kept to within the rounding of one pixel on either side.
    assert abs(w * height - h * width) <= max(width, height)
    if scale is None and width_size is not None and height_size is None:
        assert w == width_size
    if scale is None and height_size is not None and width_size is None:
        assert h == height_size
    if scale is None and width_size is not None and height_size is not None:
        assert w <= width_size and h <= height_size


@given(st.integers(1, MAX_SIDE), st.integers(1, MAX_SIDE))
def test_pack_round_trips(width: int, height: int) -> None:
    assert unpack(pack((width, height))) == (width, height)
