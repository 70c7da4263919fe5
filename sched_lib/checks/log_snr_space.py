"""Auto-checks for the exercises of the chapter "Schedules in Log-SNR Space" (``chapters/log_snr_space.ipynb``).

Each check calls the reader's function on several schedules or parameter pairs, compares with an
independent reference (the library's chains, its log-SNR curves and the numerical change of variables in
:class:`sched_lib.weighting.UniformTime`) and, when the answer is wrong, says *what* is wrong without
giving the answer away. Typical mistakes (an off-by-one in t, β in place of ᾱ, the seed notes' sign or
normalisation, a missing Jacobian factor) get a hint of their own.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from . import CheckFailed, as_array, call_answer, fail, passed

__all__ = [
    "check_step_fractions",
    "check_logistic_alpha_bar",
    "check_truncated_cosine_density",
    "CheckFailed",
]


def _logit(p: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(p) - np.log1p(-p)


# --------------------------------------------------------------------------------------------------
# Exercise 1: how a schedule distributes its steps over λ
# --------------------------------------------------------------------------------------------------

def _fractions(lam: np.ndarray) -> np.ndarray:
    """(fraction with |λ| ≤ 5, fraction with λ < −5) of an array of log-SNR values."""
    return np.array([np.mean(np.abs(lam) <= 5.0), np.mean(lam < -5.0)])


def _step_fraction_variants(betas: np.ndarray) -> dict:
    """The right answer and the typical wrong ones, each as (inside, below)."""
    from ..quantities import get_schedule_quantities

    lam = np.array(get_schedule_quantities(betas).log_snr)  # λ_t, t = 1..T
    alpha = 1.0 - betas
    with np.errstate(divide="ignore"):
        lam_with_zero = np.concatenate([[np.inf], lam])   # λ_0 = +inf (ᾱ_0 = 1) included
    return {
        "right": _fractions(lam),
        "shifted": _fractions(lam_with_zero[:-1]),           # λ_{t−1} in place of λ_t
        "with_zero": _fractions(lam_with_zero),              # T + 1 values, t = 0..T
        "per_step_alpha": _fractions(_logit(alpha)),         # log(α_t/β_t): the per-step ratio
        "per_step_beta": _fractions(_logit(betas)),          # log(β_t/α_t)
        "beta": _fractions(betas),                           # β_t itself
    }


_STEP_HINTS = {
    "shifted": "your fractions match the log-SNR of t-1 instead of t (an off-by-one: index 0 of the "
               "arrays is step t = 1, and alpha_bar_0 = 1 is the data, not a step)",
    "with_zero": "your fractions are taken over T + 1 values: you included t = 0 (alpha_bar_0 = 1, the "
                 "data), which is not a step. Count only t = 1..T",
    "per_step_alpha": "your fractions match log((1 - beta_t)/beta_t), a per-step ratio: the log-SNR uses "
                      "the cumulative alpha_bar_t = prod_{s<=t}(1 - beta_s), not alpha_t = 1 - beta_t",
    "per_step_beta": "your fractions match the logit of beta_t: the log-SNR is log(alpha_bar_t/(1 - "
                     "alpha_bar_t)) with the cumulative product alpha_bar_t, not a function of beta_t alone",
    "beta": "your fractions match thresholds applied to beta_t itself: compute the log-SNR "
            "lambda_t = log(alpha_bar_t/(1 - alpha_bar_t)) first",
}


def _step_cases():
    from ..schedules import get_schedule

    return [
        ("the linear schedule (T = 1000)", np.array(get_schedule("linear", 1000).betas)),
        ("the cosine schedule (T = 1000)", np.array(get_schedule("cosine", 1000).betas)),
        ("Stable Diffusion's scaled_linear schedule (T = 1000)", np.array(get_schedule("scaled_linear", 1000).betas)),
        ("the logistic schedule (T = 50)", np.array(get_schedule("logistic", 50).betas)),
    ]


def check_step_fractions(step_fractions) -> None:
    """Exercise 1: ``step_fractions(betas) -> (inside, below)``.

    ``inside`` is the fraction of steps t = 1..T with |λ_t| ≤ 5, ``below`` the fraction with λ_t < −5.
    Checked on linear and cosine (the four fractions of the seed errata, row 17) and on two more chains.
    """
    found = {}
    for what, betas in _step_cases():
        T = betas.size
        out = call_answer(step_fractions, betas.copy(), what=what)
        if isinstance(out, dict) or isinstance(out, numbers.Number):
            fail("return two numbers, (inside, below): the fraction of steps with |lambda| <= 5 and the "
                 "fraction with lambda < -5")
        got = as_array(out, f"the result on {what}")
        if got.shape != (2,):
            fail(f"return two numbers, (inside, below), got an array of shape {got.shape} on {what}")
        if (got > 1).any() and (got <= 100).all() and (got >= 0).all():
            fail(f"your result on {what} is {got.tolist()}: give fractions in [0, 1], not percentages")
        if (got < 0).any() or (got > 1).any():
            fail(f"a fraction must lie in [0, 1], got {got.tolist()} on {what}")
        variants = _step_fraction_variants(betas)
        right = variants["right"]
        if np.allclose(got, right, rtol=0, atol=1e-9):
            found[what] = got
            continue
        if np.allclose(got, right[::-1], rtol=0, atol=1e-9) and not np.allclose(right, right[::-1]):
            fail("your two fractions are in the wrong order: return (inside, below), i.e. first the "
                 "fraction with |lambda| <= 5, then the fraction with lambda < -5")
        for key, hint in _STEP_HINTS.items():
            if np.allclose(got, variants[key], rtol=0, atol=1e-9):
                fail(hint)
        # A float32 computation may move a step that sits right at |λ| = 5: allow 1.5 steps.
        tol = 1.5 / T
        if np.all(np.abs(got - right) <= tol):
            found[what] = got
            continue
        names = ("|lambda| <= 5", "lambda < -5")
        i = int(np.argmax(np.abs(got - right)))
        direction = "too large" if got[i] > right[i] else "too small"
        fail(f"on {what} your fraction of steps with {names[i]} is {direction} ({got[i]:.4f}). Compute "
             "lambda_t for t = 1..T from the cumulative product alpha_bar_t and count the steps")
    lin = found["the linear schedule (T = 1000)"]
    cos = found["the cosine schedule (T = 1000)"]
    passed(f"|lambda| <= 5 for {lin[0]:.1%} of linear steps and {cos[0]:.1%} of cosine steps; "
           f"lambda < -5 for {lin[1]:.1%} (linear) and {cos[1]:.1%} (cosine).")


# --------------------------------------------------------------------------------------------------
# Exercise 2: the schedule with exactly uniform log-SNR spacing
# --------------------------------------------------------------------------------------------------

_LOGISTIC_PAIRS = [(10.0, -10.0), (13.3, -5.0), (3.0, -3.0), (6.0, -14.0)]


def check_logistic_alpha_bar(alpha_bar) -> None:
    """Exercise 2: ``alpha_bar(t, log_snr_max, log_snr_min)`` for t ∈ [0, 1] (an array).

    The answer must give a log-SNR that is exactly linear in t, from λ_max at t = 0 to λ_min at t = 1,
    with ᾱ in (0, 1) and decreasing. Checked for several endpoint pairs.
    """
    t = np.linspace(0.0, 1.0, 101)
    for hi, lo in _LOGISTIC_PAIRS:
        what = f"log_snr_max={hi:g}, log_snr_min={lo:g}"
        out = call_answer(alpha_bar, t.copy(), hi, lo, what=what)
        ab = as_array(out, f"alpha_bar(t, {hi:g}, {lo:g})")
        if ab.shape != t.shape:
            fail(f"alpha_bar(t, ...) should return one value per t, shape {t.shape}, got {ab.shape} ({what})")
        if np.isinf(ab).any():
            fail(f"alpha_bar contains inf ({what})")
        if (ab > 1).any():
            snr = np.exp(hi - (hi - lo) * t)
            if np.allclose(ab, snr, rtol=1e-6):
                fail("your values are the SNR e^lambda, which exceeds 1: alpha_bar is SNR/(1 + SNR)")
            if abs(ab[0] - 1) < 1e-9 and ab[-1] > 1:
                fail("alpha_bar starts at 1 and grows above 1: this is the normalised form of a widely copied sigmoid schedule, "
                     "sigmoid(-a + 2at/T)/sigmoid(-a). Check the sign of the t-term, and do not divide by "
                     "the value at t = 0")
            fail(f"alpha_bar must lie in (0, 1), but reaches {ab.max():.4g} ({what}). Did you return "
                 "lambda itself instead of alpha_bar?")
        if (ab <= 0).any():
            fail(f"alpha_bar must lie in (0, 1), but reaches {ab.min():.4g} ({what}). Did you return "
                 "lambda itself instead of alpha_bar?")
        if np.all(np.diff(ab) == 0):
            fail(f"alpha_bar is constant in t ({what}): it must fall from sigmoid(log_snr_max) to "
                 "sigmoid(log_snr_min)")
        if np.all(np.diff(ab) >= 0):
            fail("alpha_bar increases with t: noise must grow with t. The widely copied sigmoid(-a + 2at/T) "
                 "has this wrong sign; check the sign of the t-term (and which endpoint belongs to t = 0)")
        if not np.all(np.diff(ab) < 0):
            fail(f"alpha_bar must be strictly decreasing in t ({what})")
        if abs(ab[0] - 1) < 1e-12:
            fail("alpha_bar(0) = 1 exactly, so lambda(0) = +inf: you normalised by the value at t = 0 "
                 "(the widely copied form). The schedule asked for starts at lambda_max, where "
                 "alpha_bar(0) = sigmoid(lambda_max) < 1")
        lam = _logit(ab)
        if not np.isfinite(lam).all():
            fail(f"the log-SNR of your alpha_bar is not finite somewhere ({what})")
        target = hi - (hi - lo) * t
        if abs(lam[0] - hi) > 1e-6 or abs(lam[-1] - lo) > 1e-6:
            if abs(lam[0] - lo) < 1e-6 and abs(lam[-1] - hi) < 1e-6:
                fail("the endpoints are swapped: lambda(0) should be log_snr_max and lambda(1) log_snr_min")
            fail(f"wrong endpoints ({what}): your log-SNR runs from {lam[0]:.4g} at t = 0 to {lam[-1]:.4g} "
                 "at t = 1; it should run from log_snr_max to log_snr_min")
        resid = np.abs(lam - target).max()
        if resid > 1e-6:
            ab_lin = _sigmoid(hi) + (_sigmoid(lo) - _sigmoid(hi)) * t
            if np.allclose(ab, ab_lin, rtol=1e-9, atol=1e-12):
                fail("you interpolated alpha_bar linearly between the endpoints; it is the log-SNR that "
                     "must be linear in t")
            fail(f"the endpoints are right but lambda(t) = logit(alpha_bar) is not linear in t: it departs "
                 f"from the straight line by up to {resid:.3g} nats ({what})")
    passed("logit(alpha_bar) is exactly linear in t, from log_snr_max to log_snr_min, for every endpoint "
           "pair tried: this is the logistic (linear log-SNR) schedule.")


def _sigmoid(x):
    return 1.0 / (1.0 + math.exp(-x))


# --------------------------------------------------------------------------------------------------
# Exercise 3: p(λ) of simple diffusion's truncated cosine schedule, by change of variables
# --------------------------------------------------------------------------------------------------

_DENSITY_PAIRS = [(10.0, -10.0), (5.0, -5.0), (15.0, -15.0), (4.0, -12.0)]


def _reference_density(lam: np.ndarray, hi: float, lo: float) -> np.ndarray:
    """p(λ) by numerical change of variables (bisection + finite difference), not by the closed form."""
    from ..schedules import shifted_cosine_log_snr
    from ..weighting import UniformTime

    sched = UniformTime(lambda t: shifted_cosine_log_snr(t, log_snr_max=hi, log_snr_min=lo))
    return sched.log_snr_density(lam)


def _trapezoid(y: np.ndarray, x: np.ndarray) -> float:
    return float(np.sum(0.5 * (y[1:] + y[:-1]) * np.diff(x)))


def check_truncated_cosine_density(density) -> None:
    """Exercise 3: ``density(lam, log_snr_max, log_snr_min) -> p(λ)`` for the truncated cosine λ(t) = −2 log tan(t_min + t(t_max − t_min)).

    t ∼ U(0, 1) and t_min, t_max are set by λ(0) = log_snr_max, λ(1) = log_snr_min (simple diffusion,
    Hoogeboom et al. 2023, eq. 5-6). The answer must be vectorised in ``lam``, non-negative, zero outside
    [log_snr_min, log_snr_max], and equal the density of λ there.
    """
    for hi, lo in _DENSITY_PAIRS:
        what = f"log_snr_max={hi:g}, log_snr_min={lo:g}"
        inner = np.linspace(lo, hi, 401)[1:-1]
        # stay a little inside the ends, where the reference's finite difference is accurate
        inner = inner[(inner > lo + 1e-3) & (inner < hi - 1e-3)]
        outside = np.concatenate([np.linspace(lo - 5, lo - 0.01, 20), np.linspace(hi + 0.01, hi + 5, 20)])
        lam = np.concatenate([inner, outside])
        out = call_answer(density, lam.copy(), hi, lo, what=what)
        p = as_array(out, f"density(lam, {hi:g}, {lo:g})")
        if p.shape != lam.shape:
            fail(f"density(lam, ...) should return one value per lambda, shape {lam.shape}, got {p.shape} ({what})")
        if not np.isfinite(p).all():
            fail(f"your density is infinite somewhere ({what})")
        if (p < 0).any():
            fail("your density is negative: a density is |dt/dlambda|, the absolute value (lambda decreases "
                 "with t, so dt/dlambda < 0)")
        p_in, p_out = p[: inner.size], p[inner.size:]
        if not (p_in > 0).any():
            fail(f"your density is zero everywhere inside [log_snr_min, log_snr_max] ({what}); every lambda "
                 "there is reached by some t in [0, 1]")
        if np.abs(p_out).max() > 1e-12:
            fail(f"your density is not zero outside [log_snr_min, log_snr_max] ({what}): no t in [0, 1] "
                 "maps there, so p(lambda) = 0")
        ref = _reference_density(inner, hi, lo)
        if np.allclose(p_in, ref, rtol=1e-5, atol=0):
            continue
        mass = _trapezoid(p_in, inner)
        ratio = p_in / ref
        if np.allclose(ratio, ratio[0], rtol=1e-5):
            width = math.atan(math.exp(-0.5 * lo)) - math.atan(math.exp(-0.5 * hi))
            if abs(ratio[0] - 4 * width / (2 * math.pi)) < 1e-5 * ratio[0]:
                fail("your density has the right shape but is off by a constant factor: it is the density "
                     "of the full cosine schedule (theta running over [0, pi/2]). Here t in [0, 1] only "
                     f"sweeps [t_min, t_max]; your density integrates to {mass:.4f} over the range, not 1")
            fail(f"your density has the right shape but is off by a constant factor ({ratio[0]:.4g}); "
                 f"it integrates to {mass:.4f} over [log_snr_min, log_snr_max] instead of 1. Check the "
                 "Jacobian of the rescaled time t_min + t (t_max - t_min)")
        fail(f"your density does not match the distribution of lambda(t) for t ~ U(0, 1) ({what}); it "
             f"integrates to {mass:.4f} over the range. Check the derivative dlambda/dt (the argument of "
             "the hyperbolic function in particular)")
    passed("p(lambda) matches the density of lambda(t) under uniform t for every endpoint pair tried, and "
           "vanishes outside [log_snr_min, log_snr_max].")
