"""Thin blueprints: HTTP in, service calls, HTTP out."""

from __future__ import annotations

from flask import Blueprint


def blueprints() -> list[Blueprint]:
    from . import cover, files, material, meta, smh

    return [smh.bp, cover.bp, files.bp, material.bp, meta.bp]
