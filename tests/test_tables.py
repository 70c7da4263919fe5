"""sched_lib.tables: the one table object of the chapters and labs (HTML in notebooks, text elsewhere)."""

import numpy as np
import pytest

from sched_lib.tables import Table, table


def test_formats_apply_to_numbers_only_and_html_is_escaped():
    t = Table(["name", "λ_T"], [["<cos>", np.float64(-19.8357)], ["linear", -10.1182]], ["", ".2f"],
              caption="ends")
    assert t.cells() == [["<cos>", "-19.84"], ["linear", "-10.12"]]
    html = t._repr_html_()
    assert "&lt;cos&gt;" in html and "<caption>ends</caption>" in html and html.count("<tr>") == 3
    assert repr(t).splitlines()[0] == "ends"


@pytest.mark.parametrize("rows, formats", [([[1]], None), ([[1, 2]], [".1f"])])
def test_wrong_row_or_format_length_is_refused(rows, formats):
    with pytest.raises(ValueError, match="one per column"):
        Table(["a", "b"], rows, formats)


def test_table_prints_aligned_text_without_ipython_display(capsys, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_ipython(name, *args, **kwargs):
        if name.startswith("IPython"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ipython)
    table(["a", "b"], [[1, 22]])
    assert capsys.readouterr().out.splitlines() == ["a   b", "1  22"]
