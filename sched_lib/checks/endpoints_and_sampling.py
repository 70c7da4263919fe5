"""Auto-checks for the exercises of the chapter "The Endpoints and Sampling"
(``chapters/endpoints_and_sampling.ipynb``).

Each check calls the reader's function on several inputs, compares with an independent reference
(the library's :func:`~sched_lib.samplers.timesteps` and
:func:`~sched_lib.schedules.rescale_zero_terminal_snr`, or the exact forward process) and, when the
answer is wrong, says *what* is wrong without giving the answer away. Typical mistakes (1-based indices,
an ascending grid, a "corrected" grid that no longer matches diffusers, rescaling ᾱ instead of √ᾱ,
dividing by √ᾱ) get a hint of their own.
"""

from __future__ import annotations

import numpy as np

from . import CheckFailed, as_array, call_answer, fail, passed

__all__ = ["check_trailing_timesteps", "check_zero_snr_rescale", "check_x0_from_v", "CheckFailed"]


# --------------------------------------------------------------------------------------------------
# Exercise 1: trailing timestep spacing with diffusers' semantics
# --------------------------------------------------------------------------------------------------

def check_trailing_timesteps(trailing) -> None:
    """Check ``trailing(T, N)``: diffusers' ``"trailing"`` grid, 0-based and descending, at most N steps."""
    from ..samplers import timesteps

    cases = [(1000, 10), (1000, 1), (1000, 50), (4000, 7), (50, 3), (1000, 16), (1000, 1000), (1000, 61),
             (1000, 103)]
    for T, N in cases:
        raw = call_answer(trailing, T, N, what=f"T = {T}, N = {N}")
        out = as_array(raw, f"trailing({T}, {N})")
        ref = timesteps(T, N, "trailing")
        if out.ndim != 1:
            fail(f"trailing({T}, {N}) should be a 1-D array of timestep indices, got shape {out.shape}")
        if not np.isfinite(out).all() or (out != np.round(out)).any():
            fail(f"trailing({T}, {N}) holds non-integer values: timesteps are integer indices, so round them")
        if out.size >= 2 and out[0] < out[-1]:
            fail(f"trailing({T}, {N}) is ascending: a sampler visits the steps from the noisiest to the "
                 "cleanest, so return them in descending order")
        if out.size and out[0] == T:
            fail(f"trailing({T}, {N}) starts at {T}: indices here are 0-based, so the last training step is "
                 f"{T - 1}")
        if out.size and out[0] != T - 1:
            fail(f"trailing({T}, {N}) starts at {int(out[0])}: trailing spacing starts at the last training "
                 f"step (index {T - 1})")
        if out.size != ref.size:
            if out.size == N + 1 and out[-1] == -1:
                fail(f"trailing({T}, {N}) has {N + 1} values ending in -1: the float arange(T, 0, -T/N) "
                     "overshoots by one value, and -1 is not a timestep (as an index it reads the last step). "
                     "Keep the first N values")
            fail(f"trailing({T}, {N}) has {out.size} values; a grid of N = {N} sampling steps has {N}")
        if not np.array_equal(out, ref):
            i = int(np.flatnonzero(out != ref)[0])
            fail(f"trailing({T}, {N}) differs from diffusers' trailing spacing at position {i}: yours is "
                 f"{int(out[i])}, diffusers' is {int(ref[i])}. diffusers rounds the float grid first and "
                 "subtracts 1 afterwards")
    passed("your grid matches diffusers' trailing spacing step for step, without its invalid extra step -1 "
           "at (T, N) = (1000, 61).")


# --------------------------------------------------------------------------------------------------
# Exercise 2: Lin et al.'s zero-terminal-SNR rescale
# --------------------------------------------------------------------------------------------------

def check_zero_snr_rescale(rescale) -> None:
    """Check ``rescale(betas)``: Lin et al. (2024) Algorithm 1, returning the new β chain."""
    from ..schedules import (betas_for_alpha_bar, cosine_alpha_bar, linear_betas, rescale_zero_terminal_snr,
                             sqrt_linear_betas)

    cases = [
        ("linear (T = 1000)", linear_betas(1000)),
        ("scaled_linear (T = 1000)", sqrt_linear_betas(1000, 0.00085, 0.012)),
        ("cosine (T = 1000)", betas_for_alpha_bar(cosine_alpha_bar, 1000)),
        ("a short chain (T = 5)", linear_betas(5, 0.1, 0.3)),
    ]
    for label, betas in cases:
        betas = np.array(betas)
        out = as_array(call_answer(rescale, betas.copy(), what=label), f"your chain for {label}", shape=betas.shape)
        root = np.sqrt(np.cumprod(1.0 - betas))
        if not np.isfinite(out).all():
            fail(f"your chain for {label} contains inf")
        if out[0] > 0.5 and (np.diff(out) < 0).all():
            fail(f"your result for {label} decreases from {out[0]:.4g}: it looks like alpha_bar (or its square "
                 "root), but the function should return the new betas")
        if ((out <= 0) | (out > 1)).any():
            i = int(np.flatnonzero((out <= 0) | (out > 1))[0])
            fail(f"your chain for {label} has beta_{i + 1} = {out[i]:.4g}, outside (0, 1]")
        if abs(out[-1] - 1.0) > 1e-12:
            fail(f"your last beta for {label} is {out[-1]:.6g}; zero terminal SNR needs alpha_bar_T = 0 "
                 "exactly, i.e. beta_T = 1")
        new_root = np.sqrt(np.cumprod(1.0 - out))
        if not np.isclose(new_root[0], root[0], rtol=1e-9, atol=0):
            fail(f"your rescale changes the first step of {label}: sqrt(alpha_bar_1) is {new_root[0]:.8f}, the "
                 f"original is {root[0]:.8f}. After shifting the curve, scale it so that step 1 is kept")
        ref = np.sqrt(np.cumprod(1.0 - np.asarray(rescale_zero_terminal_snr(betas))))
        if not np.allclose(new_root, ref, rtol=1e-9, atol=1e-12):
            ab = root ** 2
            linear_in_ab = (ab - ab[-1]) * ab[0] / (ab[0] - ab[-1])
            if np.allclose(new_root ** 2, linear_in_ab, rtol=1e-9, atol=1e-12):
                fail(f"your rescale of {label} moves alpha_bar linearly; Lin et al. shift and scale "
                     "sqrt(alpha_bar), the coefficient of x0 in x_t")
            i = int(np.argmax(np.abs(new_root - ref)))
            fail(f"your rescale of {label} keeps the ends but its sqrt(alpha_bar) at t = {i + 1} is "
                 f"{new_root[i]:.6g}, not the rescaled value: the map must be affine in sqrt(alpha_bar)")
    passed("SNR_T = 0 (beta_T = 1), sqrt(alpha_bar_1) is kept, and every step in between moves affinely "
           "in sqrt(alpha_bar), as in Lin et al.'s Algorithm 1.")


# --------------------------------------------------------------------------------------------------
# Exercise 3: x0 from a v-prediction, safe at SNR = 0
# --------------------------------------------------------------------------------------------------

def check_x0_from_v(x0_from_v) -> None:
    """Check ``x0_from_v(x_t, v, alpha_bar)``: x̂₀ from a v-prediction, finite for every ᾱ in [0, 1]."""
    rng = np.random.default_rng(7)
    x0 = rng.uniform(-1.0, 1.0, size=(4, 16))
    eps = rng.standard_normal((4, 16))
    levels = [0.5, 0.02, 0.999, 0.0, 1e-12, 1.0, np.array([[0.0], [0.3], [0.7], [1.0]])]
    for ab in levels:
        a, b = np.sqrt(ab), np.sqrt(1.0 - ab)
        x_t = a * x0 + b * eps
        v = a * eps - b * x0
        what = "alpha_bar = " + (f"{ab:g}" if np.ndim(ab) == 0 else "an array of shape (4, 1)")
        raw = call_answer(x0_from_v, x_t.copy(), v.copy(), ab, what=what)
        try:
            out = np.asarray(raw, dtype=np.float64)
        except (TypeError, ValueError):
            fail(f"x0_from_v should return an array of numbers, got {type(raw).__name__}")
        if out.shape != x0.shape:
            fail(f"x0_from_v at {what} should have the shape of x_t, {x0.shape}, got {out.shape}")
        if not np.isfinite(out).all():
            kind = "NaN (0/0)" if np.isnan(out).any() else "inf"
            fail(f"your x0 contains {kind} at {what}: the v-form needs no division by sqrt(alpha_bar)")
        if np.allclose(out, x0, rtol=0, atol=1e-9):
            continue
        if np.ndim(ab) == 0 and ab == 0.0 and np.allclose(out, v, atol=1e-9):
            fail("at alpha_bar = 0 your x0 equals v: check the sign (v = sqrt(alpha_bar) eps - "
                 "sqrt(1 - alpha_bar) x0)")
        if np.allclose(out, b * x_t - a * v, rtol=0, atol=1e-9):
            fail(f"your x0 is wrong at {what}: you swapped sqrt(alpha_bar) and sqrt(1 - alpha_bar)")
        if np.allclose(out, a * x_t + b * v, rtol=0, atol=1e-9):
            fail(f"your x0 is wrong at {what}: check the sign of the v term")
        err = float(np.max(np.abs(out - x0)))
        if np.ndim(ab) == 0 and 0 <= ab < 1e-6:
            fail(f"at {what} your x0 is off by up to {err:.3g}: going through eps and dividing by "
                 "sqrt(alpha_bar) amplifies rounding errors near SNR = 0. Combine x_t and v directly")
        fail(f"your x0 is wrong at {what}: it differs from the true x0 by up to {err:.3g}")
    passed("x0 is recovered exactly for every alpha_bar in [0, 1], including SNR = 0 where x0 = -v.")
