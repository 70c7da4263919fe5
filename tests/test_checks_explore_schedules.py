"""The exercise checks of the lab "Explore Schedules" accept the worked solutions and reject typical wrong
answers with a hint that names the mistake (``sched_lib/checks/explore_schedules.py``)."""

import math

import numpy as np
import pytest

from sched_lib.checks import CheckFailed
from sched_lib.checks.explore_schedules import check_matched_log_snr, check_noisy_fraction

# --------------------------------------------------------------------------------------------------
# Exercise 1: the fraction of steps that are almost pure noise
# --------------------------------------------------------------------------------------------------


def noisy_fraction_solution(betas, var_x0, threshold):
    alpha_bar = np.cumprod(1 - np.asarray(betas, dtype=np.float64))
    signal = alpha_bar * var_x0
    return float(np.mean(signal / (signal + 1 - alpha_bar) < threshold))


def test_noisy_fraction_accepts_solution(capsys):
    check_noisy_fraction(noisy_fraction_solution)
    out = capsys.readouterr().out
    assert "Correct" in out and "Linear at T = 1000" in out


def test_noisy_fraction_accepts_float32():
    def float32(betas, var_x0, threshold):
        ab = np.cumprod(np.float32(1) - np.asarray(betas, dtype=np.float32))
        signal = ab * np.float32(var_x0)
        return float(np.mean(signal / (signal + 1 - ab) < threshold))

    check_noisy_fraction(float32)


def _frac(alpha_bar, v, thr):
    return float(np.mean(alpha_bar * v / (alpha_bar * v + 1 - alpha_bar) < thr))


@pytest.mark.parametrize("wrong, message", [
    (lambda b, v, thr: _frac(np.cumprod(1 - b), 1.0, thr), "ignore var_x0"),
    (lambda b, v, thr: _frac(np.cumprod(1 - b), math.sqrt(v), thr), "standard deviation"),
    (lambda b, v, thr: float(np.mean(np.sqrt(np.cumprod(1 - b) * v)
                                     / (np.sqrt(np.cumprod(1 - b) * v) + np.sqrt(1 - np.cumprod(1 - b))) < thr)),
     "amplitudes"),
    (lambda b, v, thr: _frac(np.concatenate([[1.0], np.cumprod(1 - b)]), v, thr), "T \\+ 1 values"),
    (lambda b, v, thr: _frac(1 - b, v, thr), "cumulative"),
    (lambda b, v, thr: 1 - noisy_fraction_solution(b, v, thr), "above"),
    (lambda b, v, thr: noisy_fraction_solution(b, v, thr) * len(b), "not a count"),
    (lambda b, v, thr: np.zeros(2), "one number"),
    (lambda b, v, thr: 0.5, "off by more than one step"),
    (lambda b, v, thr: -0.1, "must lie in"),
])
def test_noisy_fraction_rejects_typical_mistakes(wrong, message):
    with pytest.raises(CheckFailed, match=message):
        check_noisy_fraction(wrong)


def test_noisy_fraction_off_by_one_is_named():
    """An off-by-one that moves the fraction by more than the tolerance is named (T = 50 logistic case)."""
    def shifted(b, v, thr):
        ab = np.concatenate([[1.0], np.cumprod(1 - b)])[:-1]
        return _frac(ab, v, thr)

    with pytest.raises(CheckFailed, match="off-by-one"):
        check_noisy_fraction(shifted)


# --------------------------------------------------------------------------------------------------
# Exercise 2: the matched log-SNR
# --------------------------------------------------------------------------------------------------


def matched_log_snr_solution(log_snr, d, base):
    return np.asarray(log_snr, dtype=np.float64) + 2 * np.log(base / d)


def test_matched_log_snr_accepts_solution(capsys):
    check_matched_log_snr(matched_log_snr_solution)
    out = capsys.readouterr().out
    assert "Correct" in out and "-2.773" in out


@pytest.mark.parametrize("wrong, message", [
    (lambda lam, d, base: lam + 2 * np.log(d / base), "wrong way"),
    (lambda lam, d, base: lam + np.log(base / d), "half"),
    (lambda lam, d, base: lam + 2 * np.log2(base / d), "natural log"),
    (lambda lam, d, base: lam + 2 * np.log10(base / d), "natural log"),
    (lambda lam, d, base: lam * (base / d) ** 2, "multiplied"),
    (lambda lam, d, base: lam + (base / d) ** 2, "add its log"),
    (lambda lam, d, base: float(np.mean(lam)) + 2 * np.log(base / d), "shape"),
    (lambda lam, d, base: lam - 1.0, "SNR_d"),
    (lambda lam, d, base: np.where(np.isinf(lam), np.nan, lam + 2 * np.log(base / d)), "NaN"),
    (lambda lam, d, base: None, "returned None"),
])
def test_matched_log_snr_rejects_typical_mistakes(wrong, message):
    with pytest.raises(CheckFailed, match=message):
        check_matched_log_snr(wrong)
