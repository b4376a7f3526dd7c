"""Face detection: a small protocol and a RetinaFace detector.

The RetinaFace model is the frozen TensorFlow graph that ships inside the
``retinaface==1.1.1`` wheel. That package's own Python code is never imported
(it needs ``np.int``, gone from NumPy); only its graph file is read.
TensorFlow is imported on the first detection, once per process.

Two passes. The first ("whole") sees the whole image on a copy whose longest
side is ``max_side``. RetinaFace finds a face only from ~20-24 px wide in its
input (measured on the scikit-image faces), so in a 12 MP photo (4032 px)
seen at 640 px a face narrower than ~150 source px is lost: a group photo
taken from a few metres. The second ("tiles") looks at a finer copy (longest
side ``fine_side``) cut into overlapping tiles of at most ``tile_side``, one
graph call per tile (the graph takes one image a call), and merges what the
tiles found (:func:`merge_faces`). It runs when the first found no face
(``fine_when="no-face"``) or always (``"always"``): a face big enough for
the first pass outweighs small ones in the crop plan anyway, so a photo
whose faces the first pass found pays nothing more.

By default the finer pass looks only where the first proposes ("proposals"):
the first pass's graph call also yields the raw face probability of every
anchor (before the graph's own NMS and threshold); a finest-stride (8 px)
cell reaching ``propose_score`` (0.005) is a proposal, and RetinaFace judges
only windows of the finer copy around proposals (:func:`proposal_windows`),
with the same threshold. A 75 px face of a 12 MP photo is ~12 px at 640: too
small to be *found* (score < 0.9), enough to light its cell or a neighbour's
up (measured on the composed group photos; windows join neighbours, so a row
of faces is one window). A photo where nothing lights up pays nothing more:
the finer copy is not even decoded, and a face too faint to be proposed is
not looked for (no fallback). ``propose_score=0`` tiles the whole finer copy.

Where the image is a reduced decode (a JPEG draft) whose longest side is at
least ``UPSCALE_FROM`` of ``fine_side`` (a 12 MP photo's quarter-size draft,
1008 px, against 1280), the windows are cut from it and enlarged to the
finer copy's scale: RetinaFace needs the face ~24 px wide in its input more
than it needs the pixels a second, half-size decode would add (that decode
cost as much as judging the windows). The tiles decode the source again.
"""

from __future__ import annotations

import importlib
import importlib.util
import math
import os
import sys
import threading
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
from PIL import Image

from flask_medialib.errors import DetectorUnavailable

INSTALL_HINT = "install it with `pip install tensorflow-cpu` and `pip install --no-deps retinaface==1.1.1`"

#: Which pass found a face: the whole image at ``max_side``, or the finer copy, in windows
#: around the first pass's proposals or in tiles covering all of it.
WHOLE = "whole"
TILES = "tiles"
PROPOSALS = "proposals"
FINE_WHEN = ("no-face", "always")
#: Width in pixels of the model's input from which RetinaFace finds faces
#: reliably (astronaut from 20 px, cameraman from 24 px; none at 16 px).
RELIABLE_FACE = 24
#: A detection this close (px) to a tile's inner edge may be a cut face.
_EDGE = 2.0
#: Stride (px of its input) of the graph's finest anchors (sizes 16 and 32).
STRIDE = 8
#: A finest-stride cell whose raw face probability reaches this in the first pass is a proposal.
PROPOSE_SCORE = 0.005


@dataclass(frozen=True)
class Face:
    """A face: box (x1, y1, x2, y2) in source pixels, score in [0, 1], the pass that found it."""

    box: tuple[float, float, float, float]
    score: float
    landmarks: tuple[tuple[float, float], ...] = ()
    found_by: str = WHOLE

    def to_dict(self) -> dict[str, Any]:
        return {
            "box": [round(float(v), 2) for v in self.box],
            "score": round(float(self.score), 4),
            "pass": self.found_by,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Face:
        x1, y1, x2, y2 = (float(v) for v in data["box"])
        return cls((x1, y1, x2, y2), float(data.get("score", 1.0)), found_by=str(data.get("pass", WHOLE)))

    def scaled(self, sx: float, sy: float) -> Face:
        """This face in an image scaled by (sx, sy), e.g. draft -> source."""
        return self.moved(sx, sy, 0.0, 0.0)

    def moved(self, sx: float, sy: float, dx: float, dy: float) -> Face:
        """This face scaled by (sx, sy), then shifted by (dx, dy): tile -> copy -> source."""
        x1, y1, x2, y2 = self.box
        marks = tuple((x * sx + dx, y * sy + dy) for x, y in self.landmarks)
        return replace(self, box=(x1 * sx + dx, y1 * sy + dy, x2 * sx + dx, y2 * sy + dy), landmarks=marks)


# -- the finer pass: tiles and their merge ------------------------------------------

Tile = tuple[int, int, int, int]  # x1, y1, x2, y2


def _axis(length: int, tile: int, overlap: int) -> list[tuple[int, int]]:
    """Spans [start, end) of equal length <= ``tile`` covering [0, length), neighbours overlapping >= ``overlap``."""
    if length <= tile:
        return [(0, length)]
    count = math.ceil((length - overlap) / (tile - overlap))
    side = math.ceil((length + (count - 1) * overlap) / count)  # <= tile, as count is enough
    side = min(-(-side // 32) * 32 if tile % 32 == 0 else side, tile, length)  # graph sides: multiples of 32
    step = (length - side) / (count - 1)
    return [(round(i * step), round(i * step) + side) for i in range(count)]


def tile_layout(width: int, height: int, tile: int, overlap: int) -> list[Tile]:
    """Tiles of at most ``tile`` x ``tile`` covering a ``width`` x ``height`` image.

    Neighbours overlap by at least ``overlap`` px, so any box at most that
    wide and tall lies whole inside some tile. Tiles of a row (a column)
    have one size, spread evenly; a side that fits in one tile is not cut.
    """
    if width <= 0 or height <= 0:
        return []
    if not 0 <= overlap < tile:
        raise ValueError(f"overlap {overlap} must be in [0, tile {tile})")
    return [(x1, y1, x2, y2) for y1, y2 in _axis(height, tile, overlap) for x1, x2 in _axis(width, tile, overlap)]


def _area(box: Sequence[float]) -> float:
    return max(0.0, box[2] - box[0]) * max(0.0, box[3] - box[1])


def _intersection(a: Sequence[float], b: Sequence[float]) -> float:
    return max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))


def same_face(a: Sequence[float], b: Sequence[float], iou: float = 0.4, cover: float = 0.6) -> bool:
    """Whether two boxes show one face: IoU above ``iou`` (the graph's own NMS),
    or the smaller mostly inside the larger (a face cut by a tile edge)."""
    inter = _intersection(a, b)
    if inter <= 0.0:
        return False
    small = min(_area(a), _area(b))
    union = _area(a) + _area(b) - inter
    return inter > iou * union or inter >= cover * small


def merge_faces(faces: Sequence[Face], cut: Sequence[bool] | None = None) -> list[Face]:
    """Greedy non-maximum suppression across passes and tiles, highest score first.

    ``cut[i]``: face i touches an inner tile edge, so it may be part of a
    face that a neighbouring tile holds whole; such boxes come after whole
    ones of any score. Returns the kept faces, highest score first.
    """
    flags = list(cut) if cut is not None else [False] * len(faces)
    if len(flags) != len(faces):
        raise ValueError("one cut flag per face")
    order = sorted(range(len(faces)), key=lambda i: (flags[i], -faces[i].score, i))
    kept: list[Face] = []
    for i in order:
        if _area(faces[i].box) > 0 and not any(same_face(faces[i].box, k.box) for k in kept):
            kept.append(faces[i])
    kept.sort(key=lambda f: f.score, reverse=True)
    return kept


def _union(a: Tile, b: Tile) -> Tile:
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


def _meet(a: Tile, b: Tile) -> bool:
    return a[0] <= b[2] and b[0] <= a[2] and a[1] <= b[3] and b[1] <= a[3]


def proposal_windows(
    cells: Sequence[tuple[float, float]], width: int, height: int, pad: int, tile: int, overlap: int
) -> list[Tile]:
    """Windows of a ``width`` x ``height`` image where the finer pass must look.

    ``cells``: centres of proposals in this image's pixels. Each becomes a
    square of half side ``pad`` around it (clipped to the image); squares
    that meet are joined into their bounding box, and a box larger than
    ``tile`` is cut as :func:`tile_layout` cuts an image (neighbours overlap
    by ``overlap``). So any box at most ``overlap`` wide and tall that lies
    in a proposal's square lies whole in some window.
    """
    boxes: list[Tile] = []
    for cx, cy in cells:
        box = (max(0, math.floor(cx - pad)), max(0, math.floor(cy - pad)),
               min(width, math.ceil(cx + pad)), min(height, math.ceil(cy + pad)))  # fmt: skip
        if box[2] > box[0] and box[3] > box[1]:
            boxes.append(box)
    joined = True
    while joined:  # join until no two meet (a handful of clusters)
        joined = False
        out: list[Tile] = []
        for box in boxes:
            for i, other in enumerate(out):
                if _meet(box, other):
                    out[i] = _union(box, other)
                    joined = True
                    break
            else:
                out.append(box)
        boxes = out
    windows: list[Tile] = []
    for x1, y1, x2, y2 in sorted(boxes):
        windows += [(x1 + a, y1 + b, x1 + c, y1 + d) for a, b, c, d in tile_layout(x2 - x1, y2 - y1, tile, overlap)]
    return windows


def proposal_cells(
    scores: np.ndarray, width: int, height: int, pw: int, ph: int, threshold: float
) -> list[tuple[float, float]]:
    """Centres (px) of the finest-stride cells of a ``width`` x ``height`` image (padded to
    ``pw`` x ``ph`` for the graph) whose raw face probability in ``scores`` reaches ``threshold``."""
    cols, rows = pw // STRIDE, ph // STRIDE
    heat = scores[0, : rows * cols * 2, 1].reshape(rows, cols, 2).max(axis=2)  # two anchors a cell
    ys, xs = np.nonzero(heat[: -(-height // STRIDE), : -(-width // STRIDE)] >= threshold)  # not the padding
    return [((x + 0.5) * STRIDE, (y + 0.5) * STRIDE) for y, x in zip(ys.tolist(), xs.tolist(), strict=True)]


def touches_inner_edge(box: Sequence[float], tile: Tile, width: int, height: int) -> bool:
    """Whether ``box`` (tile pixels) reaches an edge of ``tile`` that is not an edge of the image."""
    x1, y1, x2, y2 = tile
    return (
        (x1 > 0 and box[0] <= _EDGE)
        or (y1 > 0 and box[1] <= _EDGE)
        or (x2 < width and box[2] >= x2 - x1 - _EDGE)
        or (y2 < height and box[3] >= y2 - y1 - _EDGE)
    )


@runtime_checkable
class FaceDetector(Protocol):
    def detect(self, image: Image.Image) -> list[Face]: ...


class NullDetector:
    """Finds no face: every cover is a centre crop."""

    def detect(self, image: Image.Image) -> list[Face]:
        return []


def tensorflow_imported() -> bool:
    """Whether this process has imported TensorFlow (it costs ~3 s, ~450 MB)."""
    return "tensorflow" in sys.modules


_lock = threading.Lock()
#: The pruned graph function, once loaded: (rows after NMS, raw per-anchor probabilities).
_model: list[Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]] = []
#: The graph's raw per-anchor (not face, face) probabilities, before its NMS and threshold;
#: anchors ordered stride 8, 16, 32, each row-major, two anchors a cell.
_SCORES = "RetinaFaceModel/softmax/Softmax:0"


def graph_path() -> Path:
    """Where the installed ``retinaface`` wheel keeps its frozen graph."""
    spec = importlib.util.find_spec("retinaface")  # finds, does not import
    for root in (spec.submodule_search_locations or []) if spec else []:
        path = Path(root) / "src" / "frozen_graph.pb"
        if path.is_file():
            return path
    raise DetectorUnavailable(f"the RetinaFace model file is missing; {INSTALL_HINT}")


def check_installed() -> None:
    """Raise DetectorUnavailable unless TF and the graph are installed (no import)."""
    if importlib.util.find_spec("tensorflow") is None:
        raise DetectorUnavailable(f"TensorFlow is not installed; {INSTALL_HINT}")
    graph_path()


def _load_model() -> Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]:
    with _lock:
        if _model:
            return _model[0]
        path = graph_path()
        # Quiet TF's C++ logs. (Its one-line oneDNN notice ignores this in TF
        # 2.21; TF_ENABLE_ONEDNN_OPTS=0 would hide it but detects ~1.7x slower.)
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        try:
            with warnings.catch_warnings():  # TF's own deprecations on import
                warnings.simplefilter("ignore")
                import tensorflow as tf
        except Exception as exc:
            raise DetectorUnavailable(f"TensorFlow cannot be imported ({exc}); {INSTALL_HINT}") from exc
        try:
            graph_def = tf.compat.v1.GraphDef()
            graph_def.ParseFromString(path.read_bytes())

            def _import() -> None:
                tf.compat.v1.import_graph_def(graph_def, name="")

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                wrapped = tf.compat.v1.wrap_function(_import, [])
                graph = wrapped.graph
                outputs = [graph.as_graph_element("Identity:0"), graph.as_graph_element(_SCORES)]
                fn = wrapped.prune(graph.as_graph_element("x:0"), outputs)
        except Exception as exc:
            raise DetectorUnavailable(f"the RetinaFace graph {path} cannot be loaded ({exc}); {INSTALL_HINT}") from exc

        def run(batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            rows, scores = fn(tf.constant(batch))
            return np.asarray(rows), np.asarray(scores)

        _model.append(run)
        return run


#: Decodes the source again with its longest side at least n px (all of it when smaller).
SourceLoader = Callable[[int], Image.Image]
#: The finer pass runs only when its copy is at least this much larger than the first's.
FINE_GAIN = 1.25
#: Windows of a reduced decode whose longest side is at least this share of the finer copy's are
#: enlarged to its scale rather than decoding the source again: a 12 MP JPEG's quarter-size draft
#: (1008 px) serves both passes. Measured on the composed group photos: the faces found the same
#: from ~66 px, at 60 px one fewer or one more; the second decode cost as much as the windows.
UPSCALE_FROM = 0.75


class RetinaFaceDetector:
    """RetinaFace (MobileNetV2) on a copy whose longest side is ``max_side``,
    then, where asked, tile by tile on a finer copy (see the module's doc).

    The graph takes float32 RGB in 0..255 (it normalises itself) with sides
    a multiple of 32, and returns rows of box (4), five landmarks (10), a
    constant 1 and the face probability, all after its own NMS (IoU 0.4,
    score >= 0.5, so a ``threshold`` below 0.5 changes nothing). It takes one
    image per call (a batch yields no rows), so tiles are separate calls. All
    instances share one graph per process; ``detect`` is thread-safe.

    ``fine_side``: longest side of the finer copy (0: no finer pass);
    ``tile_side``: longest side of a tile or window; ``fine_when``: "no-face"
    (only when the first pass found none) or "always"; ``propose_score``:
    the raw score that makes a cell of the first pass a proposal (0: tile
    the whole finer copy). The same ``threshold`` holds for every pass.
    """

    def __init__(
        self,
        max_side: int = 640,
        threshold: float = 0.9,
        *,
        fine_side: int = 0,
        tile_side: int = 1024,
        fine_when: str = "no-face",
        propose_score: float = PROPOSE_SCORE,
    ) -> None:
        if max_side < 32:
            raise ValueError("max_side must be at least 32")
        if fine_side and fine_side < 32:
            raise ValueError("fine_side must be 0 (off) or at least 32")
        if tile_side < 64 or tile_side % 32:
            raise ValueError("tile_side must be a multiple of 32, at least 64")
        if fine_when not in FINE_WHEN:
            raise ValueError(f"fine_when must be one of {FINE_WHEN}")
        if not 0.0 <= propose_score < 1.0:
            raise ValueError("propose_score must be in [0, 1): 0 tiles the whole finer copy")
        self.max_side = max_side
        self.threshold = threshold
        self.fine_side = fine_side
        self.tile_side = tile_side
        self.fine_when = fine_when
        self.propose_score = propose_score

    @property
    def overlap(self) -> int:
        """Tile overlap in finer-copy pixels: twice the widest face the first pass may
        miss (``RELIABLE_FACE`` there), so any face it misses lies whole in some tile.
        It is also the largest box the finer pass keeps: a bigger one the first pass
        saw large enough to judge (a cat's face is found by tiles, refused by it)."""
        missed = 2 * RELIABLE_FACE * max(self.fine_side, self.max_side) / self.max_side
        return min(32 * math.ceil(missed / 32), self.tile_side // 2)

    def load(self) -> RetinaFaceDetector:
        """Import TensorFlow and the graph now, and run it once to warm it."""
        run = _load_model()
        run(np.zeros((1, 64, 64, 3), np.float32))
        return self

    def detect(self, image: Image.Image, *, source: SourceLoader | None = None) -> list[Face]:
        """Faces in ``image``'s pixels, highest score first.

        ``source``: where ``image`` is a reduced decode (JPEG draft), a way to
        decode more pixels, called only when the finer pass runs and needs them.
        """
        width, height = image.size
        if width == 0 or height == 0:
            return []
        image = image if image.mode == "RGB" else image.convert("RGB")
        small = _resized(image, min(1.0, self.max_side / max(width, height)))
        rows, scores, pw, ph = self._run(small)
        faces = [face.scaled(width / small.width, height / small.height) for face in self._rows(rows, small, pw, ph)]
        if not self.fine_side or (faces and self.fine_when == "no-face"):
            return faces
        cells: list[tuple[float, float]] = []
        if self.propose_score:
            cells = proposal_cells(scores, small.width, small.height, pw, ph, self.propose_score)
            if not cells:
                return faces  # nothing lit up: no second decode, no more model calls
        fine = self._fine_copy(image, source, upscale=bool(self.propose_score))
        if fine is None:
            return faces
        if self.propose_score:
            scale = fine.width / small.width
            # a face the first pass may miss (at most overlap / 2) centred within a cell of a lit one
            pad = self.overlap // 2 + math.ceil(STRIDE * scale)
            cells = [(x * scale, y * scale) for x, y in cells]
            windows = proposal_windows(cells, fine.width, fine.height, pad, self.tile_side, self.overlap)
            found, cut = self._window_faces(fine, windows, PROPOSALS)
        else:
            tiles = tile_layout(fine.width, fine.height, self.tile_side, self.overlap)
            found, cut = self._window_faces(fine, tiles, TILES)
        sx, sy = width / fine.width, height / fine.height
        return merge_faces([*faces, *(f.scaled(sx, sy) for f in found)], [False] * len(faces) + cut)

    def _fine_copy(self, image: Image.Image, source: SourceLoader | None, *, upscale: bool) -> _FineCopy | None:
        """The finer copy (longest side ``fine_side`` or the source's own), None when it would see no more.

        ``upscale``: where ``image`` is a reduced decode at least ``UPSCALE_FROM`` of ``fine_side``, its
        windows are enlarged to the finer copy's scale instead of decoding the source again.
        """
        long = max(image.size)
        side = min(self.fine_side, long)
        if long < self.fine_side and source is not None:
            if upscale and long >= UPSCALE_FROM * self.fine_side:
                side = self.fine_side  # a JPEG draft: the source has twice its side or more
            else:
                image = source(self.fine_side)
                image = image if image.mode == "RGB" else image.convert("RGB")
                side = min(self.fine_side, max(image.size))
        if side < FINE_GAIN * min(self.max_side, max(image.size)):
            return None  # the first pass saw (nearly) as many pixels
        return _FineCopy(image, side / max(image.size))

    def _window_faces(self, fine: _FineCopy, tiles: Sequence[Tile], found_by: str) -> tuple[list[Face], list[bool]]:
        """Faces of ``tiles`` of ``fine`` in its pixels, each with whether it touches an inner tile edge."""
        faces: list[Face] = []
        cut: list[bool] = []
        for tile in tiles:
            for face in self._faces(fine.region(tile)):
                x1, y1, x2, y2 = face.box
                if max(x2 - x1, y2 - y1) > self.overlap:
                    continue  # big enough for the first pass, which saw it and judged it no face
                cut.append(touches_inner_edge(face.box, tile, fine.width, fine.height))
                faces.append(replace(face.moved(1.0, 1.0, tile[0], tile[1]), found_by=found_by))
        return faces, cut

    @staticmethod
    def _run(image: Image.Image) -> tuple[np.ndarray, np.ndarray, int, int]:
        """One graph call on an RGB image as it is: its rows, raw scores, padded width and height."""
        w, h = image.size
        pw, ph = -(-w // 32) * 32, -(-h // 32) * 32
        batch = np.zeros((1, ph, pw, 3), np.float32)  # zero padding, as trained
        batch[0, :h, :w] = np.asarray(image, dtype=np.float32)
        rows, scores = _load_model()(batch)
        return rows, scores, pw, ph

    def _faces(self, image: Image.Image) -> list[Face]:
        """One graph call on an RGB image as it is: faces in its pixels, highest score first."""
        rows, _, pw, ph = self._run(image)
        return self._rows(rows, image, pw, ph)

    def _rows(self, rows: np.ndarray, image: Image.Image, pw: int, ph: int) -> list[Face]:
        """The graph's rows for ``image`` (padded to ``pw`` x ``ph``): faces in its pixels, best first."""
        w, h = image.size
        faces = []
        for row in rows:  # normalised to the padded input -> pixels
            score = float(row[15])
            if score < self.threshold:
                continue
            x1, x2 = (min(max(float(v) * pw, 0.0), w) for v in (row[0], row[2]))
            y1, y2 = (min(max(float(v) * ph, 0.0), h) for v in (row[1], row[3]))
            if x2 - x1 <= 0 or y2 - y1 <= 0:
                continue
            marks = tuple((float(row[4 + 2 * k]) * pw, float(row[5 + 2 * k]) * ph) for k in range(5))
            faces.append(Face((x1, y1, x2, y2), score, marks))
        faces.sort(key=lambda f: f.score, reverse=True)
        return faces


class _FineCopy:
    """The finer copy of an image: ``pixels`` scaled by ``scale``, made only where a tile or window needs it
    (resizing all of a 12 MP draft costs as much as judging a group photo's window)."""

    def __init__(self, pixels: Image.Image, scale: float) -> None:
        self.pixels = pixels
        self.width, self.height = max(1, round(pixels.width * scale)), max(1, round(pixels.height * scale))

    def region(self, tile: Tile) -> Image.Image:
        """The copy's pixels in ``tile`` (its coordinates)."""
        if (self.width, self.height) == self.pixels.size:
            return self.pixels.crop(tile)
        sx, sy = self.pixels.width / self.width, self.pixels.height / self.height
        box = (tile[0] * sx, tile[1] * sy, tile[2] * sx, tile[3] * sy)
        size = (tile[2] - tile[0], tile[3] - tile[1])
        return self.pixels.resize(size, Image.Resampling.BILINEAR, box=box, reducing_gap=2.0)


def _resized(image: Image.Image, scale: float) -> Image.Image:
    w, h = max(1, round(image.width * scale)), max(1, round(image.height * scale))
    if (w, h) == image.size:
        return image
    return image.resize((w, h), Image.Resampling.BILINEAR, reducing_gap=2.0)


def load_detector(
    spec: str,
    *,
    fine_side: int = 0,
    tile_side: int = 1024,
    fine_when: str = "no-face",
    propose_score: float = PROPOSE_SCORE,
    **kwargs: Any,
) -> FaceDetector:
    """A detector from a name: "retinaface", "none", or "pkg.module:Class".

    The finer pass settings go to RetinaFace only; ``kwargs`` (``max_side``,
    ``threshold``) to any detector's factory. No TensorFlow is imported
    here; RetinaFace loads on its first detection.
    """
    name = (spec or "none").strip()
    if name.lower() in ("none", "null", "off"):
        return NullDetector()
    if name.lower() == "retinaface":
        check_installed()
        return RetinaFaceDetector(
            **kwargs, fine_side=fine_side, tile_side=tile_side, fine_when=fine_when, propose_score=propose_score
        )
    module_name, sep, attr = name.partition(":")
    if not sep:
        module_name, _, attr = name.rpartition(".")
    if not module_name or not attr:
        raise DetectorUnavailable(f"face detector {spec!r} is not 'retinaface', 'none' or 'package.module:Class'")
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise DetectorUnavailable(f"face detector {spec!r} cannot be imported: {exc}") from exc
    detector = factory(**kwargs) if callable(factory) else factory
    if not callable(getattr(detector, "detect", None)):
        raise DetectorUnavailable(f"face detector {spec!r} has no detect(image) method")
    return detector


def detect_faces(detector: FaceDetector, image: Image.Image, source: SourceLoader | None = None) -> list[Face]:
    """``detector.detect(image)``; RetinaFace also gets ``source`` for its finer pass."""
    if isinstance(detector, RetinaFaceDetector):
        return detector.detect(image, source=source)
    return detector.detect(image)
