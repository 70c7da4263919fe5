"""Noise schedules: the noise *level* as a function of time.

Two kinds of object live here (chapters "The classic schedules" and "Schedules in log-SNR space"):

* **continuous-time** curves on t ∈ [0, 1] (t = 0 is data, t = 1 is noise), given as ᾱ(t) or as the
  log signal-to-noise ratio λ(t) = log(ᾱ/(1−ᾱ));
* **discrete β chains** β_1..β_T with ᾱ_t = ∏_{s≤t}(1−β_s), the form DDPM-style code trains with.

ᾱ (or λ) is the primary object; a continuous curve becomes a chain through one of two helpers:
:func:`betas_for_alpha_bar` (improved-diffusion's ratio rule, which normalises by ᾱ(0)) for curves
defined by ᾱ, and :func:`betas_from_alpha_bar` (ᾱ_t read off the curve at t/T, with ᾱ_0 = 1 for the data)
for curves defined by a finite log-SNR range, whose λ_t must stay exactly on the curve.

All arithmetic is float64. The word "sigmoid" names three different published schedules; here they are
``beta_sigmoid`` (diffusers/GeoDiff, a sigmoid ramp in β), ``chen_sigmoid`` (Chen 2023 / RIN, a sigmoid
ramp in ᾱ) and ``logistic`` (ᾱ = sigmoid(λ) with λ linear in t, the "uniform log-SNR" schedule).
``piecewise_log_snr`` is a reader-designed curve: λ linear between K knots at equally spaced t (lab
"Design a schedule"); its one parameter, ``log_snr``, is a list, which survives a run's JSON config.

Published schedules are never changed once committed (recorded lab outputs depend on them); add a new
name instead (the rule of improved-diffusion's ``get_named_beta_schedule``).
"""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass
from types import MappingProxyType
from typing import Callable, Mapping

import numpy as np

from . import _validate as check

__all__ = [
    "Schedule",
    "get_schedule",
    "list_schedules",
    "schedule_params",
    "cosine_alpha_bar",
    "cosine_log_snr",
    "chen_sigmoid_alpha_bar",
    "chen_cosine_alpha_bar",
    "logistic_log_snr",
    "piecewise_log_snr",
    "shifted_cosine_log_snr",
    "sd3_time_shift",
    "rectified_flow_log_snr",
    "alpha_bar_from_log_snr",
    "log_snr_from_alpha_bar",
    "linear_betas",
    "sqrt_linear_betas",
    "quadratic_betas",
    "beta_sigmoid_betas",
    "betas_for_alpha_bar",
    "betas_from_alpha_bar",
    "alpha_bar_from_betas",
    "rescale_zero_terminal_snr",
    "validate_betas",
]


# --------------------------------------------------------------------------------------------------
# Conversions between ᾱ and λ
# --------------------------------------------------------------------------------------------------

def alpha_bar_from_log_snr(log_snr) -> np.ndarray:
    """ᾱ = sigmoid(λ), since SNR = ᾱ/(1−ᾱ) (Kingma et al. 2021, VDM eq. 3 with α² = ᾱ).

    Accepts ±inf (λ = +inf gives ᾱ = 1, λ = −inf gives ᾱ = 0). Chapter "SNR and log-SNR".
    """
    return _sigmoid(check.array(log_snr, "log_snr", allow_inf=True))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    """1/(1 + e^(−x)) without overflow, and with full relative precision for very negative x."""
    with np.errstate(over="ignore"):
        e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def log_snr_from_alpha_bar(alpha_bar) -> np.ndarray:
    """λ = log ᾱ − log(1−ᾱ) (the logit of ᾱ); exact ±inf at ᾱ = 1 and ᾱ = 0. Chapter "SNR and log-SNR"."""
    ab = check.array(alpha_bar, "alpha_bar")
    if ((ab < 0) | (ab > 1)).any():
        raise ValueError("alpha_bar must lie in [0, 1]")
    with np.errstate(divide="ignore"):
        return np.log(ab) - np.log1p(-ab)


# --------------------------------------------------------------------------------------------------
# Continuous-time curves, t ∈ [0, 1]
# --------------------------------------------------------------------------------------------------

def cosine_alpha_bar(t, s: float = 0.008) -> np.ndarray:
    """iDDPM cosine schedule ᾱ(t) = f(t)/f(0), f(t) = cos²(((t+s)/(1+s))·π/2).

    Nichol & Dhariwal 2021, eq. 17. cos θ is evaluated as sin(((1−t)/(1+s))·π/2), which is the same
    number but exactly 0 at t = 1, so ᾱ(1) = 0 exactly (plain ``cos(π/2)`` is 6e-17).
    Chapter "The classic schedules".
    """
    t = check.unit_time(t)
    s = check.real(s, "s", low=0)
    f0 = math.sin(1 / (1 + s) * math.pi / 2)  # cos θ₀ in the same form, so ᾱ(0) = 1 exactly
    return (np.sin((1 - t) / (1 + s) * np.pi / 2) / f0) ** 2


def cosine_log_snr(t, s: float = 0.008) -> np.ndarray:
    """Exact log-SNR of the iDDPM cosine schedule, including the f(0) normalisation.

    With θ = ((t+s)/(1+s))·π/2 and θ₀ = (s/(1+s))·π/2 (chapter "The classic schedules"):
    λ(t) = 2 log cot θ − log(1 − sin²θ₀ / sin²θ), using 1 − ᾱ = (sin²θ − sin²θ₀)/cos²θ₀.
    +inf at t = 0, −inf at t = 1. The product sin(θ−θ₀)·sin(θ+θ₀) = sin²θ − sin²θ₀ keeps it accurate
    near t = 0.
    """
    t = check.unit_time(t)
    s = check.real(s, "s", low=0)
    theta = (t + s) / (1 + s) * np.pi / 2
    theta0 = s / (1 + s) * np.pi / 2
    cos_theta = np.sin((1 - t) / (1 + s) * np.pi / 2)
    with np.errstate(divide="ignore"):
        return 2 * np.log(cos_theta) - np.log(np.sin(theta - theta0)) - np.log(np.sin(theta + theta0))


def chen_sigmoid_alpha_bar(t, start: float = -3.0, end: float = 3.0, tau: float = 1.0,
                           clip_min: float = 1e-9) -> np.ndarray:
    """Chen 2023 sigmoid schedule γ(t) = ᾱ(t), as in Algorithm 1 (also Jabri et al. 2022, RIN, Fig. 8).

    γ(t) = [σ(end/τ) − σ((t(end−start)+start)/τ)] / [σ(end/τ) − σ(start/τ)], clipped to [clip_min, 1].
    This is a sigmoid ramp in ᾱ, not in β (that is ``beta_sigmoid``) and not linear in log-SNR
    (that is ``logistic``). Chapter "The classic schedules".
    """
    t = check.unit_time(t)
    start, end, tau, clip_min = _chen_params(start, end, tau, clip_min)
    v_start, v_end = _sigmoid(start / tau), _sigmoid(end / tau)
    out = (v_end - _sigmoid((t * (end - start) + start) / tau)) / (v_end - v_start)
    return np.clip(out, clip_min, 1.0)


def chen_cosine_alpha_bar(t, start: float = 0.0, end: float = 1.0, tau: float = 1.0,
                          clip_min: float = 1e-9) -> np.ndarray:
    """Chen 2023 cosine schedule γ(t) = ᾱ(t), as in Algorithm 1.

    γ(t) = [v_end − cos^{2τ}((t(end−start)+start)·π/2)] / [v_end − v_start], v_x = cos^{2τ}(x·π/2),
    clipped to [clip_min, 1]. With the defaults this is cos²(tπ/2), the cosine schedule without iDDPM's
    offset s. Chapter "The classic schedules".
    """
    t = check.unit_time(t)
    start, end, tau, clip_min = _chen_params(start, end, tau, clip_min)
    power = lambda x: np.cos(x * np.pi / 2) ** (2 * tau)  # noqa: E731
    v_start, v_end = power(start), power(end)
    out = (v_end - power(t * (end - start) + start)) / (v_end - v_start)
    return np.clip(out, clip_min, 1.0)


def _chen_params(start, end, tau, clip_min):
    start = check.real(start, "start")
    end = check.real(end, "end")
    if end <= start:
        raise ValueError(f"end must be greater than start, got start={start:g}, end={end:g}")
    tau = check.real(tau, "tau", low=0, low_open=True)
    clip_min = check.real(clip_min, "clip_min", low=0, high=1, low_open=True, high_open=True)
    return start, end, tau, clip_min


def logistic_log_snr(t, log_snr_max: float = 10.0, log_snr_min: float = -10.0) -> np.ndarray:
    """The "linear log-SNR" (logistic) schedule λ(t) = λ_max − (λ_max − λ_min)·t, so ᾱ = sigmoid(λ).

    The schedule with equal log-SNR change per unit time (VDM's fixed linear λ; Kingma et al. 2021 §5;
    chapter "Schedules in log-SNR space"). Uniform t gives λ uniform on [λ_min, λ_max].
    """
    t = check.unit_time(t)
    hi, lo = _log_snr_range(log_snr_max, log_snr_min)
    return hi - (hi - lo) * t


def _log_snr_range(log_snr_max, log_snr_min):
    hi = check.real(log_snr_max, "log_snr_max")
    lo = check.real(log_snr_min, "log_snr_min")
    if hi <= lo:
        raise ValueError(f"log_snr_max must be greater than log_snr_min, got {hi:g} <= {lo:g}")
    return hi, lo


def piecewise_log_snr(t, log_snr=(10.0, -10.0)) -> np.ndarray:
    """A designed schedule: λ(t) interpolated linearly between knots at equally spaced t in [0, 1].

    ``log_snr`` holds K >= 2 finite, strictly decreasing values λ_0 > λ_1 > ... > λ_{K−1}, placed at
    t_k = k/(K−1); between two knots λ is linear in t, and ᾱ = sigmoid(λ) (Kingma et al. 2021, VDM eq. 3).
    With K = 2 it is the ``logistic`` schedule with log_snr_max = λ_0 and log_snr_min = λ_1 (VDM §5);
    more knots give any continuous, strictly decreasing, piecewise-linear log-SNR curve. This is the
    form the seed's exercise 6 ("design your own schedule") is posed in, corrected to work in log-SNR
    (seed errata; chapter "Schedules in log-SNR space"; lab "Design a schedule"). The ends are finite,
    so ᾱ(1) = sigmoid(λ_{K−1}) > 0: no zero terminal SNR unless ``zero_terminal_snr=True`` is asked for.

    Args:
        t: times in [0, 1], any shape (float64).
        log_snr: the knots, a sequence of K >= 2 finite, strictly decreasing numbers.

    Returns:
        float64 array of λ(t), the shape of ``t``.
    """
    t = check.unit_time(t)
    knots = _log_snr_knots(log_snr)
    return np.interp(t, np.linspace(0.0, 1.0, knots.size), knots)


def _log_snr_knots(log_snr) -> np.ndarray:
    """Check the knots of :func:`piecewise_log_snr`: 1-D, K >= 2, finite, strictly decreasing."""
    if isinstance(log_snr, (str, bytes)) or np.ndim(log_snr) != 1:
        raise ValueError(f"log_snr must be a list of at least 2 numbers (the knots), got {log_snr!r}")
    if any(isinstance(v, (bool, np.bool_)) for v in log_snr):
        raise ValueError(f"log_snr must hold numbers, not bools, got {list(log_snr)!r}")
    knots = check.array(log_snr, "log_snr", ndim=1)
    if knots.size < 2:
        raise ValueError(f"log_snr needs at least 2 knots (the two ends of the curve), got {knots.size}")
    bad = np.flatnonzero(np.diff(knots) >= 0)
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"log_snr must be strictly decreasing (t = 0 is data, t = 1 is noise); knot {i + 1} "
                         f"({knots[i + 1]:g}) is not below knot {i} ({knots[i]:g})")
    return knots


def shifted_cosine_log_snr(t, d: float = 64, base: float = 64, log_snr_max: float = 15.0,
                           log_snr_min: float = -15.0) -> np.ndarray:
    """simple diffusion's cosine log-SNR schedule shifted for resolution d (Hoogeboom et al. 2023, eq. 5-6).

    λ(t) = −2 log tan(t_min + t(t_max − t_min)) + 2 log(base/d), with t_min = atan(exp(−λ_max/2)) and
    t_max = atan(exp(−λ_min/2)). The paper's convention: the interval [λ_min, λ_max] is set for the base
    resolution (64) and the whole curve moves by 2 log(base/d), so SNR_d = SNR_64·(64/d)²
    (k-diffusion's ``cosine-interpolated`` instead re-clips to [λ_min, λ_max] after the shift).
    Chapter "Resolution".
    """
    t = check.unit_time(t)
    d = check.real(d, "d", low=0, low_open=True)
    base = check.real(base, "base", low=0, low_open=True)
    hi, lo = _log_snr_range(log_snr_max, log_snr_min)
    t_min, t_max = math.atan(math.exp(-0.5 * hi)), math.atan(math.exp(-0.5 * lo))
    return -2 * np.log(np.tan(t_min + t * (t_max - t_min))) + 2 * math.log(base / d)


def sd3_time_shift(t, shift: float = 1.0) -> np.ndarray:
    """SD3's resolution-dependent time shift t' = s·t / (1 + (s−1)·t) (Esser et al. 2024, §5.3.2, eq. 23).

    For rectified flow (SNR = ((1−t)/t)²) it moves the log-SNR by exactly −2 log s at every t.
    Chapter "Resolution".
    """
    t = check.unit_time(t)
    s = check.real(shift, "shift", low=0, low_open=True)
    return s * t / (1 + (s - 1) * t)


def rectified_flow_log_snr(t, shift: float = 1.0) -> np.ndarray:
    """Log-SNR of rectified flow x_t = (1−t)x₀ + tε after the SD3 time shift: λ = 2 log((1−t')/t').

    Esser et al. 2024, §2 and §5.3.2. +inf at t = 0, −inf at t = 1 (zero terminal SNR).
    """
    ts = sd3_time_shift(t, shift)
    with np.errstate(divide="ignore"):
        return 2 * (np.log1p(-ts) - np.log(ts))


# --------------------------------------------------------------------------------------------------
# Discrete β chains
# --------------------------------------------------------------------------------------------------

def validate_betas(betas, name: str = "betas") -> np.ndarray:
    """Check a β chain: 1-D, finite, every β_t in (0, 1], and β_t = 1 only at the last step.

    0 < β_t ≤ 1 for all t is exactly the condition for λ_t to be strictly decreasing (chapter
    "SNR and log-SNR"); β_t = 1 before t = T would make ᾱ zero for several steps.
    Returns a read-only float64 copy.
    """
    b = check.array(betas, name, ndim=1)
    if b.size == 0:
        raise ValueError(f"{name} must hold at least one value")
    bad = np.flatnonzero((b <= 0) | (b > 1))
    if bad.size:
        i = bad[0]
        raise ValueError(f"{name} must lie in (0, 1]; {name}[{i}] (t={i + 1}) = {b[i]:.6g}")
    ones = np.flatnonzero(b[:-1] == 1)
    if ones.size:
        raise ValueError(f"{name} may equal 1 only at the last step (zero terminal SNR); "
                         f"{name}[{ones[0]}] (t={ones[0] + 1}) = 1")
    b = b.copy()
    b.flags.writeable = False
    return b


def alpha_bar_from_betas(betas) -> np.ndarray:
    """ᾱ_t = ∏_{s≤t}(1 − β_s) (Ho et al. 2020, eq. 4 and the line above it)."""
    return np.cumprod(1.0 - validate_betas(betas))


def betas_from_alpha_bar(alpha_bar) -> np.ndarray:
    """Invert the product: β_t = 1 − ᾱ_t/ᾱ_{t−1}, with ᾱ_0 = 1 (the data).

    ``alpha_bar`` must be strictly decreasing with values in (0, 1]; its last value may be 0 (zero
    terminal SNR). Chapter "The forward process".
    """
    ab = check.array(alpha_bar, "alpha_bar", ndim=1)
    if ab.size == 0:
        raise ValueError("alpha_bar must hold at least one value")
    if (ab[:-1] <= 0).any() or ab[-1] < 0 or (ab > 1).any():
        raise ValueError("alpha_bar must lie in (0, 1] (only the last value may be 0)")
    prev = np.concatenate([[1.0], ab[:-1]])
    if (ab >= prev).any():
        i = int(np.flatnonzero(ab >= prev)[0])
        raise ValueError(f"alpha_bar must be strictly decreasing and below 1; alpha_bar[{i}] (t={i + 1}) "
                         f"= {ab[i]:.6g} >= {prev[i]:.6g}")
    return validate_betas(1.0 - ab / prev)


def betas_for_alpha_bar(alpha_bar_fn: Callable, T: int, max_beta: float = 0.999) -> np.ndarray:
    """Discretise a continuous ᾱ(t): β_i = min(1 − ᾱ(i/T)/ᾱ((i−1)/T), max_beta), i = 1..T.

    improved-diffusion's ``betas_for_alpha_bar`` (Nichol & Dhariwal 2021, §3.2: "we clip β_t to be no
    larger than 0.999 to prevent singularities at the end"). The ratio rule normalises by ᾱ(0), so the
    chain's ᾱ_t equals ᾱ(t/T)/ᾱ(0) until the clip acts. Chapter "The classic schedules".
    """
    T = check.num_steps(T)
    max_beta = check.real(max_beta, "max_beta", low=0, high=1, low_open=True)
    if not callable(alpha_bar_fn):
        raise ValueError(f"alpha_bar_fn must be callable, got {type(alpha_bar_fn).__name__}")
    ab = check.array(alpha_bar_fn(np.arange(T + 1) / T), "alpha_bar_fn(t)", ndim=1)
    if ab.shape != (T + 1,):
        raise ValueError(f"alpha_bar_fn must map an array of shape ({T + 1},) to the same shape, got {ab.shape}")
    if (ab[:-1] <= 0).any() or (ab < 0).any() or (ab > 1).any():
        raise ValueError("alpha_bar_fn(t) must lie in (0, 1] for t < 1 (and in [0, 1] at t = 1)")
    return validate_betas(np.minimum(1.0 - ab[1:] / ab[:-1], max_beta))


def linear_betas(T: int, beta_min: float = 1e-4, beta_max: float = 0.02,
                 scale_to_T: bool = False) -> np.ndarray:
    """DDPM linear schedule β_t = β_min + (t−1)/(T−1)·(β_max − β_min) (Ho et al. 2020, §4).

    ``scale_to_T=True`` multiplies both ends by 1000/T, as improved-diffusion's ``"linear"`` does, so that
    any T gives roughly the same ᾱ curve. Chapter "The classic schedules".
    """
    T = check.num_steps(T)
    beta_min, beta_max = _beta_range(beta_min, beta_max)
    scale = 1000.0 / T if check.flag(scale_to_T, "scale_to_T") else 1.0
    return validate_betas(np.linspace(scale * beta_min, scale * beta_max, T))


def sqrt_linear_betas(T: int, beta_min: float = 1e-4, beta_max: float = 0.02) -> np.ndarray:
    """β_t = (√β_min + u(√β_max − √β_min))², u = (t−1)/(T−1): linear in √β.

    This one formula is DDPM's ``quad`` (defaults 1e-4..0.02, Ho et al. 2020 code) and Stable Diffusion's
    ``scaled_linear`` (0.00085..0.012, Rombach et al. 2022; "linear" in the LDM code). Chapter
    "The classic schedules".
    """
    T = check.num_steps(T)
    beta_min, beta_max = _beta_range(beta_min, beta_max)
    return validate_betas(np.linspace(beta_min ** 0.5, beta_max ** 0.5, T) ** 2)


def quadratic_betas(T: int, beta_min: float = 1e-4, beta_max: float = 0.02) -> np.ndarray:
    """The seed's quadratic schedule β_t = β_min + ((t−1)/(T−1))²·(β_max − β_min).

    Not the common √-linspace ``quad`` form: at u = 1/2 it gives β = 0.005085 against 0.005742 (seed
    errata row 26). Chapter "The classic schedules".
    """
    T = check.num_steps(T)
    beta_min, beta_max = _beta_range(beta_min, beta_max)
    return validate_betas(beta_min + np.linspace(0.0, 1.0, T) ** 2 * (beta_max - beta_min))


def beta_sigmoid_betas(T: int, beta_min: float = 1e-4, beta_max: float = 0.02) -> np.ndarray:
    """diffusers' ``"sigmoid"`` (from GeoDiff, Xu et al. 2022): β = sigmoid(linspace(−6, 6, T))·(β_max − β_min) + β_min.

    A sigmoid ramp in β, not Chen's sigmoid in ᾱ. Chapter "The classic schedules".
    """
    T = check.num_steps(T)
    beta_min, beta_max = _beta_range(beta_min, beta_max)
    return validate_betas(_sigmoid(np.linspace(-6.0, 6.0, T)) * (beta_max - beta_min) + beta_min)


def _beta_range(beta_min, beta_max):
    lo = check.real(beta_min, "beta_min", low=0, high=1, low_open=True)
    hi = check.real(beta_max, "beta_max", low=0, high=1, low_open=True)
    if hi < lo:
        raise ValueError(f"beta_max must be >= beta_min, got beta_min={lo:g}, beta_max={hi:g}")
    return lo, hi


def rescale_zero_terminal_snr(betas) -> np.ndarray:
    """Rescale a chain to zero terminal SNR (Lin et al. 2024, Algorithm 1).

    √ᾱ ← (√ᾱ − √ᾱ_T)·√ᾱ_1/(√ᾱ_1 − √ᾱ_T): keeps √ᾱ_1, sets √ᾱ_T = 0 exactly (so β_T = 1), and moves
    every other step linearly in √ᾱ. A model trained on it must not predict ε at t = T (use v-prediction).
    Chapter "The endpoints and sampling".
    """
    betas = validate_betas(betas)
    if betas.size < 2:
        raise ValueError("rescale_zero_terminal_snr needs at least 2 steps (T >= 2)")
    root = np.sqrt(alpha_bar_from_betas(betas))
    first, last = root[0], root[-1]
    root = (root - last) * first / (first - last)
    root[-1] = 0.0
    return betas_from_alpha_bar(root ** 2)


# --------------------------------------------------------------------------------------------------
# The registry
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Schedule:
    """A named discrete schedule: its parameters, β_1..β_T and ᾱ_1..ᾱ_T (read-only float64 arrays).

    Index 0 of each array is step t = 1. Build one with :func:`get_schedule`, or from your own chain with
    ``Schedule.from_betas(betas)``; the constructor re-validates the chain.
    """

    name: str
    params: Mapping
    betas: np.ndarray
    alpha_bar: np.ndarray

    def __post_init__(self):
        betas = validate_betas(self.betas)
        alpha_bar = np.cumprod(1.0 - betas)
        given = check.array(self.alpha_bar, "alpha_bar", ndim=1)
        if given.shape != alpha_bar.shape or not np.allclose(given, alpha_bar, rtol=1e-12, atol=0):
            raise ValueError("alpha_bar must equal cumprod(1 - betas)")
        alpha_bar.flags.writeable = False
        object.__setattr__(self, "betas", betas)
        object.__setattr__(self, "alpha_bar", alpha_bar)
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))

    @classmethod
    def from_betas(cls, betas, name: str = "custom", params: Mapping | None = None) -> "Schedule":
        """Wrap a user-supplied β chain (validated) as a Schedule."""
        betas = validate_betas(betas)
        return cls(name, params or {}, betas, np.cumprod(1.0 - betas))

    @property
    def T(self) -> int:
        """Number of steps."""
        return int(self.betas.size)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"Schedule({self.name!r}, T={self.T}, {args})"


def _cosine(T, *, s=0.008, max_beta=0.999):
    """iDDPM cosine (Nichol & Dhariwal 2021, eq. 17), discretised by betas_for_alpha_bar with the 0.999 clip."""
    return betas_for_alpha_bar(lambda t: cosine_alpha_bar(t, s), T, max_beta)


def _chen_sigmoid(T, *, start=-3.0, end=3.0, tau=1.0, clip_min=1e-9, max_beta=0.999):
    """Chen 2023 Alg. 1 sigmoid ᾱ-curve (RIN), discretised by betas_for_alpha_bar (as lucidrains does)."""
    return betas_for_alpha_bar(lambda t: chen_sigmoid_alpha_bar(t, start, end, tau, clip_min), T, max_beta)


def _chen_cosine(T, *, start=0.0, end=1.0, tau=1.0, clip_min=1e-9, max_beta=0.999):
    """Chen 2023 Alg. 1 cosine ᾱ-curve, discretised by betas_for_alpha_bar."""
    return betas_for_alpha_bar(lambda t: chen_cosine_alpha_bar(t, start, end, tau, clip_min), T, max_beta)


def _from_log_snr(log_snr_fn, T):
    """A chain whose ᾱ_t = sigmoid(λ(t/T)) exactly at t = 1..T (ᾱ_0 = 1 is the data)."""
    T = check.num_steps(T)
    return betas_from_alpha_bar(alpha_bar_from_log_snr(log_snr_fn(np.arange(1, T + 1) / T)))


def _logistic(T, *, log_snr_max=10.0, log_snr_min=-10.0):
    """Linear log-SNR ("logistic") schedule, λ_t = λ_max − (λ_max − λ_min)·t/T exactly (VDM §5)."""
    return _from_log_snr(lambda t: logistic_log_snr(t, log_snr_max, log_snr_min), T)


def _piecewise_log_snr(T, *, log_snr=(10.0, -10.0)):
    """A designed piecewise-linear log-SNR curve, λ_t = λ(t/T) exactly (the ``logistic`` rule)."""
    knots = tuple(float(v) for v in _log_snr_knots(log_snr))
    return _from_log_snr(lambda t: piecewise_log_snr(t, knots), T)


def _shifted_cosine(T, *, d=64.0, base=64.0, log_snr_max=15.0, log_snr_min=-15.0):
    """simple diffusion's shifted cosine log-SNR (Hoogeboom et al. 2023, eq. 5-6), read off at t/T."""
    return _from_log_snr(lambda t: shifted_cosine_log_snr(t, d, base, log_snr_max, log_snr_min), T)


def _rectified_flow(T, *, shift=1.0):
    """Rectified flow (SNR = ((1−t)/t)²) with SD3's time shift, read off at t/T; zero terminal SNR."""
    return _from_log_snr(lambda t: rectified_flow_log_snr(t, shift), T)


def _linear(T, *, beta_min=1e-4, beta_max=0.02, scale_to_T=False):
    """DDPM linear β (Ho et al. 2020); scale_to_T applies improved-diffusion's 1000/T scaling."""
    return linear_betas(T, beta_min, beta_max, scale_to_T)


def _scaled_linear(T, *, beta_min=0.00085, beta_max=0.012):
    """Stable Diffusion's ``scaled_linear``: linear in √β from 0.00085 to 0.012 (Rombach et al. 2022)."""
    return sqrt_linear_betas(T, beta_min, beta_max)


def _quad(T, *, beta_min=1e-4, beta_max=0.02):
    """DDPM's ``quad``: linear in √β from 1e-4 to 0.02 (the common quadratic form)."""
    return sqrt_linear_betas(T, beta_min, beta_max)


def _quadratic(T, *, beta_min=1e-4, beta_max=0.02):
    """The seed's quadratic form, β quadratic in (t−1)/(T−1)."""
    return quadratic_betas(T, beta_min, beta_max)


def _beta_sigmoid(T, *, beta_min=1e-4, beta_max=0.02):
    """diffusers' ``sigmoid`` (GeoDiff): a sigmoid ramp in β."""
    return beta_sigmoid_betas(T, beta_min, beta_max)


_REGISTRY: dict[str, Callable] = {
    "linear": _linear,
    "scaled_linear": _scaled_linear,
    "quad": _quad,
    "quadratic": _quadratic,
    "beta_sigmoid": _beta_sigmoid,
    "cosine": _cosine,
    "chen_sigmoid": _chen_sigmoid,
    "chen_cosine": _chen_cosine,
    "logistic": _logistic,
    "piecewise_log_snr": _piecewise_log_snr,
    "shifted_cosine": _shifted_cosine,
    "rectified_flow": _rectified_flow,
}


def list_schedules() -> list[str]:
    """Names accepted by :func:`get_schedule`, in registry order."""
    return list(_REGISTRY)


def schedule_params(name: str) -> dict:
    """The parameters of schedule ``name`` with their defaults (plus ``zero_terminal_snr=False``)."""
    check.choice(name, "schedule", list(_REGISTRY))
    sig = inspect.signature(_REGISTRY[name])
    params = {p.name: p.default for p in sig.parameters.values() if p.kind is p.KEYWORD_ONLY}
    params["zero_terminal_snr"] = False
    return params


def get_schedule(name: str, T: int = 1000, **params) -> Schedule:
    """Build the named schedule with T steps: ``get_schedule("cosine", 1000, s=0.008)``.

    ``zero_terminal_snr=True`` applies :func:`rescale_zero_terminal_snr` (Lin et al. 2024, Alg. 1) to any
    schedule. An unknown name or parameter raises ``ValueError`` listing what is valid; every parameter
    is checked, and the resulting chain must satisfy 0 < β_t ≤ 1.
    """
    if not isinstance(name, str) or name not in _REGISTRY:
        raise ValueError(f"unknown schedule {name!r}; valid: {', '.join(_REGISTRY)}")
    T = check.num_steps(T)
    valid = schedule_params(name)
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise ValueError(f"unknown parameter(s) {', '.join(unknown)} for schedule {name!r}; "
                         f"valid: {', '.join(valid)}")
    full = {k: tuple(v) if isinstance(v, list) else v for k, v in {**valid, **params}.items()}  # frozen lists
    zero_terminal = check.flag(full.pop("zero_terminal_snr"), "zero_terminal_snr")
    try:
        betas = _REGISTRY[name](T, **full)
    except ValueError as err:
        raise ValueError(f"schedule {name!r} with T={T}: {err}") from None
    if zero_terminal:
        betas = rescale_zero_terminal_snr(betas)
    return Schedule(name, {**full, "zero_terminal_snr": zero_terminal}, betas, np.cumprod(1.0 - betas))


# --------------------------------------------------------------------------------------------------
# Schedules added later (chapter "More Schedules"); new names only, nothing above changes
# --------------------------------------------------------------------------------------------------

def laplace_log_snr(t, mu: float = 0.0, b: float = 0.5) -> np.ndarray:
    """The Laplace schedule of Hang et al. 2024: λ(t) = μ − b·sgn(½ − t)·log(1 − 2|t − ½|).

    Hang et al. 2024 ("Improved Noise Schedule for Diffusion Training") design a schedule by its density of
    log-SNR; for the Laplace density p(λ) = exp(−|λ − μ|/b)/(2b) the schedule is the inverse of its
    survival function, t = P(Λ > λ), which is this formula (derived in chapter "More Schedules"). Uniform t
    then gives λ ∼ Laplace(μ, b). +inf at t = 0 and −inf at t = 1 (zero terminal SNR). The defaults
    μ = 0, b = 0.5 are the values diffusers hard-codes in ``betas_for_alpha_bar(alpha_transform_type=
    "laplace")``, which also adds 1e-6 inside the log and returns √ᾱ where ᾱ is expected (chapter
    "More Schedules" checks both); this function is the paper's formula, without either.
    """
    t = check.unit_time(t)
    mu = check.real(mu, "mu")
    b = check.real(b, "b", low=0, low_open=True)
    with np.errstate(divide="ignore"):
        return mu - b * np.sign(0.5 - t) * np.log1p(-2.0 * np.abs(t - 0.5))


def interpolated_cosine_log_snr(t, d: float = 256, noise_d_low: float = 32, noise_d_high: float = 256,
                                log_snr_max: float = 15.0, log_snr_min: float = -15.0) -> np.ndarray:
    """simple diffusion's interpolated schedule: λ(t) = t·λ_low(t) + (1 − t)·λ_high(t) (Hoogeboom et al. 2023, §3).

    λ_low and λ_high are the cosine log-SNR shifted for resolution ``d`` from the base resolutions
    ``noise_d_low`` and ``noise_d_high`` (:func:`shifted_cosine_log_snr`, shift 2 log(base/d)). At the clean
    end (t = 0) the curve follows the shift of the high base (little noise added, detail kept); towards
    pure noise (t = 1) it moves onto the shift of the low base (the global structure of a low-resolution
    image). The same formula as lucidrains' ``logsnr_schedule_interpolated`` (simple-diffusion-pytorch).
    Chapter "More Schedules".
    """
    t = check.unit_time(t)
    d = check.real(d, "d", low=0, low_open=True)
    lo = check.real(noise_d_low, "noise_d_low", low=0, low_open=True)
    hi = check.real(noise_d_high, "noise_d_high", low=0, low_open=True)
    if lo > hi:
        raise ValueError(f"noise_d_low must be <= noise_d_high, got {lo:g} > {hi:g}")
    low = shifted_cosine_log_snr(t, d, lo, log_snr_max, log_snr_min)
    high = shifted_cosine_log_snr(t, d, hi, log_snr_max, log_snr_min)
    return t * low + (1.0 - t) * high


def _laplace(T, *, mu=0.0, b=0.5):
    """Hang et al. 2024's Laplace schedule, λ_t = λ(t/T) exactly (λ_T = −inf: zero terminal SNR)."""
    return _from_log_snr(lambda t: laplace_log_snr(t, mu, b), T)


def _interpolated_cosine(T, *, d=256.0, noise_d_low=32.0, noise_d_high=256.0, log_snr_max=15.0, log_snr_min=-15.0):
    """simple diffusion's interpolated shifted cosine, read off at t/T."""
    return _from_log_snr(lambda t: interpolated_cosine_log_snr(t, d, noise_d_low, noise_d_high, log_snr_max,
                                                               log_snr_min), T)


_REGISTRY.update({"laplace": _laplace, "interpolated_cosine": _interpolated_cosine})
__all__ += ["laplace_log_snr", "interpolated_cosine_log_snr"]
