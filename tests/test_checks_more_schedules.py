"""The exercise checks of chapter "More Schedules" accept the worked solutions and reject typical wrong
answers (time reversed, diffusers' + 1e-6, a lost factor 2 or b, cos^τ, log ᾱ for λ, 2s for s, a forgotten
shift, ...) with a hint that names the mistake."""

import math

import numpy as np
import pytest

from sched_lib.checks import CheckFailed
from sched_lib.checks.more_schedules import check_chen_midpoint, check_laplace_log_snr, check_sd3_as_edm


def laplace_solution(t, mu, b):
    t = np.asarray(t, dtype=np.float64)
    return mu - b * np.sign(0.5 - t) * np.log(1 - 2 * np.abs(t - 0.5))


def chen_midpoint_solution(tau):
    return -np.log(2.0 ** tau - 1.0)


def sd3_as_edm_solution(loc, scale, shift):
    return loc + np.log(shift), scale


def test_solutions_pass(capsys):
    check_laplace_log_snr(laplace_solution)
    check_chen_midpoint(chen_midpoint_solution)
    check_sd3_as_edm(sd3_as_edm_solution)
    assert capsys.readouterr().out.count("Correct") == 3


@pytest.mark.parametrize("answer, hint", [
    (lambda t, mu, b: 2 * mu - laplace_solution(t, mu, b), "increases with t"),
    (lambda t, mu, b: mu - b * np.sign(0.5 - t) * np.log(1 - 2 * np.abs(0.5 - t) + 1e-6), "1e-6"),
    (lambda t, mu, b: mu - b * np.sign(0.5 - t) * np.log(1 - np.abs(0.5 - t)), "factor 2"),
    (lambda t, mu, b: mu - np.sign(0.5 - t) * np.log(1 - 2 * np.abs(0.5 - t)), "scale b is missing"),
    (lambda t, mu, b: np.zeros_like(t), "wrong at"),
    (lambda t, mu, b: None, "None"),
])
def test_laplace_rejects(answer, hint):
    with pytest.raises(CheckFailed, match=hint):
        check_laplace_log_snr(answer)


@pytest.mark.parametrize("answer, hint", [
    (lambda tau: -np.log(2 ** (tau / 2) - 1), "cos\\^τ"),
    (lambda tau: -tau * np.log(2), "log ᾱ"),
    (lambda tau: np.log(2 ** tau - 1), "sign is flipped"),
    (lambda tau: 1.0, "wrong for tau"),
])
def test_chen_midpoint_rejects(answer, hint):
    with pytest.raises(CheckFailed, match=hint):
        check_chen_midpoint(answer)


@pytest.mark.parametrize("answer, hint", [
    (lambda m, s, k: (m + math.log(k), 2 * s), "2·scale"),
    (lambda m, s, k: (m, s), "ignores the time shift"),
    (lambda m, s, k: (-(m + math.log(k)), s), "wrong sign"),
    (lambda m, s, k: (-2 * (m + math.log(k)), s), "mean of λ"),
    (lambda m, s, k: 1.0, "pair"),
])
def test_sd3_as_edm_rejects(answer, hint):
    with pytest.raises(CheckFailed, match=hint):
        check_sd3_as_edm(answer)
