"""Print ``name==floor`` for every ``name>=floor`` requirement of the package and its runtime extras.

`.ci/lowest` installs with these as pip constraints, so the suite runs once
against the oldest versions pyproject.toml allows.
"""

from __future__ import annotations

import re
import sys
import tomllib

# Test and docs tools are not what users install with the package; they stay at their newest.
TOOL_EXTRAS = {"test", "docs"}


def floors(pyproject: dict) -> list[str]:
    project = pyproject["project"]
    requirements = list(project["dependencies"])
    for extra, items in project.get("optional-dependencies", {}).items():
        if extra not in TOOL_EXTRAS:
            requirements += items
    pins = []
    for requirement in requirements:
        match = re.fullmatch(r"([A-Za-z0-9._-]+)(\[[^\]]*\])?\s*>=\s*([0-9][0-9A-Za-z.]*)", requirement.strip())
        if match is None:
            sys.exit(f"floors.py: cannot read a floor from {requirement!r}; write it as name>=version")
        pins.append(f"{match.group(1)}=={match.group(3)}")
    return pins


if __name__ == "__main__":
    with open(sys.argv[1] if len(sys.argv) > 1 else "pyproject.toml", "rb") as fp:
        print("\n".join(floors(tomllib.load(fp))))
