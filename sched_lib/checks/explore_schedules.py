"""Auto-checks for the exercises of the lab "Explore Schedules" (``labs/explore_schedules.ipynb``).

Each check calls the reader's function on several schedules or resolutions, compares with an independent
reference computed here, and, when the answer is wrong, says *what* is wrong without giving the answer
away. Typical mistakes (amplitudes in place of variances, β or α_t in place of the cumulative ᾱ_t, an
off-by-one in t, the seed notes' backwards resolution rule, a missing factor 2) get a hint of their own.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from . import CheckFailed, as_array, call_answer, fail, passed

__all__ = ["check_noisy_fraction", "check_matched_log_snr", "CheckFailed"]


# --------------------------------------------------------------------------------------------------
# Exercise 1: the fraction of steps that are almost pure noise
# --------------------------------------------------------------------------------------------------

def _fraction_below(alpha_bar: np.ndarray, var_x0: float, threshold: float, amplitude: bool = False) -> float:
    if amplitude:
        sig, noise = np.sqrt(alpha_bar * var_x0), np.sqrt(1.0 - alpha_bar)
    else:
        sig, noise = alpha_bar * var_x0, 1.0 - alpha_bar
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where(sig + noise > 0, sig / (sig + noise), 0.0)
    return float(np.mean(frac < threshold))


def _noisy_variants(betas: np.ndarray, var_x0: float, threshold: float) -> dict:
    alpha_bar = np.cumprod(1.0 - betas)
    with_zero = np.concatenate([[1.0], alpha_bar])
    return {
        "right": _fraction_below(alpha_bar, var_x0, threshold),
        "unit_variance": _fraction_below(alpha_bar, 1.0, threshold),
        "std": _fraction_below(alpha_bar, math.sqrt(var_x0), threshold),
        "amplitude": _fraction_below(alpha_bar, var_x0, threshold, amplitude=True),
        "shifted": _fraction_below(with_zero[:-1], var_x0, threshold),
        "with_zero": _fraction_below(with_zero, var_x0, threshold),
        "per_step": _fraction_below(1.0 - betas, var_x0, threshold),
        "above": 1.0 - _fraction_below(alpha_bar, var_x0, threshold),
    }


_NOISY_HINTS = {
    "unit_variance": "your fractions ignore var_x0: the signal part of x_t has variance alpha_bar_t * var_x0, "
                     "not alpha_bar_t (CIFAR-10 in [-1, 1] has a variance of about 0.25, not 1)",
    "std": "you used the standard deviation of x0 where its variance belongs: the signal part of x_t has "
           "variance alpha_bar_t * var_x0",
    "amplitude": "you compared amplitudes (sqrt(alpha_bar) and sqrt(1 - alpha_bar)): the signal fraction is "
                 "a ratio of variances, alpha_bar*v / (alpha_bar*v + 1 - alpha_bar)",
    "shifted": "your fractions match alpha_bar of step t-1 instead of t (an off-by-one: index 0 of the "
               "arrays is step t = 1)",
    "with_zero": "you counted T + 1 values: t = 0 (the data) is not a step. Count t = 1..T",
    "per_step": "you used alpha_t = 1 - beta_t of one step; the noise level of x_t is set by the cumulative "
                "alpha_bar_t = prod_{s<=t} (1 - beta_s)",
    "above": "you returned the fraction of steps *above* the threshold; the question is the fraction below it",
}


def _noisy_cases():
    from ..schedules import get_schedule

    return [
        ("the linear schedule (T = 1000), var_x0 = 0.25, threshold 0.01",
         np.array(get_schedule("linear", 1000).betas), 0.25, 0.01),
        ("the cosine schedule (T = 1000), var_x0 = 0.25, threshold 0.05",
         np.array(get_schedule("cosine", 1000).betas), 0.25, 0.05),
        ("the scaled_linear schedule (T = 1000), var_x0 = 0.075, threshold 0.01",
         np.array(get_schedule("scaled_linear", 1000).betas), 0.075, 0.01),
        ("the logistic schedule (T = 50), var_x0 = 1.0, threshold 0.1",
         np.array(get_schedule("logistic", 50).betas), 1.0, 0.1),
        ("rectified flow (T = 200, zero terminal SNR), var_x0 = 0.5, threshold 0.2",
         np.array(get_schedule("rectified_flow", 200).betas), 0.5, 0.2),
    ]


def check_noisy_fraction(noisy_fraction) -> None:
    """Exercise 1: ``noisy_fraction(betas, var_x0, threshold) -> float``.

    The fraction of steps t = 1..T at which the signal makes up less than ``threshold`` of the variance
    of x_t = √ᾱ_t x₀ + √(1 − ᾱ_t) ε, i.e. ᾱ_t v / (ᾱ_t v + 1 − ᾱ_t) < threshold with v = ``var_x0``.
    """
    results = []
    for what, betas, var_x0, threshold in _noisy_cases():
        T = betas.size
        out = call_answer(noisy_fraction, betas.copy(), var_x0, threshold, what=what)
        if not isinstance(out, numbers.Real) and np.ndim(out) != 0:
            fail(f"return one number (a fraction of the T steps), got {type(out).__name__} "
                 f"of shape {np.shape(out)} on {what}")
        got = float(as_array(out, f"the result on {what}"))
        if 1 < got <= T:
            fail(f"your result on {what} is {got:g}: return a fraction of the steps in [0, 1], not a count")
        if not 0 <= got <= 1:
            fail(f"a fraction must lie in [0, 1], got {got:g} on {what}")
        variants = _noisy_variants(betas, var_x0, threshold)
        # float32 arithmetic may move a step that sits right at the threshold: accept that count too
        ab32 = np.cumprod(np.float32(1) - betas.astype(np.float32))
        sig32 = ab32 * np.float32(var_x0)
        float32 = float(np.mean(sig32 / (sig32 + (np.float32(1) - ab32)) < np.float32(threshold)))
        if abs(got - variants["right"]) < 1e-9 or abs(got - float32) < 1e-9:
            results.append((what, got))
            continue
        for key, hint in _NOISY_HINTS.items():
            if abs(got - variants[key]) < 1e-9:
                fail(hint)
        if abs(got - variants["right"]) <= 1.0 / T + 1e-9:  # another rounding of a step at the threshold
            results.append((what, got))
            continue
        fail(f"on {what} your fraction {got:.4f} is off by more than one step; the signal fraction of x_t "
             "is alpha_bar_t * var_x0 / (alpha_bar_t * var_x0 + 1 - alpha_bar_t), counted over t = 1..T")
    lin, cos = results[0][1], results[1][1]
    passed(f"on {len(results)} schedules. Linear at T = 1000 with var_x0 = 0.25: {lin:.1%} of the steps leave "
           f"less than 1% of the variance of x_t to the signal; cosine: {cos:.1%} below 5%.")


# --------------------------------------------------------------------------------------------------
# Exercise 2: the matched log-SNR at another resolution
# --------------------------------------------------------------------------------------------------

def _matched_variants(lam: np.ndarray, d: float, base: float) -> dict:
    with np.errstate(divide="ignore", invalid="ignore"):
        return {
            "right": lam + 2 * math.log(base / d),
            "backwards": lam + 2 * math.log(d / base),
            "half": lam + math.log(base / d),
            "log2": lam + 2 * math.log2(base / d),
            "log10": lam + 2 * math.log10(base / d),
            "ratio": lam * (base / d) ** 2,
            "no_two_log_ratio": lam + (base / d) ** 2,
        }


_MATCHED_HINTS = {
    "backwards": "your shift goes the wrong way: a larger image must get *more* noise, i.e. a lower "
                 "log-SNR at every t (a backwards resolution rule that circulates)",
    "half": "your shift is half the right size: the SNR changes by (base/d)^2, so the log-SNR moves by "
            "2 log(base/d), not log(base/d)",
    "log2": "use the natural log: the course's log-SNR is log_e(SNR), and so is its shift",
    "log10": "use the natural log: the course's log-SNR is log_e(SNR), and so is its shift",
    "ratio": "you multiplied the log-SNR by the factor (base/d)^2: the factor multiplies the SNR, so it "
             "*adds* its log to the log-SNR",
    "no_two_log_ratio": "you added the SNR factor itself to the log-SNR: add its log",
}


def _matched_cases():
    return [
        ("lambda = 0 at d = 128, base 32", np.array(0.0), 128, 32),
        ("an array of lambda from -10 to 10 at d = 256, base 64", np.linspace(-10, 10, 9), 256, 64),
        ("lambda = -3 at d = base = 64", np.array(-3.0), 64, 64),
        ("lambda = 2 at d = 48, base 32", np.array(2.0), 48, 32),
        ("lambda = 5 at d = 16, base 32 (a smaller image)", np.array(5.0), 16, 32),
        ("lambda = [3, -inf] (zero terminal SNR) at d = 64, base 32", np.array([3.0, -np.inf]), 64, 32),
    ]


def check_matched_log_snr(matched_log_snr) -> None:
    """Exercise 2: ``matched_log_snr(log_snr, d, base) -> log_snr_d`` (array in, array of the same shape out).

    The log-SNR at resolution d that keeps the base-resolution view of an upsampled image as noisy as the
    base image at ``log_snr``: simple diffusion's rule (Hoogeboom et al. 2023, eq. 5) with any base.
    """
    for what, lam, d, base in _matched_cases():
        out = call_answer(matched_log_snr, lam.copy(), d, base, what=what)
        try:
            got = np.asarray(out, dtype=np.float64)
        except (TypeError, ValueError):
            fail(f"return an array of numbers, got {type(out).__name__} on {what}")
        if got.shape != lam.shape:
            fail(f"on {what} the result has shape {got.shape}, expected {lam.shape}: work elementwise")
        variants = _matched_variants(lam, d, base)
        right = variants["right"]
        if np.isnan(got).any():
            fail(f"your result on {what} contains NaN" + (": -inf + a finite shift is still -inf, keep it"
                                                        if np.isinf(lam).any() else ""))
        if np.allclose(got, right, rtol=1e-9, atol=1e-9, equal_nan=False):
            continue
        for key, hint in _MATCHED_HINTS.items():
            v = variants[key]
            if v.shape == got.shape and np.allclose(got, v, rtol=1e-9, atol=1e-9) and not np.allclose(v, right):
                fail(hint)
        fail(f"on {what} you returned {np.round(got, 4).tolist()}; the matched log-SNR must keep "
             "SNR_d(t) * (d/base)^2 equal to SNR_base(t)")
    passed(f"at d = 128 from a 32x32 base the log-SNR moves by {2 * math.log(32 / 128):+.3f} at every t "
           f"(from a 64x64 base to 256x256: {2 * math.log(64 / 256):+.3f}).")
