"""Argument checks shared by every module: each raises a ``ValueError`` that names the argument
and says what is allowed, so that bad input never turns into a NaN or a silently wrong array."""

from __future__ import annotations

import numbers

import numpy as np


def num_steps(value, name: str = "T", minimum: int = 1) -> int:
    """Return ``value`` as a Python int, requiring an integer >= ``minimum`` (bools and floats are refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r} ({type(value).__name__})")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value}")
    return int(value)


def real(value, name: str, *, low=None, high=None, low_open=False, high_open=False) -> float:
    """Return ``value`` as a float, requiring a finite real number inside the given bounds."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a finite real number, got {value!r} ({type(value).__name__})")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    too_low = low is not None and (value <= low if low_open else value < low)
    too_high = high is not None and (value >= high if high_open else value > high)
    if too_low or too_high:
        left = "(" if low_open else "["
        right = ")" if high_open else "]"
        lo = "-inf" if low is None else f"{low:g}"
        hi = "inf" if high is None else f"{high:g}"
        raise ValueError(f"{name} must lie in {left}{lo}, {hi}{right}, got {value:g}")
    return value


def flag(value, name: str) -> bool:
    """Return ``value`` if it is a bool (or numpy bool), else raise."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def array(value, name: str, *, ndim: int | None = None, allow_inf: bool = False) -> np.ndarray:
    """Return ``value`` as a float64 array; refuse non-numeric input, NaN, and (unless allowed) inf."""
    try:
        out = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be an array of real numbers, got {type(value).__name__}") from err
    if ndim is not None and out.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-dimensional, got shape {out.shape}")
    if np.isnan(out).any():
        raise ValueError(f"{name} contains NaN at index {tuple(np.argwhere(np.isnan(out))[0])}")
    if not allow_inf and np.isinf(out).any():
        raise ValueError(f"{name} contains inf at index {tuple(np.argwhere(np.isinf(out))[0])}")
    return out


def unit_time(t, name: str = "t") -> np.ndarray:
    """Return continuous time ``t`` as float64, requiring every value in [0, 1]."""
    out = array(t, name)
    if ((out < 0) | (out > 1)).any():
        bad = out[(out < 0) | (out > 1)].flat[0]
        raise ValueError(f"{name} must lie in [0, 1] (0 = data, 1 = noise), got {bad:g}")
    return out


def choice(value, name: str, allowed) -> str:
    """Require ``value`` to be one of ``allowed`` (strings)."""
    if value not in allowed:
        raise ValueError(f"unknown {name} {value!r}; valid: {', '.join(map(repr, allowed))}")
    return value
