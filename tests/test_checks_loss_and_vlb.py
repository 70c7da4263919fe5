"""The exercise checks of chapter "The Loss and the VLB Weight" accept the worked solutions and
reject typical wrong answers with a hint that names the mistake."""

import numpy as np
import pytest

from sched_lib.checks import CheckFailed
from sched_lib.checks.loss_and_vlb import check_convert_weight, check_vlb_ratio, check_vlb_weight

# --- worked solutions (the same as in the chapter) ----------------------------------------------


def vlb_weight_solution(betas, variance):
    alphas = 1.0 - betas
    alpha_bar = np.cumprod(alphas)
    alpha_bar_prev = np.concatenate([[1.0], alpha_bar[:-1]])
    posterior = betas * (1.0 - alpha_bar_prev) / (1.0 - alpha_bar)
    sigma2 = posterior if variance == "posterior" else betas
    with np.errstate(divide="ignore"):
        return betas ** 2 / (2.0 * sigma2 * alphas * (1.0 - alpha_bar))


def convert_solution(weight, snr, from_frame, to_frame):
    factor = {"eps": snr, "x0": np.ones_like(snr), "v": 1.0 + snr}
    return weight * factor[from_frame] / factor[to_frame]


def ratio_solution(betas):
    alpha_bar = np.cumprod(1.0 - betas)
    snr = alpha_bar / (1.0 - alpha_bar)
    w = 0.5 * (snr[:-1] / snr[1:] - 1.0)  # t = 2..T
    return float(w[0] / w[-1])


def test_solutions_pass(capsys):
    check_vlb_weight(vlb_weight_solution)
    check_convert_weight(convert_solution)
    check_vlb_ratio(ratio_solution)
    assert capsys.readouterr().out.count("Correct") == 3


# --- check_vlb_weight ----------------------------------------------------------------------------


def _variant(kind):
    def fn(betas, variance):
        alphas = 1.0 - betas
        alpha_bar = np.cumprod(alphas)
        alpha_bar_prev = np.concatenate([[1.0], alpha_bar[:-1]])
        posterior = betas * (1.0 - alpha_bar_prev) / (1.0 - alpha_bar)
        sigma2 = posterior if variance == "posterior" else betas
        if kind == "swapped":
            sigma2 = betas if variance == "posterior" else posterior
        with np.errstate(divide="ignore"):
            if kind == "no_two":
                return betas ** 2 / (sigma2 * alphas * (1.0 - alpha_bar))
            if kind == "alpha_bar":
                return betas ** 2 / (2.0 * sigma2 * alpha_bar * (1.0 - alpha_bar))
            if kind == "unsquared":
                return betas / (2.0 * sigma2 * alphas * (1.0 - alpha_bar))
            return betas ** 2 / (2.0 * sigma2 * alphas * (1.0 - alpha_bar))
    return fn


@pytest.mark.parametrize("kind, message", [
    ("no_two", "constant factor 2"),
    ("alpha_bar", "ᾱ_t where the per-step α_t"),
    ("unsquared", "forget to square"),
    ("swapped", "other choice"),
])
def test_vlb_weight_rejects_typical_mistakes(kind, message):
    with pytest.raises(CheckFailed, match=message):
        check_vlb_weight(_variant(kind))


def test_vlb_weight_wants_inf_at_t1():
    def finite_first(betas, variance):
        w = vlb_weight_solution(betas, variance)
        w[0] = 0.0 if np.isinf(w[0]) else w[0]
        return w
    with pytest.raises(CheckFailed, match="should be \\+inf"):
        check_vlb_weight(finite_first)


def test_vlb_weight_rejects_malformed():
    with pytest.raises(CheckFailed, match="shape"):
        check_vlb_weight(lambda betas, variance: vlb_weight_solution(betas, variance)[1:])
    with pytest.raises(CheckFailed, match="NaN"):
        check_vlb_weight(lambda betas, variance: np.full(betas.shape, np.nan))
    with pytest.raises(CheckFailed, match="array of numbers"):
        check_vlb_weight(lambda betas, variance: "weights")
    with pytest.raises(CheckFailed, match="raised ZeroDivisionError"):
        check_vlb_weight(lambda betas, variance: 1 / 0)
    with pytest.raises(CheckFailed, match="function itself"):
        check_vlb_weight(vlb_weight_solution(np.full(3, 0.1), "beta"))


# --- check_convert_weight ------------------------------------------------------------------------


def test_convert_rejects_typical_mistakes():
    with pytest.raises(CheckFailed, match="unchanged"):
        check_convert_weight(lambda w, snr, a, b: w)
    with pytest.raises(CheckFailed, match="upside down"):
        check_convert_weight(lambda w, snr, a, b: convert_solution(w, snr, b, a))

    def v_as_snr(w, snr, a, b):
        factor = {"eps": snr, "x0": np.ones_like(snr), "v": snr}
        return w * factor[a] / factor[b]
    with pytest.raises(CheckFailed, match="v-frame factor is not SNR"):
        check_convert_weight(v_as_snr)


def test_convert_rejects_malformed():
    with pytest.raises(CheckFailed, match="shape"):
        check_convert_weight(lambda w, snr, a, b: float(np.mean(w)))
    with pytest.raises(CheckFailed, match="NaN"):
        check_convert_weight(lambda w, snr, a, b: w * np.nan)


# --- check_vlb_ratio -----------------------------------------------------------------------------


def _weights(betas):
    return vlb_weight_solution(betas, "posterior")


def test_ratio_rejects_typical_mistakes():
    with pytest.raises(CheckFailed, match="upside down"):
        check_vlb_ratio(lambda b: float(_weights(b)[-1] / _weights(b)[1]))
    with pytest.raises(CheckFailed, match="off by one"):
        check_vlb_ratio(lambda b: float(_weights(b)[2] / _weights(b)[-1]))
    with pytest.raises(CheckFailed, match="infinite"):
        check_vlb_ratio(lambda b: float(_weights(b)[0] / _weights(b)[-1]))
    with pytest.raises(CheckFailed, match="σ_t² = β_t"):
        check_vlb_ratio(lambda b: float(vlb_weight_solution(b, "beta")[1] / vlb_weight_solution(b, "beta")[-1]))


def test_ratio_rejects_malformed():
    with pytest.raises(CheckFailed, match="one number"):
        check_vlb_ratio(lambda b: _weights(b)[1:] / _weights(b)[-1])
    with pytest.raises(CheckFailed, match="NaN"):
        check_vlb_ratio(lambda b: float("nan"))
    with pytest.raises(CheckFailed, match="array of numbers"):
        check_vlb_ratio(lambda b: {"ratio": 59})
