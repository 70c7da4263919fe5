"""The exercise checks of chapter "Signal-to-Noise Ratio and Log-SNR" (sched_lib.checks.snr).

Each check must accept the worked solution of the chapter and reject typical wrong answers with a
message that names the mistake, plus malformed answers (wrong type, shape, NaN).
"""

from __future__ import annotations

import numpy as np
import pytest

from sched_lib.checks import CheckFailed
from sched_lib.checks.snr import check_effective_snr, check_log_snr_decreasing, check_snr_and_log_snr


# --- the worked solutions, as in chapters/snr.ipynb ------------------------------------------------

def snr_and_log_snr_solution(betas):
    betas = np.asarray(betas, dtype=np.float64)
    with np.errstate(divide="ignore"):
        log_alpha_bar = np.cumsum(np.log1p(-betas))
        one_minus = -np.expm1(log_alpha_bar)
        log_snr = log_alpha_bar - np.log(one_minus)
    return np.exp(log_alpha_bar) / one_minus, log_snr


def is_log_snr_decreasing_solution(betas):
    betas = np.asarray(betas, dtype=np.float64)
    T = betas.size
    for t, beta in enumerate(betas, start=1):
        if not 0 < beta <= 1:
            return False, t
        if beta == 1 and t < T:
            return False, t + 1
    return True, None


def effective_snr_solution(x0, alpha_bar):
    alpha_bar = np.asarray(alpha_bar, dtype=np.float64)
    return np.var(x0) * alpha_bar / (1 - alpha_bar)


def _rejects(check, answer, *fragments):
    with pytest.raises(CheckFailed) as info:
        check(answer)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, message
    return message


# --- exercise 1 ---------------------------------------------------------------------------------

def test_snr_check_accepts_solution(capsys):
    check_snr_and_log_snr(snr_and_log_snr_solution)
    assert capsys.readouterr().out.startswith("Correct:")


def _naive(betas):
    alpha_bar = np.cumprod(1 - np.asarray(betas))
    with np.errstate(divide="ignore"):
        snr = alpha_bar / (1 - alpha_bar)
        return snr, np.log(snr)


def test_snr_check_rejects_naive_product():
    _rejects(check_snr_and_log_snr, _naive, "tiny", "expm1")


def test_snr_check_rejects_rounded_one_minus_alpha_bar():
    """1 − (1 − 1e-18) == 0 in float64: λ_1 = +inf, which the check names."""
    def rounded(betas):
        betas = np.asarray(betas, dtype=np.float64)
        snr, lam = snr_and_log_snr_solution(betas)
        if betas[0] < 1e-16:
            lam = lam.copy()
            lam[0] = np.inf
        return snr, lam
    _rejects(check_snr_and_log_snr, rounded, "+∞", "expm1")


def test_snr_check_rejects_wrong_sign_and_log10():
    _rejects(check_snr_and_log_snr, lambda b: (snr_and_log_snr_solution(b)[0], -snr_and_log_snr_solution(b)[1]),
             "wrong sign")
    _rejects(check_snr_and_log_snr,
             lambda b: (snr_and_log_snr_solution(b)[0], snr_and_log_snr_solution(b)[1] / np.log(10)), "ln 10")


def test_snr_check_rejects_clipped_terminal_value():
    def clipped(betas):
        snr, lam = snr_and_log_snr_solution(betas)
        return np.maximum(snr, 1e-12), np.maximum(lam, np.log(1e-12))
    _rejects(check_snr_and_log_snr, clipped, "−∞", "β_")


def test_snr_check_rejects_float32():
    def float32(betas):
        betas = np.asarray(betas, dtype=np.float32)
        snr, lam = snr_and_log_snr_solution(betas.astype(np.float64))
        return snr.astype(np.float32), lam.astype(np.float32)
    _rejects(check_snr_and_log_snr, float32, "float32")


def test_snr_check_rejects_sqrt_snr():
    _rejects(check_snr_and_log_snr,
             lambda b: (np.sqrt(snr_and_log_snr_solution(b)[0]), snr_and_log_snr_solution(b)[1]), "square root")


def test_snr_check_rejects_malformed_answers():
    _rejects(check_snr_and_log_snr, lambda b: snr_and_log_snr_solution(b)[1], "two arrays")
    _rejects(check_snr_and_log_snr,
             lambda b: tuple(np.concatenate([[np.inf], x]) for x in snr_and_log_snr_solution(b)), "t = 0")
    _rejects(check_snr_and_log_snr, lambda b: (np.full(len(b), np.nan), np.full(len(b), np.nan)), "NaN")
    _rejects(check_snr_and_log_snr, lambda b: ("snr", "log_snr"), "array of numbers")
    _rejects(check_snr_and_log_snr, snr_and_log_snr_solution(np.array([0.1])), "pass your function")
    _rejects(check_snr_and_log_snr, lambda b: 1 / 0, "ZeroDivisionError")


# --- exercise 2 ---------------------------------------------------------------------------------

def test_decreasing_check_accepts_solution(capsys):
    check_log_snr_decreasing(is_log_snr_decreasing_solution)
    assert capsys.readouterr().out.startswith("Correct:")


def test_decreasing_check_accepts_alpha_bar_based_solution():
    """A solution that tests ᾱ directly (instead of β) is equally right on the check's chains."""
    def via_alpha_bar(betas):
        prev = 1.0
        for t, beta in enumerate(np.asarray(betas, dtype=np.float64), start=1):
            ab = prev * (1 - beta)
            if not 0 <= ab < prev:
                return False, t
            prev = ab
        return True, None
    check_log_snr_decreasing(via_alpha_bar)


def test_decreasing_check_rejects_zero_based_step():
    def zero_based(betas):
        ok, t = is_log_snr_decreasing_solution(betas)
        return ok, None if t is None else t - 1
    _rejects(check_log_snr_decreasing, zero_based, "one too early")


def test_decreasing_check_rejects_non_strict():
    def non_strict(betas):
        b = np.asarray(betas)
        bad = np.flatnonzero((b < 0) | (b > 1))
        return (True, None) if bad.size == 0 else (False, int(bad[0]) + 1)
    _rejects(check_log_snr_decreasing, non_strict, "flat step")


def test_decreasing_check_rejects_refusing_zero_terminal_snr():
    def strict_below_one(betas):
        b = np.asarray(betas)
        bad = np.flatnonzero((b <= 0) | (b >= 1))
        return (True, None) if bad.size == 0 else (False, int(bad[0]) + 1)
    _rejects(check_log_snr_decreasing, strict_below_one, "zero terminal SNR")


def test_decreasing_check_rejects_beta_one_reported_too_early():
    def too_early(betas):
        b = np.asarray(betas)
        bad = np.flatnonzero((b <= 0) | (b > 1) | ((b == 1) & (np.arange(b.size) < b.size - 1)))
        return (True, None) if bad.size == 0 else (False, int(bad[0]) + 1)
    _rejects(check_log_snr_decreasing, too_early, "β_t = 1", "comes after")


def test_decreasing_check_rejects_missing_upper_bound():
    def no_upper(betas):
        b = np.asarray(betas)
        bad = np.flatnonzero(b <= 0)
        return (True, None) if bad.size == 0 else (False, int(bad[0]) + 1)
    _rejects(check_log_snr_decreasing, no_upper, "β_t > 1")


def test_decreasing_check_rejects_malformed_answers():
    _rejects(check_log_snr_decreasing, lambda b: True, "pair")
    _rejects(check_log_snr_decreasing, lambda b: ("yes", None), "True or False")
    _rejects(check_log_snr_decreasing, lambda b: (False, 2.5), "int step")
    _rejects(check_log_snr_decreasing, lambda b: (True, 1), "(True, None)")
    _rejects(check_log_snr_decreasing, lambda b: (False, None), "not None")


# --- exercise 3 ---------------------------------------------------------------------------------

def test_effective_snr_check_accepts_solution(capsys):
    check_effective_snr(effective_snr_solution)
    assert capsys.readouterr().out.startswith("Correct:")


def test_effective_snr_check_accepts_monte_carlo():
    def monte_carlo(x0, alpha_bar):
        rng = np.random.default_rng(1)
        eps = rng.standard_normal(np.shape(x0))
        return np.array([np.var(np.sqrt(a) * x0) / np.var(np.sqrt(1 - a) * eps)
                         for a in np.atleast_1d(alpha_bar)]).reshape(np.shape(alpha_bar))
    check_effective_snr(monte_carlo)


@pytest.mark.parametrize("answer, fragment", [
    (lambda x0, a: np.asarray(a) / (1 - np.asarray(a)), "nominal SNR"),
    (lambda x0, a: np.std(x0) * np.asarray(a) / (1 - np.asarray(a)), "standard deviation"),
    (lambda x0, a: np.mean(x0 ** 2) * np.asarray(a) / (1 - np.asarray(a)), "mean square"),
    (lambda x0, a: np.sqrt(np.var(x0) * np.asarray(a) / (1 - np.asarray(a))), "square root"),
    (lambda x0, a: np.var(x0) * np.asarray(a), "1 − ᾱ"),
    (lambda x0, a: np.var(x0) * (1 - np.asarray(a)) / np.asarray(a), "upside down"),
    (lambda x0, a: 1.5 * np.var(x0) * np.asarray(a) / (1 - np.asarray(a)), "too large"),
])
def test_effective_snr_check_rejects_typical_mistakes(answer, fragment):
    _rejects(check_effective_snr, answer, fragment)


def test_effective_snr_check_rejects_malformed_answers():
    _rejects(check_effective_snr, lambda x0, a: np.var(x0, axis=0) * np.asarray(a), "shape")
    _rejects(check_effective_snr, lambda x0, a: np.full(np.shape(a), np.nan), "NaN")
    _rejects(check_effective_snr, lambda x0, a: None, "returned None")
    _rejects(check_effective_snr, lambda x0, a: "high", "array of numbers")
    _rejects(check_effective_snr, 0.27, "pass your function")
