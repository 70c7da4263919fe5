"""The exercise checks of chapter "The Classic Schedules" accept the worked solutions and reject
typical wrong answers with a hint that names the mistake (sched_lib/checks/classic_schedules.py)."""

from __future__ import annotations

import numpy as np
import pytest

from sched_lib.checks import CheckFailed
from sched_lib.checks.classic_schedules import (
    check_chen_sigmoid_betas,
    check_cosine_betas,
    check_linear_beta_sum,
)


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


# ---------------------------------------------------------------------------------------------------
# The worked solutions (as in the chapter) and typical wrong answers
# ---------------------------------------------------------------------------------------------------

def chen_solution(T, start=-3.0, end=3.0, tau=1.0, clip_min=1e-9, max_beta=0.999):
    grid = np.arange(T + 1) / T
    v_start, v_end = _sigmoid(start / tau), _sigmoid(end / tau)
    gamma = (v_end - _sigmoid((grid * (end - start) + start) / tau)) / (v_end - v_start)
    gamma = np.clip(gamma, clip_min, 1.0)
    return np.minimum(1 - gamma[1:] / gamma[:-1], max_beta)


def chen_seed_bug(T, start=-3.0, end=3.0, tau=1.0):
    """The seed's sigmoid_schedule: sigmoid ramp divided by its value at t = 0."""
    t = np.linspace(0, T, T + 1)
    v = _sigmoid(start + (end - start) * t / T)
    alpha_bar = v / v[0]
    return np.clip(1 - alpha_bar[1:] / alpha_bar[:-1], None, 0.999)


def chen_no_clip(T, start=-3.0, end=3.0, tau=1.0):
    return chen_solution(T, start, end, tau, max_beta=1.0)


def chen_logistic(T, start=-3.0, end=3.0, tau=1.0):
    """The sign-flipped sigmoid used as ᾱ (the logistic schedule), normalised like the seed."""
    grid = np.linspace(0, 1, T + 1)
    v = _sigmoid((end - (end - start) * grid) / tau)
    alpha_bar = v / v[0]
    return np.minimum(1 - alpha_bar[1:] / alpha_bar[:-1], 0.999)


def chen_reversed_ratio(T, start=-3.0, end=3.0, tau=1.0):
    """β_t = 1 − ᾱ_(t−1)/ᾱ_t: the ratio upside down, so every β is negative while ᾱ stays below 1."""
    betas = chen_solution(T, start, end, tau)
    return 1 - 1 / (1 - betas)


def chen_ignores_tau(T, start=-3.0, end=3.0, tau=1.0):
    return chen_solution(T, start, end, 1.0)


def chen_hard_coded(T, start=-3.0, end=3.0, tau=1.0):
    return chen_solution(T, -3.0, 3.0, tau)


def chen_float32(T, start=-3.0, end=3.0, tau=1.0):
    f = np.float32
    grid = np.linspace(0, 1, T + 1, dtype=f)
    sig = lambda x: f(1) / (f(1) + np.exp(-x))  # noqa: E731
    v_start, v_end = sig(f(start / tau)), sig(f(end / tau))
    gamma = np.clip((v_end - sig((grid * f(end - start) + f(start)) / f(tau))) / (v_end - v_start), f(1e-9), f(1))
    return np.minimum(f(1) - gamma[1:] / gamma[:-1], f(0.999))


def cosine_solution(T, s=0.008, max_beta=0.999):
    grid = np.arange(T + 1) / T
    f = np.cos((grid + s) / (1 + s) * np.pi / 2) ** 2
    alpha_bar = f / f[0]
    return np.minimum(1 - alpha_bar[1:] / alpha_bar[:-1], max_beta)


def cosine_no_offset(T, s=0.008, max_beta=0.999):
    return cosine_solution(T, 0.0, max_beta)


def cosine_no_clip(T, s=0.008, max_beta=0.999):
    return cosine_solution(T, s, 1.0)


def cosine_fixed_clip(T, s=0.008, max_beta=0.999):
    return cosine_solution(T, s, 0.999)


def cosine_no_normalisation(T, s=0.008, max_beta=0.999):
    """ᾱ_t = f(t) for t >= 1 while ᾱ_0 = 1: the f(0) normalisation is missing."""
    grid = np.arange(T + 1) / T
    f = np.cos((grid + s) / (1 + s) * np.pi / 2) ** 2
    f[0] = 1.0
    return np.minimum(1 - f[1:] / f[:-1], max_beta)


def cosine_reversed_ratio(T, s=0.008, max_beta=0.999):
    grid = np.arange(T + 1) / T
    f = np.cos((grid[:-1] + s) / (1 + s) * np.pi / 2) ** 2
    alpha_bar = f / f[0]
    return np.minimum(1 - np.concatenate([[1.0], alpha_bar[:-1]]) / alpha_bar, max_beta)


def cosine_float32(T, s=0.008, max_beta=0.999):
    f = np.float32
    grid = np.linspace(0, T, T + 1, dtype=f) / f(T)
    g = np.cos((grid + f(s)) / f(1 + s) * f(np.pi / 2)) ** 2
    alpha_bar = g / g[0]
    return np.minimum(f(1) - alpha_bar[1:] / alpha_bar[:-1], f(max_beta))


def sum_solution(t, T, beta_min, beta_max):
    b = (beta_max - beta_min) / (2 * (T - 1))
    return (beta_min - b) * t + b * t**2


def sum_seed(t, T, beta_min, beta_max):
    """The seed's exponent a·t + b·t², without the −b·t term."""
    return beta_min * t + (beta_max - beta_min) / (2 * (T - 1)) * t**2


def sum_wrong_denominator(t, T, beta_min, beta_max):
    return beta_min * t + (beta_max - beta_min) / (2 * T) * t * (t - 1)


def sum_off_by_one(t, T, beta_min, beta_max):
    return sum_solution(t - 1, T, beta_min, beta_max)


def sum_scalar(t, T, beta_min, beta_max):
    return float(sum_solution(T, T, beta_min, beta_max))


# ---------------------------------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------------------------------

def _rejects(check, answer, *fragments):
    with pytest.raises(CheckFailed) as info:
        check(answer)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, message
    return message


def test_checks_accept_the_solutions(capsys):
    check_chen_sigmoid_betas(chen_solution)
    check_cosine_betas(cosine_solution)
    check_linear_beta_sum(sum_solution)
    out = capsys.readouterr().out
    assert out.count("Correct:") == 3


def test_checks_accept_a_torch_float64_solution():
    torch = pytest.importorskip("torch")

    def cosine_torch(T, s=0.008, max_beta=0.999):
        grid = torch.linspace(0, T, T + 1, dtype=torch.float64) / T
        f = torch.cos((grid + s) / (1 + s) * torch.pi / 2) ** 2
        alpha_bar = f / f[0]
        return torch.clamp(1 - alpha_bar[1:] / alpha_bar[:-1], max=max_beta)

    check_cosine_betas(cosine_torch)


@pytest.mark.parametrize("answer, fragments", [
    (chen_seed_bug, ("negative", "widely copied sigmoid_schedule", "20.09")),
    (chen_no_clip, ("0.999 clip",)),
    (chen_reversed_ratio, ("order of the ratio",)),
    (chen_logistic, ("logistic",)),
    (chen_ignores_tau, ("τ",)),
    (chen_hard_coded, ("start and end",)),
    (chen_float32, ("float32",)),
])
def test_chen_check_rejects_wrong_answers(answer, fragments):
    _rejects(check_chen_sigmoid_betas, answer, *fragments)


@pytest.mark.parametrize("answer, fragments", [
    (cosine_no_offset, ("without the offset s",)),
    (cosine_no_clip, ("clip is missing",)),
    (cosine_fixed_clip, ("argument max_beta",)),
    (cosine_no_normalisation, ("f(0)",)),
    (cosine_reversed_ratio, ("not positive",)),
    (cosine_float32, ("float32",)),
])
def test_cosine_check_rejects_wrong_answers(answer, fragments):
    _rejects(check_cosine_betas, answer, *fragments)


@pytest.mark.parametrize("answer, fragments", [
    (sum_seed, ("b·t", "exponent often quoted")),
    (sum_wrong_denominator, ("denominator",)),
    (sum_off_by_one, ("t = 1",)),
    (sum_scalar, ("elementwise",)),
])
def test_sum_check_rejects_wrong_answers(answer, fragments):
    _rejects(check_linear_beta_sum, answer, *fragments)


@pytest.mark.parametrize("check", [check_chen_sigmoid_betas, check_cosine_betas])
def test_chain_checks_reject_malformed_answers(check):
    _rejects(check, 42, "function itself")
    _rejects(check, lambda T, **kw: None, "return")
    _rejects(check, lambda T, **kw: "betas", "array of numbers")
    _rejects(check, lambda T, **kw: np.full(T, np.nan), "NaN")
    _rejects(check, lambda T, **kw: np.full(T, np.inf), "infinite")
    _rejects(check, lambda T, **kw: np.full((T, 2), 0.01), "shape")
    _rejects(check, lambda T, **kw: np.full(T + 1, 0.01), "T + 1")
    _rejects(check, lambda T, **kw: np.full(T - 1, 0.01), "T - 1")
    _rejects(check, lambda T: np.full(T, 0.01), "raised TypeError")


def test_sum_check_rejects_malformed_answers():
    _rejects(check_linear_beta_sum, "sum", "function itself")
    _rejects(check_linear_beta_sum, lambda t, T, lo, hi: None, "return")
    _rejects(check_linear_beta_sum, lambda t, T, lo, hi: sum_solution(t, T, lo, hi) * np.nan, "NaN")
    _rejects(check_linear_beta_sum, lambda t, T, lo, hi: sum_solution(t, T, lo, hi)[:-1], "shape")
    _rejects(check_linear_beta_sum, lambda t, T, lo, hi: ["a"] * T, "array of numbers")
    _rejects(check_linear_beta_sum, lambda t, T: t, "raised TypeError")


def test_sum_check_rejects_a_sum_that_is_right_only_at_T():
    def only_total(t, T, beta_min, beta_max):
        return np.full(t.shape, sum_solution(T, T, beta_min, beta_max))

    _rejects(check_linear_beta_sum, only_total, "function of t")
