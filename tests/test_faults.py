"""The lab engine under faults, from the command line (issue: no silent mix-up of runs, a lock on each run,
one-line errors instead of tracebacks).

Every case runs ``python -m sched_lib.{train,sample,evaluate}`` in a subprocess on the ``smoke`` preset with
a few steps and asserts: the exit code, a one-line message naming the problem, no traceback, no file lost,
and (where a run is involved) that the same command then resumes.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
RUN = ["--schedule", "cosine", "--weighting", "min_snr", "--prediction", "eps", "--preset", "smoke",
       "--device", "cpu", "--no-progress", "--checkpoint-every", "2"]


def _env(**extra):
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "OMP_NUM_THREADS": "1"}
    env.update(extra)
    return env


def cli(module, *args, env=None, cwd=None):
    return subprocess.run([sys.executable, "-m", f"sched_lib.{module}", *map(str, args)], capture_output=True,
                          text=True, env=env or _env(), cwd=cwd, timeout=300)


def assert_one_line_error(proc, rc, *needles):
    assert proc.returncode == rc, (proc.returncode, proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    errors = [line for line in proc.stderr.splitlines() if "error:" in line or "interrupted" in line]
    assert len(errors) == 1, proc.stderr
    for needle in needles:
        assert needle in errors[0], (needle, errors[0])
    return errors[0]


def snapshot(run: Path) -> dict:
    return {p.name: p.read_bytes() for p in sorted(run.iterdir()) if p.is_file() and p.name != "train.lock"}


@pytest.fixture(scope="module")
def base_run(tmp_path_factory):
    """A 2-step smoke run (its checkpoint at step 2), copied by the tests that change it."""
    run = tmp_path_factory.mktemp("faults") / "base"
    proc = cli("train", *RUN, "--steps", "2", "--out", run)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert sorted(p.name for p in run.iterdir()) == ["ckpt.pt", "config.json", "metrics.jsonl"]  # lock removed
    return run


def copy_run(base: Path, tmp_path: Path) -> Path:
    run = tmp_path / "run"
    shutil.copytree(base, run)
    return run


def test_checkpoint_config_is_compared_when_config_json_is_lost(base_run, tmp_path):
    run = copy_run(base_run, tmp_path)
    (run / "config.json").unlink()
    before = snapshot(run)
    other = [a if a not in ("cosine", "eps") else {"cosine": "linear", "eps": "v"}[a] for a in RUN]
    proc = cli("train", *other, "--steps", "2", "--out", run)
    assert_one_line_error(proc, 1, "ckpt.pt", "schedule: existing 'cosine', requested 'linear'",
                          "prediction: existing 'eps', requested 'v'", "another --out")
    assert snapshot(run) == before  # in particular no config.json of the other run was written
    proc = cli("train", *RUN, "--steps", "2", "--out", run)  # the original command still works
    assert proc.returncode == 0 and "complete" in proc.stderr, proc.stderr[-2000:]
    assert json.loads((run / "config.json").read_text())["schedule"] == "cosine"


def test_a_second_trainer_is_refused_and_a_killed_holder_leaves_no_stale_lock(base_run, tmp_path):
    run = copy_run(base_run, tmp_path)
    before = snapshot(run)
    with open(run / "train.lock", "a+") as holder:  # another "trainer" holds the lock
        fcntl.flock(holder.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        holder.seek(0)
        holder.truncate()
        holder.write("4242\n")
        holder.flush()
        proc = cli("train", *RUN, "--steps", "2", "--out", run)
        assert_one_line_error(proc, 2, f"another process is training in {run} (pid 4242)")
    assert snapshot(run) == before
    # A holder killed with SIGKILL: the kernel drops its flock, so the next trainer runs at once.
    code = (f"import fcntl,os,time; f=open({str(run / 'train.lock')!r},'a+'); "
            "fcntl.flock(f.fileno(), fcntl.LOCK_EX); print('locked', flush=True); time.sleep(60)")
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "locked"
    p.send_signal(signal.SIGKILL)
    p.wait()
    proc = cli("train", *RUN, "--steps", "2", "--out", run)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "complete" in proc.stderr and "step 2" in proc.stdout


def test_disk_full_while_checkpointing_keeps_the_last_checkpoint_and_no_tmp(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "ckpt.pt.tmp").write_bytes(b"x" * 1000)  # stale leftovers of earlier crashes
    (run / "ckpt.pt.999.tmp").write_bytes(b"x" * 1000)
    script = tmp_path / "full.py"
    script.write_text(  # the disk fills up after the first checkpoint (step 2): the second save fails
        "import sys, torch\n"
        "from sched_lib import train\n"
        "save, calls = torch.save, []\n"
        "def full(obj, f, *a, **k):\n"
        "    calls.append(1)\n"
        "    if len(calls) == 1:\n"
        "        return save(obj, f, *a, **k)\n"
        "    f.write(b'partial')\n"
        "    raise RuntimeError('[enforce fail at inline_container.cc:778] . PytorchStreamWriter failed writing "
        "file data/3: file write failed\\nunexpected pos 123')\n"
        "torch.save = full\n"
        "sys.exit(train.main(sys.argv[1:]))\n")
    args = [*RUN, "--steps", "4", "--out", str(run)]
    proc = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, env=_env(),
                          timeout=300)
    assert_one_line_error(proc, 1, "could not write", "ckpt.pt", "previous version was kept", "re-run")
    import torch

    assert torch.load(run / "ckpt.pt", weights_only=True)["step"] == 2  # the last good checkpoint
    assert not list(run.glob("*.tmp")), list(run.iterdir())
    proc = cli("train", *args)  # the same command, with a disk that has room again, resumes
    assert proc.returncode == 0 and "resuming" in proc.stderr and "step 4" in proc.stdout, proc.stderr[-2000:]

    assert not (run / "ckpt.prev.pt").exists()  # kept only until the new checkpoint verified
    # 64 flipped bytes inside the checkpoint: its digest no longer matches. Sampling and training refuse it
    # in one line naming the file, and change nothing.
    data = bytearray((run / "ckpt.pt").read_bytes())
    mid = len(data) // 2
    data[mid:mid + 64] = bytes(b ^ 0xFF for b in data[mid:mid + 64])
    (run / "ckpt.pt").write_bytes(bytes(data))
    before = snapshot(run)
    proc = cli("sample", "--run", run, "--sampler", "ddim", "--steps", "2", "--num", "2", "--device", "cpu",
               "--no-progress", "--out", tmp_path / "s.npz")
    assert_one_line_error(proc, 1, "ckpt.pt")
    proc = cli("train", *args)
    assert_one_line_error(proc, 1, "ckpt.pt")
    assert snapshot(run) == before


def test_a_lost_config_json_with_a_larger_step_budget_resumes_the_checkpoint(base_run, tmp_path):
    run = copy_run(base_run, tmp_path)
    (run / "config.json").unlink()
    proc = cli("train", *RUN, "--steps", "3", "--out", run)
    assert proc.returncode == 0 and "resuming" in proc.stderr and "step 3" in proc.stdout, proc.stderr[-2000:]


def test_ctrl_c_names_the_step_and_the_command_that_resumes(tmp_path):
    run = tmp_path / "run"
    args = [*RUN, "--steps", "6", "--out", run]
    p = subprocess.Popen([sys.executable, "-m", "sched_lib.train", *map(str, args)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=_env())
    deadline = time.time() + 120
    while time.time() < deadline and not (run / "ckpt.pt").exists():
        time.sleep(0.05)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=120)
    proc = subprocess.CompletedProcess(p.args, p.returncode, out, err)
    if proc.returncode == 0:  # it finished before the signal arrived: nothing to check
        pytest.skip("the run finished before SIGINT")
    line = assert_one_line_error(proc, 130, "interrupted", "checkpoint at step", "Resume with:", "sched_lib.train")
    assert not list(run.glob("*.tmp")) and not (run / "train.lock").exists(), sorted(p.name for p in run.iterdir())
    proc = cli("train", *args)
    assert proc.returncode == 0 and "step 6" in proc.stdout, proc.stderr[-2000:]
    assert "--out" in line


@pytest.mark.parametrize("case", ["no_data", "out_is_file", "out_empty", "device_typo", "bad_config_json"])
def test_train_argument_and_environment_errors_are_one_line(case, base_run, tmp_path):
    env, out, rc, needles = _env(), tmp_path / "run", 1, []
    extra = []
    if case == "no_data":
        env = _env(SCHED_LIB_DATA=str(tmp_path / "nowhere"))
        needles = ["CIFAR-10", "nowhere", "SCHED_LIB_DATA"]
    elif case == "out_is_file":
        out.write_text("a file")
        needles = ["is a file", "another --out"]
    elif case == "out_empty":
        out, rc, needles = "", 2, ["--out"]
    elif case == "device_typo":
        extra, rc, needles = ["--device", "gpu"], 2, ["'gpu'", "cpu, cuda"]
    elif case == "bad_config_json":
        out = copy_run(base_run, tmp_path)
        (out / "config.json").write_text("{not json")
        needles = [str(out / "config.json"), "not valid JSON"]
    before = snapshot(out) if isinstance(out, Path) and out.is_dir() else None
    proc = cli("train", *RUN, *extra, "--steps", "2", "--out", out, env=env, cwd=tmp_path)
    assert_one_line_error(proc, rc, *needles)
    if before is not None:
        assert snapshot(out) == before
    if case == "out_empty":
        assert list(tmp_path.iterdir()) == []  # nothing trained into the current directory


def test_sample_checks_its_output_and_steps_before_sampling(base_run, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    before = snapshot(base_run)
    proc = cli("sample", "--run", base_run, "--sampler", "ddim", "--steps", "2", "--num", "2", "--device", "cpu",
               "--no-progress", "--out", blocker / "s.npz")
    assert_one_line_error(proc, 2, "is a file, not a folder")
    proc = cli("sample", "--run", base_run, "--sampler", "ddim", "--steps", "100000", "--num", "2",
               "--device", "cpu", "--no-progress", "--out", tmp_path / "s.npz")
    assert_one_line_error(proc, 2, "--steps 100000", "T = ")
    assert not (tmp_path / "s.npz").exists() and snapshot(base_run) == before
    # A missing parent folder is created; the samples then go to the evaluate checks below.
    proc = cli("sample", "--run", base_run, "--sampler", "ddim", "--steps", "2", "--num", "2", "--device", "cpu",
               "--no-progress", "--out", tmp_path / "new" / "s.npz")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert np.load(tmp_path / "new" / "s.npz")["images"].shape == (2, 32, 32, 3)


@pytest.mark.parametrize("kind", ["truncated", "npy_named_npz", "text", "empty", "directory"])
def test_evaluate_unreadable_samples_is_one_line(kind, tmp_path):
    path = tmp_path / "s.npz"
    if kind == "truncated":
        buf = tmp_path / "full.npz"
        np.savez(buf, images=np.zeros((4, 32, 32, 3), np.uint8))
        path.write_bytes(buf.read_bytes()[:200])
    elif kind == "npy_named_npz":
        with open(path, "wb") as f:
            np.save(f, np.zeros((4, 32, 32, 3), np.uint8))
    elif kind == "text":
        path.write_text("hello, these are not images\n")
    elif kind == "empty":
        path.write_bytes(b"")
    else:
        path.mkdir()
    proc = cli("evaluate", "--samples", path, "--metric", "fd_randconv")
    assert_one_line_error(proc, 1, str(path), {"npy_named_npz": ".npy array", "directory": "is a directory"}.get(
        kind, "not a readable .npz"))
    assert "pickled" not in proc.stderr


def test_evaluate_json_into_a_missing_folder_is_created_and_written(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "s.npz", images=rng.integers(0, 256, (8, 32, 32, 3), dtype=np.uint8))
    target = tmp_path / "a" / "b" / "score.json"
    proc = cli("evaluate", "--samples", tmp_path / "s.npz", "--metric", "fd_randconv", "--num-reference", "16",
               "--json", target)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(target.read_text())["metric"] == "fd_randconv"
    blocker = tmp_path / "f"
    blocker.write_text("x")
    proc = cli("evaluate", "--samples", tmp_path / "s.npz", "--metric", "fd_randconv", "--json", blocker / "x.json")
    assert_one_line_error(proc, 2, "is a file, not a folder")
    assert "fd_randconv" not in proc.stdout  # refused before the scoring


# ----------------------------------------------------------------------------------------------------------
# More faults of the issue, one test each: the lock after a real SIGKILL, two real trainers, a real full disk,
# a corrupt checkpoint with the previous one kept, CUDA-less devices, huge --num, unwritable folders, the data.
# ----------------------------------------------------------------------------------------------------------


def _unwritable_folder(tmp_path: Path) -> Path:
    """A folder nobody may write in: chmod 555 for a normal user; for root (whom file modes do not stop) /sys,
    where the kernel refuses to create files."""
    if os.geteuid() == 0:
        return Path("/sys")
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    return folder


def _wait_for(predicate, proc, timeout=180.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.02)
    raise AssertionError("timed out")


def test_a_trainer_killed_by_sigkill_leaves_no_lock_that_blocks_the_same_command(tmp_path):
    """The lock is an flock on train.lock: the kernel releases it when the holder dies, SIGKILL included, so the
    file a killed trainer leaves behind blocks nobody and the same command resumes at once."""
    run = tmp_path / "run"
    args = [*RUN, "--steps", "8", "--out", str(run)]
    p = subprocess.Popen([sys.executable, "-m", "sched_lib.train", *args], env=_env(), stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    try:
        _wait_for(lambda: (run / "ckpt.pt").exists(), p)
        p.send_signal(signal.SIGKILL)
        rc = p.wait(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
    if rc != -signal.SIGKILL:
        pytest.skip(f"the run ended (exit {rc}) before it could be killed")
    assert (run / "train.lock").read_text().strip() == str(p.pid)  # the file stays, naming the dead holder
    proc = cli("train", *args)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "another process" not in proc.stderr and "resuming" in proc.stderr and "step 8" in proc.stdout
    assert not (run / "train.lock").exists()


def test_two_trainers_on_one_directory_the_second_is_refused_and_the_first_is_untouched(tmp_path):
    run = tmp_path / "run"
    args = [*RUN, "--steps", "24", "--out", str(run)]
    first = subprocess.Popen([sys.executable, "-m", "sched_lib.train", *args], env=_env(),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lock = run / "train.lock"
        holding = _wait_for(lambda: lock.exists() and lock.read_text().strip() == str(first.pid), first)
        second = cli("train", *args)
        overlapped = first.poll() is None  # the first was still training when the second gave up
        out, err = first.communicate(timeout=300)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == 0, err[-2000:]
    if not holding or (second.returncode == 0 and not overlapped):
        pytest.skip("the first trainer finished before the second started")
    assert_one_line_error(second, 2, f"another process is training in {run} (pid {first.pid})", "--out")
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    steps = [r["step"] for r in records if "event" not in r]
    assert len(steps) == len(set(steps)), records  # no step logged twice
    assert [r["event"] for r in records if "event" in r] == ["start", "end"]
    assert not list(run.glob("*.tmp"))


def _full_disk(limit_bytes):
    """preexec_fn: files of the child may not grow past ``limit_bytes`` (RLIMIT_FSIZE); writing past it fails
    with EFBIG ("File too large") instead of killing it with SIGXFSZ. That is how a full disk looks to the
    trainer (a failed write in the middle of torch.save), without mounting a small file system."""
    import resource

    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))

    return limit


def longer_run(base: Path, tmp_path: Path, steps: int) -> Path:
    """A copy of ``base`` (checkpoint at step 2) that is a run of ``steps`` steps interrupted after step 2."""
    run = copy_run(base, tmp_path)
    cfg = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**cfg, "steps": steps}, indent=2, sort_keys=True) + "\n")
    lines = [line for line in (run / "metrics.jsonl").read_text().splitlines() if '"event": "end"' not in line]
    (run / "metrics.jsonl").write_text("".join(line + "\n" for line in lines))
    return run


def test_a_full_disk_keeps_the_last_checkpoint_leaves_no_tmp_and_says_so_in_one_line(base_run, tmp_path):
    run = longer_run(base_run, tmp_path, 4)  # its checkpoint is at step 2
    size = (run / "ckpt.pt").stat().st_size
    before = snapshot(run)
    args = [*RUN, "--steps", "4", "--out", str(run)]
    proc = subprocess.run([sys.executable, "-m", "sched_lib.train", *args], capture_output=True, text=True,
                          env=_env(), timeout=300, preexec_fn=_full_disk(size // 2))
    line = assert_one_line_error(proc, 1, "could not write", "ckpt.pt", "previous version was kept",
                                 "re-run the same command")
    assert "enforce fail" not in line and "unexpected pos" not in line
    assert not list(run.glob("*.tmp")) and not (run / "ckpt.prev.pt").exists(), sorted(p.name for p in run.iterdir())
    import torch

    assert torch.load(run / "ckpt.pt", weights_only=True)["step"] == 2
    assert snapshot(run)["ckpt.pt"] == before["ckpt.pt"] and snapshot(run)["config.json"] == before["config.json"]
    proc = cli("train", *args)  # room again: the same command resumes from step 2
    assert proc.returncode == 0 and "resuming" in proc.stderr and "from step 2" in proc.stderr, proc.stderr[-2000:]
    assert "step 4" in proc.stdout


def test_a_corrupt_checkpoint_with_the_previous_one_kept_resumes_from_the_previous_one(base_run, tmp_path):
    """A kill between writing a checkpoint and verifying it leaves ckpt.prev.pt beside it; if the new one is then
    found corrupt, the previous one is used (with a warning naming both)."""
    run = longer_run(base_run, tmp_path, 4)
    shutil.copyfile(run / "ckpt.pt", run / "ckpt.prev.pt")
    data = bytearray((run / "ckpt.pt").read_bytes())
    mid = len(data) // 2
    data[mid:mid + 64] = bytes(b ^ 0xFF for b in data[mid:mid + 64])
    (run / "ckpt.pt").write_bytes(bytes(data))
    proc = cli("train", *RUN, "--steps", "4", "--out", run)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    warning = [line for line in proc.stderr.splitlines() if "warning" in line]
    assert len(warning) == 1 and str(run / "ckpt.pt") in warning[0] and "ckpt.prev.pt" in warning[0], proc.stderr
    assert "resuming" in proc.stderr and "from step 2" in proc.stderr and "step 4" in proc.stdout
    assert not (run / "ckpt.prev.pt").exists()


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="needs a machine without CUDA")
def test_device_cuda_without_cuda_says_cuda_is_missing_not_the_checkpoint(base_run, tmp_path):
    before = snapshot(base_run)
    proc = cli("sample", "--run", base_run, "--sampler", "ddim", "--steps", "2", "--num", "2", "--device", "cuda",
               "--no-progress", "--out", tmp_path / "s.npz")
    line = assert_one_line_error(proc, 1, "--device cuda", "CUDA", "not available", "--device cpu")
    assert "checkpoint" not in line
    run = tmp_path / "new"
    proc = cli("train", *[a if a != "cpu" else "cuda" for a in RUN], "--steps", "2", "--out", run)
    assert_one_line_error(proc, 1, "'cuda'", "CUDA", "not available", "'cpu'")
    assert not run.exists() and not (tmp_path / "s.npz").exists() and snapshot(base_run) == before


def test_sample_huge_num_is_refused_before_any_work(base_run, tmp_path):
    proc = cli("sample", "--run", base_run, "--sampler", "ddim", "--steps", "2", "--num", 10**9, "--device", "cpu",
               "--no-progress", "--out", tmp_path / "s.npz")
    assert_one_line_error(proc, 1, "--num 1000000000", "GiB", "smaller --num")
    assert not (tmp_path / "s.npz").exists()


def test_outputs_in_unwritable_folders_are_refused_before_any_work(base_run, tmp_path):
    folder = _unwritable_folder(tmp_path)
    proc = cli("sample", "--run", base_run, "--sampler", "ddim", "--steps", "2", "--num", "2", "--device", "cpu",
               "--no-progress", "--out", folder / "s.npz")
    assert_one_line_error(proc, 2, str(folder), "--out")
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "s.npz", images=rng.integers(0, 256, (8, 32, 32, 3), dtype=np.uint8))
    proc = cli("evaluate", "--samples", tmp_path / "s.npz", "--metric", "fd_randconv", "--json", folder / "x.json")
    assert_one_line_error(proc, 2, str(folder), "--json")
    assert "fd_randconv" not in proc.stdout  # refused before the scoring
    proc = cli("train", *RUN, "--steps", "2", "--out", folder / "run")
    assert_one_line_error(proc, 1, str(folder / "run"), "another --out")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    proc = cli("train", *RUN, "--steps", "2", "--out", blocker / "run")  # --out under a file
    assert_one_line_error(proc, 1, str(blocker / "run"), "another --out")
    assert blocker.read_text() == "x"


@pytest.mark.parametrize("case", ["cache_under_a_file", "offline_empty_cache"])
def test_train_without_data_says_where_data_is_looked_for(case, tmp_path):
    """No $SCHED_LIB_DATA and nothing in the cache: a cache that cannot be created, or a download that cannot
    happen (offline; a proxy that refuses makes any machine offline), is one line naming SCHED_LIB_DATA."""
    env = {k: v for k, v in _env().items() if k != "SCHED_LIB_DATA"}
    if case == "cache_under_a_file":
        (tmp_path / "file").write_text("x")
        env["XDG_CACHE_HOME"] = str(tmp_path / "file" / "cache")
    else:
        env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
        for key in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
            env[key] = "http://127.0.0.1:9"
        env.pop("no_proxy", None)
        env.pop("NO_PROXY", None)
    run = tmp_path / "run"
    proc = cli("train", *RUN, "--steps", "2", "--out", run, env=env)
    assert_one_line_error(proc, 1, "CIFAR-10", "SCHED_LIB_DATA is not set", "looked in the cache",
                          env["XDG_CACHE_HOME"], "Set $SCHED_LIB_DATA")
    assert not run.exists()  # nothing was written: the data is looked for before the run directory is made


@pytest.mark.parametrize("case", ["not_json", "wrong_fields", "another_runs_config"])
def test_a_bad_config_json_is_named_by_train_and_sample(case, base_run, tmp_path):
    run = copy_run(base_run, tmp_path)
    cfg = json.loads((run / "config.json").read_text())
    if case == "not_json":
        (run / "config.json").write_text("{not json")
    elif case == "wrong_fields":
        (run / "config.json").write_text(json.dumps({**cfg, "schedul": "cosine"}))
    else:  # config.json of another run (linear/v) beside this run's cosine/eps checkpoint
        (run / "config.json").write_text(json.dumps({**cfg, "schedule": "linear", "prediction": "v"}))
    before = snapshot(run)
    proc = cli("sample", "--run", run, "--sampler", "ddim", "--steps", "2", "--num", "2", "--device", "cpu",
               "--no-progress", "--out", tmp_path / "s.npz")
    line = assert_one_line_error(proc, 1, str(run / "config.json"))
    if case == "another_runs_config":
        assert "schedule: checkpoint 'cosine', config.json 'linear'" in line
    assert not (tmp_path / "s.npz").exists()
    args = RUN if case != "another_runs_config" else [
        a if a not in ("cosine", "eps") else {"cosine": "linear", "eps": "v"}[a] for a in RUN]
    proc = cli("train", *args, "--steps", "2", "--out", run)
    assert_one_line_error(proc, 1, "config.json" if case != "another_runs_config" else "ckpt.pt")
    assert snapshot(run) == before
