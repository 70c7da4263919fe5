"""Loss weights w(t) as functions of SNR, and the training-time noise-level densities p(t) / p(λ).

A diffusion loss is E_{t∼p(t)}[w(t)·‖target − prediction‖²]. Which *frame* the squared error is taken
in changes the weight (chapter "The loss and the VLB weight"): for the same denoiser,
‖ε − ε̂‖² = SNR·‖x₀ − x̂₀‖² and ‖v − v̂‖² = (1 + SNR)·‖x₀ − x̂₀‖², so a weight w on the ε-MSE equals
the weight SNR·w on the x₀-MSE and SNR·w/(1 + SNR) on the v-MSE. Every weight below says which frame
it is expressed in (``frame`` = ``"eps"``, ``"x0"`` or ``"v"``) and is finite (or exactly inf where
the maths is) at SNR = 0 and SNR = inf, never NaN.

Only the product w(λ)·p(λ) matters to the expected loss (Kingma & Gao 2023, §3); the densities
below give p(λ) so that a weighting and a sampling density can be compared on one axis
(chapter "Weighting the loss").
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Callable

import numpy as np

from . import _validate as check
from .quantities import ScheduleQuantities

__all__ = [
    "FRAMES",
    "uniform_weight",
    "min_snr_weight",
    "p2_weight",
    "vlb_weight",
    "vlb_weight_from_snr",
    "vlb_constant_term",
    "convert_weight",
    "get_weighting",
    "list_weightings",
    "UniformTime",
    "EDMLogNormal",
    "LogitNormalTime",
    "sigmoid_weight",
]

FRAMES = ("eps", "x0", "v")


def _snr(snr) -> np.ndarray:
    out = check.array(snr, "snr", allow_inf=True)
    if (out < 0).any():
        raise ValueError(f"snr must be >= 0, got {out[out < 0].flat[0]:g}")
    return out


def _frame_factor(snr: np.ndarray, frame: str) -> np.ndarray:
    """f_frame with ‖frame error‖² = f_frame · ‖x₀ error‖²: SNR (ε), 1 (x₀), 1 + SNR (v)."""
    check.choice(frame, "frame", FRAMES)
    return {"eps": snr, "x0": np.ones_like(snr), "v": 1.0 + snr}[frame]


def uniform_weight(snr, frame: str = "eps") -> np.ndarray:
    """w = 1 in the given frame: L_simple when frame = "eps" (Ho et al. 2020, eq. 14)."""
    snr = _snr(snr)
    check.choice(frame, "frame", FRAMES)
    return np.ones_like(snr)


def min_snr_weight(snr, gamma: float = 5.0, frame: str = "eps") -> np.ndarray:
    """Min-SNR-γ (Hang et al. 2023, ICCV, eq. 9): x₀-frame weight min(SNR, γ), expressed in ``frame``.

    ε: min(SNR, γ)/SNR = min(1, γ/SNR) (capped at 1, and exactly 1 at SNR = 0);
    x₀: min(SNR, γ); v: min(SNR, γ)/(SNR + 1) (the authors' form for v, Min-SNR repo issue #3).
    γ = 5 is the paper's default. Chapter "Weighting the loss".
    """
    snr = _snr(snr)
    gamma = check.real(gamma, "gamma", low=0, low_open=True)
    check.choice(frame, "frame", FRAMES)
    clamped = np.minimum(snr, gamma)
    with np.errstate(divide="ignore", invalid="ignore"):
        if frame == "eps":
            return np.where(snr > gamma, gamma / snr, 1.0)
        if frame == "x0":
            return clamped
        return clamped / (snr + 1.0)  # γ/inf = 0 at SNR = inf, 0/1 = 0 at SNR = 0


def p2_weight(snr, k: float = 1.0, gamma: float = 1.0, frame: str = "eps") -> np.ndarray:
    """P2 weighting (Choi et al. 2022, CVPR, eq. 8): 1/(k + SNR)^γ on the ε-MSE, expressed in ``frame``.

    Decreasing in SNR, so it suppresses the high-SNR ("cleaning-up") steps; the paper uses k = 1 and
    γ ∈ {0.5, 1}. Chapter "Weighting the loss".
    """
    snr = _snr(snr)
    k = check.real(k, "k", low=0, low_open=True)
    gamma = check.real(gamma, "gamma", low=0)
    w_eps = (k + snr) ** -gamma
    return convert_weight(w_eps, snr, "eps", frame)


def convert_weight(weight, snr, from_frame: str, to_frame: str) -> np.ndarray:
    """Re-express a loss weight in another frame: w_to = w_from · f_from / f_to.

    f_eps = SNR, f_x0 = 1, f_v = 1 + SNR, because ‖ε−ε̂‖² = SNR‖x₀−x̂₀‖² and ‖v−v̂‖² = (1+SNR)‖x₀−x̂₀‖²
    (Salimans & Ho 2022 for v; chapter "The loss and the VLB weight"). Where the product is
    indeterminate (0·inf at SNR = 0 or inf) a ``ValueError`` says so; compute that weight directly in
    the target frame instead (as :func:`min_snr_weight` does).
    """
    snr = _snr(snr)
    w = check.array(weight, "weight", allow_inf=True)
    try:
        w, snr = np.broadcast_arrays(w, snr)
    except ValueError:
        raise ValueError(f"weight shape {w.shape} does not broadcast against snr shape {snr.shape}") from None
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        out = w * (_frame_factor(snr, from_frame) / _frame_factor(snr, to_frame))
    if np.isnan(out).any():
        i = np.flatnonzero(np.isnan(out.ravel()))[0]
        raise ValueError(f"converting weight from {from_frame!r} to {to_frame!r} is indeterminate at "
                         f"snr={snr.ravel()[i]:g} (0 x inf); evaluate the weight in {to_frame!r} directly")
    return out


# --------------------------------------------------------------------------------------------------
# The VLB weight (discrete time)
# --------------------------------------------------------------------------------------------------

def _reverse_variance(q: ScheduleQuantities, variance: str) -> np.ndarray:
    check.choice(variance, "variance", ("posterior", "beta"))
    return q.posterior_variance if variance == "posterior" else q.betas


def vlb_weight(q: ScheduleQuantities, variance: str = "posterior") -> np.ndarray:
    """Weight of ‖ε − ε_θ‖² in the VLB term L_{t−1}: β_t² / (2σ_t² α_t (1 − ᾱ_t)) (Ho et al. 2020, eq. 12).

    ``variance`` picks the reverse-process variance σ_t²: ``"posterior"`` (σ² = β̃_t) or ``"beta"``
    (σ² = β_t). With σ² = β̃ the weight equals ½(SNR_{t−1} − SNR_t)/SNR_t (:func:`vlb_weight_from_snr`);
    it is +inf at t = 1, where β̃_1 = 0 and the term is the decoder L_0 rather than a Gaussian KL.
    Per data dimension; chapter "The loss and the VLB weight".
    """
    if not isinstance(q, ScheduleQuantities):
        raise ValueError("q must be a ScheduleQuantities (from get_schedule_quantities)")
    sigma2 = _reverse_variance(q, variance)
    with np.errstate(divide="ignore"):
        return q.betas ** 2 / (2.0 * sigma2 * q.alphas * q.one_minus_alpha_bar)


def vlb_weight_from_snr(snr_prev, snr) -> np.ndarray:
    """The σ² = β̃ VLB weight in SNR form: ½(SNR(t−1) − SNR(t))/SNR(t) (Kingma et al. 2021, VDM eq. 13).

    +inf where SNR(t) = 0 (zero terminal SNR) or SNR(t−1) = inf (t = 1). Chapter "The loss and the VLB weight".
    """
    prev, cur = np.broadcast_arrays(_snr(snr_prev), _snr(snr))
    if (prev < cur).any():
        raise ValueError("snr_prev must be >= snr (SNR decreases with t)")
    with np.errstate(divide="ignore", invalid="ignore"):
        out = 0.5 * (prev / cur - 1.0)
    return np.where((cur == 0) | np.isinf(prev), np.inf, out)


def vlb_constant_term(q: ScheduleQuantities, variance: str = "posterior") -> np.ndarray:
    """The parameter-free part of L_{t−1} per data dimension: ½(r − 1 − log r), r = β̃_t/σ_t².

    Zero for σ² = β̃; positive for σ² = β (the KL between two Gaussians with different variances).
    +inf at t = 1 for σ² = β, where β̃_1 = 0. Chapter "The loss and the VLB weight".
    """
    if not isinstance(q, ScheduleQuantities):
        raise ValueError("q must be a ScheduleQuantities (from get_schedule_quantities)")
    if _reverse_variance(q, variance) is q.posterior_variance:
        return np.zeros_like(q.betas)  # r = 1 at every step (β̃_1 = 0 matches itself at t = 1)
    r = q.posterior_variance / q.betas
    with np.errstate(divide="ignore"):
        return 0.5 * (r - 1.0 - np.log(r))  # r = 0 at t = 1 gives +inf


# --------------------------------------------------------------------------------------------------
# A registry of SNR-only weightings (for the lab engine and command line)
# --------------------------------------------------------------------------------------------------

_WEIGHTINGS: dict[str, Callable] = {
    "uniform": uniform_weight,
    "min_snr": min_snr_weight,
    "p2": p2_weight,
}


def list_weightings() -> list[str]:
    """Names accepted by :func:`get_weighting`."""
    return list(_WEIGHTINGS)


def get_weighting(name: str, **params) -> Callable:
    """Return ``w(snr, frame="eps")`` for a named weighting with its parameters bound.

    ``get_weighting("min_snr", gamma=5)(snr, frame="v")``. Unknown names or parameters raise
    ``ValueError`` listing what is valid.
    """
    if name not in _WEIGHTINGS:
        raise ValueError(f"unknown weighting {name!r}; valid: {', '.join(_WEIGHTINGS)}")
    fn = _WEIGHTINGS[name]
    valid = [p for p in list(inspect.signature(fn).parameters)[1:] if p != "frame"]
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise ValueError(f"unknown parameter(s) {', '.join(unknown)} for weighting {name!r}; "
                         f"valid: {', '.join(valid) or '(none)'}")
    fn(np.array([1.0]), **params)  # validate the parameters now, not at the first training step

    def weight(snr, frame: str = "eps"):
        return fn(snr, **params, frame=frame)

    weight.__name__ = f"{name}_weight"
    weight.__doc__ = f"{fn.__name__} with {params or 'its defaults'}."
    return weight


# --------------------------------------------------------------------------------------------------
# Training-time noise-level densities
# --------------------------------------------------------------------------------------------------

def _rng(rng) -> np.random.Generator:
    if rng is None or isinstance(rng, (int, np.integer)):
        return np.random.default_rng(rng)
    if not isinstance(rng, np.random.Generator):
        raise ValueError("rng must be None, an int seed or a numpy.random.Generator")
    return rng


def _normal_pdf(x, mean, std):
    return np.exp(-0.5 * ((x - mean) / std) ** 2) / (std * np.sqrt(2 * np.pi))


@dataclass(frozen=True)
class UniformTime:
    """t ∼ U(0, 1) pushed through a continuous log-SNR schedule λ(t) (DDPM/iDDPM training).

    ``log_snr_fn`` maps t ∈ [0, 1] to λ, strictly decreasing (e.g. ``sched_lib.schedules.cosine_log_snr``).
    The density of λ is p(λ) = 1/|dλ/dt| at t = λ⁻¹(λ) (change of variables; for the cosine schedule
    without offset it is sech(λ/2)/(2π), Kingma & Gao 2023 Appendix). The inverse is found by bisection
    and the derivative by a central difference with a step relative to the distance from the
    nearer end, to about 1e-8 relative.
    """

    log_snr_fn: Callable

    def __post_init__(self):
        if not callable(self.log_snr_fn):
            raise ValueError(f"log_snr_fn must be a callable t -> log-SNR (e.g. schedules.cosine_log_snr), "
                             f"got {type(self.log_snr_fn).__name__}")
        ends = np.asarray(self.log_snr_fn(np.array([0.0, 0.5, 1.0])), dtype=np.float64)
        if ends.shape != (3,) or np.isnan(ends).any() or not (ends[0] > ends[1] > ends[2]):
            raise ValueError("log_snr_fn must map an array of t in [0, 1] to a decreasing log-SNR of the same "
                             f"shape (got {ends!r} at t = 0, 0.5, 1)")

    def sample(self, n: int, rng=None) -> np.ndarray:
        """n draws of t ∼ U(0, 1)."""
        return _rng(rng).random(check.num_steps(n, "n"))

    def sample_log_snr(self, n: int, rng=None) -> np.ndarray:
        """n draws of λ(t), t ∼ U(0, 1)."""
        return np.asarray(self.log_snr_fn(self.sample(n, rng)), dtype=np.float64)

    def log_snr_density(self, log_snr) -> np.ndarray:
        """p(λ) under uniform t; 0 outside the schedule's range of λ."""
        lam = check.array(log_snr, "log_snr")
        lo, hi = np.zeros_like(lam), np.ones_like(lam)
        for _ in range(60):  # bisection: λ(t) is decreasing, so λ(mid) > target means t is right of mid
            mid = 0.5 * (lo + hi)
            right = self.log_snr_fn(mid) > lam
            lo, hi = np.where(right, mid, lo), np.where(right, hi, mid)
        t = 0.5 * (lo + hi)
        h = 1e-4 * np.maximum(np.minimum(t, 1 - t), 1e-12)  # relative step: λ(t) is steep near the ends
        a, b = np.maximum(t - h, 0.0), np.minimum(t + h, 1.0)
        with np.errstate(invalid="ignore"):
            slope = (self.log_snr_fn(b) - self.log_snr_fn(a)) / (b - a)
        inside = (lam < self.log_snr_fn(np.zeros(1))[0]) & (lam > self.log_snr_fn(np.ones(1))[0])
        with np.errstate(divide="ignore"):
            dens = np.where(inside & np.isfinite(slope) & (slope < 0), -1.0 / slope, 0.0)
        return dens


@dataclass(frozen=True)
class EDMLogNormal:
    """EDM's training density: log σ ∼ N(P_mean, P_std²) (Karras et al. 2022, Table 1 and §5).

    With σ² = 1/SNR (VE/EDM noise level), λ = −2 log σ ∼ N(−2·P_mean, (2·P_std)²).
    Defaults P_mean = −1.2, P_std = 1.2 are the paper's.
    """

    p_mean: float = -1.2
    p_std: float = 1.2

    def __post_init__(self):
        check.real(self.p_mean, "p_mean")
        check.real(self.p_std, "p_std", low=0, low_open=True)

    def sample(self, n: int, rng=None) -> np.ndarray:
        """n draws of σ = exp(P_mean + P_std·z)."""
        return np.exp(self.p_mean + self.p_std * _rng(rng).standard_normal(check.num_steps(n, "n")))

    def sample_log_snr(self, n: int, rng=None) -> np.ndarray:
        """n draws of λ = −2 log σ."""
        return -2.0 * np.log(self.sample(n, rng))

    def log_snr_density(self, log_snr) -> np.ndarray:
        """p(λ) = N(λ; −2·P_mean, (2·P_std)²)."""
        return _normal_pdf(check.array(log_snr, "log_snr"), -2.0 * self.p_mean, 2.0 * self.p_std)


@dataclass(frozen=True)
class LogitNormalTime:
    """SD3's logit-normal time density for rectified flow: t = sigmoid(u), u ∼ N(m, s²) (Esser et al. 2024, eq. 19).

    Rectified flow has λ = 2 log((1−t)/t) = −2u, so λ ∼ N(−2m, (2s)²). ``loc`` = m, ``scale`` = s;
    the paper's best setting is m = 0, s = 1.
    """

    loc: float = 0.0
    scale: float = 1.0

    def __post_init__(self):
        check.real(self.loc, "loc")
        check.real(self.scale, "scale", low=0, low_open=True)

    def _sample_logit(self, n, rng):
        return self.loc + self.scale * _rng(rng).standard_normal(check.num_steps(n, "n"))

    def sample(self, n: int, rng=None) -> np.ndarray:
        """n draws of t = sigmoid(m + s·z) in (0, 1)."""
        return 0.5 * (1.0 + np.tanh(0.5 * self._sample_logit(n, rng)))

    def sample_log_snr(self, n: int, rng=None) -> np.ndarray:
        """n draws of λ = 2 log((1−t)/t) = −2u for rectified flow (the same draws as ``sample``)."""
        return -2.0 * self._sample_logit(n, rng)

    def log_snr_density(self, log_snr) -> np.ndarray:
        """p(λ) = N(λ; −2m, (2s)²)."""
        return _normal_pdf(check.array(log_snr, "log_snr"), -2.0 * self.loc, 2.0 * self.scale)


# --------------------------------------------------------------------------------------------------
# Monotone weightings (Kingma & Gao 2023)
# --------------------------------------------------------------------------------------------------

def sigmoid_weight(log_snr, bias: float = 0.0) -> np.ndarray:
    """Kingma & Gao's sigmoid weighting w(λ) = sigmoid(b − λ) on the ε-MSE, with bias b.

    Kingma & Gao 2023 (the "sigmoid" weighting of their experiments). The weight falls monotonically from
    1 (λ → −inf) to 0 (λ → +inf), so by their main theorem the loss is the ELBO of data augmented with noise at a level
    λ ∼ −dw/dλ = sigmoid(b − λ)·sigmoid(λ − b): a logistic density centred at b. This ``w`` is the
    total ε-frame weight relative to the ELBO (their w(λ), the weight times the density of λ, not a
    weight to use on top of a schedule's own density). Finite at λ = ±inf (1 and 0).
    Chapter "Every Weighting Is an ELBO".
    """
    lam = check.array(log_snr, "log_snr", allow_inf=True)
    b = check.real(bias, "bias")
    with np.errstate(over="ignore"):
        e = np.exp(-np.abs(b - lam))
    return np.where(b - lam >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


@dataclass(frozen=True)
class LaplaceLogSNR:
    """Hang et al. 2024's Laplace density of the log-SNR: p(λ) = exp(−|λ − μ|/b)/(2b).

    Training draws t ∼ U(0, 1) and maps it through :func:`sched_lib.schedules.laplace_log_snr`, which makes
    λ Laplace-distributed (the inverse-survival-function construction; chapter "More Schedules").
    Defaults μ = 0, b = 0.5 as in diffusers' ``laplace`` option.
    """

    mu: float = 0.0
    b: float = 0.5

    def __post_init__(self):
        check.real(self.mu, "mu")
        check.real(self.b, "b", low=0, low_open=True)

    def sample(self, n: int, rng=None) -> np.ndarray:
        """n draws of t ∼ U(0, 1)."""
        return _rng(rng).random(check.num_steps(n, "n"))

    def sample_log_snr(self, n: int, rng=None) -> np.ndarray:
        """n draws of λ = λ(t), t ∼ U(0, 1) (the same draws as ``sample``)."""
        from .schedules import laplace_log_snr
        return laplace_log_snr(self.sample(n, rng), self.mu, self.b)

    def log_snr_density(self, log_snr) -> np.ndarray:
        """p(λ) = exp(−|λ − μ|/b)/(2b)."""
        lam = check.array(log_snr, "log_snr", allow_inf=True)
        return np.exp(-np.abs(lam - self.mu) / self.b) / (2.0 * self.b)


def sd3_shifted_logit_normal(loc: float = 0.0, scale: float = 1.0, shift: float = 1.0) -> LogitNormalTime:
    """SD3's logit-normal time density after its time shift, which is again logit-normal: loc → loc + log(shift).

    Esser et al. 2024: t = sigmoid(u), u ∼ N(m, s²) (eq. 19), then t' = shift·t/(1 + (shift − 1)·t)
    (§5.3.2, eq. 23). Since t'/(1 − t') = shift·t/(1 − t), logit t' = u + log(shift) exactly, so t' is
    logit-normal with location m + log(shift) and the same scale; for rectified flow λ' ∼ N(−2m − 2 log shift,
    (2s)²). Chapter "More Schedules".
    """
    loc = check.real(loc, "loc")
    scale = check.real(scale, "scale", low=0, low_open=True)
    shift = check.real(shift, "shift", low=0, low_open=True)
    return LogitNormalTime(loc + float(np.log(shift)), scale)


__all__ += ["LaplaceLogSNR", "sd3_shifted_logit_normal"]
