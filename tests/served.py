"""Fetch a file URL as a browser does: through the app, and on to the bucket when the app redirects there (s3)."""

from __future__ import annotations

from typing import Any

import requests


def get_served(client: Any, location: str) -> tuple[int, bytes, Any]:
    """(status, body, headers) of ``location``; a 302 to an absolute URL (a presigned GET) is followed."""
    with client.get(location) as resp:
        target = resp.headers.get("Location", "")
        if resp.status_code != 302 or not target.startswith(("http://", "https://")):
            return resp.status_code, resp.get_data(), resp.headers
    with requests.get(target, timeout=10) as got:
        return got.status_code, got.content, got.headers
