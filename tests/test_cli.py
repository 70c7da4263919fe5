"""The command lines: python -m sched_lib.train / sample / evaluate, and exact resume after SIGKILL.

Runs use the ``smoke`` preset on real CIFAR-10 images found through ``$SCHED_LIB_DATA`` (conftest.py).
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from sched_lib import evaluate as evaluate_cli
from sched_lib import sample as sample_cli
from sched_lib import train as train_cli

ROOT = Path(__file__).resolve().parents[1]


def _env() -> dict:
    """The test's environment (SCHED_LIB_DATA included) with this checkout first on the import path."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}


def _train_args(out, *extra) -> list:
    return ["--schedule", "linear", "--weighting", "p2", "--weighting-param", "gamma=0.5", "--prediction", "x0",
            "--preset", "smoke", "--seed", "7", "--device", "cpu", "--no-progress", "--out", str(out), *extra]


@pytest.mark.parametrize("module", [train_cli, sample_cli, evaluate_cli])
def test_help_documents_every_flag(module, capsys):
    with pytest.raises(SystemExit) as info:
        module.main(["--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    parser = module.build_parser()
    for action in parser._actions:
        for flag in action.option_strings:
            assert flag in text
        if action.option_strings and action.dest != "help":
            assert action.help and len(action.help) > 10, f"{action.option_strings} has no real help"


def test_train_flags_match_the_issue(capsys):
    text = train_cli.build_parser().format_help()
    for flag in ("--schedule", "--schedule-param", "--weighting", "--weighting-param", "--prediction", "--preset",
                 "--steps", "--seed", "--out"):
        assert flag in text
    assert "{eps,x0,v}" in text and "{smoke,cpu,gpu,t4,auto}" in text


def test_smoke_train_sample_evaluate_end_to_end(tmp_path, capsys):
    run = tmp_path / "run"
    args = ["--schedule", "cosine", "--weighting", "min_snr", "--prediction", "v", "--preset", "smoke",
            "--steps", "3", "--device", "cpu", "--no-progress", "--out", str(run)]
    assert train_cli.main(args) == 0
    assert "at step 3" in capsys.readouterr().out
    samples = tmp_path / "s.npz"
    assert sample_cli.main(["--run", str(run), "--sampler", "ddim", "--steps", "4", "--num", "5", "--batch-size", "3",
                            "--out", str(samples), "--device", "cpu", "--no-progress"]) == 0
    with np.load(samples, allow_pickle=False) as f:
        images, prov, config = f["images"], json.loads(str(f["provenance"])), json.loads(str(f["config"]))
    assert images.shape == (5, 32, 32, 3) and images.dtype == np.uint8
    assert (prov["sampler"], prov["steps"], prov["spacing"], prov["weights"], prov["train_step"]) == (
        "ddim", 4, "trailing", "ema", 3)
    assert "preset smoke" in prov["provenance"]
    assert config["schedule"] == "cosine" and config["prediction"] == "v"

    capsys.readouterr()
    out_json = tmp_path / "score.json"
    assert evaluate_cli.main(["--samples", str(samples), "--metric", "fd_randconv", "--json", str(out_json)]) == 0
    printed = capsys.readouterr().out
    assert "(not FID)" in printed and "5 samples vs 10000 CIFAR-10 test images" in printed
    assert "FID:" not in printed.replace("(not FID):", "")
    score = json.loads(out_json.read_text())
    assert score["metric"] == "fd_randconv" and np.isfinite(score["value"]) and score["value"] > 0

    # The same command resumes (here: finds the run complete); a different one is refused, naming the field.
    assert train_cli.main(args) == 0
    assert train_cli.main(args + ["--seed", "1"]) == 1
    err = capsys.readouterr().err
    assert "different config" in err and "seed: existing 0, requested 1" in err


@pytest.mark.parametrize("argv,match", [
    (["--schedule-param", "s"], "KEY=VALUE"),
    (["--schedule-param", "sharpness=2"], "unknown parameter"),
    (["--weighting-param", "gamma=0"], "gamma"),
    (["--steps", "0"], "--steps"),
    (["--preset", "huge"], "--preset"),
])
def test_train_cli_rejects_bad_arguments(argv, match, tmp_path, capsys):
    base = ["--schedule", "cosine", "--weighting", "min_snr", "--prediction", "eps", "--out", str(tmp_path / "r")]
    with pytest.raises(SystemExit) as info:
        train_cli.main(base + argv)
    assert info.value.code == 2
    assert re.search(match, capsys.readouterr().err)
    assert not (tmp_path / "r").exists()


def test_sample_and_evaluate_cli_errors(tmp_path, capsys):
    with pytest.raises(SystemExit):
        sample_cli.main(["--run", str(tmp_path), "--sampler", "ddim", "--steps", "2", "--num", "2",
                         "--out", str(tmp_path / "s.png")])
    assert "--out must name a .npz file" in capsys.readouterr().err
    assert sample_cli.main(["--run", str(tmp_path), "--sampler", "ddim", "--steps", "2", "--num", "2",
                            "--out", str(tmp_path / "s.npz")]) == 1
    assert "not a sched_lib.train run directory" in capsys.readouterr().err
    assert evaluate_cli.main(["--samples", str(tmp_path / "none.npz"), "--metric", "fd_randconv"]) == 1
    np.savez(tmp_path / "bad.npz", pictures=np.zeros((2, 32, 32, 3), np.uint8))
    assert evaluate_cli.main(["--samples", str(tmp_path / "bad.npz"), "--metric", "fd_randconv"]) == 1
    assert "no 'images' array" in capsys.readouterr().err


def _wait_for_new_checkpoint(path: Path, old_inode, proc, timeout: float = 180.0):
    """Wait until ``path`` is a checkpoint other than ``old_inode`` (os.replace makes a new inode)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            inode = path.stat().st_ino
            if inode != old_inode:
                return inode
        except FileNotFoundError:
            pass
        if proc.poll() is not None:
            return None
        time.sleep(0.01)
    raise AssertionError(f"no new checkpoint in {path.parent} within {timeout} s")


def test_sigkill_at_random_moments_then_resume_gives_identical_weights(tmp_path):
    """Kill the training CLI with SIGKILL at random moments (each after it has written a new checkpoint),
    restart it with the same command each time, and compare with an uninterrupted run: every tensor of the
    model, the EMA and the optimiser state is equal (torch.equal).

    The uninterrupted run is a subprocess with the same environment too: CPU kernels split their sums over
    the intra-op threads, so a run with another thread count has other weights (this pytest process may use
    a different count: tests/test_cuda_paths.py calls torch.set_num_threads(1) when it is imported, while
    the subprocesses use $OMP_NUM_THREADS or every core)."""
    extra = ["--steps", "16", "--checkpoint-every", "1"]
    ref, run = tmp_path / "ref", tmp_path / "run"
    done = subprocess.run([sys.executable, "-m", "sched_lib.train", *_train_args(ref, *extra)], cwd=ROOT,
                          env=_env(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]

    cmd = [sys.executable, "-m", "sched_lib.train", *_train_args(run, *extra)]
    rng = random.Random()
    kills, delays, inode = 0, [], None
    for life in range(3):
        with open(tmp_path / f"life{life}.log", "w") as log:
            proc = subprocess.Popen(cmd, cwd=ROOT, env=_env(), stdout=log, stderr=subprocess.STDOUT)
            try:
                inode = _wait_for_new_checkpoint(run / "ckpt.pt", inode, proc)
                if life < 2:
                    delays.append(rng.uniform(0.0, 0.3))
                    time.sleep(delays[-1])
                    if proc.poll() is None:
                        proc.send_signal(signal.SIGKILL)
                        kills += 1
                rc = proc.wait(timeout=300)
            finally:
                if proc.poll() is None:
                    proc.kill()
        if life < 2 and rc != -signal.SIGKILL:
            break  # finished before the kill: the restart below still checks the result
    assert kills >= 2, f"the run finished before it could be killed twice (delays {delays})"
    log = (tmp_path / "life2.log").read_text()
    assert rc == 0, log
    resumed = re.search(r"resuming \S+ from step (\d+) of 16", log)
    assert resumed and 0 < int(resumed.group(1)) < 16, log

    a = torch.load(ref / "ckpt.pt", weights_only=True)
    b = torch.load(run / "ckpt.pt", weights_only=True)
    assert a["step"] == b["step"] == 16 and a["cpu_threads"] == b["cpu_threads"]
    assert "bit-identical" not in log  # no thread-count warning: the lives ran as the reference did
    for part in ("model", "ema"):
        assert a[part].keys() == b[part].keys()
        for name in a[part]:
            assert torch.equal(a[part][name], b[part][name]), f"{part}.{name} differs (kill delays {delays})"
    for pid, state in a["optimizer"]["state"].items():
        for key, value in state.items():
            assert torch.equal(value, b["optimizer"]["state"][pid][key]), f"optimizer state {pid}.{key}"


_KILL_HARNESS = """
import io, os, signal, sys
import torch
import sched_lib.train as T
point, nth = sys.argv[1], int(sys.argv[2])
saves = [0]
real_save, real_replace = torch.save, os.replace

def save(obj, f, *a, **k):  # the checkpoint's torch.save: half of it reaches the file, then SIGKILL
    saves[0] += 1
    if point == "inside_torch_save" and saves[0] == nth:
        buf = io.BytesIO()
        real_save(obj, buf, *a, **k)
        f.write(buf.getvalue()[: len(buf.getvalue()) // 2])
        f.flush()
        os.kill(os.getpid(), signal.SIGKILL)
    return real_save(obj, f, *a, **k)

def replace(src, dst):
    last = str(dst).endswith("ckpt.pt") and saves[0] == nth
    if last and point == "before_replace":
        os.kill(os.getpid(), signal.SIGKILL)
    real_replace(src, dst)
    if last and point == "after_replace_before_verify":  # ckpt.prev.pt is still there
        os.kill(os.getpid(), signal.SIGKILL)

torch.save, T.os.replace = save, replace
sys.exit(T.main(sys.argv[3:]))
"""


@pytest.fixture(scope="module")
def six_step_reference(tmp_path_factory):
    ref = tmp_path_factory.mktemp("kill") / "ref"
    done = subprocess.run([sys.executable, "-m", "sched_lib.train", *_train_args(ref, "--steps", "6",
                                                                               "--checkpoint-every", "1")],
                          cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return torch.load(ref / "ckpt.pt", weights_only=True)


@pytest.mark.parametrize("point", ["inside_torch_save", "before_replace", "after_replace_before_verify"])
def test_sigkill_at_each_point_of_the_checkpoint_write_then_resume_gives_identical_weights(point, six_step_reference,
                                                                                           tmp_path):
    """The same check as above at fixed points of the checkpoint sequence: SIGKILL while the 3rd checkpoint is half
    written, when it is complete but not yet moved into place, and when it is in place but not yet verified (the
    previous one still kept beside it). The same command then resumes (from step 2, 2 and 3) to the weights of the
    uninterrupted run, and leaves no temporary file, no ckpt.prev.pt and no lock file behind."""
    run = tmp_path / "run"
    args = _train_args(run, "--steps", "6", "--checkpoint-every", "1")
    killed = subprocess.run([sys.executable, "-c", _KILL_HARNESS, point, "3", *args], cwd=ROOT, env=_env(),
                            capture_output=True, text=True, timeout=600)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    assert torch.load(run / "ckpt.pt", weights_only=True)["step"] == (3 if point == "after_replace_before_verify" else 2)
    done = subprocess.run([sys.executable, "-m", "sched_lib.train", *args], cwd=ROOT, env=_env(), capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr and "warning" not in done.stderr, done.stderr
    assert f"from step {3 if point == 'after_replace_before_verify' else 2} of 6" in done.stderr
    assert sorted(p.name for p in run.iterdir()) == ["ckpt.pt", "config.json", "metrics.jsonl"]
    a, b = six_step_reference, torch.load(run / "ckpt.pt", weights_only=True)
    assert a["step"] == b["step"] == 6
    for part in ("model", "ema"):
        for name in a[part]:
            assert torch.equal(a[part][name], b[part][name]), f"{part}.{name} differs ({point})"
    for pid, state in a["optimizer"]["state"].items():
        for key, value in state.items():
            assert torch.equal(value, b["optimizer"]["state"][pid][key]), f"optimizer state {pid}.{key} ({point})"
