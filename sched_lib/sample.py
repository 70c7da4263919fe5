"""Draw images from a trained run: ``python -m sched_lib.sample --run DIR --sampler ddim --steps 50 --num 1000 --out s.npz``.

Loads ``DIR/config.json`` and the **EMA** weights of ``DIR/ckpt.pt`` (``torch.load(weights_only=True)``),
rebuilds the run's process, and samples with :func:`sched_lib.samplers.sample` (DDPM, DDIM, Euler or
Heun on a ``steps``-step grid with the given spacing; chapter "The endpoints and sampling"). The output
``.npz`` holds

* ``images``: uint8, shape (N, S, S, 3) with S the run's ``image_size`` (32 for CIFAR-10 as stored; 64 or 128
  for a run on upsampled images), channels last, RGB (as :func:`sched_lib.data.load_cifar10`),
  converted from the samples in [−1, 1] by :func:`sched_lib.data.from_tensor` (clipped, rounded);
* ``provenance``: a JSON string: sampler, steps, spacing, eta, clip_x0, seed, batch size, the run
  directory and its checkpoint step, which weights, the run's config, the sched_lib/torch/device line
  (:func:`sched_lib.provenance.provenance_line`) and the wall time;
* ``config``: the run's config as a JSON string.

It is read with ``np.load(path)`` (no pickles). Samples depend on ``--seed`` and ``--batch-size`` (one
generator draws x_T and the noise batch after batch).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from . import _validate as check
from .data import from_tensor
from .samplers import SAMPLERS, SPACINGS
from .samplers import sample as run_sampler
from .train import _atomic_write_bytes, _int_at_least, load_run

__all__ = ["build_parser", "main", "sample_run"]


def sample_run(run_dir, *, sampler: str, steps: int, num: int, spacing: str = "trailing", eta: float = 0.0,
               clip_x0: bool = False, seed: int = 0, batch_size: int = 256, weights: str = "ema",
               device=None, progress: bool = False):
    """Sample ``num`` images from the run in ``run_dir``; returns ``(images uint8 (num, S, S, 3), provenance dict)``,
    S = the run's ``image_size`` (32, or 64/128 for a run on upsampled CIFAR-10).

    Args:
        run_dir: a :mod:`sched_lib.train` run directory (config.json + ckpt.pt).
        sampler: one of :data:`sched_lib.samplers.SAMPLERS` (ddpm, ddpm_large, ddim, euler, heun).
        steps: sampling steps (grid of :func:`sched_lib.samplers.timesteps`), 1..T.
        num: number of images.
        spacing: ``"trailing"`` (default), ``"leading"`` or ``"linspace"``.
        eta: DDIM's stochasticity (ddim only).
        clip_x0: clamp x̂₀ to [−1, 1] at every step.
        seed: seed of the generator that draws x_T and the noise.
        batch_size: images per model call (memory; the samples depend on it through the noise order).
        weights: ``"ema"`` (default) or ``"model"`` (the raw weights).
        device: torch device (default: CUDA if available, else the CPU).
        progress: show tqdm bars.
    """
    if sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler {sampler!r}; valid: {', '.join(SAMPLERS)}")
    check.choice(spacing, "spacing", SPACINGS)
    num = check.num_steps(num, "num")
    batch_size = check.num_steps(batch_size, "batch_size")
    seed = check.num_steps(seed, "seed", minimum=0)
    device = torch.device(device) if device is not None else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    t0 = time.perf_counter()
    run = load_run(run_dir, weights=weights, device=device)
    cfg = run.config
    generator = torch.Generator(device=device).manual_seed(seed)
    chunks = []
    with torch.inference_mode():
        for start in range(0, num, batch_size):
            n = min(batch_size, num - start)
            x = run_sampler(sampler, run.model, run.process, (n, 3, cfg.net.image_size, cfg.net.image_size),
                            steps=steps, spacing=spacing, eta=eta, prediction=cfg.prediction,
                            generator=generator, progress=progress, clip_x0=clip_x0)
            chunks.append(from_tensor(x))
    images = np.concatenate(chunks)
    from .provenance import provenance_line

    prov = {
        "sampler": sampler, "steps": steps, "spacing": spacing, "eta": eta, "clip_x0": clip_x0, "seed": seed,
        "batch_size": batch_size, "num": num, "weights": weights, "run": str(Path(run_dir).resolve()),
        "train_step": run.step, "train_steps": cfg.steps, "preset": cfg.preset,
        "provenance": provenance_line(cfg.preset), "wall_s": time.perf_counter() - t0,
        "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    return images, prov


#: The largest sample file ``--num`` may ask for (uint8 bytes): beyond it the images would not fit in memory.
_MAX_OUTPUT_BYTES = 8 * 2**30


def _max_output_bytes() -> int:
    """:data:`_MAX_OUTPUT_BYTES`, or a quarter of the memory available now if that is less (the images are
    held twice, as batches and concatenated, next to the model and the sampler's tensors)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return min(_MAX_OUTPUT_BYTES, int(line.split()[1]) * 1024 // 4)
    except (OSError, ValueError, IndexError):
        pass
    return _MAX_OUTPUT_BYTES


def build_parser() -> argparse.ArgumentParser:
    """The ``python -m sched_lib.sample`` argument parser."""
    p = argparse.ArgumentParser(
        prog="python -m sched_lib.sample",
        description="Sample images from a sched_lib.train run with its EMA weights and write them to an .npz "
                    "file: 'images' (uint8 N×32×32×3) plus 'provenance' and 'config' (JSON strings).",
        epilog="example: python -m sched_lib.sample --run runs/a --sampler ddim --steps 50 --num 1000 --out a.npz",
    )
    p.add_argument("--run", required=True, metavar="DIR", help="the run directory written by sched_lib.train")
    p.add_argument("--sampler", required=True, choices=SAMPLERS, metavar="NAME",
                   help=f"solver: {', '.join(SAMPLERS)} (sched_lib.samplers.sample)")
    p.add_argument("--steps", required=True, type=_int_at_least(1), metavar="N",
                   help="number of sampling steps (at most the run's T)")
    p.add_argument("--spacing", choices=SPACINGS, default="trailing",
                   help="timestep spacing of the sampling grid (default trailing; Lin et al. 2024)")
    p.add_argument("--num", type=_int_at_least(1), default=None, metavar="N",
                   help="number of images (default: the run's preset eval_samples)")
    p.add_argument("--out", required=True, metavar="FILE.npz", help="output file (written atomically)")
    p.add_argument("--seed", type=_int_at_least(0), default=0, metavar="S",
                   help="seed of x_T and the sampling noise (default 0)")
    p.add_argument("--batch-size", type=_int_at_least(1), default=256, metavar="B",
                   help="images per model call (default 256); samples depend on it")
    p.add_argument("--eta", type=float, default=0.0, help="DDIM stochasticity in [0, 1] (ddim only; default 0)")
    p.add_argument("--clip-x0", action="store_true", help="clamp the predicted x0 to [-1, 1] at every step")
    p.add_argument("--weights", choices=("ema", "model"), default="ema",
                   help="which weights to sample with: ema (default) or model (the raw weights)")
    p.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")
    p.add_argument("--no-progress", action="store_true", help="do not show the tqdm progress bar")
    return p


def main(argv=None) -> int:
    """Command-line entry point: ``python -m sched_lib.sample --help``. Returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    out = Path(args.out)
    if out.suffix != ".npz":
        parser.error(f"--out must name a .npz file, got {args.out!r}")
    from .evaluate import check_output_file
    from .train import check_device, read_config

    try:  # the output and the arguments are checked before any sampling, so no work is lost to them
        check_output_file(out, "--out")
        check_device(args.device)
    except ValueError as err:
        parser.error(str(err))
    try:
        cfg = read_config(args.run)
        if args.steps > cfg.T:
            parser.error(f"--steps {args.steps} exceeds the run's T = {cfg.T} diffusion steps; use --steps <= {cfg.T}")
        if args.device is not None and torch.device(args.device).type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"--device {args.device} needs CUDA, which is not available here; use --device cpu")
        num = args.num
        if num is None:
            num = cfg.eval_samples
        need, limit = num * 3 * cfg.net.image_size ** 2, _max_output_bytes()
        if need > limit:
            raise ValueError(f"--num {num} would need {need / 2**30:.1f} GiB of uint8 images (this machine allows "
                             f"{limit / 2**30:.1f} GiB); use a smaller --num, and several calls with different "
                             "--seed values for more images")
        images, prov = sample_run(args.run, sampler=args.sampler, steps=args.steps, num=num, spacing=args.spacing,
                                  eta=args.eta, clip_x0=args.clip_x0, seed=args.seed, batch_size=args.batch_size,
                                  weights=args.weights, device=args.device, progress=not args.no_progress)
    except (ValueError, FileNotFoundError) as err:
        print(f"{parser.prog}: error: {' '.join(str(err).split())}", file=sys.stderr)
        return 1
    except (MemoryError, torch.OutOfMemoryError):
        print(f"{parser.prog}: error: out of memory sampling {num} images; use a smaller --num or --batch-size",
              file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"\n{parser.prog}: interrupted; nothing was written to {out}. Run the same command again to sample",
              file=sys.stderr)
        return 130
    config_json = cfg.to_json()
    try:
        _atomic_write_bytes(out, lambda f: np.savez(f, images=images, provenance=np.array(json.dumps(prov)),
                                                    config=np.array(config_json)))
    except OSError as err:
        print(f"{parser.prog}: error: {err}", file=sys.stderr)
        return 1
    print(f"sched_lib.sample: {images.shape[0]} images ({args.sampler}, {args.steps} steps, {args.spacing}) "
          f"from {args.run} at step {prov['train_step']} -> {out} ({prov['wall_s']:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
