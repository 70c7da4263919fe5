"""The schedules and densities added for chapter "More Schedules": the Laplace schedule (Hang et al. 2024),
simple diffusion's interpolated cosine, SD3's shifted logit-normal, and the mean-component SNR of offset noise.

Parity: diffusers 0.42.1 (betas_for_alpha_bar "laplace", FlowMatchEulerDiscreteScheduler,
training_utils.compute_density_for_timestep_sampling), and lucidrains' simple-diffusion-pytorch
``logsnr_schedule_interpolated`` re-typed from its source in torch float64."""

import math

import numpy as np
import pytest
import torch

from sched_lib import quantities as Q, schedules as S, weighting as W
from sched_lib.quantities import get_schedule_quantities

diffusers = pytest.importorskip("diffusers")


# --- Laplace --------------------------------------------------------------------------------------

@pytest.mark.parametrize("mu, b", [(0.0, 0.5), (1.0, 0.5), (-2.0, 1.5)])
def test_laplace_schedule_makes_lambda_laplace_distributed(mu, b):
    lam = np.linspace(mu - 12 * b, mu + 12 * b, 240)   # even count: no point on the kink at lambda = mu, where
    # UniformTime's central difference would average the two one-sided slopes
    dens = W.UniformTime(lambda t: S.laplace_log_snr(t, mu, b)).log_snr_density(lam)
    np.testing.assert_allclose(dens, W.LaplaceLogSNR(mu, b).log_snr_density(lam), rtol=1e-6)
    draws = W.LaplaceLogSNR(mu, b).sample_log_snr(200_000, rng=0)
    assert abs(np.median(draws) - mu) < 0.02 * b and abs(np.mean(np.abs(draws - mu)) / b - 1) < 0.01


def test_laplace_ends_and_registry():
    lam = S.laplace_log_snr(np.array([0.0, 0.5, 1.0]))
    assert lam[0] == np.inf and lam[1] == 0.0 and lam[2] == -np.inf
    sched = S.get_schedule("laplace", 1000)
    q = get_schedule_quantities(sched)
    np.testing.assert_allclose(q.log_snr[:-1], S.laplace_log_snr(np.arange(1, 1000) / 1000), rtol=1e-9, atol=1e-12)
    assert q.snr[-1] == 0.0


def _diffusers_laplace_lambda(t):
    # diffusers 0.42.1 src/diffusers/schedulers/scheduling_ddpm.py, betas_for_alpha_bar, "laplace" branch
    return -0.5 * math.copysign(1, 0.5 - t) * math.log(1 - 2 * math.fabs(0.5 - t) + 1e-6)


def test_diffusers_laplace_is_the_paper_lambda_regularised_and_its_chain_uses_sqrt_alpha_bar():
    from diffusers import DDPMScheduler

    T = 1000
    hf = DDPMScheduler(num_train_timesteps=T, beta_schedule="laplace").alphas_cumprod.double().numpy()
    t = np.arange(T + 1) / T
    # (a) away from the ends, its lambda is the paper's formula with mu = 0, b = 0.5 (the 1e-6 moves it by
    # at most b * 1e-6 / (1 - 2|t - 1/2|) there)
    inner = (t > 0.01) & (t < 0.99)
    lam_hf = np.array([_diffusers_laplace_lambda(x) for x in t])
    np.testing.assert_allclose(lam_hf[inner], S.laplace_log_snr(t[inner], 0.0, 0.5), atol=1e-4)
    # (b) its chain is the ratio rule applied to sqrt(sigmoid(lambda)), i.e. to VDM's alpha, not alpha-bar
    root = np.sqrt(1 / (1 + np.exp(-lam_hf)))
    betas = np.minimum(1 - root[1:] / root[:-1], 0.999)
    np.testing.assert_allclose(hf, np.cumprod(1 - betas), rtol=2e-5)          # float32 in diffusers
    # (c) so it is not the paper's schedule: at t = 1/2 the paper has alpha-bar = 1/2
    assert abs(hf[T // 2 - 1] - 0.5) > 0.15


# --- simple diffusion's interpolated cosine --------------------------------------------------------

def _lucidrains_interpolated(t, image_d, noise_d_low, noise_d_high):
    # lucidrains/simple-diffusion-pytorch, simple_diffusion.py: logsnr_schedule_cosine (min -15, max 15),
    # logsnr_schedule_shifted (+ 2 log(noise_d / image_d)) and logsnr_schedule_interpolated
    # (t * logsnr_low + (1 - t) * logsnr_high), re-typed in float64 without the 1e-20 clamp.
    t_min, t_max = math.atan(math.exp(-0.5 * 15)), math.atan(math.exp(-0.5 * -15))
    cos = -2 * torch.log(torch.tan(t_min + t * (t_max - t_min)))
    low = cos + 2 * math.log(noise_d_low / image_d)
    high = cos + 2 * math.log(noise_d_high / image_d)
    return t * low + (1 - t) * high


@pytest.mark.parametrize("d, lo, hi", [(256, 32, 256), (512, 32, 256), (128, 64, 128), (64, 64, 64)])
def test_interpolated_cosine_matches_lucidrains(d, lo, hi):
    t = torch.linspace(0, 1, 1001, dtype=torch.float64)
    ref = _lucidrains_interpolated(t, d, lo, hi).numpy()
    np.testing.assert_allclose(S.interpolated_cosine_log_snr(t.numpy(), d, lo, hi), ref, rtol=1e-12, atol=1e-12)


def test_interpolated_cosine_ends_and_special_case():
    t = np.linspace(0, 1, 101)
    lam = S.interpolated_cosine_log_snr(t, 512, 32, 256)
    np.testing.assert_allclose(lam[0], S.shifted_cosine_log_snr(0.0, 512, 256), rtol=1e-14)
    np.testing.assert_allclose(lam[-1], S.shifted_cosine_log_snr(1.0, 512, 32), rtol=1e-14)
    np.testing.assert_allclose(S.interpolated_cosine_log_snr(t, 128, 64, 64), S.shifted_cosine_log_snr(t, 128, 64),
                               rtol=1e-14, atol=1e-14)
    assert np.all(np.diff(S.get_schedule("interpolated_cosine", 1000).alpha_bar) < 0)


# --- SD3's shifted logit-normal ---------------------------------------------------------------------

@pytest.mark.parametrize("loc, scale, shift", [(0.0, 1.0, 3.0), (0.5, 0.7, 1.0), (-1.0, 1.3, 0.4)])
def test_shifted_logit_normal_is_logit_normal(loc, scale, shift):
    t = W.LogitNormalTime(loc, scale).sample(50_000, rng=1)
    shifted = W.sd3_shifted_logit_normal(loc, scale, shift)
    np.testing.assert_allclose(S.sd3_time_shift(t, shift), shifted.sample(50_000, rng=1), rtol=1e-10, atol=1e-15)
    lam = np.linspace(-12, 12, 97)
    np.testing.assert_allclose(shifted.log_snr_density(lam),
                               W.LogitNormalTime(loc, scale).log_snr_density(lam + 2 * math.log(shift)), rtol=1e-12)


def test_shifted_logit_normal_matches_diffusers_sd3_training_draws():
    # diffusers 0.42.1 training_utils.compute_density_for_timestep_sampling("logit_normal") gives u; the SD3
    # training scripts (train_dreambooth_sd3.py) take sigmas[int(u * T)] of FlowMatchEulerDiscreteScheduler(shift).
    from diffusers import FlowMatchEulerDiscreteScheduler
    from diffusers.training_utils import compute_density_for_timestep_sampling

    T, shift = 1000, 3.0
    u = compute_density_for_timestep_sampling("logit_normal", 4096, logit_mean=0.0, logit_std=1.0,
                                              generator=torch.Generator().manual_seed(0)).double().numpy()
    sched = FlowMatchEulerDiscreteScheduler(num_train_timesteps=T, shift=shift)
    idx = (u * T).astype(np.int64)
    hf_sigma = sched.sigmas.double().numpy()[idx]
    # sigmas[i] is the shifted time of the grid point (T - i)/T; ours shifts 1 - idx/T: equal up to float32
    np.testing.assert_allclose(S.sd3_time_shift(1 - idx / T, shift), hf_sigma, rtol=2e-6, atol=1e-7)
    # and the continuous draw sd3_time_shift(u) is logit-normal with location log(shift)
    z = np.log(S.sd3_time_shift(u, shift)) - np.log1p(-S.sd3_time_shift(u, shift))
    np.testing.assert_allclose(z, np.log(u) - np.log1p(-u) + math.log(shift), rtol=1e-9, atol=1e-9)
    assert W.sd3_shifted_logit_normal(0.0, 1.0, shift).loc == pytest.approx(math.log(shift), rel=1e-15)


# --- offset noise ---------------------------------------------------------------------------------

def test_mean_component_snr_matches_monte_carlo():
    rng = np.random.default_rng(2)
    n, c, snr = 256, 0.1, 0.05
    ab = snr / (1 + snr)
    means = 0.3 * rng.standard_normal(20_000)                           # image means, variance 0.09
    x0 = means[:, None] + 0.5 * rng.standard_normal((20_000, n))
    x0 -= x0.mean(axis=1, keepdims=True) - means[:, None]               # make the image mean exactly `means`
    noise = rng.standard_normal((20_000, n)) + c * rng.standard_normal((20_000, 1))
    xt = np.sqrt(ab) * x0 + np.sqrt(1 - ab) * noise
    noise_var = np.var(xt.mean(axis=1) - np.sqrt(ab) * means)
    mc = ab * 0.09 / noise_var
    assert abs(mc / Q.mean_component_snr(snr, n, 0.09, c) - 1) < 0.03
    assert Q.mean_component_snr(0.0, n, 0.09, c) == 0.0
    np.testing.assert_allclose(Q.mean_component_snr(snr, n, 1.0, 0.0), n * snr, rtol=1e-15)


@pytest.mark.parametrize("call, message", [
    (lambda: S.laplace_log_snr([0.5], b=0.0), "b must lie"),
    (lambda: S.laplace_log_snr([1.5]), "t must lie"),
    (lambda: S.interpolated_cosine_log_snr([0.5], 256, 256, 32), "noise_d_low must be <="),
    (lambda: S.interpolated_cosine_log_snr([0.5], d=-1), "d must lie"),
    (lambda: S.get_schedule("laplace", 10, b=-1.0), "b must lie"),
    (lambda: W.LaplaceLogSNR(b=0.0), "b must lie"),
    (lambda: W.sd3_shifted_logit_normal(shift=0.0), "shift must lie"),
    (lambda: Q.mean_component_snr([-1.0], 16), "snr must be >= 0"),
    (lambda: Q.mean_component_snr([1.0], 0), "n must be an integer"),
    (lambda: Q.mean_component_snr([1.0], 16, offset=-0.1), "offset must lie"),
])
def test_bad_input_is_refused(call, message):
    with pytest.raises(ValueError, match=message):
        call()
