"""Auto-checks for the exercises: each says *what* is wrong without giving the answer away.

One module per chapter (``sched_lib.checks.<chapter>``); every check raises :class:`CheckFailed`
(an ``AssertionError``, so nbval and pytest report it as a failure) with a hint, or prints a short
confirmation. Each check is unit-tested to accept the worked solution and reject typical wrong answers
(``tests/test_checks_<chapter>.py``).
"""

from __future__ import annotations

import numpy as np

__all__ = ["CheckFailed", "fail", "passed", "as_array", "call_answer"]


class CheckFailed(AssertionError):
    """An exercise answer is wrong; the message says what to look at."""


def fail(message: str):
    """Raise :class:`CheckFailed` with a hint."""
    raise CheckFailed(message)


def passed(message: str) -> None:
    """Print the confirmation shown under a correct answer."""
    print(f"Correct: {message}")


def as_array(value, name: str, shape=None) -> np.ndarray:
    """Turn an answer into a float64 array, failing with a hint when it cannot be or has the wrong shape."""
    try:
        out = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        fail(f"{name} should be an array of numbers, got {type(value).__name__}")
    if shape is not None and out.shape != tuple(shape):
        fail(f"{name} should have shape {tuple(shape)}, got {out.shape}")
    if np.isnan(out).any():
        fail(f"{name} contains NaN: look for 0/0 or the log of a negative number")
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
