"""Bits per dimension from the variational bound (VLB) of a discrete-time diffusion model.

The negative log-likelihood of 8-bit data is bounded by (Ho et al. 2020, eq. 5 and §3.3):

    −log p(x₀) ≤ L_T + Σ_{t=2}^{T} L_{t−1} + L_0,
    L_T     = KL(q(x_T | x₀) ‖ N(0, I)),                                 the prior term,
    L_{t−1} = E_q KL(q(x_{t−1} | x_t, x₀) ‖ p_θ(x_{t−1} | x_t)),          t = 2 … T,
    L_0     = −log p_θ(x₀ | x₁),  a Gaussian discretised to the 256 bins of [−1, 1] (eq. 13).

p_θ(x_{t−1} | x_t) = N(μ̃_t(x̂₀, x_t), σ_t² I) with the model's x̂₀ and a fixed variance: σ² = β̃
(improved-diffusion's "fixed small", log β̃_2 at t = 1) or σ² = β ("fixed large", β̃_2 at t = 1); these
are the two choices of the chapter "The loss and the VLB weight". Bits per dimension divide the bound by
D·log 2 (Nichol & Dhariwal 2021, §2, who report it on CIFAR-10; their ``calc_bpd_loop``). The data must be
scaled to [−1, 1] as 8-bit images are (k/127.5 − 1); the discretised decoder assumes that grid.

:func:`bits_per_dim` evaluates every term at every t (exact up to the draw of x_t), or an unbiased
stratified estimate from ``num_t`` of them. A zero-terminal-SNR schedule has L_T = 0 exactly; there an
ε-prediction model gives no x̂₀ at t = T and is refused (use v or x₀; chapter "The endpoints and sampling").
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from . import _validate as check
from .process import PREDICTIONS, Process

__all__ = ["VARIANCES", "BitsPerDim", "normal_kl", "discretized_gaussian_log_likelihood", "vlb_terms",
           "prior_bits_per_dim", "bits_per_dim", "run_bits_per_dim"]

#: Fixed reverse variances: β̃ (improved-diffusion "fixedsmall") and β ("fixedlarge").
VARIANCES = ("beta_tilde", "beta")


def normal_kl(mean1, logvar1, mean2, logvar2) -> torch.Tensor:
    """KL(N(mean1, e^logvar1) ‖ N(mean2, e^logvar2)), elementwise, in nats."""
    return 0.5 * (logvar2 - logvar1 + torch.exp(logvar1 - logvar2)
                  + (mean1 - mean2) ** 2 * torch.exp(-logvar2) - 1.0)


def _std_normal_cdf(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * (1.0 + torch.erf(x / math.sqrt(2.0)))


def discretized_gaussian_log_likelihood(x, mean, log_scale) -> torch.Tensor:
    """log P(x) under N(mean, e^{2 log_scale}) discretised to 256 bins of width 2/255 on [−1, 1].

    Ho et al. 2020, eq. 13: the bin of x is [x − 1/255, x + 1/255], with the two outer bins extended
    to −∞ (x = −1) and +∞ (x = 1), so the 256 probabilities sum to 1. ``x`` must lie on the 8-bit grid
    k/127.5 − 1. Elementwise, in nats; the tail probabilities are computed in log space.
    """
    centered = x - mean
    inv_std = torch.exp(-log_scale)
    cdf_plus = _std_normal_cdf(inv_std * (centered + 1.0 / 255.0))
    cdf_min = _std_normal_cdf(inv_std * (centered - 1.0 / 255.0))
    log_cdf_plus = torch.log(cdf_plus.clamp(min=1e-12))
    log_one_minus_cdf_min = torch.log((1.0 - cdf_min).clamp(min=1e-12))
    log_mid = torch.log((cdf_plus - cdf_min).clamp(min=1e-12))
    return torch.where(x < -0.999, log_cdf_plus, torch.where(x > 0.999, log_one_minus_cdf_min, log_mid))


def _check_model_inputs(x0, process, prediction, variance):
    if not isinstance(process, Process):
        raise ValueError(f"process must be a sched_lib.process.Process, got {type(process).__name__}")
    check.choice(prediction, "prediction", PREDICTIONS)
    check.choice(variance, "variance", VARIANCES)
    if not isinstance(x0, torch.Tensor) or not x0.dtype.is_floating_point or x0.ndim < 2:
        raise ValueError("x0 must be a floating-point torch tensor of shape (N, ...) with N >= 1")
    if not bool(torch.isfinite(x0).all()) or float(x0.abs().max()) > 1.0 + 1e-6:
        raise ValueError("x0 must be finite and scaled to [-1, 1] (8-bit images as k/127.5 - 1)")
    codes = (x0.double() + 1.0) * 127.5
    if float((codes - codes.round()).abs().max()) > 1e-3:
        raise ValueError("x0 must lie on the 8-bit grid k/127.5 - 1: bits/dim is defined for discrete data")


def _model_log_variance(process: Process, t: torch.Tensor, like: torch.Tensor, variance: str) -> torch.Tensor:
    if variance == "beta_tilde":
        return process.coef("posterior_log_variance_clipped", t, like)
    # improved-diffusion "fixedlarge": log β_t, with β̃_2 in place of β_1 (a better decoder variance).
    log_beta = torch.log(torch.tensor(process.q.betas, dtype=torch.float64, device=process.device))
    log_beta[0] = float(process.q.posterior_log_variance_clipped[1])
    return log_beta.index_select(0, t).to(like).reshape((-1,) + (1,) * (like.ndim - 1))


def vlb_terms(model_fn, x0: torch.Tensor, t: torch.Tensor, process: Process, *, prediction: str = "eps",
              variance: str = "beta_tilde", generator: torch.Generator | None = None) -> torch.Tensor:
    """The VLB term at 0-indexed step ``t`` of each image, in bits per dimension, shape (N,).

    For index k ≥ 1 (step t = k + 1 ≥ 2): KL(q(x_{t−1} | x_t, x₀) ‖ p_θ(x_{t−1} | x_t)) with
    x_t ~ q(x_t | x₀); for k = 0: the discretised decoder NLL −log p_θ(x₀ | x₁) (Ho et al. 2020, eq. 5
    and 13). ``model_fn(x_t, t_index)`` returns the prediction in frame ``prediction``, as for
    :func:`sched_lib.samplers.sample`. Runs under ``torch.no_grad()``.
    """
    _check_model_inputs(x0, process, prediction, variance)
    return _vlb_terms(model_fn, x0, process.check_t(t, x0.shape[0]), process, prediction, variance, generator)


def _vlb_terms(model_fn, x0, t, process, prediction, variance, generator) -> torch.Tensor:
    """:func:`vlb_terms` on validated inputs (the loop of :func:`bits_per_dim` validates once, not T times)."""
    with torch.no_grad():
        eps = torch.randn(x0.shape, generator=generator, device=x0.device, dtype=x0.dtype)
        xt = process.q_sample(x0, t, eps)
        x0_hat = process.predict_x0(xt, t, model_fn(xt, t), prediction)
        true_mean, _, true_log_var = process.q_posterior(x0, xt, t)
        model_mean, _, _ = process.q_posterior(x0_hat, xt, t)
        model_log_var = _model_log_variance(process, t, x0, variance).expand_as(x0)
        dims = tuple(range(1, x0.ndim))
        kl = normal_kl(true_mean, true_log_var, model_mean, model_log_var).mean(dim=dims)
        decoder = -discretized_gaussian_log_likelihood(x0, model_mean, 0.5 * model_log_var).mean(dim=dims)
        return torch.where(t == 0, decoder, kl) / math.log(2.0)


def prior_bits_per_dim(x0: torch.Tensor, process: Process) -> torch.Tensor:
    """L_T = KL(q(x_T | x₀) ‖ N(0, I)) per image, in bits per dimension (float64); 0 for zero terminal SNR."""
    x0 = x0.double()  # 1 − ᾱ_T rounds to 1 in float32 for most schedules
    t = torch.full((x0.shape[0],), process.T - 1, dtype=torch.long, device=x0.device)
    mean = process.coef("sqrt_alpha_bar", t, x0) * x0
    log_var = torch.log(1.0 - process.coef("alpha_bar", t, x0)).expand_as(x0)
    kl = normal_kl(mean, log_var, torch.zeros_like(x0), torch.zeros_like(x0))
    return kl.mean(dim=tuple(range(1, x0.ndim))) / math.log(2.0)


@dataclass(frozen=True)
class BitsPerDim:
    """The bound in bits per dimension: ``total`` = ``prior`` + ``decoder`` + ``diffusion``, each the mean
    over images; ``per_image`` (N,) totals; ``terms`` (T,) the mean term at each 0-indexed step (NaN
    where a stratified estimate drew none); ``num_t`` the KL terms evaluated per image (T − 1 for all)."""

    total: float
    prior: float
    decoder: float
    diffusion: float
    per_image: np.ndarray
    terms: np.ndarray
    num_t: int


def bits_per_dim(model_fn, x0: torch.Tensor, process: Process, *, prediction: str = "eps",
                 variance: str = "beta_tilde", num_t: int | None = None, generator: torch.Generator | None = None,
                 progress: bool = False) -> BitsPerDim:
    """Bits per dimension of 8-bit images ``x0`` (in [−1, 1]) under the model's VLB (see the module docstring).

    ``num_t=None`` evaluates all T terms for every image (improved-diffusion's ``calc_bpd_loop``). With
    ``num_t = m`` (1 ≤ m ≤ T − 1) the KL terms (0-indexed steps 1 … T−1) are split into m strata of
    consecutive steps, one step is drawn uniformly in each stratum (per image) and counted (stratum size)
    times: an unbiased estimate of their sum, with less variance than m independent draws. The prior and
    the decoder term are always computed exactly. For a poorly trained model the terms at small t are
    large and dominate, so a stratified estimate is noisy: report ``num_t`` beside the number.
    ``model_fn`` is as for :func:`vlb_terms`.
    """
    from tqdm.auto import tqdm

    _check_model_inputs(x0, process, prediction, variance)
    T = process.T
    if num_t is None:
        plan = [(k, k + 1) for k in range(T)]
    else:
        num_t = check.num_steps(num_t, "num_t")
        if num_t > T - 1:
            raise ValueError(f"num_t must be at most T - 1 = {T - 1} (or None for all T terms), got {num_t}")
        edges = np.round(np.linspace(1, T, num_t + 1)).astype(np.int64)
        plan = [(0, 1)] + [(int(lo), int(hi)) for lo, hi in zip(edges[:-1], edges[1:])]
    n, device = x0.shape[0], x0.device
    prior = prior_bits_per_dim(x0, process).double()
    per_image = prior.clone()
    sums, counts = np.zeros(T), np.zeros(T)
    decoder = diffusion = 0.0
    for lo, hi in tqdm(plan, desc="bits/dim", disable=not progress, leave=False):
        t = torch.randint(lo, hi, (n,), generator=generator, device=device)
        term = _vlb_terms(model_fn, x0, t, process, prediction, variance, generator).double()
        per_image += (hi - lo) * term
        if lo == 0:
            decoder = float(term.mean())
        else:
            diffusion += (hi - lo) * float(term.mean())
        np.add.at(sums, t.cpu().numpy(), term.cpu().numpy())
        np.add.at(counts, t.cpu().numpy(), 1.0)
    if not bool(torch.isfinite(per_image).all()):
        raise FloatingPointError("bits/dim is not finite: the model produced NaN or inf predictions")
    with np.errstate(invalid="ignore"):
        terms = sums / counts
    return BitsPerDim(total=float(per_image.mean()), prior=float(prior.mean()), decoder=decoder,
                      diffusion=diffusion, per_image=per_image.cpu().numpy(), terms=terms,
                      num_t=len(plan) - 1)


def run_bits_per_dim(run_dir, *, num: int = 256, split: str = "test", num_t: int | None = None,
                     variance: str = "beta_tilde", seed: int = 0, weights: str = "ema", device=None,
                     progress: bool = False) -> BitsPerDim:
    """:func:`bits_per_dim` of a :mod:`sched_lib.train` run on the first ``num`` images of a CIFAR-10 split.

    The test split by default (held out from training); ``$SCHED_LIB_DATA`` says where the data are. The
    model runs in float32 on all ``num`` images at once (mind memory on large models); the full loop costs T
    forward passes, so on a CPU pass ``num_t`` (e.g. 50). Only 32×32 runs: an upsampled run's data are no
    longer the 8-bit images whose likelihood bits/dim measures.
    """
    from .data import load_cifar10, to_tensor
    from .train import load_run

    num = check.num_steps(num, "num")
    seed = check.num_steps(seed, "seed", minimum=0)
    run = load_run(run_dir, weights=weights, device=device)
    if run.config.net.image_size != 32:
        raise ValueError(f"bits/dim is defined here for 32×32 runs; {run_dir} trains at "
                         f"{run.config.net.image_size}×{run.config.net.image_size}")
    images = load_cifar10(split).images
    if num > len(images):
        raise ValueError(f"num must be at most {len(images):,} (the {split} split), got {num:,}")
    process = run.process
    x0 = to_tensor(images[:num]).to(device=process.device)
    generator = torch.Generator(device=process.device).manual_seed(seed)
    return bits_per_dim(run.model, x0, process, prediction=run.config.prediction, variance=variance,
                        num_t=num_t, generator=generator, progress=progress)
