"""Sampling grids: which noise levels a sampler visits (solvers arrive with the lab engine).

The *sampling grid* is a different object from the *training density* (``sched_lib.weighting``): a
model is trained on noise levels drawn from p(t) and later sampled on a short list of levels. Chapter
"The endpoints and sampling".
"""

from __future__ import annotations

import numpy as np

from . import _validate as check

__all__ = ["SPACINGS", "timesteps", "karras_sigmas"]

SPACINGS = ("leading", "trailing", "linspace")


def timesteps(num_train_timesteps: int, num_inference_steps: int, spacing: str = "leading",
              steps_offset: int = 0) -> np.ndarray:
    """DDIM-style timestep spacing with diffusers' exact semantics (int64, descending, 0-indexed).

    Index k here is step t = k + 1 of the 1-indexed chain. For T training steps and N sampling steps
    (Lin et al. 2024, Table 2; diffusers ``DDIMScheduler.set_timesteps``):

    * ``"linspace"``: round(linspace(0, T−1, N)), reversed;
    * ``"leading"``: arange(N)·(T // N), reversed, plus ``steps_offset`` (DDIM's original; never
      visits the last step, e.g. 900…0 for T = 1000, N = 10);
    * ``"trailing"``: round(arange(T, 0, −T/N)) − 1 (starts at the last step, 999…99). As in diffusers,
      when T/N is not exact the float ``arange`` can yield N + 1 values (T = 1000, N = 3 gives
      999, 666, 333, 0); it is reproduced, not corrected, so grids match diffusers step for step.

    ``steps_offset`` applies to ``"leading"`` only, as in diffusers (Stable Diffusion uses 1).
    """
    T = check.num_steps(num_train_timesteps, "num_train_timesteps")
    N = check.num_steps(num_inference_steps, "num_inference_steps")
    if N > T:
        raise ValueError(f"num_inference_steps ({N}) cannot exceed num_train_timesteps ({T})")
    check.choice(spacing, "spacing", SPACINGS)
    offset = check.num_steps(steps_offset, "steps_offset", minimum=0)
    if spacing == "linspace":
        return np.linspace(0, T - 1, N).round()[::-1].astype(np.int64)
    if spacing == "leading":
        out = (np.arange(0, N) * (T // N)).round()[::-1].astype(np.int64) + offset
        if out.max() > T - 1:
            raise ValueError(f"steps_offset={offset} pushes the grid past the last step {T - 1}")
        return out
    return np.round(np.arange(T, 0, -T / N)).astype(np.int64) - 1


def karras_sigmas(n: int, sigma_min: float = 0.002, sigma_max: float = 80.0, rho: float = 7.0,
                  append_zero: bool = True) -> np.ndarray:
    """The Karras et al. (2022) σ grid, eq. 5: σ_i = (σ_max^{1/ρ} + i/(n−1)·(σ_min^{1/ρ} − σ_max^{1/ρ}))^ρ.

    n levels from σ_max down to σ_min (float64), then a final 0 when ``append_zero`` (as k-diffusion's
    ``get_sigmas_karras`` does). ρ = 7 and σ ∈ [0.002, 80] are EDM's defaults. Chapter "The endpoints and
    sampling".
    """
    n = check.num_steps(n, "n")
    sigma_min = check.real(sigma_min, "sigma_min", low=0, low_open=True)
    sigma_max = check.real(sigma_max, "sigma_max", low=0, low_open=True)
    if sigma_max < sigma_min:
        raise ValueError(f"sigma_max must be >= sigma_min, got {sigma_max:g} < {sigma_min:g}")
    rho = check.real(rho, "rho", low=0, low_open=True)
    ramp = np.linspace(0.0, 1.0, n)
    lo, hi = sigma_min ** (1 / rho), sigma_max ** (1 / rho)
    sigmas = (hi + ramp * (lo - hi)) ** rho
    return np.append(sigmas, 0.0) if check.flag(append_zero, "append_zero") else sigmas
