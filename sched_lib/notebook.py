"""Small helpers for the course notebooks, so that a chapter runs the same in the book build and in Colab.

:func:`glue` stores a computed number for the book's text (myst-nb's ``glue``, used as
``{glue:text}`name:.3f``` in markdown). Colab and plain Jupyter have no myst-nb; there the numbers reach the
reader through the cell's printed output, so :func:`glue` does nothing.

:func:`table` (from :mod:`sched_lib.tables`) shows rows of numbers as a formatted table.
"""

from __future__ import annotations

__all__ = ["Table", "glue", "table"]

from .tables import Table, table  # re-exported: chapters call sched_lib.notebook.table

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
