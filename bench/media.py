"""The benchmark media: a 12 MP JPEG, a 1080p H.264 MP4 and a 4K HEVC MOV, each with a face.

Made once into ``bench/results/media`` (kept between runs, ignored by git)
from scikit-image's astronaut, placed off-centre in a textured scene so that
a smart crop differs from a centre crop. The videos are made with Debian's
ffmpeg from the same scene; their first frame shows the face.

    python -m bench.media          # make what is missing, print what is there
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from bench.common import RESULTS, print_table

MEDIA_DIR = RESULTS / "media"
FFMPEG = shutil.which("ffmpeg") or "/usr/bin/ffmpeg"


@dataclass(frozen=True)
class BenchMedia:
    key: str  # short name in tables
    file: str  # file name under MEDIA_DIR
    kind: str  # "image" or "video"
    label: str

    @property
    def path(self) -> Path:
        return MEDIA_DIR / self.file


JPEG = BenchMedia("jpeg", "photo-12mp.jpg", "image", "12 MP JPEG (4000x3000)")
MP4 = BenchMedia("mp4", "clip-1080p-h264.mp4", "video", "1080p H.264 MP4")
MOV = BenchMedia("mov", "clip-4k-hevc.mov", "video", "4K HEVC MOV")
ALL = (JPEG, MP4, MOV)


def scene(width: int, height: int, seed: int = 7) -> Image.Image:
    """A photo-like scene: a blurred, grainy background and the astronaut right of centre."""
    from skimage import data

    rng = np.random.default_rng(seed)
    background = Image.fromarray(data.coffee()).resize((width, height), Image.Resampling.BICUBIC)
    background = background.filter(ImageFilter.GaussianBlur(max(width, height) / 400))
    face_side = int(height * 0.5)
    astronaut = Image.fromarray(data.astronaut()).resize((face_side, face_side), Image.Resampling.LANCZOS)
    # right of centre and a little high, as in a real snapshot
    background.paste(astronaut, (int(width * 0.62), int(height * 0.12)))
    # film grain: real photos do not compress like smooth upscales
    arr = np.asarray(background, dtype=np.int16)
    arr = arr + rng.normal(0, 6, arr.shape).astype(np.int16)
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def _ffmpeg(still: Path, out: Path, codec_args: list[str], seconds: float) -> None:
    cmd = [
        FFMPEG, "-hide_banner", "-loglevel", "error", "-y",
        "-loop", "1", "-framerate", "30", "-i", str(still), "-t", str(seconds),
        # moving grain and a slow zoom, so frames differ as in real footage
        "-vf", "noise=alls=8:allf=t,format=yuv420p",
        *codec_args, str(out),
    ]  # fmt: skip
    subprocess.run(cmd, check=True)


def make(force: bool = False) -> list[BenchMedia]:
    MEDIA_DIR.mkdir(parents=True, exist_ok=True)
    if force or not JPEG.path.exists():
        scene(4000, 3000).save(JPEG.path, "JPEG", quality=90)
    for item, size, args, seconds in (
        (MP4, (1920, 1080), ["-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-movflags", "+faststart"], 3),
        (MOV, (3840, 2160), ["-c:v", "libx265", "-preset", "ultrafast", "-crf", "20", "-tag:v", "hvc1",
                             "-x265-params", "log-level=error"], 1),
    ):  # fmt: skip
        if force or not item.path.exists():
            still = MEDIA_DIR / f"still-{size[0]}x{size[1]}.png"
            scene(*size).save(still, "PNG", compress_level=1)
            tmp = item.path.with_suffix(".part" + item.path.suffix)
            _ffmpeg(still, tmp, args, seconds)
            os.replace(tmp, item.path)
            still.unlink()
    return list(ALL)


def describe(items: list[BenchMedia]) -> list[list[str]]:
    from flask_medialib.imaging import probe_media

    rows = []
    for item in items:
        info = probe_media(item.path)
        extra = f", {info.duration:.1f} s" if info.duration else ""
        rows.append(
            [item.label, item.file, f"{info.width}x{info.height}{extra}", f"{item.path.stat().st_size / 1e6:.1f} MB"]
        )
    return rows


if __name__ == "__main__":
    print_table(["media", "file", "size", "bytes"], describe(make()))
