"""Tables for notebook outputs: one object that shows as an HTML table in Jupyter, Colab and the book,
and as aligned plain text elsewhere (a terminal, a plain Python session).

A printed table wider than the page's column is cut off in the book, while an HTML table wraps its cells to
the column. :class:`Table` is the course's one way of showing a table from a code cell (chapters and labs);
:func:`table` displays one.
"""

from __future__ import annotations

import html as _html

__all__ = ["Table", "table"]


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
