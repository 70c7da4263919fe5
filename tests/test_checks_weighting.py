"""The exercise checks of chapter "Weighting the Loss" accept the worked solutions and reject typical
wrong answers (the seed's 0/0, "capped at γ", the v-frame min(SNR + 1, γ) bug, max for min, a missing
density, ...) with a hint that names the mistake."""

import numpy as np
import pytest

from sched_lib.checks import CheckFailed
from sched_lib.checks.weighting import check_effective_weight, check_min_snr, check_p2_profile

# --- worked solutions (the same as in the chapter) ----------------------------------------------


def min_snr_solution(snr, gamma, frame):
    snr = np.asarray(snr, dtype=np.float64)
    clamped = np.minimum(snr, gamma)
    with np.errstate(divide="ignore"):
        if frame == "eps":
            return np.minimum(gamma / snr, 1.0)  # = min(SNR, γ)/SNR, but 1 (not 0/0) at SNR = 0
    if frame == "x0":
        return clamped
    if frame == "v":
        return clamped / (snr + 1.0)  # γ/inf = 0 at SNR = inf
    raise ValueError(f"unknown frame {frame!r}")


def p2_profile_solution(k, gamma):
    return k ** -gamma, k * (2.0 ** (1.0 / gamma) - 1.0)


def effective_weight_solution(lam):
    with np.errstate(over="ignore"):
        weight = np.minimum(5.0 * np.exp(-lam), 1.0)
    density = 1.0 / (2.0 * np.pi * np.cosh(lam / 2.0))
    return weight * density


def test_solutions_pass(capsys):
    check_min_snr(min_snr_solution)
    check_p2_profile(p2_profile_solution)
    check_effective_weight(effective_weight_solution)
    assert capsys.readouterr().out.count("Correct") == 3


# --- check_min_snr -------------------------------------------------------------------------------


def _with_eps(eps_fn):
    """A Min-SNR answer whose ε form is replaced (x₀ and v stay right)."""
    def fn(snr, gamma, frame):
        if frame == "eps":
            return eps_fn(np.asarray(snr, dtype=np.float64), gamma)
        return min_snr_solution(snr, gamma, frame)
    return fn


def _with_v(v_fn):
    def fn(snr, gamma, frame):
        if frame == "v":
            return v_fn(np.asarray(snr, dtype=np.float64), gamma)
        return min_snr_solution(snr, gamma, frame)
    return fn


@pytest.mark.parametrize("answer, message", [
    # the seed's code: right except 0/0 = NaN at SNR = 0
    (_with_eps(lambda snr, g: np.minimum(snr, g) / snr), "NaN at SNR = 0"),
    # "capped at γ": the x₀ weight returned in the ε frame
    (_with_eps(lambda snr, g: np.minimum(snr, g)), "x₀-frame weight"),
    # max instead of min (the bug copied into several repositories)
    (_with_eps(lambda snr, g: np.maximum(snr, g) / snr), "exceeds 1"),
    # diffusers' former v-prediction weight
    (_with_v(lambda snr, g: np.minimum(snr + 1, g) / (snr + 1)), "diffusers once shipped"),
    # the ε form used in the v frame
    (_with_v(lambda snr, g: np.minimum(g / snr, 1.0)), "divided by SNR"),
    # zero instead of the limit at SNR = 0
    (_with_eps(lambda snr, g: np.where(snr > 0, np.minimum(g / np.where(snr > 0, snr, 1), 1.0), 0.0)),
     "at SNR = 0 is 0"),
])
def test_min_snr_rejects_typical_mistakes(answer, message):
    with pytest.raises(CheckFailed, match=message):
        check_min_snr(answer)


def test_min_snr_rejects_max_in_x0():
    def fn(snr, gamma, frame):
        if frame == "x0":
            return np.maximum(snr, gamma)
        return min_snr_solution(snr, gamma, frame)
    with pytest.raises(CheckFailed, match="max"):
        check_min_snr(fn)


def test_min_snr_rejects_malformed():
    with pytest.raises(CheckFailed, match="shape"):
        check_min_snr(lambda snr, gamma, frame: 1.0)
    with pytest.raises(CheckFailed, match="array of numbers"):
        check_min_snr(lambda snr, gamma, frame: {"w": snr})
    with pytest.raises(CheckFailed, match="NaN"):
        check_min_snr(lambda snr, gamma, frame: np.full(np.shape(snr), np.nan))
    with pytest.raises(CheckFailed, match="raised KeyError"):
        check_min_snr(lambda snr, gamma, frame: {}[frame])


# --- check_p2_profile ----------------------------------------------------------------------------


@pytest.mark.parametrize("answer, message", [
    (lambda k, g: (1.0, k * (2 ** (1 / g) - 1)), "depends on k"),
    (lambda k, g: (k ** -g, float(k)), "exponent γ is missing"),
    (lambda k, g: (k ** -g, 2 ** (1 / g) - 1), "does not scale with k"),
    (lambda k, g: (k ** -g, k * (2 ** g - 1)), "inverted"),
    (lambda k, g: (k ** -g, np.log(k * (2 ** (1 / g) - 1))), "log-SNR"),
])
def test_p2_rejects_typical_mistakes(answer, message):
    with pytest.raises(CheckFailed, match=message):
        check_p2_profile(answer)


def test_p2_rejects_malformed():
    with pytest.raises(CheckFailed, match="pair"):
        check_p2_profile(lambda k, g: k ** -g)
    with pytest.raises(CheckFailed, match="one number"):
        check_p2_profile(lambda k, g: (np.ones(2), 1.0))
    with pytest.raises(CheckFailed, match="NaN"):
        check_p2_profile(lambda k, g: (float("nan"), 1.0))


# --- check_effective_weight ----------------------------------------------------------------------


def _density(lam):
    return 1.0 / (2.0 * np.pi * np.cosh(lam / 2.0))


@pytest.mark.parametrize("answer, message", [
    (lambda lam: 2 * np.pi * effective_weight_solution(lam), "scale is off"),
    (lambda lam: np.minimum(np.exp(lam), 5.0) * _density(lam), "x₀-frame weight"),
    (lambda lam: np.minimum(5.0 * np.exp(-lam), 1.0), "weight alone"),
    (_density, "density alone"),
    (lambda lam: np.maximum(5.0 * np.exp(-lam), 1.0) * _density(lam), "worst at"),
])
def test_effective_weight_rejects_typical_mistakes(answer, message):
    with pytest.raises(CheckFailed, match=message):
        check_effective_weight(answer)


def test_effective_weight_rejects_malformed():
    with pytest.raises(CheckFailed, match="shape"):
        check_effective_weight(lambda lam: effective_weight_solution(lam)[:-1])
    with pytest.raises(CheckFailed, match="NaN"):
        check_effective_weight(lambda lam: lam * np.nan)
    with pytest.raises(CheckFailed, match="negative"):
        check_effective_weight(lambda lam: -effective_weight_solution(lam) + 1e-3)
