"""The exercise checks of chapter "The Forward Process and What a Schedule Controls".

Each check must accept the worked solution and reject typical wrong answers with a message that says
what is wrong, plus malformed input (wrong type, shape, NaN).
"""

import numpy as np
import pytest

from sched_lib.checks import CheckFailed
from sched_lib.checks.forward_process import (
    check_alpha_bar_conversions,
    check_q_sample,
    check_signal_threshold,
)


# --- exercise 1: q_sample --------------------------------------------------------------------------

def _coefficients(t, x0, betas, alpha_bar_fn=lambda b: np.cumprod(1.0 - b)):
    """ᾱ at the 1-indexed step(s) t, shaped to broadcast along the first axis of x0."""
    ab = alpha_bar_fn(np.asarray(betas, dtype=np.float64))[np.asarray(t) - 1]
    return np.reshape(ab, np.shape(ab) + (1,) * (np.ndim(x0) - np.ndim(ab)))


def q_sample_solution(x0, t, eps, betas):
    ab = _coefficients(t, x0, betas)
    return np.sqrt(ab) * x0 + np.sqrt(1.0 - ab) * eps


def test_q_sample_accepts_solution(capsys):
    check_q_sample(q_sample_solution)
    assert capsys.readouterr().out.startswith("Correct:")


def test_q_sample_accepts_torch_tensors():
    torch = pytest.importorskip("torch")

    def q_sample_torch(x0, t, eps, betas):
        x0, eps = torch.as_tensor(x0), torch.as_tensor(eps)
        ab = torch.cumprod(1 - torch.as_tensor(betas), 0)[torch.as_tensor(t) - 1]
        ab = ab.reshape(ab.shape + (1,) * (x0.ndim - ab.ndim))
        return ab.sqrt() * x0 + (1 - ab).sqrt() * eps

    check_q_sample(q_sample_torch)


def _wrong(signal, noise):
    """A q_sample whose coefficients are signal(ᾱ, β, t) and noise(ᾱ, β, t)."""
    def q_sample(x0, t, eps, betas):
        betas = np.asarray(betas)
        ab = _coefficients(t, x0, betas)
        return signal(ab, betas, t) * x0 + noise(ab, betas, t) * eps
    return q_sample


@pytest.mark.parametrize("fn, message", [
    (_wrong(lambda ab, b, t: np.sqrt(ab), lambda ab, b, t: 1 - ab), "instead of its square root"),
    (_wrong(lambda ab, b, t: ab, lambda ab, b, t: np.sqrt(1 - ab)), "did you forget the square root"),
    (_wrong(lambda ab, b, t: np.sqrt(1 - b[t - 1]), lambda ab, b, t: np.sqrt(b[t - 1])), "one-step α_t"),
    (_wrong(lambda ab, b, t: np.sqrt(ab), lambda ab, b, t: -np.sqrt(1 - ab)), "negative"),
    (_wrong(lambda ab, b, t: np.sqrt(ab), lambda ab, b, t: np.sqrt(1 - ab) * 1.5), "variance of x_t given x0 is wrong"),
    (_wrong(lambda ab, b, t: np.sqrt(ab) * 0.9, lambda ab, b, t: np.sqrt(1 - ab)), "mean of x_t given x0 is wrong"),
])
def test_q_sample_rejects_wrong_coefficients(fn, message):
    with pytest.raises(CheckFailed, match=message):
        check_q_sample(fn)


def test_q_sample_rejects_index_off_by_one():
    def shifted_up(x0, t, eps, betas):  # uses ᾱ[t]: the sample of step t + 1
        ab = _coefficients(np.asarray(t) + 1, x0, betas)
        return np.sqrt(ab) * x0 + np.sqrt(1 - ab) * eps

    def starts_at_one(x0, t, eps, betas):  # ᾱ array starting with ᾱ_0 = 1
        ab = _coefficients(t, x0, betas, lambda b: np.cumprod(np.r_[1.0, 1.0 - b[:-1]]))
        return np.sqrt(ab) * x0 + np.sqrt(1 - ab) * eps

    with pytest.raises(CheckFailed, match="step t \\+ 1"):
        check_q_sample(shifted_up)
    with pytest.raises(CheckFailed, match="at t = 1 your x_t equals x0"):
        check_q_sample(starts_at_one)


def test_q_sample_rejects_own_noise_in_place_and_no_broadcast():
    def own_noise(x0, t, eps, betas):
        return q_sample_solution(x0, t, np.random.default_rng().standard_normal(np.shape(x0)), betas)

    def in_place(x0, t, eps, betas):
        ab = _coefficients(t, x0, betas)
        x0 *= np.sqrt(ab)
        x0 += np.sqrt(1 - ab) * eps
        return x0

    def scalar_only(x0, t, eps, betas):
        ab = np.cumprod(1 - betas)[np.asarray(t) - 1]
        return np.sqrt(ab) * x0 + np.sqrt(1 - ab) * eps

    def first_coefficient_only(x0, t, eps, betas):
        ab = np.cumprod(1 - betas)[np.atleast_1d(t)[0] - 1]
        return np.sqrt(ab) * x0 + np.sqrt(1 - ab) * eps

    with pytest.raises(CheckFailed, match="do not draw new noise"):
        check_q_sample(own_noise)
    with pytest.raises(CheckFailed, match="in place"):
        check_q_sample(in_place)
    with pytest.raises(CheckFailed, match=r"\(N, 1, 1, 1\)"):
        check_q_sample(scalar_only)
    with pytest.raises(CheckFailed, match="its own step"):
        check_q_sample(first_coefficient_only)


def test_q_sample_rejects_malformed_output():
    with pytest.raises(CheckFailed, match="returned None"):
        check_q_sample(lambda x0, t, eps, betas: None)
    with pytest.raises(CheckFailed, match="NaN"):
        check_q_sample(lambda x0, t, eps, betas: x0 * np.nan)
    with pytest.raises(CheckFailed, match="should have shape"):
        check_q_sample(lambda x0, t, eps, betas: q_sample_solution(x0, t, eps, betas)[0])
    with pytest.raises(CheckFailed, match="array of numbers"):
        check_q_sample(lambda x0, t, eps, betas: "x_t")
    with pytest.raises(CheckFailed, match="raised ZeroDivisionError"):
        check_q_sample(lambda x0, t, eps, betas: 1 / 0)
    with pytest.raises(CheckFailed, match="pass your function"):
        check_q_sample(np.zeros(3))


def test_q_sample_rejects_float32():
    with pytest.raises(CheckFailed, match="returned float32: compute in float64"):
        check_q_sample(lambda x0, t, eps, betas: q_sample_solution(x0, t, eps, betas).astype(np.float32))
    torch = pytest.importorskip("torch")
    with pytest.raises(CheckFailed, match="torch.float32"):
        check_q_sample(lambda x0, t, eps, betas: torch.as_tensor(q_sample_solution(x0, t, eps, betas)).float())

    def float32_inside(x0, t, eps, betas):  # float32 schedule arithmetic, float64 result
        ab32 = np.cumprod(np.float32(1) - np.asarray(betas, dtype=np.float32))  # float32 all the way
        ab = _coefficients(t, x0, betas, lambda b: ab32.astype(np.float64))
        return np.sqrt(ab) * x0 + np.sqrt(1 - ab) * eps

    with pytest.raises(CheckFailed, match="float32"):
        check_q_sample(float32_inside)


def test_q_sample_rejects_nonlinear_output():
    def clipped(x0, t, eps, betas):
        return np.clip(q_sample_solution(x0, t, eps, betas), -1, 1)

    with pytest.raises(CheckFailed, match="linear in x0 and eps"):
        check_q_sample(clipped)


def test_q_sample_rejects_nan_at_zero_terminal_snr():
    def divides(x0, t, eps, betas):  # √ᾱ·(x0 + √(1/ᾱ − 1)·eps): fine until ᾱ_T = 0
        ab = _coefficients(t, x0, betas)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.sqrt(ab) * (x0 + np.sqrt(1 / ab - 1) * eps)

    with pytest.raises(CheckFailed, match="NaN|not finite"):
        check_q_sample(divides)


# --- exercise 2: ᾱ from β and back ----------------------------------------------------------------

def alpha_bar_solution(betas):
    return np.cumprod(1.0 - np.asarray(betas, dtype=np.float64))


def betas_solution(alpha_bar):
    alpha_bar = np.asarray(alpha_bar, dtype=np.float64)
    return 1.0 - alpha_bar / np.concatenate([[1.0], alpha_bar[:-1]])


def test_conversions_accept_solution(capsys):
    check_alpha_bar_conversions(alpha_bar_solution, betas_solution)
    assert capsys.readouterr().out.startswith("Correct:")


def test_conversions_accept_log_space_solution():
    with np.errstate(divide="ignore"):
        check_alpha_bar_conversions(lambda b: np.exp(np.cumsum(np.log1p(-np.asarray(b)))), betas_solution)


@pytest.mark.parametrize("fn, message", [
    (lambda b: np.cumprod(np.r_[1.0, 1.0 - b[:-1]]), "shifted by one step"),
    (lambda b: np.cumprod(np.r_[1.0, 1.0 - b[1:]]), "leaves out β_1"),
    (lambda b: np.cumprod(1.0 - b[1:]), r"got \(999,\).*leave out β_1"),
    (lambda b: np.cumprod(np.r_[1.0, 1.0 - b]), r"got \(1001,\).*ᾱ_0 = 1 is the data"),
    (lambda b: 1.0 - b, "α_t = 1 − β_t"),
    (lambda b: 1.0 - np.cumsum(b), "1 − Σβ_s"),
    (lambda b: np.cumprod(1.0 - b)[::-1], "increases"),
    (lambda b: np.cumprod(1.0 - b) * 1.01, "first wrong at t = 1"),
])
def test_conversions_reject_wrong_alpha_bar(fn, message):
    with pytest.raises(CheckFailed, match=message):
        check_alpha_bar_conversions(fn, betas_solution)


@pytest.mark.parametrize("fn, message", [
    (lambda ab: -np.diff(ab), r"got \(999,\).*np.diff drops the first step"),
    (lambda ab: 1.0 - ab / np.r_[ab[0], ab[:-1]], "β_1 is 0"),
    (lambda ab: np.r_[1.0, ab[:-1]] - ab, "not the difference"),
    (lambda ab: 1.0 - ab / np.r_[0.9, ab[:-1]], "β_1 is wrong"),
    (lambda ab: np.r_[1.0 - ab[0], 1.0 - ab[1:] / ab[:-1]] * np.r_[np.ones(ab.size - 1), 0.5], "first wrong at t"),
    (lambda ab: (1.0 - ab / np.r_[1.0, ab[:-1]]) * (ab / ab), r"returned NaN for zero-terminal.*0/0"),
])
def test_conversions_reject_wrong_betas(fn, message):
    with np.errstate(divide="ignore", invalid="ignore"):
        with pytest.raises(CheckFailed, match=message):
            check_alpha_bar_conversions(alpha_bar_solution, fn)


def test_conversions_reject_float32():
    with pytest.raises(CheckFailed, match="float32"):
        check_alpha_bar_conversions(lambda b: alpha_bar_solution(b).astype(np.float32), betas_solution)


def test_conversions_reject_malformed_input():
    with pytest.raises(CheckFailed, match="returned None"):
        check_alpha_bar_conversions(lambda b: None, betas_solution)
    with pytest.raises(CheckFailed, match="array of numbers"):
        check_alpha_bar_conversions(lambda b: {"a": 1}, betas_solution)
    with pytest.raises(CheckFailed, match="NaN"):
        check_alpha_bar_conversions(lambda b: np.full(np.shape(b), np.nan), betas_solution)
    with pytest.raises(CheckFailed, match="should return shape"):
        check_alpha_bar_conversions(lambda b: np.cumprod(1 - b)[None], betas_solution)
    with pytest.raises(CheckFailed, match="pass your function"):
        check_alpha_bar_conversions(alpha_bar_solution, 3)


# --- exercise 3: first t with ᾱ_t < 0.1 -----------------------------------------------------------

def _answers():
    from sched_lib import get_schedule

    first = lambda ab: int(np.argmax(ab < 0.1)) + 1  # noqa: E731
    return first(get_schedule("linear", 1000).alpha_bar), first(get_schedule("cosine", 1000).alpha_bar)


def test_threshold_accepts_solution(capsys):
    t_lin, t_cos = _answers()
    check_signal_threshold(t_lin, t_cos)
    check_signal_threshold(np.int64(t_lin), np.array(t_cos))
    check_signal_threshold(float(t_lin), t_cos)
    assert capsys.readouterr().out.startswith("Correct:")


def test_threshold_rejects_wrong_steps():
    from sched_lib import get_schedule

    t_lin, t_cos = _answers()
    ab = get_schedule("linear", 1000).alpha_bar
    amplitude = int(np.argmax(np.sqrt(ab) < 0.1)) + 1
    snr = int(np.argmax(ab / (1 - ab) < 0.1)) + 1
    cases = [
        ((t_lin - 1, t_cos), "linear: one step too early.*add 1"),
        ((t_lin, t_cos - 1), "cosine: one step too early"),
        ((t_lin + 1, t_cos), "first such step"),
        ((t_cos, t_lin), "swapped"),
        ((amplitude, t_cos), "signal amplitude"),
        ((snr, t_cos), "SNR"),
        ((t_lin - 100, t_cos), "too early"),
        ((t_lin + 100, t_cos), "too late"),
        ((t_lin, t_cos + 50), "cosine: too late"),
    ]
    for args, message in cases:
        with pytest.raises(CheckFailed, match=message):
            check_signal_threshold(*args)


@pytest.mark.parametrize("value, message", [
    (None, "got NoneType"),
    ("476", "got str"),
    (True, "bool"),
    (np.nan, "NaN"),
    (np.inf, "between 1 and T"),
    (476.5, "whole step"),
    (0, "between 1 and T"),
    (1001, "between 1 and T"),
    (np.array([476, 477]), "got ndarray"),
])
def test_threshold_rejects_malformed_input(value, message):
    _, t_cos = _answers()
    with pytest.raises(CheckFailed, match=message):
        check_signal_threshold(value, t_cos)
