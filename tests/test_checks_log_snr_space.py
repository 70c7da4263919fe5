"""The exercise checks of chapter "Schedules in Log-SNR Space" accept the worked solutions and reject
typical wrong answers with a hint that names the mistake (``sched_lib/checks/log_snr_space.py``)."""

import math

import numpy as np
import pytest

from sched_lib.checks import CheckFailed
from sched_lib.checks.log_snr_space import (
    check_truncated_cosine_density,
    check_logistic_alpha_bar,
    check_step_fractions,
)
from sched_lib.schedules import shifted_cosine_log_snr
from sched_lib.weighting import UniformTime


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


# --------------------------------------------------------------------------------------------------
# Exercise 1: step fractions
# --------------------------------------------------------------------------------------------------

def _log_snr(betas):
    alpha_bar = np.cumprod(1.0 - betas)
    return np.log(alpha_bar) - np.log1p(-alpha_bar)


def step_fractions_solution(betas):
    lam = _log_snr(np.asarray(betas, dtype=np.float64))
    return np.mean(np.abs(lam) <= 5), np.mean(lam < -5)


def test_step_fractions_accepts_solution(capsys):
    check_step_fractions(step_fractions_solution)
    out = capsys.readouterr().out
    assert "Correct" in out and "68.1%" in out and "90.2%" in out and "29.8%" in out and "5.3%" in out


def test_step_fractions_accepts_float32_rounding():
    def float32(betas):
        b = np.asarray(betas, dtype=np.float32)
        ab = np.cumprod(np.float32(1) - b)
        lam = np.log(ab) - np.log1p(-ab)
        return float(np.mean(np.abs(lam) <= 5)), float(np.mean(lam < -5))

    check_step_fractions(float32)


@pytest.mark.parametrize("wrong, message", [
    (lambda b: (lambda lam: (np.mean(np.abs(lam) <= 5), np.mean(lam < -5)))(
        np.concatenate([[np.inf], _log_snr(b)])[:-1]), "off-by-one"),
    (lambda b: (lambda lam: (np.mean(np.abs(lam) <= 5), np.mean(lam < -5)))(
        np.concatenate([[np.inf], _log_snr(b)])), r"T \+ 1 values"),
    (lambda b: (lambda lam: (np.mean(np.abs(lam) <= 5), np.mean(lam < -5)))(
        np.log((1 - b) / b)), "cumulative"),
    (lambda b: (lambda lam: (np.mean(np.abs(lam) <= 5), np.mean(lam < -5)))(
        np.log(b / (1 - b))), "cumulative product"),
    (lambda b: tuple(100 * np.array(step_fractions_solution(b))), "percentages"),
    (lambda b: step_fractions_solution(b)[::-1], "wrong order"),
    (lambda b: (lambda lam: (np.mean(np.abs(lam) <= 4), np.mean(lam < -4)))(_log_snr(b)), "too"),
    (lambda b: (0.681, 0.298), "too"),  # hard-coded linear answer
])
def test_step_fractions_rejects_typical_mistakes(wrong, message):
    with pytest.raises(CheckFailed, match=message):
        check_step_fractions(wrong)


@pytest.mark.parametrize("bad, message", [
    ("not a function", "pass your function itself"),
    (lambda b: np.array([np.nan, 0.1]), "NaN"),
    (lambda b: np.zeros(3), "two numbers"),
    (lambda b: {"inside": 0.5}, "two numbers"),
    (lambda b: 0.5, "two numbers"),
    (lambda b: 1 / 0, "ZeroDivisionError"),
    (lambda b: (-0.1, 0.2), r"\[0, 1\]"),
    (lambda b: (0.0, 0.0), "too small"),  # the starting cell's stub
])
def test_step_fractions_rejects_malformed(bad, message):
    with pytest.raises(CheckFailed, match=message):
        check_step_fractions(bad)


# --------------------------------------------------------------------------------------------------
# Exercise 2: the logistic schedule
# --------------------------------------------------------------------------------------------------

def logistic_solution(t, log_snr_max, log_snr_min):
    lam = log_snr_max - (log_snr_max - log_snr_min) * np.asarray(t, dtype=np.float64)
    return _sigmoid(lam)


def test_logistic_accepts_solution(capsys):
    check_logistic_alpha_bar(logistic_solution)
    assert "Correct" in capsys.readouterr().out


def test_logistic_accepts_the_snr_form():
    # The seed's algebra, SNR_0 e^{-ct}/(SNR_0 e^{-ct} + 1), is the same function.
    def snr_form(t, hi, lo):
        snr = math.exp(hi) * np.exp(-(hi - lo) * np.asarray(t))
        return snr / (snr + 1)

    check_logistic_alpha_bar(snr_form)


@pytest.mark.parametrize("wrong, message", [
    # the seed's sign: sigmoid(-a + 2at), i.e. lambda rising from lambda_min to lambda_max
    (lambda t, hi, lo: _sigmoid(lo + (hi - lo) * t), "increases with t"),
    # the seed's normalised form (with its sign): starts at 1, grows to e^a
    (lambda t, hi, lo: _sigmoid(lo + (hi - lo) * t) / _sigmoid(lo), "normalised form of a widely copied"),
    # right sign but normalised by alpha_bar(0)
    (lambda t, hi, lo: _sigmoid(hi - (hi - lo) * t) / _sigmoid(hi), "normalised by the value at t = 0"),
    (lambda t, hi, lo: np.exp(hi - (hi - lo) * t), "SNR"),
    (lambda t, hi, lo: hi - (hi - lo) * t, "lambda itself"),
    (lambda t, hi, lo: _sigmoid(hi) + (_sigmoid(lo) - _sigmoid(hi)) * t, "interpolated alpha_bar linearly"),
    (lambda t, hi, lo: _sigmoid(hi - (hi - lo) * t ** 2), "not linear"),
    (lambda t, hi, lo: _sigmoid(0.5 * (hi - (hi - lo) * t)), "wrong endpoints"),
    # Chen 2023's sigmoid schedule is not linear in log-SNR either
    (lambda t, hi, lo: 0.999 * (_sigmoid(3.0) - _sigmoid(6 * t - 3)) / (_sigmoid(3.0) - _sigmoid(-3.0)) + 5e-4,
     "wrong endpoints|not linear"),
])
def test_logistic_rejects_typical_mistakes(wrong, message):
    with pytest.raises(CheckFailed, match=message):
        check_logistic_alpha_bar(wrong)


@pytest.mark.parametrize("bad, message", [
    (None, "pass your function itself"),
    (lambda t, hi, lo: np.full_like(t, np.nan), "NaN"),
    (lambda t, hi, lo: 0.5, "shape"),
    (lambda t, hi, lo: _sigmoid(hi - (hi - lo) * t)[:-1], "shape"),
    (lambda t, hi, lo: "abc", "array of numbers"),
    (lambda t: t, "TypeError"),
    (lambda t, hi, lo: np.full_like(t, 0.5), "constant in t"),  # the starting cell's stub
])
def test_logistic_rejects_malformed(bad, message):
    with pytest.raises(CheckFailed, match=message):
        check_logistic_alpha_bar(bad)


# --------------------------------------------------------------------------------------------------
# Exercise 3: density of the interpolated cosine schedule
# --------------------------------------------------------------------------------------------------

def density_solution(lam, log_snr_max, log_snr_min):
    lam = np.asarray(lam, dtype=np.float64)
    t_min = math.atan(math.exp(-0.5 * log_snr_max))
    t_max = math.atan(math.exp(-0.5 * log_snr_min))
    inside = (lam >= log_snr_min) & (lam <= log_snr_max)
    return np.where(inside, 1.0 / (4.0 * (t_max - t_min) * np.cosh(lam / 2)), 0.0)


def test_density_solution_agrees_with_uniform_time():
    lam = np.linspace(-9.5, 9.5, 77)
    ref = UniformTime(lambda t: shifted_cosine_log_snr(t, log_snr_max=10, log_snr_min=-10)).log_snr_density(lam)
    np.testing.assert_allclose(density_solution(lam, 10, -10), ref, rtol=1e-7)


def test_density_accepts_solution(capsys):
    check_truncated_cosine_density(density_solution)
    assert "Correct" in capsys.readouterr().out


def _inside(lam, hi, lo):
    lam = np.asarray(lam)
    return (lam >= lo) & (lam <= hi)


@pytest.mark.parametrize("wrong, message", [
    # the full cosine density sech(lambda/2)/(2 pi), cut to the range
    (lambda lam, hi, lo: np.where(_inside(lam, hi, lo), 1 / (2 * np.pi * np.cosh(lam / 2)), 0.0), "full cosine"),
    # forgot the 1/(t_max - t_min) factor
    (lambda lam, hi, lo: np.where(_inside(lam, hi, lo), 1 / (4 * np.cosh(lam / 2)), 0.0), "constant factor"),
    # signed dt/dlambda
    (lambda lam, hi, lo: -density_solution(lam, hi, lo), "negative"),
    # not cut to the range
    (lambda lam, hi, lo: density_solution(lam, hi, lo) + 1e-3 * ~_inside(lam, hi, lo), "not zero outside"),
    (lambda lam, hi, lo: np.where(_inside(lam, hi, lo),
                                  1 / (4 * (math.atan(math.exp(-lo / 2)) - math.atan(math.exp(-hi / 2)))
                                       * np.cosh(lam)), 0.0), "argument"),
    # the logistic schedule's uniform density
    (lambda lam, hi, lo: np.where(_inside(lam, hi, lo), 1 / (hi - lo), 0.0), "does not match"),
])
def test_density_rejects_typical_mistakes(wrong, message):
    with pytest.raises(CheckFailed, match=message):
        check_truncated_cosine_density(wrong)


@pytest.mark.parametrize("bad, message", [
    (3.0, "pass your function itself"),
    (lambda lam, hi, lo: np.full_like(lam, np.nan), "NaN"),
    (lambda lam, hi, lo: np.full_like(lam, np.inf), "infinite"),
    (lambda lam, hi, lo: density_solution(lam, hi, lo)[::2], "shape"),
    (lambda lam, hi, lo: [[1, 2], [3]], "array of numbers"),
    (lambda lam, hi, lo: np.zeros_like(lam), "zero everywhere"),  # the starting cell's stub
])
def test_density_rejects_malformed(bad, message):
    with pytest.raises(CheckFailed, match=message):
        check_truncated_cosine_density(bad)
