"""sched_lib.elbo and weighting.sigmoid_weight: the exact Gaussian quantities behind Kingma & Gao's theorem.

Each closed form is checked against an independent route: Monte Carlo with the optimal denoiser of
sched_lib.gaussian (a different formula for the same predictor), the I-MMSE derivative relation, the
mutual information computed from the two Gaussians' entropies, and the frame rule."""

import numpy as np
import pytest

from sched_lib import elbo
from sched_lib.gaussian import GaussianData, mmse, optimal_denoiser
from sched_lib.weighting import sigmoid_weight


def _data(rotated=True):
    rng = np.random.default_rng(0)
    basis = np.linalg.qr(rng.standard_normal((4, 4)))[0] if rotated else None
    return GaussianData(np.array([0.3, -0.2, 0.0, 1.0]), np.array([0.05, 0.3, 1.0, 2.5]), basis)


@pytest.mark.parametrize("lam", [-4.0, 0.0, 2.5])
def test_eps_mse_matches_monte_carlo_with_the_optimal_denoiser(lam):
    data = _data()
    rng = np.random.default_rng(1)
    ab = 1 / (1 + np.exp(-lam))
    x0 = data.sample(3, rng)
    n = 200_000
    for i in range(3):
        eps = rng.standard_normal((n, 4))
        xt = np.sqrt(ab) * x0[i] + np.sqrt(1 - ab) * eps
        eps_hat = (xt - np.sqrt(ab) * optimal_denoiser(data, ab)(xt)) / np.sqrt(1 - ab)
        sq = np.sum((eps - eps_hat) ** 2, axis=1)
        got = elbo.gaussian_eps_mse(data, [lam], x0[i])[0, 0]
        assert abs(sq.mean() - got) < 5 * sq.std() / np.sqrt(n)


def test_eps_mse_average_and_frame_rule():
    data = _data()
    lam = np.linspace(-10, 10, 41)
    ab = 1 / (1 + np.exp(-lam))
    x0_mse = np.array([mmse(data, a).sum() for a in ab])              # sched_lib.gaussian's own formula
    # mmse() forms 1 - ab from ab: relative rounding eps/(1 - ab) = 2.2e-16 * e^10 = 5e-12 at lambda = 10
    np.testing.assert_allclose(elbo.gaussian_x0_mse(data, lam), x0_mse, rtol=1e-10)
    np.testing.assert_allclose(elbo.gaussian_eps_mse(data, lam), np.exp(lam) * x0_mse, rtol=1e-10)
    rng = np.random.default_rng(2)
    per_x = elbo.gaussian_eps_mse(data, lam, data.sample(100_000, rng)).mean(axis=0)
    np.testing.assert_allclose(per_x, elbo.gaussian_eps_mse(data, lam), rtol=0.02)


def test_augmented_kl_derivative_is_half_the_eps_mse():
    """d/dλ KL(q(z_λ|x) ‖ q(z_λ)) = ½ ℓ(λ; x): central differences, error O(h²)."""
    data = _data()
    x0 = data.sample(5, np.random.default_rng(3))
    lam = np.linspace(-8, 8, 33)
    h = 1e-4
    dkl = (elbo.gaussian_augmented_kl(data, lam + h, x0) - elbo.gaussian_augmented_kl(data, lam - h, x0)) / (2 * h)
    np.testing.assert_allclose(dkl, 0.5 * elbo.gaussian_eps_mse(data, lam, x0), rtol=1e-6, atol=1e-9)


def test_augmented_kl_is_a_kl_and_averages_to_the_mutual_information():
    data = _data(rotated=False)
    lam = np.array([-3.0, 0.0, 4.0])
    snr = np.exp(lam)
    ab = snr / (1 + snr)
    x = np.array([[0.1, 0.4, -1.0, 2.0]])
    # direct Gaussian KL, one dimension at a time, from the two laws' means and variances
    m1, v1 = np.sqrt(ab)[:, None] * x, (1 - ab)[:, None]
    m2, v2 = np.sqrt(ab)[:, None] * data.mean, ab[:, None] * data.eigvals + (1 - ab)[:, None]
    direct = 0.5 * np.sum(np.log(v2 / v1) + (v1 + (m1 - m2) ** 2) / v2 - 1, axis=1)
    np.testing.assert_allclose(elbo.gaussian_augmented_kl(data, lam, x)[0], direct, rtol=1e-12)
    # I(x; z) = h(z) - h(z | x) with Gaussian entropies
    mi = 0.5 * np.sum(np.log(v2) - np.log(v1), axis=1)
    np.testing.assert_allclose(elbo.gaussian_augmented_kl(data, lam), mi, rtol=1e-12)


def test_finite_at_extreme_log_snr():
    """q = s² e^λ overflows past λ ≈ 709; every quantity must stay finite (and take its limit) there."""
    data = _data()
    lam = np.array([-800.0, -40.0, 40.0, 800.0])
    x0 = data.sample(2, np.random.default_rng(5))
    for out in (elbo.gaussian_eps_mse(data, lam, x0), elbo.gaussian_eps_mse(data, lam),
                elbo.gaussian_augmented_kl(data, lam, x0), elbo.gaussian_x0_mse(data, lam),
                elbo.gaussian_loss_second_moment(data, lam)):
        assert np.isfinite(out).all()
    np.testing.assert_allclose(elbo.gaussian_eps_mse(data, lam)[[0, -1]], [0.0, 4.0], atol=1e-300)
    np.testing.assert_allclose(elbo.gaussian_eps_mse(data, [800.0], x0)[:, 0], 4.0, rtol=1e-15)  # eps unseen
    assert elbo.gaussian_augmented_kl(data, [-800.0], x0)[0, 0] == 0.0


def test_second_moment_matches_monte_carlo():
    data = _data()
    lam = 0.7
    ab = 1 / (1 + np.exp(-lam))
    rng = np.random.default_rng(4)
    n = 400_000
    x0 = data.sample(n, rng)
    eps = rng.standard_normal((n, 4))
    xt = np.sqrt(ab) * x0 + np.sqrt(1 - ab) * eps
    eps_hat = (xt - np.sqrt(ab) * optimal_denoiser(data, ab)(xt)) / np.sqrt(1 - ab)
    sq = np.sum((eps - eps_hat) ** 2, axis=1)
    got = elbo.gaussian_loss_second_moment(data, [lam])[0]
    assert abs(np.mean(sq ** 2) / got - 1) < 0.02
    assert got > elbo.gaussian_eps_mse(data, [lam])[0] ** 2        # Jensen: E[l^2] > E[l]^2


def test_edm2_optimum_minimises_the_loss():
    w, m = np.array([0.5, 2.0, 10.0]), np.array([0.2, 1.0, 3.0])
    u = elbo.edm2_optimal_log_variance(w, m)
    np.testing.assert_allclose(w * m / np.exp(u), 1.0, rtol=1e-14)
    objective = lambda uu: w * m * np.exp(-uu) + uu  # noqa: E731
    for du in (-1e-3, 1e-3):
        assert np.all(objective(u + du) > objective(u))


def test_sigmoid_weight_values_and_density():
    lam = np.array([-np.inf, -800.0, -1.0, 2.0, 5.0, 800.0, np.inf])
    w = sigmoid_weight(lam, bias=2.0)
    assert w[0] == 1.0 and w[-1] == 0.0 and w[3] == 0.5 and np.isfinite(w).all()
    grid = np.linspace(-20, 20, 4001)
    w = sigmoid_weight(grid, bias=1.5)
    np.testing.assert_allclose(w, 1 / (1 + np.exp(grid - 1.5)), rtol=1e-13)
    assert np.all(np.diff(w) < 0)
    dens = -np.gradient(w, grid)
    assert abs(np.trapezoid(dens, grid) - 1) < 1e-6 and abs(grid[np.argmax(dens)] - 1.5) < 0.011


@pytest.mark.parametrize("call, message", [
    (lambda: elbo.gaussian_eps_mse("data", [0.0]), "GaussianData"),
    (lambda: elbo.gaussian_eps_mse(GaussianData(np.zeros(2), np.array([1.0, 0.0])), [0.0]), "positive eigvals"),
    (lambda: elbo.gaussian_eps_mse(_data(), [np.inf]), "inf"),
    (lambda: elbo.gaussian_eps_mse(_data(), [np.nan]), "NaN"),
    (lambda: elbo.gaussian_augmented_kl(_data(), [0.0], np.zeros((2, 3))), "shape"),
    (lambda: elbo.edm2_optimal_log_variance([1.0, -1.0], [1.0, 1.0]), "weight must be > 0"),
    (lambda: elbo.edm2_optimal_log_variance([1.0], [0.0]), "mse must be > 0"),
    (lambda: elbo.edm2_optimal_log_variance([1.0, 2.0], [1.0, 2.0, 3.0]), "broadcast"),
    (lambda: sigmoid_weight([0.0], bias=np.inf), "bias"),
    (lambda: sigmoid_weight([np.nan]), "NaN"),
])
def test_bad_input_is_refused(call, message):
    with pytest.raises(ValueError, match=message):
        call()
