"""A web process in celery mode: a burst of cold covers, then what it loaded (run by test_jobs_memory).

Prints JSON: the statuses, whether TensorFlow is imported or mapped, and the peak RSS in MiB.
"""

from __future__ import annotations

import json
import sys
from concurrent.futures import ThreadPoolExecutor

from jobs_app import create_app


def main(paths: list[str]) -> None:
    app = create_app()

    def get(path: str) -> int:
        with app.test_client() as client:
            return client.get(path).status_code

    with ThreadPoolExecutor(max_workers=4) as pool:
        statuses = list(pool.map(get, paths))
    with open("/proc/self/maps", encoding="utf-8") as fp:
        mapped = "tensorflow" in fp.read()
    with open("/proc/self/status", encoding="utf-8") as fp:
        peak = next(int(line.split()[1]) for line in fp if line.startswith("VmHWM:"))
    out = {"statuses": statuses, "imported": "tensorflow" in sys.modules, "mapped": mapped, "peak_mib": peak / 1024}
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1:])
