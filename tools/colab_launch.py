"""Sphinx extension (``sphinx.local_extensions`` in ``_config.yml``): the Colab launch button opens the
Colab edition of a notebook, and only appears where Colab can open the page.

sphinx-book-theme forms the Colab URL as ``{colab_url}/github/{org}/{repo}/blob/{branch}/{path}``
(``sphinx_book_theme/header_buttons/launch.py``), where ``branch`` is ``repository.branch``, the one branch
every launch service and the edit button share. JB1 has no separate setting for Colab. The Colab editions
written by ``tools/colab_notebooks.py`` are published by CI on their own branch, so this extension runs
right after the theme's ``add_launch_buttons`` (``html-page-context``, priority 501) and

- points each Colab button at ``colab_branch`` (a Sphinx config value, set under ``sphinx.config``);
  with ``colab_branch`` empty the theme's URL is left as it is;
- removes the Colab button from pages whose source is not an ``.ipynb`` (``status.md`` is a MyST
  notebook: the theme offers Colab a ``.md`` file, which Colab cannot open), and the launch menu with it
  when nothing else is left in it;
- makes the ".ipynb" download button of every course notebook serve its Colab edition (glued values,
  numbers and citations filled in, directives as plain Markdown, solutions folded) instead of the raw MyST
  source: when the build has finished, it writes the editions into the site as ``_colab/<docname>.ipynb``
  with ``tools/colab_notebooks.py`` (from the pages just built), and each button links there.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

from sphinx.util import logging

__all__ = ["EDITIONS_DIR", "colab_button_url", "setup"]

#: Where, inside the built site, the Colab editions are written (the download buttons link there).
EDITIONS_DIR = "_colab"
logger = logging.getLogger(__name__)


def _colab_notebooks():
    """``tools/colab_notebooks.py``, imported by path (``tools/`` is not a package)."""
    if "colab_notebooks" in sys.modules:
        return sys.modules["colab_notebooks"]
    spec = importlib.util.spec_from_file_location("colab_notebooks", Path(__file__).with_name("colab_notebooks.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules["colab_notebooks"] = module
    spec.loader.exec_module(module)
    return module


def _edition_docs(app) -> frozenset[str]:
    """Docnames of the notebooks that get a Colab edition (chapters and labs)."""
    if not hasattr(app, "_colab_edition_docs"):
        root = Path(app.srcdir)
        notebooks = _colab_notebooks().notebooks(root)
        app._colab_edition_docs = frozenset(p.relative_to(root).with_suffix("").as_posix() for p in notebooks)
    return app._colab_edition_docs


def colab_button_url(url: str, colab_url: str, branch: str, colab_branch: str) -> str:
    """The theme's Colab ``url`` with the ``/blob/{branch}/`` part moved to ``colab_branch``."""
    old = f"{colab_url.rstrip('/')}/github/"
    if not colab_branch or not url.startswith(old):
        return url
    head, sep, tail = url.partition(f"/blob/{branch}/")
    if not sep:
        raise ValueError(f"Colab URL {url!r} has no '/blob/{branch}/' part; the theme changed its URL form")
    return f"{head}/blob/{colab_branch}/{tail}"


def _launch_buttons(app, pagename: str, templatename: str, context: dict[str, Any], doctree) -> None:
    theme = app.config.html_theme_options or {}
    colab_url = (theme.get("launch_buttons") or {}).get("colab_url", "").strip().rstrip("/")
    header_buttons = context.get("header_buttons")
    if not header_buttons:
        return
    is_ipynb = Path(app.env.doc2path(pagename)).suffix == ".ipynb"
    if is_ipynb and pagename in _edition_docs(app):
        _download_edition(header_buttons, f"{context['pathto'](EDITIONS_DIR, 1)}/{pagename}.ipynb")
    if not colab_url:
        return
    branch = theme.get("repository_branch") or "master"  # the theme's default (launch.py, _get_branch)
    for group in list(header_buttons):
        if not isinstance(group, dict) or group.get("label") != "launch-buttons":
            continue
        kept = []
        for button in group.get("buttons", []):
            url = button.get("url", "")
            if url.startswith(f"{colab_url}/github/"):
                if not is_ipynb:
                    continue
                button = {**button, "url": colab_button_url(url, colab_url, branch, app.config.colab_branch)}
            kept.append(button)
        if kept:
            group["buttons"] = kept
        else:
            header_buttons.remove(group)


def _download_edition(header_buttons: list, url: str) -> None:
    """Point the ".ipynb" download button (the theme's source download) at the Colab edition."""
    for group in header_buttons:
        if not isinstance(group, dict) or group.get("label") != "download-buttons":
            continue
        for button in group.get("buttons", []):
            if button.get("label") in ("download-source-button", "download-notebook-button") and button.get(
                "text"
            ) == ".ipynb":
                button["url"] = url
                button["tooltip"] = "Download the notebook (numbers filled in, solutions folded)"


def _write_editions(app, exception) -> None:
    """After a successful HTML build, write the Colab editions into the site (``_colab/``)."""
    if exception is not None or app.builder.format != "html":
        return
    module = _colab_notebooks()
    out = Path(app.outdir) / EDITIONS_DIR
    try:
        written = module.write_editions(Path(app.srcdir), Path(app.outdir).parent, out)
    except module.ConversionError as error:
        logger.warning("the Colab editions for the download buttons could not be written: %s", error)
        return
    logger.info("colab_launch: wrote %d notebook downloads (Colab editions) to %s", len(written), out)


def setup(app):
    app.add_config_value("colab_branch", "", "html", types=[str])
    app.connect("html-page-context", _launch_buttons, priority=502)
    app.connect("build-finished", _write_editions)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
