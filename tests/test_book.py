"""Structural checks on the book: TOC completeness and the two standard first cells.

These guard conventions from DESIGN.md ("Notebooks", "Layout"):

- chapters are committed without outputs (the build executes them);
- every page in ``chapters/`` and ``labs/`` is in ``_toc.yml`` and every TOC entry exists
  (``only_build_toc_files`` would otherwise hide a stale page silently);
- the first code cell installs ``sched_lib`` in Colab from exactly ``repository.url`` of
  ``_config.yml`` (the one place the URL is written);
- the second code cell prints the provenance line;
- bookkeeping cells (only glue calls, asserts and prints) are folded or removed on the website with a
  myst-nb tag, so that the visible code is the code that teaches.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
PAGE_DIRS = ("chapters", "labs")
PAGE_SUFFIXES = (".ipynb", ".md")
TOC_SUFFIXES = (".ipynb", ".md", ".rst")


def _is_page(path: Path) -> bool:
    """A book page: .ipynb/.md, not a partial (``_*``), not inside a hidden or ``_`` folder."""
    rel = path.relative_to(ROOT)
    return path.suffix in PAGE_SUFFIXES and not any(
        part.startswith(("_", ".")) for part in rel.parts
    )


def _pages() -> list[Path]:
    found = []
    for folder in PAGE_DIRS:
        if (ROOT / folder).is_dir():
            found += [p for p in sorted((ROOT / folder).rglob("*")) if p.is_file() and _is_page(p)]
    return found


def _notebooks() -> list[Path]:
    return [p for p in _pages() if p.suffix == ".ipynb"]


def _chapter_notebooks() -> list[Path]:
    return [p for p in _notebooks() if p.relative_to(ROOT).parts[0] == "chapters"]


def _toc_files(node) -> list[str]:
    """Every ``file:`` (and the ``root``) in a sphinx-external-toc structure, in order."""
    files = []
    if isinstance(node, dict):
        for key in ("root", "file"):
            if key in node:
                files.append(str(node[key]))
        for value in node.values():
            if isinstance(value, (dict, list)):
                files += _toc_files(value)
    elif isinstance(node, list):
        for item in node:
            files += _toc_files(item)
    return files


def _strip_suffix(name: str) -> str:
    for suffix in TOC_SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def _code_cells(path: Path) -> list[str]:
    nb = nbformat.read(path, as_version=4)
    return [cell.source for cell in nb.cells if cell.cell_type == "code"]


def _ids(paths: list[Path]) -> list[str]:
    return [p.relative_to(ROOT).as_posix() for p in paths]


@pytest.fixture(scope="module")
def config() -> dict:
    return yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf8"))


@pytest.fixture(scope="module")
def repository_url(config) -> str:
    url = (config.get("repository") or {}).get("url")
    assert url, "_config.yml has no repository.url"
    return url


@pytest.fixture(scope="module")
def toc_entries() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf8"))
    return [_strip_suffix(f) for f in _toc_files(toc)]


# --- (a) chapters are committed without outputs --------------------------------------


@pytest.mark.parametrize("path", _chapter_notebooks(), ids=_ids(_chapter_notebooks()))
def test_chapter_has_no_outputs(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    dirty = [
        i
        for i, cell in enumerate(nb.cells)
        if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None)
    ]
    assert not dirty, (
        f"{path.relative_to(ROOT)}: code cells {dirty} have outputs or execution counts; "
        "chapters are committed without outputs (clear them, e.g. "
        "`jupyter nbconvert --clear-output --inplace`)"
    )


@pytest.mark.parametrize("path", _notebooks(), ids=_ids(_notebooks()))
def test_notebook_stores_no_widget_state(path: Path) -> None:
    """Stored ipywidgets state (nbclient's default when a recorded run shows tqdm bars) makes myst-nb load the
    widget manager from a CDN, which breaks the offline site (tests/test_site.py): record with
    ``store_widget_state=False`` or delete ``metadata.widgets``."""
    nb = nbformat.read(path, as_version=4)
    assert "widgets" not in nb.metadata, f"{path.relative_to(ROOT)} stores widget state in metadata.widgets"


# --- (b) TOC and disk agree -------------------------------------------------------------


def test_every_page_is_in_toc(toc_entries) -> None:
    listed = set(toc_entries)
    missing = [
        p.relative_to(ROOT).as_posix()
        for p in _pages()
        if p.relative_to(ROOT).with_suffix("").as_posix() not in listed
    ]
    assert not missing, f"pages not in _toc.yml (add them or rename to _*): {missing}"


def test_every_toc_entry_exists(toc_entries) -> None:
    absent = [
        entry
        for entry in toc_entries
        if not any((ROOT / f"{entry}{suffix}").is_file() for suffix in TOC_SUFFIXES)
    ]
    assert not absent, f"_toc.yml entries with no file on disk: {absent}"


def test_toc_entries_are_unambiguous(toc_entries) -> None:
    """One source per page: no ``x.md`` beside ``x.ipynb`` (jupytext twins stay out of pages)."""
    twins = [
        entry
        for entry in toc_entries
        if sum((ROOT / f"{entry}{suffix}").is_file() for suffix in TOC_SUFFIXES) > 1
    ]
    assert not twins, f"TOC entries with more than one source file: {twins}"
    assert len(toc_entries) == len(set(toc_entries)), "a page is listed twice in _toc.yml"


# --- (c) the install cell uses the one repository URL --------------------------------

_PIP_GIT_URL = re.compile(r"git\+(\S+?)(?:[\"'\s]|$)")


@pytest.mark.parametrize("path", _notebooks(), ids=_ids(_notebooks()))
def test_install_cell_uses_repository_url(path: Path, repository_url: str) -> None:
    cells = _code_cells(path)
    assert cells, f"{path.relative_to(ROOT)} has no code cells"
    install = cells[0]
    assert '"google.colab" in sys.modules' in install, (
        f"{path.relative_to(ROOT)}: the first code cell must install only in Colab "
        '(guarded by `if "google.colab" in sys.modules:`)'
    )
    urls = _PIP_GIT_URL.findall(install)
    assert urls, f"{path.relative_to(ROOT)}: the first code cell has no `git+<url>` install"
    for url in urls:
        # An optional @ref (tag, branch or commit) may pin the install; the base must match.
        base = url.split("#", 1)[0]
        base = re.sub(r"@[^/]*$", "", base)
        assert base == repository_url, (
            f"{path.relative_to(ROOT)}: installs from {base!r}, "
            f"but _config.yml repository.url is {repository_url!r}"
        )


# --- (d) the provenance cell -------------------------------------------------------------


@pytest.mark.parametrize("path", _notebooks(), ids=_ids(_notebooks()))
def test_second_cell_prints_provenance(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert len(code) >= 2, f"{path.relative_to(ROOT)} has fewer than two code cells"
    cell = code[1]
    assert "from sched_lib.provenance import provenance_line" in cell.source
    assert re.search(r"print\(\s*provenance_line\(", cell.source), (
        f"{path.relative_to(ROOT)}: the second code cell must print(provenance_line(...))"
    )
    # Notebooks committed with outputs (labs) must show the recorded provenance line.
    if cell.outputs:
        text = "".join(
            out.get("text", "") if out.output_type == "stream" else ""
            for out in cell.outputs
        )
        assert re.search(r"^sched_lib \S+ \| commit \S+ \| .* \| preset \S+$", text, re.M), (
            f"{path.relative_to(ROOT)}: recorded output of the provenance cell is "
            f"not a provenance line: {text!r}"
        )


def test_provenance_line_format() -> None:
    from sched_lib import __version__
    from sched_lib.provenance import provenance_line

    line = provenance_line()
    assert "\n" not in line
    fields = line.split(" | ")
    assert [f.split(" ", 1)[0] for f in fields] == [
        "sched_lib",
        "commit",
        "python",
        "torch",
        "device",
        "preset",
    ]
    assert fields[0] == f"sched_lib {__version__}"
    assert fields[-1] == "preset -"
    assert provenance_line("smoke").endswith("| preset smoke")


@pytest.mark.parametrize("path", _notebooks(), ids=_ids(_notebooks()))
def test_notebook_runs_without_myst_nb(path: Path) -> None:
    """Colab has no myst-nb: numbers are glued through sched_lib.notebook.glue, which degrades to a no-op."""
    for source in _code_cells(path):
        assert "myst_nb" not in source, f"{path.name}: import glue from sched_lib.notebook, not myst_nb"


# --- (e) bookkeeping is folded on the website ------------------------------------------------

_FOLDED = {"hide-input", "hide-cell", "remove-input", "remove-cell"}
_BOOKKEEPING_CALLS = {"glue", "g", "print"}


def _is_bookkeeping(statement: ast.stmt) -> bool:
    """A glue call, a print, an assert, a value glued and kept, or a loop of those."""
    def called(node) -> str | None:
        return node.func.id if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) else None

    if isinstance(statement, ast.Assert):
        return True
    if isinstance(statement, ast.Expr) and called(statement.value) in _BOOKKEEPING_CALLS:
        return True
    if isinstance(statement, ast.Assign) and called(statement.value) in ("glue", "g"):
        return True
    return isinstance(statement, ast.For) and all(_is_bookkeeping(s) for s in statement.body)


@pytest.mark.parametrize("path", _chapter_notebooks(), ids=_ids(_chapter_notebooks()))
def test_bookkeeping_cells_are_folded(path: Path) -> None:
    """A chapter's visible code teaches: glue calls, asserts and prints that end a visible cell (they can
    always move to a cell of their own, after it) go into a cell tagged ``hide-input`` (its output, the
    printed numbers, stays visible) or ``remove-cell`` (nothing to show). Solutions are folded already."""
    nb = nbformat.read(path, as_version=4)
    visible = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or _FOLDED & set(cell.metadata.get("tags", [])):
            continue
        if cell.metadata.get("cellView") == "form":  # a solution, folded in its dropdown
            continue
        try:
            body = ast.parse(re.sub(r"(?m)^(\s*)[%!]", r"\1#", cell.source)).body
        except SyntaxError:
            continue
        if body and _is_bookkeeping(body[-1]):
            visible.append(index)
    assert not visible, (
        f"{path.relative_to(ROOT)}: visible code cells {visible} end with glue calls, asserts or prints; move "
        "them to a cell after it tagged `hide-input` (output kept) or `remove-cell` (nothing to show)"
    )


@pytest.mark.parametrize("path", _notebooks(), ids=_ids(_notebooks()))
def test_figures_are_phone_legible_and_described(path: Path) -> None:
    """Every matplotlib figure of a page is checked for fonts a phone shows at >= 9 pt
    (``sched_lib.plotting.check_phone_legible``, which raises in the cell, so nbval fails it), is at most
    ``FIGURE_WIDTH`` inches wide, and carries a caption and an alt text; captions write symbols as rendered
    maths (``$\\lambda_t$``), not as raw "λ_t"."""
    from sched_lib.plotting import FIGURE_WIDTH

    nb = nbformat.read(path, as_version=4)
    problems = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        draws = re.search(r"plt\.(?:subplots|figure)\(", cell.source)
        if draws and "check_phone_legible(fig)" not in cell.source:
            problems.append(f"cell {index} draws a figure without check_phone_legible(fig)")
        for width in re.findall(r"figsize=\(\s*([\d.]+)\s*,", cell.source):
            if float(width) > FIGURE_WIDTH:
                problems.append(f"cell {index}: figsize width {width} > {FIGURE_WIDTH} inches")
        figure = cell.metadata.get("mystnb", {}).get("figure")
        if figure is None:
            continue
        caption = figure.get("caption", "")
        alt = cell.metadata.get("mystnb", {}).get("image", {}).get("alt", "")
        if not caption.strip() or not alt.strip():
            problems.append(f"cell {index}: a figure needs a caption and an alt text")
        outside_maths = re.sub(r"\$[^$]*\$|`[^`]*`", "", caption)
        if re.search(r"(?<![\w])[A-Za-z\u0370-\u03ff]_[A-Za-z0-9{]", outside_maths):  # "λ_t", not "scaled_linear"
            problems.append(f"cell {index}: caption has raw subscripts outside $...$: {caption[:80]!r}")
    assert not problems, f"{path.relative_to(ROOT)}: " + "; ".join(problems)
