"""Sampling grids (which noise levels a sampler visits) and the solvers that walk them.

The *sampling grid* is a different object from the *training density* (``sched_lib.weighting``): a
model is trained on noise levels drawn from p(t) and later sampled on a short list of levels. Chapter
"The endpoints and sampling". The solvers (DDPM, DDIM, Euler and Heun in σ, DPM-Solver++(2M) in λ) are in
the section "Solvers" below; they use torch, imported lazily so that the grid functions stay NumPy-only.
Chapter "Samplers on the log-SNR axis" derives DDIM and DPM-Solver++(2M) as exponential integrators in λ.
"""

from __future__ import annotations

import numpy as np

from . import _validate as check

__all__ = ["SPACINGS", "timesteps", "karras_sigmas", "exponential_sigmas"]

SPACINGS = ("leading", "trailing", "linspace")


def timesteps(num_train_timesteps: int, num_inference_steps: int, spacing: str = "leading",
              steps_offset: int = 0) -> np.ndarray:
    """DDIM-style timestep spacing with diffusers' exact semantics (int64, descending, 0-indexed).

    Index k here is step t = k + 1 of the 1-indexed chain. For T training steps and N sampling steps
    (Lin et al. 2024, Table 2; diffusers ``DDIMScheduler.set_timesteps``):

    * ``"linspace"``: round(linspace(0, T−1, N)), reversed;
    * ``"leading"``: arange(N)·(T // N), reversed, plus ``steps_offset`` (DDIM's original; never
      visits the last step, e.g. 900…0 for T = 1000, N = 10);
    * ``"trailing"``: round(arange(T, 0, −T/N)) − 1 (starts at the last step, 999…99). When T/N is not
      exact, diffusers' float ``arange`` can yield one value too many, and that value is the invalid
      step −1 (T = 1000, N = 61 gives 62 steps ending 15, −1; as an index, −1 silently reads the *last*
      step). Here the grid stops after N steps: the N values are diffusers' own, the −1 is dropped.

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
    return (np.round(np.arange(T, 0, -T / N)).astype(np.int64) - 1)[:N]


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


def exponential_sigmas(n: int, sigma_min: float = 0.002, sigma_max: float = 80.0,
                       append_zero: bool = True) -> np.ndarray:
    """A σ grid uniform in log σ, i.e. uniform in log-SNR λ = −2 log σ: σ_i = exp(linspace(log σ_max, log σ_min, n)).

    n levels from σ_max down to σ_min (float64), then a final 0 when ``append_zero``, as k-diffusion's
    ``get_sigmas_exponential``. It is the limit ρ → ∞ of :func:`karras_sigmas`, the step schedule
    ``skip_type="logSNR"`` of DPM-Solver's reference code (Lu et al. 2022) and diffusers'
    ``use_lu_lambdas``. Chapter "Samplers on the log-SNR axis".
    """
    n = check.num_steps(n, "n")
    sigma_min = check.real(sigma_min, "sigma_min", low=0, low_open=True)
    sigma_max = check.real(sigma_max, "sigma_max", low=0, low_open=True)
    if sigma_max < sigma_min:
        raise ValueError(f"sigma_max must be >= sigma_min, got {sigma_max:g} < {sigma_min:g}")
    sigmas = np.exp(np.linspace(np.log(sigma_max), np.log(sigma_min), n))
    return np.append(sigmas, 0.0) if check.flag(append_zero, "append_zero") else sigmas


# ==================================================================================================
# Solvers
# ==================================================================================================
#
# Every solver walks the same grid: the 0-indexed steps k_0 > k_1 > … > k_{n−1} from
# :func:`timesteps`, then the data (ᾱ = 1). A step goes from ᾱ_t = ᾱ[k_i] to ᾱ_prev = ᾱ[k_{i+1}]
# (or 1 after the last), which is improved-diffusion's *respaced chain* (``respace.py``: the visited ᾱ
# define new β' = 1 − ᾱ_t/ᾱ_prev) and diffusers' ``DDPMScheduler``. The per-step linear coefficients
# live in small float64 NumPy helpers (:func:`ddpm_coefficients`, :func:`ddim_coefficients`,
# :func:`euler_update`, :func:`heun_update`, :func:`dpmpp_2m_coefficients`) used both by the torch solvers
# below and by the exact Gaussian analysis in ``sched_lib.gaussian``, so that the analysis analyses the
# very same update rule.

SAMPLERS = ("ddpm", "ddpm_large", "ddim", "euler", "heun", "dpmpp_2m")
VARIANCES = ("posterior", "beta")

__all__ += ["SAMPLERS", "sampling_steps", "ddpm_coefficients", "ddim_coefficients", "euler_update",
            "heun_update", "dpmpp_2m_coefficients", "sample", "sample_ddpm", "sample_ddim", "sample_euler",
            "sample_heun", "sample_dpmpp_2m"]


def sampling_steps(alpha_bar, steps: int, spacing="trailing", steps_offset: int = 0):
    """The grid a solver walks: ``(k, alpha_bar_t, alpha_bar_prev)``, each of shape (n,).

    ``k`` (int64, descending) are the 0-indexed steps of :func:`timesteps` for T = len(alpha_bar)
    (``spacing`` one of :data:`SPACINGS`, ``steps_offset`` for "leading" as in diffusers), or, when
    ``spacing`` is a sequence of ints, that explicit grid (strictly descending steps in [0, T−1], exactly
    ``steps`` of them; as diffusers' ``set_timesteps(timesteps=...)``). ``alpha_bar_t = alpha_bar[k]``
    and ``alpha_bar_prev`` is ᾱ at the next visited step, 1.0 (the data) after the last one. float64.
    Chapter "The endpoints and sampling".
    """
    ab = check.array(alpha_bar, "alpha_bar", ndim=1)
    if isinstance(spacing, str):
        k = timesteps(ab.size, steps, spacing, steps_offset)
    else:
        k = _explicit_grid(spacing, ab.size, steps, steps_offset)
    ab_t = ab[k]
    ab_prev = np.append(ab[k[1:]], 1.0)
    return k, ab_t, ab_prev


def _explicit_grid(grid, T: int, steps: int, steps_offset: int) -> np.ndarray:
    N = check.num_steps(steps, "steps")
    if check.num_steps(steps_offset, "steps_offset", minimum=0) != 0:
        raise ValueError("steps_offset applies to the 'leading' spacing only; add it to an explicit grid yourself")
    try:
        g = np.asarray(grid, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"spacing must be one of {', '.join(SPACINGS)} or a 1-D sequence of int steps, "
                         f"got {grid!r}") from None
    if g.ndim != 1 or g.size != N:
        raise ValueError(f"an explicit grid must be a 1-D sequence of exactly steps = {N} step indices, "
                         f"got shape {g.shape}")
    if not np.isfinite(g).all() or (g != np.round(g)).any():
        raise ValueError("an explicit grid must hold integer step indices")
    if g.min() < 0 or g.max() > T - 1:
        raise ValueError(f"an explicit grid's steps must lie in [0, {T - 1}], got {g.min():g} to {g.max():g}")
    if (np.diff(g) >= 0).any():
        raise ValueError("an explicit grid must be strictly descending (from the noisiest step to the cleanest)")
    return g.astype(np.int64)


def _pair(alpha_bar_t, alpha_bar_prev):
    ab_t = check.array(alpha_bar_t, "alpha_bar_t")
    ab_p = check.array(alpha_bar_prev, "alpha_bar_prev")
    try:
        ab_t, ab_p = np.broadcast_arrays(ab_t, ab_p)
    except ValueError:
        raise ValueError(f"alpha_bar_t shape {ab_t.shape} and alpha_bar_prev shape {ab_p.shape} "
                         "do not broadcast") from None
    if ((ab_t < 0) | (ab_t >= 1)).any():
        raise ValueError("alpha_bar_t must lie in [0, 1) (0 only with zero terminal SNR)")
    if ((ab_p <= ab_t) | (ab_p > 1)).any():
        raise ValueError("alpha_bar_prev must lie in (alpha_bar_t, 1]: a step must move towards the data")
    return ab_t, ab_p


def ddpm_coefficients(alpha_bar_t, alpha_bar_prev, variance: str = "posterior"):
    """One ancestral step x_prev = coef_x0·x̂₀ + coef_xt·x_t + sigma·z, z ~ N(0, I). float64 NumPy.

    The mean is the posterior mean μ̃ of the (respaced) chain with β' = 1 − ᾱ_t/ᾱ_prev (Ho et al. 2020,
    eq. 7 and 11; improved-diffusion ``respace.py``): coef_x0 = β'√ᾱ_prev/(1−ᾱ_t),
    coef_xt = √(1−β')(1−ᾱ_prev)/(1−ᾱ_t). ``variance`` = "posterior" gives σ² = β̃' = β'(1−ᾱ_prev)/(1−ᾱ_t)
    (improved-diffusion's fixed-small, DDPM's σ² = β̃), "beta" gives σ² = β' (fixed-large). No noise is
    added on the step to the data (ᾱ_prev = 1), as in both references. Valid at ᾱ_t = 0 (β' = 1:
    coef_xt = 0). Returns three arrays of the broadcast shape. Chapter "The endpoints and sampling".
    """
    ab_t, ab_p = _pair(alpha_bar_t, alpha_bar_prev)
    check.choice(variance, "variance", VARIANCES)
    ratio = ab_t / ab_p                      # α' = 1 − β'
    beta = 1.0 - ratio
    one_minus_t, one_minus_p = 1.0 - ab_t, 1.0 - ab_p
    coef_x0 = beta * np.sqrt(ab_p) / one_minus_t
    coef_xt = np.sqrt(ratio) * one_minus_p / one_minus_t
    var = beta * one_minus_p / one_minus_t if variance == "posterior" else beta
    sigma = np.where(ab_p == 1.0, 0.0, np.sqrt(var))
    return coef_x0, coef_xt, sigma


def ddim_coefficients(alpha_bar_t, alpha_bar_prev, eta: float = 0.0):
    """One DDIM step x_prev = coef_x0·x̂₀ + coef_eps·ε̂ + sigma·z (Song et al. 2021, eq. 12). float64 NumPy.

    sigma = η·√((1−ᾱ_prev)/(1−ᾱ_t))·√(1 − ᾱ_t/ᾱ_prev) (eq. 16), coef_x0 = √ᾱ_prev,
    coef_eps = √(1 − ᾱ_prev − sigma²). η = 0 is deterministic (the probability-flow ODE's Euler step
    in x/√ᾱ); η = 1 gives sigma² = β̃' and exactly the ancestral DDPM step with σ² = β̃ (same mean and
    variance). ``eta`` ∈ [0, 1]. Chapter "The endpoints and sampling".
    """
    ab_t, ab_p = _pair(alpha_bar_t, alpha_bar_prev)
    eta = check.real(eta, "eta", low=0, high=1)
    var = (1.0 - ab_p) / (1.0 - ab_t) * (1.0 - ab_t / ab_p)
    sigma = eta * np.sqrt(var)
    # 1 − ᾱ_prev − σ² rewritten as a sum of non-negative terms, so that it is exactly 0 where it should
    # be (η = 1 at ᾱ_t = 0) instead of a rounding residue (or a negative number, NaN under the root).
    rest = (1.0 - eta ** 2) + eta ** 2 * ab_t * (1.0 - ab_p) / (ab_p * (1.0 - ab_t))
    coef_eps = np.sqrt((1.0 - ab_p) * rest)
    return np.sqrt(ab_p), coef_eps, sigma


def euler_update(x0_hat, d, sigma_next):
    """Karras et al. 2022, Alg. 1 line 5: y' = y + (σ' − σ)·d, written as x̂₀ + σ'·d.

    With y = x_t/√ᾱ (the VE variable), d = (y − x̂₀)/σ equals ε̂, so the two forms are the same number;
    this one needs no y and stays finite at σ = ∞ (zero terminal SNR). Works on NumPy arrays and
    torch tensors alike (used by :func:`sample_euler` and the exact Gaussian analysis).
    """
    return x0_hat + sigma_next * d


def heun_update(x0_hat, d, d_next, sigma, sigma_next):
    """Karras et al. 2022, Alg. 1 line 8: y' = y + (σ' − σ)·(d + d')/2, written without y.

    Substituting y = x̂₀ + σ·d gives x̂₀ + σ'·d + (σ' − σ)(d' − d)/2: the same number, without the
    cancellation of two large VE values when σ is large (float32). Needs finite σ. Works on NumPy
    arrays and torch tensors alike.
    """
    return x0_hat + sigma_next * d + 0.5 * (sigma_next - sigma) * (d_next - d)


def dpmpp_2m_coefficients(alpha_bar_t, alpha_bar_prev):
    """DPM-Solver++(2M) on a grid: x_{i+1} = c_x[i]·x_i + c_cur[i]·x̂₀_i + c_old[i]·x̂₀_{i−1}. float64 NumPy.

    Lu et al., "DPM-Solver++" (arXiv:2211.01095; Machine Intelligence Research 2025), Algorithm 2, midpoint
    form: the exponential integrator of the data-prediction ODE (§4; DDIM is its first order, as in
    DPM-Solver, Lu et al. 2022, §4.1, for the noise-prediction form). With α = √ᾱ, σ = √(1−ᾱ), the
    *half* log-SNR ℓ = log(α/σ) = λ/2 and h_i = ℓ_{i+1} − ℓ_i, a step is x_{i+1} = (σ_{i+1}/σ_i)·x_i − α_{i+1}(e^{−h_i} − 1)·D_i with
    D_i = (1 + 1/(2r_i))·x̂₀_i − 1/(2r_i)·x̂₀_{i−1} and r_i = h_{i−1}/h_i. The first step and the step
    to the data (ᾱ_prev = 1, where h = ∞) are first order, D = x̂₀_i, which is exactly DDIM (η = 0):
    c_x = √((1−ᾱ_prev)/(1−ᾱ_t)), c_cur = √ᾱ_prev − c_x·√ᾱ_t. This matches diffusers'
    ``DPMSolverMultistepScheduler(algorithm_type="dpmsolver++", solver_order=2, final_sigmas_type="zero")``
    (whose last step is then always first order) and k-diffusion's ``sample_dpmpp_2m``.

    ``alpha_bar_t`` (n,) are the visited levels and ``alpha_bar_prev`` (n,) the next ones, chained
    (``alpha_bar_prev[i] == alpha_bar_t[i + 1]``), as :func:`sampling_steps` returns them. ᾱ_t = 0 (zero
    terminal SNR) is allowed at the first step (h = ∞, D = x̂₀). Returns three (n,) arrays. Chapter
    "Samplers on the log-SNR axis".
    """
    ab_t, ab_p = _pair(alpha_bar_t, alpha_bar_prev)
    if ab_t.ndim != 1:
        raise ValueError(f"alpha_bar_t must be the 1-D grid of visited levels, got shape {ab_t.shape}")
    if (ab_p[:-1] != ab_t[1:]).any():
        raise ValueError("a multistep grid must be chained: alpha_bar_prev[i] must equal alpha_bar_t[i + 1]")
    alpha_s, sigma_s = np.sqrt(ab_t), np.sqrt(1.0 - ab_t)
    alpha_n, sigma_n = np.sqrt(ab_p), np.sqrt(1.0 - ab_p)
    with np.errstate(divide="ignore"):
        ell_s = np.log(alpha_s) - np.log(sigma_s)        # −inf at ᾱ = 0
        ell_n = np.log(alpha_n) - np.log(sigma_n)        # +inf at ᾱ = 1
    h = ell_n - ell_s                                    # > 0; +inf on a step from ᾱ = 0 or to ᾱ = 1
    c_x = sigma_n / sigma_s
    c_d = -alpha_n * np.expm1(-h)                        # −α_{i+1}(e^{−h} − 1)
    half_inv_r = np.zeros_like(h)                        # 1/(2r_i) = h_i/(2h_{i−1}); 0 = first order
    second = np.arange(h.size) >= 1
    second &= ab_p < 1.0                                 # the step to the data stays first order
    prev = np.concatenate([[np.inf], h[:-1]])
    half_inv_r[second] = h[second] / (2.0 * prev[second])  # h_{i−1} = ∞ (a start at ᾱ = 0) gives 0
    return c_x, c_d * (1.0 + half_inv_r), -c_d * half_inv_r


def _sigma_of(ab: float) -> float:
    """σ = √((1−ᾱ)/ᾱ), +inf at ᾱ = 0 and 0 at ᾱ = 1."""
    return float("inf") if ab == 0.0 else float(np.sqrt((1.0 - ab) / ab))


def _setup(model_fn, process, shape, steps, spacing, eta, prediction, generator, x_T, *, eta_ok=False,
           steps_offset=0):
    from .process import PREDICTIONS, Process  # process imports torch; keep the grid functions light
    import torch

    if not callable(model_fn):
        raise ValueError("model_fn must be callable as model_fn(x_t, t_index)")
    if not isinstance(process, Process):
        raise ValueError(f"process must be a sched_lib.process.Process, got {type(process).__name__}")
    check.choice(prediction, "prediction", PREDICTIONS)
    eta = check.real(eta, "eta", low=0, high=1)
    if eta != 0 and not eta_ok:
        raise ValueError(f"eta applies to the 'ddim' sampler only (got eta={eta:g}); leave it at 0")
    try:
        shape = tuple(int(s) for s in shape)
    except TypeError:
        raise ValueError(f"shape must be a tuple of positive ints (N, ...), got {shape!r}") from None
    if not shape or min(shape) < 1:
        raise ValueError(f"shape must be a non-empty tuple of positive ints (N, ...), got {shape}")
    k, ab_t, ab_prev = sampling_steps(process.q.alpha_bar, steps, spacing, steps_offset)
    if x_T is None:
        dev = generator.device if isinstance(generator, torch.Generator) else process.device
        x = torch.randn(shape, generator=generator, device=dev, dtype=process.dtype).to(process.device)
    else:
        if not isinstance(x_T, torch.Tensor) or tuple(x_T.shape) != shape:
            raise ValueError(f"x_T must be a tensor of shape {shape}")
        x = x_T.to(device=process.device, dtype=process.dtype)
    return x, k, ab_t, ab_prev


def _noise(x, generator):
    import torch
    if isinstance(generator, torch.Generator) and generator.device != x.device:
        return torch.randn(x.shape, generator=generator, device=generator.device, dtype=x.dtype).to(x.device)
    return torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)


def _denoise(model_fn, process, x, k: int, prediction: str, clip_x0: bool):
    """Call the model at step index k and return (x̂₀, ε̂), both of x's shape and dtype."""
    import torch
    t = torch.full((x.shape[0],), int(k), dtype=torch.long, device=x.device)
    out = model_fn(x, t)
    if not isinstance(out, torch.Tensor) or out.shape != x.shape:
        raise ValueError(f"model_fn must return a tensor of x's shape {tuple(x.shape)}, got "
                         f"{tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__}")
    out = out.to(x.dtype)
    x0_hat = process.predict_x0(x, t, out, prediction)
    if clip_x0:
        x0_hat = x0_hat.clamp(-1.0, 1.0)
        return x0_hat, process.eps_from_x0(x, t, x0_hat)  # improved-diffusion: ε̂ from the clipped x̂₀
    return x0_hat, process.predict_eps(x, t, out, prediction)


def _progress(n, progress, desc):
    if check.flag(progress, "progress"):
        from tqdm.auto import tqdm
        return tqdm(range(n), desc=desc)
    return range(n)


def sample_ddpm(model_fn, process, shape, *, steps: int, spacing="trailing", eta: float = 0.0,
                prediction: str = "eps", generator=None, x_T=None, progress: bool = False,
                clip_x0: bool = False, variance: str = "posterior", steps_offset: int = 0):
    """Ancestral DDPM sampling (Ho et al. 2020, Alg. 2 and eq. 11) on a grid of ``steps`` steps.

    Each step draws x_prev ~ N(μ̃(x̂₀, x_t), σ²I) of the respaced chain (:func:`ddpm_coefficients`);
    ``variance`` = "posterior" (σ² = β̃) or "beta" (σ² = β). ``eta`` must be 0. Returns a tensor of
    ``shape`` in ``process.dtype``. See :func:`sample` for the common arguments.
    """
    check.choice(variance, "variance", VARIANCES)
    x, k, ab_t, ab_prev = _setup(model_fn, process, shape, steps, spacing, eta, prediction, generator, x_T,
                              steps_offset=steps_offset)
    c_x0, c_xt, sig = ddpm_coefficients(ab_t, ab_prev, variance)
    return _affine_steps("ddpm", model_fn, process, x, k, (c_x0, c_xt, sig), "xt", prediction, clip_x0,
                         generator, progress)


def sample_ddim(model_fn, process, shape, *, steps: int, spacing="trailing", eta: float = 0.0,
                prediction: str = "eps", generator=None, x_T=None, progress: bool = False,
                clip_x0: bool = False, steps_offset: int = 0):
    """DDIM sampling (Song et al. 2021, eq. 12) with stochasticity ``eta`` ∈ [0, 1].

    x_prev = √ᾱ_prev·x̂₀ + √(1−ᾱ_prev−σ²)·ε̂ + σz (:func:`ddim_coefficients`); η = 0 is deterministic.
    Unlike diffusers' ``DDIMScheduler`` (which steps back by T // steps whatever the spacing) the
    previous step is always the next grid entry; the two agree for "leading" and "trailing" when
    steps divides T. Returns a tensor of ``shape`` in ``process.dtype``.
    """
    x, k, ab_t, ab_prev = _setup(model_fn, process, shape, steps, spacing, eta, prediction, generator, x_T,
                                 eta_ok=True, steps_offset=steps_offset)
    c_x0, c_eps, sig = ddim_coefficients(ab_t, ab_prev, eta)
    return _affine_steps("ddim", model_fn, process, x, k, (c_x0, c_eps, sig), "eps", prediction, clip_x0,
                         generator, progress)


def _affine_steps(name, model_fn, process, x, k, coefficients, second, prediction, clip_x0, generator, progress):
    """Run x_prev = c_x0·x̂₀ + c·y + σ·z down the grid, y = x_t (DDPM, eq. 7) or ε̂ (DDIM, eq. 12)."""
    import torch
    c_x0, c_second, sig = coefficients
    with torch.no_grad():
        for i in _progress(len(k), progress, name):
            x0_hat, eps_hat = _denoise(model_fn, process, x, k[i], prediction, clip_x0)
            x_new = float(c_x0[i]) * x0_hat + float(c_second[i]) * (x if second == "xt" else eps_hat)
            if sig[i] > 0:
                x_new = x_new + float(sig[i]) * _noise(x, generator)
            x = x_new
    return x


def sample_euler(model_fn, process, shape, *, steps: int, spacing="trailing", eta: float = 0.0,
                 prediction: str = "eps", generator=None, x_T=None, progress: bool = False,
                 clip_x0: bool = False, steps_offset: int = 0):
    """Euler's method for the probability-flow ODE in σ (Karras et al. 2022, Alg. 1 without line 6-8).

    The VP state x_t is mapped to the VE variable y = x_t/√ᾱ (σ = √((1−ᾱ)/ᾱ)), where the ODE is
    dy/dσ = (y − D(y; σ))/σ with D = x̂₀; the σ grid is σ at the visited steps, then 0. Each step is
    :func:`euler_update`, and y is mapped back by x = √ᾱ·y. In exact arithmetic this is DDIM with η = 0
    (Karras et al. 2022, §3 and Appendix B). A zero-terminal-SNR start (σ = ∞) is a valid first step.
    One model call per step. Returns a tensor of ``shape`` in ``process.dtype``.
    """
    import torch
    x, k, ab_t, ab_prev = _setup(model_fn, process, shape, steps, spacing, eta, prediction, generator, x_T,
                              steps_offset=steps_offset)
    with torch.no_grad():
        for i in _progress(len(k), progress, "euler"):
            x0_hat, d = _denoise(model_fn, process, x, k[i], prediction, clip_x0)
            y_next = euler_update(x0_hat, d, _sigma_of(ab_prev[i]))
            x = float(np.sqrt(ab_prev[i])) * y_next
    return x


def sample_heun(model_fn, process, shape, *, steps: int, spacing="trailing", eta: float = 0.0,
                prediction: str = "eps", generator=None, x_T=None, progress: bool = False,
                clip_x0: bool = False, steps_offset: int = 0):
    """Heun's 2nd-order method for the probability-flow ODE in σ (Karras et al. 2022, Alg. 1).

    As :func:`sample_euler`, plus the trapezoidal correction :func:`heun_update` with the model
    evaluated at the next grid step, except on the last step (σ' = 0, as in Alg. 1) and on a first
    step from σ = ∞ (zero terminal SNR; the trapezoid over an infinite interval is undefined), which
    are Euler steps. 2·steps − 1 model calls (one fewer per Euler step). Returns a tensor of ``shape``.
    """
    import torch
    x, k, ab_t, ab_prev = _setup(model_fn, process, shape, steps, spacing, eta, prediction, generator, x_T,
                              steps_offset=steps_offset)
    with torch.no_grad():
        for i in _progress(len(k), progress, "heun"):
            sigma, sigma_next = _sigma_of(ab_t[i]), _sigma_of(ab_prev[i])
            x0_hat, d = _denoise(model_fn, process, x, k[i], prediction, clip_x0)
            y_next = euler_update(x0_hat, d, sigma_next)
            if sigma_next > 0 and np.isfinite(sigma):
                x_euler = float(np.sqrt(ab_prev[i])) * y_next
                _, d_next = _denoise(model_fn, process, x_euler, k[i + 1], prediction, clip_x0)
                y_next = heun_update(x0_hat, d, d_next, sigma, sigma_next)
            x = float(np.sqrt(ab_prev[i])) * y_next
    return x


def sample_dpmpp_2m(model_fn, process, shape, *, steps: int, spacing="trailing", eta: float = 0.0,
                    prediction: str = "eps", generator=None, x_T=None, progress: bool = False,
                    clip_x0: bool = False, steps_offset: int = 0):
    """DPM-Solver++(2M), the multistep 2nd-order exponential integrator in log-SNR (Lu et al., DPM-Solver++, Alg. 2).

    Each step combines this step's x̂₀ with the previous one's, x_{i+1} = c_x·x_i + c_cur·x̂₀_i +
    c_old·x̂₀_{i−1} (:func:`dpmpp_2m_coefficients`), one model call per step; the first step and the
    step to the data are DDIM steps. Data-prediction form, midpoint variant, no thresholding: the same
    numbers as diffusers' ``DPMSolverMultistepScheduler`` with ``algorithm_type="dpmsolver++"``,
    ``solver_order=2``, ``solver_type="midpoint"``, ``final_sigmas_type="zero"`` on the same grid (pass
    its timesteps as an explicit ``spacing`` grid: its "leading" and "linspace" grids differ from
    :func:`timesteps`'), and k-diffusion's ``sample_dpmpp_2m`` on the σ of the same grid
    (``tests/test_dpmpp.py``). ``eta`` must be 0. Returns a tensor of ``shape`` in ``process.dtype``.
    Chapter "Samplers on the log-SNR axis".
    """
    import torch
    x, k, ab_t, ab_prev = _setup(model_fn, process, shape, steps, spacing, eta, prediction, generator, x_T,
                                 steps_offset=steps_offset)
    c_x, c_cur, c_old = dpmpp_2m_coefficients(ab_t, ab_prev)
    old = None
    with torch.no_grad():
        for i in _progress(len(k), progress, "dpmpp_2m"):
            x0_hat, _ = _denoise(model_fn, process, x, k[i], prediction, clip_x0)
            x_new = float(c_x[i]) * x + float(c_cur[i]) * x0_hat
            if c_old[i] != 0:
                x_new = x_new + float(c_old[i]) * old
            x, old = x_new, x0_hat
    return x


_SOLVERS = {
    "ddpm": sample_ddpm,
    "ddpm_large": lambda *a, **kw: sample_ddpm(*a, **kw, variance="beta"),
    "ddim": sample_ddim,
    "euler": sample_euler,
    "heun": sample_heun,
    "dpmpp_2m": sample_dpmpp_2m,
}


def sample(name: str, model_fn, process, shape, *, steps: int, spacing="trailing", eta: float = 0.0,
           prediction: str = "eps", generator=None, x_T=None, progress: bool = False, clip_x0: bool = False,
           steps_offset: int = 0):
    """Draw samples with a named solver: ``sample("ddim", model_fn, process, (16, 3, 32, 32), steps=50)``.

    ``name`` ∈ {"ddpm" (ancestral, σ² = β̃), "ddpm_large" (σ² = β), "ddim", "euler", "heun",
    "dpmpp_2m" (DPM-Solver++(2M), chapter "Samplers on the log-SNR axis")}.
    ``model_fn(x_t, t_index)`` gets x_t (N, ...) in ``process.dtype`` and t_index (N,) int64 0-indexed
    steps, and returns the ε, x₀ or v prediction (``prediction``). ``steps`` and ``spacing`` pick the grid
    (:func:`timesteps`; note "trailing" is the default here, as Lin et al. 2024 recommend, while
    diffusers defaults to "leading"); ``spacing`` may also be an explicit descending sequence of
    ``steps`` int steps, and ``steps_offset`` shifts a "leading" grid as diffusers does (Stable
    Diffusion uses 1). ``eta`` is DDIM's only. ``generator`` (a torch.Generator) makes
    x_T and the noise reproducible; ``x_T`` overrides the N(0, I) start. ``clip_x0`` clamps x̂₀ to
    [−1, 1] (improved-diffusion's ``clip_denoised``; off by default; the exact Gaussian analysis
    assumes it off). ``progress`` shows a tqdm bar. ε-prediction on a zero-terminal-SNR schedule raises
    ``ValueError`` at the first step (x̂₀ is undefined at ᾱ = 0). Sampling runs under
    ``torch.no_grad()``. Chapter "The endpoints and sampling".
    """
    if name not in _SOLVERS:
        raise ValueError(f"unknown sampler {name!r}; valid: {', '.join(SAMPLERS)}")
    return _SOLVERS[name](model_fn, process, shape, steps=steps, spacing=spacing, eta=eta, prediction=prediction,
                          generator=generator, x_T=x_T, progress=progress, clip_x0=clip_x0,
                          steps_offset=steps_offset)
