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

* ``t4``: sized for one free Colab session on an NVIDIA T4 (16 GB, 65 TFLOP/s fp16 tensor peak): the
  DDPM layout at half width (64 channels, levels (1, 2, 2, 2), one residual block per level, attention
  at 16×16; 6.5 M parameters), all 50,000 images, batch 128, 6,000 steps. Each CIFAR-10 lab's t4 sizes
  (:data:`T4_LAB_PLANS`) and their FLOP-count time estimates are given by :func:`t4_lab_estimates` and
  :func:`t4_estimate_markdown`: every lab is estimated at one hour or less on a T4 at 20 % utilisation
  of its fp16 peak. Estimates, not measurements.

``auto`` picks ``t4`` on a T4-class CUDA GPU (its name contains "T4", or it has under 20 GiB of
memory), ``gpu`` on any other CUDA GPU, else ``cpu``. The environment variable
``SCHED_LIB_PRESET`` sets the default preset (the test suite sets it to ``smoke``); an explicit
argument always wins.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from .nets import UNetConfig

__all__ = ["ENV_VAR", "PRESET_NAMES", "PRESETS", "Preset", "get_preset", "resolve_preset_name", "T4_PEAK_FLOPS",
           "T4_UTILISATION", "T4_LAB_PLANS", "T4_LAB_SIZES", "LabPlan", "t4_lab_sizes", "t4_lab_estimates",
           "t4_estimate_markdown", "t4_estimate_note", "t4_estimate_table", "t4_fid_floor",
           "DDPM_CIFAR10", "DDIM_50_STEP_FID"]

#: Environment variable holding the default preset name.
ENV_VAR = "SCHED_LIB_PRESET"
#: Concrete presets; ``"auto"`` is also accepted wherever a preset name is.
PRESET_NAMES = ("smoke", "cpu", "gpu", "t4")


@dataclass(frozen=True)
class Preset:
    """Sizes of a training run and its evaluation (a frozen dataclass; see the module docstring).

    Attributes:
        name: ``"smoke"``, ``"cpu"``, ``"gpu"`` or ``"t4"``.
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
    "t4": Preset(
        name="t4",
        num_images=50_000,
        batch_size=128,
        steps=6_000,
        lr=2e-4,
        warmup_steps=500,
        ema_decay=0.999,
        net=UNetConfig(
            channels=64, channel_mult=(1, 2, 2, 2), num_res_blocks=1, attn_resolutions=(16,),
            head_channels=64, dropout=0.1,
        ),
        checkpoint_every=1_000,
        log_every=100,
        eval_samples=2_000,
    ),
}

#: A CUDA GPU with less memory than this (GiB) counts as T4-class for ``auto``.
T4_CLASS_MAX_GIB = 20.0


def resolve_preset_name(name: str | None = None) -> str:
    """The concrete preset name for ``name``: None → ``$SCHED_LIB_PRESET`` (else ``"auto"``);
    ``"auto"`` → ``"t4"`` on a T4-class CUDA GPU (name containing "T4", or under
    :data:`T4_CLASS_MAX_GIB` GiB of memory), ``"gpu"`` on another CUDA GPU, else ``"cpu"``.

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

        if not torch.cuda.is_available():
            return "cpu"
        return "t4" if _is_t4_class(torch) else "gpu"
    return name


def _is_t4_class(torch) -> bool:
    """Whether CUDA device 0 is a T4 or has less than :data:`T4_CLASS_MAX_GIB` GiB of memory."""
    try:
        name = torch.cuda.get_device_name(0)
        total_gib = torch.cuda.get_device_properties(0).total_memory / 2**30
    except (RuntimeError, AssertionError, AttributeError):  # CUDA reported but not usable: the default
        return False
    return "T4" in name or total_gib < T4_CLASS_MAX_GIB


def get_preset(name: str | None = None) -> Preset:
    """The :class:`Preset` called ``name`` (``"smoke"``, ``"cpu"``, ``"gpu"``, ``"t4"`` or ``"auto"``);
    None uses ``$SCHED_LIB_PRESET``, else ``"auto"``."""
    return PRESETS[resolve_preset_name(name)]


# ------------------------------------------------------------------------------------------------
# The t4 time estimates of the CIFAR-10 labs
# ------------------------------------------------------------------------------------------------

#: NVIDIA T4 dense fp16 tensor-core peak, FLOP/s (NVIDIA T4 Tensor Core GPU datasheet: 65 TFLOPS
#: mixed-precision FP16/FP32).
T4_PEAK_FLOPS = 65e12
#: Assumed fraction of that peak a training step reaches (model-FLOPs utilisation). 20 % is the
#: pessimistic end of the 20-30 % this module assumes for a T4 (small convolutions, fp16 with a
#: gradient scaler, no bf16); ``benchmarks/train_throughput.py`` measures the real figure.
T4_UTILISATION = 0.20
#: One sampling network evaluation costs a forward pass: about 1/3 of a training image's
#: forward + backward FLOPs (backward ≈ 2× forward; Kaplan et al. 2020, Sec. 2.1).
FORWARD_FRACTION = 1 / 3


@dataclass(frozen=True)
class LabPlan:
    """The t4 sizes of one CIFAR-10 lab: what its runs train and sample.

    Attributes:
        lab: the lab notebook's name (``labs/<lab>.ipynb``).
        runs: number of training runs (configurations × seeds).
        image_size: side of the training images (the resolution lab trains at 64).
        batch_size, steps: per run.
        net: the U-Net of every run.
        sample_evals: network evaluations per run for sampling (images × sampler steps, summed).
        what: a short phrase saying what the runs are.
    """

    lab: str
    runs: int
    image_size: int
    batch_size: int
    steps: int
    net: UNetConfig
    sample_evals: int
    what: str


_T4_NET = PRESETS["t4"].net
#: The t4 preset's U-Net as the keyword arguments the labs pass to ``UNetConfig`` (besides the image
#: size and ``head_channels``, which the labs set themselves).
_T4_NET_KWARGS = dict(channels=_T4_NET.channels, channel_mult=_T4_NET.channel_mult,
                      num_res_blocks=_T4_NET.num_res_blocks, attn_resolutions=_T4_NET.attn_resolutions,
                      dropout=_T4_NET.dropout)
_T4_COMMON = dict(lr=PRESETS["t4"].lr, warmup_steps=PRESETS["t4"].warmup_steps, ema_decay=PRESETS["t4"].ema_decay)

#: Each CIFAR-10 lab's ``PRESETS["t4"]`` entry, in that lab's own keys (the labs read it with
#: :func:`t4_lab_sizes`, so the sizes that a lab runs and the sizes that :func:`t4_lab_estimates` times
#: are the same dictionary). Sizes only, like every preset.
T4_LAB_SIZES = {
    "schedules_cifar10": dict(
        net="t4", batch_size=128, **_T4_COMMON, steps=(2_000, 4_000, 6_000), checkpoint_every=1_000,
        n_loss_images=1_000, n_log_snr=15, n_samples=1_000, n_reference=10_000, sampling_steps=(10, 25, 50),
        quality_steps=50),
    "weighting_cifar10": dict(
        net="t4", T=1000, batch_size=128, **_T4_COMMON, steps=(1_500, 3_000, 4_500, 6_000), checkpoint_every=500,
        n_loss_images=1_000, n_log_snr=15, n_samples=2_000, n_reference=10_000, sampling_steps=50),
    "resolution_cifar10": dict(
        sizes=(64,), seeds=(0, 1), num_images=50_000, batch_size=64, steps=6_000, **_T4_COMMON,
        checkpoint_every=1_000, log_every=100, nets={64: _T4_NET_KWARGS}, eval_images=1_000,
        eval_log_snr=(10.0, 8.0, 6.0, 4.0, 2.0, 0.0, -2.0, -4.0, -6.0, -8.0, -10.0), samples=1_000,
        sample_steps=50, reference=10_000),
    "design_a_schedule": dict(
        gauss_images=10_000, crop=32, cache="gaussian_exact_spectrum_train_10k.npz", steps_grid=(5, 10, 20, 50, 100),
        seeds=(0, 1), num_images=50_000, batch_size=128, steps=10_000, **_T4_COMMON, checkpoint_every=1_000,
        log_every=100, net=_T4_NET_KWARGS, eval_images=1_000, n_levels=11, samples=2_000, sample_steps=50,
        reference=10_000),
}


def t4_lab_sizes(lab: str) -> dict:
    """A fresh copy of the ``t4`` sizes of the CIFAR-10 lab ``lab`` (:data:`T4_LAB_SIZES`), for the lab's
    ``PRESETS["t4"]``. Raises ``ValueError`` for an unknown lab, naming the valid ones."""
    import copy

    if lab not in T4_LAB_SIZES:
        raise ValueError(f"unknown lab {lab!r}; valid: {', '.join(T4_LAB_SIZES)}")
    return copy.deepcopy(T4_LAB_SIZES[lab])


def _plans() -> tuple:
    """:data:`T4_LAB_PLANS` from :data:`T4_LAB_SIZES`: what each lab trains and samples at those sizes."""
    s, w, r, d = (T4_LAB_SIZES[k] for k in ("schedules_cifar10", "weighting_cifar10", "resolution_cifar10",
                                            "design_a_schedule"))
    return (
        # every run samples at each training budget with quality_steps, and at the final one with each
        # of sampling_steps (counted even where it repeats quality_steps: an upper bound)
        LabPlan("schedules_cifar10", runs=4 * 2, image_size=32, batch_size=s["batch_size"], steps=s["steps"][-1],
                net=_T4_NET, sample_evals=s["n_samples"] * (s["quality_steps"] * len(s["steps"])
                                                            + sum(s["sampling_steps"])),
                what="4 schedules × 2 seeds"),
        LabPlan("weighting_cifar10", runs=4 * 2, image_size=32, batch_size=w["batch_size"], steps=w["steps"][-1],
                net=_T4_NET, sample_evals=w["n_samples"] * w["sampling_steps"], what="4 weightings × 2 seeds"),
        LabPlan("resolution_cifar10", runs=2 * len(r["seeds"]) * len(r["sizes"]), image_size=r["sizes"][0],
                batch_size=r["batch_size"], steps=r["steps"], net=_T4_NET,
                sample_evals=r["samples"] * r["sample_steps"], what="2 schedules × 2 seeds at 64×64"),
        LabPlan("design_a_schedule", runs=2 * len(d["seeds"]), image_size=32, batch_size=d["batch_size"],
                steps=d["steps"], net=_T4_NET, sample_evals=d["samples"] * d["sample_steps"],
                what="design and baseline × 2 seeds"),
    )


#: The t4 sizes of each CIFAR-10 lab, derived from :data:`T4_LAB_SIZES`.
T4_LAB_PLANS = _plans()


def train_flops_per_image(net: UNetConfig, image_size: int) -> float:
    """Forward + backward FLOPs of one training image of the U-Net ``net`` at ``image_size``, counted
    with ``torch.utils.flop_counter.FlopCounterMode`` on the meta device (nothing is computed)."""
    import dataclasses

    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from .nets import UNet

    cfg = dataclasses.replace(net, image_size=image_size)
    with torch.device("meta"):
        model = UNet(cfg)
        x, c = torch.zeros(2, 3, image_size, image_size), torch.zeros(2)
        with FlopCounterMode(display=False) as counter:
            model(x, c).sum().backward()
    return counter.get_total_flops() / 2


def t4_lab_estimates(peak: float = T4_PEAK_FLOPS, utilisation: float = T4_UTILISATION) -> list:
    """Per CIFAR-10 lab, the t4 preset's estimated wall time on one T4: a list of dicts with the
    lab, its sizes, FLOPs per image and per step, total training and sampling FLOPs and ``hours``
    = (train + sample FLOPs) / (peak × utilisation) / 3600. An estimate from FLOP counts, not a
    measurement (data loading, evaluation and Python overheads are not counted)."""
    if not (peak > 0 and 0 < utilisation <= 1):
        raise ValueError(f"need peak > 0 and 0 < utilisation <= 1, got peak={peak!r}, utilisation={utilisation!r}")
    from .nets import UNet, count_parameters

    rows = []
    for plan in T4_LAB_PLANS:
        import dataclasses

        import torch

        per_image = train_flops_per_image(plan.net, plan.image_size)
        with torch.device("meta"):
            params = count_parameters(UNet(dataclasses.replace(plan.net, image_size=plan.image_size)))
        per_step = per_image * plan.batch_size
        train = per_step * plan.steps * plan.runs
        sample = per_image * FORWARD_FRACTION * plan.sample_evals * plan.runs
        rows.append(dict(lab=plan.lab, what=plan.what, runs=plan.runs, image_size=plan.image_size,
                         batch_size=plan.batch_size, steps=plan.steps, params=params,
                         flops_per_image=per_image, flops_per_step=per_step, train_flops=train,
                         sample_flops=sample, peak=peak, utilisation=utilisation,
                         hours=(train + sample) / (peak * utilisation) / 3600))
    return rows


def t4_estimate_markdown(lab: str | None = None, **kwargs) -> str:
    """The arithmetic of :func:`t4_lab_estimates` as a Markdown table (one lab, or all when None),
    with the source of the peak and the utilisation assumed, for a lab page."""
    rows = t4_lab_estimates(**kwargs)
    if lab is not None:
        rows = [r for r in rows if r["lab"] == lab]
        if not rows:
            raise ValueError(f"unknown lab {lab!r}; valid: {', '.join(p.lab for p in T4_LAB_PLANS)}")
    r0 = rows[0]
    lines = ["| lab | runs | U-Net | steps × batch | GFLOP/step | training FLOP | sampling FLOP | T4 hours |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['lab']} | {r['runs']} ({r['what']}) | {r['params'] / 1e6:.1f} M, "
                     f"{r['image_size']}×{r['image_size']} | {r['steps']:,} × {r['batch_size']} | "
                     f"{r['flops_per_step'] / 1e9:,.0f} | {r['train_flops']:.2e} | {r['sample_flops']:.2e} | "
                     f"{r['hours']:.2f} |")
    lines.append("")
    lines.append(t4_estimate_note(**kwargs))
    return "\n".join(lines)


def t4_estimate_note(peak: float = T4_PEAK_FLOPS, utilisation: float = T4_UTILISATION) -> str:
    """The sentence under a t4 estimate table: the formula, the FLOP counts' source, the peak and the
    utilisation assumed."""
    return (f"T4 hours = (training + sampling FLOP) / ({peak / 1e12:.0f} TFLOP/s × {utilisation:.0%}) / 3600 s. "
            "Training FLOP = FLOP/step × steps × runs (forward + backward, counted with PyTorch's "
            "FlopCounterMode); sampling FLOP = ⅓ of a training image's FLOP per network evaluation. Peak: NVIDIA "
            f"T4 datasheet, 65 TFLOP/s mixed-precision FP16 tensor cores; {utilisation:.0%} of it is an assumed "
            "utilisation. An estimate, not a measurement.")


def t4_estimate_table(lab: str, **kwargs):
    """The row of :func:`t4_lab_estimates` for ``lab`` as a :class:`sched_lib.tables.Table` (HTML in a
    notebook), one column per factor of the arithmetic; :func:`t4_estimate_note` is its caption."""
    from .tables import Table

    rows = [r for r in t4_lab_estimates(**kwargs) if r["lab"] == lab]
    if not rows:
        raise ValueError(f"unknown lab {lab!r}; valid: {', '.join(p.lab for p in T4_LAB_PLANS)}")
    r = rows[0]
    return Table(["runs", "U-Net", "steps × batch", "GFLOP / step", "training FLOP", "sampling FLOP", "T4 hours"],
                 [[f"{r['runs']} ({r['what']})", f"{r['params'] / 1e6:.1f} M parameters, "
                   f"{r['image_size']}×{r['image_size']}", f"{r['steps']:,} × {r['batch_size']}",
                   f"{r['flops_per_step'] / 1e9:,.0f}", f"{r['train_flops']:.2e}", f"{r['sample_flops']:.2e}",
                   f"{r['hours']:.2f}"]])


# ------------------------------------------------------------------------------------------------
# What FID the t4 runs can be expected to reach, from published CIFAR-10 results
# ------------------------------------------------------------------------------------------------

#: The DDPM CIFAR-10 model (Ho et al. 2020): 35.7 M parameters (Table 1), trained for 800,000 steps of
#: batch 128 (Appendix B), FID 3.17 on 50,000 samples with its 1,000-step ancestral sampler (Table 1).
DDPM_CIFAR10 = dict(params=35.7e6, steps=800_000, batch_size=128, fid_50k=3.17)
#: The same trained DDPM model sampled with 50 DDIM steps (η = 0): FID 4.67 (Song et al. 2021, DDIM,
#: Table 1, CIFAR-10). The t4 labs sample with 50 DDIM steps (or fewer).
DDIM_50_STEP_FID = 4.67


def t4_fid_floor(lab: str) -> dict:
    """How far a t4 run of ``lab`` sits from the published CIFAR-10 results, as numbers for the lab page.

    Returns a dict: ``params`` (the t4 U-Net's), ``images`` (training images a run sees: steps × batch),
    ``ddpm_images`` (DDPM's: 800,000 × 128), ``compute_ratio`` (DDPM's training FLOP over one t4 run's,
    both counted with :func:`train_flops_per_image`, DDPM's through the ``gpu`` preset's network, which is
    DDPM's layout), ``floor`` (:data:`DDIM_50_STEP_FID`: the FID of the fully trained 35.7 M-parameter
    DDPM model with 50 DDIM steps, on 50,000 samples). A t4 run has a fraction of that model's size and
    training, so its FID can only be higher; FID from 10,000 samples is, in addition, biased upwards
    against 50,000 (Chong & Forsyth 2020). Published results give this floor, not a point estimate.
    """
    plan = next((p for p in T4_LAB_PLANS if p.lab == lab), None)
    if plan is None:
        raise ValueError(f"unknown lab {lab!r}; valid: {', '.join(p.lab for p in T4_LAB_PLANS)}")
    import dataclasses

    import torch

    from .nets import UNet, count_parameters

    with torch.device("meta"):
        params = count_parameters(UNet(dataclasses.replace(plan.net, image_size=plan.image_size)))
    t4 = train_flops_per_image(plan.net, plan.image_size) * plan.batch_size * plan.steps
    ddpm = train_flops_per_image(PRESETS["gpu"].net, 32) * DDPM_CIFAR10["batch_size"] * DDPM_CIFAR10["steps"]
    return dict(params=params, images=plan.batch_size * plan.steps,
                ddpm_images=DDPM_CIFAR10["batch_size"] * DDPM_CIFAR10["steps"], ddpm_params=DDPM_CIFAR10["params"],
                compute_ratio=ddpm / t4, floor=DDIM_50_STEP_FID, ddpm_fid=DDPM_CIFAR10["fid_50k"])
