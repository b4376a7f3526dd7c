"""Route metadata for the OpenAPI document: ``@doc(...)`` under ``@bp.route``.

The document is built from these annotations and the marshmallow schemas they
name, so every route of the extension says what it takes and answers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


def doc(
    *,
    summary: str,
    tag: str,
    query: Any = None,
    body: Any = None,
    body_type: str = "application/json",
    responses: dict[int, Any] | None = None,
    errors: tuple[int, ...] = (),
) -> Callable[[F], F]:
    """Attach OpenAPI facts to a view.

    ``query`` and ``body`` are marshmallow schema classes (``body`` may be a
    string such as ``"binary"`` for raw uploads); ``responses`` maps a status
    to a schema class, ``None`` (no body) or a content type string such as
    ``"image/*"``; ``errors`` lists error statuses, rendered with the
    blueprint's error shape.
    """

    def decorate(view: F) -> F:
        view._medialib_doc = {  # type: ignore[attr-defined]
            "summary": summary,
            "tag": tag,
            "query": query,
            "body": body,
            "body_type": body_type,
            "responses": responses or {200: None},
            "errors": errors,
        }
        return view

    return decorate
