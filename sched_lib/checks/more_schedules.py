"""Auto-checks for the exercises of chapter "More Schedules".

Each check evaluates the reader's function on several inputs, compares with ``sched_lib`` and names the
kind of mistake (the direction of time, a missing factor 2, diffusers' regularised or square-rooted
variant, cos^τ for cos^{2τ}, the log-SNR's spread for the log σ spread, a forgotten shift, ...) without
printing the right numbers.
"""

from __future__ import annotations

import math

import numpy as np

from ..schedules import laplace_log_snr
from . import as_array, call_answer, fail, passed

__all__ = ["check_laplace_log_snr", "check_chen_midpoint", "check_sd3_as_edm"]


def _array(fn, *args, shape, what):
    return as_array(call_answer(fn, *args, what=what), f"your answer on {what}", shape,
                    nan_hint="the log of a negative number? 1 − 2|t − ½| lies in [0, 1]")


def check_laplace_log_snr(fn) -> None:
    """Check ``fn(t, mu, b)``: the Laplace schedule's log-SNR (Hang et al. 2024) on t ∈ (0, 1)."""
    t = np.concatenate([np.linspace(0.001, 0.999, 199), [0.5, 1e-6, 1 - 1e-6]])
    for mu, b in [(0.0, 0.5), (1.0, 0.5), (-2.0, 1.5)]:
        what = f"mu = {mu:g}, b = {b:g}"
        lam = _array(fn, t.copy(), mu, b, shape=t.shape, what=what)
        ref = laplace_log_snr(t, mu, b)
        if np.allclose(lam, ref, rtol=1e-9, atol=1e-12):
            continue
        if np.allclose(lam, 2 * mu - ref, rtol=1e-9, atol=1e-12):
            fail("your λ increases with t: t = 0 is data (λ = +inf) and t = 1 is noise, so the schedule is the "
                 "inverse of the survival function P(Λ > λ), not of the CDF")
        reg = mu - b * np.sign(0.5 - t) * np.log(1 - 2 * np.abs(0.5 - t) + 1e-6)
        if np.allclose(lam, reg, rtol=1e-9, atol=1e-12):
            fail("that is diffusers' variant with + 1e-6 inside the log: it caps λ near the ends; write the "
                 "paper's formula")
        if np.allclose(lam, mu - b * np.sign(0.5 - t) * np.log(1 - np.abs(0.5 - t)), rtol=1e-9, atol=1e-12):
            fail("you lost the factor 2 in 1 − 2|t − ½|: the survival function of a Laplace density is ½e^(−x/b) "
                 "above the median")
        if b != 1 and np.allclose(lam, mu + (ref - mu) / b, rtol=1e-9, atol=1e-12):
            fail("the scale b is missing: λ − μ is proportional to b")
        bad = int(np.argmax(np.abs(lam - ref)))
        fail(f"your λ is wrong at t = {t[bad]:g} for {what} (you return {lam[bad]:.6g}); invert "
             "t = P(Λ > λ) for Λ ∼ Laplace(μ, b), separately above and below the median")
    passed("uniform t through your λ(t) gives λ ∼ Laplace(μ, b).")


def check_chen_midpoint(fn) -> None:
    """Check ``fn(tau)``: the log-SNR at t = ½ of Chen's cosine schedule with start = 0, end = 1."""
    for tau in (1.0, 2.0, 3.0, 0.5, 1.7):
        got = as_array(call_answer(fn, tau, what=f"tau = {tau:g}"), "your answer")
        if got.size != 1:
            fail(f"return one number for tau = {tau:g}, got shape {got.shape}")
        lam = float(got.reshape(()))
        ref = -math.log(2 ** tau - 1)
        if math.isclose(lam, ref, rel_tol=1e-9, abs_tol=1e-12):
            continue
        if math.isclose(lam, -math.log(2 ** (tau / 2) - 1), rel_tol=1e-9, abs_tol=1e-12):
            fail("you used cos^τ; Chen's cosine schedule raises the cosine to the power 2τ")
        if math.isclose(lam, -tau * math.log(2), rel_tol=1e-9, abs_tol=1e-12):
            fail("that is log ᾱ at t = ½; the log-SNR is log(ᾱ/(1 − ᾱ))")
        if math.isclose(lam, math.log(2 ** tau - 1), rel_tol=1e-9, abs_tol=1e-12):
            fail("the sign is flipped: larger τ makes the midpoint noisier, so λ(½) falls with τ")
        fail(f"wrong for tau = {tau:g} (you return {lam:.6g}); with start = 0 and end = 1, v_start = 1 and "
             "v_end = 0, so ᾱ(t) = cos^(2τ)(πt/2)")
    passed("λ(½) = −log(2^τ − 1): τ = 1 is the plain cosine (λ = 0), and each larger τ adds noise at the middle.")


def check_sd3_as_edm(fn) -> None:
    """Check ``fn(loc, scale, shift) -> (p_mean, p_std)``: SD3's shifted logit-normal as EDM's log-normal σ."""
    for loc, scale, shift in [(0.0, 1.0, 3.0), (0.5, 0.8, 1.0), (-0.3, 1.2, 2.0), (0.0, 1.0, 0.5)]:
        what = f"loc = {loc:g}, scale = {scale:g}, shift = {shift:g}"
        got = call_answer(fn, loc, scale, shift, what=what)
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            fail("return a pair (p_mean, p_std)")
        p_mean, p_std = (float(as_array(v, name).reshape(())) for v, name in zip(got, ("p_mean", "p_std")))
        ref_mean, ref_std = loc + math.log(shift), scale
        ok_mean = math.isclose(p_mean, ref_mean, rel_tol=1e-9, abs_tol=1e-12)
        ok_std = math.isclose(p_std, ref_std, rel_tol=1e-9)
        if ok_mean and ok_std:
            continue
        if not ok_std and math.isclose(p_std, 2 * scale, rel_tol=1e-9):
            fail("2·scale is the spread of λ = −2 ln σ; EDM's P_std is the spread of ln σ")
        if not ok_mean and math.isclose(p_mean, loc, rel_tol=1e-9, abs_tol=1e-12) and shift != 1:
            fail(f"p_mean ignores the time shift ({what}): logit t' = logit t + log(shift)")
        if not ok_mean and math.isclose(p_mean, -ref_mean, rel_tol=1e-9, abs_tol=1e-12):
            fail("p_mean has the wrong sign: for rectified flow σ_EDM = t/(1 − t), so ln σ_EDM = logit t")
        if not ok_mean and math.isclose(p_mean, -2 * ref_mean, rel_tol=1e-9, abs_tol=1e-12):
            fail("that is the mean of λ; EDM's P_mean is the mean of ln σ = −λ/2")
        fail(f"wrong for {what} (you return ({p_mean:.6g}, {p_std:.6g})); write σ_EDM in terms of t first")
    passed("SD3's shifted logit-normal is EDM's log-normal with P_mean = m + log(shift) and P_std = s.")
