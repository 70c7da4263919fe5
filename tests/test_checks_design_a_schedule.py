"""The exercise checks of the lab "Design a schedule" accept the worked solutions and reject typical wrong answers
with a hint that names the mistake (``sched_lib/checks/design_a_schedule.py``)."""

import numpy as np
import pytest

from sched_lib.checks import CheckFailed
from sched_lib.checks.design_a_schedule import check_alpha_bar_piecewise, check_design, score_design
from sched_lib.gaussian import GaussianData, kl_to_data, w2_to_data
from sched_lib.schedules import alpha_bar_from_log_snr, get_schedule

# --------------------------------------------------------------------------------------------------
# Exercise 1: knots -> alpha_bar_t
# --------------------------------------------------------------------------------------------------


def alpha_bar_solution(knots, T):
    knots = np.asarray(knots, dtype=np.float64)
    lam = np.interp(np.arange(1, T + 1) / T, np.linspace(0, 1, knots.size), knots)
    return 1 / (1 + np.exp(-lam))


def test_alpha_bar_accepts_solution(capsys):
    check_alpha_bar_piecewise(alpha_bar_solution)
    assert "Correct" in capsys.readouterr().out


def _early(knots, T):
    k = np.asarray(knots, dtype=np.float64)
    return alpha_bar_from_log_snr(np.interp(np.arange(T) / T, np.linspace(0, 1, k.size), k))


def _interp_alpha_bar(knots, T):
    k = np.asarray(knots, dtype=np.float64)
    return np.interp(np.arange(1, T + 1) / T, np.linspace(0, 1, k.size), alpha_bar_from_log_snr(k))


def _exp(knots, T):
    k = np.asarray(knots, dtype=np.float64)
    return np.exp(np.interp(np.arange(1, T + 1) / T, np.linspace(0, 1, k.size), k))


def _backwards(knots, T):
    k = np.asarray(knots, dtype=np.float64)
    return alpha_bar_from_log_snr(np.interp(np.arange(1, T + 1) / T, np.linspace(0, 1, k.size)[::-1], k))


@pytest.mark.parametrize("wrong, hint", [
    (_early, "one step early"),
    (_interp_alpha_bar, "interpolated alpha_bar"),
    (_exp, "sigmoid of the log-SNR"),
    (_backwards, "run backwards"),
    (lambda knots, T: alpha_bar_solution(knots, T)[:-1], "return T values"),
    (lambda knots, T: alpha_bar_solution(knots, T) * 0.99, "differ from the designed curve"),
    (lambda knots, T: None, "returned None"),
])
def test_alpha_bar_rejects_wrong_answers(wrong, hint):
    with pytest.raises(CheckFailed, match=hint):
        check_alpha_bar_piecewise(wrong)


# --------------------------------------------------------------------------------------------------
# Exercise 2: the design challenge, on a synthetic CIFAR-like spectrum
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def data():
    # a power-law spectrum like natural images' (variances 30 down to 1e-5), with a mean in the top direction
    i = np.arange(1, 301)
    eig = 30.0 * i ** -2.2
    mean = np.zeros(300)
    mean[0] = -3.0
    return GaussianData(mean, eig)


def test_score_design_is_the_exact_analysis(data):
    s = get_schedule("cosine", 1000)
    out = score_design(data, s, 10, "trailing")
    assert out == {"w2": w2_to_data(data, s, "ddim", 10, "trailing"), "kl": kl_to_data(data, s, "ddim", 10, "trailing")}


def test_design_accepts_a_winning_design(data, capsys):
    lam_star = -np.log(data.eigvals)
    knots = [float(lam_star.max()), float(lam_star.min()) - 4]  # from the highest to 4 below the lowest decision level
    out = check_design(knots, data)
    assert "Better than cosine on both" in capsys.readouterr().out
    assert out["design"]["w2"] < out["cosine"]["w2"] and out["design"]["kl"] < out["cosine"]["kl"]
    check_design(np.array([10.0, -10.0]), data)  # logistic, as a numpy array


@pytest.mark.parametrize("knots, hint", [
    ([20.0, 17.0, 14.0, -12.0], "Not better than cosine on W2"),
    ([5.0], "at least 2 knots"),
    ([-3.0, 4.0], "decrease strictly"),
    ([5.0, 5.0, -5.0], "decrease strictly"),
    ([10.0, float("nan")], "finite"),
    ([float("inf"), -5.0], "finite"),
    ([-1.0, -12.0], "first knot"),
    ([12.0, 1.0], "last knot"),
    ("10,-10", "flat list"),
    ([[10.0, -10.0]], "flat list"),
    ([10.0, "a"], "number"),
])
def test_design_rejects_bad_designs(data, knots, hint):
    with pytest.raises(CheckFailed, match=hint):
        check_design(knots, data)


def test_design_needs_the_gaussian_data():
    with pytest.raises(CheckFailed, match="GaussianData"):
        check_design([10.0, -10.0], np.ones(5))
