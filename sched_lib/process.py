"""The forward process q(x_t | x₀), its posterior, the ε/x₀/v conversions and the training loss (torch).

This is where tensors meet the schedule (chapters "The forward process" and "The loss and the VLB
weight"). A :class:`Process` holds a discrete schedule's quantities twice: as float64 NumPy arrays
(``process.q``, from :func:`sched_lib.quantities.get_schedule_quantities`) and as torch buffers on the
device. Per-sample coefficients are gathered from the buffers at the 0-indexed timesteps ``t`` and cast
to the dtype of the tensor they multiply (the model's dtype): the schedule arithmetic itself stays in
float64.

Conventions (as in diffusers and improved-diffusion): ``t`` is a LongTensor of shape (N,) holding
0-indexed steps k ∈ {0, …, T−1}, where k means step t = k + 1 of the 1-indexed chain; data tensors have
shape (N, ...) with the batch first. A zero-terminal-SNR schedule (ᾱ_T = 0) is valid: everything here is
defined there except x̂₀ from an ε-prediction, which raises ``ValueError`` rather than returning inf/NaN.

The frames (Salimans & Ho 2022, §4 and Appendix D): with x_t = √ᾱ x₀ + √(1−ᾱ) ε,
v = √ᾱ ε − √(1−ᾱ) x₀, hence x₀ = √ᾱ x_t − √(1−ᾱ) v and ε = √(1−ᾱ) x_t + √ᾱ v.

The importance samplers of timesteps (:class:`UniformSampler`, :class:`LossSecondMomentSampler`) follow
improved-diffusion's ``resample.py`` (Nichol & Dhariwal 2021, §3.3).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from . import _validate as check
from .quantities import ScheduleQuantities, get_schedule_quantities
from .schedules import Schedule
from .weighting import FRAMES, get_weighting

__all__ = [
    "PREDICTIONS",
    "Process",
    "LossOutput",
    "training_loss",
    "vlb_term_weight",
    "UniformSampler",
    "LossSecondMomentSampler",
]

PREDICTIONS = FRAMES  # ("eps", "x0", "v"): what a model predicts, and the frame its loss is taken in

_BUFFERS = (
    "alpha_bar", "sqrt_alpha_bar", "sqrt_one_minus_alpha_bar", "sqrt_recip_alpha_bar",
    "sqrt_recipm1_alpha_bar", "posterior_variance", "posterior_log_variance_clipped",
    "posterior_mean_coef1", "posterior_mean_coef2", "snr",
)


class Process:
    """The Gaussian forward process of a discrete schedule, in torch (Ho et al. 2020, §2).

    ``Process(schedule, device=None, dtype=torch.float32)``. ``schedule`` is a
    :class:`~sched_lib.schedules.Schedule` (or a β array, validated). ``dtype`` is the model's dtype: the
    dtype of the tensors this process creates (noise, x_T in the samplers). The coefficient buffers
    are float64 on the device (float32 on Apple ``mps``, which has no float64) and are cast to the dtype
    of the tensor they multiply, so a float64 input gets float64 coefficients.

    Attributes: ``q`` (:class:`~sched_lib.quantities.ScheduleQuantities`, float64 NumPy), ``T``,
    ``schedule``, ``device``, ``dtype``. Chapter "The forward process".
    """

    def __init__(self, schedule, device=None, dtype: torch.dtype = torch.float32):
        if isinstance(schedule, Process):
            schedule = schedule.schedule
        if not isinstance(schedule, Schedule):
            schedule = Schedule.from_betas(schedule)
        if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
            raise ValueError(f"dtype must be a floating torch.dtype, got {dtype!r}")
        self.schedule = schedule
        self.q: ScheduleQuantities = get_schedule_quantities(schedule)
        self.T = self.q.T
        self.device = torch.device(device) if device is not None else torch.device("cpu")
        self.dtype = dtype
        buf_dtype = torch.float32 if self.device.type == "mps" else torch.float64
        self._buf = {name: torch.as_tensor(np.array(getattr(self.q, name)), dtype=buf_dtype, device=self.device)
                     for name in _BUFFERS}
        self.zero_terminal_snr = bool(self.q.alpha_bar[-1] == 0.0)

    def __repr__(self) -> str:
        return f"Process({self.schedule!r}, device={str(self.device)!r}, dtype={self.dtype})"

    def to(self, device=None, dtype: torch.dtype | None = None) -> "Process":
        """A copy of this process on another device and/or with another model dtype."""
        return Process(self.schedule, device if device is not None else self.device,
                       dtype if dtype is not None else self.dtype)

    # -- helpers -----------------------------------------------------------------------------------

    def check_t(self, t, n: int | None = None) -> torch.Tensor:
        """Validate 0-indexed timesteps: an integer tensor of shape (n,) with values in [0, T−1].

        Returns ``t`` as int64 on this process's device.
        """
        if not isinstance(t, torch.Tensor) or t.dtype.is_floating_point or t.dtype.is_complex or t.dtype == torch.bool:
            raise ValueError(f"t must be an integer torch tensor of 0-indexed steps, got "
                             f"{type(t).__name__ if not isinstance(t, torch.Tensor) else t.dtype}")
        if t.ndim != 1 or (n is not None and t.shape[0] != n):
            raise ValueError(f"t must have shape ({'N' if n is None else n},), got {tuple(t.shape)}")
        t = t.to(device=self.device, dtype=torch.long)
        if t.numel():
            lo, hi = (int(v) for v in torch.aminmax(t))
            if lo < 0 or hi >= self.T:
                raise ValueError(f"t must hold 0-indexed steps in [0, {self.T - 1}] (k means step t = k + 1), "
                                 f"got values in [{lo}, {hi}]")
        return t

    def _x(self, x, name: str) -> torch.Tensor:
        if not isinstance(x, torch.Tensor) or not x.dtype.is_floating_point:
            raise ValueError(f"{name} must be a floating-point torch tensor of shape (N, ...)")
        if x.ndim < 1:
            raise ValueError(f"{name} must have a batch dimension, got a scalar")
        return x

    def coef(self, name: str, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """Gather buffer ``name`` at ``t`` and shape it (N, 1, …, 1) to broadcast against ``like``.

        Cast to ``like``'s dtype and device (the model's edge). Buffers: alpha_bar, sqrt_alpha_bar,
        sqrt_one_minus_alpha_bar, sqrt_recip_alpha_bar, sqrt_recipm1_alpha_bar, posterior_variance,
        posterior_log_variance_clipped, posterior_mean_coef1, posterior_mean_coef2, snr.
        """
        out = self._buf[name].index_select(0, t.to(self._buf[name].device))
        return out.to(device=like.device, dtype=like.dtype).reshape((-1,) + (1,) * (like.ndim - 1))

    def _prepare(self, t, *tensors):
        """Validate tensors (same shape) and t (shape (N,)); return t as int64."""
        shape = None
        for name, x in tensors:
            self._x(x, name)
            if shape is None:
                shape, first = x.shape, name
            elif x.shape != shape:
                raise ValueError(f"{name} must have the shape of {first} {tuple(shape)}, got {tuple(x.shape)}")
        return self.check_t(t, shape[0])

    def _refuse_zero_alpha_bar(self, t: torch.Tensor, what: str):
        if self.zero_terminal_snr and bool((t == self.T - 1).any()):
            raise ValueError(f"{what} is undefined at alpha_bar = 0 (zero terminal SNR, t index {self.T - 1}): "
                             "x_T is pure noise and an ε-prediction says nothing about x₀; use prediction "
                             "'v' or 'x0' there")

    # -- forward process and posterior -------------------------------------------------------------

    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """Sample q(x_t | x₀): x_t = √ᾱ_t x₀ + √(1−ᾱ_t) ε (Ho et al. 2020, eq. 4).

        x0, eps: (N, ...) floating; t: (N,) int64 0-indexed. Returns (N, ...) in x0's dtype.
        Chapter "The forward process".
        """
        t = self._prepare(t, ("x0", x0), ("eps", eps))
        return self.coef("sqrt_alpha_bar", t, x0) * x0 + self.coef("sqrt_one_minus_alpha_bar", t, x0) * eps

    def q_posterior(self, x0: torch.Tensor, xt: torch.Tensor, t: torch.Tensor):
        """The posterior q(x_{t−1} | x_t, x₀) = N(μ̃_t, β̃_t I) (Ho et al. 2020, eq. 6-7).

        μ̃_t = β_t√ᾱ_{t−1}/(1−ᾱ_t)·x₀ + √α_t(1−ᾱ_{t−1})/(1−ᾱ_t)·x_t, β̃_t = β_t(1−ᾱ_{t−1})/(1−ᾱ_t).
        Returns ``(mean, variance, log_variance)``, each of x0's shape and dtype; ``log_variance`` is
        improved-diffusion's clipped one (log β̃_2 at t = 1, where β̃_1 = 0). At t = 1 the posterior is
        a point mass at x₀ (variance 0). Chapter "The forward process".
        """
        t = self._prepare(t, ("x0", x0), ("xt", xt))
        mean = self.coef("posterior_mean_coef1", t, x0) * x0 + self.coef("posterior_mean_coef2", t, x0) * xt
        var = self.coef("posterior_variance", t, x0).expand_as(x0)
        log_var = self.coef("posterior_log_variance_clipped", t, x0).expand_as(x0)
        return mean, var, log_var

    # -- frame conversions -------------------------------------------------------------------------

    def eps_from_x0(self, xt: torch.Tensor, t: torch.Tensor, x0: torch.Tensor) -> torch.Tensor:
        """ε = (x_t − √ᾱ x₀)/√(1−ᾱ) (eq. 4 solved for ε). Defined for every step, including ᾱ = 0."""
        t = self._prepare(t, ("xt", xt), ("x0", x0))
        return (xt - self.coef("sqrt_alpha_bar", t, xt) * x0) / self.coef("sqrt_one_minus_alpha_bar", t, xt)

    def x0_from_eps(self, xt: torch.Tensor, t: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """x₀ = x_t/√ᾱ − √(1/ᾱ − 1) ε (Ho et al. 2020, eq. 15). Raises ``ValueError`` where ᾱ = 0."""
        t = self._prepare(t, ("xt", xt), ("eps", eps))
        self._refuse_zero_alpha_bar(t, "x0 from an eps-prediction")
        return self.coef("sqrt_recip_alpha_bar", t, xt) * xt - self.coef("sqrt_recipm1_alpha_bar", t, xt) * eps

    def v_from(self, x0: torch.Tensor, eps: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """v = √ᾱ ε − √(1−ᾱ) x₀ (Salimans & Ho 2022, §4). Chapter "The loss and the VLB weight"."""
        t = self._prepare(t, ("x0", x0), ("eps", eps))
        return self.coef("sqrt_alpha_bar", t, x0) * eps - self.coef("sqrt_one_minus_alpha_bar", t, x0) * x0

    def x0_from_v(self, xt: torch.Tensor, t: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """x₀ = √ᾱ x_t − √(1−ᾱ) v (Salimans & Ho 2022, Appendix D); equals −v at ᾱ = 0."""
        t = self._prepare(t, ("xt", xt), ("v", v))
        return self.coef("sqrt_alpha_bar", t, xt) * xt - self.coef("sqrt_one_minus_alpha_bar", t, xt) * v

    def eps_from_v(self, xt: torch.Tensor, t: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """ε = √(1−ᾱ) x_t + √ᾱ v (Salimans & Ho 2022, Appendix D)."""
        t = self._prepare(t, ("xt", xt), ("v", v))
        return self.coef("sqrt_one_minus_alpha_bar", t, xt) * xt + self.coef("sqrt_alpha_bar", t, xt) * v

    def predict_x0(self, xt: torch.Tensor, t: torch.Tensor, output: torch.Tensor, prediction: str) -> torch.Tensor:
        """x̂₀ from a model output in frame ``prediction`` ∈ {"eps", "x0", "v"}.

        Raises ``ValueError`` for "eps" at ᾱ = 0 (zero terminal SNR), where x̂₀ is undefined.
        """
        check.choice(prediction, "prediction", PREDICTIONS)
        if prediction == "eps":
            return self.x0_from_eps(xt, t, output)
        if prediction == "v":
            return self.x0_from_v(xt, t, output)
        self._prepare(t, ("xt", xt), ("output", output))
        return output

    def predict_eps(self, xt: torch.Tensor, t: torch.Tensor, output: torch.Tensor, prediction: str) -> torch.Tensor:
        """ε̂ from a model output in frame ``prediction`` ∈ {"eps", "x0", "v"} (defined for every step)."""
        check.choice(prediction, "prediction", PREDICTIONS)
        if prediction == "x0":
            return self.eps_from_x0(xt, t, output)
        if prediction == "v":
            return self.eps_from_v(xt, t, output)
        self._prepare(t, ("xt", xt), ("output", output))
        return output

    def target(self, x0: torch.Tensor, eps: torch.Tensor, t: torch.Tensor, prediction: str) -> torch.Tensor:
        """The regression target in frame ``prediction``: ε, x₀ or v = √ᾱ ε − √(1−ᾱ) x₀."""
        check.choice(prediction, "prediction", PREDICTIONS)
        if prediction == "v":
            return self.v_from(x0, eps, t)
        self._prepare(t, ("x0", x0), ("eps", eps))
        return eps if prediction == "eps" else x0


# --------------------------------------------------------------------------------------------------
# The VLB weight as used in training (improved-diffusion's fixed-small variance)
# --------------------------------------------------------------------------------------------------

def vlb_term_weight(q: ScheduleQuantities, frame: str = "eps") -> np.ndarray:
    """Per-dimension weight of the frame-MSE in the VLB term L_{t−1}, as improved-diffusion trains it.

    With the reverse variance fixed to improved-diffusion's "fixed small" σ_t² = exp(clipped log β̃_t)
    (β̃_t for t ≥ 2 and β̃_2 at t = 1), every term is a Gaussian in x_{t−1} with mean
    μ̃(x̂₀, x_t), so L_{t−1} = c1_t²‖x₀ − x̂₀‖²/(2σ_t²) + const with c1_t = β_t√ᾱ_{t−1}/(1−ᾱ_t)
    (Ho et al. 2020, eq. 8 and 12). At t = 1 (c1 = 1) this is the decoder −log N(x₀; x̂₀, β̃_2) up to a
    constant, a continuous stand-in for improved-diffusion's discretised decoder. The x₀-frame weight
    is re-expressed in ``frame`` by dividing by SNR (ε) or 1 + SNR (v); for t ≥ 2 and frame "eps" it
    equals :func:`sched_lib.weighting.vlb_weight`. Returns float64 (T,); +inf where it is undefined
    (frame "eps" at SNR = 0, or T = 1). Nats per dimension; chapter "The loss and the VLB weight".
    """
    if not isinstance(q, ScheduleQuantities):
        raise ValueError("q must be a ScheduleQuantities (from get_schedule_quantities)")
    check.choice(frame, "frame", FRAMES)
    with np.errstate(divide="ignore", over="ignore"):
        w_x0 = q.posterior_mean_coef1 ** 2 / (2.0 * np.exp(q.posterior_log_variance_clipped))
        if frame == "x0":
            return w_x0
        factor = q.snr if frame == "eps" else 1.0 + q.snr
        return np.where(factor > 0, w_x0 / np.where(factor > 0, factor, 1.0), np.inf)


# --------------------------------------------------------------------------------------------------
# Timestep samplers (improved-diffusion resample.py)
# --------------------------------------------------------------------------------------------------

def _generator_device(generator, device):
    return generator.device if isinstance(generator, torch.Generator) else (device or "cpu")


class UniformSampler:
    """Uniform timesteps with unit importance weights (improved-diffusion ``UniformSampler``).

    ``sample(batch_size, generator=None, device=None) -> (t, weights)``: t int64 (N,), weights float32
    ones (N,). ``update`` does nothing (same interface as :class:`LossSecondMomentSampler`).
    """

    def __init__(self, T: int):
        self.T = check.num_steps(T)

    def weights(self) -> np.ndarray:
        """Unnormalised sampling weights, float64 (T,)."""
        return np.ones(self.T, dtype=np.float64)

    def probabilities(self) -> np.ndarray:
        """p_t = weights / sum(weights), float64 (T,)."""
        w = self.weights()
        return w / w.sum()

    def sample(self, batch_size: int, generator: torch.Generator | None = None, device=None):
        """Draw ``batch_size`` 0-indexed steps t ~ p and their weights 1/(T·p_t) (so E[w·L_t] = mean_t L_t)."""
        n = check.num_steps(batch_size, "batch_size")
        p = torch.as_tensor(self.probabilities(), dtype=torch.float64,
                            device=_generator_device(generator, "cpu"))
        t = torch.multinomial(p, n, replacement=True, generator=generator)
        weights = (1.0 / (self.T * p[t])).to(torch.float32)
        device = device if device is not None else "cpu"
        return t.to(device), weights.to(device)

    def update(self, t, losses) -> None:
        """No-op: uniform sampling does not adapt."""


class LossSecondMomentSampler(UniformSampler):
    """Importance sampling of VLB terms, p_t ∝ √E[L_t²] (Nichol & Dhariwal 2021, §3.3).

    A re-implementation of improved-diffusion's ``LossSecondMomentResampler``: the last
    ``history_per_term`` losses of every step are kept; until each step has that many, sampling is
    uniform; then p_t ∝ √(mean of the stored L_t²), mixed with ``uniform_prob`` of the uniform
    distribution. ``sample`` returns weights 1/(T·p_t), so the weighted loss stays an unbiased estimate
    of the mean over t. One difference: if every stored loss is 0 the weights fall back to uniform
    instead of dividing 0 by 0. Under DistributedDataParallel, gather (t, losses) from all ranks before
    ``update`` so that every rank holds the same history (improved-diffusion's
    ``update_with_local_losses``).
    """

    def __init__(self, T: int, history_per_term: int = 10, uniform_prob: float = 0.001):
        super().__init__(T)
        self.history_per_term = check.num_steps(history_per_term, "history_per_term")
        self.uniform_prob = check.real(uniform_prob, "uniform_prob", low=0, high=1)
        self._loss_history = np.zeros((self.T, self.history_per_term), dtype=np.float64)
        self._loss_counts = np.zeros(self.T, dtype=np.int64)

    def warmed_up(self) -> bool:
        """True once every step has ``history_per_term`` recorded losses."""
        return bool((self._loss_counts == self.history_per_term).all())

    def weights(self) -> np.ndarray:
        """√(mean L_t²) normalised and mixed with ``uniform_prob`` uniform mass; ones before warm-up."""
        if not self.warmed_up():
            return np.ones(self.T, dtype=np.float64)
        w = np.sqrt(np.mean(self._loss_history ** 2, axis=-1))
        total = w.sum()
        if not total > 0:
            return np.ones(self.T, dtype=np.float64)
        w = w / total * (1 - self.uniform_prob)
        return w + self.uniform_prob / self.T

    def update(self, t, losses) -> None:
        """Record one loss per sampled step (``t`` 0-indexed int (N,), ``losses`` (N,) finite reals)."""
        t_np = np.asarray(t.detach().cpu() if isinstance(t, torch.Tensor) else t).reshape(-1)
        l_np = np.asarray(losses.detach().cpu().double() if isinstance(losses, torch.Tensor) else losses,
                          dtype=np.float64).reshape(-1)
        if t_np.shape != l_np.shape:
            raise ValueError(f"t and losses must have the same length, got {t_np.shape} and {l_np.shape}")
        if not np.issubdtype(t_np.dtype, np.integer) or ((t_np < 0) | (t_np >= self.T)).any():
            raise ValueError(f"t must hold integer steps in [0, {self.T - 1}]")
        if not np.isfinite(l_np).all():
            raise ValueError("losses must be finite (a NaN or inf loss would poison the sampling weights)")
        for k, loss in zip(t_np.tolist(), l_np.tolist()):
            if self._loss_counts[k] == self.history_per_term:
                self._loss_history[k, :-1] = self._loss_history[k, 1:]  # shift out the oldest
                self._loss_history[k, -1] = loss
            else:
                self._loss_history[k, self._loss_counts[k]] = loss
                self._loss_counts[k] += 1


# --------------------------------------------------------------------------------------------------
# The training loss
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LossOutput:
    """Result of :func:`training_loss`.

    ``loss``: scalar, mean over the batch of ``per_sample · importance``; ``per_sample``: (N,) weighted
    frame-MSE w(t)·mean‖target − output‖² (before the importance weights; what a loss-aware sampler
    records); ``t``: (N,) int64 0-indexed steps used; ``importance``: (N,) the sampler's 1/(T·p_t)
    (ones for uniform t or given t).
    """

    loss: torch.Tensor
    per_sample: torch.Tensor
    t: torch.Tensor
    importance: torch.Tensor


def _weights_for(process: Process, weighting, prediction: str) -> np.ndarray:
    if weighting is None:
        return np.ones(process.T)
    if isinstance(weighting, str):
        if weighting == "vlb":
            w = vlb_term_weight(process.q, prediction)
        else:
            weighting = get_weighting(weighting)
    if not isinstance(weighting, str):
        if not callable(weighting):
            raise ValueError("weighting must be None, 'vlb', a weighting name, or a callable w(snr, frame) "
                             "(from sched_lib.weighting.get_weighting)")
        w = np.asarray(weighting(process.q.snr, frame=prediction), dtype=np.float64)
        if w.shape != (process.T,):
            w = np.broadcast_to(w, (process.T,)).copy()
    bad = np.flatnonzero(~np.isfinite(w) | (w < 0))
    if bad.size:
        name = weighting if isinstance(weighting, str) else getattr(weighting, "__name__", "weighting")
        raise ValueError(f"weighting {name!r} in the {prediction!r} frame is not a finite non-negative number "
                         f"at t index {bad[0]} (snr={process.q.snr[bad[0]]:g}): w={w[bad[0]]}"
                         + ("; with zero terminal SNR use prediction 'v' or 'x0'" if process.zero_terminal_snr
                            else ""))
    return w


def _randn(shape, generator, device, dtype):
    out = torch.randn(shape, generator=generator, device=_generator_device(generator, device), dtype=dtype)
    return out.to(device)


def training_loss(model: Callable, x0: torch.Tensor, process: Process, *, prediction: str = "eps",
                  weighting=None, t: torch.Tensor | None = None, eps: torch.Tensor | None = None,
                  generator: torch.Generator | None = None, schedule_sampler=None) -> LossOutput:
    """The denoising loss E_t E_ε[w(t)·mean‖target − model(x_t, t)‖²] in the prediction's frame.

    Ho et al. 2020, eq. 14 (``prediction="eps"``, ``weighting=None``: L_simple); Salimans & Ho 2022 (v);
    Hang et al. 2023 (Min-SNR, ``get_weighting("min_snr", gamma=5)``); Nichol & Dhariwal 2021 (VLB with
    importance sampling). Chapter "The loss and the VLB weight".

    * ``model(x_t, t)`` gets x_t (N, ...) in x0's dtype and the 0-indexed steps t (N,) int64, and must
      return a tensor of x0's shape in frame ``prediction`` ∈ {"eps", "x0", "v"}.
    * ``weighting``: None (uniform), a callable ``w(snr, frame)`` from
      :func:`sched_lib.weighting.get_weighting` (evaluated in float64 on the schedule's SNR **in the
      prediction's frame**, so Min-SNR for a v-model is min(SNR, γ)/(SNR + 1)), a weighting name (its
      default parameters), or ``"vlb"`` (:func:`vlb_term_weight`, improved-diffusion's L_vlb terms in
      nats per dimension). A weight that is not finite at some step raises ``ValueError``.
    * ``t``: given 0-indexed steps, or drawn uniformly, or from ``schedule_sampler`` (a
      :class:`UniformSampler` or :class:`LossSecondMomentSampler`, whose importance weights 1/(T·p_t)
      multiply the loss; a loss-aware sampler is then updated with ``per_sample``, detached, as
      improved-diffusion's training loop does).
    * ``eps``: given noise or standard normal draws from ``generator``.

    Returns :class:`LossOutput`. The MSE is the mean over all non-batch dimensions.
    """
    check.choice(prediction, "prediction", PREDICTIONS)
    if not isinstance(process, Process):
        raise ValueError(f"process must be a sched_lib.process.Process, got {type(process).__name__}")
    if not callable(model):
        raise ValueError("model must be callable as model(x_t, t)")
    if not isinstance(x0, torch.Tensor) or not x0.dtype.is_floating_point or x0.ndim < 1 or x0.shape[0] < 1:
        raise ValueError("x0 must be a floating-point torch tensor of shape (N, ...) with N >= 1")
    n = x0.shape[0]
    w_all = _weights_for(process, weighting, prediction)

    if t is not None and schedule_sampler is not None:
        raise ValueError("give either t or schedule_sampler, not both")
    importance = torch.ones(n, dtype=x0.dtype, device=x0.device)
    if t is not None:
        t = process.check_t(t, n)
    elif schedule_sampler is not None:
        if getattr(schedule_sampler, "T", None) != process.T:
            raise ValueError(f"schedule_sampler must be a UniformSampler or LossSecondMomentSampler with "
                             f"T = {process.T}")
        t, importance = schedule_sampler.sample(n, generator=generator, device=x0.device)
        importance = importance.to(x0.dtype)
    else:
        t = torch.randint(0, process.T, (n,), generator=generator,
                          device=_generator_device(generator, x0.device))
    t = t.to(device=x0.device, dtype=torch.long)

    if eps is None:
        eps = _randn(x0.shape, generator, x0.device, x0.dtype)
    elif not isinstance(eps, torch.Tensor) or eps.shape != x0.shape:
        raise ValueError(f"eps must be a tensor of x0's shape {tuple(x0.shape)}")

    xt = process.q_sample(x0, t, eps)
    output = model(xt, t)
    if not isinstance(output, torch.Tensor) or output.shape != x0.shape:
        raise ValueError(f"model output must have x0's shape {tuple(x0.shape)}, got "
                         f"{tuple(output.shape) if isinstance(output, torch.Tensor) else type(output).__name__}")
    target = process.target(x0, eps, t, prediction)
    mse = (output - target).pow(2).reshape(n, -1).mean(dim=1)
    w = torch.as_tensor(w_all, device=x0.device)[t].to(mse.dtype)
    per_sample = w * mse
    loss = (per_sample * importance.to(per_sample.dtype)).mean()
    if isinstance(schedule_sampler, LossSecondMomentSampler):
        schedule_sampler.update(t, per_sample.detach())
    return LossOutput(loss=loss, per_sample=per_sample, t=t, importance=importance)
