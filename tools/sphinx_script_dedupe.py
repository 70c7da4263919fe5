"""Sphinx extension (``sphinx.local_extensions`` in ``_config.yml``): write each inline ``<script>`` once.

Sphinx 7.4 (the Sphinx that JB1 allows, ``sphinx~=7.0``) adds an inline script registered after
``Builder.init()`` twice: ``Sphinx.add_js_file(None, body=...)`` hands the builder ``filename=None``, and
``StandaloneHTMLBuilder.prepare_writing`` re-adds the registry's copy as ``filename=''``
("add assets registered after Builder.init()"), which does not compare equal. sphinx-togglebutton's
``var togglebuttonSelector`` and sphinx-thebe's ``const THEBE_JS_URL`` are registered that way, so every page
got ``const THEBE_JS_URL`` twice and the browser reported
``Uncaught SyntaxError: Identifier 'THEBE_JS_URL' has already been declared`` (tests/test_site.py).

This handler runs last on ``html-page-context`` and drops the second of two scripts that differ only by
``None`` versus ``''`` as file name. Nothing else changes; with a Sphinx that does not duplicate, it does
nothing.
"""

from __future__ import annotations

__all__ = ["setup"]


def _key(js) -> tuple:
    attributes = getattr(js, "attributes", {}) or {}
    return (
        getattr(js, "filename", js) or "",
        getattr(js, "priority", None),
        tuple(sorted((k, str(v)) for k, v in attributes.items())),
    )


def _dedupe_scripts(app, pagename, templatename, context, doctree) -> None:
    scripts = context.get("script_files")
    if not isinstance(scripts, list):
        return
    seen = set()
    kept = []
    for js in scripts:
        key = _key(js)
        if key not in seen:
            seen.add(key)
            kept.append(js)
    scripts[:] = kept  # the builder's own list: Sphinx restores it before the next page


def setup(app):
    app.connect("html-page-context", _dedupe_scripts, priority=999)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
