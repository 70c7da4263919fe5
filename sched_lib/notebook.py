"""Small helpers for the course notebooks, so that a chapter runs the same in the book build and in Colab.

:func:`glue` stores a computed number for the book's text (myst-nb's ``glue``, used as
``{glue:text}`name:.3f``` in markdown). Colab and plain Jupyter have no myst-nb; there the numbers reach the
reader through the cell's printed output, so :func:`glue` does nothing.

:func:`table` shows rows of numbers as a formatted table: HTML where the front end renders it (the book,
Jupyter, Colab), aligned plain text elsewhere, instead of a wide printed block that the page's column cuts.
"""

from __future__ import annotations

__all__ = ["Table", "glue", "table"]

import html as _html

try:
    from myst_nb import glue as _myst_glue
except ImportError:  # Colab / plain Jupyter
    _myst_glue = None


def glue(name: str, value, display: bool = True) -> None:
    """Store ``value`` under ``name`` for the book's text (myst-nb), or do nothing where myst-nb is absent.

    NumPy scalars are converted to Python numbers first: myst-nb formats the stored ``text/plain``, and
    NumPy 2 writes ``np.float64(...)`` there, which a format spec such as ``:.3f`` cannot parse.
    """
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:
        value = value.item()
    if _myst_glue is not None:
        _myst_glue(name, value, display=display)


class Table:
    """A small table of numbers that renders as HTML in notebooks and as aligned text elsewhere.

    ``columns`` are the header cells, in plain text (Unicode symbols such as ``λ_T``: TeX in HTML outputs is
    typeset by the book but not by every notebook front end); each row is a sequence of cells; a cell is shown
    with ``str`` unless its column has a format in ``formats`` (a ``format`` spec such as ``".3f"``, applied to
    numbers only; ``""`` for none).
    """

    def __init__(self, columns, rows, formats=None, caption: str | None = None):
        self.columns = [str(c) for c in columns]
        self.rows = [list(r) for r in rows]
        if any(len(r) != len(self.columns) for r in self.rows):
            raise ValueError(f"every row needs {len(self.columns)} cells, one per column")
        self.formats = list(formats) if formats is not None else [""] * len(self.columns)
        if len(self.formats) != len(self.columns):
            raise ValueError(f"formats needs {len(self.columns)} entries, one per column (use '' for none)")
        self.caption = caption

    def _cell(self, value, fmt: str) -> str:
        if fmt and isinstance(value, (int, float)) and not isinstance(value, bool):
            return format(value, fmt)
        if fmt and hasattr(value, "item"):  # NumPy scalars
            return format(value.item(), fmt)
        return str(value)

    def cells(self) -> list[list[str]]:
        """The formatted body cells."""
        return [[self._cell(v, f) for v, f in zip(row, self.formats)] for row in self.rows]

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{_html.escape(c)}</th>" for c in self.columns)
        body = "".join(
            "<tr>" + "".join(f"<td>{_html.escape(c)}</td>" for c in row) + "</tr>" for row in self.cells()
        )
        caption = f"<caption>{_html.escape(self.caption)}</caption>" if self.caption else ""
        return f'<table class="sched-lib-table">{caption}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'

    def __repr__(self) -> str:
        rows = [self.columns] + self.cells()
        widths = [max(len(r[i]) for r in rows) for i in range(len(self.columns))]
        lines = ["  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in rows]
        return "\n".join(([self.caption] if self.caption else []) + lines)


def table(columns, rows, formats=None, caption: str | None = None) -> None:
    """Show a :class:`Table` (HTML in notebooks, aligned text in a plain Python session)."""
    shown = Table(columns, rows, formats, caption)
    try:
        from IPython.display import display
    except ImportError:  # plain Python without IPython
        print(repr(shown))
        return
    display(shown)
