"""The notebooks read well outside the book: in Colab, and in plain Jupyter.

What a reader sees where:

- **Website**: the MyST source, rendered by Jupyter Book.
- **Colab** (the website's "Colab" button): the *Colab edition* of the notebook, written by
  ``tools/colab_notebooks.py`` from the source and the website build, and published by CI on the branch
  ``sphinx.config.colab_branch``. Its markdown is plain Markdown + math: glued numbers, equation, figure,
  theorem and exercise numbers, citations and cross-links are filled in as the website shows them, and each
  solution is folded (prose in ``<details>``, code in a Colab form).
- **The source opened directly** (a clone in Jupyter, or Colab pointed at ``main``): readable, with the
  MyST markup visible: directive fences show as small code blocks, roles as raw text.

The tests:

(a) every exercise solution code cell (a code cell between a ``solution-start`` and a ``solution-end``
    markdown cell) has ``metadata.cellView == "form"`` and a first line ``# @title ...``, so that Colab folds
    it (in the source and in the edition);
(b) every MyST directive and role in every notebook's markdown has a plain-Markdown rendering in
    ``tools/colab_notebooks.py`` (no build needed: numbers and values are placeholders);
(c) with a website build present: the Colab edition of every notebook is complete (every glued value,
    number and citation resolves, nothing MyST is left), its code is the source's code, its solutions are
    folded (prose in ``<details>``; code in a Colab form and, for viewers that ignore forms, in a
    ``<details>`` block above it), its outputs hold no frozen widget, the built pages' Colab buttons open
    the edition (status.md, a MyST notebook Colab cannot open, has none), and each page's ".ipynb"
    download serves the edition that the build wrote into the site (``_colab/``);
(d) unit tests of the conversion and of the Colab button URL.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path, PurePosixPath

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "_build"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


colab = _load("colab_notebooks")
launch = _load("colab_launch")

NOTEBOOKS = colab.notebooks(ROOT)
IDS = [p.relative_to(ROOT).as_posix() for p in NOTEBOOKS]
HAVE_BUILD = (BUILD / "html" / "index.html").is_file() and (BUILD / "jupyter_execute").is_dir()
NO_BUILD = "no website build (_build/html, _build/jupyter_execute): run `jupyter-book build .` first"


def _docname(path: Path) -> str:
    return path.relative_to(ROOT).with_suffix("").as_posix()


@pytest.fixture(scope="module")
def config() -> dict:
    return yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf8"))


@pytest.fixture(scope="module")
def placeholder_book():
    """What the conversion knows without a build: repository, citations; numbers and values unknown."""
    return colab.Book.from_build(ROOT, ROOT / "_no_build_", strict=False)


@pytest.fixture(scope="module")
def built_book():
    if not HAVE_BUILD:
        pytest.skip(NO_BUILD)
    return colab.Book.from_build(ROOT, BUILD, strict=True)


# --- (a) solutions fold in Colab -----------------------------------------------------------------------


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_solution_code_cells_are_colab_forms(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    starts = sum(
        bool(re.search(r"(?m)^\s*(`{3,}|:{3,})\{solution-start\}", c.source))
        for c in nb.cells
        if c.cell_type == "markdown"
    )
    cells = colab.solution_code_cells(nb)
    if starts:
        assert cells, f"{path.name}: {starts} solutions but no solution code cell"
    bad = [
        index
        for index, cell in cells
        if cell.metadata.get("cellView") != "form" or not cell.source.lstrip().startswith("# @title")
    ]
    assert not bad, (
        f"{path.name}: solution code cells {bad} are not folded in Colab; give each the metadata "
        '`"cellView": "form"` and a first line `# @title Solution to exercise N`'
    )


# --- (b) every MyST construct has a Colab rendering ------------------------------------------------------


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_markdown_has_a_colab_rendering(path: Path, placeholder_book) -> None:
    try:
        edition = colab.colab_edition(path, placeholder_book, ROOT)
    except colab.ConversionError as error:
        pytest.fail(
            f"{error}\nEither write it with MyST that tools/colab_notebooks.py renders, or teach the "
            "script its plain-Markdown form."
        )
    leftovers = [
        found for cell in edition.cells if cell.cell_type == "markdown" for found in colab.leftover_myst(cell.source)
    ]
    assert not leftovers, f"{path.name}: MyST left in the Colab edition: {leftovers[:5]}"


# --- (c) the Colab edition made from the build -------------------------------------------------------------


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_colab_edition_is_complete(path: Path, built_book) -> None:
    source = nbformat.read(path, as_version=4)
    edition = colab.colab_edition(path, built_book, ROOT)  # strict: raises on anything unresolved
    nbformat.validate(edition)

    # The code is the source's code (only a solution's generic "# @title" gets the website's number).
    def code(nb):
        return [re.sub(r"^#\s*@title[^\n]*", "# @title", c.source) for c in nb.cells if c.cell_type == "code"]

    assert code(edition) == code(source), f"{path.name}: the Colab edition changed code cells"
    # Outputs are the recorded ones, less what a static viewer cannot show (widgets: frozen bars, raw reprs).
    assert [c.get("outputs") for c in edition.cells if c.cell_type == "code"] == [
        colab.static_outputs(c.get("outputs", [])) for c in source.cells if c.cell_type == "code"
    ]
    shown = [o for c in edition.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in shown if colab.WIDGET_MIME in (o.get("data") or {})]
    assert not [o for o in shown if re.search(r"\d+%\|", str((o.get("data") or {}).get("text/plain", "")))]

    # Solutions are folded: the prose in <details>, the code in forms.
    markdown = "\n".join(c.source for c in edition.cells if c.cell_type == "markdown")
    starts = sum(
        bool(re.search(r"(?m)^\s*(`{3,}|:{3,})\{solution-start\}", c.source))
        for c in source.cells
        if c.cell_type == "markdown"
    )
    assert markdown.count("<b>Solution to Exercise") >= starts
    assert markdown.count("<details>") == markdown.count("</details>")
    for index, cell in colab.solution_code_cells(source):
        position = [c.get("id") for c in edition.cells].index(cell.get("id"))
        folded = edition.cells[position]
        assert folded.metadata.get("cellView") == "form"
        assert folded.metadata.get("jupyter", {}).get("source_hidden") is True
        # ... and folded where Colab forms mean nothing (GitHub, nbviewer): a <details> block just above it
        # holds the same code as a non-executing block.
        above = edition.cells[position - 1]
        assert above.cell_type == "markdown" and above.source.startswith("<details>")
        body = re.sub(r"^#\s*@title[^\n]*\n?", "", cell.source).strip()
        assert body in above.source and above.source.rstrip().endswith("</details>")
        assert re.match(r"#\s*@title Solution to Exercise \d", folded.source) or not re.match(
            r"#\s*@title Solution to exercise \d", cell.source, re.IGNORECASE
        )

    # Every glued value in the text is the one the website shows.
    for key, value in re.findall(
        r"\{glue:text\}`([^`:]+):([^`]+)`", "\n".join(c.source for c in source.cells if c.cell_type == "markdown")
    ):
        assert built_book.glue_text(_docname(path), key, value) in markdown


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_website_colab_button_opens_the_edition(path: Path, config) -> None:
    page = BUILD / "html" / f"{_docname(path)}.html"
    if not page.is_file():
        pytest.skip(NO_BUILD)
    branch = config["sphinx"]["config"]["colab_branch"]
    expected = colab.colab_url(config["repository"]["url"], branch, path.relative_to(ROOT).as_posix())
    links = re.findall(r'href="(https://colab\.research\.google\.com/[^"]+)"', page.read_text(encoding="utf8"))
    assert links == [expected], f"{page.name}: Colab links {links}, expected [{expected}]"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_download_button_serves_the_edition(path: Path) -> None:
    """The page's ".ipynb" download is the Colab edition written into the site, not the raw MyST source."""
    page = BUILD / "html" / f"{_docname(path)}.html"
    if not page.is_file():
        pytest.skip(NO_BUILD)
    html = page.read_text(encoding="utf8")
    links = set(re.findall(r'href="([^"]+\.ipynb)"', html)) - set(
        re.findall(r'href="(https://colab\.research\.google\.com/[^"]+)"', html)
    )
    depth = len(PurePosixPath(_docname(path)).parts) - 1
    expected = "../" * depth + f"{launch.EDITIONS_DIR}/{_docname(path)}.ipynb"
    assert links == {expected}, f"{page.name}: notebook links {links}, expected the Colab edition {expected}"
    served = (page.parent / expected).resolve()
    assert served.is_file(), f"{served} is missing: the build did not write the Colab editions"
    nb = nbformat.read(served, as_version=4)
    markdown = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert "This is the Colab edition" in markdown
    assert not [found for c in nb.cells if c.cell_type == "markdown" for found in colab.leftover_myst(c.source)]
    assert "{glue:text}" not in markdown and "{solution-start}" not in markdown


def test_no_colab_button_on_pages_colab_cannot_open() -> None:
    page = BUILD / "html" / "status.html"
    if not page.is_file():
        pytest.skip(NO_BUILD)
    assert "colab.research.google.com" not in page.read_text(encoding="utf8")


def test_command_line_writes_every_edition(tmp_path) -> None:
    if not HAVE_BUILD:
        pytest.skip(NO_BUILD)
    assert colab.main(["--out", str(tmp_path), "--commit", "0123456789abcdef"]) == 0
    written = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.ipynb"))
    assert written == IDS
    assert "do not edit" in (tmp_path / "README.md").read_text(encoding="utf8")


# --- (d) unit tests -----------------------------------------------------------------------------------------


@pytest.fixture()
def toy_book():
    return colab.Book(
        repository_url="https://github.com/org/course",
        colab_branch="colab",
        site_url="https://org.github.io/course/",
        numbers={
            "equation-eq-a": ("chapters/x", "(2.1)"),
            "fig-a": ("chapters/x", "Fig. 2.1"),
            "thm-a": ("chapters/x", "Theorem 2.1"),
            "x-ex-1": ("chapters/x", "Exercise 2.1"),
            "a-section": ("chapters/x", "2.3. A section"),
        },
        titles={"chapters/y": "3. Why", "notation": "9. Notation"},
        glue={"chapters/x": {"v": {"data": {"text/plain": "0.12345"}}, "n": {"data": {"text/plain": "1000"}}}},
        citations={"ho2020": ("Ho et al.", "2020"), "chen2023": ("Chen", "2023")},
        notebook_docs=frozenset({"chapters/x", "chapters/y"}),
    )


def _md(text: str, book) -> str:
    return colab.convert_markdown(text, book, "chapters/x")


def test_roles(toy_book) -> None:
    assert _md("v = {glue:text}`v:.2f`, n = {glue:text}`n`", toy_book) == "v = 0.12, n = 1000"
    assert _md("{cite:p}`ho2020,chen2023` and {cite:t}`chen2023`", toy_book) == (
        "(Ho et al., 2020; Chen, 2023) and Chen (2023)"
    )
    assert _md("by {eq}`eq-a`, see {numref}`fig-a` and {prf:ref}`thm-a`", toy_book) == (
        "by (2.1), see Fig. 2.1 and Theorem 2.1"
    )
    assert _md("{numref}`Figure %s <fig-a>`, {ref}`a-section`", toy_book) == "Figure 2.1, 2.3. A section"
    assert _md("{doc}`y` and {doc}`the notation <../notation>`", toy_book) == (
        "[3. Why](https://colab.research.google.com/github/org/course/blob/colab/chapters/y.ipynb) and "
        "[the notation](https://org.github.io/course/notation.html)"
    )
    assert _md("[why](y.ipynb#part)", toy_book) == (
        "[why](https://colab.research.google.com/github/org/course/blob/colab/chapters/y.ipynb#part)"
    )


def test_code_is_left_alone(toy_book) -> None:
    text = "Write `{glue:text}` roles like ``{eq}`label` ``.\n\n```md\n{cite:p}`ho2020`\n```"
    assert _md(text, toy_book) == text


def test_labelled_math_gets_its_number(toy_book) -> None:
    text = "$$\nx = 1\n$$\n\ntext\n\n  $$\n  y = 2\n  $$ (eq-a)"
    assert _md(text, toy_book) == "$$\nx = 1\n$$\n\ntext\n\n  $$\n  y = 2 \\tag{2.1}\n  $$"


def test_directives(toy_book) -> None:
    text = "## Proof\n\n````{prf:theorem} Title with {eq}`eq-a`\n:label: thm-a\n\nBody.\n````\n\n```{prf:proof}\nDone.\n```"
    assert _md(text, toy_book) == ("## Proof\n\n**Theorem 2.1** (Title with (2.1)).\n\nBody.\n\n*Proof.* Done.\n\n∎")
    assert _md(":::{admonition} Careful\n:class: tip\nText.\n:::", toy_book) == "**Careful.**\n\nText."
    assert _md("```{note}\nA note.\n```", toy_book) == "**Note.**\n\nA note."


def test_exercise_and_solution(toy_book) -> None:
    state = colab._State(docname="chapters/x", heading_level=2)
    exercise = colab.convert_markdown("```{exercise-start}\n:label: x-ex-1\n```\n**Do it.**", toy_book, state)
    assert exercise == "### Exercise 2.1\n\n**Do it.**"
    assert colab.convert_markdown("```{exercise-end}\n```", toy_book, state) == ""
    solution = colab.convert_markdown(
        "```{solution-start} x-ex-1\n:label: x-sol-1\n:class: dropdown\n```\nBecause $a = b$.", toy_book, state
    )
    assert solution == (
        "<details>\n<summary><b>Solution to Exercise 2.1</b> (click to show)</summary>\n\n"
        "Because $a = b$.\n\n</details>"
    )
    assert colab._retitle("# @title Solution to exercise 1\nx = 1", state.solution_title) == (
        "# @title Solution to Exercise 2.1\nx = 1"
    )
    assert colab.convert_markdown("```{solution-end}\n```", toy_book, state) == ""
    assert not state.in_solution


def test_solution_code_is_folded_for_static_viewers(toy_book, tmp_path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# X"),
        nbformat.v4.new_markdown_cell("```{solution-start} x-ex-1\n:class: dropdown\n```\nBecause."),
        nbformat.v4.new_code_cell("# @title Solution to exercise 1\nanswer = 42", metadata={"cellView": "form"}),
        nbformat.v4.new_markdown_cell("```{solution-end}\n```"),
    ]
    (tmp_path / "chapters").mkdir()
    nbformat.write(nb, tmp_path / "chapters" / "x.ipynb")
    edition = colab.colab_edition(tmp_path / "chapters" / "x.ipynb", toy_book, tmp_path)
    kinds = [(c.cell_type, c.source.split("\n", 1)[0]) for c in edition.cells]
    code_at = [k for k, _ in kinds].index("code")
    details = edition.cells[code_at - 1].source
    assert details.startswith("<details>") and "Solution to Exercise 2.1: the code" in details
    assert "```python\nanswer = 42\n```" in details and "@title" not in details
    assert edition.cells[code_at].source == "# @title Solution to Exercise 2.1\nanswer = 42"
    assert edition.cells[code_at].metadata["jupyter"]["source_hidden"] is True


def test_static_outputs_drop_frozen_widgets() -> None:
    bar = {"output_type": "display_data", "metadata": {},
           "data": {colab.WIDGET_MIME: {"model_id": "a"}, "text/plain": "train cpu:   0%|          | 0/50"}}
    explorer = {"output_type": "display_data", "metadata": {},
                "data": {colab.WIDGET_MIME: {"model_id": "b"}, "text/plain": "ScheduleExplorer(children=(HBox("}}
    text = {"output_type": "stream", "name": "stdout", "text": "done\n"}
    kept = colab.static_outputs([bar, explorer, text])
    assert kept[1] == text and len(kept) == 2
    assert kept[0]["data"] == {"text/plain": colab.WIDGET_NOTE}
    assert explorer["data"][colab.WIDGET_MIME] == {"model_id": "b"}  # the source is not touched


def test_unknown_syntax_is_an_error(toy_book) -> None:
    with pytest.raises(colab.ConversionError, match="term"):
        _md("a {term}`word`", toy_book)
    with pytest.raises(colab.ConversionError, match="figure"):
        _md("```{figure} a.png\n```", toy_book)
    with pytest.raises(colab.ConversionError, match="no glued"):
        _md("{glue:text}`missing:.2f`", toy_book)
    with pytest.raises(colab.ConversionError, match="no numbered target"):
        _md("{eq}`eq-missing`", toy_book)


def test_glue_formatting_matches_myst_nb() -> None:
    myst_nb = pytest.importorskip("myst_nb.core.variables")
    for text, fmt in [
        ("0.331221", ".3f"),
        ("1000", ""),
        ("1000", "d"),
        ("-1.38629", "+.4f"),
        ("'abc'", "s"),
        ("2.47e-06", ".2e"),
        ("0.7412", ".0%"),
    ]:
        assert colab.format_plain_text(text, fmt) == myst_nb.format_plain_text(text, fmt), (text, fmt)


def test_colab_button_url() -> None:
    url = "https://colab.research.google.com/github/org/course/blob/main/chapters/x.ipynb"
    assert launch.colab_button_url(url, "https://colab.research.google.com", "main", "colab") == (
        "https://colab.research.google.com/github/org/course/blob/colab/chapters/x.ipynb"
    )
    assert launch.colab_button_url(url, "https://colab.research.google.com", "main", "") == url
    other = "https://mybinder.org/v2/gh/org/course/main?urlpath=tree/chapters/x.ipynb"
    assert launch.colab_button_url(other, "https://colab.research.google.com", "main", "colab") == other
