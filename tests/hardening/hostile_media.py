"""A corpus of hostile media files, generated from nothing but Pillow, OpenCV and ffmpeg.

Run it to look at the files: ``python -m tests.hardening.hostile_media OUTDIR``.
The tests import :func:`corpus` and upload every sample.

Each :class:`Sample` says what the service must make of it:

- ``valid``: a real image or video in an unusual shape (CMYK, 16-bit, EXIF
  rotation, animation ...): the upload is stored and the cover is a 302 to an
  image that decodes;
- ``broken``: damaged or meaningless bytes: the upload is refused with a 4xx,
  or it is stored (a truncated file can have a sound header) and the cover is
  then a 4xx or a correct skip; never a 5xx;
- ``bomb``: a small file whose header claims billions of pixels: refused with a
  4xx before a single pixel is allocated.
"""

from __future__ import annotations

import io
import random
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

VALID, BROKEN, BOMB = "valid", "broken", "bomb"
#: EXIF orientation 6: the stored pixels must be turned 90 degrees clockwise.
ORIENTATION_TAG = 0x0112


@dataclass(frozen=True)
class Sample:
    name: str  # the file name it is uploaded as
    data: bytes
    expect: str  # VALID, BROKEN or BOMB
    why: str
    #: For a valid sample: a check of the decoded cover (an RGB image), returning
    #: a failure message or None.
    check_cover: Callable[[Image.Image], str | None] | None = None


# -- base images ---------------------------------------------------------------


def _picture(width: int = 320, height: int = 240) -> Image.Image:
    """A picture with structure on every scale, so that damage shows in any codec."""
    y, x = np.mgrid[0:height, 0:width]
    rgb = np.stack([(x * 255 // width), (y * 255 // height), ((x ^ y) & 0xFF)], axis=-1).astype(np.uint8)
    return Image.fromarray(rgb)


def encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **params)
    return buf.getvalue()


def _valid_images() -> dict[str, bytes]:
    pic = _picture()
    return {
        "jpg": encode(pic, "JPEG", quality=90),
        "png": encode(pic, "PNG"),
        "gif": encode(pic.convert("P", palette=Image.Palette.ADAPTIVE), "GIF"),
        "webp": encode(pic, "WEBP", quality=80),
    }


# -- damage --------------------------------------------------------------------


def truncated(data: bytes, fraction: float) -> bytes:
    return data[: max(1, int(len(data) * fraction))]


def corrupted(data: bytes, seed: int) -> bytes:
    """Random bytes over the middle third: header intact, entropy-coded data garbage."""
    rng = random.Random(seed)
    out = bytearray(data)
    start, end = len(out) // 3, 2 * len(out) // 3
    for i in range(start, end, 7):
        out[i] = rng.randrange(256)
    return bytes(out)


# -- decompression bombs by header -----------------------------------------------


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def png_bomb(width: int = 50_000, height: int = 50_000) -> bytes:
    """A valid-looking PNG of width x height RGB whose IDAT holds only a few zero rows."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    rows = zlib.compress(b"\x00" * (1 + 3 * width) * 4, 9)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", rows) + _png_chunk(b"IEND", b"")


def jpeg_bomb(base: bytes, width: int = 65_000, height: int = 65_000) -> bytes:
    """A real JPEG whose SOF0 frame header is patched to claim width x height."""
    at = base.find(b"\xff\xc0")
    if at < 0:
        raise ValueError("no baseline SOF0 marker in the base JPEG")
    out = bytearray(base)
    struct.pack_into(">HH", out, at + 5, height, width)  # marker(2) len(2) precision(1) then H, W
    return bytes(out)


def gif_bomb(base: bytes) -> bytes:
    """A real GIF whose logical screen (and first image descriptor) claims 65535 x 65535."""
    out = bytearray(base)
    struct.pack_into("<HH", out, 6, 65_535, 65_535)
    at = out.find(b"\x2c", 13 + (3 << ((out[10] & 7) + 1) if out[10] & 0x80 else 0))
    if at > 0:
        struct.pack_into("<HH", out, at + 5, 65_535, 65_535)
    return bytes(out)


def webp_bomb(width: int = 16_000, height: int = 16_000) -> bytes:
    """An extended WebP (VP8X) whose canvas claims width x height with a 1x1 VP8L inside."""
    tiny = encode(Image.new("RGB", (1, 1)), "WEBP", lossless=True)
    vp8l = tiny[12:]  # the chunk(s) after "RIFF....WEBP"
    vp8x = b"VP8X" + struct.pack("<I", 10) + b"\x00\x00\x00\x00" + (width - 1).to_bytes(3, "little")
    vp8x += (height - 1).to_bytes(3, "little")
    body = b"WEBP" + vp8x + vp8l
    return b"RIFF" + struct.pack("<I", len(body)) + body


# -- unusual but valid images --------------------------------------------------


def cmyk_jpeg() -> bytes:
    return encode(_picture().convert("CMYK"), "JPEG", quality=90)


def gray16_png() -> bytes:
    ramp = (np.arange(256 * 192, dtype=np.uint32).reshape(192, 256) * 5 % 65_536).astype(np.uint16)
    return encode(Image.fromarray(ramp), "PNG")


def rgb16_png() -> bytes:
    import cv2

    pic = np.asarray(_picture()).astype(np.uint16) * 257  # 8 -> 16 bits per channel
    ok, png = cv2.imencode(".png", pic[:, :, ::-1])  # OpenCV writes BGR
    if not ok:
        raise RuntimeError("OpenCV could not encode a 16-bit PNG")
    return png.tobytes()


def exif_rotated_jpeg() -> bytes:
    """Stored 200 x 100, left half red, right half blue, EXIF orientation 6.

    Shown upright it is 100 x 200 with red on top and blue below; a square
    cover of it must have red at the top and blue at the bottom.
    """
    stored = Image.new("RGB", (200, 100), (220, 20, 20))
    stored.paste((20, 20, 220), (100, 0, 200, 100))
    exif = Image.Exif()
    exif[ORIENTATION_TAG] = 6
    return encode(stored, "JPEG", quality=95, exif=exif.tobytes())


def _red_top_blue_bottom(cover: Image.Image) -> str | None:
    w, h = cover.size
    top = cover.getpixel((w // 2, h // 8))
    bottom = cover.getpixel((w // 2, h - 1 - h // 8))
    assert isinstance(top, tuple) and isinstance(bottom, tuple)
    if top[0] > 150 > top[2] and bottom[2] > 150 > bottom[0]:
        return None
    return f"EXIF rotation not applied: top {top}, bottom {bottom} (want red over blue)"


def animated_gif() -> bytes:
    frames = [Image.new("RGB", (120, 90), colour) for colour in ((230, 10, 10), (10, 230, 10), (10, 10, 230))]
    return encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)


def _mostly_red(cover: Image.Image) -> str | None:
    r, g, b = cover.resize((1, 1), Image.Resampling.BOX).getpixel((0, 0))  # type: ignore[misc]
    return None if r > 150 > max(g, b) else f"cover is not the first (red) frame: mean colour {(r, g, b)}"


def palette_alpha_png() -> bytes:
    """A palette PNG whose colour 0 is transparent (the mode GIF-like PNGs have)."""
    image = _picture(160, 120).convert("P", palette=Image.Palette.ADAPTIVE, colors=64)
    return encode(image, "PNG", transparency=0)


# -- videos ----------------------------------------------------------------------


def _ffmpeg(*args: str) -> bytes | None:
    """Output of an ffmpeg run writing ``out.mp4``; None when ffmpeg is absent or fails."""
    exe = shutil.which("ffmpeg") or ("/usr/bin/ffmpeg" if Path("/usr/bin/ffmpeg").exists() else None)
    if exe is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.mp4"
        cmd = [exe, "-hide_banner", "-loglevel", "error", "-nostdin", "-y", *args, str(out)]
        try:
            subprocess.run(cmd, check=True, timeout=60, capture_output=True)
        except (OSError, subprocess.SubprocessError):
            return None
        return out.read_bytes() if out.exists() else None


_RED_CLIP = ("-f", "lavfi", "-i", "color=c=red:s=96x64:d=1:r=5")


def mp4_video() -> bytes | None:
    """A real 1 s MPEG-4 part 2 clip (fourcc mp4v), moov first; OpenCV's writer where ffmpeg is missing."""
    return _ffmpeg(*_RED_CLIP, "-c:v", "mpeg4", "-movflags", "+faststart") or _opencv_clip()


def _opencv_clip() -> bytes | None:
    import cv2

    with tempfile.TemporaryDirectory() as tmp:
        out = str(Path(tmp) / "out.mp4")
        writer = cv2.VideoWriter(out, cv2.VideoWriter_fourcc(*"mp4v"), 5.0, (96, 64))
        if not writer.isOpened():
            return None
        frame = np.zeros((64, 96, 3), np.uint8)
        frame[:, :] = (0, 0, 255)  # BGR red
        for _ in range(5):
            writer.write(frame)
        writer.release()
        data = Path(out).read_bytes()
    return data if b"mp4v" in data and b"esds" in data else None


def mp4_no_frames() -> bytes | None:
    """An MP4 container that holds no frame at all."""
    return _ffmpeg(*_RED_CLIP, "-frames:v", "0", "-c:v", "mpeg4")


def mp4_empty_mdat(video: bytes) -> bytes:
    """A real clip whose sample data is cut off: the index promises frames the file lacks."""
    at = video.rfind(b"mdat")
    return video[: at + 4] if at >= 4 else video[: len(video) // 4]


def mp4_unknown_codec(video: bytes) -> bytes:
    """A real clip whose sample description names a codec nobody has: ``zzzz``.

    The ``esds`` box goes too: from it FFmpeg would still recognise MPEG-4 video.
    """
    if b"mp4v" not in video or b"esds" not in video:
        raise ValueError("the base clip has no mp4v sample entry with an esds box")
    return video.replace(b"mp4v", b"zzzz").replace(b"esds", b"zzzz")


# -- the corpus --------------------------------------------------------------------


def corpus() -> list[Sample]:
    """Every hostile sample, deterministic apart from the ffmpeg build."""
    images = _valid_images()
    samples: list[Sample] = [
        Sample("empty.jpg", b"", BROKEN, "zero bytes"),
        Sample("random.jpg", random.Random(7).randbytes(64 * 1024), BROKEN, "64 KiB of random bytes"),
        Sample("random-small.png", random.Random(8).randbytes(100), BROKEN, "100 random bytes"),
        Sample("png-magic-only.png", b"\x89PNG\r\n\x1a\n", BROKEN, "a PNG signature and nothing else"),
        Sample("jpeg-magic-only.jpg", b"\xff\xd8\xff\xe0", BROKEN, "a JPEG start marker and nothing else"),
    ]
    for ext, data in images.items():
        samples += [
            Sample(f"truncated-header.{ext}", truncated(data, 0.02), BROKEN, f"{ext} cut inside its header"),
            Sample(f"truncated-half.{ext}", truncated(data, 0.5), BROKEN, f"{ext} cut in half"),
            Sample(f"corrupted.{ext}", corrupted(data, seed=len(ext)), BROKEN, f"{ext} with a garbled middle"),
        ]
    samples += [
        Sample("bomb.png", png_bomb(), BOMB, "PNG IHDR of 50000 x 50000"),
        Sample("bomb.jpg", jpeg_bomb(images["jpg"]), BOMB, "JPEG SOF0 of 65000 x 65000"),
        Sample("bomb.gif", gif_bomb(images["gif"]), BOMB, "GIF logical screen of 65535 x 65535"),
        Sample("bomb.webp", webp_bomb(), BOMB, "WebP VP8X canvas of 16000 x 16000"),
        Sample("cmyk.jpg", cmyk_jpeg(), VALID, "a CMYK JPEG"),
        Sample("gray16.png", gray16_png(), VALID, "a 16-bit greyscale PNG"),
        Sample("rgb16.png", rgb16_png(), VALID, "a 16-bit-per-channel RGB PNG"),
        Sample("palette-alpha.png", palette_alpha_png(), VALID, "a palette PNG with a transparent colour"),
        Sample("exif-rotated.jpg", exif_rotated_jpeg(), VALID, "EXIF orientation 6", _red_top_blue_bottom),
        Sample("animated.gif", animated_gif(), VALID, "a 3-frame animated GIF, red first", _mostly_red),
    ]
    video = mp4_video()
    if video is not None:
        samples += [
            Sample("clip.mp4", video, VALID, "a real 1 s MPEG-4 clip (red)", _mostly_red),
            Sample("no-frames-cut.mp4", mp4_empty_mdat(video), BROKEN, "an MP4 whose frame data is cut off"),
            Sample("unknown-codec.mp4", mp4_unknown_codec(video), BROKEN, "an MP4 of codec 'zzzz'"),
            Sample("truncated-half.mp4", truncated(video, 0.5), BROKEN, "an MP4 cut in half"),
        ]
    empty = mp4_no_frames()
    if empty is not None:
        samples.append(Sample("no-frames.mp4", empty, BROKEN, "an MP4 container with zero frames"))
    names = [s.name for s in samples]
    assert len(set(names)) == len(names), "sample names must be unique"
    return samples


def write_corpus(outdir: Path) -> list[Path]:
    outdir.mkdir(parents=True, exist_ok=True)
    paths = []
    for sample in corpus():
        path = outdir / sample.name
        path.write_bytes(sample.data)
        paths.append(path)
    return paths


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m tests.hardening.hostile_media OUTDIR", file=sys.stderr)
        return 2
    for path, sample in zip(write_corpus(Path(argv[0])), corpus(), strict=True):
        print(f"{sample.expect:6} {len(sample.data):>8} B  {path}  ({sample.why})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
