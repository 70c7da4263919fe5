"""Tables for notebook outputs: one object that shows as an HTML table in Jupyter, Colab and the book,
and as aligned plain text elsewhere (a terminal, nbval's text comparison).

Lab pages print their results as tables; a printed table wider than the page's column is cut off in
the book, while an HTML table wraps its cells to the column. :class:`Table` is the course's one way of
showing a table from a code cell (chapter *Schedules on CIFAR-10* and the other CIFAR-10 labs).
"""

from __future__ import annotations

import html
from collections.abc import Sequence

__all__ = ["Table"]


class Table:
    """A table with a header row, shown as HTML by Jupyter (``_repr_html_``) and as text by ``repr``.

    Args:
        header: the column names.
        rows: one sequence per row, each as long as ``header``; cells are shown with ``str``.
        caption: an optional line above the table.

    Raises ``ValueError`` if the header is empty or a row has the wrong length.
    """

    def __init__(self, header: Sequence, rows: Sequence[Sequence], caption: str | None = None):
        self.header = [str(h) for h in header]
        if not self.header:
            raise ValueError("a Table needs at least one column in its header")
        self.rows = [[str(c) for c in row] for row in rows]
        for i, row in enumerate(self.rows):
            if len(row) != len(self.header):
                raise ValueError(f"row {i} has {len(row)} cells; the header has {len(self.header)}")
        self.caption = caption

    def _repr_html_(self) -> str:
        esc = html.escape
        head = "".join(f"<th>{esc(h)}</th>" for h in self.header)
        body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>" for row in self.rows)
        cap = f"<caption>{esc(self.caption)}</caption>" if self.caption else ""
        return f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

    def __repr__(self) -> str:
        widths = [max(len(r[j]) for r in [self.header, *self.rows]) for j in range(len(self.header))]
        lines = [self.caption] if self.caption else []
        for row in [self.header, *self.rows]:
            lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
        return "\n".join(lines)
