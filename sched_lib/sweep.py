"""Compare training configurations on common ground: run configs × seeds, score every run the same way.

The labs that compare schedules or loss weightings (chapters "Classic schedules", "The loss and the VLB
weight") train several :class:`~sched_lib.train.TrainConfig` s and must then compare them *fairly*. Three
things make that harder than it looks, and this module owns the answers:

1. **Where runs live.** :func:`run_dir_for` names a run directory after a short readable label and a hash
   of the full config (:meth:`TrainConfig.to_json`, preset and seed included). Identical configs in two
   labs share one finished run; a changed config never collides with an old one; a ``smoke`` run never
   lands in a ``cpu`` run's directory. :func:`run_configs` trains what is missing (``train`` resumes a run
   that was interrupted and returns at once for a finished one).
2. **Intermediate checkpoints.** ``train`` keeps only the last ``ckpt.pt``, and ``steps`` is part of the
   config. Because the learning rate (linear warm-up, then constant; :func:`sched_lib.train._lr_at`), the
   EMA ramp and every step's randomness depend on the step index only, never on the total ``steps``, a run
   of N₂ steps passes through exactly the state that the otherwise identical run of N₁ < N₂ steps ends in.
   :func:`run_configs` therefore *seeds* a longer run from the finished shorter one (copies its
   ``ckpt.pt`` and ``metrics.jsonl`` and lets ``train`` resume; ``seeded_from.json`` records it). On the
   CPU the result is bit-identical to training N₂ steps from scratch (``train``'s exact resume; tested in
   ``tests/test_sweep.py``), so "quality after N₁ and after N₂ steps" costs N₂ steps, not N₁ + N₂.
   :func:`stage_configs` makes the list of configs for a set of step budgets.
3. **A common frame for the loss.** The training loss of a run is in its own weighting and prediction
   frame and at its own schedule's noise levels, so training losses of two runs are not comparable.
   :func:`loss_by_log_snr` evaluates every run's EMA network on the same held-out images, the same noise
   ε and the same log-SNR values λ (one (x₀, ε, λ) triple set for every run, from a fixed seed) and
   reports the ε-MSE and the x₀-MSE there (Kingma et al. 2021, §5: in continuous time the diffusion loss is
   an integral over λ of the x₀-MSE weighted by the SNR, so a per-λ error is the schedule-free quantity;
   chapter "SNR and log-SNR"). The network is
   conditioned at exactly λ: see :func:`conditioning_at_log_snr`.

Sample quality is scored by :func:`sample_and_score`: DDIM samples of the EMA network against the CIFAR-10
test images with the offline stand-in metric :func:`sched_lib.metrics.fd_randconv`, always labelled
:data:`STANDIN_LABEL`, never FID. :func:`seed_summary` summarises a metric over seeds (mean, the individual
seeds, and their range with two seeds, their standard deviation with more).

Evaluations are cached as small JSON files in ``RUN/evals/`` under a key that hashes everything they depend on
(the run's checkpoint step, the images, λ, seeds, sampler settings), so re-executing a lab is fast.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from . import _validate as check
from .train import (
    CHECKPOINT_FILE,
    CONFIG_FILE,
    METRICS_FILE,
    Runtime,
    TrainConfig,
    _atomic_write_bytes,
    load_run,
    read_config,
    train,
    upsample_batch,
)

__all__ = [
    "STANDIN_LABEL",
    "EVALS_DIR",
    "LogSnrLoss",
    "SeedSummary",
    "config_hash",
    "config_label",
    "conditioning_at_log_snr",
    "denoising_errors",
    "loss_by_log_snr",
    "run_configs",
    "run_dir_for",
    "sample_and_score",
    "seed_summary",
    "ranges_overlap",
    "stage_configs",
]

#: How a lab names the offline stand-in metric (:func:`sched_lib.metrics.fd_randconv`): never "FID".
STANDIN_LABEL = "FD-randconv (stand-in, not FID)"
#: Sub-directory of a run directory that holds cached evaluations.
EVALS_DIR = "evals"
#: File a seeded run records its origin in (see the module docstring, point 2).
SEEDED_FROM_FILE = "seeded_from.json"


# ----------------------------------------------------------------------------------------------
# Run directories
# ----------------------------------------------------------------------------------------------


def _check_config(config) -> TrainConfig:
    if not isinstance(config, TrainConfig):
        raise ValueError(f"config must be a sched_lib.train.TrainConfig, got {type(config).__name__}")
    return config


def config_hash(config: TrainConfig, n: int = 10) -> str:
    """The first ``n`` hex digits of sha256(``config.to_json()``): equal configs, equal hashes."""
    _check_config(config)
    n = check.num_steps(n, "n")
    if n > 64:
        raise ValueError(f"n must be at most 64 (a sha256 has 64 hex digits), got {n}")
    return hashlib.sha256(config.to_json().encode()).hexdigest()[:n]


def _short(value) -> str:
    text = f"{value:g}" if isinstance(value, float) else str(value)
    return "".join(ch if ch.isalnum() or ch in ".-" else "-" for ch in text)


def config_label(config: TrainConfig) -> str:
    """A short readable label: ``schedule[params]_weighting[params]_prediction_preset_sSEED_nSTEPS``.

    Only for people reading directory listings; :func:`run_dir_for` adds the hash that makes it unique.
    """
    _check_config(config)
    parts = []
    for name, params in ((config.schedule, config.schedule_params), (config.weighting, config.weighting_params)):
        parts.append(name + "".join(f"-{k}{_short(v)}" for k, v in params.items()))
    parts += [config.prediction, config.preset, f"s{config.seed}", f"n{config.steps}"]
    if config.cond != "t":
        parts.append(f"cond-{config.cond}")
    if config.T != 1000:
        parts.append(f"T{config.T}")
    return "_".join(parts)


def run_dir_for(config: TrainConfig, root) -> Path:
    """The run directory of ``config`` under ``root``: ``root / f"{config_label(config)}-{config_hash(config)}"``.

    A pure function of the config: the same config gives the same directory in every lab and session; any
    change (a parameter, the preset, the seed, ``steps``) gives another one.
    """
    _check_config(config)
    if not isinstance(root, (str, Path)) or str(root) == "":
        raise ValueError(f"root must be a directory path, got {root!r}")
    return Path(root) / f"{config_label(config)}-{config_hash(config)}"


def stage_configs(config: TrainConfig, steps: Sequence[int]) -> list:
    """``config`` with each training budget in ``steps`` (strictly increasing positive integers).

    With :func:`run_configs` the longer runs are seeded from the shorter ones (module docstring, point 2),
    so the list costs ``max(steps)`` training steps and gives a checkpoint at every budget.
    """
    _check_config(config)
    steps = [check.num_steps(s, "steps[i]") for s in steps]
    if not steps or any(b <= a for a, b in zip(steps, steps[1:])):
        raise ValueError(f"steps must be a non-empty, strictly increasing list of step budgets, got {steps}")
    return [dataclasses.replace(config, steps=s) for s in steps]


def _finished_step(run_dir: Path) -> int | None:
    """The step of ``run_dir``'s checkpoint if its run is complete, else None."""
    try:
        cfg = read_config(run_dir)
        step = _finished_step_any(run_dir)
    except Exception:  # noqa: BLE001 - a missing or unreadable run is simply not a seed
        return None
    return step if step == cfg.steps else None


def _shorter_finished_run(config: TrainConfig, root: Path) -> Path | None:
    """The finished run under ``root`` whose config differs from ``config`` in ``steps`` only, with the
    largest ``steps`` below ``config.steps`` (None if there is none)."""
    best, best_steps = None, 0
    if not root.is_dir():
        return None
    prefix = config_label(dataclasses.replace(config, steps=1)).rsplit("_n1", 1)[0] + "_n"
    for d in root.iterdir():
        if not d.name.startswith(prefix) or not (d / CONFIG_FILE).is_file():
            continue
        try:
            other = read_config(d)
        except (ValueError, FileNotFoundError):
            continue
        if other.steps >= config.steps or other.steps <= best_steps:
            continue
        if [k for k, _, _ in other.diff(config)] != ["steps"]:
            continue
        if _finished_step(d) == other.steps and d == run_dir_for(other, root):
            best, best_steps = d, other.steps
    return best


def _seed_from(source: Path, target: Path, config: TrainConfig) -> None:
    """Start ``target`` (the run of ``config``) from the finished shorter run ``source``: config.json of
    ``config``, a copy of ``source``'s checkpoint and metrics (without its "end" record), and a note."""
    target.mkdir(parents=True, exist_ok=True)
    # leftovers of a seeding step that was interrupted: a partial copy and a note that would claim a seeding
    for stale in (target / (CHECKPOINT_FILE + ".seed"), target / SEEDED_FROM_FILE):
        stale.unlink(missing_ok=True)
    src_step = _finished_step(source)
    shutil.copyfile(source / CHECKPOINT_FILE, target / (CHECKPOINT_FILE + ".seed"))
    records = []
    metrics = source / METRICS_FILE
    if metrics.is_file():
        for line in metrics.read_text().splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(rec, dict) and rec.get("event") != "end":
                records.append(json.dumps(rec))
    text = "".join(r + "\n" for r in records)
    _atomic_write_bytes(target / METRICS_FILE, lambda f: f.write(text.encode()))
    # The checkpoint, then the note (so the note never claims a seeding whose checkpoint is not in place), then
    # config.json last: run_configs seeds only directories without config.json, so a seeding interrupted at
    # any point is simply done again from the start (removing the stale copy and note above), and train()
    # removes a ckpt.pt.seed it finds beside a config.json.
    (target / (CHECKPOINT_FILE + ".seed")).replace(target / CHECKPOINT_FILE)
    note = json.dumps({"seeded_from": source.name, "step": src_step}, indent=1) + "\n"
    _atomic_write_bytes(target / SEEDED_FROM_FILE, lambda f: f.write(note.encode()))
    cfg_text = config.to_json()
    _atomic_write_bytes(target / CONFIG_FILE, lambda f: f.write(cfg_text.encode()))


def run_configs(configs: Sequence[TrainConfig], root, progress: bool = True, *, runtime: Runtime | None = None,
                seed_from_shorter: bool = True) -> list:
    """Train every config in ``configs`` into :func:`run_dir_for` ``(config, root)``; return the run directories.

    Finished runs are not retrained (``train`` returns at once); interrupted ones resume. With
    ``seed_from_shorter`` (default) a config whose directory does not exist yet starts from the finished
    run under ``root`` that differs from it only by a smaller ``steps`` (module docstring, point 2); the
    configs are trained shortest first, so a list from :func:`stage_configs` trains each chain once.

    Args:
        configs: a sequence of :class:`~sched_lib.train.TrainConfig` (duplicates are trained once).
        root: the directory that holds the runs (created).
        progress: tqdm bars (one over the configs, and train's own per run).
        runtime: :class:`~sched_lib.train.Runtime` (default: the CPU or CUDA, as ``train`` picks).
        seed_from_shorter: seed longer runs from shorter finished ones.

    Returns:
        list of ``Path``, in the order of ``configs``.
    """
    configs = list(configs)
    if not configs:
        raise ValueError("configs must hold at least one TrainConfig")
    for c in configs:
        _check_config(c)
    check.flag(progress, "progress")
    check.flag(seed_from_shorter, "seed_from_shorter")
    if not isinstance(root, (str, Path)) or str(root) == "":
        raise ValueError(f"root must be a directory path, got {root!r}")
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    if runtime is None:
        runtime = Runtime(progress=progress)
    dirs = [run_dir_for(c, root) for c in configs]
    order = sorted(range(len(configs)), key=lambda i: configs[i].steps)  # stable: shortest first
    seen = set()
    from tqdm.auto import tqdm

    for i in tqdm(order, desc="runs", unit="run", disable=not progress or len(configs) < 2):
        if dirs[i] in seen:
            continue
        seen.add(dirs[i])
        if seed_from_shorter and not (dirs[i] / CONFIG_FILE).exists():
            source = _shorter_finished_run(configs[i], root)
            if source is not None:
                _seed_from(source, dirs[i], configs[i])
        train(configs[i], dirs[i], runtime)
    return dirs


# ----------------------------------------------------------------------------------------------
# The loss per log-SNR, in a common frame
# ----------------------------------------------------------------------------------------------


def conditioning_at_log_snr(config: TrainConfig, log_snr) -> np.ndarray:
    """The network input c (the value the run's :class:`~sched_lib.nets.Denoiser` embeds) at log-SNR ``log_snr``.

    A run's network is conditioned through :func:`sched_lib.nets.conditioning_table`: at step k it gets
    c_k = 1000·(k+1)/T (``cond="t"``) or 25·λ_k (``cond="log_snr"``), where λ_k is the run's discrete
    schedule's log-SNR. For a λ between two of the schedule's levels, c is interpolated linearly in λ
    between the neighbouring c_k (the schedule's t(λ), piecewise linear). For ``cond="log_snr"`` this is
    exactly 25·λ; for ``cond="t"`` it is the run's own time at which its noise level is λ. So two runs
    with different schedules are asked about the *same noise level*, each in its own time coordinate.

    Raises ``ValueError`` for λ outside the run's trained range [λ_T, λ_1] (the network never saw it).
    Returns float64 array of ``log_snr``'s shape.
    """
    from .nets import conditioning_table
    from .train import build_process

    _check_config(config)
    lam = check.array(log_snr, "log_snr")
    q = build_process(config).q
    table = conditioning_table(config.cond, q.log_snr)
    lam_k = np.asarray(q.log_snr, dtype=np.float64)
    finite = np.isfinite(lam_k)
    lo, hi = float(lam_k[finite].min()), float(lam_k[finite].max())
    bad = (lam < lo) | (lam > hi)
    if bad.any():
        raise ValueError(f"log_snr {lam[bad].flat[0]:g} is outside the trained range [{lo:.3f}, {hi:.3f}] of "
                         f"schedule {config.schedule!r} (T = {config.T}); choose λ inside every compared run's range")
    # λ_k decreases with k: interpolate on the reversed (increasing) arrays
    return np.interp(lam, lam_k[finite][::-1], table[finite][::-1])


def _eval_process(log_snr: np.ndarray):
    """A :class:`~sched_lib.process.Process` whose steps are exactly the levels ``log_snr`` (sorted from high
    to low λ), so that q_sample and the frame conversions of sched_lib.process apply at those levels."""
    from .process import Process
    from .schedules import Schedule, alpha_bar_from_log_snr, betas_from_alpha_bar

    ab = alpha_bar_from_log_snr(log_snr)
    return Process(Schedule.from_betas(betas_from_alpha_bar(ab), name="eval_levels"))


def _noise_seed(seed: int, j: int) -> int:
    s = np.random.SeedSequence([int(seed), int(j), 7919]).generate_state(2, np.uint32)
    return (int(s[0]) << 31) ^ int(s[1])


def denoising_errors(model_fn: Callable, x0: torch.Tensor, log_snr, *, prediction: str, seed: int = 0,
                     batch_size: int = 256) -> dict:
    """Per-level denoising errors of ``model_fn`` on ``x0``: ε-MSE and x₀-MSE at each λ in ``log_snr``.

    At level λ_j (ᾱ = sigmoid(λ_j)), x_t = √ᾱ x₀ + √(1−ᾱ) ε with ε drawn from a generator seeded by
    ``(seed, j)`` (the same ε for every model: the comparison is paired), the model is called as
    ``model_fn(x_t, j)`` (j: the index of the level, a Python int) and its output, in frame ``prediction``,
    is converted to ε̂ and x̂₀ by :class:`sched_lib.process.Process` (Salimans & Ho 2022, Appendix D).
    The MSEs are means over images and dimensions; since x̂₀ − x₀ = −e^{−λ/2}(ε̂ − ε), x0_mse = e^{−λ}·eps_mse.

    Args:
        model_fn: ``model_fn(x_t, j) -> output`` (x_t's shape).
        x0: float tensor (N, ...) of clean data.
        log_snr: 1-D strictly decreasing finite λ values.
        prediction: ``"eps"``, ``"x0"`` or ``"v"``.
        seed: noise seed.
        batch_size: images per model call (the result does not depend on it).

    Returns:
        dict of float64 arrays (len(log_snr),): ``log_snr``, ``eps_mse``, ``x0_mse``, ``eps_mse_se`` (standard
        error over images).
    """
    from .process import PREDICTIONS

    check.choice(prediction, "prediction", PREDICTIONS)
    lam = check.array(log_snr, "log_snr", ndim=1)
    if lam.size < 1 or (lam.size > 1 and not np.all(np.diff(lam) < 0)):
        raise ValueError(f"log_snr must be a non-empty, strictly decreasing 1-D array, got {lam}")
    if not isinstance(x0, torch.Tensor) or not x0.dtype.is_floating_point or x0.ndim < 2 or x0.shape[0] < 1:
        raise ValueError("x0 must be a floating-point tensor of shape (N, ...) with N >= 1")
    seed = check.num_steps(seed, "seed", minimum=0)
    batch_size = check.num_steps(batch_size, "batch_size")
    proc = _eval_process(lam)
    n = x0.shape[0]
    eps_mse, eps_se = np.empty(lam.size), np.empty(lam.size)
    with torch.inference_mode():
        for j in range(lam.size):
            g = torch.Generator().manual_seed(_noise_seed(seed, j))
            eps_all = torch.randn(x0.shape, generator=g, dtype=x0.dtype)
            per_image = []
            for s in range(0, n, batch_size):
                xb, eb = x0[s:s + batch_size], eps_all[s:s + batch_size].to(x0.device)
                t = torch.full((xb.shape[0],), j, dtype=torch.long)
                xt = proc.q_sample(xb, t, eb)
                out = model_fn(xt, j)
                if not isinstance(out, torch.Tensor) or out.shape != xt.shape:
                    raise ValueError(f"model_fn must return a tensor of x_t's shape {tuple(xt.shape)}")
                eps_hat = proc.predict_eps(xt, t, out.to(xt.dtype), prediction)
                per_image.append((eps_hat - eb).pow(2).reshape(xb.shape[0], -1).mean(dim=1).double().cpu())
            per_image = torch.cat(per_image).numpy()
            if not np.all(np.isfinite(per_image)):
                raise FloatingPointError(f"the model's output is not finite at log_snr {lam[j]:g}")
            eps_mse[j] = per_image.mean()
            eps_se[j] = per_image.std(ddof=1) / np.sqrt(n) if n > 1 else np.nan
    return {"log_snr": lam, "eps_mse": eps_mse, "x0_mse": eps_mse * np.exp(-lam), "eps_mse_se": eps_se}


@dataclass(frozen=True)
class LogSnrLoss:
    """What :func:`loss_by_log_snr` returns (float64 arrays of len(log_snr); ``as_dict`` for JSON).

    ``eps_mse``: E‖ε̂ − ε‖²/D at each λ; ``x0_mse`` = e^{−λ}·eps_mse; ``eps_mse_se``: its standard error over
    the images (the noise is shared by all runs, so differences between runs are paired and their error is
    smaller than this); ``train_step``: the checkpoint's step; ``n_images``.
    """

    log_snr: np.ndarray
    eps_mse: np.ndarray
    x0_mse: np.ndarray
    eps_mse_se: np.ndarray
    train_step: int
    n_images: int

    def as_dict(self) -> dict:
        return {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in dataclasses.asdict(self).items()}


def _images_digest(images: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(images).tobytes()).hexdigest()[:16]


def _cache_path(run_dir: Path, kind: str, key: dict) -> Path:
    h = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    return run_dir / EVALS_DIR / f"{kind}-{h}.json"


def _read_cache(path: Path, key: dict):
    if not path.is_file():
        return None
    try:
        rec = json.loads(path.read_text())
    except json.JSONDecodeError:
        return None
    return rec["value"] if rec.get("key") == key else None


def _write_cache(path: Path, key: dict, value) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps({"key": key, "value": value}, indent=1) + "\n"
    _atomic_write_bytes(path, lambda f: f.write(text.encode()))


def _check_images(images) -> np.ndarray:
    arr = np.asarray(images)
    if arr.dtype != np.uint8 or arr.ndim != 4 or arr.shape[1:] != (32, 32, 3) or arr.shape[0] < 2:
        raise ValueError("images must be uint8 CIFAR-10 images, shape (N, 32, 32, 3) with N >= 2, got "
                         f"{arr.dtype} {arr.shape}")
    return arr


def loss_by_log_snr(run_dir, images, log_snr, *, seed: int = 0, batch_size: int = 256, weights: str = "ema",
                    device=None, cache: bool = True) -> LogSnrLoss:
    """The run's denoising error on held-out ``images`` at fixed log-SNR levels, in a frame common to all runs.

    Loads the run's ``weights`` (EMA by default), conditions its U-Net at exactly each λ
    (:func:`conditioning_at_log_snr`: the run's own time of that noise level, interpolated between its
    discrete steps) and computes :func:`denoising_errors` with the noise seed ``seed``. Every run evaluated
    with the same ``images``, ``log_snr`` and ``seed`` sees the same (x₀, ε, λ) triples, so the ε-MSE at a λ
    compares networks, not schedules' time parametrisations or weightings (which is what training losses
    would compare).

    Args:
        run_dir: a finished (or checkpointed) :mod:`sched_lib.train` run.
        images: uint8 (N, 32, 32, 3), e.g. ``load_cifar10("test").images[:256]`` (held out: runs train on
            the training split). A run trained at ``image_size`` 64 or 128 sees them upsampled the way it was
            trained (:func:`sched_lib.train.upsample_batch`).
        log_snr: 1-D strictly decreasing λ values, inside every compared run's range.
        seed: the noise seed (keep it fixed across runs).
        batch_size: images per model call.
        weights: ``"ema"`` or ``"model"``.
        device: torch device (default CPU).
        cache: read/write the result in ``run_dir/evals/``.

    Returns:
        :class:`LogSnrLoss`.
    """
    from .data import to_tensor

    run_dir = Path(run_dir)
    images = _check_images(images)
    lam = check.array(log_snr, "log_snr", ndim=1)
    check.choice(weights, "weights", ("ema", "model"))
    check.flag(cache, "cache")
    config = read_config(run_dir)
    cond = conditioning_at_log_snr(config, lam)  # validates the range before loading anything
    step = _finished_step_any(run_dir)
    key = {"images": _images_digest(images), "n": int(images.shape[0]), "log_snr": [float(v) for v in lam],
           "seed": int(seed), "weights": weights, "train_step": step, "config": config.to_dict()}
    path = _cache_path(run_dir, "loss_by_log_snr", key)
    if cache:
        hit = _read_cache(path, key)
        if hit is not None:
            return LogSnrLoss(**{k: (np.asarray(v) if isinstance(v, list) else v) for k, v in hit.items()})
    dev = torch.device(device) if device is not None else torch.device("cpu")
    run = load_run(run_dir, weights=weights, device=dev)
    unet = run.model.unet
    c_all = torch.as_tensor(cond, dtype=torch.float32, device=dev)

    def model_fn(xt, j):
        return unet(xt.to(dev), c_all[j].expand(xt.shape[0]))

    x0 = to_tensor(images).to(dev)
    # a run trained on upsampled CIFAR-10 is evaluated on the same upsampling (a no-op at 32)
    x0 = upsample_batch(x0, config.image_size)
    out = denoising_errors(model_fn, x0, lam, prediction=config.prediction, seed=seed, batch_size=batch_size)
    result = LogSnrLoss(out["log_snr"], out["eps_mse"], out["x0_mse"], out["eps_mse_se"], run.step,
                        int(images.shape[0]))
    if cache:
        _write_cache(path, key, result.as_dict())
    return result


def _finished_step_any(run_dir: Path) -> int:
    """The step of ``run_dir``'s checkpoint, finished or not (FileNotFoundError without one)."""
    path = run_dir / CHECKPOINT_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: the run has not written a checkpoint yet")
    return int(torch.load(path, map_location="cpu", weights_only=True)["step"])


# ----------------------------------------------------------------------------------------------
# Sample quality with the stand-in metric
# ----------------------------------------------------------------------------------------------


def sample_and_score(run_dir, reference, *, num: int, sampler: str = "ddim", steps: int = 20,
                     spacing: str = "trailing", seed: int = 0, batch_size: int = 256, device=None,
                     cache: bool = True, return_images: bool = False) -> dict:
    """Sample ``num`` images from the run's EMA network and score them against ``reference`` with
    :func:`sched_lib.metrics.fd_randconv`, the offline stand-in (:data:`STANDIN_LABEL`; **not FID**).

    Sampling is :func:`sched_lib.sample.sample_run` (``sampler``, ``steps``, ``spacing``, ``seed``); the score
    is the squared Fréchet distance in random-conv features (lower is closer; biased upwards for small sets,
    so compare only equal ``num`` and equal reference sets).

    Returns a dict: ``value``, ``label`` (:data:`STANDIN_LABEL`), ``metric`` ("fd_randconv"), ``n_samples``,
    ``n_reference``, ``sampler``, ``steps``, ``spacing``, ``seed``, ``train_step``, ``sample_wall_s``;
    plus ``images`` (uint8 (k, 32, 32, 3), the first k = min(num, 64) samples, for sample grids) when
    ``return_images``. With ``cache`` the score and those images are kept in ``run_dir/evals/``.
    """
    from .metrics import evaluate
    from .sample import sample_run

    run_dir = Path(run_dir)
    reference = _check_images(reference)
    num = check.num_steps(num, "num", minimum=2)
    steps = check.num_steps(steps, "steps")
    check.flag(cache, "cache")
    check.flag(return_images, "return_images")
    key = {"reference": _images_digest(reference), "n_reference": int(reference.shape[0]), "num": num,
           "sampler": sampler, "steps": steps, "spacing": spacing, "seed": int(seed), "batch_size": int(batch_size),
           "train_step": _finished_step_any(run_dir), "config": read_config(run_dir).to_dict()}
    path = _cache_path(run_dir, "fd_randconv", key)
    grid_path = path.with_suffix(".npz")
    hit = _read_cache(path, key) if cache and grid_path.is_file() else None
    if hit is None:
        images, prov = sample_run(run_dir, sampler=sampler, steps=steps, num=num, spacing=spacing, seed=seed,
                                  batch_size=batch_size, device=device)
        score = evaluate(images, reference, metric="fd_randconv")
        hit = {"value": score.value, "label": STANDIN_LABEL, "metric": score.metric, "n_samples": score.n_samples,
               "n_reference": score.n_reference, "sampler": sampler, "steps": steps, "spacing": spacing,
               "seed": int(seed), "train_step": prov["train_step"], "sample_wall_s": prov["wall_s"]}
        grid = np.ascontiguousarray(images[:64])
        if cache:
            grid_path.parent.mkdir(parents=True, exist_ok=True)
            _atomic_write_bytes(grid_path, lambda f: np.savez_compressed(f, images=grid))
            _write_cache(path, key, hit)
    elif return_images:
        with np.load(grid_path, allow_pickle=False) as f:
            grid = f["images"]
    out = dict(hit)
    if return_images:
        out["images"] = grid
    return out


# ----------------------------------------------------------------------------------------------
# Summaries over seeds
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SeedSummary:
    """A metric over seeds: ``mean``, ``lo``/``hi`` (the range: min and max over seeds), ``sd`` (sample standard
    deviation; None with fewer than 3 seeds, where it would pretend to a precision two numbers do not have),
    ``n`` and the individual ``values``. ``spread`` names what ``str`` shows: "range" (n ≤ 2) or "sd"."""

    mean: float
    lo: float
    hi: float
    sd: float | None
    n: int
    values: tuple

    @property
    def spread(self) -> str:
        return "range" if self.n <= 2 else "sd"

    def format(self, fmt: str = ".3g") -> str:
        """e.g. ``"0.412 (range 0.401-0.423; seeds 0.401, 0.423)"`` or ``"0.412 ± 0.011 sd (seeds ...)"``."""
        seeds = ", ".join(format(v, fmt) for v in self.values)
        if self.n == 1:
            return f"{self.mean:{fmt}} (one seed)"
        if self.spread == "range":
            return f"{self.mean:{fmt}} (range {self.lo:{fmt}}–{self.hi:{fmt}}; seeds {seeds})"
        return f"{self.mean:{fmt}} ± {self.sd:{fmt}} sd over {self.n} seeds ({seeds})"

    __str__ = format

    def as_dict(self) -> dict:
        return {"mean": self.mean, "lo": self.lo, "hi": self.hi, "sd": self.sd, "n": self.n,
                "values": list(self.values), "spread": self.spread}


def seed_summary(values) -> SeedSummary:
    """Summarise one metric's values over seeds (finite reals, at least one): :class:`SeedSummary`."""
    v = check.array(values, "values", ndim=1)
    if v.size < 1:
        raise ValueError("values must hold at least one seed's value")
    sd = float(v.std(ddof=1)) if v.size >= 3 else None
    return SeedSummary(float(v.mean()), float(v.min()), float(v.max()), sd, int(v.size),
                       tuple(float(x) for x in v))


def ranges_overlap(a, b) -> bool:
    """Whether the seed ranges [min, max] of two sets of per-seed values (or two :class:`SeedSummary`) overlap.

    The labs call a difference "within the seed-to-seed spread" when they do: with two seeds per config,
    non-overlapping ranges are the least a claimed difference must show (not a significance test).
    """
    sa = a if isinstance(a, SeedSummary) else seed_summary(a)
    sb = b if isinstance(b, SeedSummary) else seed_summary(b)
    return not (sa.hi < sb.lo or sb.hi < sa.lo)
