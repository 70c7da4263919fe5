"""The exercise checks of chapter "Every Weighting Is an ELBO" accept the worked solutions and reject typical
wrong answers (a missing minus sign, the weight for its derivative, the bias's sign, a density that is not
normalised, s for s², EDM's weight left out, ...) with a hint that names the mistake."""

import numpy as np
import pytest

from sched_lib.checks import CheckFailed
from sched_lib.checks.weighting_as_elbo import (check_augmentation_density, check_edm2_log_variance,
                                                check_vdm_density)


def _sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(x, dtype=np.float64)))


# --- worked solutions (the same as in the chapter) ----------------------------------------------

def augmentation_density_solution(lam, bias):
    return _sigmoid(bias - lam) * _sigmoid(lam - bias)


def edm2_log_variance_solution(sigma, s, sigma_data):
    weight = (sigma ** 2 + sigma_data ** 2) / (sigma * sigma_data) ** 2
    mse = s ** 2 * sigma ** 2 / (s ** 2 + sigma ** 2)
    return np.log(weight * mse)


def vdm_density_solution(lam, s, lam_min, lam_max):
    c = 2 * np.log(s)
    area = np.logaddexp(0, lam_max + c) - np.logaddexp(0, lam_min + c)
    return _sigmoid(lam + c) / area


def test_solutions_pass(capsys):
    check_augmentation_density(augmentation_density_solution)
    check_edm2_log_variance(edm2_log_variance_solution)
    check_vdm_density(vdm_density_solution)
    assert capsys.readouterr().out.count("Correct") == 3


def test_naive_sigmoid_products_pass_too():
    """w(1 − w) with a plain exp is fine on the grid the check uses (no overflow to NaN)."""
    def naive(lam, bias):
        w = 1 / (1 + np.exp(lam - bias))
        return w * (1 - w)
    check_augmentation_density(naive)


@pytest.mark.parametrize("answer, hint", [
    (lambda lam, b: -augmentation_density_solution(lam, b), "negative"),
    (lambda lam, b: _sigmoid(b - lam), "weight w"),
    (lambda lam, b: augmentation_density_solution(lam, -b), "sign of the bias"),
    (lambda lam, b: 2 * augmentation_density_solution(lam, b), "wrong scale"),
    (lambda lam, b: np.exp(-(lam - b) ** 2), "wrong at"),
    (lambda lam, b: None, "None"),
    (lambda lam, b: np.ones(3), "shape"),
])
def test_augmentation_density_rejects(answer, hint):
    with pytest.raises(CheckFailed, match=hint):
        check_augmentation_density(answer)


@pytest.mark.parametrize("answer, hint", [
    (lambda sig, s, sd: np.log(s ** 2 * sig ** 2 / (s ** 2 + sig ** 2)), "weight"),
    (lambda sig, s, sd: -edm2_log_variance_solution(sig, s, sd), "wrong sign"),
    (lambda sig, s, sd: np.exp(edm2_log_variance_solution(sig, s, sd)), "not its log"),
    (lambda sig, s, sd: edm2_log_variance_solution(sig, np.sqrt(s), sd), "s and s²"),
    (lambda sig, s, sd: np.zeros_like(sig), "wrong at"),
])
def test_edm2_log_variance_rejects(answer, hint):
    with pytest.raises(CheckFailed, match=hint):
        check_edm2_log_variance(answer)


@pytest.mark.parametrize("answer, hint", [
    (lambda lam, s, lo, hi: _sigmoid(lam + 2 * np.log(s)), "integrates to"),
    (lambda lam, s, lo, hi: vdm_density_solution(lam, np.sqrt(s), lo, hi), "variance s²"),
    (lambda lam, s, lo, hi: vdm_density_solution(-lam, s, -hi, -lo), "falls with"),
    (lambda lam, s, lo, hi: vdm_density_solution(lam, 1 / s, lo, hi), "sign of the shift"),
    (lambda lam, s, lo, hi: np.full_like(lam, 1 / (hi - lo)), "uniform"),
    (lambda lam, s, lo, hi: -vdm_density_solution(lam, s, lo, hi), "negative"),
])
def test_vdm_density_rejects(answer, hint):
    with pytest.raises(CheckFailed, match=hint):
        check_vdm_density(answer)
