"""Auto-checks for the exercises of the lab "Design a schedule" (``labs/design_a_schedule.ipynb``).

Exercise 1 discretises a designed log-SNR curve (knots at equally spaced t, λ linear in between,
ᾱ = sigmoid(λ); Kingma et al. 2021, eq. 3), checked against the registry schedule ``piecewise_log_snr``.
Exercise 2 is the seed's exercise 6, corrected: design knots whose schedule beats ``cosine`` on a stated
score, here the exact W₂ *and* KL between a few-step DDIM sampler's output and Gaussian data
(:mod:`sched_lib.gaussian`; chapter "The Endpoints and Sampling"). :func:`score_design` is the scorer the
lab and the check share. When an answer is wrong the check says what is wrong without giving an answer.
"""

from __future__ import annotations

import numbers

import numpy as np

from . import CheckFailed, as_array, call_answer, fail, passed

__all__ = ["check_alpha_bar_piecewise", "check_design", "score_design", "CheckFailed"]

#: Training steps T of every schedule the checks build.
T = 1000


def _schedule(knots):
    from ..schedules import get_schedule

    return get_schedule("piecewise_log_snr", T, log_snr=[float(k) for k in knots])


# --------------------------------------------------------------------------------------------------
# Exercise 1: from knots to alpha_bar_t
# --------------------------------------------------------------------------------------------------

_KNOT_CASES = ((10.0, -10.0), (8.0, 2.0, -1.0, -12.0), (12.5, 6.6, -9.4))


def check_alpha_bar_piecewise(alpha_bar_piecewise) -> None:
    """Check ``alpha_bar_piecewise(knots, T)``: ᾱ_t at t = 1..T (float array (T,)) of the curve with λ
    linear in t between ``knots`` placed at equally spaced t in [0, 1] (t = 0: data, t = 1: noise)."""
    from ..schedules import alpha_bar_from_log_snr

    for knots in _KNOT_CASES:
        for n in (4, 1000):
            what = f"knots={list(knots)}, T={n}"
            out = as_array(call_answer(alpha_bar_piecewise, list(knots), n, what=what), f"the result on {what}")
            if out.shape != (n,):
                fail(f"on {what} return T values (t = 1..T), got shape {out.shape}")
            from ..schedules import get_schedule

            want = get_schedule("piecewise_log_snr", n, log_snr=list(knots)).alpha_bar
            if np.allclose(out, want, rtol=1e-9, atol=1e-15):
                continue
            grid = np.linspace(0.0, 1.0, len(knots))
            t0 = np.arange(n) / n
            if np.allclose(out, alpha_bar_from_log_snr(np.interp(t0, grid, knots)), rtol=1e-9, atol=1e-15):
                fail(f"on {what} your values are one step early: step t reads the curve at t/T for t = 1..T "
                     "(t = 0 is the data itself)")
            t1 = np.arange(1, n + 1) / n
            if np.allclose(out, np.interp(t1, grid, alpha_bar_from_log_snr(np.asarray(knots))), rtol=1e-9):
                fail(f"on {what} you interpolated alpha_bar between the knots; the design is linear in log-SNR")
            with np.errstate(over="ignore"):
                if np.allclose(out, np.exp(np.interp(t1, grid, knots)), rtol=1e-9):
                    fail(f"on {what} your values exceed 1: alpha_bar is the sigmoid of the log-SNR, not its exp")
            if np.allclose(out, alpha_bar_from_log_snr(np.interp(t1, grid[::-1], knots)), rtol=1e-9):
                fail(f"on {what} the knots run backwards: the first knot belongs to t = 0 (the data)")
            fail(f"on {what} your values differ from the designed curve (largest difference "
                 f"{np.abs(out - want).max():.3g})")
    passed("knots at equally spaced t, lambda linear in between, alpha_bar = sigmoid(lambda) at t/T.")


# --------------------------------------------------------------------------------------------------
# Exercise 2: design knots that beat cosine on the exact Gaussian
# --------------------------------------------------------------------------------------------------

def score_design(data, schedule, steps: int = 10, spacing: str = "trailing") -> dict:
    """Exact scores of a schedule's DDIM sampler (η = 0, ``steps`` steps, ``spacing``) on Gaussian ``data``:
    ``{"w2": W₂, "kl": KL(output ‖ data) in nats}`` (:func:`sched_lib.gaussian.w2_to_data`, ``kl_to_data``)."""
    from ..gaussian import kl_to_data, w2_to_data

    return {"w2": float(w2_to_data(data, schedule, "ddim", steps, spacing)),
            "kl": float(kl_to_data(data, schedule, "ddim", steps, spacing))}


def check_design(knots, data, steps: int = 10, spacing: str = "trailing") -> dict:
    """Check designed ``knots`` (a list of log-SNR values, the ``log_snr`` of ``piecewise_log_snr``): a valid
    schedule whose ``steps``-step DDIM sampler has a lower exact W₂ **and** a lower KL to Gaussian ``data``
    than ``cosine``'s. Returns both schedules' scores."""
    from ..gaussian import GaussianData
    from ..schedules import get_schedule

    if not isinstance(data, GaussianData):
        fail(f"pass the lab's GaussianData as data, got {type(data).__name__}")
    if isinstance(knots, (str, bytes)) or np.ndim(knots) != 1:
        fail(f"knots should be a flat list of numbers (log-SNR values), got {knots!r}")
    values = list(np.asarray(knots, dtype=object).tolist())
    if len(values) < 2:
        fail(f"a schedule needs at least 2 knots (its two ends), got {len(values)}")
    if not all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in values):
        fail("every knot should be a number (a log-SNR value)")
    k = np.asarray(values, dtype=np.float64)
    if not np.isfinite(k).all():
        fail("every knot must be finite: a log-SNR of ±inf would put alpha_bar at exactly 1 or 0 at an end")
    if (np.diff(k) >= 0).any():
        fail("the knots must decrease strictly from t = 0 (data, high log-SNR) to t = 1 (noise, low log-SNR)")
    if k[0] < 0:
        fail(f"your first knot is {k[0]:g}: at t = 0 the data should be nearly clean (log-SNR well above 0)")
    if k[-1] > 0:
        fail(f"your last knot is {k[-1]:g}: at t = 1 the sample should be nearly pure noise (log-SNR well below 0)")
    try:
        mine = score_design(data, _schedule(k), steps, spacing)
    except ValueError as err:
        fail(f"these knots do not give a usable schedule: {err}")
    ref = score_design(data, get_schedule("cosine", T), steps, spacing)
    line = (f"{steps} {spacing} DDIM steps: yours W2 {mine['w2']:.3f}, KL {mine['kl']:.1f} nats; "
            f"cosine W2 {ref['w2']:.3f}, KL {ref['kl']:.1f} nats")
    worse = [name for name in ("w2", "kl") if not mine[name] < ref[name]]
    if worse:
        hint = {"w2": "W2 is dominated by the largest-variance directions, decided at low log-SNR",
                "kl": "the KL is dominated by the many small-variance directions, decided at high log-SNR"}
        fail(f"{line}. Not better than cosine on {' and '.join(n.upper() for n in worse)}: "
             + "; ".join(hint[n] for n in worse) + ". Where do your few steps land?")
    passed(line.replace("; cosine", ";\ncosine") + ". Better than cosine on both.")
    return {"design": mine, "cosine": ref}
