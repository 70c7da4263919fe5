"""Exact results for Gaussian data (sched_lib.gaussian), checked against Monte Carlo with the torch solvers."""

import numpy as np
import pytest
import scipy.linalg
import torch

from sched_lib import get_schedule
from sched_lib import gaussian as G
from sched_lib import samplers as S
from sched_lib.process import Process

RNG = np.random.default_rng(0)
U4 = np.linalg.qr(RNG.standard_normal((4, 4)))[0]
DATA4 = G.GaussianData(np.array([0.4, -0.3, 0.1, 0.6]), np.array([1.0, 0.3, 0.08, 0.02]), U4)
DATA6 = G.GaussianData(np.linspace(-0.5, 0.5, 6), np.array([1.0, 0.6, 0.3, 0.15, 0.08, 0.05]),
                       np.linalg.qr(RNG.standard_normal((6, 6)))[0])
SCHEDULES = {
    "linear": get_schedule("linear", 1000),
    "cosine": get_schedule("cosine", 1000),
    "linear_zero_snr": get_schedule("linear", 1000, zero_terminal_snr=True),
}


# -- data and fitting ----------------------------------------------------------------------------------

def test_fit_gaussian_recovers_a_known_covariance():
    n = 50_000
    x = DATA6.sample(n, rng=1)
    fit = G.fit_gaussian(x.reshape(n, 2, 3))  # any trailing shape is flattened
    np.testing.assert_allclose(fit.eigvals, DATA6.eigvals, rtol=5 * np.sqrt(2 / n))
    assert (np.diff(fit.eigvals) <= 0).all()
    np.testing.assert_allclose(fit.basis.T @ fit.basis, np.eye(6), atol=1e-12)
    np.testing.assert_allclose(fit.covariance(), DATA6.covariance(), atol=0.02)
    np.testing.assert_allclose(fit.mean, DATA6.mean, atol=5 * np.sqrt(1.0 / n))
    # Principal directions agree up to sign.
    np.testing.assert_allclose(np.abs(np.sum(fit.basis * DATA6.basis, axis=0)), 1.0, atol=0.02)


def test_fit_gaussian_on_uint8_images_scales_to_minus_one_one():
    imgs = np.random.default_rng(2).integers(0, 256, size=(300, 4, 4, 3), dtype=np.uint8)
    fit = G.fit_gaussian(imgs)
    flat = imgs.reshape(300, -1) / 127.5 - 1
    np.testing.assert_allclose(fit.mean, flat.mean(0), atol=1e-12)
    np.testing.assert_allclose(fit.covariance(), np.cov(flat, rowvar=False), atol=1e-10)
    # N <= D: the zero eigenvalues are clamped to the documented floor, never negative.
    few = G.fit_gaussian(imgs[:10], min_eigval=1e-9)
    assert few.eigvals.min() == 1e-9 and (few.eigvals[-30:] == 1e-9).all()


@pytest.mark.parametrize("call", [
    lambda: G.GaussianData([0.0, 1.0], [1.0]), lambda: G.GaussianData([0.0], [-1.0]),
    lambda: G.GaussianData([0.0, 0.0], [1.0, 1.0], [[1.0, 1.0], [0.0, 1.0]]),
    lambda: G.GaussianData([np.nan], [1.0]), lambda: G.fit_gaussian(np.zeros((1, 3))),
    lambda: G.fit_gaussian(np.zeros((5, 3), dtype=np.int32)),
    lambda: G.optimal_denoiser(DATA4, 1.5), lambda: G.mmse("data", 0.5),
])
def test_bad_gaussian_input(call):
    with pytest.raises(ValueError):
        call()


# -- the optimal denoiser ------------------------------------------------------------------------------

@pytest.mark.parametrize("ab", [0.0, 1e-4, 0.3, 0.9, 0.9999])
def test_optimal_denoiser_is_gaussian_conditioning(ab):
    # E[x0 | xt] = μ + √ᾱ Σ (ᾱΣ + (1−ᾱ)I)⁻¹ (xt − √ᾱ μ), in the data's own coordinates.
    sigma, mu = DATA4.covariance(), DATA4.mean
    xt = RNG.standard_normal((7, 4))
    gain = np.sqrt(ab) * sigma @ np.linalg.inv(ab * sigma + (1 - ab) * np.eye(4))
    expected = mu + (xt - np.sqrt(ab) * mu) @ gain.T
    np.testing.assert_allclose(G.optimal_denoiser(DATA4, ab)(xt), expected, atol=1e-12)
    post_cov = sigma - np.sqrt(ab) * gain @ sigma
    np.testing.assert_allclose(np.diag(U4.T @ post_cov @ U4), G.mmse(DATA4, ab), atol=1e-12)


def test_mmse_by_monte_carlo():
    n, ab = 200_000, 0.4
    x0 = DATA4.sample(n, rng=3)
    xt = np.sqrt(ab) * x0 + np.sqrt(1 - ab) * np.random.default_rng(4).standard_normal(x0.shape)
    err = DATA4.to_eigenbasis(x0 - G.optimal_denoiser(DATA4, ab)(xt))
    np.testing.assert_allclose(err.var(0), G.mmse(DATA4, ab), rtol=5 * np.sqrt(2 / n))
    assert np.abs(err.mean(0)).max() < 5 * np.sqrt(G.mmse(DATA4, ab).max() / n)


@pytest.mark.parametrize("prediction", ["eps", "x0", "v"])
def test_model_fn_returns_the_optimal_denoiser_in_each_frame(prediction):
    proc = Process(SCHEDULES["cosine"], dtype=torch.float64)
    fn = G.gaussian_model_fn(DATA4, proc, prediction)
    x = torch.randn(6, 4, dtype=torch.float64)
    t = torch.tensor([0, 10, 200, 500, 900, 999])
    x0_hat = proc.predict_x0(x, t, fn(x, t), prediction).numpy()
    for i, k in enumerate(t.tolist()):
        np.testing.assert_allclose(x0_hat[i], G.optimal_denoiser(DATA4, proc.q.alpha_bar[k])(x[i].numpy()),
                                   rtol=1e-8, atol=1e-9)


# -- the exact sampler output against Monte Carlo -------------------------------------------------------

MC_CASES = [  # (schedule, sampler, eta, spacing, prediction the torch model uses)
    ("linear", "ddpm", 0.0, "trailing", "eps"),
    ("linear", "ddim", 0.0, "leading", "eps"),
    ("linear", "ddim", 1.0, "linspace", "eps"),
    ("cosine", "ddpm", 0.0, "linspace", "v"),
    ("cosine", "ddim", 0.0, "trailing", "v"),
    ("cosine", "ddim", 1.0, "trailing", "x0"),
    ("cosine", "ddpm_large", 0.0, "trailing", "eps"),
    ("linear", "heun", 0.0, "trailing", "v"),
    ("linear_zero_snr", "ddpm", 0.0, "trailing", "v"),
    ("linear_zero_snr", "ddim", 0.0, "trailing", "x0"),
    ("linear_zero_snr", "ddim", 1.0, "trailing", "v"),
]


@pytest.mark.parametrize("schedule, sampler, eta, spacing, prediction", MC_CASES)
def test_exact_output_distribution_matches_monte_carlo(schedule, sampler, eta, spacing, prediction):
    n, steps = 200_000, 6
    proc = Process(SCHEDULES[schedule])  # float32, as a model would run
    x = S.sample(sampler, G.gaussian_model_fn(DATA4, proc, prediction), proc, (n, 4), steps=steps, spacing=spacing,
                 eta=eta, prediction=prediction, generator=torch.Generator().manual_seed(11))
    z = DATA4.to_eigenbasis(x.double().numpy())
    mean, var = G.sampler_output_distribution(DATA4, proc, sampler, steps, spacing, eta)
    assert np.isfinite(mean).all() and (var > 0).all()
    z_score = (z.mean(0) - mean) / np.sqrt(var / n)
    assert np.abs(z_score).max() < 5, z_score
    np.testing.assert_allclose(z.var(0), var, rtol=5 * np.sqrt(2 / n))


def test_exact_analysis_relations():
    sch = SCHEDULES["cosine"]
    for spacing in ("leading", "trailing", "linspace"):
        a = G.sampler_output_distribution(DATA6, sch, "ddim", 17, spacing, eta=1.0)
        b = G.sampler_output_distribution(DATA6, sch, "ddpm", 17, spacing)
        np.testing.assert_allclose(a, b, rtol=1e-10)  # DDIM with η = 1 is the ancestral sampler with σ² = β̃
        c = G.sampler_output_distribution(DATA6, sch, "ddim", 17, spacing)
        d = G.sampler_output_distribution(DATA6, sch, "euler", 17, spacing)
        np.testing.assert_allclose(c, d, rtol=1e-9, atol=1e-12)  # Euler in σ is DDIM with η = 0


def test_ddpm_with_beta_variance_is_exact_for_standard_normal_data_but_for_the_last_step():
    # For x0 ~ N(0, I) the chain is stationary and time-reversible, so σ² = β with the optimal denoiser
    # is the exact reverse kernel (Ho et al. 2020, §3.2) on any grid. Only the last step, which returns
    # x̂₀ = √ᾱ x without noise (as DDPM does), leaves a variance ᾱ_last < 1.
    data = G.GaussianData(np.zeros(3), np.ones(3))
    ab = SCHEDULES["linear"].alpha_bar
    for spacing, steps in [("trailing", 3), ("linspace", 10), ("leading", 1000)]:
        last = ab[S.timesteps(1000, steps, spacing)[-1]]
        mean, var = G.sampler_output_distribution(data, SCHEDULES["linear"], "ddpm_large", steps, spacing)
        np.testing.assert_allclose(var, last, rtol=1e-12)
        assert np.abs(mean).max() == 0
        assert G.kl_to_data(data, SCHEDULES["linear"], "ddpm_large", steps, spacing) == pytest.approx(
            3 * 0.5 * (last - 1 - np.log(last)), rel=1e-9)


def test_sampling_with_the_exact_denoiser_converges_to_the_data():
    for name in ("cosine", "linear"):
        kl = [G.kl_to_data(DATA6, SCHEDULES[name], "ddim", n, "trailing") for n in (5, 10, 50, 200, 1000)]
        assert all(a > b for a, b in zip(kl, kl[1:])), kl
        assert kl[-1] < 2e-4 and kl[0] > 0.5
        w2 = [G.w2_to_data(DATA6, SCHEDULES[name], "ddim", n, "trailing") for n in (5, 10, 50, 200, 1000)]
        assert all(a > b for a, b in zip(w2, w2[1:])) and w2[-1] < 0.01
    kl_ddpm = [G.kl_to_data(DATA6, SCHEDULES["cosine"], "ddpm", n) for n in (5, 10, 50, 200, 1000)]
    assert all(a > b for a, b in zip(kl_ddpm, kl_ddpm[1:])) and kl_ddpm[-1] < 1e-3


def test_zero_terminal_snr_first_step_uses_the_mean():
    # One DDIM step from ᾱ_T = 0 lands on x̂₀ = μ: a point mass at the data mean (KL = inf, W2² = Σ s²).
    mean, var = G.sampler_output_distribution(DATA4, SCHEDULES["linear_zero_snr"], "ddim", 1, "trailing")
    np.testing.assert_allclose(mean, DATA4.mean_eig, atol=1e-15)
    assert (var == 0).all()
    assert G.kl_to_data(DATA4, SCHEDULES["linear_zero_snr"], "ddim", 1) == np.inf
    assert G.w2_to_data(DATA4, SCHEDULES["linear_zero_snr"], "ddim", 1) == pytest.approx(np.sqrt(DATA4.eigvals.sum()))
    kl = G.kl_to_data(DATA4, SCHEDULES["linear_zero_snr"], "heun", 20, per_dimension=True)
    assert kl.shape == (4,) and np.isfinite(kl).all()


def test_kl_and_w2_against_full_covariance_formulas():
    m1, v1 = np.array([0.1, -0.2, 0.3]), np.array([0.5, 1.5, 0.02])
    m2, v2 = np.array([0.0, 0.1, 0.25]), np.array([1.0, 1.0, 0.03])
    U = np.linalg.qr(RNG.standard_normal((3, 3)))[0]
    S1, S2 = U @ np.diag(v1) @ U.T, U @ np.diag(v2) @ U.T
    mu1, mu2 = U @ m1, U @ m2
    S2inv = np.linalg.inv(S2)
    kl = 0.5 * (np.trace(S2inv @ S1) + (mu2 - mu1) @ S2inv @ (mu2 - mu1) - 3
                + np.log(np.linalg.det(S2) / np.linalg.det(S1)))
    assert G.kl_diagonal(m1, v1, m2, v2).sum() == pytest.approx(kl, rel=1e-10)
    root2 = scipy.linalg.sqrtm(S2)
    bures = np.trace(S1 + S2 - 2 * scipy.linalg.sqrtm(root2 @ S1 @ root2)).real
    assert G.w2_diagonal(m1, v1, m2, v2).sum() == pytest.approx(np.sum((mu1 - mu2) ** 2) + bures, rel=1e-8)
    assert G.kl_diagonal(0.0, 0.0, 0.0, 0.0) == 0.0 and G.kl_diagonal(0.0, 0.0, 0.0, 1.0) == np.inf


@pytest.mark.parametrize("call", [
    lambda: G.sampler_output_distribution(DATA4, SCHEDULES["linear"], "dpm++", 5),
    lambda: G.sampler_output_distribution(DATA4, SCHEDULES["linear"], "ddpm", 5, eta=0.5),
    lambda: G.sampler_output_distribution(DATA4, SCHEDULES["linear"], "ddim", 5, "middle"),
    lambda: G.sampler_output_distribution(DATA4, "linear", "ddim", 5),
    lambda: G.kl_to_data(DATA4, SCHEDULES["linear"], "ddim", 1001),
    lambda: G.gaussian_model_fn(DATA4, SCHEDULES["linear"]),
])
def test_bad_analysis_arguments(call):
    with pytest.raises(ValueError):
        call()
