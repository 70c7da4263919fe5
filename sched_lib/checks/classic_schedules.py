"""Auto-checks for the exercises of chapter "The Classic Schedules".

* :func:`check_chen_sigmoid_betas`: exercise 1, Chen's sigmoid schedule as a β chain (the seed's
  exercise 1, reworked);
* :func:`check_cosine_betas`: exercise 2, the iDDPM cosine β chain with its clip;
* :func:`check_linear_beta_sum`: exercise 3, the closed form of Σ_{s≤t} β_s for the linear schedule.

Each check calls the reader's function on several inputs, tests invariants first (shape, NaN, sign,
range, the clip) so that the hint names the mistake, then compares with ``sched_lib`` in float64.
"""

from __future__ import annotations

import numpy as np

from . import as_array, call_answer, fail, passed
from ..schedules import get_schedule, linear_betas

__all__ = ["check_chen_sigmoid_betas", "check_cosine_betas", "check_linear_beta_sum"]


def _betas(value, T: int, how: str) -> tuple[np.ndarray, bool]:
    """The answer as a float64 β chain of shape (T,), finite; hints for the usual off-by-one shapes."""
    raw = np.asarray(value) if not isinstance(value, (str, bytes)) else value
    b = as_array(raw, f"the β chain for {how}")
    if b.shape == (T + 1,):
        fail(f"for {how} your chain has T + 1 = {T + 1} values; a schedule has one β per step, t = 1..T "
             "(the T + 1 grid points 0, 1/T, ..., 1 give T ratios)")
    if b.shape == (T - 1,):
        fail(f"for {how} your chain has T - 1 = {T - 1} values; evaluate the curve on T + 1 points "
             "t/T, t = 0..T, to get T ratios")
    if b.shape != (T,):
        fail(f"for {how} the β chain should have shape ({T},), got {b.shape}")
    if not np.isfinite(b).all():
        i = int(np.flatnonzero(~np.isfinite(b))[0])
        fail(f"for {how} β is infinite at t = {i + 1}: look for a division by an ᾱ that is 0")
    is_float32 = getattr(raw, "dtype", None) == np.float32
    return b, is_float32


def _first_mismatch(b, ref, rtol, atol) -> int:
    bad = np.flatnonzero(~np.isclose(b, ref, rtol=rtol, atol=atol))
    return int(bad[0]) if bad.size else -1


# --------------------------------------------------------------------------------------------------
# Exercise 1: Chen's sigmoid schedule
# --------------------------------------------------------------------------------------------------

_CHEN_CASES = (
    dict(T=1000, start=-3.0, end=3.0, tau=1.0),
    dict(T=100, start=-3.0, end=3.0, tau=1.0),
    dict(T=500, start=0.0, end=3.0, tau=1.0),
    dict(T=500, start=-3.0, end=3.0, tau=1.1),
)


def _sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(x, dtype=np.float64)))


def check_chen_sigmoid_betas(chen_sigmoid_betas) -> None:
    """Check ``chen_sigmoid_betas(T, start=-3.0, end=3.0, tau=1.0)``: Chen 2023 Alg. 1 as a β chain.

    The chain must be β_t = min(1 − γ(t/T)/γ((t−1)/T), 0.999) with γ clipped below at 1e-9; it is tested
    at four (T, start, end, τ) settings against ``get_schedule("chen_sigmoid", ...)``.
    """
    for case in _CHEN_CASES:
        T, start, end, tau = case["T"], case["start"], case["end"], case["tau"]
        how = f"T={T}, start={start:g}, end={end:g}, tau={tau:g}"
        value = call_answer(chen_sigmoid_betas, T, start=start, end=end, tau=tau,
                            what=f"chen_sigmoid_betas({how})")
        b, is_float32 = _betas(value, T, how)
        ref = get_schedule("chen_sigmoid", T, start=start, end=end, tau=tau).betas
        if np.allclose(b, ref, rtol=1e-7, atol=1e-12):
            continue
        if is_float32:
            fail(f"for {how} your chain is float32 and differs from the float64 reference by up to "
                 f"{np.abs(b - ref).max():.2g}: compute the schedule in float64 (np.float64, torch.float64)")
        ab = np.cumprod(1.0 - b)
        if (b < 0).any():
            n_neg = int((b < 0).sum())
            seed_end = [_sigmoid(end / x) / _sigmoid(start / x) for x in (1.0, tau)]
            if np.isclose(ab[-1], seed_end, rtol=1e-3).any():
                fail(f"for {how}, {n_neg} of your {T} β are negative, so ᾱ grows to ᾱ_T = {ab[-1]:.4g} "
                     "= σ(end)/σ(start). This is the bug of a widely copied sigmoid_schedule: sigmoid(start + (end − start)·t) increases "
                     "with t, so ᾱ cannot be that sigmoid divided by its value at t = 0. Chen's ᾱ must fall "
                     "from 1 to (nearly) 0: which end of the sigmoid should ᾱ be measured from?")
            fail(f"for {how}, {n_neg} of your {T} β are negative, so ᾱ grows (ᾱ_T = {ab[-1]:.4g}). "
                 "β_t = 1 − ᾱ_t/ᾱ_(t−1) is positive only if ᾱ falls: check the order of the ratio and "
                 "the direction in which your ᾱ runs")
        if (b == 0).any():
            i = int(np.flatnonzero(b == 0)[0])
            fail(f"for {how}, β_{i + 1} = 0: a step with no noise. Every β must lie in (0, 1]")
        if (b > 1).any():
            fail(f"for {how} some β exceed 1 (max {b.max():.4g}): β_t = 1 − ᾱ_t/ᾱ_(t−1) with a falling ᾱ "
                 "lies in (0, 1]; check the order of the ratio")
        if b[-1] > 0.999 + 1e-12:
            fail(f"for {how}, β_T = {b[-1]:.6g}: the last step needs the 0.999 clip on β "
                 "(max_beta of betas_for_alpha_bar), as in the chapter")
        # the sign-flipped logistic, normalised (seed form with the sign flipped) or not
        grid = np.arange(T + 1) / T
        v = _sigmoid((end - (end - start) * grid) / tau)
        for logistic in (v / v[0], np.concatenate([[1.0], v[1:]])):
            flipped = np.minimum(1.0 - logistic[1:] / logistic[:-1], 0.999)
            if np.allclose(b, flipped, rtol=1e-6, atol=1e-12):
                fail(f"for {how} your chain is the sign-flipped sigmoid σ(end − (end − start)·t/T) used "
                     "directly as ᾱ: that is the logistic (linear log-SNR) schedule, not Chen's. Chen's ᾱ "
                     "rescales the sigmoid so that ᾱ(0) = 1 and ᾱ(1) = 0.")
        if tau != 1.0:
            fail(f"your chain is right for tau = 1 but not for {how}: check where τ enters (it divides "
                 "every sigmoid argument, including those of the two end values v_start and v_end)")
        if (start, end) != (-3.0, 3.0):
            fail(f"your chain is right for start = -3, end = 3 but not for {how}: use the arguments "
                 "start and end everywhere instead of the numbers -3 and 3")
        i = _first_mismatch(b, ref, 1e-7, 1e-12)
        fail(f"for {how} your ᾱ_T is {ab[-1]:.4g} (expected about {np.prod(1 - ref):.2g}); the first β "
             f"that differs from Chen's schedule is at t = {i + 1}: β = {b[i]:.6g}. Check the time grid "
             "(t/T for t = 0..T) and the normalisation")
    T = _CHEN_CASES[0]["T"]
    passed(f"your β chain is Chen's sigmoid schedule (Chen 2023, Alg. 1) at all four settings; "
           f"ᾱ_T = {np.prod(1 - get_schedule('chen_sigmoid', T).betas):.2e} at T = {T}.")


# --------------------------------------------------------------------------------------------------
# Exercise 2: the cosine chain with the clip
# --------------------------------------------------------------------------------------------------

_COSINE_CASES = (
    dict(T=1000, s=0.008, max_beta=0.999),
    dict(T=50, s=0.008, max_beta=0.999),
    dict(T=200, s=0.02, max_beta=0.9),
    dict(T=100, s=0.008, max_beta=1.0),
)


def check_cosine_betas(cosine_betas) -> None:
    """Check ``cosine_betas(T, s=0.008, max_beta=0.999)``: the iDDPM cosine chain with the β clip.

    Tested at four (T, s, max_beta) settings against ``get_schedule("cosine", ...)`` (Nichol & Dhariwal
    2021, eq. 17 and §3.2), with hints for a missing offset, a missing clip and a missing f(0).
    """
    for case in _COSINE_CASES:
        T, s, max_beta = case["T"], case["s"], case["max_beta"]
        how = f"T={T}, s={s:g}, max_beta={max_beta:g}"
        value = call_answer(cosine_betas, T, s=s, max_beta=max_beta, what=f"cosine_betas({how})")
        b, is_float32 = _betas(value, T, how)
        ref = get_schedule("cosine", T, s=s, max_beta=max_beta).betas
        if np.allclose(b, ref, rtol=1e-9, atol=1e-12):
            continue
        if is_float32:
            fail(f"for {how} your chain is float32 and differs from the float64 reference by up to "
                 f"{np.abs(b - ref).max():.2g} (about 3e-5 is typical): compute the schedule in float64 "
                 "(np.float64, torch.float64)")
        if (b <= 0).any():
            i = int(np.flatnonzero(b <= 0)[0])
            fail(f"for {how}, β_{i + 1} = {b[i]:.4g} is not positive: β_t = 1 − ᾱ_t/ᾱ_(t−1); check the "
                 "order of the ratio and that ᾱ falls with t")
        if np.isclose(b[-1], 1.0, rtol=0, atol=1e-12) and max_beta < 1:
            fail(f"for {how}, β_T = 1: the clip is missing. Unclipped, ᾱ_T = 0 and β_T = 1; the schedule "
                 "clips β at max_beta")
        if np.allclose(b[:-1], ref[:-1], rtol=1e-9, atol=1e-12):
            fail(f"for {how} all steps but the last are right, but β_T = {b[-1]:.6g}: the last step must be "
                 "clipped at the argument max_beta (not at a fixed number)")
        if abs(b[0] - np.sin(np.pi / (2 * T)) ** 2) < 1e-3 * np.sin(np.pi / (2 * T)) ** 2 and s > 0:
            fail(f"for {how}, β_1 = {b[0]:.3g}: that is sin²(π/2T), the value without the offset s. "
                 "Put s into f(t) = cos²(((t/T + s)/(1 + s))·π/2)")
        theta1 = (1 / T + s) / (1 + s) * np.pi / 2
        if abs(b[0] - np.sin(theta1) ** 2) < 1e-6:
            fail(f"for {how}, β_1 = {b[0]:.4g} is too large: it equals 1 − f(1), i.e. ᾱ_1 = f(1) without "
                 "the normalisation ᾱ_t = f(t)/f(0)")
        if T == 1000 and abs(b[-2] - ref[-2]) > 1e-6:
            fail(f"for {how}, β_(T−1) = {b[-2]:.6g}; near t = T, cos θ shrinks like (T − t), so "
                 "ᾱ_(T−1)/ᾱ_(T−2) should be about (1/2)² and β_(T−1) about 0.75")
        i = _first_mismatch(b, ref, 1e-9, 1e-12)
        fail(f"for {how} the first β that differs from the cosine schedule is at t = {i + 1}: "
             f"β = {b[i]:.8g}. Check the time grid (t/T for t = 0..T), s, and the clip")
    passed("your chain is the iDDPM cosine schedule (Nichol & Dhariwal 2021, eq. 17) with the β clip, "
           "at all four settings, including max_beta = 1 (zero terminal SNR).")


# --------------------------------------------------------------------------------------------------
# Exercise 3: the closed-form sum of the linear schedule
# --------------------------------------------------------------------------------------------------

def _sum_cases():
    rng = np.random.default_rng(2020)
    cases = [(1000, 1e-4, 0.02)]
    for _ in range(5):
        T = int(rng.integers(2, 5001))
        lo = float(10 ** rng.uniform(-5, -3))
        hi = float(rng.uniform(5e-3, 5e-2))
        cases.append((T, lo, hi))
    cases.append((2, 1e-3, 0.5))
    return cases


def check_linear_beta_sum(linear_beta_sum) -> None:
    """Check ``linear_beta_sum(t, T, beta_min, beta_max)`` = Σ_{s≤t} β_s for the linear schedule.

    ``t`` is an integer array (1..T); compared with ``np.cumsum(linear_betas(T, beta_min, beta_max))`` for
    T = 1000 (DDPM) and random (T, β_min, β_max), with hints for the dropped −bt term and an off-by-one.
    """
    for T, lo, hi in _sum_cases():
        how = f"T={T}, beta_min={lo:.3g}, beta_max={hi:.3g}"
        t = np.arange(1, T + 1)
        value = call_answer(linear_beta_sum, t, T, lo, hi, what=f"linear_beta_sum(t=np.arange(1, T+1), {how})")
        got = as_array(value, f"the sum for {how}")
        if got.shape == ():
            fail(f"for {how} your function returned one number; it must work elementwise on the array t "
                 "(use NumPy operations, not math.*)")
        if got.shape != (T,):
            fail(f"for {how}, t has shape ({T},) and so should the result; got {got.shape}")
        ref = np.cumsum(linear_betas(T, lo, hi))
        if np.allclose(got, ref, rtol=1e-10, atol=0):
            continue
        a, b = lo, (hi - lo) / (2 * (T - 1))
        if np.allclose(got, a * t + b * t**2, rtol=1e-10, atol=0):
            fail(f"for {how} your sum equals a·t + b·t², the exponent often quoted: it is too large by b·t. "
                 "Σ_(s=1..t) (s − 1) is not t²/2; count the increments")
        if np.allclose(got[1:], ref[:-1], rtol=1e-10, atol=0) or abs(got[0]) < 1e-15:
            fail(f"for {how} your sum at t = 1 is {got[0]:.4g}; it should be β_1 = β_min (the sum runs "
                 "over s = 1..t, inclusive)")
        if np.allclose(got, a * t + (hi - lo) / (2 * T) * t * (t - 1), rtol=1e-10, atol=0):
            fail(f"for {how} your values are slightly too small: β reaches β_max at t = T, i.e. after "
                 "T − 1 equal increments; check the denominator")
        if abs(got[-1] - ref[-1]) <= 1e-10 * ref[-1] and not np.allclose(got, ref, rtol=1e-6):
            fail(f"for {how} your sum is right at t = T but not before: it must be a function of t, not of T alone")
        i = _first_mismatch(got, ref, 1e-10, 0)
        fail(f"for {how} your sum is off by a factor {got[i] / ref[i]:.6g} at t = {i + 1} "
             f"(and {got[-1] / ref[-1]:.6g} at t = T): check each term of the closed form")
    passed("your closed form matches np.cumsum of the linear schedule for T = 1000 and six random "
           "(T, β_min, β_max) to 1e-10.")
