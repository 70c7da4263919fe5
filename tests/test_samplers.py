"""Sampling grids (chapter "The endpoints and sampling"); parity with diffusers is in test_parity.py."""

import numpy as np
import pytest

from sched_lib.samplers import karras_sigmas, timesteps


def test_leading_and_trailing_examples_from_lin_et_al():
    np.testing.assert_array_equal(timesteps(1000, 10, "leading"), np.arange(900, -1, -100))
    np.testing.assert_array_equal(timesteps(1000, 10, "trailing"), np.arange(999, 0, -100))
    assert timesteps(1000, 10, "linspace")[0] == 999 and timesteps(1000, 10, "linspace")[-1] == 0


def test_karras_grid_shape_and_ends():
    s = karras_sigmas(10, 0.002, 80.0)
    assert s.shape == (11,) and s[0] == pytest.approx(80.0) and s[-2] == pytest.approx(0.002) and s[-1] == 0
    assert (np.diff(s) < 0).all()


@pytest.mark.parametrize("call", [
    lambda: timesteps(1000, 0), lambda: timesteps(10, 11), lambda: timesteps(1000, 10, "middle"),
    lambda: timesteps(1000, 10.0), lambda: timesteps(1000, 10, "leading", steps_offset=-1),
    lambda: timesteps(1000, 10, "leading", steps_offset=100),
    lambda: karras_sigmas(0), lambda: karras_sigmas(5, sigma_min=0), lambda: karras_sigmas(5, 10, 1),
    lambda: karras_sigmas(5, rho=0), lambda: karras_sigmas(5, sigma_max=np.inf),
])
def test_bad_grid_arguments(call):
    with pytest.raises(ValueError):
        call()


def test_trailing_never_returns_the_invalid_step():
    # diffusers' trailing grid has N + 1 entries ending in -1 for 4 values of N <= 200 at T = 1000 (e.g. 61).
    for T in (50, 999, 1000, 4000):
        for N in range(1, min(T, 300) + 1):
            grid = timesteps(T, N, "trailing")
            assert grid.size == N and grid[0] == T - 1 and grid[-1] >= 0 and (np.diff(grid) < 0).all()
