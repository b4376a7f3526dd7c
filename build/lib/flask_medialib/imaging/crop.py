"""Square crops around faces (a pure plan) and their rendering.

The plan (zoom 1, the default) is the largest square, min(W, H) on a side.
It spans the whole short axis, so only its offset along the long axis is
chosen, by these rules in order:

1. the total importance (area x score) of the faces it holds whole is as
   large as possible: every face whenever they all fit;
2. it cuts as few faces as possible (a face that no square on the pixel grid
   can hold is not counted: it is cut wherever it is seen);
3. its centre is as close as possible to the centre of the bounding box of
   the faces it holds whole (with none: of the most important face; with no
   face at all: of the image), then the smaller offset.

Boxes are clipped to the image first; faces of no area or no score are
ignored. The search is exact (every integer offset is judged, implicitly)
and O(n^2) in the number of faces.

With ``zoom`` > 1 the side shrinks to min(W, H) / zoom, but never below what
the faces kept by the rules above need, nor below ``size`` (so zooming never
upsamples); the square is then centred on those faces, inside the image.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from typing import Any

from PIL import Image

from flask_medialib.imaging.faces import Face

Box = tuple[int, int, int, int]


def _clip(face: Face, width: int, height: int) -> tuple[float, float, float, float]:
    x1, y1, x2, y2 = face.box
    return (
        min(max(x1, 0.0), width),
        min(max(y1, 0.0), height),
        min(max(x2, 0.0), width),
        min(max(y2, 0.0), height),
    )


def _faces_1d(
    width: int, height: int, faces: Sequence[Face]
) -> list[tuple[float, float, float, tuple[float, float, float, float]]]:
    """(start, end, weight, clipped box) along the long axis, weight > 0 only."""
    out = []
    for face in faces:
        box = _clip(face, width, height)
        area = (box[2] - box[0]) * (box[3] - box[1])
        weight = area * face.score
        if weight > 0 and math.isfinite(weight):
            a, b = (box[0], box[2]) if width >= height else (box[1], box[3])
            out.append((a, b, weight, box))
    return out


def _best_offset(length: int, side: int, items: Sequence[tuple[float, float, float, Any]]) -> tuple[int, list[int]]:
    """Optimal offset along the long axis and the indices of the whole faces."""
    span = length - side
    fallback = length / 2.0
    if items:  # nothing can be held whole: look at the most important face
        a, b, _, _ = max(items, key=lambda it: it[2])
        fallback = (a + b) / 2.0

    def focus_of(whole: list[int]) -> float:
        if not whole:
            return fallback
        return (min(items[i][0] for i in whole) + max(items[i][1] for i in whole)) / 2

    seen: dict[int, tuple[tuple[float, int, float, int], list[int]]] = {}

    def evaluate(t: int) -> tuple[tuple[float, int, float, int], list[int]]:
        if t not in seen:
            whole, cut = [], 0
            for i, (a, b, _, _) in enumerate(items):
                if a >= t and b <= t + side:
                    whole.append(i)
                elif math.ceil(b) - math.floor(a) <= side and a < t + side and b > t:
                    cut += 1
            weight = math.fsum(items[i][2] for i in whole)  # exact: ties stay ties
            key = (-weight, cut, abs(t + side / 2.0 - focus_of(whole)), t)
            seen[t] = (key, whole)
        return seen[t]

    # Which faces are whole or cut changes only next to these integers, so
    # each constant stretch of offsets has both its ends among the candidates.
    edges = {0, span}
    for a, b, _, _ in items:
        whole_from, whole_to = math.ceil(b - side), math.floor(a)  # t in [from, to]
        seen_from, seen_to = math.floor(a - side) + 1, math.ceil(b) - 1  # overlaps
        edges.update((whole_from - 1, whole_from, whole_to, whole_to + 1))
        edges.update((seen_from - 1, seen_from, seen_to, seen_to + 1))
    candidates = {t for t in edges if 0 <= t <= span}
    # Within a stretch the best offset is its end or the one nearest centred.
    for t in list(candidates):
        ideal = focus_of(evaluate(t)[1]) - side / 2.0
        candidates.update(min(max(v, 0), span) for v in (math.floor(ideal), math.ceil(ideal)))
    best = min(candidates, key=lambda t: evaluate(t)[0])
    return best, evaluate(best)[1]


def plan_crop(width: int, height: int, faces: Sequence[Face], size: int, *, zoom: float = 1.0) -> Box:
    """The square (x1, y1, x2, y2) of source pixels to cut out for a cover."""
    if width <= 0 or height <= 0 or size <= 0:
        raise ValueError(f"bad crop request {width}x{height} -> {size}")
    if not zoom >= 1.0:
        raise ValueError(f"zoom must be >= 1.0, not {zoom}")
    side = min(width, height)
    length = max(width, height)
    items = _faces_1d(width, height, faces)
    offset, whole = _best_offset(length, side, items)
    if zoom == 1.0:
        if width >= height:
            return (offset, 0, offset + side, side)
        return (0, offset, side, offset + side)

    small = max(math.ceil(side / zoom), min(size, side))
    if whole:
        kx1 = math.floor(min(items[i][3][0] for i in whole))
        ky1 = math.floor(min(items[i][3][1] for i in whole))
        kx2 = math.ceil(max(items[i][3][2] for i in whole))
        ky2 = math.ceil(max(items[i][3][3] for i in whole))
    else:  # centre on the centre of the zoom-1 square
        cx = offset + side / 2 if width >= height else width / 2
        cy = offset + side / 2 if width < height else height / 2
        kx1 = kx2 = round(cx)
        ky1 = ky2 = round(cy)
    small = min(side, max(small, kx2 - kx1, ky2 - ky1))

    def place(lo: int, hi: int, limit: int) -> int:
        # nearest to centred, but holding [lo, hi] and inside [0, limit]
        start = round((lo + hi) / 2 - small / 2)
        start = min(max(start, hi - small), lo)
        return min(max(start, 0), limit - small)

    x = place(kx1, kx2, width)
    y = place(ky1, ky2, height)
    return (x, y, x + small, y + small)


def plan_as_dict(width: int, height: int, faces: Sequence[Face], crop: Sequence[int]) -> dict[str, Any]:
    """The inspectable JSON form of a plan."""
    return {
        "width": width,
        "height": height,
        "faces": [face.to_dict() for face in faces],
        "crop": [int(v) for v in crop],
    }


def render_cover(
    image: Image.Image,
    box: Sequence[float],
    size: int,
    *,
    source_size: tuple[int, int] | None = None,
) -> Image.Image:
    """Cut ``box`` out of ``image`` and resize it to ``size`` x ``size``.

    ``source_size``: the size the box was planned for, when ``image`` was
    decoded smaller (JPEG draft mode); the box is scaled to match.
    """
    x1, y1, x2, y2 = (float(v) for v in box)
    if source_size and tuple(source_size) != image.size:
        sx = image.width / source_size[0]
        sy = image.height / source_size[1]
        x1, x2, y1, y2 = x1 * sx, x2 * sx, y1 * sy, y2 * sy
    if image.mode not in ("RGB", "L"):
        image = image.convert("RGB")
    # resize(box=...) crops and scales in one pass; reducing_gap makes big
    # reductions cheap at no visible cost.
    return image.resize((size, size), Image.Resampling.LANCZOS, box=(x1, y1, x2, y2), reducing_gap=3.0)


# Progressive JPEG pays off only where an image arrives slowly enough to be seen
# building up; below this side it costs ~6x the encode time of a baseline JPEG.
PROGRESSIVE_MIN_SIDE = 768


def encode_image(image: Image.Image, fmt: str = "JPEG", quality: int = 85) -> bytes:
    """Encode for the web: JPEG (default; progressive from PROGRESSIVE_MIN_SIDE up), WEBP or PNG."""
    fmt = fmt.upper()
    if fmt == "JPG":
        fmt = "JPEG"
    buf = io.BytesIO()
    if fmt == "JPEG":
        if image.mode not in ("RGB", "L"):
            image = image.convert("RGB")
        progressive = max(image.size) >= PROGRESSIVE_MIN_SIDE
        image.save(buf, "JPEG", quality=quality, progressive=progressive, optimize=False)
    elif fmt == "WEBP":
        image.save(buf, "WEBP", quality=quality, method=4)
    elif fmt == "PNG":
        image.save(buf, "PNG", compress_level=6)
    else:
        raise ValueError(f"unsupported output format {fmt!r}")
    return buf.getvalue()
