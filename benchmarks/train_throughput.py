"""Training throughput (images/s) of each preset's model: ours against a plain fp32 eager baseline.

    python benchmarks/train_throughput.py [--presets smoke,cpu,gpu] [--steps N] [--batch B] [--no-compile]

"Ours" is one optimisation step exactly as ``python -m sched_lib.train`` runs it
(:class:`sched_lib.train.Trainer`: the loss, backward, clipping, AdamW, EMA) with this machine's
defaults: on CUDA channels-last, bf16 autocast (fp16 + gradient scaler on GPUs without native bf16)
and ``torch.compile``; on the CPU none of these, because each of them slows a CPU down (bf16
autocast ~7× and channels-last ~1.5× on the 2-core AMD EPYC this was written on), so there the two
columns run the same code and their ratio is 1 up to timing noise. The baseline is the same network,
same batch and same step in plain fp32, NCHW, eager. Both are measured in the same run, in alternating
short blocks (so that load changes on a shared machine hit both alike), on a fixed random batch in
[−1, 1] (no data loading).

On CUDA it also prints the model FLOPs per training step (forward + backward, counted with
``torch.utils.flop_counter.FlopCounterMode`` on the eager fp32 model), the model-FLOPs utilisation
(MFU = FLOPs/step × steps/s ÷ the GPU's dense bf16/fp16 peak; both columns against the same peak) and the
peak memory of a training step (``torch.cuda.max_memory_allocated``, each variant measured alone). On
the CPU the ``gpu`` preset is skipped unless asked for (``--presets gpu``; one step takes minutes).
"""

from __future__ import annotations

import argparse
import gc
import platform
import sys
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sched_lib.nets import count_parameters  # noqa: E402
from sched_lib.presets import PRESET_NAMES, PRESETS  # noqa: E402
from sched_lib.train import Runtime, Trainer, TrainConfig  # noqa: E402

#: Dense (no sparsity) bf16/fp16 tensor-core peak in FLOP/s, by a substring of the device name.
PEAK_FLOPS = [
    ("H200", 989e12), ("H100 PCIe", 756e12), ("H100", 989e12), ("A100", 312e12), ("L40S", 362e12),
    ("L40", 181e12), ("L4", 121e12), ("A10", 125e12), ("T4", 65e12), ("V100", 125e12), ("RTX 4090", 165e12),
    ("RTX 3090", 71e12),
]


def device_name(device: torch.device) -> str:
    """The GPU's name, or the CPU's model name and thread count."""
    if device.type == "cuda":
        major, minor = torch.cuda.get_device_capability(device)
        return f"{torch.cuda.get_device_name(device)} (sm_{major}{minor})"
    model = platform.processor() or "cpu"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"CPU {model}, {torch.get_num_threads()} threads"


def peak_flops(name: str) -> float | None:
    for key, value in PEAK_FLOPS:
        if key in name:
            return value
    return None


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _run(trainer: Trainer, x0: torch.Tensor, start: int, n: int) -> float:
    """Run n steps; return the elapsed seconds."""
    _sync(trainer.device)
    t0 = time.perf_counter()
    for k in range(start, start + n):
        g = torch.Generator(device=trainer.device).manual_seed(k)
        trainer.step(k, x0, g)
    _sync(trainer.device)
    return time.perf_counter() - t0


def _batch(trainer: Trainer, batch: int) -> torch.Tensor:
    g = torch.Generator(device=trainer.device).manual_seed(0)
    x = torch.rand(batch, 3, 32, 32, generator=g, device=trainer.device) * 2 - 1
    return x.contiguous(memory_format=torch.channels_last if trainer.channels_last else torch.contiguous_format)


def _peak_memory(trainer: Trainer, x0: torch.Tensor, steps: int = 3) -> float:
    device = trainer.device
    gc.collect()
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats(device)
    _run(trainer, x0, 10_000, steps)
    return torch.cuda.max_memory_allocated(device) / 2**30


def bench_preset(name: str, device: torch.device, args) -> dict:
    preset = PRESETS[name]
    config = TrainConfig.from_preset(preset, schedule="cosine", weighting="min_snr", prediction="eps")
    batch = args.batch or preset.batch_size
    cuda = device.type == "cuda"
    steps = args.steps or (100 if cuda else max(4, 512 // batch))
    row = {"preset": name, "batch": batch}

    base = Trainer(config, Runtime(device=str(device), amp="none", channels_last=False, compile=False, progress=False))
    base.wrap()
    row["params"] = count_parameters(base.net)
    xb = _batch(base, batch)
    _run(base, xb, 0, 2)  # warm-up (cuDNN autotuning, allocator)
    if cuda:
        g = torch.Generator(device=device).manual_seed(0)
        with FlopCounterMode(display=False) as counter:
            base.step(0, xb, g)
        row["flops_per_step"] = counter.get_total_flops()
        row["mem_base_gib"] = _peak_memory(base, xb)

    ours = Trainer(config, Runtime(device=str(device), compile=cuda and not args.no_compile, progress=False))
    ours.wrap()
    row["ours"] = f"{ours.amp_name}, {'channels-last' if ours.channels_last else 'NCHW'}, " \
                  f"{'compiled' if ours.runtime.compile else 'eager'}"
    xo = _batch(ours, batch)
    t0 = time.perf_counter()
    _run(ours, xo, 0, 3 if ours.runtime.compile else 2)  # compile happens here
    row["warmup_s"] = time.perf_counter() - t0

    # Alternate short blocks (one step on the CPU, a few on CUDA), swapping which goes first, so that
    # changes in machine load (a shared machine) hit both variants alike; rate = images / total time.
    block = 5 if cuda else 1
    times = {"base": 0.0, "ours": 0.0}
    k = 100
    for r in range(max(1, steps // block)):
        order = (("base", base, xb), ("ours", ours, xo))
        for key, trainer, x in (order if r % 2 == 0 else order[::-1]):
            times[key] += _run(trainer, x, k, block)
        k += block
    del order
    n_images = batch * block * max(1, steps // block)
    row["base_img_s"] = n_images / times["base"]
    row["ours_img_s"] = n_images / times["ours"]
    row["ratio"] = row["ours_img_s"] / row["base_img_s"]
    if cuda:
        del base, xb
        row["mem_ours_gib"] = _peak_memory(ours, xo)
        peak = peak_flops(torch.cuda.get_device_name(device))
        if peak:
            per_img = row["flops_per_step"] / batch
            row["mfu_base"] = per_img * row["base_img_s"] / peak
            row["mfu_ours"] = per_img * row["ours_img_s"] / peak
    return row


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--presets", default=None,
                        help="comma-separated presets (default: smoke,cpu,gpu on CUDA; smoke,cpu on the CPU)")
    parser.add_argument("--steps", type=int, default=None, help="timed steps per variant (default: 100 on CUDA, 512 images' worth on the CPU)")
    parser.add_argument("--batch", type=int, default=None, help="batch size (default: each preset's)")
    parser.add_argument("--no-compile", action="store_true", help="leave torch.compile out of 'ours' on CUDA")
    args = parser.parse_args(argv)

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    names = args.presets.split(",") if args.presets else (list(PRESET_NAMES) if device.type == "cuda" else ["smoke", "cpu"])
    for n in names:
        if n not in PRESETS:
            parser.error(f"unknown preset {n!r}; valid: {', '.join(PRESET_NAMES)}")
    print(f"device: {device_name(device)} | torch {torch.__version__}")
    if device.type == "cpu":
        print("on the CPU 'ours' enables nothing that slows a CPU (no bf16 autocast, channels-last or compile): "
              "ours and baseline run the same code, so their ratio is 1 up to timing noise")
        if "gpu" not in names:
            print("gpu preset skipped on the CPU (one step of its 38 M-parameter model at batch 128 takes minutes); "
                  "pass --presets gpu to run it")
    for name in names:
        try:
            row = bench_preset(name, device, args)
        except torch.cuda.OutOfMemoryError:
            print(f"{name:>5}: out of GPU memory at batch {args.batch or PRESETS[name].batch_size} (the fp32 "
                  "baseline needs the most); rerun with a smaller --batch", flush=True)
            gc.collect()
            torch.cuda.empty_cache()
            continue
        line = (f"{row['preset']:>5}: {row['params'] / 1e6:6.2f} M params, batch {row['batch']:4d} | "
                f"baseline fp32 eager {row['base_img_s']:9.1f} img/s | ours ({row['ours']}) "
                f"{row['ours_img_s']:9.1f} img/s | ratio {row['ratio']:.2f}x")
        if device.type == "cuda":
            line += (f" | {row['flops_per_step'] / row['batch'] / 1e9:.1f} GFLOP/img"
                     + (f" | MFU baseline {100 * row['mfu_base']:.1f}% ours {100 * row['mfu_ours']:.1f}%"
                        if "mfu_ours" in row else " | MFU: peak FLOP/s of this GPU unknown")
                     + f" | peak memory baseline {row['mem_base_gib']:.2f} GiB ours {row['mem_ours_gib']:.2f} GiB"
                     + f" | warm-up/compile {row['warmup_s']:.0f} s")
        print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
