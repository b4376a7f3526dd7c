"""Events: outbox, signals and webhook delivery (filled in by the material issue)."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Start what events need on ``app`` (nothing yet)."""
