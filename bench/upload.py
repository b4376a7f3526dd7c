"""8. A 200 MB video through the SMH multipart upload flow, on each storage: time and the app's peak RSS.

gunicorn (1 sync worker, PostgreSQL, Redis) serves the example app, on local
storage and on S3 (moto's standalone server on this machine). The client
drives the flow as the JS SDK's Uploader does: begin (``POST ?multipart&filesize``),
32 MB parts to ``{domain}{path}?partNumber=n&uploadId=...``, confirm with the
CRC-64. The worker's peak RSS (VmHWM) is read after the confirm.

    python -m bench.upload [--mb 200]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import requests

from bench.common import (
    APP_SPEC,
    app_env,
    free_port,
    gunicorn,
    make_app,
    pg_database,
    print_table,
    proc_status,
    redis_url,
    write_section,
)
from bench.media import FFMPEG

PART = 32 * 1024 * 1024  # the Uploader's default partFileSize
BUCKET = "medialib-bench"


def make_video(folder: Path, mb: int) -> Path:
    """An MP4 of about ``mb`` MB (a test pattern at a high bitrate)."""
    out = folder / "big.mp4"
    seconds = 10
    rate = f"{mb * 8 // seconds}M"
    source = f"testsrc2=size=1280x720:rate=25:duration={seconds}"
    argv = [FFMPEG, "-loglevel", "error", "-y", "-f", "lavfi", "-i", source,
            "-c:v", "mpeg4", "-b:v", rate, "-minrate", rate, "-maxrate", rate, "-bufsize", "8M", str(out)]  # fmt: skip
    subprocess.run(argv, check=True, timeout=600)
    return out


@contextlib.contextmanager
def moto(folder: Path) -> Iterator[str]:
    """moto's S3 server with one bucket; its endpoint URL."""
    import boto3

    port = free_port()
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"}
    with (folder / "moto.log").open("wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                                stdout=log, stderr=subprocess.STDOUT, env=env)  # fmt: skip
    endpoint = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            with contextlib.suppress(requests.RequestException):
                requests.get(endpoint, timeout=1).close()
                break
            time.sleep(0.2)
        client = boto3.session.Session(aws_access_key_id="bench", aws_secret_access_key="bench").client(
            "s3", endpoint_url=endpoint, region_name="us-east-1"
        )
        client.create_bucket(Bucket=BUCKET)
        client.close()
        yield endpoint
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def upload(base: str, token: str, video: Path) -> tuple[float, float, float]:
    """Seconds for (begin + parts, confirm, all) of the multipart flow."""
    from flask_medialib.crc import crc64_file

    size = video.stat().st_size
    crc = crc64_file(str(video))  # the client's own work, not timed
    api = f"{base}/api/v1/file/bench/-"
    start = time.perf_counter()
    with requests.Session() as http:
        begun = http.post(f"{api}/big.mp4?multipart=1&filesize={size}&access_token={token}", json={}, timeout=60)
        begun.raise_for_status()
        target = begun.json()
        with video.open("rb") as fh:
            number = 1
            while chunk := fh.read(PART):
                url = f"http://{target['domain']}{target['path']}?partNumber={number}&uploadId={target['uploadId']}"
                http.put(url, data=chunk, headers=target["headers"], timeout=300).raise_for_status()
                number += 1
        sent = time.perf_counter()
        done = http.post(f"{api}/{target['confirmKey']}?confirm=1&access_token={token}", json={"crc64": crc},
                         timeout=600)  # fmt: skip
        done.raise_for_status()
    end = time.perf_counter()
    return sent - start, end - sent, end - start


def run_backend(name: str, video: Path, folder: Path, extra: dict[str, str]) -> list[str]:
    with pg_database(f"upload_{name}") as database:
        env = app_env(database, redis_url("upload"), folder / f"storage-{name}", **extra)
        app = make_app(env)
        with app.app_context():
            from flask_medialib import auth, get_state
            from flask_medialib.services import library as lib

            library, _ = lib.create_library("bench")
            token, _ = auth.issue_token(library, grants=frozenset({"admin"}), ttl=86_400)
            get_state().session.commit()
            get_state().db.engine.dispose()
        server = gunicorn(f"upload-{name}", APP_SPEC, env, workers=1)
        with server.start(expect_workers=1):
            (worker,) = server.workers
            idle = proc_status(worker, "VmHWM")
            parts, confirm, total = upload(server.base, token, video)
            peak = proc_status(worker, "VmHWM")
    size_mb = video.stat().st_size / 1e6
    return [name, f"{size_mb:.0f}", f"{parts:.1f}", f"{confirm:.1f}", f"{total:.1f}", f"{size_mb / total:.0f}",
            f"{idle / 2**20:.0f}", f"{peak / 2**20:.0f}"]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mb", type=int, default=200)
    run(parser.parse_args().mb)


def run(size_mb: int = 200) -> None:
    rows = []
    with tempfile.TemporaryDirectory(prefix="medialib-bench-upload-") as tmp, moto(Path(tmp)) as endpoint:
        s3 = {"FLASK_MEDIALIB_STORAGE": "s3", "FLASK_MEDIALIB_S3_BUCKET": BUCKET,
              "FLASK_MEDIALIB_S3_ENDPOINT_URL": endpoint, "FLASK_MEDIALIB_S3_REGION": "us-east-1",
              "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"}  # fmt: skip
        for mb in (size_mb // 4, size_mb):  # the same flow at a quarter of the size: RSS must not follow it
            folder = Path(tmp) / str(mb)
            folder.mkdir()
            video = make_video(folder, mb)
            rows.append(run_backend("local", video, folder, {}))
            rows.append(run_backend("s3 (moto)", video, folder, s3))
            video.unlink()
    headers = ["storage", "MB", "begin + parts (s)", "confirm (s)", "total (s)", "MB/s", "worker RSS idle (MiB)",
               "worker peak RSS (MiB)"]  # fmt: skip
    text = print_table(headers, rows, "SMH multipart upload")
    body = (
        f"An MP4 of {rows[0][1]} MB, then one of {rows[-1][1]} MB, through the SMH multipart flow as the JS SDK's "
        "Uploader drives it (begin, "
        f"{PART // 2**20} MB parts, confirm with the CRC-64), gunicorn with 1 sync worker, PostgreSQL, Redis. "
        "Parts reach the app on both storages (the SDKs' part URLs cannot carry an S3 signature): on local "
        "storage each is streamed to a staging file, and confirm joins them, checks the CRC-64, probes the "
        "video and stores it; on s3 each part is streamed through a temporary file into an object of the "
        "bucket (moto's server on this machine), so any web host may take any part, and confirm reads them "
        "once for the CRC-64 and the probe and joins them inside the bucket into the media's key "
        "(UploadPartCopy). Peak RSS is the worker's "
        "VmHWM after the confirm (a fresh worker for each row); compare the two sizes.\n\n" + text
    )
    write_section("upload", "9. SMH multipart upload of a large video", body)


if __name__ == "__main__":
    main()
