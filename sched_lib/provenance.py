"""One-line provenance for notebook outputs.

The second code cell of every chapter and lab notebook prints :func:`provenance_line`, so
that every recorded output states what produced it (DESIGN.md, "Notebooks"; the QuantEcon
``status.md`` idea). Nothing here may fail: where a piece of information cannot be found,
the line says ``unknown`` instead of raising.
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from sched_lib import __version__

__all__ = ["provenance_line"]

_PACKAGE_PARENT = Path(__file__).resolve().parent.parent


def _git(*args: str) -> str | None:
    """Run ``git <args>`` in the package's parent directory; return stdout or None."""
    try:
        out = subprocess.run(
            ["git", *args],
            cwd=_PACKAGE_PARENT,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def _git_commit() -> str | None:
    """Short SHA of the checkout that holds this package (editable install), else None.

    The package's parent directory must be the top level of the git work tree: a
    package installed into a virtual environment that happens to live inside some
    other git repository must not report that repository's commit.
    """
    top = _git("rev-parse", "--show-toplevel")
    if top is None:
        return None
    try:
        if Path(top).resolve() != _PACKAGE_PARENT:
            return None
    except OSError:
        return None
    commit = _git("rev-parse", "--short", "HEAD")
    # Code that is not committed yet is not what the SHA names: say so.
    if commit and _git("status", "--porcelain", "--", "sched_lib"):
        commit += "+uncommitted"
    return commit


def _installed_commit() -> str | None:
    """Short SHA recorded by pip for a ``git+https://...`` install (PEP 610), else None.

    This is how a Colab install (``pip install "sched_lib @ git+..."``) knows its commit.
    """
    try:
        text = metadata.distribution("sched_lib").read_text("direct_url.json")
        commit = json.loads(text or "{}").get("vcs_info", {}).get("commit_id")
    except Exception:  # noqa: BLE001 - provenance must never fail
        return None
    return commit[:7] if commit else None


def _torch_and_device() -> tuple[str, str]:
    """The torch version and the device a lab would use ("cpu" or the CUDA device name).

    A page that never imported torch (the chapters compute in NumPy) is not made to import it just
    for this line (about 2 s per page): the version comes from the package metadata and the device is
    ``cpu``, since nothing on that page can have used a GPU.
    """
    if "torch" not in sys.modules:
        try:
            return metadata.version("torch"), "cpu"
        except metadata.PackageNotFoundError:
            return "not installed", "cpu"
    import torch

    device = "cpu"
    try:
        if torch.cuda.is_available():
            device = torch.cuda.get_device_name(0)
    except Exception:  # noqa: BLE001 - a broken driver still gets a provenance line
        device = "cuda (name unavailable)"
    return torch.__version__, device


def provenance_line(preset: str | None = None) -> str:
    """Return one line saying what produced a notebook's outputs.

    Format::

        sched_lib 0.1.0 | commit 1a2b3c4 | python 3.11.7 | torch 2.4.0 | device cpu | preset -

    The commit is the short SHA of the git checkout holding ``sched_lib`` (an editable
    install, ``git rev-parse --short HEAD`` run in the package's parent directory; with
    ``+uncommitted`` when ``sched_lib/`` differs from it), or the
    commit pip recorded for a ``git+`` install (Colab), or ``unknown``. The device is
    ``cpu`` or the name of CUDA device 0. Never raises.

    Parameters
    ----------
    preset : str or None
        The lab preset that produced the outputs (``"smoke"``, ``"cpu"``, ``"gpu"``);
        ``None`` (chapters) prints ``-``.

    Returns
    -------
    str
        A single line without a trailing newline.
    """
    commit = _git_commit() or _installed_commit() or "unknown"
    torch_version, device = _torch_and_device()
    return " | ".join(
        [
            f"sched_lib {__version__}",
            f"commit {commit}",
            f"python {platform.python_version()}",
            f"torch {torch_version}",
            f"device {device}",
            f"preset {preset if preset else '-'}",
        ]
    )
