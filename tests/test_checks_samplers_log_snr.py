"""The exercise checks of chapter "Samplers on the Log-SNR Axis" accept the worked solutions and reject typical
wrong answers with a hint that names the mistake (``sched_lib/checks/samplers_log_snr.py``)."""

import numpy as np
import pytest

from sched_lib.checks import CheckFailed
from sched_lib.checks.samplers_log_snr import check_ddim_in_lambda, check_dpmpp_2m_combination


def _ell(ab):
    with np.errstate(divide="ignore"):
        return 0.5 * (np.log(ab) - np.log1p(-ab))


def ddim_in_lambda_solution(x, x0_hat, alpha_bar_s, alpha_bar_t):
    h = _ell(alpha_bar_t) - _ell(alpha_bar_s)
    return np.sqrt((1 - alpha_bar_t) / (1 - alpha_bar_s)) * x - np.sqrt(alpha_bar_t) * np.expm1(-h) * x0_hat


def combination_solution(x0_cur, x0_prev, lam_prev, lam_cur, lam_next):
    r = (lam_cur - lam_prev) / (lam_next - lam_cur)
    return (1 + 1 / (2 * r)) * x0_cur - 1 / (2 * r) * x0_prev


def test_ddim_in_lambda_accepts_solution(capsys):
    check_ddim_in_lambda(ddim_in_lambda_solution)
    # DDIM written with eps-hat is the same step: also correct
    check_ddim_in_lambda(lambda x, x0, s, t: np.sqrt(t) * x0 + np.sqrt(1 - t) * (x - np.sqrt(s) * x0) / np.sqrt(1 - s))
    assert "Correct" in capsys.readouterr().out


def _full_lambda(x, x0, s, t):
    with np.errstate(divide="ignore"):
        h = 2 * (_ell(t) - _ell(s))
    return np.sqrt((1 - t) / (1 - s)) * x - np.sqrt(t) * np.expm1(-h) * x0


def _alpha_of_start(x, x0, s, t):
    h = _ell(t) - _ell(s)
    return np.sqrt((1 - t) / (1 - s)) * x - np.sqrt(s) * np.expm1(-h) * x0


def _sign(x, x0, s, t):
    with np.errstate(over="ignore", invalid="ignore"):
        h = _ell(t) - _ell(s)
        return np.sqrt((1 - t) / (1 - s)) * x - np.sqrt(t) * np.expm1(h) * x0


@pytest.mark.parametrize("wrong, message", [
    (_full_lambda, "full log-SNR"),
    (_alpha_of_start, "end of the step"),
    (lambda x, x0, s, t: x0, "differs from the exact"),
    (lambda x, x0, s, t: np.sqrt((1 - t) / (1 - s)) * x + (np.sqrt(t) - np.sqrt(s)) * x0, "differs"),
])
def test_ddim_in_lambda_rejects_typical_mistakes(wrong, message):
    with pytest.raises(CheckFailed, match=message):
        check_ddim_in_lambda(wrong)


def test_ddim_in_lambda_sign_error_is_named():
    with pytest.raises(CheckFailed, match="sign of h|inf"):
        check_ddim_in_lambda(_sign)


@pytest.mark.parametrize("bad, message", [
    ("step", "pass your function itself"),
    (lambda x, x0, s, t: None, "returned None"),
    (lambda x, x0, s, t: x[:3], "shape"),
    (lambda x, x0, s, t: np.full_like(x, np.nan), "NaN"),
])
def test_ddim_in_lambda_rejects_malformed_answers(bad, message):
    with pytest.raises(CheckFailed, match=message):
        check_ddim_in_lambda(bad)


def test_combination_accepts_solution(capsys):
    check_dpmpp_2m_combination(combination_solution)
    # in half log-SNR units the ratio r is the same
    check_dpmpp_2m_combination(lambda c, p, a, b, d: combination_solution(c, p, a / 2, b / 2, d / 2))
    assert "Correct" in capsys.readouterr().out


@pytest.mark.parametrize("wrong, message", [
    (lambda c, p, a, b, d: (1 + (d - b) / (b - a)) * c - (d - b) / (b - a) * p, "1/r"),
    (lambda c, p, a, b, d: (1 + (b - a) / (d - b) / 2) * c - (b - a) / (d - b) / 2 * p, "previous step over"),
    (lambda c, p, a, b, d: combination_solution(p, c, a, b, d), "swapped"),
    (lambda c, p, a, b, d: c, "that is DDIM"),
    (lambda c, p, a, b, d: 0.5 * (c + p), "differs"),
])
def test_combination_rejects_typical_mistakes(wrong, message):
    with pytest.raises(CheckFailed, match=message):
        check_dpmpp_2m_combination(wrong)
