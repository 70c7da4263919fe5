"""The exercise checks of chapter "The Endpoints and Sampling" accept the worked solutions and reject
typical wrong answers with a hint that names the mistake (``sched_lib/checks/endpoints_and_sampling.py``)."""

import numpy as np
import pytest

from sched_lib.checks import CheckFailed
from sched_lib.checks.endpoints_and_sampling import (
    check_trailing_timesteps,
    check_x0_from_v,
    check_zero_snr_rescale,
)

# --------------------------------------------------------------------------------------------------
# Exercise 1: trailing spacing
# --------------------------------------------------------------------------------------------------


def trailing_solution(T, N):
    return (np.round(np.arange(T, 0, -T / N)).astype(np.int64) - 1)[:N]


def test_trailing_accepts_solution(capsys):
    check_trailing_timesteps(trailing_solution)
    # A linspace grid has the same N values as the float arange, so it is a correct answer too.
    check_trailing_timesteps(lambda T, N: np.round(np.linspace(T, T / N, N)).astype(np.int64) - 1)
    assert "Correct" in capsys.readouterr().out


@pytest.mark.parametrize("wrong, message", [
    (lambda T, N: np.round(np.arange(T, 0, -T / N)).astype(np.int64), "0-based"),              # 1-based
    (lambda T, N: trailing_solution(T, N)[::-1], "ascending"),
    (lambda T, N: np.round(np.arange(T, 0, -T / N)).astype(np.int64) - 1, "overshoots"),         # raw diffusers
    (lambda T, N: (np.arange(N) * (T // N))[::-1], "starts at"),                                 # leading
    (lambda T, N: np.round(np.arange(T - 1, -1, -T / N)).astype(np.int64), "differs from diffusers"),
    (lambda T, N: np.arange(T, 0, -T / N) - 1, "non-integer"),                                   # unrounded
])
def test_trailing_rejects_typical_mistakes(wrong, message):
    with pytest.raises(CheckFailed, match=message):
        check_trailing_timesteps(wrong)


@pytest.mark.parametrize("bad, message", [
    ("999", "pass your function itself"),
    (lambda T, N: np.zeros((N, 2)), "1-D"),
    (lambda T, N: np.full(N, np.nan), "NaN"),
    (lambda T, N: [T - 1, "a"], "array of numbers"),
    (lambda T, N: 1 / 0, "ZeroDivisionError"),
])
def test_trailing_rejects_malformed_answers(bad, message):
    with pytest.raises(CheckFailed, match=message):
        check_trailing_timesteps(bad)


# --------------------------------------------------------------------------------------------------
# Exercise 2: zero-terminal-SNR rescale
# --------------------------------------------------------------------------------------------------


def rescale_solution(betas):
    root = np.sqrt(np.cumprod(1 - betas))
    first, last = root[0], root[-1]
    root = (root - last) * first / (first - last)
    alpha_bar = root ** 2
    prev = np.concatenate([[1.0], alpha_bar[:-1]])
    return 1 - alpha_bar / prev


def _rescale_alpha_bar(betas):  # affine in ᾱ instead of √ᾱ
    ab = np.cumprod(1 - betas)
    ab = (ab - ab[-1]) * ab[0] / (ab[0] - ab[-1])
    return 1 - ab / np.concatenate([[1.0], ab[:-1]])


def _shift_only(betas):  # forgets to scale back to √ᾱ_1
    root = np.sqrt(np.cumprod(1 - betas))
    root = root - root[-1]
    ab = root ** 2
    return 1 - ab / np.concatenate([[1.0], ab[:-1]])


def _return_alpha_bar(betas):
    root = np.sqrt(np.cumprod(1 - betas))
    root = (root - root[-1]) * root[0] / (root[0] - root[-1])
    return root ** 2


def test_rescale_accepts_solution(capsys):
    check_zero_snr_rescale(rescale_solution)
    assert "Correct" in capsys.readouterr().out


@pytest.mark.parametrize("wrong, message", [
    (_rescale_alpha_bar, "moves alpha_bar linearly"),
    (_shift_only, "changes the first step"),
    (_return_alpha_bar, "looks like alpha_bar"),
    (lambda b: np.asarray(b), "last beta"),                                     # unchanged chain
    (lambda b: np.concatenate([b[:-1], [1.0]]), "not the rescaled value"),      # only forces β_T = 1
])
def test_rescale_rejects_typical_mistakes(wrong, message):
    with pytest.raises(CheckFailed, match=message):
        check_zero_snr_rescale(wrong)


@pytest.mark.parametrize("bad, message", [
    (0, "pass your function itself"),
    (lambda b: b[:-1], "shape"),
    (lambda b: b * np.nan, "NaN"),
    (lambda b: -np.asarray(b), r"outside \(0, 1\]"),
    (lambda b: b / 0.0, "inf"),
])
def test_rescale_rejects_malformed_answers(bad, message):
    with pytest.raises(CheckFailed, match=message):
        check_zero_snr_rescale(bad)


# --------------------------------------------------------------------------------------------------
# Exercise 3: x0 from v
# --------------------------------------------------------------------------------------------------


def x0_from_v_solution(x_t, v, alpha_bar):
    return np.sqrt(alpha_bar) * x_t - np.sqrt(1 - alpha_bar) * v


def _via_eps(x_t, v, alpha_bar):
    eps = np.sqrt(alpha_bar) * v + np.sqrt(1 - alpha_bar) * x_t
    return (x_t - np.sqrt(1 - alpha_bar) * eps) / np.sqrt(alpha_bar)


def _via_eps_guarded(x_t, v, alpha_bar):
    ab = np.maximum(alpha_bar, 1e-20)
    return _via_eps(x_t, v, ab)


def test_x0_from_v_accepts_solution(capsys):
    check_x0_from_v(x0_from_v_solution)
    assert "Correct" in capsys.readouterr().out


@pytest.mark.parametrize("wrong, message", [
    (_via_eps, r"NaN \(0/0\)"),
    (_via_eps_guarded, "amplifies rounding errors|differs from the true x0"),
    (lambda x, v, ab: np.sqrt(ab) * x + np.sqrt(1 - ab) * v, "equals v|sign"),
    (lambda x, v, ab: np.sqrt(1 - ab) * x - np.sqrt(ab) * v, "swapped"),
    (lambda x, v, ab: ab * x - (1 - ab) * v, "differs from the true x0"),
])
def test_x0_from_v_rejects_typical_mistakes(wrong, message):
    with pytest.raises(CheckFailed, match=message):
        check_x0_from_v(wrong)


@pytest.mark.parametrize("bad, message", [
    ("x0", "pass your function itself"),
    (lambda x, v, ab: x[:, :3], "shape"),
    (lambda x, v, ab: np.full_like(x, np.nan), "NaN"),
    (lambda x, v, ab: {"x0": x}, "array of numbers"),
    (lambda x, v, ab: x / 0.0, "inf"),
])
def test_x0_from_v_rejects_malformed_answers(bad, message):
    with pytest.raises(CheckFailed, match=message):
        check_x0_from_v(bad)
