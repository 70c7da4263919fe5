"""The parts of ``benchmarks/gpu_check.sh`` (run that, not this): see its header.

Writes one JSON file (rewritten after each part, so an interrupted run keeps what it measured):
``env`` (device, driver, torch, CUDA, cuDNN), ``throughput`` (rows of ``train_throughput.bench_preset``
for t4 and gpu), ``train`` (a short gpu-preset run killed mid-way and resumed, against an uninterrupted
run), ``sample`` (DDIM samples and the stand-in metric fd_randconv, which is NOT FID).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path
from types import SimpleNamespace

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

STEPS, CKPT, KILL_AFTER = 300, 100, 150  # the short training run: kill once past step KILL_AFTER


def env_info() -> dict:
    info = {"torch": torch.__version__, "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version(),
            "device": torch.cuda.get_device_name(0), "capability": list(torch.cuda.get_device_capability(0)),
            "memory_gib": torch.cuda.get_device_properties(0).total_memory / 2**30, "python": sys.version.split()[0]}
    try:
        info["driver"] = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                                        capture_output=True, text=True, timeout=20).stdout.strip()
    except (OSError, subprocess.SubprocessError) as err:
        info["driver"] = f"nvidia-smi failed: {err}"
    from sched_lib.presets import resolve_preset_name
    info["auto_preset"] = resolve_preset_name("auto")
    return info


def train_cmd(out: Path) -> list:
    return [sys.executable, "-m", "sched_lib.train", "--schedule", "cosine", "--weighting", "min_snr",
            "--prediction", "eps", "--preset", "gpu", "--steps", str(STEPS), "--checkpoint-every", str(CKPT),
            "--no-progress", "--out", str(out)]


def _metrics(out: Path) -> list:
    path = out / "metrics.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def _logged_step(out: Path) -> int:
    """The last step in metrics.jsonl (cheap to poll; the checkpoint is hundreds of MB)."""
    try:
        steps = [m["step"] for m in _metrics(out) if "loss" in m]
    except (OSError, ValueError):  # a line being written
        return 0
    return max(steps, default=0)


def train_part(work: Path) -> dict:
    res = {}
    a, b = work / "killed", work / "straight"
    t0 = time.time()
    proc = subprocess.Popen(train_cmd(a), start_new_session=True)
    while proc.poll() is None and _logged_step(a) < KILL_AFTER:
        time.sleep(0.5)
    killed_at = _logged_step(a)
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    res["killed_after_logged_step"] = killed_at
    res["killed_while_running"] = proc.returncode == -signal.SIGKILL
    rc = subprocess.run(train_cmd(a)).returncode
    res["resume_rc"] = rc
    res["resumed_from"] = [m.get("step") for m in _metrics(a) if m.get("event") == "resume"]
    res["killed_and_resumed_s"] = time.time() - t0
    t0 = time.time()
    res["straight_rc"] = subprocess.run(train_cmd(b)).returncode
    res["straight_s"] = time.time() - t0
    ma, mb = _metrics(a), _metrics(b)
    losses = [m["loss"] for m in mb if "loss" in m]
    res["losses_straight"] = losses
    res["loss_falls"] = bool(losses) and losses[-1] < losses[0]
    res["finite"] = all(map(lambda v: v == v and abs(v) != float("inf"), losses))
    sa = torch.load(a / "ckpt.pt", map_location="cpu", weights_only=True)
    sb = torch.load(b / "ckpt.pt", map_location="cpu", weights_only=True)
    diffs = {}
    for key in ("model", "ema"):
        if key in sa and key in sb:
            d = max(((sa[key][k].float() - sb[key][k].float()).abs().max().item() for k in sb[key]), default=0.0)
            diffs[key] = d
    res["max_abs_weight_diff_resumed_vs_straight"] = diffs
    res["bit_identical"] = bool(diffs) and all(v == 0.0 for v in diffs.values())
    res["note"] = ("cuDNN/cuBLAS kernels and atomics are not bit-deterministic by default, so the resumed run "
                   "may differ from the straight one by float rounding; the difference is recorded, not assumed")
    res["run_dir"] = str(b)
    return res


def sample_part(run: Path, work: Path) -> dict:
    samples = work / "samples.npz"
    t0 = time.time()
    rc = subprocess.run([sys.executable, "-m", "sched_lib.sample", "--run", str(run), "--sampler", "ddim",
                         "--steps", "50", "--num", "1000", "--out", str(samples), "--no-progress"]).returncode
    res = {"sample_rc": rc, "sample_s": time.time() - t0, "num": 1000, "sampler": "ddim", "steps": 50}
    if rc == 0:
        js = work / "metric.json"
        rc2 = subprocess.run([sys.executable, "-m", "sched_lib.evaluate", "--samples", str(samples), "--metric",
                              "fd_randconv", "--num-reference", "1000", "--json", str(js)]).returncode
        res["metric_rc"] = rc2
        if js.exists():
            res["metric"] = json.loads(js.read_text())
    return res


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="see benchmarks/gpu_check.sh")
    p.add_argument("--json", required=True)
    p.add_argument("--work", default=None, help="scratch folder for the runs (default: a new temporary folder; runs are never kept in git)")
    args = p.parse_args(argv)
    if not torch.cuda.is_available():
        print("gpu_check needs a CUDA GPU: torch.cuda.is_available() is False", file=sys.stderr)
        return 2
    out = {"started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    import tempfile
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="gpu_check_"))
    work.mkdir(parents=True, exist_ok=True)
    out["work_dir"] = str(work)

    def save():
        Path(args.json).write_text(json.dumps(out, indent=1, default=str))

    ok = True
    parts = [("env", env_info)]
    from train_throughput import bench_preset
    for name in ("t4", "gpu"):
        parts.append((f"throughput_{name}", lambda name=name: bench_preset(
            name, torch.device("cuda"), SimpleNamespace(batch=None, steps=50, no_compile=False))))
    parts.append(("train", lambda: train_part(work)))
    parts.append(("sample", lambda: sample_part(work / "straight", work)))
    for key, fn in parts:
        t0 = time.time()
        print(f"== {key}", flush=True)
        try:
            out[key] = fn()
        except KeyboardInterrupt:  # the 480 s timeout of gpu_check.sh
            out[key] = {"error": "interrupted by the time limit"}
            ok = False
            save()
            break
        except Exception as err:  # noqa: BLE001 - record and go on to the next part
            out[key] = {"error": f"{type(err).__name__}: {err}", "traceback": traceback.format_exc()}
            ok = False
        out.setdefault("part_s", {})[key] = time.time() - t0
        print(json.dumps(out[key], default=str)[:2000], flush=True)
        save()
    tr = out.get("train", {})
    ok = ok and tr.get("loss_falls") and tr.get("finite") and tr.get("resume_rc") == 0
    out["ok"] = bool(ok)
    save()
    print(f"gpu_check {'OK' if ok else 'FOUND PROBLEMS'}: {args.json}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
