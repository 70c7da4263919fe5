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
  when nothing else is left in it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["colab_button_url", "setup"]


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
    if not colab_url or not header_buttons:
        return
    branch = theme.get("repository_branch") or "master"  # the theme's default (launch.py, _get_branch)
    is_ipynb = Path(app.env.doc2path(pagename)).suffix == ".ipynb"
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


def setup(app):
    app.add_config_value("colab_branch", "", "html", types=[str])
    app.connect("html-page-context", _launch_buttons, priority=502)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
