"""The exercise checks of chapter "Schedules and Resolution" accept the worked solutions and reject
typical wrong answers with a hint that names the mistake (``sched_lib/checks/resolution.py``)."""

import math

import numpy as np
import pytest

from sched_lib.checks import CheckFailed
from sched_lib.checks.resolution import check_pooled_snr_gain, check_resolution_for_shift, check_sd3_shift

# --------------------------------------------------------------------------------------------------
# Exercise 1: the SD3 time shift
# --------------------------------------------------------------------------------------------------


def sd3_shift_solution(t, alpha):
    return alpha * t / (1 + (alpha - 1) * t)


def test_sd3_shift_accepts_solution(capsys):
    check_sd3_shift(sd3_shift_solution)
    assert "Correct" in capsys.readouterr().out


@pytest.mark.parametrize("wrong, message", [
    (lambda t, a: t / (a - (a - 1) * t), "invert the shift"),                       # the inverse map
    (lambda t, a: a * t, "keep both ends fixed"),                                    # unbounded scaling
    (lambda t, a: np.sqrt(a) * t / (1 + (np.sqrt(a) - 1) * t), "half the SD3 shift"),  # sqrt(m/n) twice
    (lambda t, a: t ** (1 / a), "ranges from"),                                      # not a constant λ shift
    (lambda t, a: (a ** 2) * t / (1 + (a ** 2 - 1) * t), "not the SD3 one"),         # α² in place of α
    (lambda t, a: np.clip(t + 0.1 * (a - 1) * t * (1 - t), 0, 1) * (a != 1) + t * (a == 1), "ranges from"),
])
def test_sd3_shift_rejects_typical_mistakes(wrong, message):
    with pytest.raises(CheckFailed, match=message):
        check_sd3_shift(wrong)


@pytest.mark.parametrize("bad, message", [
    ("not a function", "pass your function itself"),
    (lambda t, a: t[:10], "shape"),
    (lambda t, a: np.full_like(t, np.nan), "NaN"),
    (lambda t, a: 1 / 0, "ZeroDivisionError"),
    (lambda t, a: "t", "array of numbers"),
    (lambda t, a: t / (1 - t) if a != 1 else t, "inf"),
])
def test_sd3_shift_rejects_malformed_answers(bad, message):
    with pytest.raises(CheckFailed, match=message):
        check_sd3_shift(bad)


# --------------------------------------------------------------------------------------------------
# Exercise 2: pooling gain
# --------------------------------------------------------------------------------------------------


def _avg_pool(x, s):
    n, h, w, c = x.shape
    return x.reshape(n, h // s, s, w // s, s, c).mean(axis=(2, 4))


def pooled_snr_gain_solution(x0, s):
    return s ** 2 * _avg_pool(x0, s).var() / x0.var()


def test_pooled_snr_gain_accepts_solution(capsys):
    check_pooled_snr_gain(pooled_snr_gain_solution)
    assert "Correct" in capsys.readouterr().out


def _monte_carlo(x0, s):
    rng = np.random.default_rng(0)
    noise = rng.standard_normal(x0.shape)
    return (_avg_pool(x0, s).var() / _avg_pool(noise, s).var()) / (x0.var() / noise.var())


@pytest.mark.parametrize("wrong, message", [
    (lambda x, s: _avg_pool(x, s).var() / x.var(), "also divides the variance"),       # forgot s²
    (lambda x, s: s * _avg_pool(x, s).var() / x.var(), "factor of s"),                 # s instead of s²
    (lambda x, s: x.var() / (s ** 2 * _avg_pool(x, s).var()), "inverse"),             # upside down
    (lambda x, s: float(s ** 2), "perfectly redundant"),                                # ignores the signal
    (lambda x, s: s ** 2 * _avg_pool(x, s).std() / x.std(), "times the right value"),  # std, not variance
])
def test_pooled_snr_gain_rejects_typical_mistakes(wrong, message):
    with pytest.raises(CheckFailed, match=message):
        check_pooled_snr_gain(wrong)


def test_pooled_snr_gain_flags_monte_carlo_as_inexact():
    with pytest.raises(CheckFailed, match="close but not exact|times the right value"):
        check_pooled_snr_gain(_monte_carlo)


@pytest.mark.parametrize("bad, message", [
    (3.0, "pass your function itself"),
    (lambda x, s: np.array([1.0, 2.0]), "one number"),
    (lambda x, s: float("nan"), "NaN"),
    (lambda x, s: float("inf"), "infinite"),
    (lambda x, s: x.reshape(-1, 7), "ValueError"),
    (lambda x, s: -4.0, "positive"),
])
def test_pooled_snr_gain_rejects_malformed_answers(bad, message):
    with pytest.raises(CheckFailed, match=message):
        check_pooled_snr_gain(bad)


# --------------------------------------------------------------------------------------------------
# Exercise 3: resolution for a given log-SNR shift
# --------------------------------------------------------------------------------------------------


def resolution_for_shift_solution(shift, base):
    return base * math.exp(-shift / 2)


def test_resolution_for_shift_accepts_solution(capsys):
    check_resolution_for_shift(resolution_for_shift_solution)
    out = capsys.readouterr().out
    assert "Correct" in out and "286.8" in out


@pytest.mark.parametrize("wrong, message", [
    (lambda shift, base: base * math.exp(-shift), "twice the requested"),        # forgot the factor 2
    (lambda shift, base: base * math.exp(shift / 2), "Check the sign|check the sign"),
    (lambda shift, base: base * math.exp(-shift / 4), "half the requested"),
    (lambda shift, base: base - 10 * shift, "gives a log-SNR shift of"),
    (lambda shift, base: 64 * math.exp(-shift / 2), "base resolution|log-SNR shift of"),  # ignores base
])
def test_resolution_for_shift_rejects_typical_mistakes(wrong, message):
    with pytest.raises(CheckFailed, match=message):
        check_resolution_for_shift(wrong)


@pytest.mark.parametrize("bad, message", [
    (None, "pass your function itself"),
    (lambda shift, base: "286", "one number"),
    (lambda shift, base: -base, "positive"),
    (lambda shift, base: math.log(-1), "ValueError"),
    (lambda shift, base: np.nan, "NaN"),
])
def test_resolution_for_shift_rejects_malformed_answers(bad, message):
    with pytest.raises(CheckFailed, match=message):
        check_resolution_for_shift(bad)
