"""One-line provenance for notebook outputs.

The second code cell of every chapter and lab notebook prints :func:`provenance_line`, so
that every recorded output states what produced it (DESIGN.md, "Notebooks"; the QuantEcon
``status.md`` idea). Nothing here may fail: where a piece of information cannot be found,
the line says ``unknown`` instead of raising.
"""

from __future__ import annotations

import json
import platform
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from sched_lib import __version__

__all__ = ["provenance_line", "recorded_provenance", "git_available", "sched_lib_changed_since", "lab_status_rows"]

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


# ------------------------------------------------------------------------------------------------
# The labs' recorded provenance, for the status page
# ------------------------------------------------------------------------------------------------

_LINE = re.compile(r"sched_lib \S+ \| commit (?P<commit>\S+) \| python \S+ \| torch \S+ \| device (?P<device>.+?) \| "
                   r"preset (?P<preset>\S+)")
_WALL = re.compile(r"wall time (?P<seconds>\d+(?:\.\d+)?) s")


def recorded_provenance(notebook) -> dict:
    """What a recorded lab notebook says produced its outputs: a dict with ``lab`` (the file's stem),
    ``commit``, ``device`` and ``preset`` (from the provenance line its second code cell printed) and
    ``wall_s`` (from its closing "wall time N s" line; None if absent). Fields it cannot find are
    ``"unknown"``. Never raises for a readable notebook."""
    path = Path(notebook)
    found = dict(lab=path.stem, commit="unknown", device="unknown", preset="unknown", wall_s=None)
    cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
    for cell in cells:
        for out in cell.get("outputs", []) if cell.get("cell_type") == "code" else []:
            text = out.get("text", "")
            text = "".join(text) if isinstance(text, list) else str(text)
            m = _LINE.search(text)
            if m and found["commit"] == "unknown":
                found.update(commit=m["commit"], device=m["device"], preset=m["preset"])
            w = _WALL.search(text)
            if w:
                found["wall_s"] = float(w["seconds"])
    return found


def git_available() -> bool:
    """Whether git runs and the package's parent directory is a git work tree."""
    return _git("rev-parse", "--is-inside-work-tree") == "true"


def sched_lib_changed_since(commit: str) -> str:
    """Whether ``sched_lib/`` differs between ``commit`` and the checkout that holds this package
    (its working tree, uncommitted changes included), computed with git: ``"no"``, ``"yes: ..."``
    naming how many files and commits, or a sentence saying why it cannot be told (git unavailable, an
    unknown or missing commit, or a recording made from uncommitted code)."""
    if not git_available():
        return "cannot tell: git is not available here"
    if commit == "unknown":
        return "cannot tell: the recording names no commit"
    base = commit.removesuffix("+uncommitted")
    if _git("rev-parse", "--verify", "--quiet", f"{base}^{{commit}}") is None:
        return f"cannot tell: commit {base} is not in this repository"
    files = _git("diff", "--name-only", base, "--", "sched_lib")
    n_files = len(files.splitlines()) if files else 0
    n_commits = int(_git("rev-list", "--count", f"{base}..HEAD", "--", "sched_lib") or 0)
    if commit.endswith("+uncommitted"):
        return (f"cannot tell: recorded from uncommitted changes on top of {base} ({n_files} files of sched_lib "
                "differ from that commit now)")
    if n_files == 0:
        return "no"
    names = ", ".join(Path(f).name for f in files.splitlines()) if n_files <= 3 else f"{n_files} files"
    return f"yes: {names}, in {n_commits} commit{'s' * (n_commits != 1)} since"


def lab_status_rows(labs_dir=None) -> list:
    """One dict per recorded lab (``labs/*.ipynb``, sorted): :func:`recorded_provenance` plus ``changed``,
    :func:`sched_lib_changed_since` of its commit. For the book's status page."""
    labs_dir = Path(labs_dir) if labs_dir is not None else _PACKAGE_PARENT / "labs"
    rows = []
    for path in sorted(labs_dir.glob("*.ipynb")):
        row = recorded_provenance(path)
        row["changed"] = sched_lib_changed_since(row["commit"])
        rows.append(row)
    return rows
