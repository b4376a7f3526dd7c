"""Sphinx extension: the configuration table, generated from ``flask_medialib.config.KEYS``.

``.. medialib-config::`` renders one row per key (name, default, meaning), so
the page can never drift from the code.
"""

from __future__ import annotations

from typing import Any

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective


def _default(value: Any) -> str:
    if value is None:
        return "``None``"
    if isinstance(value, int) and not isinstance(value, bool) and value >= 10_000:
        return f"``{value}`` ({value:_})".replace("_", " ")
    return f"``{value!r}``"


class ConfigTable(SphinxDirective):
    has_content = False

    def run(self) -> list[nodes.Node]:
        from flask_medialib.config import KEYS

        lines = [
            ".. list-table::",
            "   :header-rows: 1",
            "   :widths: 30 15 55",
            "",
            "   * - Key",
            "     - Default",
            "     - Meaning",
        ]
        for key in KEYS:
            lines += [
                f"   * - ``{key.name}``",
                f"     - {_default(key.default)}",
                f"     - {key.doc}",
            ]
        container = nodes.container(classes=["medialib-config"])
        self.state.nested_parse(StringList(lines, source="flask_medialib/config.py"), self.content_offset, container)
        return [container]


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("medialib-config", ConfigTable)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
