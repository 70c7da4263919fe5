"""What a reader sees when an exercise check fails in a notebook (Jupyter, Colab, the book build).

A wrong answer must show one short message (what is wrong, a hint) and no traceback through
``sched_lib.checks``, which would print the check's reference computation; and the cell must still fail
(execute reply status ``"error"``), so that nbval, nbclient and the book build stop on it. Each test runs a
tiny notebook in a real kernel through nbclient (the executor of myst-nb and of nbval's cousin tools).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from sched_lib.checks import CheckFailed, feedback_lines

ROOT = Path(__file__).resolve().parents[1]
ANSI = re.compile(r"\x1b\[[0-9;]*m")

nbclient = pytest.importorskip("nbclient")

# Three exercises of three chapters, each with a typical wrong answer and the hint it must produce.
WRONG_ANSWERS = [
    (
        "from sched_lib.checks.weighting import check_min_snr\n"
        "import numpy as np\n"
        "def my_min_snr(snr, gamma, frame):\n"
        "    return np.minimum(snr, gamma) / {'x0': 1, 'eps': snr, 'v': snr + 1}[frame]\n"
        "check_min_snr(my_min_snr)",
        "NaN at SNR = 0",
    ),
    (
        "from sched_lib.checks.snr import check_snr_and_log_snr\n"
        "import numpy as np\n"
        "def my_snr(betas):\n"
        "    ab = np.cumprod(1 - betas)\n"
        "    return ab / (1 - ab), np.log((1 - ab) / ab)\n"
        "check_snr_and_log_snr(my_snr)",
        "wrong sign",
    ),
    (
        "from sched_lib.checks.classic_schedules import check_cosine_betas\n"
        "import numpy as np\n"
        "check_cosine_betas(lambda T, s=0.008, max_beta=0.999: np.linspace(1e-4, 0.02, T))",
        "",
    ),
]


def _kernel_env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
    return env


def _run(sources: list[str], tags: list[list[str]] | None = None, allow_errors: bool = True):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(s, metadata={"tags": t}) for s, t in zip(sources, tags or [[]] * len(sources))]
    client = nbclient.NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=allow_errors,
                                     resources={"metadata": {"path": str(ROOT)}})
    old = dict(os.environ)
    os.environ.update(_kernel_env())  # the kernel inherits this process's environment
    try:
        client.execute()
    finally:
        os.environ.clear()
        os.environ.update(old)
    return nb


def _text(output) -> str:
    if output.output_type == "error":
        return ANSI.sub("", "\n".join(output.traceback))
    if output.output_type == "stream":
        return output.text
    return "\n".join(str(v) for v in output.get("data", {}).values())


def test_feedback_lines_fit_the_column() -> None:
    message = "your weight is NaN at SNR = 0. That is 0/0 " * 6
    lines = [ANSI.sub("", line) for line in feedback_lines(message)]
    assert lines[0].startswith("Not yet: your weight")
    assert all(len(line) <= 84 for line in lines)
    assert " ".join(w for line in lines for w in line.split())[len("Not yet: "):] == " ".join(message.split())


def test_wrong_answers_show_the_hint_only() -> None:
    """Three exercises, wrong answers: the hint, no traceback, no checker source; the cells still error."""
    nb = _run([src for src, _ in WRONG_ANSWERS])
    for cell, (source, hint) in zip(nb.cells, WRONG_ANSWERS):
        errors = [o for o in cell.outputs if o.output_type == "error"]
        assert len(errors) == 1, f"expected one error output, got {cell.outputs}"
        assert errors[0].ename == "CheckFailed"
        shown = "\n".join(_text(o) for o in cell.outputs)
        assert shown.startswith("Not yet: "), shown
        assert hint in shown
        assert "Traceback" not in shown and "File " not in shown and "sched_lib" not in shown, shown
        assert "ref =" not in shown and "fail(" not in shown and "min_snr_weight(" not in shown, shown
        assert len(shown.splitlines()) <= 6, shown
        assert all(len(line) <= 84 for line in shown.splitlines()), shown


def test_a_failed_check_still_fails_the_cell() -> None:
    """nbclient (the book build) stops on it; a ``raises-exception`` cell is allowed to fail."""
    source = WRONG_ANSWERS[0][0]
    with pytest.raises(nbclient.exceptions.CellExecutionError, match="your weight is NaN at SNR = 0") as failed:
        _run([source], allow_errors=False)
    assert failed.value.ename == "CheckFailed"
    nb = _run([source, "print('after')"], tags=[["raises-exception"], []], allow_errors=False)
    assert nb.cells[1].outputs[0].text == "after\n"


def test_other_errors_keep_their_traceback() -> None:
    """Only a failed check is shortened: a bug in the reader's own code shows its usual traceback."""
    nb = _run(["def f():\n    return 1 / 0\nf()"])
    shown = _text(nb.cells[0].outputs[0])
    assert "ZeroDivisionError" in shown and "Traceback" in shown or "----> " in shown


def test_outside_ipython_it_is_an_assertion_error() -> None:
    from sched_lib.checks.weighting import check_p2_profile

    with pytest.raises(AssertionError):
        check_p2_profile(lambda k, gamma: (k, k))
    assert issubclass(CheckFailed, AssertionError)


def test_nbval_fails_a_wrong_answer(tmp_path) -> None:
    """nbval --nbval-lax (CI) reports a failed check as a failed cell, unless it is tagged raises-exception."""
    pytest.importorskip("nbval")
    source = WRONG_ANSWERS[2][0]
    for tags, expected in (([], 1), (["raises-exception"], 0)):
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_code_cell(source, metadata={"tags": tags})]
        path = tmp_path / f"wrong_{len(tags)}.ipynb"
        nbformat.write(nb, path)
        run = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval-lax", str(path)],
            cwd=tmp_path, env=_kernel_env(), capture_output=True, text=True, timeout=300,
        )
        assert run.returncode == expected, run.stdout[-2000:]
        if expected:
            assert "Not yet:" in run.stdout and "Traceback (most recent call last)" not in run.stdout
