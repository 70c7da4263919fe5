"""Weighted diffusion losses as ELBOs of noise-augmented data, and the densities that adapt to the loss.

Chapter "Every Weighting Is an ELBO". The weighted loss of Kingma & Gao (2023, section "Diffusion model
objectives") in the ε frame is

    L_w(x) = ½ ∫ w(λ) ℓ(λ; x) dλ,     ℓ(λ; x) = E_ε ‖ε − ε̂(z_λ; λ)‖²,

and their main result (section "The weighted loss as the ELBO with data augmentation") is the
integration by parts

    L_w(x) = ∫ (−dw/dλ) L(λ; x) dλ + w(λ_max) L(λ_max; x),     L(λ; x) = ½ ∫_{λ_min}^{λ} ℓ(λ'; x) dλ',

where L(λ; x) is the diffusion part of the negative ELBO of z_λ, the data augmented with noise at level λ.
For Gaussian data and the optimal denoiser both sides are closed forms, computed here without any
quadrature of each other:

* :func:`gaussian_eps_mse` gives ℓ(λ; x) exactly (the error of the optimal ε-predictor, per data point);
* :func:`gaussian_augmented_kl` gives KL(q(z_λ|x) ‖ q(z_λ)), which for the exact model is the whole
  negative ELBO of z_λ less its model-free entropy term, so L(λ; x) = KL_λ − KL_{λ_min}. Its λ-derivative
  is ½ ℓ(λ; x) (the pointwise I-MMSE relation of Guo, Shamai & Verdú 2005);
* :func:`gaussian_loss_second_moment` gives E[ℓ²], which sets the variance-minimising training density
  that VDM's learned schedule aims at (Kingma et al. 2021, §5: the ELBO depends on the schedule only
  through its endpoints, eq. 17, so its interior is trained to lower the estimator's variance), next to
  Kingma & Gao's adaptive noise schedule (2023);
* :func:`edm2_optimal_log_variance` gives the minimiser u*(λ) of EDM2's uncertainty-weighted loss
  (Karras et al. 2024, eq. 21).

Conventions: λ = log SNR, ᾱ = sigmoid(λ), z_λ = √ᾱ x + √(1−ᾱ) ε (variance preserving). Squared errors are
summed over the D data dimensions. float64 throughout; λ must be finite.
"""

from __future__ import annotations

import numpy as np

from . import _validate as check
from .gaussian import GaussianData

__all__ = [
    "gaussian_eps_mse",
    "gaussian_x0_mse",
    "gaussian_augmented_kl",
    "gaussian_loss_second_moment",
    "edm2_optimal_log_variance",
]


def _data(data) -> GaussianData:
    if not isinstance(data, GaussianData):
        raise ValueError(f"data must be a sched_lib.gaussian.GaussianData, got {type(data).__name__}")
    if (data.eigvals <= 0).any():
        raise ValueError("data must have strictly positive eigvals (a degenerate direction has no ELBO)")
    return data


def _log_snr(log_snr) -> np.ndarray:
    return check.array(log_snr, "log_snr")  # finite: λ = ±inf are the endpoints, never a noise level here


def _centred(data: GaussianData, x0):
    """x0 − μ in the eigenbasis, shape (N, D), or None for the average over the data."""
    if x0 is None:
        return None
    x = check.array(x0, "x0")
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2 or x.shape[1] != data.dim:
        raise ValueError(f"x0 must have shape (N, {data.dim}) or ({data.dim},), got {np.shape(x0)}")
    return data.to_eigenbasis(x) - data.mean_eig


def _terms(data, lam, x0):
    """Per-dimension pieces in overflow-free form, shapes (L, D) (and (N, 1, D) for (x0 − μ)², or None).

    With u = λ + log s² and sp = log(1 + e^u) = log(1 + q): r = 1/(1 + q) = e^(−sp), 1 − r = e^(u − sp)
    and SNR·r² = e^(λ − 2 sp), each finite for any finite λ (q = s²e^λ itself overflows past λ ≈ 709).
    """
    lam = lam[..., None]
    u = lam + np.log(data.eigvals)
    sp = np.logaddexp(0.0, u)
    c = _centred(data, x0)
    return lam, sp, np.exp(u - sp), (None if c is None else (c ** 2)[:, None, :])


def gaussian_eps_mse(data: GaussianData, log_snr, x0=None) -> np.ndarray:
    """E_ε ‖ε − ε̂*(z_λ)‖² for the optimal (MMSE) denoiser of Gaussian data, exact, summed over dimensions.

    Per eigen-dimension with variance s² and q = s²·SNR, ε − ε̂* = (1 − r)ε − √SNR·r·(x − μ) with
    r = 1/(1 + q) (Gaussian conditioning, chapter "The endpoints and sampling"), so
    E_ε[·²] = (1 − r)² + SNR·r²·(x − μ)², whose average over x is q/(1 + q).
    Kingma & Gao 2023 (the ε-MSE inside their weighted loss). Chapter "Every Weighting Is an ELBO".

    Args:
        data: the Gaussian data (all eigenvalues > 0).
        log_snr: finite λ values, shape (L,) (any shape is flattened).
        x0: data points (N, D) or (D,); None averages over x ∼ data.

    Returns:
        float64 array (N, L) for given x0 (a (D,) point gives (1, L)), or (L,) for x0=None.
    """
    data = _data(data)
    lam = _log_snr(log_snr).ravel()
    lam, sp, e, c2 = _terms(data, lam, x0)                     # e = 1 − r = q/(1 + q)
    if c2 is None:
        return np.sum(e, axis=-1)
    return np.sum(e ** 2 + np.exp(lam - 2.0 * sp) * c2, axis=-1)


def gaussian_x0_mse(data: GaussianData, log_snr) -> np.ndarray:
    """E‖x₀ − x̂₀*(z_λ)‖² of the optimal denoiser, averaged over the data: Σ s²/(1 + s²·SNR). Shape (L,).

    The x₀-frame error, equal to :func:`gaussian_eps_mse` / SNR by the frame rule
    (‖ε − ε̂‖² = SNR·‖x₀ − x̂₀‖², chapter "The loss and the VLB weight"). Used for EDM2's loss, which is an
    x₀-frame loss (Karras et al. 2024, eq. 21). Chapter "Every Weighting Is an ELBO".
    """
    data = _data(data)
    lam = _log_snr(log_snr).ravel()
    _, sp, _, _ = _terms(data, lam, None)
    return np.sum(data.eigvals * np.exp(-sp), axis=-1)


def gaussian_augmented_kl(data: GaussianData, log_snr, x0=None) -> np.ndarray:
    """KL(q(z_λ | x) ‖ q(z_λ)) in nats, exact: the negative ELBO of noise-augmented data for the exact model.

    q(z_λ | x) = N(√ᾱ x, (1−ᾱ)I) and q(z_λ) = N(√ᾱ μ, ᾱΣ + (1−ᾱ)I); per eigen-dimension
    KL = ½[log(1 + q) + (1 + SNR·(x − μ)²)/(1 + q) − 1] with q = s²·SNR. For the exact model
    (p(z_λ) = q(z_λ)), E_{q(z_λ|x)}[−log p(z_λ)] = KL + H(q(z_λ|x)), and the entropy H does not depend on
    the model, so L(λ; x) = KL_λ − KL_{λ_min} is the term of Kingma & Gao 2023's main
    theorem (the weighted loss as the ELBO with data augmentation). Its derivative in λ
    is ½·:func:`gaussian_eps_mse` (the I-MMSE relation). Averaged over x (x0=None) it is the mutual
    information I(x; z_λ) = Σ ½ log(1 + s²·SNR). Chapter "Every Weighting Is an ELBO".

    Returns:
        float64 array (N, L) for given x0, or (L,) for x0=None.
    """
    data = _data(data)
    lam = _log_snr(log_snr).ravel()
    lam, sp, e, c2 = _terms(data, lam, x0)                     # sp = log(1 + q), e = q/(1 + q)
    if c2 is None:
        return 0.5 * np.sum(sp, axis=-1)
    return 0.5 * np.sum(sp - e + np.exp(lam - sp) * c2, axis=-1)   # (1 + SNR c²)/(1 + q) − 1 = −e + SNR c²/(1 + q)


def gaussian_loss_second_moment(data: GaussianData, log_snr) -> np.ndarray:
    """E_{x,ε}[ℓ²] for ℓ = ‖ε − ε̂*(z_λ)‖² of the optimal denoiser: (Σ e_i)² + 2 Σ e_i², e_i = q_i/(1 + q_i).

    ε − ε̂* is Gaussian with independent coordinates of variance e_i, so ℓ = Σ e_i χ²₁. The square root
    of this moment is the variance-minimising density of λ for the ELBO estimator ℓ(λ)/(2p(λ))
    (the target of VDM's learned schedule, Kingma et al. 2021, §5; Cauchy–Schwarz as in Nichol &
    Dhariwal 2021, §3.3).
    Chapter "Every Weighting Is an ELBO". Shape (L,).
    """
    data = _data(data)
    lam = _log_snr(log_snr).ravel()
    _, _, e, _ = _terms(data, lam, None)
    return np.sum(e, axis=-1) ** 2 + 2.0 * np.sum(e ** 2, axis=-1)


def edm2_optimal_log_variance(weight, mse) -> np.ndarray:
    """The minimiser u* = log(λ(σ)·L(σ)) of EDM2's uncertainty-weighted loss, per noise level.

    Karras et al. 2024, eq. 21: L = E_σ[ λ(σ)/e^{u(σ)} · L(D; σ) + u(σ) ], with L(D; σ) the expected
    (per-element mean) squared error at σ. For each σ the integrand is convex in u with derivative
    1 − λL e^{−u}, so u* = log(λ(σ)·L(σ)) and the weighted loss at the optimum, λL/e^{u*}, is 1 at every
    noise level. ``weight`` = λ(σ) > 0 and ``mse`` = L(σ) > 0, broadcast arrays.
    Chapter "Every Weighting Is an ELBO".
    """
    w = check.array(weight, "weight")
    m = check.array(mse, "mse")
    if (w <= 0).any():
        raise ValueError("weight must be > 0 at every noise level (EDM2's lambda(sigma) is positive)")
    if (m <= 0).any():
        raise ValueError("mse must be > 0 at every noise level (u* = log(weight * mse) needs a positive loss)")
    try:
        w, m = np.broadcast_arrays(w, m)
    except ValueError:
        raise ValueError(f"weight shape {w.shape} does not broadcast against mse shape {m.shape}") from None
    return np.log(w) + np.log(m)
