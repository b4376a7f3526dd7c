"""probe_media: kind and type from content, header-only for images, one open for video."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

from flask_medialib.errors import MediaError
from flask_medialib.imaging import MediaInfo, probe_media
from flask_medialib.imaging.probe import sniff_video_container


@pytest.mark.parametrize(
    ("fmt", "mime", "ext"),
    [
        ("JPEG", "image/jpeg", ".jpg"),
        ("PNG", "image/png", ".png"),
        ("GIF", "image/gif", ".gif"),
        ("WEBP", "image/webp", ".webp"),
        ("BMP", "image/bmp", ".bmp"),
        ("TIFF", "image/tiff", ".tif"),
        ("AVIF", "image/avif", ".avif"),
    ],
)
def test_images_by_content_not_name(tmp_path: Path, fmt: str, mime: str, ext: str) -> None:
    path = tmp_path / "upload.bin"  # the name tells nothing
    Image.new("RGB", (48, 30), (10, 200, 30)).save(path, fmt)
    assert probe_media(path) == MediaInfo("image", mime, ext, 48, 30, None)


def test_heic(tmp_path: Path) -> None:
    pytest.importorskip("pillow_heif")
    from flask_medialib.imaging.decode import image_formats

    image_formats()  # registers the HEIF plugin so the test can write one
    path = tmp_path / "IMG_0001.HEIC"
    Image.new("RGB", (64, 48), (200, 0, 0)).save(path, "HEIF")
    assert probe_media(path) == MediaInfo("image", "image/heic", ".heic", 64, 48, None)


def test_exif_rotation_swaps_the_reported_size(tmp_path: Path) -> None:
    path = tmp_path / "portrait.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.new("RGB", (40, 20)).save(path, exif=exif.tobytes())
    info = probe_media(path)
    assert (info.width, info.height) == (20, 40)


def test_image_probe_decodes_no_pixel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "big.jpg"
    Image.new("RGB", (6000, 4000), (1, 2, 3)).save(path)

    def no_decoding(self: ImageFile.ImageFile) -> None:
        raise AssertionError("probe must not decode pixels")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    assert probe_media(path).width == 6000


def test_bomb_header_is_refused_without_decoding(
    png_declaring: Callable[[int, int], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = png_declaring(50_000, 50_000)

    def no_decoding(self: object) -> None:
        raise AssertionError("a bomb must be refused before any pixel is decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    with pytest.raises(MediaError, match="2500000000 pixels"):
        probe_media(path, max_pixels=100_000_000)
    with pytest.raises(MediaError, match="100x100"):
        probe_media(png_declaring(100, 100), max_pixels=5000)


def test_mp4(make_mp4: Callable[..., Path], monkeypatch: pytest.MonkeyPatch) -> None:
    import cv2

    opened = []
    real = cv2.VideoCapture

    def counting(*args: object) -> cv2.VideoCapture:
        opened.append(args)
        return real(*args)

    written = make_mp4([np.zeros((96, 160, 3), np.uint8)] * 25, fps=10)
    path = written.rename(written.with_suffix(".jpg"))  # a misleading name
    monkeypatch.setattr(cv2, "VideoCapture", counting)
    info = probe_media(path)
    assert info.kind == "video" and (info.mime, info.ext) == ("video/mp4", ".mp4")
    assert (info.width, info.height) == (160, 96)
    assert info.duration == pytest.approx(2.5, abs=0.15)
    assert len(opened) == 1  # one open of the capture, no more


def test_rotated_video_reports_portrait(rotated_mp4: tuple[Path, np.ndarray]) -> None:
    path, expected = rotated_mp4
    info = probe_media(path)
    assert (info.height, info.width) == expected.shape[:2] and info.height > info.width


@pytest.mark.parametrize(
    "content",
    [np.random.default_rng(5).bytes(3000), b"just some text\n" * 20, b"\x00" * 500, b"%PDF-1.7\n" + b"x" * 100],
    ids=["random", "text", "zeros", "pdf"],
)
def test_neither_image_nor_video(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "file.mp4"
    path.write_bytes(content)
    with pytest.raises(MediaError, match="neither an image nor a video"):
        probe_media(path)


def test_empty_and_missing(tmp_path: Path) -> None:
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(MediaError, match="empty"):
        probe_media(tmp_path / "empty.png")
    with pytest.raises(FileNotFoundError):
        probe_media(tmp_path / "missing.png")


def test_broken_video_is_a_media_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.mov"
    path.write_bytes(b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00qt  " + b"\x00" * 64)
    with pytest.raises(MediaError):
        probe_media(path)


def test_audio_with_cover_art_is_not_a_video(tmp_path: Path) -> None:
    ffmpeg = shutil.which("ffmpeg")
    if not ffmpeg:
        pytest.skip("ffmpeg is not installed, so no audio file can be made")
    path = tmp_path / "song.m4a"
    subprocess.run(
        [ffmpeg, "-y", "-v", "error", "-f", "lavfi", "-i", "sine=duration=1", "-c:a", "aac", str(path)],
        check=True,
        capture_output=True,
    )
    with pytest.raises(MediaError, match="neither"):
        probe_media(path)


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"\x00\x00\x00\x20ftypisom", ("video/mp4", ".mp4")),
        (b"\x00\x00\x00\x14ftypqt  ", ("video/quicktime", ".mov")),
        (b"\x00\x00\x00\x14ftyp3gp5", ("video/3gpp", ".3gp")),
        (b"\x00\x00\x00\x20ftypM4A ", None),
        (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01webm", ("video/webm", ".webm")),
        (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01matroska", ("video/x-matroska", ".mkv")),
        (b"RIFF\x00\x00\x00\x00AVI LIST", ("video/x-msvideo", ".avi")),
        (b"RIFF\x00\x00\x00\x00WAVEfmt ", None),
        (b"ID3\x04\x00", None),
    ],
)
def test_container_sniffing(head: bytes, expected: tuple[str, str] | None) -> None:
    assert sniff_video_container(head) == expected
