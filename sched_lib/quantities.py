"""Everything derived from a discrete schedule: the seed's ``get_schedule_quantities``, corrected.

Corrections against the seed (chapter "SNR and log-SNR", seed errata rows 3, 12 and 28):

* SNR and log-SNR are exact at both ends: 1 − ᾱ_t is computed as −expm1(Σ log(1−β_s)), so SNR_1 keeps
  full precision when β_1 is tiny, and a zero-terminal-SNR chain (β_T = 1) gives SNR_T = 0 and
  λ_T = −inf exactly, never NaN.
* The posterior log-variance is improved-diffusion's ``posterior_log_variance_clipped``
  (log of [β̃_2, β̃_2, β̃_3, …]), not log(clamp(β̃, 1e-20)) = −46 at t = 1.

Arrays are float64, read-only, and index 0 is step t = 1 (as in improved-diffusion).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from .schedules import Schedule, validate_betas

__all__ = ["ScheduleQuantities", "get_schedule_quantities"]


@dataclass(frozen=True)
class ScheduleQuantities:
    """Per-step quantities of a β chain (each a read-only float64 array of shape (T,), index 0 is t = 1).

    Ho et al. 2020 (DDPM) eq. 4 and 6-7; Nichol & Dhariwal 2021 for the clipped posterior log-variance;
    Kingma et al. 2021 (VDM) for SNR and λ. Entries that are mathematically infinite stay infinite
    (for example ``sigma`` and ``sqrt_recip_alpha_bar`` at t = T when ᾱ_T = 0); none is NaN.
    """

    betas: np.ndarray                           #: β_t
    alphas: np.ndarray                          #: α_t = 1 − β_t
    alpha_bar: np.ndarray                       #: ᾱ_t = ∏_{s≤t} α_s
    alpha_bar_prev: np.ndarray                  #: ᾱ_{t−1}, with ᾱ_0 = 1
    one_minus_alpha_bar: np.ndarray             #: 1 − ᾱ_t, accurate for tiny β
    sqrt_alpha_bar: np.ndarray                  #: √ᾱ_t, the signal coefficient in x_t
    sqrt_one_minus_alpha_bar: np.ndarray        #: √(1 − ᾱ_t), the noise coefficient in x_t
    sqrt_recip_alpha_bar: np.ndarray            #: 1/√ᾱ_t (for x̂₀ from ε̂)
    sqrt_recipm1_alpha_bar: np.ndarray          #: √(1/ᾱ_t − 1) (for x̂₀ from ε̂)
    sqrt_recip_alpha: np.ndarray                #: 1/√α_t (DDPM sampling mean, eq. 11)
    posterior_variance: np.ndarray              #: β̃_t = β_t(1 − ᾱ_{t−1})/(1 − ᾱ_t) (eq. 7)
    posterior_log_variance_clipped: np.ndarray  #: log β̃_t with β̃_1 replaced by β̃_2 (improved-diffusion)
    posterior_mean_coef1: np.ndarray            #: coefficient of x₀ in μ̃_t: β_t√ᾱ_{t−1}/(1 − ᾱ_t) (eq. 7)
    posterior_mean_coef2: np.ndarray            #: coefficient of x_t in μ̃_t: √α_t(1 − ᾱ_{t−1})/(1 − ᾱ_t)
    snr: np.ndarray                             #: SNR_t = ᾱ_t/(1 − ᾱ_t)
    log_snr: np.ndarray                         #: λ_t = log SNR_t
    sigma: np.ndarray                           #: σ_t = √((1 − ᾱ_t)/ᾱ_t) = SNR_t^(−1/2), the VE/EDM noise level

    @property
    def T(self) -> int:
        """Number of steps."""
        return int(self.betas.size)


def get_schedule_quantities(schedule) -> ScheduleQuantities:
    """Compute :class:`ScheduleQuantities` from a :class:`~sched_lib.schedules.Schedule` or a β array.

    The β chain is validated first (0 < β_t ≤ 1, β_t = 1 only at t = T). Chapter "SNR and log-SNR".
    """
    betas = schedule.betas if isinstance(schedule, Schedule) else validate_betas(schedule)
    alphas = 1.0 - betas
    with np.errstate(divide="ignore"):
        log_alpha_bar = np.cumsum(np.log1p(-betas))        # −inf after a β = 1
        alpha_bar = np.cumprod(alphas)
        one_minus = -np.expm1(log_alpha_bar)                # exact 1 − ᾱ, also for tiny β
        one_minus_prev = np.concatenate([[0.0], one_minus[:-1]])
        alpha_bar_prev = np.concatenate([[1.0], alpha_bar[:-1]])
        log_snr = log_alpha_bar - np.log(one_minus)
        snr = alpha_bar / one_minus
        posterior_variance = betas * one_minus_prev / one_minus
        clipped = np.concatenate([posterior_variance[1:2], posterior_variance[1:]])
        # T = 1 has no second step to borrow from: the posterior is a point mass (log-variance −inf).
        posterior_log_variance_clipped = np.log(clipped if betas.size > 1 else posterior_variance)
        values = dict(
            betas=betas,
            alphas=alphas,
            alpha_bar=alpha_bar,
            alpha_bar_prev=alpha_bar_prev,
            one_minus_alpha_bar=one_minus,
            sqrt_alpha_bar=np.sqrt(alpha_bar),
            sqrt_one_minus_alpha_bar=np.sqrt(one_minus),
            sqrt_recip_alpha_bar=1.0 / np.sqrt(alpha_bar),
            sqrt_recipm1_alpha_bar=np.sqrt(one_minus / alpha_bar),
            sqrt_recip_alpha=1.0 / np.sqrt(alphas),
            posterior_variance=posterior_variance,
            posterior_log_variance_clipped=posterior_log_variance_clipped,
            posterior_mean_coef1=betas * np.sqrt(alpha_bar_prev) / one_minus,
            posterior_mean_coef2=np.sqrt(alphas) * one_minus_prev / one_minus,
            snr=snr,
            log_snr=log_snr,
            sigma=np.sqrt(one_minus / alpha_bar),
        )
    for name, value in values.items():
        if np.isnan(value).any():  # a bug, not bad input: the chain was validated above
            raise FloatingPointError(f"{name} contains NaN; please report this schedule")
        value = np.array(value, dtype=np.float64)
        value.flags.writeable = False
        values[name] = value
    assert set(values) == {f.name for f in fields(ScheduleQuantities)}
    return ScheduleQuantities(**values)


def mean_component_snr(snr, n: int, mean_variance: float = 1.0, offset: float = 0.0) -> np.ndarray:
    """SNR of the per-image, per-channel mean of x_t, with or without offset noise (Guttenberg 2023).

    With ε' = ε + c·δ, δ ∼ N(0, 1) one value per image and channel (offset noise, c = ``offset``), the
    mean over n pixels of x_t = √ᾱ x₀ + √(1−ᾱ) ε' has signal variance ᾱ·m² (m² = ``mean_variance``, the
    variance of the data's image means) and noise variance (1−ᾱ)(1/n + c²). So its SNR is
    SNR·m²/(1/n + c²): averaging makes the mean n times more visible than a pixel, and offset noise
    divides that by 1 + n c². SNR = 0 (zero terminal SNR, Lin et al. 2024) gives 0 for any c.
    Chapter "More Schedules".
    """
    from . import _validate as check

    s = check.array(snr, "snr", allow_inf=True)
    if (s < 0).any():
        raise ValueError("snr must be >= 0")
    n = check.num_steps(n, "n")
    m2 = check.real(mean_variance, "mean_variance", low=0)
    c = check.real(offset, "offset", low=0)
    return s * m2 / (1.0 / n + c * c)


__all__ += ["mean_component_snr"]
