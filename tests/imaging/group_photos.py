"""Group photos taken from afar, composed from the real faces scikit-image ships.

The heads of the astronaut (Eileen Collins) and the cameraman, mirrored and
lit differently, stand in a row at the left or right edge of a 4032 x 3024
frame (a 12 MP phone photo) whose faces are 60-90 px wide: at the 640 px the
first detection pass sees, 10-14 px, too small for RetinaFace.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter, ImageOps
from skimage import data as skdata

FRAME = (4032, 3024)
Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class Head:
    """A head cut from a sample picture, and where its face is within the cut."""

    image: Image.Image
    face: Box  # in the cut's pixels, as RetinaFace boxes it

    def at_face_width(self, width: float) -> tuple[Image.Image, Box]:
        scale = width / (self.face[2] - self.face[0])
        size = (round(self.image.width * scale), round(self.image.height * scale))
        face = (self.face[0] * scale, self.face[1] * scale, self.face[2] * scale, self.face[3] * scale)
        return self.image.resize(size, Image.Resampling.LANCZOS), face


def heads() -> list[Head]:
    astronaut = Image.fromarray(skdata.astronaut()).crop((120, 0, 325, 260))
    camera = Image.fromarray(skdata.camera()).convert("RGB").crop((150, 60, 300, 250))
    return [Head(astronaut, (57.0, 60.0, 150.0, 181.0)), Head(camera, (47.0, 53.0, 109.0, 139.0))]


def _variant(head: Head, k: int) -> Head:
    """A different-looking person: mirrored every other time, lit and tinted differently."""
    image = ImageEnhance.Brightness(head.image).enhance(0.8 + 0.1 * (k % 4))
    image = ImageEnhance.Color(image).enhance(0.6 + 0.2 * (k % 3))
    face = head.face
    if k % 2:
        image = ImageOps.mirror(image)
        face = (image.width - face[2], face[1], image.width - face[0], face[3])
    return Head(image, face)


def scene(picture: str = "coffee", blur: float = 8) -> Image.Image:
    """A sample picture enlarged to the frame, out of focus behind the group by default."""
    base = Image.fromarray(getattr(skdata, picture)()).convert("RGB").resize(FRAME, Image.Resampling.BICUBIC)
    return base.filter(ImageFilter.GaussianBlur(blur)) if blur else base


def grain(image: Image.Image, seed: int) -> Image.Image:
    """Sensor noise: real photos do not compress like smooth upscales."""
    rng = np.random.default_rng(seed)
    arr = np.asarray(image, dtype=np.int16) + rng.integers(-9, 10, (image.height, image.width, 3), dtype=np.int16)
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def group_photo(people: int = 7, face_width: float = 75, *, left: bool = True, seed: int = 0,
                picture: str = "coffee") -> tuple[Image.Image, list[Box]]:  # fmt: skip
    """A row of ``people`` heads (faces ``face_width`` +-15 % wide) at one edge; the frame and the face boxes."""
    rng = np.random.default_rng(seed)
    canvas = scene(picture)
    pitch = face_width * 2.4
    x0 = 60.0 if left else FRAME[0] - 60.0 - people * pitch
    boxes: list[Box] = []
    for k in range(people):
        head = _variant(heads()[k % 2], k + seed)
        image, face = head.at_face_width(face_width * rng.uniform(0.85, 1.15))
        x, y = round(x0 + k * pitch), round(1200 + rng.uniform(-150, 150))
        canvas.paste(image, (x, y))
        boxes.append((x + face[0], y + face[1], x + face[2], y + face[3]))
    return grain(canvas, seed), boxes


def write_jpeg(path: Path | str, image: Image.Image) -> Path:
    image.save(path, "JPEG", quality=90)
    return Path(path)
