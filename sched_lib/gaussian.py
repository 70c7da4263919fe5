"""Exact results for Gaussian data: the optimal denoiser and the exact output law of DDPM/DDIM sampling.

For data x₀ ~ N(μ, Σ) with Σ = U diag(s²) Uᵀ (U orthonormal) everything about diffusion is linear.
In the eigenbasis z = Uᵀx every dimension is independent, x_t = √ᾱ x₀ + √(1−ᾱ) ε is jointly Gaussian
with x₀, and (chapter "The endpoints and sampling"):

* the optimal (MMSE) denoiser is E[x₀|x_t] = μ + g(x_t − √ᾱ μ) per eigen-dimension, with gain
  g = √ᾱ s²/(ᾱ s² + 1 − ᾱ), and its error is MMSE = s²(1 − ᾱ)/(ᾱ s² + 1 − ᾱ) (Gaussian conditioning);
* every DDPM, DDIM, Euler, Heun or DPM-Solver++(2M) step with that denoiser is affine in x plus
  independent Gaussian noise, so starting from x_T ~ N(0, I) the sampler's output is Gaussian, and its
  per-dimension mean and variance follow by propagating (mean, var) → (a·mean + b, a²·var + σ²) through
  the grid (for the multistep DPM-Solver++(2M), which also uses the previous step's x̂₀, the deterministic
  state is tracked as an affine map of x_T instead).

**In what sense this is exact.** No network is trained and nothing is sampled: the only approximations
left are the ones the sampler itself makes (a finite number of steps, where the grid puts them, the
start x_T ~ N(0, I) instead of the true marginal of x_T, and for DDPM the Gaussian reverse kernel). The
result is exact up to float64 rounding, for any schedule, spacing, number of steps and η. The step
rules are the very same float64 helpers the torch solvers use (:func:`sched_lib.samplers.ddpm_coefficients`,
:func:`~sched_lib.samplers.ddim_coefficients`, :func:`~sched_lib.samplers.euler_update`,
:func:`~sched_lib.samplers.heun_update`, :func:`~sched_lib.samplers.dpmpp_2m_coefficients`). The
denoiser is always used in its x₀ form, which is exact in every prediction frame and stays defined at
ᾱ = 0 (zero terminal SNR: there x̂₀ = μ). What it cannot tell you: real images are not Gaussian, and a trained network is not the optimal denoiser.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import _validate as check
from .samplers import (SAMPLERS, ddim_coefficients, ddpm_coefficients, dpmpp_2m_coefficients, euler_update,
                       heun_update, sampling_steps)
from .schedules import Schedule

__all__ = [
    "GaussianData",
    "fit_gaussian",
    "denoiser_gain",
    "optimal_denoiser",
    "mmse",
    "gaussian_model_fn",
    "sampler_output_distribution",
    "grid_output_distribution",
    "kl_diagonal",
    "w2_diagonal",
    "kl_to_data",
    "w2_to_data",
]


def _frozen(a: np.ndarray) -> np.ndarray:
    a = np.array(a, dtype=np.float64)
    a.flags.writeable = False
    return a


@dataclass(frozen=True)
class GaussianData:
    """N(μ, U diag(s²) Uᵀ) data: ``GaussianData(mean, eigvals, basis=None)``.

    ``mean`` μ (D,), ``eigvals`` s² (D,) ≥ 0, ``basis`` U (D, D) with orthonormal *columns* (the
    eigenvectors), or None for the identity (a diagonal covariance). Stored as read-only float64.
    Chapter "The endpoints and sampling".
    """

    mean: np.ndarray
    eigvals: np.ndarray
    basis: np.ndarray | None = None

    def __post_init__(self):
        mean = check.array(self.mean, "mean", ndim=1)
        eig = check.array(self.eigvals, "eigvals", ndim=1)
        if mean.size == 0:
            raise ValueError("mean must hold at least one value")
        if eig.shape != mean.shape:
            raise ValueError(f"eigvals must have the shape of mean {mean.shape}, got {eig.shape}")
        if (eig < 0).any():
            raise ValueError(f"eigvals must be >= 0 (variances), got {eig.min():g}")
        basis = None
        if self.basis is not None:
            basis = check.array(self.basis, "basis", ndim=2)
            if basis.shape != (mean.size, mean.size):
                raise ValueError(f"basis must have shape ({mean.size}, {mean.size}), got {basis.shape}")
            err = np.abs(basis.T @ basis - np.eye(mean.size)).max()
            if err > 1e-8:
                raise ValueError(f"basis must have orthonormal columns (U^T U = I); max deviation {err:.3g}")
            basis = _frozen(basis)
        object.__setattr__(self, "mean", _frozen(mean))
        object.__setattr__(self, "eigvals", _frozen(eig))
        object.__setattr__(self, "basis", basis)

    @property
    def dim(self) -> int:
        """Dimension D."""
        return int(self.mean.size)

    @property
    def mean_eig(self) -> np.ndarray:
        """The mean in the eigenbasis, Uᵀμ (D,)."""
        return self.to_eigenbasis(self.mean)

    def covariance(self) -> np.ndarray:
        """Σ = U diag(s²) Uᵀ, float64 (D, D)."""
        if self.basis is None:
            return np.diag(self.eigvals)
        return (self.basis * self.eigvals) @ self.basis.T

    def to_eigenbasis(self, x) -> np.ndarray:
        """z = Uᵀx for x of shape (..., D)."""
        x = check.array(x, "x")
        return x if self.basis is None else x @ self.basis

    def from_eigenbasis(self, z) -> np.ndarray:
        """x = Uz for z of shape (..., D)."""
        z = check.array(z, "z")
        return z if self.basis is None else z @ self.basis.T

    def sample(self, n: int, rng=None) -> np.ndarray:
        """n draws x₀ ~ N(μ, Σ), float64 (n, D)."""
        n = check.num_steps(n, "n")
        rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        z = rng.standard_normal((n, self.dim)) * np.sqrt(self.eigvals)
        return self.mean + self.from_eigenbasis(z)


def fit_gaussian(images, min_eigval: float = 1e-10) -> GaussianData:
    """Fit N(μ, Σ) to a data set: mean and eigen-decomposition of the covariance of flattened samples.

    ``images``: uint8 (N, ...) (scaled to [−1, 1] as x/127.5 − 1, the course's data convention) or a
    float array (N, ...) taken as already scaled. Each sample is flattened, so CIFAR-10's N×32×32×3
    gives D = 3072 in the (H, W, C) order of the array. The covariance is the unbiased one (divisor
    N − 1), accumulated in float64 in chunks; ``np.linalg.eigh`` gives its eigenvalues, sorted here in
    decreasing order (``basis[:, i]`` is the i-th principal direction). Rounding makes the smallest
    eigenvalues of a positive semi-definite matrix come out slightly negative or tiny (and N ≤ D gives
    exact zeros), which would make KL(· ‖ data) infinite or meaningless; every eigenvalue below
    ``min_eigval`` (default 1e-10 in [−1, 1]² units, far below CIFAR-10's smallest genuine eigenvalue)
    is therefore clamped up to ``min_eigval``. Chapter "The endpoints and sampling".
    """
    arr = np.asarray(images)
    if arr.ndim < 2 or arr.shape[0] < 2:
        raise ValueError(f"images must have shape (N, ...) with N >= 2 samples, got {arr.shape}")
    if arr.dtype == np.uint8:
        scale = lambda a: a.astype(np.float64) / 127.5 - 1.0  # noqa: E731
    elif np.issubdtype(arr.dtype, np.floating):
        if not np.isfinite(arr).all():
            raise ValueError("images contains NaN or inf")
        scale = lambda a: a.astype(np.float64)  # noqa: E731
    else:
        raise ValueError(f"images must be uint8 (scaled to [-1, 1]) or floating point, got {arr.dtype}")
    min_eigval = check.real(min_eigval, "min_eigval", low=0)
    n = arr.shape[0]
    flat = arr.reshape(n, -1)
    d = flat.shape[1]
    chunk = max(1, 2 ** 22 // d)
    total = np.zeros(d)
    for i in range(0, n, chunk):
        total += scale(flat[i:i + chunk]).sum(axis=0)
    mean = total / n
    scatter = np.zeros((d, d))
    for i in range(0, n, chunk):
        c = scale(flat[i:i + chunk]) - mean
        scatter += c.T @ c
    cov = scatter / (n - 1)
    eig, vec = np.linalg.eigh(0.5 * (cov + cov.T))
    order = np.argsort(eig)[::-1]
    eig, vec = eig[order], vec[:, order]
    return GaussianData(mean, np.maximum(eig, min_eigval), vec)


# --------------------------------------------------------------------------------------------------
# The optimal denoiser
# --------------------------------------------------------------------------------------------------

def _alpha_bar(alpha_bar) -> float:
    return check.real(alpha_bar, "alpha_bar", low=0, high=1)


def denoiser_gain(data: GaussianData, alpha_bar: float) -> np.ndarray:
    """g = √ᾱ s²/(ᾱ s² + 1 − ᾱ) per eigen-dimension, so E[z₀|z_t] = m + g(z_t − √ᾱ m). float64 (D,).

    Gaussian conditioning (Cov(z₀, z_t)/Var(z_t)); g = 0 at ᾱ = 0 (the denoiser is the mean) and where
    s² = 0. Chapter "The endpoints and sampling".
    """
    _check_data(data)
    ab = _alpha_bar(alpha_bar)
    s2 = data.eigvals
    denom = ab * s2 + (1.0 - ab)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(s2 > 0, np.sqrt(ab) * s2 / np.where(denom > 0, denom, 1.0), 0.0)


def mmse(data: GaussianData, alpha_bar: float) -> np.ndarray:
    """The optimal denoiser's error E[(z₀ − E[z₀|z_t])²] = s²(1 − ᾱ)/(ᾱ s² + 1 − ᾱ) per eigen-dimension.

    float64 (D,); equals s² at ᾱ = 0 and 0 at ᾱ = 1. Chapter "The endpoints and sampling".
    """
    _check_data(data)
    ab = _alpha_bar(alpha_bar)
    s2 = data.eigvals
    denom = ab * s2 + (1.0 - ab)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, s2 * (1.0 - ab) / np.where(denom > 0, denom, 1.0), 0.0)


def optimal_denoiser(data: GaussianData, alpha_bar: float):
    """The Bayes-optimal denoiser at noise level ᾱ, as a function x_t ↦ E[x₀ | x_t].

    x_t: float64 array (..., D) in the data's coordinates; returns (..., D). In the eigenbasis,
    E[z₀|z_t] = m + g(z_t − √ᾱ m) with :func:`denoiser_gain` g (Gaussian conditioning).
    """
    gain = denoiser_gain(data, alpha_bar)
    root = np.sqrt(_alpha_bar(alpha_bar))
    m = data.mean_eig

    def denoise(x_t):
        z = data.to_eigenbasis(x_t)
        if z.shape[-1:] != (data.dim,):
            raise ValueError(f"x_t must have shape (..., {data.dim}), got {z.shape}")
        return data.from_eigenbasis(m + gain * (z - root * m))

    return denoise


def gaussian_model_fn(data: GaussianData, process, prediction: str = "eps"):
    """The optimal denoiser as a ``model_fn(x_t, t_index)`` for the torch solvers and ``training_loss``.

    x_t: tensor (N, D); t_index: (N,) int64 0-indexed steps of ``process``. Returns the ε, x₀ or v
    prediction (``prediction``) of E[x₀|x_t] in x_t's dtype, so Monte Carlo sampling with
    ``sched_lib.samplers.sample`` can be checked against :func:`sampler_output_distribution`. Every
    frame's output is affine per eigen-dimension, out_z = A_t·z + B_t with z = Uᵀx_t, and the (T, D)
    tables A, B are computed once in float64 NumPy (x₀: A = g, B = (1 − √ᾱ g)m; ε and v from
    x_t = √ᾱ x̂₀ + √(1−ᾱ) ε̂ and v = √ᾱ ε̂ − √(1−ᾱ) x̂₀).
    """
    import torch

    from .process import PREDICTIONS, Process

    _check_data(data)
    if not isinstance(process, Process):
        raise ValueError(f"process must be a sched_lib.process.Process, got {type(process).__name__}")
    check.choice(prediction, "prediction", PREDICTIONS)
    ab = process.q.alpha_bar[:, None]
    root, root1m = np.sqrt(ab), np.sqrt(1.0 - ab)                  # ᾱ < 1 at every step: root1m > 0
    gain = np.stack([denoiser_gain(data, a) for a in process.q.alpha_bar])
    x0_a, x0_b = gain, (1.0 - root * gain) * data.mean_eig
    eps_a, eps_b = (1.0 - root * x0_a) / root1m, -root * x0_b / root1m
    a, b = {"x0": (x0_a, x0_b), "eps": (eps_a, eps_b),
            "v": (root * eps_a - root1m * x0_a, root * eps_b - root1m * x0_b)}[prediction]
    dev = process.device
    tables = {}

    def _tables(dtype):
        if dtype not in tables:
            as_t = lambda v: torch.as_tensor(np.array(v), dtype=dtype, device=dev)  # noqa: E731
            tables[dtype] = (as_t(a), as_t(b), None if data.basis is None else as_t(data.basis))
        return tables[dtype]

    def model_fn(x_t, t_index):
        if not isinstance(x_t, torch.Tensor) or x_t.ndim != 2 or x_t.shape[1] != data.dim:
            raise ValueError(f"x_t must be a tensor of shape (N, {data.dim})")
        t = process.check_t(t_index, x_t.shape[0])
        A, B, U = _tables(x_t.dtype)
        x = x_t.to(dev)
        z = x if U is None else x @ U
        out = torch.addcmul(B.index_select(0, t), A.index_select(0, t), z)
        out = out if U is None else out @ U.T
        return out.to(x_t.device)

    return model_fn


def _check_data(data):
    if not isinstance(data, GaussianData):
        raise ValueError(f"data must be a GaussianData, got {type(data).__name__}")


# --------------------------------------------------------------------------------------------------
# The exact output distribution of a sampler
# --------------------------------------------------------------------------------------------------

def _schedule_alpha_bar(process_or_schedule) -> np.ndarray:
    if isinstance(process_or_schedule, Schedule):
        return process_or_schedule.alpha_bar
    q = getattr(process_or_schedule, "q", None)
    if q is not None and hasattr(q, "alpha_bar"):
        return q.alpha_bar
    raise ValueError("process_or_schedule must be a sched_lib Process or Schedule, got "
                     f"{type(process_or_schedule).__name__}")


def _sigma(ab: float) -> float:
    return float("inf") if ab == 0.0 else float(np.sqrt((1.0 - ab) / ab))


def _affine_denoiser(data, ab):
    """x̂₀ = g z + h per eigen-dimension (slope, intercept)."""
    g = denoiser_gain(data, ab)
    return g, (1.0 - np.sqrt(ab) * g) * data.mean_eig


def _affine_eps(x_slope, x_int, x0_slope, x0_int, ab):
    """ε̂ = (x − √ᾱ x̂₀)/√(1−ᾱ) as (slope, intercept), for x and x̂₀ given as affine maps of z."""
    r, s = np.sqrt(ab), np.sqrt(1.0 - ab)
    return (x_slope - r * x0_slope) / s, (x_int - r * x0_int) / s


def sampler_output_distribution(data: GaussianData, process_or_schedule, sampler: str, steps: int,
                                spacing: str = "trailing", eta: float = 0.0):
    """Exact per-dimension (mean, var) of the sampler's output, in the data's eigenbasis. float64 (D,), (D,).

    ``sampler`` ∈ {"ddpm", "ddpm_large", "ddim", "euler", "heun", "dpmpp_2m"} on the grid of ``steps``
    steps with ``spacing`` (:func:`sched_lib.samplers.sampling_steps`: a name or an explicit grid), using
    the optimal denoiser of ``data`` and starting from x_T ~ N(0, I). ``eta`` is DDIM's (0 otherwise).
    Each step is x ↦ a·x + b + σ·z with a, b, σ from the solvers' own coefficient helpers;
    (mean, var) ↦ (a·mean + b, a²·var + σ²). Handles ᾱ_T = 0. See the module docstring for the sense in
    which this is exact.
    """
    _check_data(data)
    _, ab_t, ab_prev = sampling_steps(_schedule_alpha_bar(process_or_schedule), steps, spacing)
    return _propagate(data, sampler, ab_t, ab_prev, eta)


def grid_output_distribution(data: GaussianData, alpha_bar_t, sampler: str, eta: float = 0.0):
    """As :func:`sampler_output_distribution`, on any grid of noise levels: (mean, var), float64 (D,), (D,).

    ``alpha_bar_t`` (n,) are the levels the sampler visits, strictly increasing in [0, 1) (from the
    noisiest); the last step goes to the data (ᾱ = 1). The optimal denoiser exists at every level, so the
    grid need not come from a discrete schedule: a grid uniform in λ, a Karras σ grid
    (ᾱ = 1/(1 + σ²)) or a time-uniform one. Chapter "Samplers on the log-SNR axis".
    """
    _check_data(data)
    ab_t = check.array(alpha_bar_t, "alpha_bar_t", ndim=1)
    if ab_t.size == 0:
        raise ValueError("alpha_bar_t must hold at least one level")
    if (ab_t < 0).any() or (ab_t >= 1).any() or (np.diff(ab_t) <= 0).any():
        raise ValueError("alpha_bar_t must increase strictly inside [0, 1) (from the noisiest level; the data's "
                         "alpha_bar = 1 is appended)")
    return _propagate(data, sampler, ab_t, np.append(ab_t[1:], 1.0), eta)


def _propagate(data, sampler, ab_t, ab_prev, eta):
    if sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler {sampler!r}; valid: {', '.join(SAMPLERS)}")
    eta = check.real(eta, "eta", low=0, high=1)
    if eta != 0 and sampler != "ddim":
        raise ValueError(f"eta applies to the 'ddim' sampler only (got eta={eta:g}); leave it at 0")
    if sampler == "dpmpp_2m":
        return _propagate_dpmpp_2m(data, ab_t, ab_prev)
    if sampler in ("ddpm", "ddpm_large"):
        c_x0, c_other, sig = ddpm_coefficients(ab_t, ab_prev, "posterior" if sampler == "ddpm" else "beta")
    elif sampler == "ddim":
        c_x0, c_other, sig = ddim_coefficients(ab_t, ab_prev, eta)
    else:
        sig = np.zeros_like(ab_t)
    mean, var = np.zeros(data.dim), np.ones(data.dim)
    one = np.ones(data.dim)
    for i, (abt, abp) in enumerate(zip(ab_t.tolist(), ab_prev.tolist())):
        g, h = _affine_denoiser(data, abt)                # x̂₀ = g z + h
        if sampler in ("ddpm", "ddpm_large"):            # x' = c_x0 x̂₀ + c_xt z + σ ξ
            a, b = c_x0[i] * g + c_other[i], c_x0[i] * h
        elif sampler == "ddim":                          # x' = c_x0 x̂₀ + c_eps ε̂ + σ ξ
            p, q = _affine_eps(one, 0.0, g, h, abt)      # ε̂ = p z + q
            a, b = c_x0[i] * g + c_other[i] * p, c_x0[i] * h + c_other[i] * q
        else:                                            # Euler / Heun in y = x/√ᾱ, σ = √((1−ᾱ)/ᾱ)
            p, q = _affine_eps(one, 0.0, g, h, abt)      # d = ε̂ = p z + q
            sigma, sigma_next, root_next = _sigma(abt), _sigma(abp), np.sqrt(abp)
            y_a, y_b = euler_update(g, p, sigma_next), euler_update(h, q, sigma_next)
            if sampler == "heun" and sigma_next > 0 and np.isfinite(sigma):
                e_a, e_b = root_next * y_a, root_next * y_b  # the Euler point x_e = e_a z + e_b
                g2, h2 = _affine_denoiser(data, abp)
                p2, q2 = _affine_eps(e_a, e_b, g2 * e_a, g2 * e_b + h2, abp)
                y_a, y_b = heun_update(g, p, p2, sigma, sigma_next), heun_update(h, q, q2, sigma, sigma_next)
            a, b = root_next * y_a, root_next * y_b
        mean = a * mean + b
        var = a * a * var + float(sig[i]) ** 2
    return mean, var


def _propagate_dpmpp_2m(data, ab_t, ab_prev):
    """DPM-Solver++(2M) is deterministic but multistep: track x_i = A·x_T + B and x̂₀_{i−1} the same way."""
    c_x, c_cur, c_old = dpmpp_2m_coefficients(ab_t, ab_prev)
    a, b = np.ones(data.dim), np.zeros(data.dim)          # x_i = a·x_T + b per eigen-dimension
    old_a, old_b = np.zeros(data.dim), np.zeros(data.dim)
    for i, abt in enumerate(ab_t.tolist()):
        g, h = _affine_denoiser(data, abt)                # x̂₀ = g x + h
        d_a, d_b = g * a, g * b + h
        a, b = c_x[i] * a + c_cur[i] * d_a + c_old[i] * old_a, c_x[i] * b + c_cur[i] * d_b + c_old[i] * old_b
        old_a, old_b = d_a, d_b
    return b, a * a


def kl_diagonal(mean1, var1, mean2, var2) -> np.ndarray:
    """KL(N(mean1, var1) ‖ N(mean2, var2)) per dimension: ½[log(v2/v1) + (v1 + (m1 − m2)²)/v2 − 1].

    float64, broadcast shape. 0 where both variances are 0 and the means agree; +inf where only one
    variance is 0 or the means of two point masses differ.
    """
    m1, v1 = check.array(mean1, "mean1"), check.array(var1, "var1")
    m2, v2 = check.array(mean2, "mean2"), check.array(var2, "var2")
    if (v1 < 0).any() or (v2 < 0).any():
        raise ValueError("variances must be >= 0")
    m1, v1, m2, v2 = np.broadcast_arrays(m1, v1, m2, v2)
    ok = (v1 > 0) & (v2 > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(ok, v1 / np.where(ok, v2, 1.0), 1.0)
        kl = 0.5 * (r - 1.0 - np.log(r) + np.where(ok, (m1 - m2) ** 2 / np.where(ok, v2, 1.0), 0.0))
    both_zero = (v1 == 0) & (v2 == 0)
    kl = np.where(both_zero, np.where(m1 == m2, 0.0, np.inf), kl)
    return np.where(~ok & ~both_zero, np.inf, kl)


def w2_diagonal(mean1, var1, mean2, var2) -> np.ndarray:
    """Squared 2-Wasserstein distance per dimension between 1-D Gaussians: (m1 − m2)² + (√v1 − √v2)²."""
    m1, v1 = check.array(mean1, "mean1"), check.array(var1, "var1")
    m2, v2 = check.array(mean2, "mean2"), check.array(var2, "var2")
    if (v1 < 0).any() or (v2 < 0).any():
        raise ValueError("variances must be >= 0")
    return (m1 - m2) ** 2 + (np.sqrt(v1) - np.sqrt(v2)) ** 2


def kl_to_data(data: GaussianData, process_or_schedule, sampler: str, steps: int, spacing: str = "trailing",
               eta: float = 0.0, per_dimension: bool = False):
    """KL(sampler output ‖ data) in nats, exact (see :func:`sampler_output_distribution`).

    Both laws are Gaussian and diagonal in the data's eigenbasis, so the KL is the sum of
    :func:`kl_diagonal` over dimensions; ``per_dimension=True`` returns the (D,) terms instead (in the
    order of ``data.eigvals``). The smallest eigenvalues dominate it when the sampler leaves noise of
    a larger scale there. Chapter "The endpoints and sampling".
    """
    mean, var = sampler_output_distribution(data, process_or_schedule, sampler, steps, spacing, eta)
    kl = kl_diagonal(mean, var, data.mean_eig, data.eigvals)
    return kl if check.flag(per_dimension, "per_dimension") else float(kl.sum())


def w2_to_data(data: GaussianData, process_or_schedule, sampler: str, steps: int, spacing: str = "trailing",
               eta: float = 0.0, per_dimension: bool = False):
    """The 2-Wasserstein distance W₂(sampler output, data), exact; ``per_dimension`` gives the (D,) W₂² terms.

    For two Gaussians with covariances diagonal in the same basis, W₂² = ‖m1 − m2‖² + Σ(√v1 − √v2)²
    (the Bures term reduces to this when the covariances commute). Returns W₂ (not squared) in data units.
    """
    mean, var = sampler_output_distribution(data, process_or_schedule, sampler, steps, spacing, eta)
    w2 = w2_diagonal(mean, var, data.mean_eig, data.eigvals)
    return w2 if check.flag(per_dimension, "per_dimension") else float(np.sqrt(w2.sum()))
