"""Sphinx configuration for the hotreload documentation.

Build: ``sphinx-build -W --keep-going -b html docs docs/_build/html`` (warnings are errors).
The configuration reference is generated from ``hotreload_ext.HotReload`` by ``_ext/``.
"""

from __future__ import annotations

import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
# The package from this checkout, even if another version is installed; and the local extension.
sys.path.insert(0, str(DOCS.parent))
sys.path.insert(0, str(DOCS / "_ext"))

import hotreload_ext  # noqa: E402

project = "hotreload"
author = "The hotreload developers"
copyright = "2026, The hotreload developers"
release = hotreload_ext.__version__
version = ".".join(release.split(".")[:2])

extensions = ["myst_parser", "hotreload_config"]

root_doc = "index"
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
# _generated/ is pulled in by `.. include::`, not built as pages of its own.
exclude_patterns = ["_build", "_generated", "_ext", "Thumbs.db", ".DS_Store"]

nitpicky = False
myst_heading_anchors = 3

html_theme = "alabaster"
html_title = f"hotreload {release}"
html_theme_options = {
    "description": "Edit a module, run the next cell, keep your session.",
    "fixed_sidebar": True,
}
