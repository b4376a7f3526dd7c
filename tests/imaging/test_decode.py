"""load_image / first_video_frame on media made here, broken media included."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

from flask_medialib.errors import MediaError
from flask_medialib.imaging import first_video_frame, load_image, load_media_image
from flask_medialib.imaging.decode import image_formats

LIMIT = 40_000_000
PngFactory = Callable[[int, int], Path]
RED, BLUE, WHITE = (255, 0, 0), (0, 0, 255), (255, 255, 255)


def close(a: tuple[int, ...], b: tuple[int, ...], tol: int = 12) -> bool:
    return all(abs(x - y) <= tol for x, y in zip(a, b, strict=True))


def halves(size: tuple[int, int], left: tuple[int, ...], right: tuple[int, ...], mode: str = "RGB") -> Image.Image:
    img = Image.new(mode, size, left)
    img.paste(right, (size[0] // 2, 0, size[0], size[1]))
    return img


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    path = tmp_path / "phone.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # stored landscape, shown turned 90 degrees clockwise
    halves((40, 20), RED, BLUE).save(path, quality=95, exif=exif.tobytes())
    img = load_image(path, max_pixels=LIMIT)
    assert img.mode == "RGB" and img.size == (20, 40)
    assert close(img.getpixel((10, 5)), RED) and close(img.getpixel((10, 35)), BLUE)


def test_cmyk_jpeg(tmp_path: Path) -> None:
    path = tmp_path / "print.jpg"
    Image.new("CMYK", (32, 32), (0, 255, 255, 0)).save(path, quality=95)
    img = load_image(path, max_pixels=LIMIT)
    assert img.mode == "RGB" and close(img.getpixel((16, 16)), RED, 30)


def test_palette_transparency_becomes_white(tmp_path: Path) -> None:
    path = tmp_path / "logo.png"
    img = Image.new("P", (20, 10), 0)
    img.putpalette([0, 0, 0, 255, 0, 0])
    img.paste(1, (10, 0, 20, 10))
    img.save(path, transparency=0)
    out = load_image(path, max_pixels=LIMIT)
    assert out.getpixel((2, 5)) == WHITE and out.getpixel((15, 5)) == RED


@pytest.mark.parametrize(("mode", "ext"), [("RGBA", "png"), ("LA", "png"), ("RGBA", "webp")])
def test_alpha_is_flattened_on_white(tmp_path: Path, mode: str, ext: str) -> None:
    path = tmp_path / f"alpha.{ext}"
    clear = (0, 0) if mode == "LA" else (0, 0, 0, 0)
    half = (0, 128) if mode == "LA" else (255, 0, 0, 128)
    halves((20, 10), clear, half, mode).save(path, lossless=True)
    out = load_image(path, max_pixels=LIMIT)
    assert out.mode == "RGB" and out.getpixel((2, 5)) == WHITE
    expected = (127, 127, 127) if mode == "LA" else (255, 127, 127)
    assert close(out.getpixel((15, 5)), expected, 2)


def test_16_bit_png_keeps_its_gradient(tmp_path: Path) -> None:
    path = tmp_path / "deep.png"
    ramp = np.linspace(0, 65535, 256).round().astype(np.uint16)
    Image.fromarray(np.tile(ramp, (8, 1))).save(path)
    with Image.open(path) as raw:
        assert raw.mode in ("I;16", "I")  # really stored deep
    out = np.asarray(load_image(path, max_pixels=LIMIT))
    row = out[4, :, 0].astype(int)
    assert np.abs(row - np.round(ramp / 257)).max() <= 1
    assert row[0] == 0 and row[-1] == 255 and np.all(np.diff(row) >= 0)
    assert np.array_equal(out[..., 0], out[..., 2])  # grey stays grey


def test_16_bit_rgb_png(tmp_path: Path) -> None:
    path = tmp_path / "deep-rgb.png"
    # Pillow cannot write 48-bit PNG; OpenCV can (BGR order).
    import cv2

    data = np.zeros((4, 4, 3), np.uint16)
    data[..., 2] = 65535  # red
    cv2.imwrite(str(path), data)
    assert close(load_image(path, max_pixels=LIMIT).getpixel((1, 1)), RED, 1)


def test_animated_gif_gives_the_first_frame(tmp_path: Path) -> None:
    path = tmp_path / "anim.gif"
    frames = [Image.new("RGB", (16, 16), c) for c in (RED, (0, 255, 0), BLUE)]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    assert load_image(path, max_pixels=LIMIT).getpixel((8, 8)) == RED


def test_heic(tmp_path: Path) -> None:
    pytest.importorskip("pillow_heif")
    assert "HEIF" in image_formats()  # registers the opener, once
    path = tmp_path / "iphone.heic"
    Image.new("RGB", (64, 48), RED).save(path, "HEIF", quality=90)
    img = load_image(path, max_pixels=LIMIT)
    assert img.size == (64, 48) and close(img.getpixel((32, 24)), RED, 30)


def noise_jpeg(path: Path, size: tuple[int, int] = (200, 160)) -> Path:
    rng = np.random.default_rng(7)
    Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(path, quality=90)
    return path


@pytest.mark.parametrize("keep", [0.5, 0.1])
def test_truncated_jpeg(tmp_path: Path, keep: float) -> None:
    data = noise_jpeg(tmp_path / "full.jpg").read_bytes()
    path = tmp_path / "cut.jpg"
    path.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(MediaError, match=r"cut\.jpg"):
        load_image(path, max_pixels=LIMIT)


def test_truncated_png(tmp_path: Path) -> None:
    src = tmp_path / "full.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(src)
    path = tmp_path / "cut.png"
    path.write_bytes(src.read_bytes()[:400])
    with pytest.raises(MediaError):
        load_image(path, max_pixels=LIMIT)


@pytest.mark.parametrize(
    "content",
    [b"", np.random.default_rng(3).bytes(4096), b"hello, I am text\n" * 50, b"\xff\xd8\xff\xe0garbage"],
    ids=["empty", "random", "text", "jpeg-magic-only"],
)
def test_not_an_image(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "photo.jpg"
    path.write_bytes(content)
    with pytest.raises(MediaError):
        load_image(path, max_pixels=LIMIT)


@pytest.mark.parametrize(("side", "limit"), [(50_000, LIMIT), (10_000, LIMIT), (5_000, 10_000_000)])
def test_pixel_bomb_is_refused_from_its_header(
    png_declaring: PngFactory, side: int, limit: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = png_declaring(side, side)

    def no_decoding(self: object) -> None:
        raise AssertionError("a bomb must be refused before any pixel is decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    with pytest.raises(MediaError, match=r"pixels, more than the limit") as info:
        load_image(path, max_pixels=limit)
    assert str(side * side) in str(info.value)


def test_missing_file_is_not_a_media_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_image(tmp_path / "nope.jpg", max_pixels=LIMIT)


@pytest.fixture(scope="module")
def big_jpeg(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("draft") / "big.jpg"
    ramp = np.linspace(0, 255, 4000, dtype=np.uint8)
    Image.fromarray(np.dstack([np.tile(ramp, (3000, 1))] * 3)).save(path, quality=80)
    return path


@pytest.mark.parametrize("target", [64, 100, 375, 376, 700, 1000, 2999, 3000, 5000])
def test_draft_decode_never_goes_below_target(big_jpeg: Path, target: int) -> None:
    img = load_image(big_jpeg, max_pixels=LIMIT, target=target)
    assert min(img.size) >= min(target, 3000)
    if target <= 375:
        assert img.size == (500, 375)  # decoded at 1/8 scale: cheap
    assert close(img.getpixel((img.width - 1, 0)), WHITE, 8)


def test_draft_with_exif_rotation(tmp_path: Path) -> None:
    path = tmp_path / "big-rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.new("RGB", (3200, 2400), RED).save(path, exif=exif.tobytes())
    img = load_image(path, max_pixels=LIMIT, target=300)
    assert img.size == (300, 400)


def test_first_frame_of_an_mp4(make_mp4: Callable[..., Path]) -> None:
    img = first_video_frame(make_mp4(), max_pixels=LIMIT)
    assert img.mode == "RGB" and img.size == (160, 96)
    assert close(img.getpixel((10, 10)), WHITE, 25)  # the marker: frame 0, upright
    assert close(img.getpixel((120, 70)), (90, 90, 90), 25)


def test_rotated_phone_video_is_upright(rotated_mp4: tuple[Path, np.ndarray]) -> None:
    path, expected = rotated_mp4
    frame = np.asarray(first_video_frame(path, max_pixels=LIMIT))
    assert frame.shape == expected.shape and frame.shape[0] > frame.shape[1]
    assert np.abs(frame.astype(int) - expected.astype(int)).mean() < 8


@pytest.mark.parametrize("content", [b"", b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 100, b"not a video at all"])
def test_video_without_frames(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "broken.mp4"
    path.write_bytes(content)
    with pytest.raises(MediaError):
        first_video_frame(path, max_pixels=LIMIT)


def test_video_too_many_pixels(make_mp4: Callable[..., Path]) -> None:
    with pytest.raises(MediaError, match="160x96"):
        first_video_frame(make_mp4(), max_pixels=1000)


def test_load_media_image_dispatches(tmp_path: Path, make_mp4: Callable[..., Path]) -> None:
    photo = tmp_path / "p.png"
    Image.new("RGB", (30, 20), BLUE).save(photo)
    assert load_media_image(photo, "image", max_pixels=LIMIT).size == (30, 20)
    assert load_media_image(make_mp4(), "video", max_pixels=LIMIT).size == (160, 96)
    with pytest.raises(MediaError, match="audio"):
        load_media_image(photo, "audio", max_pixels=LIMIT)
