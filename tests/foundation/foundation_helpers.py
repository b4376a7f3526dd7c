"""Media bytes and storage/database probes shared by the foundation tests."""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np
from flask import Flask
from PIL import Image
from sqlalchemy import func, select

from flask_medialib import get_state
from flask_medialib.models import Media

API = "/api/v1"


def png_bytes(width: int = 40, height: int = 20, color: str = "red") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, "PNG")
    return out.getvalue()


def jpeg_bytes(width: int = 40, height: int = 20) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), "blue").save(out, "JPEG")
    return out.getvalue()


def mp4_bytes(folder: Path, width: int = 64, height: int = 48, frames: int = 20, fps: int = 10) -> bytes:
    path = folder / "clip.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    assert writer.isOpened()
    for i in range(frames):
        writer.write(np.full((height, width, 3), (i * 10) % 255, np.uint8))
    writer.release()
    data = path.read_bytes()
    path.unlink()
    return data


def stored_files(app: Flask) -> list[str]:
    """Every file under the storage root, staging folder tmp/ included (s3: every object under the prefix)."""
    storage = get_state(app).storage
    if hasattr(storage, "bucket"):  # s3, listed with the storage's own client
        pages = storage.client.get_paginator("list_objects_v2").paginate(Bucket=storage.bucket, Prefix=storage.prefix)
        return sorted(obj["Key"][len(storage.prefix) :] for page in pages for obj in page.get("Contents", []))
    root = Path(app.config["MEDIALIB_STORAGE_ROOT"])
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def media_count(app: Flask) -> int:
    session = get_state(app).session
    session.expire_all()
    return int(session.execute(select(func.count()).select_from(Media)).scalar_one())
