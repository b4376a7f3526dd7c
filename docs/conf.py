"""Sphinx configuration of the flask-medialib docs (``make docs``)."""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.abspath("_ext"))
sys.path.insert(0, os.path.abspath(".."))

from flask_medialib import __version__

project = "flask-medialib"
author = "flask-medialib developers"
copyright = "flask-medialib developers"  # Sphinx reads this name
version = release = __version__

extensions = ["medialib_docs"]
exclude_patterns = ["_build"]
html_theme = "alabaster"
html_static_path: list[str] = []
html_theme_options = {"description": "Albums, face-aware covers and a material API for Flask apps"}
highlight_language = "python"
nitpicky = False
