"""Parity with reference implementations, each test naming its source.

diffusers is imported (a test dependency) and computes in float32, so those comparisons use float32
tolerances or feed it float64 tensors where its functions accept them. improved-diffusion, Chen 2023,
k-diffusion and simple diffusion are re-typed here from their published formulas (the source file or
the paper's algorithm is named in each test) and compared in float64.
"""

import math

import numpy as np
import pytest
import torch

from sched_lib import samplers, schedules as S
from sched_lib.quantities import get_schedule_quantities

diffusers = pytest.importorskip("diffusers")
from diffusers import DDIMScheduler, DDPMScheduler  # noqa: E402
from diffusers.schedulers.scheduling_ddim import rescale_zero_terminal_snr as hf_rescale  # noqa: E402

FLOAT32 = dict(rtol=2e-6, atol=0)


@pytest.mark.parametrize("ours, hf_name, kwargs", [
    ("linear", "linear", {}),
    ("scaled_linear", "scaled_linear", dict(beta_start=0.00085, beta_end=0.012)),
    ("cosine", "squaredcos_cap_v2", {}),
    ("beta_sigmoid", "sigmoid", {}),
])
@pytest.mark.parametrize("T", [10, 1000])
def test_betas_match_diffusers(ours, hf_name, kwargs, T):
    # huggingface/diffusers src/diffusers/schedulers/scheduling_ddpm.py, DDPMScheduler.__init__ (float32).
    hf = DDPMScheduler(num_train_timesteps=T, beta_schedule=hf_name, **kwargs)
    np.testing.assert_allclose(S.get_schedule(ours, T).betas, hf.betas.double().numpy(), **FLOAT32)


def test_rescale_matches_diffusers_in_float64():
    # diffusers scheduling_ddim.rescale_zero_terminal_snr (Lin et al. Alg. 1), fed float64 tensors.
    for name in ("linear", "scaled_linear", "cosine"):
        betas = S.get_schedule(name, 1000).betas
        ref = hf_rescale(torch.tensor(betas, dtype=torch.float64)).numpy()
        ours = S.rescale_zero_terminal_snr(betas)
        np.testing.assert_allclose(ours[:-1], ref[:-1], rtol=1e-10)
        assert ours[-1] == 1.0 and abs(ref[-1] - 1.0) < 1e-12


@pytest.mark.parametrize("spacing", ["leading", "trailing", "linspace"])
@pytest.mark.parametrize("T, N", [(1000, 1), (1000, 3), (1000, 10), (1000, 50), (1000, 61), (1000, 103),
                                  (1000, 999), (1000, 1000), (50, 7), (4000, 250), (10, 10)])
def test_timesteps_match_diffusers(spacing, T, N):
    # diffusers DDIMScheduler.set_timesteps (Lin et al. 2024 Table 2 spacings).
    for offset in ((0, 1) if spacing == "leading" and N < T else (0,)):
        hf = DDIMScheduler(num_train_timesteps=T, timestep_spacing=spacing, steps_offset=offset)
        hf.set_timesteps(N)
        ref = hf.timesteps.numpy()
        if ref.size == N + 1:  # diffusers' float arange overshoots by the invalid step -1; we stop at N
            assert spacing == "trailing" and ref[-1] == -1
            ref = ref[:N]
        np.testing.assert_array_equal(samplers.timesteps(T, N, spacing, steps_offset=offset), ref)


def test_karras_matches_diffusers_and_k_diffusion():
    # diffusers EulerDiscreteScheduler._convert_to_karras; k-diffusion sampling.get_sigmas_karras
    # (crowsonkb/k-diffusion k_diffusion/sampling.py): (max^(1/ρ) + r(min^(1/ρ) − max^(1/ρ)))^ρ, then 0.
    from diffusers import EulerDiscreteScheduler

    hf = EulerDiscreteScheduler()
    for n, lo, hi, rho in [(10, 0.002, 80.0, 7.0), (35, 0.0292, 14.6, 7.0), (2, 0.1, 10.0, 3.0)]:
        in_sigmas = torch.tensor([hi, lo], dtype=torch.float64)
        ours = samplers.karras_sigmas(n, lo, hi, rho, append_zero=False)
        if rho == 7.0:  # diffusers hard-codes ρ = 7
            np.testing.assert_allclose(ours, hf._convert_to_karras(in_sigmas, n), rtol=1e-12)
        r = torch.linspace(0, 1, n, dtype=torch.float64)
        kd = (hi ** (1 / rho) + r * (lo ** (1 / rho) - hi ** (1 / rho))) ** rho
        kd = torch.cat([kd, kd.new_zeros([1])]).numpy()
        np.testing.assert_allclose(samplers.karras_sigmas(n, lo, hi, rho), kd, rtol=1e-12)


def _improved_diffusion_betas_for_alpha_bar(T, alpha_bar, max_beta=0.999):
    # openai/improved-diffusion improved_diffusion/gaussian_diffusion.py, betas_for_alpha_bar.
    betas = []
    for i in range(T):
        t1, t2 = i / T, (i + 1) / T
        betas.append(min(1 - alpha_bar(t2) / alpha_bar(t1), max_beta))
    return np.array(betas)


@pytest.mark.parametrize("T", [1, 50, 1000, 4000])
def test_cosine_and_linear_match_improved_diffusion(T):
    # improved-diffusion get_named_beta_schedule("cosine") and ("linear") with its 1000/T scaling.
    ref = _improved_diffusion_betas_for_alpha_bar(
        T, lambda t: math.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2)
    ours = S.get_schedule("cosine", T).betas
    np.testing.assert_allclose(ours, ref, rtol=1e-9)
    if T >= 20:  # β_max·1000/T must stay ≤ 1
        scale = 1000 / T
        ref = np.linspace(scale * 0.0001, scale * 0.02, T, dtype=np.float64)
        np.testing.assert_allclose(S.get_schedule("linear", T, scale_to_T=True).betas, ref, rtol=1e-12)


def test_posterior_log_variance_matches_improved_diffusion():
    # improved-diffusion GaussianDiffusion.__init__: posterior_variance and posterior_log_variance_clipped
    # = log(append(posterior_variance[1], posterior_variance[1:])), and the posterior mean coefficients.
    betas = S.get_schedule("linear", 1000).betas
    alphas_cumprod = np.cumprod(1.0 - betas, axis=0)
    prev = np.append(1.0, alphas_cumprod[:-1])
    pv = betas * (1.0 - prev) / (1.0 - alphas_cumprod)
    q = get_schedule_quantities(betas)
    np.testing.assert_allclose(q.posterior_variance, pv, rtol=1e-9)
    np.testing.assert_allclose(q.posterior_log_variance_clipped, np.log(np.append(pv[1], pv[1:])), rtol=1e-9)
    np.testing.assert_allclose(q.posterior_mean_coef1, betas * np.sqrt(prev) / (1.0 - alphas_cumprod), rtol=1e-9)
    np.testing.assert_allclose(q.posterior_mean_coef2, (1.0 - prev) * np.sqrt(1.0 - betas) / (1.0 - alphas_cumprod),
                               rtol=1e-9)
    np.testing.assert_allclose(q.sqrt_recipm1_alpha_bar, np.sqrt(1.0 / alphas_cumprod - 1), rtol=1e-9)


def _chen_sigmoid(t, start=-3, end=3, tau=1.0, clip_min=1e-9):
    # Chen 2023 (arXiv:2301.10972), Algorithm 1, sigmoid_schedule, scalar math as printed.
    sig = lambda x: 1 / (1 + math.exp(-x))  # noqa: E731
    v_start, v_end = sig(start / tau), sig(end / tau)
    output = sig((t * (end - start) + start) / tau)
    return min(max((v_end - output) / (v_end - v_start), clip_min), 1.0)


def _chen_cosine(t, start=0, end=1, tau=1, clip_min=1e-9):
    # Chen 2023, Algorithm 1, cosine_schedule, scalar math as printed.
    v_start = math.cos(start * math.pi / 2) ** (2 * tau)
    v_end = math.cos(end * math.pi / 2) ** (2 * tau)
    output = math.cos((t * (end - start) + start) * math.pi / 2) ** (2 * tau)
    return min(max((v_end - output) / (v_end - v_start), clip_min), 1.0)


@pytest.mark.parametrize("params", [{}, dict(start=0, end=3, tau=0.3), dict(start=-3, end=3, tau=1.1),
                                    dict(start=0, end=3, tau=0.7)])
def test_chen_sigmoid_matches_algorithm_1(params):
    t = np.linspace(0, 1, 1001)
    ref = np.array([_chen_sigmoid(x, **params) for x in t])
    np.testing.assert_allclose(S.chen_sigmoid_alpha_bar(t, **params), ref, rtol=1e-10)
    # The discrete chain: lucidrains sigmoid_beta_schedule (ᾱ_t/ᾱ_{t−1}, clip 0.999), with Chen's clip 1e-9.
    T = 1000
    ref_b = np.minimum(1 - ref[1:] / ref[:-1], 0.999)
    np.testing.assert_allclose(S.get_schedule("chen_sigmoid", T, **params).betas, ref_b, rtol=1e-9)


@pytest.mark.parametrize("params", [{}, dict(start=0.2, end=1, tau=1), dict(start=0.2, end=1, tau=2),
                                    dict(start=0.1, end=0.9, tau=0.5)])
def test_chen_cosine_matches_algorithm_1(params):
    t = np.linspace(0, 1, 1001)
    ref = np.array([_chen_cosine(x, **params) for x in t])
    np.testing.assert_allclose(S.chen_cosine_alpha_bar(t, **params), ref, rtol=1e-10)


@pytest.mark.parametrize("d", [32, 64, 128, 256, 512])
def test_shifted_cosine_matches_simple_diffusion(d):
    # Hoogeboom et al. 2023 (simple diffusion), logsnr_schedule_cosine and logsnr_schedule_cosine_shifted:
    # -2 log tan(t_min + t (t_max - t_min)) + 2 log(64 / d), logsnr_min = -15, logsnr_max = 15.
    t = torch.linspace(0, 1, 1001, dtype=torch.float64)
    t_min, t_max = math.atan(math.exp(-0.5 * 15)), math.atan(math.exp(-0.5 * -15))
    ref = (-2 * torch.log(torch.tan(t_min + t * (t_max - t_min))) + 2 * math.log(64 / d)).numpy()
    np.testing.assert_allclose(S.shifted_cosine_log_snr(t.numpy(), d=d), ref, rtol=1e-12, atol=1e-12)


def test_ddpm_linear_terminal_snr_matches_lin_et_al_table_1():
    # Lin et al. 2024, Table 1: SNR_T and √ᾱ_T for SD's scaled_linear, DDPM linear and iDDPM cosine.
    for name, snr_T, root in [("linear", 4.035993e-05, 0.006353), ("cosine", 2.428735e-09, 4.928220e-05),
                              ("scaled_linear", 0.004682, 0.068265)]:
        q = get_schedule_quantities(S.get_schedule(name, 1000))
        np.testing.assert_allclose(q.snr[-1], snr_T, rtol=5e-4)
        np.testing.assert_allclose(q.sqrt_alpha_bar[-1], root, rtol=5e-4)


@pytest.mark.parametrize("shift", [0.5, 1.0, 3.0, 7.5])
def test_sd3_time_shift_matches_diffusers_flow_match(shift):
    # diffusers FlowMatchEulerDiscreteScheduler.__init__: sigmas = shift * s / (1 + (shift - 1) * s), float32.
    from diffusers import FlowMatchEulerDiscreteScheduler

    base = FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=1.0).sigmas.double().numpy()
    hf = FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=shift).sigmas.double().numpy()
    np.testing.assert_allclose(S.sd3_time_shift(base, shift), hf, **FLOAT32)
