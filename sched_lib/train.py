"""Training loop of the labs: config, data, AdamW + EMA, exact checkpoint/resume, DDP, and the CLI.

``python -m sched_lib.train --schedule cosine --weighting min_snr --prediction v --preset smoke --out runs/a``
trains a :class:`~sched_lib.nets.Denoiser` on CIFAR-10 with the denoising loss of
:func:`sched_lib.process.training_loss` (Ho et al. 2020, Alg. 1 and eq. 14; the ε/x₀/v frames of Salimans &
Ho 2022; Min-SNR, Hang et al. 2023; P2, Choi et al. 2022; the VLB with importance-sampled t, Nichol &
Dhariwal 2021, §3.3). Chapter "The loss and the VLB weight"; the labs use it through this module.

What one step does (the same code for every preset and device):

1. draw the batch indices, horizontal flips, timesteps t and noise ε from a generator seeded by
   ``(seed, step, rank)`` (and re-seed the global RNG from the same triple, for dropout), so a resumed
   run replays exactly the randomness an uninterrupted run would have used;
2. the loss in the prediction's frame with the run's weighting; the model runs under bf16 autocast
   on CUDA (fp16 with a gradient scaler on GPUs without native bf16, e.g. a T4), channels-last on CUDA,
   optionally ``torch.compile``; plain fp32 on the CPU, where those would only slow it down;
3. backward, gradient-norm clipping, AdamW with linear warm-up (DDPM's recipe), and an EMA of the
   weights with decay min(d, (1 + k)/(10 + k)) (the ramp keeps short runs' EMA meaningful);
4. a non-finite loss (or gradient norm, without a scaler) stops the run with a
   ``FloatingPointError`` that names the step; the last good checkpoint is left untouched. On the CPU
   the check runs every step; on CUDA the check is recorded every step on the device and read at
   every log and checkpoint step (reading it every step would stall the GPU); no checkpoint is ever
   written after a non-finite step.

Resolution (lab "Resolution"): ``image_size=64`` or ``128`` (``--image-size``) trains on CIFAR-10 upsampled by
pixel repetition (:func:`upsample_batch`, applied to each batch after the flip), with the U-Net built for that
input size; samples of such a run have that size too. Chapter "Schedules and Resolution" explains why
upsampling changes the effective SNR (Hoogeboom et al. 2023, §3, eq. 4).

A run directory holds ``config.json`` (the :class:`TrainConfig`, written once and compared on every
restart: a different config is refused, naming the fields that differ), ``ckpt.pt`` (the state dicts of
the model, its EMA and the optimiser, the step, RNG states, the VLB sampler's history: tensors and plain
numbers only, loadable with ``torch.load(weights_only=True)``; written to ``ckpt.pt.<pid>.tmp``, fsynced, then
moved into place with ``os.replace``, so a crash never leaves half a checkpoint) and ``metrics.jsonl`` (one JSON
record per log step, plus ``"event"`` records at each start and at the end). Re-running the same command
resumes from ``ckpt.pt``; on the CPU the final weights are bit-identical to an uninterrupted run's with the
same number of CPU threads (``torch.get_num_threads()``, from ``$OMP_NUM_THREADS`` or the core count: CPU kernels
split their sums over the threads, so another count rounds differently). The checkpoint records the count and
a resume with another one says so.

Faults: the checkpoint stores its own config, compared (the step budget aside) before ``config.json`` is
written, so a directory that lost its ``config.json`` never adopts another run's weights. It also stores a
sha256 digest of its state, verified on every load; the checkpoint it replaces is kept as ``ckpt.prev.pt``
until the new one has been read back and verified. While training, the process holds an exclusive
``fcntl.flock`` on ``train.lock`` (see :func:`_lock_run_dir`; the kernel drops it when the process dies, even
by SIGKILL, so it never goes stale); a second trainer on the directory exits 2 naming the holder's pid. A
failed write (disk full) removes its temporary file and keeps the last good checkpoint; temporary files left
by a killed trainer are removed at the next start. The command line reports every error in one line.

Multi-GPU: ``torchrun --nproc_per_node=K -m sched_lib.train ...`` runs DistributedDataParallel (NCCL on
CUDA, gloo on the CPU); the preset's batch is the global batch, split over the ranks; rank 0 alone writes
files; at the end every rank's weights are hashed and the hashes recorded (they must agree).
"""

from __future__ import annotations

import argparse
import copy
import functools
import hashlib
import json
import os
import shlex
import shutil
import sys
import time
import dataclasses
from dataclasses import dataclass, field, fields
from pathlib import Path
from types import MappingProxyType

import numpy as np
import torch

from . import _validate as check
from .nets import CONDITIONINGS, Denoiser, UNet, UNetConfig, conditioning_table
from .presets import PRESET_NAMES, Preset, get_preset
from .process import PREDICTIONS, LossSecondMomentSampler, Process, training_loss, vlb_term_weight
from .quantities import get_schedule_quantities
from .schedules import get_schedule, list_schedules
from .weighting import get_weighting, list_weightings

__all__ = [
    "AMP_MODES",
    "CHECKPOINT_FILE",
    "CONFIG_FILE",
    "IMAGE_SIZES",
    "METRICS_FILE",
    "WEIGHTINGS",
    "ConfigMismatchError",
    "LoadedRun",
    "Runtime",
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "build_model",
    "build_process",
    "build_weighting",
    "load_run",
    "main",
    "step_seed",
    "train",
    "training_subset",
    "upsample_batch",
]

CONFIG_FILE = "config.json"
CHECKPOINT_FILE = "ckpt.pt"
METRICS_FILE = "metrics.jsonl"
#: Version of the config/checkpoint format (bumped on incompatible changes).
FORMAT_VERSION = 1
#: Weightings the trainer accepts: :func:`sched_lib.weighting.list_weightings` plus "vlb".
WEIGHTINGS = tuple(list_weightings()) + ("vlb",)
#: Mixed-precision modes of :class:`Runtime`.
AMP_MODES = ("auto", "bf16", "fp16", "none")
#: Image sizes a run can train at: CIFAR-10 as stored (32) or upsampled by 2 or 4 (:func:`upsample_batch`).
IMAGE_SIZES = (32, 64, 128)
#: CIFAR-10's training split has this many images.
_CIFAR_TRAIN = 50_000

# Streams of :func:`step_seed`: what a derived seed is for.
_STREAM_DATA, _STREAM_GLOBAL, _STREAM_INIT = 0, 1, 2
_NO_BAD_STEP = 2**62


# ----------------------------------------------------------------------------------------------
# The config
# ----------------------------------------------------------------------------------------------


def _json_params(params, name: str) -> MappingProxyType:
    """Check a parameter mapping and freeze it, keys sorted.

    Keys are non-empty strings; values are JSON scalars (finite numbers, bools, strings) or lists of
    finite numbers (such as the knots of ``piecewise_log_snr``), which are frozen as tuples and written
    to ``config.json`` as JSON lists.
    """
    if params is None:
        params = {}
    if not hasattr(params, "items"):
        raise ValueError(f"{name} must be a mapping of str to numbers/bools/strings, got {params!r}")
    out = {}
    for key, value in sorted(params.items()):
        if not isinstance(key, str) or not key:
            raise ValueError(f"{name} keys must be non-empty strings, got {key!r}")
        if isinstance(value, (np.generic,)):
            value = value.item()
        if isinstance(value, (list, tuple, np.ndarray)):
            items = value.tolist() if isinstance(value, np.ndarray) else [
                v.item() if isinstance(v, np.generic) else v for v in value]
            if not items or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v)
                                    for v in items):
                raise ValueError(f"{name}[{key!r}] must be a finite number, a bool, a string or a non-empty list "
                                 f"of finite numbers, got {value!r}")
            out[key] = tuple(items)
            continue
        if not isinstance(value, (bool, int, float, str)) or (
            isinstance(value, float) and not np.isfinite(value)
        ):
            raise ValueError(f"{name}[{key!r}] must be a finite number, a bool, a string or a non-empty list "
                             f"of finite numbers, got {value!r}")
        out[key] = value
    return MappingProxyType(out)


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a training run's result (written to ``config.json``; frozen).

    Build one with :meth:`from_preset`. Every field is checked on construction (an unknown schedule,
    weighting or parameter raises ``ValueError`` naming it and listing what is valid).

    Attributes:
        schedule, schedule_params: :func:`sched_lib.schedules.get_schedule` name and parameters.
        weighting, weighting_params: a :func:`sched_lib.weighting.get_weighting` name and parameters,
            or ``"vlb"`` (improved-diffusion's L_vlb terms, t importance-sampled ∝ √E[L_t²]; no
            parameters).
        prediction: what the network predicts, and the loss's frame: ``"eps"``, ``"x0"`` or ``"v"``.
        preset: the preset the sizes came from (a label; the sizes below are what counts).
        num_images ... eval_samples: the sizes (:class:`sched_lib.presets.Preset`); the ``num_images``
            training images are chosen by :func:`training_subset`.
        net: the U-Net's sizes (:class:`sched_lib.nets.UNetConfig`; RGB, ``net.image_size`` must equal
            ``image_size``).
        T: number of diffusion steps of the discrete schedule (default 1000).
        cond: the network's noise-level input, ``"t"`` or ``"log_snr"`` (:func:`~sched_lib.nets.conditioning_table`).
        seed: seeds the initial weights and every step's randomness.
        weight_decay: AdamW's decoupled weight decay (0: Adam, as DDPM).
        grad_clip: clip the global gradient norm to this (DDPM: 1).
        hflip: random horizontal flips (DDPM's CIFAR-10 augmentation).
        image_size: the side the model trains and samples at: 32 (CIFAR-10 as stored), 64 or 128 (CIFAR-10
            upsampled by nearest-neighbour repetition, each pixel becoming a 2×2 or 4×4 block; see
            :func:`upsample_batch`). Upsampling adds no information but makes the image redundant, so the
            same log-SNR leaves its coarse structure easier to read: the reason resolution-shifted schedules
            exist (Hoogeboom et al. 2023, §3, eq. 4; chapter "Schedules and Resolution"; lab "Resolution").
            Left out of ``config.json`` when 32, so the configs (and run-directory hashes) of 32×32 runs
            are the same as before the field existed, and old ``config.json`` files load as 32.
        format: config format version.
    """

    schedule: str
    weighting: str
    prediction: str
    preset: str
    num_images: int
    batch_size: int
    steps: int
    lr: float
    warmup_steps: int
    ema_decay: float
    checkpoint_every: int
    log_every: int
    eval_samples: int
    net: UNetConfig
    schedule_params: MappingProxyType = field(default_factory=dict)
    weighting_params: MappingProxyType = field(default_factory=dict)
    T: int = 1000
    cond: str = "t"
    seed: int = 0
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    hflip: bool = True
    format: int = FORMAT_VERSION
    image_size: int = 32

    def __post_init__(self):
        if not isinstance(self.schedule, str) or self.schedule not in list_schedules():
            raise ValueError(f"unknown schedule {self.schedule!r}; valid: {', '.join(list_schedules())}")
        object.__setattr__(self, "schedule_params", _json_params(self.schedule_params, "schedule_params"))
        object.__setattr__(self, "weighting_params", _json_params(self.weighting_params, "weighting_params"))
        check.choice(self.weighting, "weighting", WEIGHTINGS)
        check.choice(self.prediction, "prediction", PREDICTIONS)
        check.choice(self.preset, "preset", PRESET_NAMES)
        check.choice(self.cond, "cond", CONDITIONINGS)
        for name in ("T", "num_images", "batch_size", "steps", "checkpoint_every", "log_every", "eval_samples"):
            check.num_steps(getattr(self, name), name)
        check.num_steps(self.warmup_steps, "warmup_steps", minimum=0)
        check.num_steps(self.seed, "seed", minimum=0)
        if self.num_images > _CIFAR_TRAIN:
            raise ValueError(f"num_images must be at most {_CIFAR_TRAIN:,} (CIFAR-10's training split), "
                             f"got {self.num_images:,}")
        object.__setattr__(self, "lr", check.real(self.lr, "lr", low=0, low_open=True))
        object.__setattr__(self, "ema_decay", check.real(self.ema_decay, "ema_decay", low=0, high=1, high_open=True))
        object.__setattr__(self, "weight_decay", check.real(self.weight_decay, "weight_decay", low=0))
        object.__setattr__(self, "grad_clip", check.real(self.grad_clip, "grad_clip", low=0, low_open=True))
        check.flag(self.hflip, "hflip")
        if self.format != FORMAT_VERSION:
            raise ValueError(f"format must be {FORMAT_VERSION} (this sched_lib's config format), got {self.format!r}")
        net = self.net
        if isinstance(net, dict):
            net = UNetConfig.from_dict(net)
        if not isinstance(net, UNetConfig):
            raise ValueError(f"net must be a UNetConfig, got {type(net).__name__}")
        if isinstance(self.image_size, bool) or self.image_size not in IMAGE_SIZES:
            raise ValueError(f"image_size must be one of {IMAGE_SIZES} (CIFAR-10 as stored, or upsampled 2× or "
                             f"4× by pixel repetition), got {self.image_size!r}")
        object.__setattr__(self, "image_size", int(self.image_size))
        if net.image_size != self.image_size or net.in_channels != 3:
            raise ValueError(f"net must take {self.image_size}×{self.image_size} RGB images (image_size="
                             f"{self.image_size}, in_channels=3) to train at image_size={self.image_size}, got "
                             f"net.image_size={net.image_size}, in_channels={net.in_channels}")
        object.__setattr__(self, "net", net)
        # Build what the config names now, so that a bad parameter fails here, not at step 1.
        build_weighting(self, build_process(self))

    @classmethod
    def from_preset(cls, preset: str | Preset | None, *, schedule: str, weighting: str, prediction: str,
                    schedule_params=None, weighting_params=None, steps: int | None = None,
                    checkpoint_every: int | None = None, **kwargs) -> "TrainConfig":
        """A config with the sizes of ``preset`` (a name, ``"auto"``, a :class:`Preset`, or None for
        ``$SCHED_LIB_PRESET``); ``steps``, ``checkpoint_every`` and any other keyword argument (``T``,
        ``cond``, ``seed``, ``lr``, ``net``, ...) set or override the corresponding field.

        ``image_size=64`` (or 128) also sets the preset's U-Net to that input size (same widths and
        levels; pass ``net=`` to size it differently); an explicit ``net`` must match ``image_size``.
        """
        p = preset if isinstance(preset, Preset) else get_preset(preset)
        if "image_size" in kwargs and "net" not in kwargs and isinstance(kwargs["image_size"], int) \
                and not isinstance(kwargs["image_size"], bool) and kwargs["image_size"] > 0:
            kwargs["net"] = dataclasses.replace(p.net, image_size=kwargs["image_size"])
        sizes = dict(
            preset=p.name, num_images=p.num_images, batch_size=p.batch_size,
            steps=p.steps if steps is None else steps, lr=p.lr, warmup_steps=p.warmup_steps,
            ema_decay=p.ema_decay,
            checkpoint_every=p.checkpoint_every if checkpoint_every is None else checkpoint_every,
            log_every=p.log_every, eval_samples=p.eval_samples, net=p.net,
        )
        return cls(schedule=schedule, weighting=weighting, prediction=prediction,
                   schedule_params=schedule_params or {}, weighting_params=weighting_params or {},
                   **{**sizes, **kwargs})

    def to_dict(self) -> dict:
        """JSON-ready dict (nested ``net``; list parameters as lists; ``image_size`` only when it is not 32)."""
        out = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, MappingProxyType):
                v = {k: list(x) if isinstance(x, tuple) else x for k, x in v.items()}
            elif isinstance(v, UNetConfig):
                v = v.to_dict()
            out[f.name] = v
        if out["image_size"] == 32:
            del out["image_size"]  # 32×32 configs are byte-identical to those written before the field existed
        return out

    def to_json(self) -> str:
        """The config as indented JSON (what ``config.json`` holds)."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        """Inverse of :meth:`to_dict`; missing or unknown fields raise ``ValueError``."""
        if not isinstance(d, dict):
            raise ValueError(f"a TrainConfig dict is required, got {type(d).__name__}")
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"unknown TrainConfig field(s) {unknown}; valid: {sorted(names)}")
        d = dict(d)
        if isinstance(d.get("net"), dict):
            d["net"] = UNetConfig.from_dict(d["net"])
        try:
            return cls(**d)
        except TypeError as err:  # a missing required field
            raise ValueError(f"incomplete TrainConfig: {err}") from None

    def diff(self, other: "TrainConfig") -> list:
        """``[(field, self's value, other's value), ...]`` for every field that differs (``net.*`` flattened)."""
        a, b = (_flatten({**c.to_dict(), "image_size": c.image_size}) for c in (self, other))
        return [(k, a.get(k), b.get(k)) for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict) and k == "net":
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


class ConfigMismatchError(ValueError):
    """A run directory holds a run with a different config; ``.differences`` lists (field, old, new)."""

    def __init__(self, out_dir, differences):
        self.differences = differences
        fields_ = "; ".join(f"{k}: existing {a!r}, requested {b!r}" for k, a, b in differences)
        super().__init__(
            f"{out_dir} already holds a run with a different config (the fields that differ: {fields_}). "
            "Re-run with the same arguments to resume it, or choose another --out directory."
        )


# ----------------------------------------------------------------------------------------------
# What the config builds
# ----------------------------------------------------------------------------------------------


def build_process(config: TrainConfig, device=None) -> Process:
    """The forward process of the run's schedule (:class:`sched_lib.process.Process`, float32 model dtype)."""
    schedule = get_schedule(config.schedule, config.T, **dict(config.schedule_params))
    return Process(schedule, device=device)


def build_weighting(config: TrainConfig, process: Process):
    """The ``weighting`` argument of :func:`~sched_lib.process.training_loss`: a callable w(snr, frame) or "vlb".

    Checks that the weight is finite and non-negative at every step in the prediction's frame (for
    example ``eps`` weighting at zero terminal SNR is refused here, not at the first step).
    """
    if config.weighting == "vlb":
        if config.weighting_params:
            raise ValueError(f"weighting 'vlb' takes no parameters, got {dict(config.weighting_params)}")
        weighting = "vlb"
        w = vlb_term_weight(process.q, config.prediction)
    else:
        weighting = get_weighting(config.weighting, **dict(config.weighting_params))
        w = np.broadcast_to(np.asarray(weighting(process.q.snr, frame=config.prediction), dtype=np.float64),
                            (process.T,))
    bad = np.flatnonzero(~np.isfinite(w) | (w < 0))
    if bad.size:
        raise ValueError(
            f"weighting {config.weighting!r} in the {config.prediction!r} frame is not a finite non-negative "
            f"number at t index {bad[0]} (SNR {process.q.snr[bad[0]]:g}) of schedule {config.schedule!r}"
            + ("; with zero terminal SNR use prediction 'v' or 'x0'" if process.zero_terminal_snr else "")
        )
    return weighting


def build_model(config: TrainConfig, device=None) -> Denoiser:
    """The run's :class:`~sched_lib.nets.Denoiser`, initialised from ``config.seed`` (the same on every rank)."""
    q = get_schedule_quantities(get_schedule(config.schedule, config.T, **dict(config.schedule_params)))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(step_seed(config.seed, 0, 0, _STREAM_INIT))
        model = Denoiser(UNet(config.net), conditioning_table(config.cond, q.log_snr))
    return model.to(device) if device is not None else model


def step_seed(seed: int, step: int, rank: int, stream: int = _STREAM_DATA) -> int:
    """A 63-bit seed derived from (seed, step, rank, stream) by NumPy's ``SeedSequence`` (stable across versions).

    Step ``k`` (0-indexed) of rank ``r`` draws its batch, flips, t and ε from a generator seeded with
    ``step_seed(seed, k, r)`` and re-seeds the global RNG (dropout) with ``stream=1``.
    """
    s = np.random.SeedSequence([int(seed), int(step), int(rank), int(stream)]).generate_state(2, np.uint32)
    return (int(s[0]) << 31) ^ int(s[1])


# ----------------------------------------------------------------------------------------------
# Runtime options (how to run, not what: never compared on resume)
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Runtime:
    """How to run a training job on this machine (not part of the config; never changes the maths).

    Attributes:
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ...; None: ``cuda:LOCAL_RANK`` when CUDA is available,
            else the CPU.
        amp: ``"auto"`` (bf16 autocast on CUDA with native bf16, fp16 + gradient scaler on older GPUs,
            none on the CPU), ``"bf16"``, ``"fp16"`` (CUDA only) or ``"none"``.
        channels_last: channels-last memory format; None: on CUDA only (it slows the CPU down).
        compile: wrap the model in ``torch.compile``.
        progress: show a tqdm progress bar (rank 0).
        fail_at_step: for tests only: make the loss NaN at this 0-indexed step.
    """

    device: str | None = None
    amp: str = "auto"
    channels_last: bool | None = None
    compile: bool = False
    progress: bool = True
    fail_at_step: int | None = None

    def __post_init__(self):
        check.choice(self.amp, "amp", AMP_MODES)
        if self.channels_last is not None:
            check.flag(self.channels_last, "channels_last")
        check.flag(self.compile, "compile")
        check.flag(self.progress, "progress")
        if self.fail_at_step is not None:
            check.num_steps(self.fail_at_step, "fail_at_step", minimum=0)

    def resolve(self, local_rank: int = 0):
        """``(device, amp_dtype or None, use_grad_scaler, channels_last)`` on this machine."""
        if self.device is None:
            device = torch.device(f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu")
        else:
            device = torch.device(self.device)
            if device.type == "cuda" and device.index is None:
                device = torch.device(f"cuda:{local_rank}")
        cuda = device.type == "cuda"
        if cuda and not torch.cuda.is_available():
            raise ValueError(f"device {self.device!r} needs CUDA, which is not available here; use 'cpu'")
        amp = self.amp
        if amp == "auto":
            amp = ("bf16" if _native_bf16() else "fp16") if cuda else "none"
        if amp == "fp16" and not cuda:
            raise ValueError("amp='fp16' needs a CUDA device; use 'none' (or 'bf16') on the CPU")
        dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "none": None}[amp]
        channels_last = cuda if self.channels_last is None else self.channels_last
        return device, dtype, amp == "fp16", channels_last


def _grad_scaler():
    """A CUDA gradient scaler for fp16 training (``torch.amp.GradScaler`` from torch 2.3, else the older path)."""
    if hasattr(torch, "amp") and hasattr(torch.amp, "GradScaler"):
        return torch.amp.GradScaler("cuda")
    return torch.cuda.amp.GradScaler()  # pragma: no cover - torch < 2.3


def _native_bf16() -> bool:
    """True on GPUs with native bf16 (Ampere and later); False on e.g. a T4, where it is emulated."""
    try:
        return bool(torch.cuda.is_bf16_supported(including_emulation=False))
    except TypeError:  # older torch without the argument
        return torch.cuda.get_device_capability()[0] >= 8


# ----------------------------------------------------------------------------------------------
# Files
# ----------------------------------------------------------------------------------------------


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class CheckpointWriteError(OSError):
    """A file of the run directory could not be written (disk full, I/O error); the old file was kept."""


def _atomic_write_bytes(path: Path, write) -> None:
    """Write ``path`` through ``path.<pid>.tmp`` + fsync + ``os.replace`` (a reader never sees half a file).

    The temporary name holds the writer's pid, so two writers never share one. If the write fails (disk full,
    I/O error: torch reports these as ``RuntimeError``), the temporary file is removed, ``path`` is left as it
    was, and :class:`CheckpointWriteError` says so in one line.
    """
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as err:  # Ctrl-C included: never leave the temporary file behind
        try:
            tmp.unlink()
        except OSError:
            pass
        if not isinstance(err, (OSError, RuntimeError)):
            raise
        if isinstance(err, OSError) and err.strerror:
            reason = err.strerror  # "No space left on device", "File too large", "Permission denied", ...
        else:  # torch.save reports a short write as "[enforce fail at inline_container.cc] unexpected pos ..."
            reason = "the write stopped short: the disk is full or the file system refused it"
        try:
            reason += f"; {shutil.disk_usage(path.parent).free / 2**20:.0f} MiB free there"
        except OSError:
            pass
        kept = "the previous version was kept" if path.exists() else "nothing was written"
        raise CheckpointWriteError(f"could not write {path} ({reason}); {kept}. Free disk space (or fix the "
                                   f"directory's permissions) and re-run the same command to resume") from None
    _fsync_dir(path.parent)


def _remove_stale_tmp(out: Path) -> None:
    """Remove the temporary files (``*.tmp``) a killed writer left in the run directory (we hold its lock),
    and the partial copy ``ckpt.pt.seed`` of a :mod:`sched_lib.sweep` seeding step that was interrupted (the
    seeding writes ``config.json`` last, so once it exists a ``ckpt.pt.seed`` is never going to be used)."""
    stale = []
    for name in (CONFIG_FILE, CHECKPOINT_FILE, METRICS_FILE, PREVIOUS_CHECKPOINT_FILE):
        stale += list(out.glob(f"{name}.tmp")) + list(out.glob(f"{name}.*.tmp"))
    if (out / CONFIG_FILE).exists():
        stale.append(out / (CHECKPOINT_FILE + ".seed"))
    for tmp in stale:
        try:
            tmp.unlink()
        except OSError:
            pass


LOCK_FILE = "train.lock"


class RunLockedError(RuntimeError):
    """Another process is training in the run directory (it holds ``train.lock``)."""


def _lock_run_dir(out: Path):
    """Take an exclusive ``fcntl.flock`` on ``out/train.lock``; returns the open file (close it to unlock).

    The lock belongs to the open file, not to the file's existence: the kernel releases it when the process
    exits in any way, SIGKILL included, so a killed trainer never leaves a stale lock behind (the file stays,
    holding the last pid, but nobody holds its lock, and the next trainer takes it at once). A second trainer
    on the same directory raises :class:`RunLockedError` naming the holder's pid. A trainer that ends normally
    removes the file while it still holds the lock; one that then gets the lock of the removed file notices
    (the path no longer names its file) and locks the new one.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: no lock
        return None
    path = out / LOCK_FILE
    while True:
        f = open(path, "a+")
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.seek(0)
            pid = f.read().strip() or "unknown"
            f.close()
            raise RunLockedError(f"another process is training in {out} (pid {pid}); wait for it to finish or "
                                 "stop it, or choose another --out directory") from None
        try:  # the holder we waited on may have removed the file on its way out: lock the file that is there
            if os.stat(path).st_ino == os.fstat(f.fileno()).st_ino:
                break
        except FileNotFoundError:
            pass
        f.close()
    f.seek(0)
    f.truncate()
    f.write(f"{os.getpid()}\n")
    f.flush()
    return f


def read_config(run_dir) -> TrainConfig:
    """The :class:`TrainConfig` in ``run_dir/config.json``."""
    path = Path(run_dir) / CONFIG_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: {run_dir} is not a sched_lib.train run directory")
    try:
        d = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path} is not valid JSON ({err}); restore it, or delete it to have the run's "
                         "checkpoint checked against the command's config") from None
    try:
        return TrainConfig.from_dict(d)
    except ValueError as err:
        raise ValueError(f"{path} is not a valid run config: {err}") from None


PREVIOUS_CHECKPOINT_FILE = "ckpt.prev.pt"


def _state_sha256(state) -> str:
    """sha256 over every tensor's bytes and every number of a checkpoint state (its ``"sha256"`` left out)."""
    h = hashlib.sha256()

    def visit(obj, key=""):
        if isinstance(obj, dict):
            for k in sorted(obj, key=str):
                if not (key == "" and k == "sha256"):
                    h.update(f"<{k}>".encode())
                    visit(obj[k], f"{key}/{k}")
        elif isinstance(obj, (list, tuple)):
            h.update(f"[{len(obj)}]".encode())
            for i, v in enumerate(obj):
                visit(v, f"{key}/{i}")
        elif isinstance(obj, torch.Tensor):
            t = obj.detach().cpu().contiguous()
            h.update(f"{t.dtype}{tuple(t.shape)}".encode())
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
        else:
            h.update(repr(obj).encode())

    visit(state)
    return h.hexdigest()


def _load_checkpoint(path: Path, device) -> dict:
    """Read and verify a checkpoint: a ValueError names the file when it is unreadable or its digest is wrong."""
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except Exception as err:  # truncated or not a checkpoint
        reason = " ".join(str(err).split())[:300]
        raise ValueError(f"{path} is not a readable sched_lib checkpoint ({type(err).__name__}: {reason})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT_VERSION:
        raise ValueError(f"{path} is not a sched_lib checkpoint of format {FORMAT_VERSION}")
    if "sha256" in state and state["sha256"] != _state_sha256(state):  # older checkpoints carry no digest
        raise ValueError(f"{path} is corrupt: its contents do not match the sha256 digest stored in it")
    return state


def _load_checkpoint_or_previous(out: Path, device) -> tuple:
    """``(state, path)``: ``out/ckpt.pt``, or ``ckpt.prev.pt`` (with a warning) when the newest one is unreadable
    or corrupt."""
    path, prev = out / CHECKPOINT_FILE, out / PREVIOUS_CHECKPOINT_FILE
    try:
        return _load_checkpoint(path, device), path
    except ValueError as err:
        if not prev.is_file():
            raise
        state = _load_checkpoint(prev, device)
        print(f"sched_lib.train: warning: {err}; resuming from the previous checkpoint {prev} "
              f"(step {int(state['step'])}) instead", file=sys.stderr)
        return state, prev


def _save_checkpoint(out: Path, state: dict) -> None:
    """Write ``out/ckpt.pt`` with its digest, keeping the checkpoint it replaces as ``ckpt.prev.pt`` (a hard
    link made before the atomic replace, so there is always a complete ``ckpt.pt``) until the new one has been
    read back and verified; a new one that does not verify is replaced by the previous one again."""
    state["sha256"] = _state_sha256(state)
    path, prev = out / CHECKPOINT_FILE, out / PREVIOUS_CHECKPOINT_FILE
    kept = False
    if path.is_file():
        try:  # (not link + rename: rename onto another link of the same file does nothing)
            prev.unlink(missing_ok=True)
            os.link(path, prev)
            kept = True
        except OSError:  # no hard links here: no fallback, nothing else changes
            pass
    try:
        _atomic_write_bytes(path, lambda f: torch.save(state, f))
    except BaseException:  # a failed write or Ctrl-C: ckpt.pt is still the previous checkpoint
        if kept:
            prev.unlink(missing_ok=True)
        raise
    try:
        _load_checkpoint(path, "cpu")
    except ValueError as err:
        if kept:
            os.replace(prev, path)
        raise CheckpointWriteError(f"the checkpoint just written did not verify ({err}); "
                                   + ("the previous one was put back. " if kept else "")
                                   + "Check the disk and re-run the same command to resume") from None
    if kept:
        prev.unlink(missing_ok=True)


def _truncate_metrics(path: Path, step: int) -> None:
    """Keep the records of ``metrics.jsonl`` up to ``step`` (drop those of steps a crash undid, and a torn line)."""
    if not path.exists():
        return
    keep = []
    for line in path.read_text().splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(rec, dict) and isinstance(rec.get("step"), int) and rec["step"] <= step:
            keep.append(json.dumps(rec))
    text = "".join(s + "\n" for s in keep)
    _atomic_write_bytes(path, lambda f: f.write(text.encode()))


def _append_metrics(path: Path, record: dict) -> None:
    with open(path, "a") as f:
        f.write(json.dumps(record) + "\n")
        f.flush()


def _weights_sha256(module: torch.nn.Module) -> str:
    """sha256 of every tensor of ``module.state_dict()`` (bytes, in order): equal iff the weights are equal."""
    h = hashlib.sha256()
    for name, t in module.state_dict().items():
        h.update(name.encode())
        h.update(t.detach().cpu().reshape(-1).view(torch.uint8).numpy().tobytes())  # logical order, any layout
    return h.hexdigest()


# ----------------------------------------------------------------------------------------------
# Distributed
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    owns_group: bool = False


def _init_distributed(runtime: Runtime) -> _Dist:
    """Join the process group that ``torchrun`` describes (WORLD_SIZE > 1), else run alone."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return _Dist()
    import torch.distributed as dist

    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    owns = False
    if not dist.is_initialized():
        device, *_ = runtime.resolve(local_rank)
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
        owns = True
    return _Dist(dist.get_rank(), dist.get_world_size(), local_rank, owns)


class _NoUpdateSampler:
    """Samples t from a :class:`LossSecondMomentSampler` without ``training_loss`` updating it: the trainer
    updates it with the losses of every rank (improved-diffusion's ``update_with_local_losses``)."""

    def __init__(self, sampler: LossSecondMomentSampler):
        self.sampler = sampler
        self.T = sampler.T

    def sample(self, batch_size, generator=None, device=None):
        return self.sampler.sample(batch_size, generator=generator, device=device)


def _sampler_state(sampler) -> dict | None:
    if sampler is None:
        return None
    return {"history": torch.from_numpy(sampler._loss_history.copy()),
            "counts": torch.from_numpy(sampler._loss_counts.copy())}


def _load_sampler_state(sampler, state) -> None:
    if sampler is None:
        return
    sampler._loss_history[...] = state["history"].cpu().numpy()
    sampler._loss_counts[...] = state["counts"].cpu().numpy()


# ----------------------------------------------------------------------------------------------
# Training
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainResult:
    """What :func:`train` returns: the run directory, the final step, where it resumed from (0: fresh),
    the last logged mean loss (None if nothing was logged in this session) and this session's wall time."""

    out_dir: Path
    step: int
    resumed_from: int
    last_loss: float | None
    wall_s: float


def _lr_at(config: TrainConfig, step: int) -> float:
    """Linear warm-up to ``lr`` over ``warmup_steps``, then constant (DDPM). ``step`` is 0-indexed."""
    if config.warmup_steps == 0:
        return config.lr
    return config.lr * min(1.0, (step + 1) / config.warmup_steps)


def training_subset(filenames, num_images: int) -> np.ndarray:
    """Indices of the ``num_images`` training images a run uses: those whose sha256(file name) is smallest,
    in that order. int64 (num_images,).

    The copies of CIFAR-10 store the training images in different orders (the official batches; the
    shuffled ``.npz`` of ../shared/data/cifar10), but every copy keeps the original file names, so this
    picks the same images, in the same order, from any of them: a run's data does not depend on where
    CIFAR-10 came from. The hash order mixes the classes. ``filenames=None`` (a copy without file names)
    falls back to the first ``num_images`` in storage order, with a warning.
    """
    if filenames is None:
        import warnings

        warnings.warn("this copy of CIFAR-10 has no file names: using the first num_images training images in "
                      "storage order, which depends on the copy", stacklevel=2)
        return np.arange(num_images, dtype=np.int64)
    keys = [hashlib.sha256(str(name).encode()).digest() for name in filenames]
    return np.array(sorted(range(len(keys)), key=keys.__getitem__)[:num_images], dtype=np.int64)


@functools.lru_cache(maxsize=1)
def _cifar_train_subset(data_location: str | None, num_images: int) -> np.ndarray:
    """The run's CIFAR-10 training images (:func:`training_subset`; read-only uint8 array), cached per
    process: a lab that trains several runs in one kernel reads (and decompresses) the data once."""
    from .data import load_cifar10

    ds = load_cifar10("train")
    images = np.array(ds.images[training_subset(ds.filenames, num_images)], copy=True)
    images.setflags(write=False)
    return images


def _load_images(config: TrainConfig, device) -> torch.Tensor:
    """The run's ``num_images`` CIFAR-10 training images (:func:`training_subset`), uint8 (N, 32, 32, 3)
    on ``device``."""
    from .data import ENV_VAR

    try:
        images = _cifar_train_subset(os.environ.get(ENV_VAR) or None, config.num_images)
    except (FileNotFoundError, OSError, RuntimeError) as err:  # no copy here, and no download (offline)
        from .data import default_cache_dir

        text = " ".join(str(err).split())
        where = (f"looked in ${ENV_VAR} = {os.environ[ENV_VAR]}" if os.environ.get(ENV_VAR) else
                 f"${ENV_VAR} is not set, so looked in the cache {default_cache_dir()} and tried to download there")
        raise FileNotFoundError(f"CIFAR-10 training images not found ({where}): {text}. Set ${ENV_VAR} to the "
                                "folder (or file) holding CIFAR-10, or run once with internet access to download "
                                "it") from None
    return torch.from_numpy(images.copy()).to(device)


def upsample_batch(x: torch.Tensor, image_size: int) -> torch.Tensor:
    """Nearest-neighbour upsampling of an (N, C, H, W) batch to ``image_size`` × ``image_size`` (an integer
    multiple of H = W): every pixel becomes an s×s block of copies, s = image_size/H.

    This is the "upsampled image" of chapter "Schedules and Resolution" (``sched_lib.plotting.upsample`` on
    NHWC arrays): a perfectly redundant image, for which s×s average pooling recovers the original exactly
    and multiplies the SNR by s² (Hoogeboom et al. 2023, §3, eq. 4). Nearest rather than bilinear: it adds
    no new pixel values, so the signal at the original resolution is unchanged and the SNR gain is exactly
    s², the case the shifted schedules are derived for. Returns ``x`` itself when the size already matches.
    """
    side = x.shape[-1]
    if x.ndim != 4 or x.shape[-2] != side:
        raise ValueError(f"x must be a square (N, C, H, W) batch, got shape {tuple(x.shape)}")
    if image_size == side:
        return x
    if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size % side or image_size < side:
        raise ValueError(f"image_size must be a positive integer multiple of the batch's side {side}, got "
                         f"{image_size!r}")
    s = image_size // side
    return x.repeat_interleave(s, dim=2).repeat_interleave(s, dim=3)


def _batch(images: torch.Tensor, idx: torch.Tensor, flip: torch.Tensor | None, channels_last: bool,
           image_size: int = 32) -> torch.Tensor:
    """uint8 NHWC images at ``idx`` → float32 NCHW in [−1, 1] (as :func:`sched_lib.data.to_tensor`), flipped,
    upsampled to ``image_size`` (:func:`upsample_batch`; flipping and upsampling commute)."""
    x = images.index_select(0, idx).permute(0, 3, 1, 2).to(torch.float32).div_(127.5).sub_(1.0)
    if flip is not None:
        x = torch.where(flip.view(-1, 1, 1, 1), x.flip(3), x)
    x = upsample_batch(x, image_size)
    return x.contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)


def _ema_update(ema_params, params, decay: float) -> None:
    if hasattr(torch, "_foreach_lerp_"):
        torch._foreach_lerp_(ema_params, params, 1.0 - decay)
    else:  # pragma: no cover - very old torch
        for e, p in zip(ema_params, params):
            e.lerp_(p, 1.0 - decay)


@dataclass(frozen=True)
class StepOutput:
    """What :meth:`Trainer.step` returns (tensors on the device, detached; reading them synchronises)."""

    loss: torch.Tensor
    grad_norm: torch.Tensor
    lr: float


class Trainer:
    """The model, its EMA, the optimiser and one optimisation step: what :func:`train` and the throughput
    benchmark (``benchmarks/train_throughput.py``) share.

    ``Trainer(config, runtime)`` builds the :class:`~sched_lib.nets.Denoiser` (seeded by ``config.seed``),
    its EMA copy, AdamW (fused on CUDA), a gradient scaler for fp16, and the VLB t sampler when
    ``config.weighting == "vlb"``; :meth:`wrap` adds DistributedDataParallel and ``torch.compile``.
    :meth:`step` runs step ``k`` (0-indexed) on a batch ``x0`` (float32 (N, 3, S, S) in [−1, 1], S =
    ``config.image_size``) with
    the generator ``g`` that draws t and ε. :meth:`state_dict` / :meth:`load_state_dict` hold everything a
    checkpoint needs (plain tensors and numbers: ``torch.load(weights_only=True)`` reads it).
    """

    def __init__(self, config: TrainConfig, runtime: Runtime | None = None, *, local_rank: int = 0,
                 world_size: int = 1):
        runtime = runtime if runtime is not None else Runtime()
        self.config, self.runtime, self.world_size = config, runtime, world_size
        self.device, self.amp_dtype, use_scaler, self.channels_last = runtime.resolve(local_rank)
        self.amp_name = str(self.amp_dtype).replace("torch.", "") if self.amp_dtype is not None else "none"
        self.process = build_process(config, device=self.device)
        self.weighting = build_weighting(config, self.process)
        self.net = build_model(config, device=self.device)
        if self.channels_last:
            self.net = self.net.to(memory_format=torch.channels_last)
        self.net.train()
        self.ema = copy.deepcopy(self.net).requires_grad_(False).eval()
        self.params = list(self.net.parameters())
        self.ema_params = list(self.ema.parameters())
        opt_kwargs = {"fused": True} if self.device.type == "cuda" else {}
        self.opt = torch.optim.AdamW(self.params, lr=config.lr, betas=(0.9, 0.999),
                                     weight_decay=config.weight_decay, **opt_kwargs)
        self.scaler = _grad_scaler() if use_scaler else None
        self.vlb_sampler = LossSecondMomentSampler(config.T) if self.weighting == "vlb" else None
        self.model = self.net
        self._step = 0

    def wrap(self, ddp: bool = False) -> None:
        """Wrap the network for training: DistributedDataParallel (when ``ddp``), then ``torch.compile``
        (when the runtime asks for it). Call once, after loading a checkpoint."""
        if ddp:
            from torch.nn.parallel import DistributedDataParallel as DDP

            self.model = DDP(self.net, device_ids=[self.device.index] if self.device.type == "cuda" else None)
        if self.runtime.compile:
            self.model = torch.compile(self.model)

    def model_fn(self, xt: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """``model(x_t, t)`` as :func:`~sched_lib.process.training_loss` calls it: channels-last and autocast
        where the runtime uses them; the output is returned in float32."""
        if self.channels_last:
            xt = xt.contiguous(memory_format=torch.channels_last)
        with torch.autocast(self.device.type, dtype=self.amp_dtype or torch.float32,
                            enabled=self.amp_dtype is not None):
            out = self.model(xt, t)
        out = out.float()
        if self.runtime.fail_at_step is not None and self._step == self.runtime.fail_at_step:
            out = out * float("nan")
        return out

    def step(self, step: int, x0: torch.Tensor, generator: torch.Generator) -> StepOutput:
        """One optimisation step (0-indexed ``step``): loss, backward, clipping, AdamW, EMA, VLB sampler."""
        cfg = self.config
        self._step = step
        lr = _lr_at(cfg, step)
        for group in self.opt.param_groups:
            group["lr"] = lr
        sampler = _NoUpdateSampler(self.vlb_sampler) if self.vlb_sampler is not None else None
        res = training_loss(self.model_fn, x0, self.process, prediction=cfg.prediction, weighting=self.weighting,
                            generator=generator, schedule_sampler=sampler)
        self.opt.zero_grad(set_to_none=True)
        if self.scaler is not None:
            self.scaler.scale(res.loss).backward()
            self.scaler.unscale_(self.opt)
        else:
            res.loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(self.params, cfg.grad_clip)
        if self.scaler is not None:
            self.scaler.step(self.opt)
            self.scaler.update()
        else:
            self.opt.step()
        with torch.no_grad():
            _ema_update(self.ema_params, [p.detach() for p in self.params],
                        min(cfg.ema_decay, (1 + step) / (10 + step)))
        if self.vlb_sampler is not None:
            self._update_vlb_sampler(res.t.detach(), res.per_sample.detach().float())
        return StepOutput(res.loss.detach(), grad_norm.detach(), lr)

    def _update_vlb_sampler(self, t: torch.Tensor, losses: torch.Tensor) -> None:
        """Record the losses of every rank, so that every rank keeps the same sampler history."""
        if self.world_size > 1:
            import torch.distributed as dist

            ts = [torch.empty_like(t) for _ in range(self.world_size)]
            ls = [torch.empty_like(losses) for _ in range(self.world_size)]
            dist.all_gather(ts, t)
            dist.all_gather(ls, losses)
            t, losses = torch.cat(ts), torch.cat(ls)
        if bool(torch.isfinite(losses).all()):  # a NaN step stops the run; never poison the history
            self.vlb_sampler.update(t, losses)

    def state_dict(self) -> dict:
        """Everything a checkpoint holds, except ``step`` and ``elapsed_s`` (added by :func:`train`)."""
        cuda = self.device.type == "cuda"
        return {
            "format": FORMAT_VERSION,
            "model": self.net.state_dict(),
            "ema": self.ema.state_dict(),
            "optimizer": self.opt.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
            "loss_sampler": _sampler_state(self.vlb_sampler),
            "rng": {"torch": torch.get_rng_state(), "cuda": torch.cuda.get_rng_state(self.device) if cuda else None},
            "config_json": self.config.to_json(),
            # CPU kernels split their sums over the threads, so the thread count is part of what makes a
            # resumed run bit-identical (train() warns when a resume uses another count)
            "cpu_threads": torch.get_num_threads(),
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore model, EMA, optimiser, scaler, VLB sampler history and RNG states from a checkpoint."""
        self.net.load_state_dict(state["model"])
        self.ema.load_state_dict(state["ema"])
        self.opt.load_state_dict(state["optimizer"])
        if self.scaler is not None and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        _load_sampler_state(self.vlb_sampler, state.get("loss_sampler"))
        torch.set_rng_state(state["rng"]["torch"].cpu())
        if self.device.type == "cuda" and state["rng"].get("cuda") is not None:
            torch.cuda.set_rng_state(state["rng"]["cuda"].cpu(), self.device)


def train(config: TrainConfig, out_dir, runtime: Runtime | None = None) -> TrainResult:
    """Train (or resume) the run ``config`` in ``out_dir``; see the module docstring for what it writes.

    Args:
        config: a :class:`TrainConfig` (compared with ``out_dir/config.json`` when that exists).
        out_dir: the run directory (created if needed).
        runtime: device, precision, compile and progress options (:class:`Runtime`).

    Returns:
        :class:`TrainResult`.

    Raises:
        ConfigMismatchError: ``out_dir`` holds a run with a different config (the message lists the fields).
        FloatingPointError: the loss became NaN or inf (the message gives the step; ``ckpt.pt`` keeps the
            last good state).
        FileNotFoundError: CIFAR-10 not found (set ``$SCHED_LIB_DATA``).
    """
    if not isinstance(config, TrainConfig):
        raise ValueError(f"config must be a TrainConfig, got {type(config).__name__}")
    runtime = runtime if runtime is not None else Runtime()
    if not isinstance(runtime, Runtime):
        raise ValueError(f"runtime must be a Runtime, got {type(runtime).__name__}")
    t_session = time.perf_counter()
    if not isinstance(out_dir, (str, os.PathLike)) or not str(out_dir).strip():
        raise ValueError(f"the run directory (--out) must be a non-empty path, got {out_dir!r}")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file, not a directory; choose another --out directory")
    dist_info = _init_distributed(runtime)
    device = runtime.resolve(dist_info.local_rank)[0]
    lock = None
    created = not out.exists()
    try:
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as err:  # a file on the way, a read-only or full file system
            raise PermissionError(f"--out {out}: cannot create the run directory ({err.strerror or err}); "
                                  "choose another --out directory") from None
        if not os.access(out, os.W_OK | os.X_OK):
            raise PermissionError(f"--out {out} is not writable; choose another --out directory")
        if dist_info.rank == 0:
            try:
                lock = _lock_run_dir(out)
            except OSError as err:  # read-only file system (os.access says yes to root), no space for the lock
                raise PermissionError(f"--out {out} is not writable ({err.strerror or err}); choose another "
                                      "--out directory") from None
            _remove_stale_tmp(out)
        # Every step re-seeds the global RNG (for dropout); the caller's RNG state is restored afterwards.
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            return _train(config, out, runtime, dist_info, t_session)
    finally:
        if lock is not None:  # removed while still held (see _lock_run_dir), so the directory stays clean
            try:
                os.unlink(out / LOCK_FILE)
            except OSError:
                pass
            lock.close()
        if created and dist_info.rank == 0:  # a run that failed before writing anything leaves no empty folder
            try:
                out.rmdir()
            except OSError:
                pass
        if dist_info.owns_group:
            import torch.distributed as dist

            dist.destroy_process_group()


def _train(config: TrainConfig, out: Path, runtime: Runtime, di: _Dist, t_session: float) -> TrainResult:
    rank0 = di.rank == 0
    if config.batch_size % di.world:
        raise ValueError(f"batch_size {config.batch_size} must be divisible by the number of DDP ranks {di.world}")
    local_batch = config.batch_size // di.world
    if di.world > 1:
        import torch.distributed as dist

    # -- the run directory: every rank compares; rank 0 writes ----------------------------------
    cfg_path, ckpt_path, metrics_path = out / CONFIG_FILE, out / CHECKPOINT_FILE, out / METRICS_FILE
    if cfg_path.exists():
        existing = read_config(out)
        differences = existing.diff(config)
        if differences:
            raise ConfigMismatchError(out, differences)
    # The checkpoint carries its own config: a run directory whose config.json was lost (or replaced) must
    # not adopt another run's weights. Compared before config.json is written.
    state = None
    if ckpt_path.exists() or (out / PREVIOUS_CHECKPOINT_FILE).exists():
        state, state_path = _load_checkpoint_or_previous(out, runtime.resolve(di.local_rank)[0])
        stored = state.get("config_json")
        if isinstance(stored, str):
            try:
                stored_cfg = TrainConfig.from_dict(json.loads(stored))
            except ValueError as err:
                raise ValueError(f"{ckpt_path} holds an unreadable config ({err})") from None
            # The step budget may legitimately differ (sched_lib.sweep seeds a longer run from a shorter
            # one's checkpoint), as long as the checkpoint does not lie beyond the requested steps.
            differences = [d for d in stored_cfg.diff(config)
                           if d[0] != "steps" or int(state.get("step", 0)) > config.steps]
            if differences:
                raise ConfigMismatchError(f"{out} (its {CHECKPOINT_FILE})", differences)
    # The training images next, so that a missing data set fails before anything is written (a new user's
    # first run offline leaves no half-made run directory behind).
    images = None
    if state is None or int(state.get("step", 0)) < config.steps:
        images = _load_images(config, runtime.resolve(di.local_rank)[0])
    prev_path = out / PREVIOUS_CHECKPOINT_FILE
    if state is not None and rank0 and state_path == prev_path:
        os.replace(prev_path, ckpt_path)  # the newest one was corrupt: the previous one takes its place again
    elif state is not None and rank0 and prev_path.exists():
        prev_path.unlink(missing_ok=True)  # ckpt.pt verified: this is the leftover of a trainer killed while saving
    if not cfg_path.exists() and rank0:
        text = config.to_json()
        _atomic_write_bytes(cfg_path, lambda f: f.write(text.encode()))
    if di.world > 1:
        dist.barrier()

    # -- model, EMA, optimiser, loss; resume --------------------------------------------------------
    trainer = Trainer(config, runtime, local_rank=di.local_rank, world_size=di.world)
    device = trainer.device
    start, elapsed_before = 0, 0.0
    threads_before = None
    if state is not None:
        trainer.load_state_dict(state)
        start, elapsed_before = int(state["step"]), float(state.get("elapsed_s", 0.0))
        threads_before = state.get("cpu_threads")
        del state
    if rank0:
        _truncate_metrics(metrics_path, start)
        if start:
            print(f"sched_lib.train: resuming {out} from step {start} of {config.steps}", file=sys.stderr)
        if start < config.steps and device.type == "cpu" and isinstance(threads_before, int) \
                and threads_before != torch.get_num_threads():
            print(f"sched_lib.train: warning: the checkpoint was written with {threads_before} CPU thread(s), this "
                  f"process uses {torch.get_num_threads()}: the run goes on, but its weights will not be "
                  f"bit-identical to an uninterrupted run's (set OMP_NUM_THREADS={threads_before} for that)",
                  file=sys.stderr)
    if start >= config.steps:
        if rank0:
            print(f"sched_lib.train: {out} is complete ({start} of {config.steps} steps)", file=sys.stderr)
        return TrainResult(out, start, start, None, time.perf_counter() - t_session)

    images = images if images is not None else _load_images(config, device)
    trainer.wrap(ddp=di.world > 1)
    if rank0:
        _append_metrics(metrics_path, {
            "event": "resume" if start else "start", "step": start, "device": _device_name(device),
            "world_size": di.world, "amp": trainer.amp_name, "channels_last": trainer.channels_last,
            "compile": runtime.compile, "torch": torch.__version__, "cpu_threads": torch.get_num_threads(),
        })

    # -- the loop --------------------------------------------------------------------------------
    from tqdm.auto import tqdm

    bar = tqdm(total=config.steps, initial=start, desc=f"train {config.preset}", unit="step",
               disable=not (rank0 and runtime.progress), dynamic_ncols=True, mininterval=0.5)
    first_bad = torch.full((), _NO_BAD_STEP, dtype=torch.long, device=device)
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    n_logged, last_loss, last_ckpt = 0, None, start
    t_interval, t_train = time.perf_counter(), time.perf_counter()
    sync_every_step = device.type == "cpu"

    def check_finite():
        bad = first_bad
        if di.world > 1:
            bad = bad.clone()
            dist.all_reduce(bad, op=dist.ReduceOp.MIN)
        k = int(bad)
        if k != _NO_BAD_STEP:
            bar.close()
            raise FloatingPointError(
                f"non-finite loss (NaN or inf) at training step {k + 1} of {config.steps} (0-indexed step {k}); "
                f"stopped. The last good checkpoint (step {last_ckpt}) in {out} was kept"
                + ("" if last_ckpt else " (none had been written yet)")
                + ". Try a lower learning rate or another weighting/prediction."
            )

    for step in range(start, config.steps):
        torch.manual_seed(step_seed(config.seed, step, di.rank, _STREAM_GLOBAL))
        g = torch.Generator(device=device).manual_seed(step_seed(config.seed, step, di.rank, _STREAM_DATA))
        idx = torch.randint(0, images.shape[0], (local_batch,), generator=g, device=device)
        flip = (torch.rand(local_batch, generator=g, device=device) < 0.5) if config.hflip else None
        x0 = _batch(images, idx, flip, trainer.channels_last, config.image_size)
        out_step = trainer.step(step, x0, g)
        loss, grad_norm = out_step.loss, out_step.grad_norm
        bad = ~torch.isfinite(loss)
        if trainer.scaler is None:  # with a scaler, inf gradients are routine: the scaler skips the step
            bad = bad | ~torch.isfinite(grad_norm)
        first_bad = torch.where(bad & (first_bad == _NO_BAD_STEP), torch.full_like(first_bad, step), first_bad)
        loss_sum += loss.to(torch.float64)
        n_logged += 1

        done = step + 1
        is_log = done % config.log_every == 0 or done == config.steps
        is_ckpt = done % config.checkpoint_every == 0 or done == config.steps
        if sync_every_step or is_log or is_ckpt:
            check_finite()
        if is_log:
            total = loss_sum.clone()
            if di.world > 1:
                dist.all_reduce(total)
            last_loss = float(total) / (n_logged * di.world)
            now = time.perf_counter()
            if rank0:
                _append_metrics(metrics_path, {
                    "step": done, "loss": last_loss, "grad_norm": float(grad_norm), "lr": out_step.lr,
                    "images_per_s": n_logged * config.batch_size / max(now - t_interval, 1e-9),
                    "elapsed_s": elapsed_before + now - t_train,
                })
                bar.set_postfix(loss=f"{last_loss:.4f}", refresh=False)
            loss_sum.zero_()
            n_logged, t_interval = 0, now
        if is_ckpt and rank0:
            state = trainer.state_dict()
            state.update(step=done, elapsed_s=elapsed_before + time.perf_counter() - t_train)
            _save_checkpoint(out, state)
        if is_ckpt:
            last_ckpt = done
        bar.update(1)
    bar.close()
    net = trainer.net

    # -- the end: every rank's weights must agree ------------------------------------------------
    digest = _weights_sha256(net)
    digests = [digest]
    if di.world > 1:
        digests = [None] * di.world
        dist.all_gather_object(digests, digest)
    if rank0:
        _append_metrics(metrics_path, {
            "event": "end", "step": config.steps, "world_size": di.world,
            "wall_s": time.perf_counter() - t_session,
            "elapsed_s": elapsed_before + time.perf_counter() - t_train,
            "rank_weights_sha256": digests,
        })
    if di.world > 1:
        dist.barrier()
    if len(set(digests)) != 1:
        raise RuntimeError(f"DDP ranks ended with different weights (sha256 per rank: {digests})")
    return TrainResult(out, config.steps, start, last_loss, time.perf_counter() - t_session)


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        try:
            return torch.cuda.get_device_name(device)
        except Exception:  # noqa: BLE001
            return str(device)
    return str(device)


# ----------------------------------------------------------------------------------------------
# Loading a finished (or running) run
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoadedRun:
    """A run loaded for sampling: the model (eval mode), its config, process and checkpoint step."""

    model: Denoiser
    config: TrainConfig
    process: Process
    step: int
    weights: str


def load_run(run_dir, weights: str = "ema", device=None) -> LoadedRun:
    """Load ``run_dir``'s config and checkpoint; ``weights`` = ``"ema"`` (for sampling) or ``"model"``.

    The checkpoint is read with ``torch.load(weights_only=True)``: no pickled code is ever executed.
    """
    check.choice(weights, "weights", ("ema", "model"))
    run_dir = Path(run_dir)
    config = read_config(run_dir)
    path = run_dir / CHECKPOINT_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: the run has not written a checkpoint yet")
    device = torch.device(device) if device is not None else torch.device("cpu")
    state = _load_checkpoint(path, device)
    stored = state.get("config_json")
    if isinstance(stored, str):  # a config.json that does not belong to this checkpoint would sample another process
        try:
            differences = [d for d in TrainConfig.from_dict(json.loads(stored)).diff(config) if d[0] != "steps"]
        except ValueError:
            differences = [("config", "unreadable", "config.json")]
        if differences:
            fields_ = "; ".join(f"{k}: checkpoint {a!r}, config.json {b!r}" for k, a, b in differences)
            raise ValueError(f"{path} was written by another run than {run_dir / CONFIG_FILE} describes ({fields_}); "
                             "restore the run's own config.json")
    model = build_model(config, device=device)
    try:
        model.load_state_dict(state[weights])
    except (RuntimeError, KeyError) as err:
        raise ValueError(f"{path} does not fit the network of {run_dir / CONFIG_FILE} "
                         f"({' '.join(str(err).split())[:200]})") from None
    model.eval().requires_grad_(False)
    return LoadedRun(model, config, build_process(config, device=device), int(state["step"]), weights)


# ----------------------------------------------------------------------------------------------
# Command line
# ----------------------------------------------------------------------------------------------


def parse_key_value(text: str, flag: str) -> tuple:
    """``"KEY=VALUE"`` → (key, value), the value read as JSON when it is (numbers, true/false, a list of numbers
    such as ``log_snr=[8,0,-8]``), else a string."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ValueError(f"{flag} expects KEY=VALUE, got {text!r}")
    raw = raw.strip()
    lowered = raw.lower()
    if lowered in ("true", "false"):
        return key, lowered == "true"
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        return key, raw
    if isinstance(value, list):
        if not value or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
            raise ValueError(f"{flag} {key}: a list value must hold at least one number and only numbers, "
                             f"got {raw!r}")
        return key, value
    if not isinstance(value, (int, float, str, bool)):
        raise ValueError(f"{flag} {key}: the value must be a number, true/false, a string or a list of numbers, "
                         f"got {raw!r}")
    return key, value


def _params(items, flag: str) -> dict:
    out = {}
    for item in items:
        k, v = parse_key_value(item, flag)
        if k in out:
            raise ValueError(f"{flag} {k} is given twice")
        out[k] = v
    return out


def _int_at_least(minimum: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {value}")
        return value

    return parse


def build_parser() -> argparse.ArgumentParser:
    """The ``python -m sched_lib.train`` argument parser."""
    p = argparse.ArgumentParser(
        prog="python -m sched_lib.train",
        description="Train a diffusion model on CIFAR-10 with a given noise schedule, loss weighting and "
                    "prediction target. Re-running the same command on an existing --out directory resumes "
                    "it from its last checkpoint; a different config there is refused. Multi-GPU: "
                    "torchrun --nproc_per_node=K -m sched_lib.train ...",
        epilog="example: python -m sched_lib.train --schedule cosine --weighting min_snr --weighting-param "
               "gamma=5 --prediction v --preset smoke --out runs/cosine_minsnr_v",
    )
    p.add_argument("--schedule", required=True, choices=list_schedules(), metavar="NAME",
                   help=f"noise schedule (sched_lib.schedules.get_schedule): {', '.join(list_schedules())}")
    p.add_argument("--schedule-param", action="append", default=[], metavar="KEY=VALUE",
                   help="a schedule parameter, repeatable (e.g. s=0.008, zero_terminal_snr=true, "
                        "log_snr=[8,0,-8] for piecewise_log_snr); see sched_lib.schedules.schedule_params(NAME)")
    p.add_argument("--weighting", required=True, choices=WEIGHTINGS, metavar="NAME",
                   help=f"loss weighting: {', '.join(WEIGHTINGS)} ('vlb': improved-diffusion's VLB terms with "
                        "importance-sampled t)")
    p.add_argument("--weighting-param", action="append", default=[], metavar="KEY=VALUE",
                   help="a weighting parameter, repeatable (e.g. gamma=5 for min_snr; k=1 gamma=1 for p2)")
    p.add_argument("--prediction", required=True, choices=PREDICTIONS,
                   help="what the network predicts (and the loss's frame): eps, x0 or v")
    p.add_argument("--preset", choices=PRESET_NAMES + ("auto",), default=None,
                   help="sizes of the run (sched_lib.presets): smoke (CI, ~6 s), cpu (~12 min on 2 cores), "
                        "gpu (one GPU), auto (gpu if CUDA is available, else cpu). "
                        "Default: $SCHED_LIB_PRESET, else auto")
    p.add_argument("--steps", type=_int_at_least(1), default=None, metavar="N",
                   help="training steps (default: the preset's)")
    p.add_argument("--seed", type=_int_at_least(0), default=0, metavar="S",
                   help="seed of the initial weights and of every step's randomness (default 0)")
    p.add_argument("--out", required=True, metavar="DIR",
                   help="run directory: config.json, ckpt.pt, metrics.jsonl (created; resumed if it exists)")
    p.add_argument("--timesteps", type=_int_at_least(1), default=1000, metavar="T",
                   help="number of diffusion steps T of the discrete schedule (default 1000)")
    p.add_argument("--image-size", type=int, choices=IMAGE_SIZES, default=32, metavar="S",
                   help="train at S×S: 32 (CIFAR-10 as stored), or 64 / 128 (CIFAR-10 upsampled by pixel "
                        "repetition; the preset's U-Net gets that input size). Default 32")
    p.add_argument("--cond", choices=CONDITIONINGS, default="t",
                   help="the network's noise-level input: t (time, DDPM) or log_snr (default t)")
    p.add_argument("--checkpoint-every", type=_int_at_least(1), default=None, metavar="N",
                   help="write a checkpoint every N steps and at the end (default: the preset's)")
    p.add_argument("--device", default=None,
                   help="cpu, cuda or cuda:K (default: CUDA if available, else cpu; under torchrun cuda:LOCAL_RANK)")
    p.add_argument("--amp", choices=AMP_MODES, default="auto",
                   help="mixed precision: auto (bf16 on CUDA with native bf16, fp16 + gradient scaler on older "
                        "GPUs such as the T4, none on the CPU), bf16, fp16 or none")
    p.add_argument("--compile", action="store_true", help="wrap the model in torch.compile (worth it on a GPU)")
    p.add_argument("--no-progress", action="store_true", help="do not show the tqdm progress bar")
    return p


def _one_line(err: BaseException) -> str:
    text = str(err).strip() or type(err).__name__
    return " ".join(text.split())


def _checkpoint_step(out: Path) -> int:
    """The step of ``out/ckpt.pt`` (0 when there is none or it cannot be read)."""
    try:
        return int(torch.load(out / CHECKPOINT_FILE, map_location="cpu", weights_only=True)["step"])
    except Exception:
        return 0


def check_device(text: str | None) -> str | None:
    """``text`` if torch knows it as a device (``cpu``, ``cuda``, ``cuda:N``, ``mps``), else a one-line ValueError."""
    if text is None:
        return None
    try:
        torch.device(text)
    except (RuntimeError, TypeError):
        raise ValueError(f"unknown --device {text!r}; allowed: cpu, cuda, cuda:N (e.g. cuda:0), mps") from None
    return text


def main(argv=None) -> int:
    """Command-line entry point: ``python -m sched_lib.train --help``. Returns the exit status.

    Errors print one line (exit 1; exit 2 for bad arguments and for a run directory another trainer holds);
    Ctrl-C exits 130, naming the step the checkpoint holds and the command that resumes.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.out.strip():
        parser.error("--out must name a run directory, got ''")
    try:
        check_device(args.device)
    except ValueError as err:
        parser.error(str(err))
    try:
        config = TrainConfig.from_preset(
            args.preset, schedule=args.schedule, weighting=args.weighting, prediction=args.prediction,
            schedule_params=_params(args.schedule_param, "--schedule-param"),
            weighting_params=_params(args.weighting_param, "--weighting-param"),
            steps=args.steps, checkpoint_every=args.checkpoint_every, T=args.timesteps, cond=args.cond,
            seed=args.seed, image_size=args.image_size,
        )
        runtime = Runtime(device=args.device, amp=args.amp, compile=args.compile, progress=not args.no_progress)
    except ValueError as err:
        parser.error(str(err))
    try:
        result = train(config, args.out, runtime)
    except RunLockedError as err:
        print(f"{parser.prog}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        step = _checkpoint_step(Path(args.out))
        cmd = " ".join(shlex.quote(a) for a in ["python", "-m", "sched_lib.train", *(sys.argv[1:] if argv is None else argv)])
        where = (f"{args.out} keeps its checkpoint at step {step} of {config.steps}" if step else
                 f"no checkpoint was written yet, so the run starts from step 0 of {config.steps} again")
        print(f"\n{parser.prog}: interrupted; {where}. Resume with: {cmd}", file=sys.stderr)
        return 130
    except (MemoryError, torch.OutOfMemoryError):
        print(f"{parser.prog}: error: out of memory at the preset's batch size; choose a smaller --preset (or free "
              f"memory) and re-run the same command to resume from the last checkpoint in {args.out}",
              file=sys.stderr)
        return 1
    except (ConfigMismatchError, FloatingPointError, FileNotFoundError, ValueError, OSError) as err:
        print(f"{parser.prog}: error: {_one_line(err)}", file=sys.stderr)
        return 1
    if int(os.environ.get("RANK", "0")) == 0:
        loss = f", last logged loss {result.last_loss:.4f}" if result.last_loss is not None else ""
        print(f"sched_lib.train: {result.out_dir} at step {result.step}{loss} ({result.wall_s:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
