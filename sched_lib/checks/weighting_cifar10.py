"""Auto-checks for the exercises of the lab "Weighting on CIFAR-10" (``labs/weighting_cifar10.ipynb``).

Exercise 1 (steps for a convergence curve to reach a target) is checked on hand-made curves; exercise 2 (the
number of uniform draws before the VLB importance sampler of Nichol & Dhariwal 2021, §3.3, leaves its warm-up) by
comparing the reader's simulation with the expectation of this module's own simulation. Typical mistakes (the
last crossing instead of the first, no interpolation, the plain coupon collector, the minimum h·T) get hints.
"""

from __future__ import annotations

import functools

import numpy as np

from . import CheckFailed, call_answer, fail, passed

__all__ = ["check_steps_to_reach", "check_warmup_draws", "CheckFailed"]

# (steps, values, target, answer)
_REACH_CASES = [
    ([10, 20, 40], [1.0, 0.5, 0.25], 0.75, 15.0),
    ([10, 20, 40], [1.0, 0.5, 0.25], 0.25, 40.0),
    ([10, 20, 40], [1.0, 0.5, 0.25], 2.0, 10.0),
    ([10, 20, 40], [1.0, 0.5, 0.25], 0.1, None),
    ([100, 200, 300, 400], [0.9, 0.6, 0.7, 0.3], 0.65, 200 - 100 / 6),   # first crossing, not the last
    ([1, 2], [3.0, 1.0], 2.5, 1.25),
]


def check_steps_to_reach(steps_to_reach) -> None:
    """Exercise 1: ``steps_to_reach(steps, values, target) -> float | None``."""
    for steps, values, target, right in _REACH_CASES:
        what = f"steps={steps}, values={values}, target={target}"
        try:
            with np.errstate(all="ignore"):
                out = steps_to_reach(list(steps), list(values), target)
        except CheckFailed:
            raise
        except Exception as err:  # noqa: BLE001
            fail(f"your function raised {type(err).__name__} ({err}) on {what}")
        if right is None:
            if out is not None:
                fail(f"on {what} the curve never reaches the target: return None, got {out!r}")
            continue
        if out is None:
            fail(f"on {what} the curve does reach the target; you returned None")
        try:
            value = float(out)
        except (TypeError, ValueError):
            fail(f"return a number of steps (or None) on {what}, got {type(out).__name__}")
        if abs(value - right) < 1e-6 * max(1.0, abs(right)):
            continue
        k = next(i for i, v in enumerate(values) if v <= target)
        if abs(value - steps[k]) < 1e-9:
            fail(f"on {what} you returned the first measured step at or below the target; interpolate "
                 "linearly between it and the measurement before")
        fail(f"on {what} expected the first crossing of the target, interpolated; got {value:g}")
    passed(f"on {len(_REACH_CASES)} curves; e.g. values 1.0, 0.5, 0.25 at steps 10, 20, 40\nreach 0.75 at step 15.")


@functools.lru_cache(maxsize=8)
def _reference_mean(T: int, history: int, reps: int = 200) -> tuple:
    """Mean and standard deviation of the warm-up length over ``reps`` simulations (vectorised)."""
    rng = np.random.default_rng(20240601)
    out = []
    for _ in range(reps):
        n = int(T * (np.log(T) + history * 3 + 10))
        draws = rng.integers(0, T, size=n)
        onehot_counts = np.zeros(T, dtype=np.int64)
        # the position of the history-th occurrence of each step; the warm-up ends at the largest
        order = np.argsort(draws, kind="stable")
        sorted_t = draws[order]
        starts = np.searchsorted(sorted_t, np.arange(T))
        onehot_counts[:] = np.bincount(draws, minlength=T)
        if onehot_counts.min() < history:
            raise RuntimeError("reference simulation too short")  # pragma: no cover
        out.append(int(order[starts + history - 1].max()) + 1)
    out = np.array(out, dtype=np.float64)
    return float(out.mean()), float(out.std(ddof=1))


def check_warmup_draws(warmup_draws) -> None:
    """Exercise 2: ``warmup_draws(T, history, seed) -> int``, simulated draws until every step has ``history``."""
    for T, history in ((50, 10), (100, 10), (200, 3)):
        what = f"T={T}, history={history}"
        vals = []
        for seed in range(6):
            out = call_answer(warmup_draws, T, history, seed, what=f"{what}, seed={seed}")
            try:
                vals.append(float(out))
            except (TypeError, ValueError):
                fail(f"return a number of draws on {what}, got {type(out).__name__}")
        vals = np.array(vals)
        mean, sd = _reference_mean(T, history)
        if np.all(vals == vals[0]) and abs(vals[0] - T * history) < 0.5:
            fail(f"on {what} you returned T * history = {T * history}, the least possible number of draws; "
                 "random draws repeat some steps long before every step has its share: simulate them")
        coupon = T * np.sum(1.0 / np.arange(1, T + 1))
        if abs(vals.mean() - coupon) < 0.25 * coupon and history > 1 and abs(vals.mean() - mean) > 0.25 * mean:
            fail(f"on {what} your draws stop when every step was drawn once; wait for `history` draws of each")
        if np.any(vals < T * history):
            fail(f"on {what} some results are below T * history = {T * history}, which is impossible")
        if np.all(vals == vals[0]):
            fail(f"on {what} every seed gave the same answer {vals[0]:g}: use np.random.default_rng(seed)")
        if abs(vals.mean() - mean) > 4 * sd / np.sqrt(len(vals)) + 0.02 * mean:
            fail(f"on {what} your mean over 6 seeds is {vals.mean():.0f} draws; a correct simulation averages "
                 f"about {mean:.0f}")
    m100, _ = _reference_mean(100, 10)
    passed(f"on 3 settings x 6 seeds; for T = 100 and 10 losses per step\nthe warm-up takes about {m100:.0f} "
           f"draws on average, {m100 / 1000:.1f} times the minimum of 1000.")
