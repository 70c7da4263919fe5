"""The exercise checks of the lab "Exact Diffusion on Gaussian Data" accept the worked solutions and reject
typical wrong answers with a hint that names the mistake (``sched_lib/checks/gaussian_exact.py``)."""

import math

import numpy as np
import pytest

from sched_lib.checks import CheckFailed
from sched_lib.checks.gaussian_exact import (_ONE_STEP_CASES, check_best_schedule, check_beta1_for_floor,
                                             check_one_step_kl)
from sched_lib.gaussian import GaussianData, kl_to_data, sampler_output_distribution, w2_diagonal
from sched_lib.schedules import Schedule

# --------------------------------------------------------------------------------------------------
# Exercise 1: one DDIM step, 1-D data
# --------------------------------------------------------------------------------------------------


def kl_one_step_solution(s2, m, alpha_bar):
    g = math.sqrt(alpha_bar) * s2 / (alpha_bar * s2 + 1 - alpha_bar)
    mean, var = m * (1 - g * math.sqrt(alpha_bar)), g**2
    return 0.5 * (math.log(s2 / var) + (var + (mean - m) ** 2) / s2 - 1)


@pytest.mark.parametrize("s2, m, ab", _ONE_STEP_CASES)
def test_one_step_reference_is_the_library(s2, m, ab):
    """The check's closed form is what sched_lib.gaussian computes for a one-step DDIM chain."""
    data = GaussianData(np.array([m]), np.array([s2]))
    sched = Schedule.from_betas(np.array([1.0 - ab]))
    assert math.isclose(kl_to_data(data, sched, "ddim", 1), kl_one_step_solution(s2, m, ab), rel_tol=1e-10)


def test_one_step_accepts_solution(capsys):
    check_one_step_kl(kl_one_step_solution)
    assert "Correct" in capsys.readouterr().out


def _kl(m1, v1, m2, v2):
    return 0.5 * (math.log(v2 / v1) + (v1 + (m1 - m2) ** 2) / v2 - 1)


def _law(s2, m, ab):
    g = math.sqrt(ab) * s2 / (ab * s2 + 1 - ab)
    return g, m * (1 - g * math.sqrt(ab)), g * g


@pytest.mark.parametrize("wrong, message", [
    (lambda s2, m, ab: _kl(m, s2, *_law(s2, m, ab)[1:]), "wrong way"),
    (lambda s2, m, ab: _kl(m, _law(s2, m, ab)[0] ** 2 * (ab * s2 + 1 - ab), m, s2), "true marginal"),
    (lambda s2, m, ab: _kl(m, _law(s2, m, ab)[2], m, s2), "no mean term"),
    (lambda s2, m, ab: 2 * kl_one_step_solution(s2, m, ab), "twice"),
    (lambda s2, m, ab: kl_one_step_solution(s2, m, ab) / math.log(2), "nats"),
    (lambda s2, m, ab: _kl(_law(s2, m, ab)[1], s2 * (1 - ab) / (ab * s2 + 1 - ab), m, s2), "posterior"),
    (lambda s2, m, ab: 0.1, "find the output law"),
    (lambda s2, m, ab: -1.0, "never negative"),
    (lambda s2, m, ab: np.array([0.1, 0.2]), "one number"),
    (lambda s2, m, ab: None, "returned None"),
])
def test_one_step_rejects_typical_mistakes(wrong, message):
    with pytest.raises(CheckFailed, match=message):
        check_one_step_kl(wrong)


# --------------------------------------------------------------------------------------------------
# Exercise 2: the first noise level for a given floor
# --------------------------------------------------------------------------------------------------


def _floor(eigvals, beta):
    ab = 1 - beta
    r = ab * eigvals / (ab * eigvals + beta)
    return float(np.sum(0.5 * (r - 1 - np.log(r))))


def _bisect(f, target):
    lo, hi = -40.0, math.log(1 - 1e-12)
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if f(math.exp(mid)) < target else (lo, mid)
    return math.exp(0.5 * (lo + hi))


def beta1_for_floor_solution(eigvals, target):
    return _bisect(lambda b: _floor(np.asarray(eigvals), b), target)


def test_beta1_for_floor_accepts_solution(capsys):
    check_beta1_for_floor(beta1_for_floor_solution)
    assert "Correct" in capsys.readouterr().out


def test_floor_is_the_exact_one_step_kl_from_the_marginal():
    """Started from the exact marginal at alpha_bar, a one-step DDIM output has exactly the floor's law."""
    eig, ab = np.geomspace(1e-5, 4.0, 30), 0.99
    g = np.sqrt(ab) * eig / (ab * eig + 1 - ab)
    var = g**2 * (ab * eig + 1 - ab)
    kl = np.sum(0.5 * (np.log(eig / var) + var / eig - 1))
    assert math.isclose(kl, _floor(eig, 1 - ab), rel_tol=1e-10)


def _reversed(e, b):
    r = (1 - b) * e / ((1 - b) * e + b)
    return float(np.sum(0.5 * (1 / r - 1 + np.log(r))))


@pytest.mark.parametrize("wrong, message", [
    (lambda e, tg: 1 - beta1_for_floor_solution(e, tg), "alpha_bar_1"),
    (lambda e, tg: (lambda b: b / (1 - b))(beta1_for_floor_solution(e, tg)), "x0 units"),
    (lambda e, tg: _bisect(lambda b: _reversed(np.asarray(e), b), tg), "wrong direction"),
    (lambda e, tg: _bisect(lambda b: float(np.sum(0.5 * (e / (e + b) - 1 - np.log(e / (e + b))))), tg), "x0 units"),
    (lambda e, tg: _bisect(lambda b: _floor(np.asarray(e), b) / len(e), tg), "sum"),
    (lambda e, tg: tg, "the floor itself"),
    (lambda e, tg: 2 * beta1_for_floor_solution(e, tg), "too large"),
    (lambda e, tg: 0.5 * beta1_for_floor_solution(e, tg), "too small"),
    (lambda e, tg: 1.5, "must lie in"),
    (lambda e, tg: None, "returned None"),
])
def test_beta1_for_floor_rejects_typical_mistakes(wrong, message):
    with pytest.raises(CheckFailed, match=message):
        check_beta1_for_floor(wrong)


# --------------------------------------------------------------------------------------------------
# Exercise 3: the schedule with the lowest W2
# --------------------------------------------------------------------------------------------------


def _w2(data, sched, steps, spacing, sampler="ddim"):
    mean, var = sampler_output_distribution(data, sched, sampler, steps, spacing)
    return float(np.sqrt(w2_diagonal(mean, var, data.mean_eig, data.eigvals).sum()))


def best_schedule_solution(data, schedules, steps, spacing):
    return min(schedules, key=lambda label: _w2(data, schedules[label], steps, spacing))


def test_best_schedule_accepts_solution(capsys):
    check_best_schedule(best_schedule_solution)
    out = capsys.readouterr().out
    assert "Correct" in out and "'linear'" in out


def _kl_total(data, sched, steps, spacing):
    mean, var = sampler_output_distribution(data, sched, "ddim", steps, spacing)
    return float(np.sum(0.5 * (np.log(data.eigvals / var) + (var + (mean - data.mean_eig) ** 2) / data.eigvals - 1)))


@pytest.mark.parametrize("wrong, message", [
    (lambda d, s, n, sp: min(s, key=lambda k: _kl_total(d, s[k], n, sp)), "lowest KL"),
    (lambda d, s, n, sp: max(s, key=lambda k: _w2(d, s[k], n, sp)), "highest"),
    (lambda d, s, n, sp: min(s, key=lambda k: _w2(d, s[k], n, "trailing")), "spacing argument"),
    (lambda d, s, n, sp: s[best_schedule_solution(d, s, n, sp)], "not the Schedule object"),
    (lambda d, s, n, sp: _w2(d, s[best_schedule_solution(d, s, n, sp)], n, sp), "not a number"),
    (lambda d, s, n, sp: "cosine_zt", "return one of the labels"),
    (lambda d, s, n, sp: "cosine", "not the schedule with the lowest W2"),
])
def test_best_schedule_rejects_typical_mistakes(wrong, message):
    with pytest.raises(CheckFailed, match=message):
        check_best_schedule(wrong)


def test_best_schedule_detects_ddpm():
    with pytest.raises(CheckFailed, match="DDPM"):
        check_best_schedule(lambda d, s, n, sp: min(s, key=lambda k: _w2(d, s[k], n, sp, "ddpm")))
