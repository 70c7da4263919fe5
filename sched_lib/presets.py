"""Lab presets: ``smoke`` (CI), ``cpu`` (a laptop) and ``gpu`` (one GPU), plus ``auto``.

A preset fixes *sizes only*, never code paths (DESIGN.md, "Labs and presets"): the number of
training images, batch size, training steps, learning rate and warm-up, EMA decay, model width and
depth, checkpoint and logging intervals, and how many samples a lab evaluates. Every preset runs the
same U-Net (with middle attention), the same loss, optimiser, EMA, checkpointing and sampler code.

Expected wall time of ``python -m sched_lib.train`` with the preset's default number of steps:

* ``smoke``: about 6 s of training on 2 CPU cores (40 steps of batch 16: ~0.15 s per step), and
  about 20-25 s for the whole train → sample → evaluate round trip with Python start-up (torch and its
  optimiser imports take ~4 s per process) and data loading;
  256 real CIFAR-10 images, a 0.18 M-parameter U-Net. For CI: it runs the real code paths; it does not
  learn much.
* ``cpu``: about 10-12 minutes on 2 CPU cores (1,000 steps of batch 32 at ~50 images/s), plus ~2-3
  minutes to sample its 1,000 evaluation images with 20 DDIM steps; 10,000 images, a 1.1 M-parameter
  U-Net. Enough to separate schedules and weightings by their loss and by the stand-in metric;
  samples are blurry blobs with CIFAR-10's colours, not objects. A lab that compares k runs needs k
  times this (lower ``--steps`` to fit a budget).
* ``gpu``: the DDPM CIFAR-10 layout (Ho et al. 2020, Appendix B; 38 M parameters with the scale-shift
  embedding) on all 50,000 images, batch 128, 50,000 steps (128 epochs), dropout 0.1. A step costs
  37.3 GFLOP per image (forward + backward, counted with ``FlopCounterMode``), 4.8 TFLOP per step.
  Estimates, not yet measured (``benchmarks/train_throughput.py`` prints the measured numbers on the GPU
  at hand): about 15-30 minutes on one H100 (bf16, channels-last, ``--compile``; 25-40 % of its dense
  bf16 peak) and about 4-5 hours on a Colab T4 (fp16 with a gradient scaler; 20-30 % of its 65 TFLOP/s),
  which spans sessions: a checkpoint is written every 2,000 steps (~10 minutes on a T4) and rerunning the
  same command resumes. Peak GPU memory at batch 128 is estimated at 8-9 GiB, under a T4's budget of
  12 GiB: at most 7.4 GiB of tensors saved for backward under 16-bit autocast (counted on the CPU with
  ``saved_tensors_hooks``; 13.1 GiB in plain fp32, which is why the gpu preset relies on autocast)
  plus 0.8 GiB of weights, gradients, AdamW and EMA state.

``auto`` picks ``gpu`` when CUDA is available, else ``cpu``. The environment variable
``SCHED_LIB_PRESET`` sets the default preset (the test suite sets it to ``smoke``); an explicit
argument always wins.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from .nets import UNetConfig

__all__ = ["ENV_VAR", "PRESET_NAMES", "PRESETS", "Preset", "get_preset", "resolve_preset_name"]

#: Environment variable holding the default preset name.
ENV_VAR = "SCHED_LIB_PRESET"
#: Concrete presets; ``"auto"`` is also accepted wherever a preset name is.
PRESET_NAMES = ("smoke", "cpu", "gpu")


@dataclass(frozen=True)
class Preset:
    """Sizes of a training run and its evaluation (a frozen dataclass; see the module docstring).

    Attributes:
        name: ``"smoke"``, ``"cpu"`` or ``"gpu"``.
        num_images: how many CIFAR-10 training images a run uses (which ones:
            :func:`sched_lib.train.training_subset`, the same from every copy of the data).
        batch_size: images per optimiser step (the global batch; split over DDP ranks).
        steps: optimiser steps.
        lr: peak AdamW learning rate, reached after ``warmup_steps`` of linear warm-up.
        warmup_steps: steps of linear learning-rate warm-up (DDPM: 5,000).
        ema_decay: EMA decay of the weights used for sampling (ramped as min(decay, (1+k)/(10+k))).
        net: the U-Net's sizes.
        checkpoint_every: write a checkpoint every this many steps (and at the end).
        log_every: append a line to ``metrics.jsonl`` every this many steps.
        eval_samples: how many images a lab samples and scores per run.
    """

    name: str
    num_images: int
    batch_size: int
    steps: int
    lr: float
    warmup_steps: int
    ema_decay: float
    net: UNetConfig
    checkpoint_every: int
    log_every: int
    eval_samples: int


PRESETS = {
    "smoke": Preset(
        name="smoke",
        num_images=256,
        batch_size=16,
        steps=40,
        lr=1e-3,
        warmup_steps=10,
        ema_decay=0.99,
        net=UNetConfig(
            channels=16, channel_mult=(1, 2), num_res_blocks=1, attn_resolutions=(),
            head_channels=32, dropout=0.0,
        ),
        checkpoint_every=20,
        log_every=10,
        eval_samples=32,
    ),
    "cpu": Preset(
        name="cpu",
        num_images=10_000,
        batch_size=32,
        steps=1_000,
        lr=5e-4,
        warmup_steps=100,
        ema_decay=0.995,
        net=UNetConfig(
            channels=32, channel_mult=(1, 2, 2), num_res_blocks=1, attn_resolutions=(),
            head_channels=64, dropout=0.0,
        ),
        checkpoint_every=100,
        log_every=25,
        eval_samples=1_000,
    ),
    "gpu": Preset(
        name="gpu",
        num_images=50_000,
        batch_size=128,
        steps=50_000,
        lr=2e-4,
        warmup_steps=5_000,
        ema_decay=0.9999,
        net=UNetConfig(
            channels=128, channel_mult=(1, 2, 2, 2), num_res_blocks=2, attn_resolutions=(16,),
            head_channels=64, dropout=0.1,
        ),
        checkpoint_every=2_000,
        log_every=100,
        eval_samples=10_000,
    ),
}


def resolve_preset_name(name: str | None = None) -> str:
    """The concrete preset name for ``name``: None → ``$SCHED_LIB_PRESET`` (else ``"auto"``);
    ``"auto"`` → ``"gpu"`` when CUDA is available, else ``"cpu"``.

    Raises ``ValueError`` naming the argument (or the environment variable) and the valid names.
    """
    origin = "preset"
    if name is None:
        name = os.environ.get(ENV_VAR) or "auto"
        origin = f"${ENV_VAR}" if os.environ.get(ENV_VAR) else "preset"
    valid = PRESET_NAMES + ("auto",)
    if not isinstance(name, str) or name not in valid:
        raise ValueError(f"unknown {origin} {name!r}; valid: {', '.join(valid)}")
    if name == "auto":
        import torch

        return "gpu" if torch.cuda.is_available() else "cpu"
    return name


def get_preset(name: str | None = None) -> Preset:
    """The :class:`Preset` called ``name`` (``"smoke"``, ``"cpu"``, ``"gpu"`` or ``"auto"``);
    None uses ``$SCHED_LIB_PRESET``, else ``"auto"``."""
    return PRESETS[resolve_preset_name(name)]
