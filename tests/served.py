"""Fetch a file URL as a browser does: through the app, and on to the bucket when the app redirects there (s3)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import requests


def get_served(client: Any, location: str) -> tuple[int, bytes, Any]:
    """(status, body, headers) of ``location``; a 302 to an absolute URL (a presigned GET) is followed.

    ``location`` may itself be the store's URL (s3 covers and previews redirect straight to their objects).
    """
    if location.startswith(("http://", "https://")) and urlsplit(location).hostname != "localhost":
        with requests.get(location, timeout=10) as got:
            return got.status_code, got.content, got.headers
    with client.get(location) as resp:
        target = resp.headers.get("Location", "")
        if resp.status_code != 302 or not target.startswith(("http://", "https://")):
            return resp.status_code, resp.get_data(), resp.headers
    with requests.get(target, timeout=10) as got:
        return got.status_code, got.content, got.headers
