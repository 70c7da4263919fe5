"""Sphinx extension (``sphinx.local_extensions`` in ``_config.yml``): no second search button in the header.

sphinx-book-theme 1.3 turns the pydata-sphinx-theme header bar off by setting its ``navbar_*`` options to
empty in its ``theme.conf``, and puts the search field in the primary sidebar. pydata-sphinx-theme 0.17
decides ``navbar_persistent`` in Python instead: when ``html_theme_options`` has no such key it sets
``["search-button-field"]``, ignoring the inherited ``theme.conf``. So every page got a header bar holding a
second search field above the sidebar's (issue 10). Jupyter Book 1 writes ``html_theme_options`` itself and
passes no theme option through, so this handler sets the key, before the theme reads it, to what the book
theme meant: empty, no header bar. An explicit ``navbar_persistent`` in the options is left alone.
``tests/test_site.py::test_reader_layout`` checks that a reader sees one search button at 1400 and 390 px.
"""

from __future__ import annotations

__all__ = ["setup"]


def _no_header_search(app, config) -> None:
    options = config.html_theme_options
    if isinstance(options, dict):
        options.setdefault("navbar_persistent", [])


def setup(app):
    app.connect("config-inited", _no_header_search)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
