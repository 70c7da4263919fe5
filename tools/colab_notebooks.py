"""Write the Colab edition of every course notebook: the chapter as the website shows it, in plain Markdown.

A course notebook is written in MyST Markdown for the website. Opened as it is in Colab or Jupyter, its
markdown shows raw syntax: ``{glue:text}`cifar_var:.3f``` where the website prints ``0.268``, ``{eq}`eq-snr-def```
where it prints ``(2.2)``, ``{cite:p}`ho2020denoising``` for ``[Ho et al., 2020]``, and each exercise, theorem
or solution as a little code block holding a directive. The Colab edition is the same notebook with every
one of those replaced by what the website shows, taken from the website build:

- glue roles get the glued value, formatted as on the website (``_build/jupyter_execute/*.glue.json``);
- ``{eq}``, ``{numref}``, ``{prf:ref}`` and ``{ref}`` get the number or title of their target, and labelled
  display math gets its number as ``\\tag{2.1}`` (numbers read from ``_build/html``);
- ``{cite:p}``/``{cite:t}`` become "(Ho et al., 2020)" / "Ho et al. (2020)" (from ``references.bib``);
- ``{doc}`` and relative links to other pages become links to the Colab edition of that notebook, or to
  the website for a page that is not a notebook;
- exercises become headings ("### Exercise 2.1"), theorems and proofs bold-faced paragraphs, admonitions a
  bold title; each solution's explanation is folded in a ``<details>`` element ("Solution to Exercise 2.1"),
  and its code cells stay folded Colab forms (``cellView: form`` and a ``# @title`` line, checked by
  ``tests/test_colab.py``);
- each solution's code is also shown, folded, as a non-executing block in a ``<details>`` element above its
  form cell, so it stays folded in viewers that ignore Colab forms (GitHub, nbviewer); JupyterLab hides the
  form cell's input too (``metadata.jupyter.source_hidden``);
- recorded widget outputs, which static viewers show as a frozen progress bar or a raw widget repr, are
  dropped (progress bars) or replaced by a one-line note (:func:`static_outputs`);
- a figure's caption (``mystnb.figure`` metadata) becomes a markdown cell below the cell that draws it;
- ``(label)=`` targets and ``%`` comments are dropped.

Code cells are copied unchanged (chapters have no outputs; labs keep their recorded outputs, less widgets), and a short
note under the title says what the edition is and links the source and the website. Anything MyST that
this script does not know is an error, so that no raw syntax reaches a Colab reader unnoticed.

Usage (after ``jupyter-book build .``)::

    python tools/colab_notebooks.py --out _build/colab

writes ``_build/colab/chapters/*.ipynb`` (and ``labs/``) plus a ``README.md``. CI publishes that folder on the
branch ``sphinx.config.colab_branch`` of ``_config.yml``, which the website's Colab buttons open
(``tools/colab_launch.py``). The book build itself also writes the editions into the site
(``_build/html/_colab/``, by ``tools/colab_launch.py``), and each page's ".ipynb" download button serves them.
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import sys
from ast import literal_eval
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path, PurePosixPath
from typing import ClassVar

import nbformat
import yaml

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIRS = ("chapters", "labs")

__all__ = [
    "Book",
    "ConversionError",
    "colab_edition",
    "convert_markdown",
    "leftover_myst",
    "main",
    "notebooks",
    "solution_code_cells",
    "static_outputs",
    "write_editions",
]


class ConversionError(ValueError):
    """Something in a notebook that the Colab edition cannot render: an unknown directive or role, or a
    glue key, label or citation the build does not know."""


# --- what the website build knows ----------------------------------------------------------------------


@dataclass
class Book:
    """Everything the conversion looks up: repository, numbers, titles, glue values and citations.

    ``strict=False`` (tests without a build) renders anything unknown as a visible placeholder instead of
    raising :class:`ConversionError`.
    """

    repository_url: str
    colab_branch: str
    site_url: str
    numbers: dict[str, tuple[str, str]] = field(default_factory=dict)  # id -> (docname, "Fig. 2.1")
    titles: dict[str, str] = field(default_factory=dict)  # docname -> "2. Signal-to-Noise Ratio ..."
    glue: dict[str, dict[str, dict]] = field(default_factory=dict)  # docname -> key -> output data
    citations: dict[str, tuple[str, str]] = field(default_factory=dict)  # key -> ("Ho et al.", "2020")
    notebook_docs: frozenset[str] = frozenset()  # docnames that are .ipynb files
    strict: bool = True

    @classmethod
    def from_build(cls, root: Path = ROOT, build: Path | None = None, strict: bool = True) -> Book:
        build = build or root / "_build"
        config = yaml.safe_load((root / "_config.yml").read_text(encoding="utf8"))
        repository_url = config["repository"]["url"].rstrip("/")
        sphinx_config = (config.get("sphinx") or {}).get("config") or {}
        colab_branch = sphinx_config.get("colab_branch") or config["repository"].get("branch", "main")
        book = cls(
            repository_url=repository_url,
            colab_branch=colab_branch,
            site_url=_site_url(config),
            citations=_read_bibliography(root, config),
            notebook_docs=frozenset(p.relative_to(root).with_suffix("").as_posix() for p in notebooks(root)),
            strict=strict,
        )
        html_dir = build / "html"
        if html_dir.is_dir():
            for page in sorted(html_dir.rglob("*.html")):
                rel = page.relative_to(html_dir)
                if any(part.startswith(("_", ".")) for part in rel.parts):
                    continue
                docname = rel.with_suffix("").as_posix()
                parser = _NumberParser()
                parser.feed(page.read_text(encoding="utf8", errors="replace"))
                for ident, text in parser.numbers.items():
                    book.numbers.setdefault(ident, (docname, text))
                if parser.title:
                    book.titles[docname] = parser.title
        elif strict:
            raise ConversionError(f"no website build at {html_dir}: run `jupyter-book build .` first")
        execute_dir = build / "jupyter_execute"
        for path in notebooks(root):
            docname = path.relative_to(root).with_suffix("").as_posix()
            glue_file = execute_dir / f"{docname}.glue.json"
            if glue_file.is_file():
                book.glue[docname] = json.loads(glue_file.read_text(encoding="utf8"))
            else:  # a notebook the build did not execute (labs): its recorded outputs hold the glue
                book.glue[docname] = _glue_from_outputs(nbformat.read(path, as_version=4))
        return book

    # -- lookups ------------------------------------------------------------------------------------

    def _missing(self, what: str, placeholder: str) -> str:
        if self.strict:
            raise ConversionError(what)
        return placeholder

    def number(self, label: str, docname: str) -> str:
        """The caption number of ``label`` as the website prints it: "Fig. 2.1", "Theorem 2.1", "(2.1)"."""
        for ident in (label, _make_id(label), f"equation-{label}", f"equation-{_make_id(label)}"):
            if ident in self.numbers:
                return self.numbers[ident][1]
        return self._missing(f"{docname}: no numbered target {label!r} in the website build", f"⟨{label}⟩")

    def bare_number(self, label: str, docname: str) -> str:
        """Only the number: "2.1"."""
        text = self.number(label, docname)
        found = re.search(r"\d+(?:\.\d+)*", text)
        return found.group(0) if found else text

    def title(self, target: str, docname: str) -> str:
        return self.titles.get(target) or self._missing(f"{docname}: no page {target!r} in the build", target)

    def glue_text(self, docname: str, key: str, fmt: str, mime: str = "text/plain") -> str:
        if "::" in key:
            other, key = key.split("::", 1)
            docname = _resolve_doc(docname, other)
        data = (self.glue.get(docname) or {}).get(key, {}).get("data", {})
        if mime not in data:
            return self._missing(f"{docname}: no glued {mime} value {key!r} (run the build)", f"⟨{key}⟩")
        if mime != "text/plain":
            return data[mime]
        return format_plain_text(data[mime], fmt)

    def citation(self, key: str, docname: str) -> tuple[str, str]:
        if key not in self.citations:
            return (self._missing(f"{docname}: unknown citation key {key!r}", f"⟨{key}⟩"), "")
        return self.citations[key]

    def url_for(self, target: str) -> str:
        """Where a reader of the Colab edition goes for page ``target`` (a docname)."""
        if target in self.notebook_docs:
            return colab_url(self.repository_url, self.colab_branch, f"{target}.ipynb")
        return f"{self.site_url}{target}.html"


def _make_id(label: str) -> str:
    """The HTML id docutils writes for a label (lowercase; ``_`` and other punctuation become ``-``)."""
    try:
        from docutils.nodes import make_id
    except ImportError:  # docutils comes with Sphinx; this is its rule, for completeness
        return re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")
    return make_id(label)


def _site_url(config: dict) -> str:
    """The website: ``html.baseurl`` when set, else the GitHub Pages address of ``repository.url``."""
    baseurl = ((config.get("html") or {}).get("baseurl") or "").strip()
    if baseurl:
        return baseurl.rstrip("/") + "/"
    org, repo = _org_repo(config["repository"]["url"])
    return f"https://{org.lower()}.github.io/{repo}/"


def _org_repo(repository_url: str) -> tuple[str, str]:
    found = re.match(r"https://github\.com/([^/]+)/([^/]+?)(?:\.git)?/?$", repository_url)
    if not found:
        raise ConversionError(f"repository.url {repository_url!r} is not https://github.com/<org>/<repo>")
    return found.group(1), found.group(2)


def colab_url(repository_url: str, branch: str, path: str) -> str:
    org, repo = _org_repo(repository_url)
    return f"https://colab.research.google.com/github/{org}/{repo}/blob/{branch}/{path}"


def format_plain_text(text: str, fmt: str) -> str:
    """myst-nb's formatting of a glued ``text/plain`` value (``myst_nb.core.variables.format_plain_text``)."""
    try:
        value = literal_eval(text)
    except (SyntaxError, ValueError):
        value = text
    if fmt == "":
        return str(value)
    kind = fmt[-1]
    if kind == "s":
        value = str(value)
    elif kind in "bcdoxX":
        value = int(value)
    elif kind in "eEfFgGn%":
        value = float(value)
    return format(value, fmt)


def _glue_from_outputs(nb) -> dict[str, dict]:
    found = {}
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            name = (output.get("metadata") or {}).get("scrapbook", {}).get("name")
            if name:
                found[name] = output
    return found


def _read_bibliography(root: Path, config: dict) -> dict[str, tuple[str, str]]:
    """``key -> (authors, year)`` as the website's bibliography labels each entry ("Song et al., 2021a"): the
    label style of ``tools/bib_labels.py`` over all entries, as the bibliography page lists them (``:all:``)."""
    from pybtex.database import parse_file

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    try:
        from bib_labels import AuthorYearStyle
    finally:
        sys.path.pop(0)
    citations = {}
    for name in config.get("bibtex_bibfiles") or []:
        entries = parse_file(str(root / name)).entries.values()
        for formatted in AuthorYearStyle().format_entries(entries):
            authors, _, year = formatted.label.rpartition(", ")
            citations[formatted.key] = (authors, year)
    return citations


class _NumberParser(HTMLParser):
    """Collects, from one built page, the caption number of every numbered element (figures, equations,
    theorems, exercises: ``span.caption-number`` / ``span.eqno`` inside the element with the id), the title
    of every section, and the page title."""

    VOID: ClassVar[set[str]] = {
        "area",
        "base",
        "br",
        "col",
        "embed",
        "hr",
        "img",
        "input",
        "link",
        "meta",
        "source",
        "wbr",
    }
    HEADINGS: ClassVar[set[str]] = {"h1", "h2", "h3", "h4", "h5", "h6"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, str | None]] = []
        self.numbers: dict[str, str] = {}
        self.title = ""
        self._capture: list | None = None  # [owner id, stack depth, pieces, is_heading]
        self._in_title = False
        self._skip_depth: int | None = None  # inside a headerlink "#"

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        classes = (attributes.get("class") or "").split()
        if tag == "title":
            self._in_title = True
        if tag in self.VOID:
            return
        self.stack.append((tag, attributes.get("id")))
        if self._capture is not None:
            if tag == "a" and "headerlink" in classes and self._skip_depth is None:
                self._skip_depth = len(self.stack)
            return
        if tag == "span" and ("caption-number" in classes or "eqno" in classes):
            owner = next((ident for _, ident in reversed(self.stack[:-1]) if ident), None)
            if owner and owner not in self.numbers:
                self._capture = [owner, len(self.stack), [], False]
        elif tag in self.HEADINGS:
            owner = next((ident for t, ident in reversed(self.stack[:-1]) if ident and t == "section"), None)
            if owner and owner not in self.numbers:
                self._capture = [owner, len(self.stack), [], True]

    def handle_endtag(self, tag):
        if tag == "title":
            self._in_title = False
        if tag in self.VOID:
            return
        for depth in range(len(self.stack) - 1, -1, -1):
            if self.stack[depth][0] == tag:
                del self.stack[depth:]
                break
        if self._skip_depth is not None and len(self.stack) < self._skip_depth:
            self._skip_depth = None
        if self._capture is not None and len(self.stack) < self._capture[1]:
            owner, _, pieces, is_heading = self._capture
            text = re.sub(r"\s+", " ", "".join(pieces)).strip()
            if is_heading:
                text = re.sub(r"\\\((.*?)\\\)", r"$\1$", text)
            self.numbers[owner] = text
            self._capture = None

    def handle_data(self, data):
        if self._in_title and not self.title:
            self.title = data.split(" \u2014 ")[0].strip()  # "2. SNR — Book title"
        if self._capture is not None and self._skip_depth is None:
            self._capture[2].append(data)


# --- markdown conversion ---------------------------------------------------------------------------------

_FENCE_OPEN = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|:{3,})\{(?P<name>[\w:.-]+)\}[ \t]*(?P<arg>.*?)[ \t]*$")
_ROLE = re.compile(r"\{(?P<name>[\w:.-]+)\}`(?P<content>[^`]*)`")
# A role, or an inline code span (left alone: MyST does not parse roles inside code).
_ROLE_OR_CODE = re.compile(
    r"(?P<role>\{(?P<name>[\w:.-]+)\}`(?P<content>[^`]*)`)|(?P<code>(?P<ticks>`+).+?(?P=ticks))", re.DOTALL
)
# A fenced code block that is not a directive (left alone).
_CODE_BLOCK = re.compile(r"(?ms)^[ \t]*(?P<fence>`{3,}|~{3,})(?![`~]*\{)[^\n]*\n.*?^[ \t]*(?P=fence)[`~]*[ \t]*$")
SOLUTION_MARK = "\x00solution\x00"
_LABELLED_MATH = re.compile(
    r"(?ms)^(?P<indent>[ \t]*)\$\$(?P<body>(?:(?!\$\$).)*?)\$\$[ \t]*\((?P<label>[^()\s]+)\)[ \t]*$"
)
_TARGET = re.compile(r"(?m)^\([\w.:-]+\)=[ \t]*\n?")
_COMMENT = re.compile(r"(?m)^%.*\n?")
_EXPLICIT = re.compile(r"^(?P<text>.*?)\s*<(?P<target>[^<>]+)>$", re.DOTALL)
_RELATIVE_LINK = re.compile(r"\]\((?P<target>(?!https?:|mailto:|#)[^)\s]+?\.(?:md|ipynb))(?P<anchor>#[^)\s]*)?\)")

PROOF_KINDS = {
    "axiom",
    "theorem",
    "lemma",
    "algorithm",
    "definition",
    "remark",
    "conjecture",
    "corollary",
    "criterion",
    "example",
    "property",
    "observation",
    "proposition",
    "assumption",
    "notation",
}
ADMONITIONS = {
    "note",
    "tip",
    "hint",
    "important",
    "warning",
    "caution",
    "attention",
    "danger",
    "error",
    "seealso",
}
GATED_ENDS = {"exercise-end", "solution-end"}


@dataclass
class _State:
    """Per-notebook state carried from cell to cell."""

    docname: str
    heading_level: int = 1
    in_solution: bool = False
    solution_title: str = "Solution"


def _resolve_doc(docname: str, target: str) -> str:
    """A ``{doc}`` target or relative link, relative to ``docname`` (or absolute from the book root)."""
    target = re.sub(r"\.(md|ipynb)$", "", target)
    if target.startswith("/"):
        return target.lstrip("/")
    parts = []
    for part in PurePosixPath(docname).parent.joinpath(target).parts:
        if part == "..":
            if parts:
                parts.pop()
        elif part != ".":
            parts.append(part)
    return "/".join(parts)


def _split_explicit(content: str) -> tuple[str | None, str]:
    found = _EXPLICIT.match(content.strip())
    if found:
        return found.group("text"), found.group("target").strip()
    return None, content.strip()


def _render_role(name: str, content: str, book: Book, state: _State) -> str:
    doc = state.docname
    if name == "glue:text":  # `key:format` (myst-nb splits at the last colon; no format means "s")
        key, fmt = content.rsplit(":", 1) if ":" in content.replace("::", "") else (content, "s")
        return book.glue_text(doc, key.strip(), fmt)
    if name in ("glue", "glue:", "glue:any"):
        return book.glue_text(doc, content.strip(), "")
    if name == "glue:md":  # `key` or `key:format`, where the format is a Markdown flavour
        key = content.rsplit(":", 1)[0] if ":" in content.replace("::", "") else content
        return book.glue_text(doc, key.strip(), "", mime="text/markdown")
    if name in ("cite", "cite:p", "cite:ps", "cite:t", "cite:ts", "cite:author", "cite:year"):
        keys = [k.strip() for k in content.split(",") if k.strip()]
        refs = [book.citation(k, doc) for k in keys]
        if name in ("cite:t", "cite:ts"):
            return "; ".join(f"{a} ({y})" for a, y in refs)
        if name == "cite:author":
            return "; ".join(a for a, _ in refs)
        if name == "cite:year":
            return "; ".join(y for _, y in refs)
        return "(" + "; ".join(f"{a}, {y}" for a, y in refs) + ")"
    if name == "eq":
        text, label = _split_explicit(content)
        return text or f"({book.bare_number(label, doc)})"
    if name in ("numref", "prf:ref"):
        text, label = _split_explicit(content)
        number = book.number(label, doc)
        if text is None:
            return number
        return text.replace("%s", book.bare_number(label, doc)).replace("{number}", book.bare_number(label, doc))
    if name == "ref":
        text, label = _split_explicit(content)
        return text or book.number(label, doc)
    if name == "doc":
        text, target = _split_explicit(content)
        target_doc = _resolve_doc(doc, target)
        return f"[{text or book.title(target_doc, doc)}]({book.url_for(target_doc)})"
    if name == "math":
        return f"${content}$"
    if name in ("sub", "sup"):
        return f"<{name}>{content}</{name}>"
    if name in ("abbr",):
        return _split_explicit(content)[0] or content
    raise ConversionError(f"{doc}: the role {{{name}}} has no plain-Markdown rendering in tools/colab_notebooks.py")


def _convert_roles(text: str, book: Book, state: _State) -> str:
    def render(found: re.Match) -> str:
        if found.group("code"):
            return found.group("code")
        return _render_role(found.group("name"), found.group("content"), book, state)

    return _ROLE_OR_CODE.sub(render, text)


def _outside_code_blocks(text: str, convert) -> str:
    """Apply ``convert`` to the text between fenced code blocks."""
    pieces, last = [], 0
    for block in _CODE_BLOCK.finditer(text):
        pieces += [convert(text[last : block.start()]), block.group(0)]
        last = block.end()
    pieces.append(convert(text[last:]))
    return "".join(pieces)


def _parse_options(body_lines: list[str]) -> tuple[dict[str, str], list[str]]:
    options: dict[str, str] = {}
    i = 0
    if body_lines and body_lines[0].strip() == "---":  # a YAML options block
        end = next((j for j in range(1, len(body_lines)) if body_lines[j].strip() == "---"), None)
        if end is not None:
            options = {str(k): str(v) for k, v in (yaml.safe_load("\n".join(body_lines[1:end])) or {}).items()}
            return options, body_lines[end + 1 :]
    while i < len(body_lines):
        found = re.match(r"^\s*:([\w-]+):\s*(.*)$", body_lines[i])
        if not found:
            break
        options[found.group(1)] = found.group(2).strip()
        i += 1
    return options, body_lines[i:]


def _details(title: str, body: str) -> str:
    """A folded block: Colab, Jupyter and GitHub render Markdown and math inside ``<details>``."""
    body = body.strip()
    if not body:
        return f"**{title}**"
    return f"<details>\n<summary><b>{title}</b> (click to show)</summary>\n\n{body}\n\n</details>"


def _heading(level: int, text: str) -> str:
    return "#" * max(1, min(level, 6)) + " " + text


def _render_directive(name: str, arg: str, options: dict, body: str, book: Book, state: _State) -> str:
    doc = state.docname
    body = body.strip("\n")
    if name in ("exercise-start", "exercise"):
        label = options.get("label")
        title = book.number(label, doc) if label else "Exercise"
        if arg:
            title += f" ({_convert_roles(arg, book, state)})"
        return _heading(state.heading_level + 1, title) + ("\n\n" + body if body else "\n")
    if name in ("solution-start", "solution"):
        target = arg.split()[0] if arg else ""
        title = "Solution" + (f" to {book.number(target, doc)}" if target else "")
        if name == "solution-start":  # the prose after the fence, up to the end of the cell, is folded
            state.in_solution, state.solution_title = True, title
            return SOLUTION_MARK + body
        return _details(title, body)
    if name in GATED_ENDS:
        if name == "solution-end":
            state.in_solution = False
        return ""
    if name.startswith("prf:"):
        kind = name[4:]
        if kind == "proof":
            return "*Proof.* " + body + "\n\n∎"
        if kind not in PROOF_KINDS:
            raise ConversionError(f"{doc}: the directive {{{name}}} is not a sphinx-proof kind this script knows")
        label = options.get("label")
        head = f"**{book.number(label, doc)}**" if label else f"**{kind.capitalize()}**"
        if arg:
            head += f" ({_convert_roles(arg, book, state)})"
        return f"{head}.\n\n{body}"
    if name == "admonition":
        return f"**{_convert_roles(arg, book, state) or 'Note'}.**\n\n{body}"
    if name in ADMONITIONS:
        title = "See also" if name == "seealso" else name.capitalize()
        return f"**{title}.**" + (f" {_convert_roles(arg, book, state)}" if arg else "") + f"\n\n{body}"
    if name == "math":
        label = options.get("label")
        tag = f" \\tag{{{book.bare_number(label, doc)}}}" if label else ""
        return f"$$\n{body}{tag}\n$$"
    if name in ("code-block", "code", "sourcecode"):
        return f"```{arg}\n{body}\n```"
    raise ConversionError(
        f"{doc}: the directive {{{name}}} has no plain-Markdown rendering in tools/colab_notebooks.py"
    )


def _convert_fences(text: str, book: Book, state: _State) -> str:
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    plain_fence: str | None = None  # inside an ordinary code block: copy verbatim
    while i < len(lines):
        line = lines[i]
        if plain_fence is not None:
            out.append(line)
            if re.match(rf"^\s*{re.escape(plain_fence[0])}{{{len(plain_fence)},}}\s*$", line):
                plain_fence = None
            i += 1
            continue
        opened = _FENCE_OPEN.match(line)
        if not opened:
            code = re.match(r"^\s*(`{3,}|~{3,})", line)
            if code:
                plain_fence = code.group(1)
            heading = re.match(r"^(#{1,6})\s", line)
            if heading:
                state.heading_level = len(heading.group(1))
            out.append(line)
            i += 1
            continue
        fence = opened.group("fence")
        close = re.compile(rf"^\s*{re.escape(fence[0])}{{{len(fence)},}}\s*$")
        end = next((j for j in range(i + 1, len(lines)) if close.match(lines[j])), None)
        if end is None:
            raise ConversionError(f"{state.docname}: the directive {{{opened.group('name')}}} is never closed")
        options, body_lines = _parse_options(lines[i + 1 : end])
        body = _convert_fences("\n".join(body_lines), book, state)
        rendered = _render_directive(opened.group("name"), opened.group("arg"), options, body, book, state)
        out.append(rendered)
        i = end + 1
    return "\n".join(out)


def _convert_math_labels(text: str, book: Book, state: _State) -> str:
    def tagged(found: re.Match) -> str:
        indent, body = found.group("indent"), found.group("body").rstrip()
        tag = f"\\tag{{{book.bare_number(found.group('label'), state.docname)}}}"
        return f"{indent}$${body} {tag}\n{indent}$$" if "\n" in body else f"{indent}$${body} {tag}$$"

    return _LABELLED_MATH.sub(tagged, text)


def _convert_links(text: str, book: Book, state: _State) -> str:
    def link(found: re.Match) -> str:
        target = _resolve_doc(state.docname, found.group("target"))
        return f"]({book.url_for(target)}{found.group('anchor') or ''})"

    return _RELATIVE_LINK.sub(link, text)


def convert_markdown(text: str, book: Book, state: _State | str) -> str:
    """One markdown cell of the website source, as plain Markdown (+ math) for Colab and Jupyter."""
    if isinstance(state, str):
        state = _State(docname=state)
    text = _TARGET.sub("", text)
    text = _COMMENT.sub("", text)
    text = _convert_math_labels(text, book, state)
    continued = state.in_solution
    text = _convert_fences(text, book, state)
    text = _outside_code_blocks(text, lambda t: _convert_links(_convert_roles(t, book, state), book, state))
    if SOLUTION_MARK in text:  # a solution's prose: from its fence to the end of the cell
        before, after = text.split(SOLUTION_MARK, 1)
        text = before + _details(state.solution_title, after)
    elif continued and state.in_solution and text.strip():  # more prose of the same solution
        text = _details(f"{state.solution_title} (continued)", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip("\n")


def leftover_myst(text: str) -> list[str]:
    """MyST syntax left in a markdown cell of the Colab edition (should be none)."""
    found = []
    found += [m.group(0) for m in _ROLE.finditer(text)]
    found += [m.group(0).strip() for m in re.finditer(r"(?m)^\s*(`{3,}|:{3,})\{[\w:.-]+\}.*$", text)]
    found += [m.group(0).strip() for m in _TARGET.finditer(text)]
    found += [m.group(0).strip() for m in re.finditer(r"(?m)^\s*:(label|class|name|nonumber):.*$", text)]
    found += [m.group(0)[-40:] for m in re.finditer(r"\$\$[ \t]*\([^()\s]+\)[ \t]*$", text, re.MULTILINE)]
    return found


# --- notebooks ------------------------------------------------------------------------------------------


def notebooks(root: Path = ROOT) -> list[Path]:
    """The course notebooks (chapters and labs), as ``tests/test_book.py`` finds them."""
    found = []
    for folder in NOTEBOOK_DIRS:
        base = root / folder
        if base.is_dir():
            found += [
                p
                for p in sorted(base.rglob("*.ipynb"))
                if not any(part.startswith(("_", ".")) for part in p.relative_to(root).parts)
            ]
    return found


def solution_code_cells(nb) -> list[tuple[int, object]]:
    """``(index, cell)`` of every code cell between a ``solution-start`` and a ``solution-end`` cell."""
    inside = False
    cells = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            if re.search(r"(?m)^\s*(`{3,}|:{3,})\{solution-start\}", cell.source):
                inside = True
            if re.search(r"(?m)^\s*(`{3,}|:{3,})\{solution-end\}", cell.source):
                inside = False
        elif cell.cell_type == "code" and inside:
            cells.append((index, cell))
    return cells


def _retitle(source: str, title: str) -> str:
    """``# @title Solution to exercise 1`` becomes ``# @title Solution to Exercise 2.1``, the website's number;
    any other title is the author's and stays."""
    first, sep, rest = source.partition("\n")
    found = re.match(r"^(#\s*@title\s+)Solution to exercise \d+\b(.*)$", first, re.IGNORECASE)
    if not found:
        return source
    return f"{found.group(1)}{title}{found.group(2)}{sep}{rest}"


def _solution_code_details(source: str, title: str) -> str:
    """A solution's code as a folded, non-executing block (the form cell below it runs the same code)."""
    body = re.sub(r"^#\s*@title[^\n]*\n?", "", source).strip("\n")
    fence = "````" if "```" in body else "```"
    return _details(f"{title}: the code", f"{fence}python\n{body}\n{fence}\n\nThe next cell runs it.")


WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
WIDGET_NOTE = "[an interactive widget: run this cell in Colab or Jupyter to use it]"
_TQDM_TEXT = re.compile(r"\d+%\|")


def static_outputs(outputs: list) -> list:
    """Recorded outputs as a static viewer should show them (GitHub, nbviewer, Colab before a run).

    A widget output keeps only its ``text/plain`` fallback there, which is a frozen progress bar (tqdm's
    "0%|          | 0/50") or the widget's raw repr ("ScheduleExplorer(children=(HBox(...") and means nothing
    without the live kernel: progress bars are dropped, other widgets become a one-line note. Everything else
    is kept as recorded.
    """
    kept = []
    for output in outputs:
        data = output.get("data") or {}
        if WIDGET_MIME not in data:
            kept.append(output)
            continue
        text = data.get("text/plain", "")
        text = "".join(text) if isinstance(text, list) else text
        if _TQDM_TEXT.search(text):
            continue
        note = copy.deepcopy(output)
        note["data"] = {"text/plain": WIDGET_NOTE}
        kept.append(note)
    return kept


def _banner(book: Book, docname: str, commit: str | None) -> str:
    source = f"{book.repository_url}/blob/main/{docname}.ipynb"
    built = f" of commit `{commit[:12]}`" if commit else ""
    return (
        f"*This is the Colab edition of this notebook, made from [its source]({source}) by "
        f"`tools/colab_notebooks.py` with the numbers, references and citations of the "
        f"[website build]({book.site_url}{docname}.html){built}. Run the cells from the top; the first one "
        f"installs `sched_lib`. Solutions are folded: open them with ▸.*"
    )


def colab_edition(path: Path, book: Book, root: Path = ROOT, commit: str | None = None):
    """The Colab edition of one notebook (a new ``NotebookNode``; the file is not touched)."""
    docname = path.relative_to(root).with_suffix("").as_posix()
    nb = nbformat.read(path, as_version=4)
    out = copy.deepcopy(nb)
    state = _State(docname=docname)
    cells = []
    made = 0
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            text = convert_markdown(cell.source, book, state)
            if not text.strip():
                continue  # a cell that held only exercise-end / solution-end
            new = copy.deepcopy(cell)
            new.source = text
            cells.append(new)
            if made == 0:  # the note goes under the title cell
                made += 1
                cells.append(nbformat.v4.new_markdown_cell(_banner(book, docname, commit), id=f"colab-edition-{made}"))
            continue
        new = copy.deepcopy(cell)
        if cell.cell_type == "code" and state.in_solution:
            new.source = _retitle(new.source, state.solution_title)
            # Folded in every viewer: Colab folds the form cell; GitHub, nbviewer and JupyterLab do not, so the
            # code also goes, to read, into a <details> block above it (JupyterLab also hides the cell's input).
            made += 1
            cells.append(nbformat.v4.new_markdown_cell(_solution_code_details(new.source, state.solution_title),
                                                       id=f"colab-edition-{made}"))
            new.metadata["jupyter"] = {**(new.metadata.get("jupyter") or {}), "source_hidden": True}
        if cell.cell_type == "code":
            new.outputs = static_outputs(new.get("outputs", []))
        cells.append(new)
        figure = ((cell.get("metadata") or {}).get("mystnb") or {}).get("figure") or {}
        if cell.cell_type == "code" and figure.get("caption"):
            label = figure.get("name")
            number = f"**{book.number(label, docname)}.** " if label else ""
            caption = convert_markdown(str(figure["caption"]), book, _State(docname=docname))
            made += 1
            cells.append(nbformat.v4.new_markdown_cell(f"{number}{caption}", id=f"colab-edition-{made}"))
    out.cells = cells
    colab = dict(out.metadata.get("colab") or {})
    colab.setdefault("name", path.name)
    colab.setdefault("toc_visible", True)  # Colab opens its table of contents: sections and exercises
    out.metadata["colab"] = colab
    problems = [
        f"cell {i}: {leftover}"
        for i, c in enumerate(out.cells)
        if c.cell_type == "markdown"
        for leftover in leftover_myst(c.source)
    ]
    if problems:
        raise ConversionError(f"{docname}: MyST left in the Colab edition: {problems[:5]}")
    return out


_README = """# Colab editions (generated: do not edit)

This branch is written by CI (`.github/workflows/book.yml`) from `{source_branch}`{commit}. It holds the
Colab edition of each course notebook, made by `tools/colab_notebooks.py`: the same cells as the source, with
the website's numbers, references, citations and glued values written into the markdown, directives as plain
Markdown, and solutions folded. The website's "Colab" buttons open these files.

Edit the notebooks on `{source_branch}`, never here: this branch is replaced at every publication.
"""


def write_editions(root: Path, build: Path, out: Path, commit: str | None = None) -> list[Path]:
    """Write the Colab edition of every course notebook under ``out`` (same relative paths); returns them.

    Raises :class:`ConversionError` when something cannot be rendered (nothing is written then).
    """
    book = Book.from_build(root, build)
    editions = {path: colab_edition(path, book, root, commit) for path in notebooks(root)}
    written = []
    for path, nb in editions.items():
        target = out / path.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.validate(nb)
        nbformat.write(nb, target)
        written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=ROOT, help="the book's folder (default: this checkout)")
    parser.add_argument("--build", type=Path, default=None, help="the build folder (default: ROOT/_build)")
    parser.add_argument("--out", type=Path, default=None, help="where to write (default: BUILD/colab)")
    parser.add_argument("--commit", default=None, help="the source commit, named in each notebook's note")
    parser.add_argument("--source-branch", default="main", help="the branch the editions are made from")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    build = (args.build or root / "_build").resolve()
    out = (args.out or build / "colab").resolve()
    try:
        written = write_editions(root, build, out, args.commit)
    except ConversionError as error:
        print(f"colab_notebooks: {error}", file=sys.stderr)
        return 1
    book_branch = Book.from_build(root, build).colab_branch
    commit = f" at commit {args.commit}" if args.commit else ""
    (out / "README.md").write_text(_README.format(source_branch=args.source_branch, commit=commit), encoding="utf8")
    print(f"colab_notebooks: wrote {len(written)} Colab editions to {out} (branch {book_branch!r})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
