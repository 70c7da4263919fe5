"""Auto-checks for the exercises of the chapter "Signal-to-Noise Ratio and Log-SNR" (``chapters/snr.ipynb``).

Each check calls the reader's function on several inputs (ends of the schedule, tiny β, bad chains,
real and synthetic data), compares with an independent reference and, when the answer is wrong, says
*what* is wrong without giving the answer away.
"""

from __future__ import annotations

import numbers

import numpy as np

from . import CheckFailed, as_array, call_answer, fail, passed

__all__ = ["check_snr_and_log_snr", "check_log_snr_decreasing", "check_effective_snr", "CheckFailed"]


def _close(a: np.ndarray, b: np.ndarray, rtol: float, atol: float) -> np.ndarray:
    """Elementwise closeness that treats equal infinities as equal (and different ones as not)."""
    with np.errstate(invalid="ignore"):
        return np.isclose(a, b, rtol=rtol, atol=atol) | (np.isinf(a) & np.isinf(b) & (np.sign(a) == np.sign(b)))


# --------------------------------------------------------------------------------------------------
# Exercise 1: SNR and log-SNR of a β chain, exact at the ends
# --------------------------------------------------------------------------------------------------

def _reference_snr(betas: np.ndarray):
    """SNR_t and λ_t with log ᾱ = Σ log1p(−β) and 1 − ᾱ = −expm1(log ᾱ) (the library's way)."""
    from ..quantities import get_schedule_quantities

    q = get_schedule_quantities(betas)
    return np.array(q.snr), np.array(q.log_snr)


def _snr_cases():
    from ..schedules import get_schedule

    linear = np.array(get_schedule("linear", 1000).betas)
    cosine = np.array(get_schedule("cosine", 1000).betas)
    zero_snr = np.array(get_schedule("linear", 1000, zero_terminal_snr=True).betas)
    tiny = np.array([1e-15, 1e-12, 1e-9, 0.02, 0.3, 0.9])
    tinier = np.array([1e-18, 1e-17, 1e-6, 0.5, 1.0])
    return [
        ("the linear schedule (T = 1000)", linear),
        ("the cosine schedule (T = 1000)", cosine),
        ("a zero-terminal-SNR chain (beta_T = 1)", zero_snr),
        ("a chain with tiny betas (1e-15, 1e-12, 1e-9, ...)", tiny),
        ("a chain with betas below the float64 spacing at 1 (1e-18, 1e-17, ...)", tinier),
        ("a one-step chain [1.0]", np.array([1.0])),
    ]


def check_snr_and_log_snr(snr_and_log_snr) -> None:
    """Exercise 1: ``snr_and_log_snr(betas) -> (snr, log_snr)``, each of shape (T,), index 0 is t = 1."""
    for what, betas in _snr_cases():
        T = betas.size
        out = call_answer(snr_and_log_snr, betas.copy(), what=what)
        if not isinstance(out, (tuple, list)) or len(out) != 2:
            fail("return two arrays, (snr, log_snr), one value per step t = 1..T")
        snr_raw, lam_raw = out
        for name, raw in (("snr", snr_raw), ("log_snr", lam_raw)):
            arr = np.asarray(raw) if not isinstance(raw, numbers.Number) else np.asarray([raw])
            if arr.shape == (T + 1,):
                fail(f"{name} has {T + 1} values for {T} steps: did you include t = 0? "
                     "Return one value per step t = 1..T")
        snr = as_array(snr_raw, f"snr (on {what})", shape=(T,))
        lam = as_array(lam_raw, f"log_snr (on {what})", shape=(T,))
        ref_snr, ref_lam = _reference_snr(betas)
        finite = np.isfinite(ref_lam) & (np.abs(ref_lam) > 1e-3)
        if finite.any() and np.isfinite(lam[finite]).all():
            if np.allclose(lam[finite], -ref_lam[finite], rtol=1e-6):
                fail("log_snr has the wrong sign: λ = log ᾱ − log(1 − ᾱ) is large and positive near the "
                     "data (t = 1) and negative near the noise (t = T)")
            if np.allclose(lam[finite], ref_lam[finite] / np.log(10), rtol=1e-6):
                fail("log_snr is off by a factor ln 10 = 2.303: use the natural log (np.log), not log10")
            if np.allclose(lam[finite], ref_lam[finite] / 2, rtol=1e-6):
                fail("log_snr is half the right value: λ is the log of SNR = ᾱ/(1 − ᾱ), a ratio of "
                     "variances, not of standard deviations")
        bad = np.flatnonzero(~_close(lam, ref_lam, rtol=1e-10, atol=1e-10))
        if bad.size:
            i = int(bad[0])
            t = i + 1
            if np.isinf(ref_lam[i]) and ref_lam[i] < 0:
                fail(f"on {what}: λ_{t} should be −∞, because β_{t} = 1 makes ᾱ_{t} = 0 exactly "
                     f"(zero terminal SNR); you returned {lam[i]:.6g}. Do not clip or add an epsilon")
            if np.isinf(lam[i]) and lam[i] > 0:
                fail(f"on {what}: you returned λ_{t} = +∞, but β_{t} > 0 so ᾱ_{t} < 1 and λ_{t} is finite. "
                     "1 − ᾱ_t was rounded to 0: work with log ᾱ_t (np.log1p) and recover 1 − ᾱ_t with np.expm1")
            if betas[:t].min() < 1e-6:
                fail(f"on {what}: λ_{t} is inaccurate (error {abs(lam[i] - ref_lam[i]):.2g}). When β is tiny, "
                     "1 − ∏(1 − β_s) loses most of its digits: work with log ᾱ_t (np.log1p) and recover "
                     "1 − ᾱ_t from it with np.expm1")
            if _close(lam, ref_lam, rtol=1e-5, atol=1e-5).all():
                fail(f"on {what}: log_snr is right to about 5 digits only (first off at t = {t}): compute in "
                     "float64, not float32")
            fail(f"on {what}: log_snr is wrong at t = {t} (index {i}): check λ_t = log ᾱ_t − log(1 − ᾱ_t) "
                 "with ᾱ_t = ∏_{s≤t}(1 − β_s), and that index 0 is step t = 1")
        bad = np.flatnonzero(~_close(snr, ref_snr, rtol=1e-10, atol=0.0))
        if bad.size:
            i = int(bad[0])
            if ref_snr[i] == 0:
                fail(f"on {what}: SNR_{i + 1} should be exactly 0 (ᾱ = 0 there), got {snr[i]:.6g}")
            if np.allclose(snr, np.sqrt(ref_snr), rtol=1e-8):
                fail("snr looks like the square root of the SNR: SNR = ᾱ/(1 − ᾱ) is a ratio of variances")
            fail(f"on {what}: snr is wrong at t = {i + 1} (index {i}); SNR_t = ᾱ_t/(1 − ᾱ_t) = exp(λ_t), "
                 "computed accurately when 1 − ᾱ_t is tiny")
    passed("SNR and log-SNR are right at both ends (±∞ exactly, no NaN) and accurate for tiny β.")


# --------------------------------------------------------------------------------------------------
# Exercise 2: is λ strictly decreasing, and where does it first fail?
# --------------------------------------------------------------------------------------------------

def _reference_decreasing(betas: np.ndarray):
    """(True, None) if λ_0 = +∞ > λ_1 > ... > λ_T, else (False, first failing t); the chapter's theorem."""
    T = betas.size
    for t in range(1, T + 1):
        b = betas[t - 1]
        if not 0 < b <= 1:
            return False, t
        if b == 1 and t < T:
            return False, t + 1
    return True, None


def _decreasing_cases():
    from ..schedules import get_schedule

    linear = np.array(get_schedule("linear", 1000).betas)
    rng = np.random.default_rng(20240605)
    cases = [
        ("the linear schedule", linear),
        ("the zero-terminal-SNR linear schedule (beta_T = 1)",
         np.array(get_schedule("linear", 1000, zero_terminal_snr=True).betas)),
        ("a chain with beta_6 = 0", np.where(np.arange(20) == 5, 0.0, 0.01)),
        ("a chain with a negative beta at t = 3", np.array([0.01, 0.02, -0.005, 0.03, 0.04])),
        ("a chain whose first beta is negative", np.full(8, -0.01)),
        ("a chain with beta_4 = 1.3", np.array([0.1, 0.1, 0.1, 1.3, 0.1, 0.1])),
        ("a chain with beta_3 = 1 before the last step", np.array([0.1, 0.2, 1.0, 0.3, 0.4])),
        ("a chain whose first beta is 0", np.array([0.0, 0.1, 0.2])),
        ("the one-step chain [1.0]", np.array([1.0])),
        ("the one-step chain [0.0]", np.array([0.0])),
    ]
    for k in range(6):  # random chains, each with one defect at a random place (or none)
        b = rng.uniform(1e-4, 0.05, size=50)
        kind = k % 3
        pos = int(rng.integers(0, 49))
        if kind == 1:
            b[pos] = 0.0
        elif kind == 2:
            b[pos] = -rng.uniform(1e-4, 0.05)
        cases.append((f"a random chain #{k + 1}", b))
    return cases


def check_log_snr_decreasing(is_log_snr_decreasing) -> None:
    """Exercise 2: ``is_log_snr_decreasing(betas) -> (bool, t or None)``."""
    for what, betas in _decreasing_cases():
        want_ok, want_t = _reference_decreasing(betas)
        out = call_answer(is_log_snr_decreasing, betas.copy(), what=what)
        if not isinstance(out, (tuple, list)) or len(out) != 2:
            fail("return a pair (decreasing, t): a bool, and the first failing step t (an int) or None")
        ok, t = out
        if not isinstance(ok, (bool, np.bool_)):
            fail(f"the first item should be True or False, got {type(ok).__name__}")
        if t is not None and (isinstance(t, (bool, np.bool_)) or not isinstance(t, numbers.Integral)):
            fail(f"the second item should be an int step t (or None), got {type(t).__name__}")
        ok = bool(ok)
        if ok and t is not None:
            fail("when λ is strictly decreasing, return (True, None): there is no failing step")
        if not ok and t is None:
            fail("when λ is not strictly decreasing, return the first failing step t, not None")
        if ok != want_ok:
            if want_ok and betas[-1] == 1:
                fail(f"on {what}: β_T = 1 (zero terminal SNR) gives λ_T = −∞ < λ_(T−1): that is still a "
                     "strict decrease, so this chain is fine")
            if want_ok:
                fail(f"on {what}: this chain is fine (every β_t in (0, 1)), but you said it is not")
            if 0.0 in betas[:want_t]:
                fail(f"on {what}: β_t = 0 gives ᾱ_t = ᾱ_(t−1), so λ_t = λ_(t−1): a flat step is not a "
                     "strict decrease")
            if (betas[:want_t] > 1).any():
                fail(f"on {what}: β_t > 1 makes ᾱ_t negative, so λ_t is not even defined")
            if (betas[:want_t] == 1).any():
                fail(f"on {what}: after a step with β_t = 1 (t < T), ᾱ stays 0 and λ stays −∞: the next "
                     "step cannot decrease λ")
            fail(f"on {what}: this chain has a step where λ does not decrease (look for β_t ≤ 0)")
        if not ok and int(t) != want_t:
            t = int(t)
            if t == want_t - 1:
                if 1 <= t <= betas.size and betas[t - 1] == 1:
                    fail(f"on {what}: at the step where β_t = 1, λ_t = −∞ is still below λ_(t−1); "
                         "the first step that fails comes after it")
                fail(f"on {what}: your step is one too early. Steps are numbered t = 1..T "
                     "(betas[0] is β_1), not from 0")
            if t < want_t:
                fail(f"on {what}: λ still decreases at t = {t}; the first failure is later")
            fail(f"on {what}: λ already fails to decrease before t = {t}; report the first failing step")
    passed("you find exactly the chains with 0 < β_t < 1 (t < T), 0 < β_T ≤ 1, and the first failing step.")


# --------------------------------------------------------------------------------------------------
# Exercise 3: the effective SNR of real data
# --------------------------------------------------------------------------------------------------

def _effective_cases():
    rng = np.random.default_rng(7)
    offset = 3.0 + 0.5 * rng.standard_normal(size=(100, 32, 32))
    uniform = rng.uniform(-1.0, 1.0, size=200_000)
    cases = [
        ("Gaussian data with mean 3 and std 0.5, shape (100, 32, 32), at alpha_bar = [0.1, 0.5, 0.9]",
         offset, np.array([0.1, 0.5, 0.9])),
        ("200,000 samples of U[-1, 1] at alpha_bar = 0.5", uniform, 0.5),
        ("U[-1, 1] data at alpha_bar = 0.99", uniform, 0.99),
    ]
    try:
        from ..data import load_sample_images
    except ImportError:  # torch missing: the real-data case is skipped, the synthetic ones still run
        return cases
    cifar = load_sample_images().images.astype(np.float64) / 127.5 - 1.0
    cases.append(("the 40 CIFAR-10 sample images in [-1, 1] at alpha_bar = 0.5", cifar, 0.5))
    return cases


def check_effective_snr(effective_snr) -> None:
    """Exercise 3: ``effective_snr(x0, alpha_bar)`` = Var(x₀)·ᾱ/(1 − ᾱ) (up to 2 % for Monte Carlo answers)."""
    for what, x0, ab in _effective_cases():
        ab = np.asarray(ab, dtype=np.float64)
        var = float(np.var(x0))
        snr = ab / (1 - ab)
        want = var * snr
        out = call_answer(effective_snr, x0.copy(), ab.copy() if ab.ndim else float(ab), what=what)
        got = as_array(out, f"effective_snr (on {what})")
        if got.shape != want.shape and got.size == want.size:
            got = got.reshape(want.shape)
        if got.shape != want.shape:
            fail(f"on {what}: the result should have the shape of alpha_bar, {want.shape}, got {got.shape}; "
                 "Var(x₀) is one number for the whole data set")
        if np.allclose(got, want, rtol=0.02):
            continue
        typical = [
            (snr, "your value equals the nominal SNR ᾱ/(1 − ᾱ) of the schedule. The signal part √ᾱ·x₀ has "
                  "variance ᾱ·Var(x₀), and this data does not have unit variance"),
            (np.sqrt(var) * snr, "your value is off by a factor 1/std(x₀): you used the standard deviation of "
                                 "x₀ where the variance belongs (the SNR is a ratio of variances)"),
            (float(np.mean(x0 ** 2)) * snr, "your value uses the mean square E[x₀²]; the exercise asks for the "
                                            "ratio of variances, so subtract the mean of x₀ first "
                                            "(Var = E[x₀²] − E[x₀]²)"),
            (np.sqrt(want), "your value is the square root of the answer, an amplitude ratio; the SNR is a "
                            "ratio of variances"),
            (var * ab, "you forgot to divide by the noise variance 1 − ᾱ"),
            (var / snr, "your ratio is upside down: it should be signal variance over noise variance"),
        ]
        for candidate, hint in typical:
            if np.allclose(got, candidate, rtol=0.02):
                fail(f"on {what}: {hint}")
        ratio = float(np.median(got / want))
        side = "too large" if ratio > 1 else "too small"
        fail(f"on {what}: your value is {side} by a factor of about {ratio:.3g}: the signal part of x_t is "
             "√ᾱ·x₀ and the noise part is √(1 − ᾱ)·ε")
    passed("the effective SNR is Var(x₀)·ᾱ/(1 − ᾱ): the schedule's SNR times the data variance.")
