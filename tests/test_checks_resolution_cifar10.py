"""The exercise checks of the lab "Resolution" accept the worked solutions and reject typical wrong answers with a
hint that names the mistake (``sched_lib/checks/resolution_cifar10.py``)."""

import math

import numpy as np
import pytest

from sched_lib.checks import CheckFailed
from sched_lib.checks.resolution_cifar10 import check_shift_params, check_to_content_resolution
from sched_lib.quantities import get_schedule_quantities
from sched_lib.schedules import get_schedule

# --------------------------------------------------------------------------------------------------
# Exercise 1: the shifted cosine's parameters
# --------------------------------------------------------------------------------------------------


def shift_params_solution(d, d_content):
    return {"d": d, "base": d_content}


def test_shift_params_solution_is_the_papers_shift():
    lam = get_schedule_quantities(get_schedule("shifted_cosine", 1000, **shift_params_solution(128, 32))).log_snr
    ref = get_schedule_quantities(get_schedule("shifted_cosine", 1000, d=32, base=32)).log_snr
    np.testing.assert_allclose(lam - ref, 2 * math.log(32 / 128), atol=1e-9)


def test_shift_params_accepts_solution(capsys):
    check_shift_params(shift_params_solution)
    assert "Correct" in capsys.readouterr().out


@pytest.mark.parametrize("wrong, hint", [
    (lambda d, dc: {"d": dc, "base": d}, "wrong way"),
    (lambda d, dc: {"d": d}, "default base"),
    (lambda d, dc: {"d": d, "base": dc, "log_snr_min": -10.0}, "moved by a constant"),
    (lambda d, dc: {"d": math.sqrt(d * dc), "base": dc}, "half the right size"),
    (lambda d, dc: {"d": 2 * d, "base": dc}, "that is not the simple diffusion shift"),
    (lambda d, dc: {"shift": 2 * math.log(dc / d)}, "has no parameter"),
    (lambda d, dc: (d, dc), "return a dict"),
    (lambda d, dc: {"d": -d, "base": dc}, "refused your parameters"),
    (lambda d, dc: None, "returned None"),
])
def test_shift_params_rejects_wrong_answers(wrong, hint):
    with pytest.raises(CheckFailed, match=hint):
        check_shift_params(wrong)


# --------------------------------------------------------------------------------------------------
# Exercise 2: back to the content resolution
# --------------------------------------------------------------------------------------------------


def to_content_solution(images, size):
    n, d, _, c = images.shape
    s = d // size
    return np.rint(images.astype(np.float64).reshape(n, size, s, size, s, c).mean(axis=(2, 4))).astype(np.uint8)


def test_to_content_accepts_solution(capsys):
    check_to_content_resolution(to_content_solution)
    assert "Correct" in capsys.readouterr().out


def test_to_content_solution_matches_the_lab_helper():
    from sched_lib.plotting import avg_pool

    x = np.random.default_rng(0).integers(0, 256, (2, 64, 64, 3), dtype=np.uint8)
    np.testing.assert_array_equal(to_content_solution(x, 32), np.rint(avg_pool(x, 2)).astype(np.uint8))


def _floor(images, size):
    n, d, _, c = images.shape
    s = d // size
    return np.floor(images.astype(np.float64).reshape(n, size, s, size, s, c).mean(axis=(2, 4))).astype(np.uint8)


@pytest.mark.parametrize("wrong, hint", [
    (lambda im, size: im[:, :: im.shape[1] // size, :: im.shape[1] // size, :], "kept one pixel"),
    (_floor, "truncated"),
    (lambda im, size: to_content_solution(im, size).astype(np.float64), "uint8"),
    (lambda im, size: to_content_solution(im, size).transpose(0, 3, 1, 2), "shape"),
    (lambda im, size: to_content_solution(im[:, ::-1], size), "not the mean"),
])
def test_to_content_rejects_wrong_answers(wrong, hint):
    with pytest.raises(CheckFailed, match=hint):
        check_to_content_resolution(wrong)
