"""Auto-checks for the exercises of the lab "Schedules on CIFAR-10" (``labs/schedules_cifar10.ipynb``).

Exercise 1 (the seed notes' exercise 3, corrected: compare two configurations only by a difference larger than
the seed-to-seed spread) is checked on hand-made per-seed scores; exercise 2 (the share of a schedule's steps
below a log-SNR) against :func:`sched_lib.quantities.get_schedule_quantities`. Typical mistakes (comparing means,
higher-is-better, the share above instead of below, ᾱ in place of λ) get hints of their own.
"""

from __future__ import annotations

import numpy as np

from ..quantities import get_schedule_quantities
from ..schedules import get_schedule
from . import CheckFailed, call_answer, fail, passed

__all__ = ["check_verdict", "check_share_below", "CheckFailed"]

# (a, b, right answer, what a mean-comparison would say)
_VERDICT_CASES = [
    ([1.0, 1.2], [2.0, 2.5], "a"),
    ([3.0, 3.1], [1.0, 1.4], "b"),
    ([1.0, 2.0], [1.5, 2.6], "tie"),          # means differ (1.5 vs 2.05) but the ranges overlap
    ([0.50, 0.52, 0.49], [0.51, 0.60], "tie"),
    ([5.0, 5.0], [5.0, 5.0], "tie"),
    ([0.3, 0.31], [0.32, 0.35, 0.33], "a"),
    ([2.0, 4.0], [1.0, 3.0], "tie"),          # b has the lower mean, overlapping ranges
]


def check_verdict(compare) -> None:
    """Exercise 1: ``compare(a, b) -> "a" | "b" | "tie"`` from per-seed scores (lower is better)."""
    for a, b, right in _VERDICT_CASES:
        what = f"a = {a}, b = {b}"
        out = call_answer(compare, list(a), list(b), what=what)
        if out not in ("a", "b", "tie"):
            fail(f"return the string 'a', 'b' or 'tie', got {out!r} on {what}")
        if out == right:
            continue
        mean_a, mean_b = float(np.mean(a)), float(np.mean(b))
        flipped = {"a": "b", "b": "a"}.get(right)
        if right != "tie" and out == flipped:
            fail(f"on {what} you picked the configuration with the *higher* scores: lower is better for FID "
                 "and for the stand-in")
        if right == "tie" and out == ("a" if mean_a < mean_b else "b"):
            fail(f"on {what} the means differ but the seed ranges overlap: a difference smaller than the spread "
                 "between seeds of one configuration is not evidence. Compare the ranges, not the means")
        fail(f"wrong answer on {what}: got {out!r}")
    passed(f"on {len(_VERDICT_CASES)} cases; e.g. a = [1.0, 2.0] vs b = [1.5, 2.6] is a tie\nalthough a's mean is "
           "lower.")


_SHARE_CASES = [("linear", 1000, -5.0), ("cosine", 1000, -5.0), ("chen_sigmoid", 1000, 0.0),
                ("logistic", 1000, 2.5), ("cosine", 100, -2.0), ("linear", 1000, 20.0)]


def _share(name, T, lam) -> float:
    return float(np.mean(get_schedule_quantities(get_schedule(name, T)).log_snr < lam))


def check_share_below(share_below) -> None:
    """Exercise 2: ``share_below(name, T, lam) -> float``, the fraction of the T steps with λ_t < lam."""
    for name, T, lam in _SHARE_CASES:
        what = f"({name!r}, T={T}, lam={lam})"
        out = call_answer(share_below, name, T, lam, what=what)
        try:
            value = float(np.asarray(out, dtype=np.float64).reshape(()))
        except (TypeError, ValueError):
            fail(f"return one number (a fraction in [0, 1]) on {what}, got {type(out).__name__}")
        right = _share(name, T, lam)
        if abs(value - right) <= 1.5 / T:  # one step of slack for < versus <=
            continue
        q = get_schedule_quantities(get_schedule(name, T))
        if abs(value - (1 - right)) <= 1.5 / T:
            fail(f"on {what} you returned the share *above* lam: λ_t falls with t, so 'below' is the noisy end")
        if abs(value - float(np.mean(q.alpha_bar < lam))) <= 1.5 / T:
            fail(f"on {what} you compared ᾱ_t with lam; compare the log-SNR λ_t = log(ᾱ_t / (1 − ᾱ_t))")
        if abs(value - right * T) <= 1.5:
            fail(f"on {what} you returned a count of steps; return the fraction (divide by T)")
        fail(f"on {what} expected a share of about {right:.3f}, got {value:.3f}")
    passed(f"on {len(_SHARE_CASES)} cases; e.g. linear puts {_share('linear', 1000, -5.0):.1%} of its 1000 steps\n"
           f"below λ = −5, cosine {_share('cosine', 1000, -5.0):.1%}.")
