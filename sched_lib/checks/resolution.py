"""Auto-checks for the exercises of the chapter "Schedules and Resolution" (``chapters/resolution.ipynb``).

Each check calls the reader's function on several inputs, compares with an independent reference
(the library's :func:`~sched_lib.schedules.sd3_time_shift` and
:func:`~sched_lib.schedules.shifted_cosine_log_snr`, or the pooling formula evaluated here) and, when
the answer is wrong, says *what* is wrong without giving the answer away. Typical mistakes (an inverted
shift, a missing square, a forgotten noise reduction, a sign error) get a hint of their own.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from . import CheckFailed, as_array, call_answer, fail, passed

__all__ = ["check_sd3_shift", "check_pooled_snr_gain", "check_resolution_for_shift", "CheckFailed"]


def _scalar(value, what: str) -> float:
    """One finite real number, or a hint."""
    if isinstance(value, np.ndarray) and value.size == 1:
        value = value.reshape(()).item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        fail(f"{what} should be one number, got {type(value).__name__}")
    value = float(value)
    if math.isnan(value):
        fail(f"{what} is NaN: look for 0/0 or the log of a negative number")
    if not math.isfinite(value):
        fail(f"{what} is infinite")
    return value


# --------------------------------------------------------------------------------------------------
# Exercise 1: the SD3 time shift is a constant log-SNR shift
# --------------------------------------------------------------------------------------------------

def _rf_log_snr(t: np.ndarray) -> np.ndarray:
    """Rectified-flow log-SNR 2 log((1−t)/t) for t strictly inside (0, 1)."""
    return 2.0 * (np.log1p(-t) - np.log(t))


def check_sd3_shift(sd3_shift) -> None:
    """Check ``sd3_shift(t, alpha)``: SD3's shifted time t' for an array t in [0, 1] and a shift α > 0."""
    from ..schedules import sd3_time_shift

    t = np.linspace(0.0, 1.0, 101)
    inner = slice(1, -1)
    for alpha in (1.0, 3.0, 0.5, 2.5):
        out = as_array(call_answer(sd3_shift, t.copy(), alpha, what=f"t = linspace(0, 1, 101), alpha = {alpha}"),
                       f"sd3_shift(t, {alpha})", shape=t.shape)
        if not np.isfinite(out).all():
            fail(f"sd3_shift(t, {alpha}) contains inf: the shifted time must stay in [0, 1]")
        if abs(out[0]) > 1e-12 or abs(out[-1] - 1.0) > 1e-12:
            fail(f"with alpha = {alpha} your shift maps t = 0 to {out[0]:.4g} and t = 1 to {out[-1]:.4g}; "
                 "it must keep both ends fixed (t = 0 is data, t = 1 is pure noise)")
        if alpha == 1.0 and not np.allclose(out, t, rtol=0, atol=1e-12):
            fail("with alpha = 1 the time should not change, but yours does")
        if (np.diff(out) <= 0).any():
            fail(f"with alpha = {alpha} your t' does not increase with t: a time shift must keep the order of "
                 "noise levels")
        if alpha > 1 and (out[inner] < t[inner]).any():
            fail(f"with alpha = {alpha} > 1 your t' is smaller than t: that removes noise, but a larger image "
                 "needs more noise at every t. Did you invert the shift?")
        if alpha < 1 and (out[inner] > t[inner]).any():
            fail(f"with alpha = {alpha} < 1 your t' is larger than t: did you invert the shift?")
        with np.errstate(all="ignore"):
            delta = _rf_log_snr(out[inner]) - _rf_log_snr(t[inner])
        if not np.isfinite(delta).all():
            fail(f"with alpha = {alpha} your t' reaches 0 or 1 inside the interval")
        if np.ptp(delta) > 1e-8:
            fail(f"with alpha = {alpha} the log-SNR change lambda(t') - lambda(t) ranges from {delta.min():.3f} "
                 f"to {delta.max():.3f}; the SD3 shift moves lambda by the same amount at every t")
        ref = np.asarray(sd3_time_shift(t, alpha))
        if not np.allclose(out, ref, rtol=0, atol=1e-10):
            expected = -2.0 * math.log(alpha)
            got = float(np.mean(delta))
            if expected != 0 and abs(got / expected - 0.5) < 1e-6:
                fail(f"with alpha = {alpha} your shift moves lambda by {got:.4f}, half the SD3 shift: remember "
                     "that the rectified-flow SNR is ((1 - t)/t) squared")
            fail(f"with alpha = {alpha} your shift moves lambda by {got:.4f} at every t, a constant shift but "
                 "not the SD3 one: check the algebra that solves lambda(t') = lambda(t) - 2 log(alpha) for t'")
    passed("your shift keeps t = 0 and t = 1, and moves the rectified-flow log-SNR by -2 log(alpha) at "
           "every t (-2.197 for alpha = 3).")


# --------------------------------------------------------------------------------------------------
# Exercise 2: the SNR gain of s×s average pooling
# --------------------------------------------------------------------------------------------------

def _avg_pool(x: np.ndarray, s: int) -> np.ndarray:
    n, h, w, c = x.shape
    return x.reshape(n, h // s, s, w // s, s, c).mean(axis=(2, 4))


def _gain(x: np.ndarray, s: int) -> float:
    """s² · Var(pooled x)/Var(x): the exact SNR gain of s×s pooling for i.i.d. noise."""
    return float(s * s * _avg_pool(x, s).var() / x.var())


def check_pooled_snr_gain(pooled_snr_gain) -> None:
    """Check ``pooled_snr_gain(x0, s)``: the factor by which s×s average pooling multiplies the SNR of
    x_t = sqrt(alpha_bar) x0 + sqrt(1 - alpha_bar) eps, for clean images x0 of shape (N, H, W, C)."""
    rng = np.random.default_rng(2023)
    coarse = rng.uniform(-1.0, 1.0, size=(3, 8, 8, 3))
    white = rng.standard_normal((4, 32, 32, 3))
    smooth = coarse.repeat(4, axis=1).repeat(4, axis=2) + 0.5 * rng.standard_normal((3, 32, 32, 3))
    cases = [
        ("a perfectly redundant image (8x8 upsampled by 2)", coarse.repeat(2, 1).repeat(2, 2), 2),
        ("a perfectly redundant image (8x8 upsampled by 4)", coarse.repeat(4, 1).repeat(4, 2), 4),
        ("white-noise images (no redundancy)", white, 4),
        ("partly redundant images", smooth, 2),
        ("partly redundant images", smooth, 8),
    ]
    for label, x, s in cases:
        got = _scalar(call_answer(pooled_snr_gain, x.copy(), s, what=f"{label}, s = {s}"),
                      f"pooled_snr_gain on {label} with s = {s}")
        ref = _gain(x, s)
        if math.isclose(got, ref, rel_tol=1e-6):
            continue
        redundant = label.startswith("a perfectly")
        if got <= 0:
            fail(f"your gain for {label} with s = {s} is {got:.4g}: an SNR gain is a positive ratio")
        if math.isclose(got, ref / s ** 2, rel_tol=1e-6):
            fail(f"your gain for {label} with s = {s} is {got:.4g}, at most 1: pooling keeps (or loses) "
                 "signal variance, but it also divides the variance of the i.i.d. noise. Include that factor")
        if math.isclose(got, ref / s, rel_tol=1e-6):
            fail(f"your gain for {label} with s = {s} is off by a factor of s: how does the variance of the "
                 "mean of s x s independent values depend on s?")
        if math.isclose(got, s ** 2 / ref, rel_tol=1e-6) or math.isclose(got, 1 / ref, rel_tol=1e-6):
            fail(f"your gain for {label} with s = {s} is the inverse of the right one: SNR is signal over noise")
        if math.isclose(got, s ** 2, rel_tol=1e-6) and not redundant:
            fail(f"your gain for {label} is s^2 = {s * s}, as if the image were perfectly redundant: the "
                 "signal variance changes under pooling too, and for these images it drops")
        if math.isclose(got, ref, rel_tol=0.05):
            fail(f"your gain for {label} with s = {s} is close but not exact ({100 * (got / ref - 1):+.2f}%): "
                 "compute it from the variances of the clean images, without drawing random noise")
        fail(f"your gain for {label} with s = {s} is {got:.4g}, which is {got / ref:.3g} times the right "
             "value: compare with the equation for the pooled SNR in the chapter")
    passed(f"s x s pooling multiplies the SNR by s^2 for a perfectly redundant image and by less for real "
           f"structure (white noise: {_gain(white, 4):.3f}, i.e. no gain).")


# --------------------------------------------------------------------------------------------------
# Exercise 3: which resolution does a given log-SNR shift correspond to?
# --------------------------------------------------------------------------------------------------

def check_resolution_for_shift(resolution_for_shift) -> None:
    """Check ``resolution_for_shift(shift, base)``: the side length d at which simple diffusion's shifted
    schedule lies ``shift`` below (or above) the schedule of the base resolution."""
    from ..schedules import shifted_cosine_log_snr

    cases = [(-3.0, 64.0), (-2 * math.log(2), 64.0), (0.0, 256.0), (2 * math.log(2), 64.0),
             (-2 * math.log(3), 1024.0 / 3), (-5.0, 32.0)]
    for shift, base in cases:
        d = _scalar(call_answer(resolution_for_shift, shift, base, what=f"shift = {shift:.4f}, base = {base:g}"),
                    f"resolution_for_shift({shift:.4f}, {base:g})")
        if d <= 0:
            fail(f"resolution_for_shift({shift:.4f}, {base:g}) = {d:.4g}: a resolution must be positive")
        implied = 2.0 * math.log(base / d)  # the shift simple diffusion applies at d (eq. 5)
        lam = shifted_cosine_log_snr(np.array([0.5]), d, base)[0] - shifted_cosine_log_snr(np.array([0.5]))[0]
        if math.isclose(lam, shift, rel_tol=1e-9, abs_tol=1e-9):
            continue
        if shift == 0:
            fail(f"a shift of 0 should give the base resolution {base:g}, yours gives {d:.4g}")
        if shift < 0 and d < base:
            fail(f"for shift = {shift:.3f} (more noise) your d = {d:.4g} is smaller than the base {base:g}: "
                 "a negative log-SNR shift belongs to a larger image. Check the sign")
        if shift > 0 and d > base:
            fail(f"for shift = {shift:.3f} (less noise) your d = {d:.4g} is larger than the base {base:g}: "
                 "check the sign")
        ratio = implied / shift
        if math.isclose(ratio, 2.0, rel_tol=1e-6):
            fail(f"your d for shift = {shift:.3f} gives a log-SNR shift twice the requested one: the shift is "
                 "2 log(base/d), so solve for d with that factor 2")
        if math.isclose(ratio, 0.5, rel_tol=1e-6):
            fail(f"your d for shift = {shift:.3f} gives a log-SNR shift half the requested one: SNR scales "
                 "with the square of the resolution ratio")
        fail(f"your d = {d:.4g} for shift = {shift:.3f} and base {base:g} gives a log-SNR shift of "
             f"{implied:.4f} instead of {shift:.4f}")
    passed(f"a shift of -3 from a 64 x 64 base is d = {64 * math.exp(1.5):.1f} pixels: the log-SNR shift "
           "2 log(64/d) reaches -3 a little above 256.")
