"""Auto-checks for the exercises: each says *what* is wrong without giving the answer away.

One module per chapter (``sched_lib.checks.<chapter>``); every check raises :class:`CheckFailed`
(an ``AssertionError``, so nbval and pytest report it as a failure) with a hint, or prints a short
confirmation. Each check is unit-tested to accept the worked solution and reject typical wrong answers
(``tests/test_checks_<chapter>.py``).

In Jupyter, Colab and the book build (any IPython kernel) a failed check shows only its hint, wrapped to
the page's column: IPython asks an exception for ``_render_traceback_()`` before it formats a traceback, and
:class:`CheckFailed` answers with the message alone. So the reader never sees a traceback through this
package, which would print the check's own reference computation. The cell still fails as any error does
(the kernel's execute reply has status ``"error"``), so nbval, nbclient and the build still stop on a wrong
answer, and a cell tagged ``raises-exception`` still passes. Outside IPython (pytest, plain Python) it is an
ordinary ``AssertionError`` with its full traceback (``tests/test_checks_feedback.py``).
"""

from __future__ import annotations

import textwrap

import numpy as np

__all__ = ["CheckFailed", "feedback_lines", "fail", "passed", "as_array", "call_answer"]


#: Width of feedback lines: at 1400 px a code output holds about 88 characters, inside a solution 85.
FEEDBACK_WIDTH = 84


class CheckFailed(AssertionError):
    """An exercise answer is wrong; the message says what to look at."""

    def _render_traceback_(self) -> list[str]:
        """What IPython shows for this error instead of a traceback: the hint, in lines that fit the column."""
        return feedback_lines(str(self))


def feedback_lines(message: str, width: int = FEEDBACK_WIDTH) -> list[str]:
    """The lines a failed check prints in a notebook: ``Not yet: <hint>``, wrapped at ``width`` characters."""
    head = "Not yet: "
    lines = textwrap.wrap(" ".join(message.split()), width=width, initial_indent=head, subsequent_indent="  ",
                          break_on_hyphens=False) or [head.strip()]
    # The label in bold red, as Jupyter colours an error name (ANSI codes; stripped by plain-text viewers).
    return ["\x1b[1;31m" + head.strip() + "\x1b[0m" + lines[0][len(head.strip()):]] + lines[1:]


def fail(message: str):
    """Raise :class:`CheckFailed` with a hint."""
    raise CheckFailed(message)


def passed(message: str) -> None:
    """Print the confirmation shown under a correct answer, wrapped to the page's column."""
    print(textwrap.fill(" ".join(f"Correct: {message}".split()), width=FEEDBACK_WIDTH, subsequent_indent="  ",
                        break_on_hyphens=False))


def as_array(value, name: str, shape=None,
             nan_hint: str = "look for 0/0 or the log of a negative number") -> np.ndarray:
    """Turn an answer into a float64 array, failing with a hint when it cannot be, has the wrong shape or
    contains NaN (``nan_hint`` says where a NaN usually comes from in this exercise)."""
    try:
        out = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        fail(f"{name} should be an array of numbers, got {type(value).__name__}")
    if shape is not None and out.shape != tuple(shape):
        fail(f"{name} should have shape {tuple(shape)}, got {out.shape}")
    if np.isnan(out).any():
        fail(f"{name} contains NaN: {nan_hint}")
    return out


def call_answer(fn, *args, what: str = "", **kwargs):
    """Call the reader's function; a crash, a non-function or a missing ``return`` becomes a hint.

    NumPy warnings are silenced inside the call (the check judges NaN and inf in the result itself).
    ``what`` names the inputs, so the hint can say where the answer broke.
    """
    where = f" on {what}" if what else ""
    if not callable(fn):
        fail(f"pass your function itself (not its result) to the check, got {type(fn).__name__}")
    try:
        with np.errstate(all="ignore"):
            out = fn(*args, **kwargs)
    except CheckFailed:
        raise
    except Exception as err:  # noqa: BLE001 - any crash of the answer is reported as a hint
        fail(f"your function raised {type(err).__name__} ({err}){where}")
    if out is None:
        fail(f"your function returned None{where}: did you forget the `return` (or leave the `...` stub)?")
    return out
