"""The training engine (sched_lib.train, sched_lib.presets): config, exact resume, NaN stop, DDP.

Training runs use the ``smoke`` preset's model on real CIFAR-10 images, found through ``$SCHED_LIB_DATA``
(conftest.py points it at ../shared/data/cifar10). The SIGKILL/restart test of the command line is in
test_cli.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from sched_lib import presets
from sched_lib.presets import PRESETS, get_preset, resolve_preset_name
from sched_lib.train import (
    CHECKPOINT_FILE,
    CONFIG_FILE,
    IMAGE_SIZES,
    METRICS_FILE,
    ConfigMismatchError,
    Runtime,
    TrainConfig,
    Trainer,
    _lr_at,
    _truncate_metrics,
    _weights_sha256,
    build_model,
    load_run,
    read_config,
    step_seed,
    train,
    training_subset,
    upsample_batch,
)

ROOT = Path(__file__).resolve().parents[1]
QUIET = Runtime(device="cpu", progress=False)  # exact resume is promised on the CPU


def _config(**kw) -> TrainConfig:
    args = dict(schedule="cosine", weighting="min_snr", prediction="v", steps=6, checkpoint_every=2)
    args.update(kw)
    return TrainConfig.from_preset("smoke", **args)


def _ckpt(run) -> dict:
    return torch.load(Path(run) / CHECKPOINT_FILE, weights_only=True)


def _assert_same_tensors(a, b, where="state"):
    """torch.equal on every tensor of two nested checkpoint structures (same keys, same values)."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b), where
    elif isinstance(a, dict):
        assert set(a) == set(b), where
        for k in a:
            _assert_same_tensors(a[k], b[k], f"{where}[{k!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_same_tensors(x, y, f"{where}[{i}]")
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


# ------------------------------------------------------------------------------------------------
# Presets
# ------------------------------------------------------------------------------------------------


def test_presets_auto_and_env_var(monkeypatch):
    assert set(PRESETS) == {"smoke", "cpu", "gpu", "t4"}
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_preset_name("auto") == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_preset_name("auto") == "gpu"
    monkeypatch.setenv(presets.ENV_VAR, "smoke")
    assert get_preset() is PRESETS["smoke"] and get_preset("cpu") is PRESETS["cpu"]
    monkeypatch.delenv(presets.ENV_VAR)
    assert resolve_preset_name(None) == "gpu"  # no env var: auto
    monkeypatch.setenv(presets.ENV_VAR, "huge")
    with pytest.raises(ValueError, match=r"\$SCHED_LIB_PRESET.*smoke, cpu, gpu, t4, auto"):
        get_preset()
    with pytest.raises(ValueError, match="unknown preset 'big'"):
        get_preset("big")


def test_presets_change_sizes_only():
    smoke, cpu, gpu = (PRESETS[n] for n in ("smoke", "cpu", "gpu"))
    assert smoke.num_images < cpu.num_images < gpu.num_images <= 50_000
    assert smoke.steps < cpu.steps < gpu.steps
    assert gpu.net.channels == 128 and gpu.net.channel_mult == (1, 2, 2, 2)  # DDPM's CIFAR-10 layout
    for p in PRESETS.values():
        assert p.steps % p.checkpoint_every == 0 and p.eval_samples >= 2


# ------------------------------------------------------------------------------------------------
# The config
# ------------------------------------------------------------------------------------------------


def test_config_from_preset_json_round_trip_and_diff():
    cfg = _config(schedule_params={"s": 0.01}, weighting_params={"gamma": 5}, seed=3, cond="log_snr")
    p = PRESETS["smoke"]
    assert (cfg.preset, cfg.batch_size, cfg.num_images, cfg.net) == ("smoke", p.batch_size, p.num_images, p.net)
    assert cfg.steps == 6 and cfg.checkpoint_every == 2
    back = TrainConfig.from_dict(json.loads(cfg.to_json()))
    assert back == cfg and back.diff(cfg) == []
    other = TrainConfig.from_dict({**cfg.to_dict(), "seed": 4, "net": {**cfg.net.to_dict(), "channels": 32}})
    assert cfg.diff(other) == [("net.channels", 16, 32), ("seed", 3, 4)]
    with pytest.raises(TypeError):
        cfg.schedule_params["s"] = 1.0  # frozen all the way down


@pytest.mark.parametrize("kw,match", [
    (dict(schedule="cosinus"), "unknown schedule 'cosinus'.*cosine"),
    (dict(schedule_params={"S": 0.1}), "unknown parameter.*S.*valid: s"),
    (dict(weighting="snr"), "unknown weighting 'snr'.*vlb"),
    (dict(weighting_params={"k": 1}), "unknown parameter.*k.*gamma"),
    (dict(weighting="vlb", weighting_params={"gamma": 1}), "'vlb' takes no parameters"),
    (dict(prediction="score"), "unknown prediction 'score'"),
    (dict(steps=0), "steps must be an integer >= 1"),
    (dict(seed=-1), "seed must be an integer >= 0"),
    (dict(lr=float("nan")), "lr must be finite"),
    (dict(ema_decay=1.0), r"ema_decay must lie in \[0, 1\)"),
    (dict(weighting="vlb", prediction="eps", schedule_params={"zero_terminal_snr": True}),
     "not a finite non-negative number.*zero terminal SNR"),
])
def test_bad_config_is_refused_with_a_clear_message(kw, match):
    with pytest.raises(ValueError, match=match):
        _config(**kw)


def test_num_images_is_limited_to_the_training_split():
    with pytest.raises(ValueError, match="num_images must be at most 50,000"):
        TrainConfig.from_dict({**_config().to_dict(), "num_images": 60_000})


def test_lr_warmup_and_step_seeds():
    cfg = _config()
    assert _lr_at(cfg, 0) == cfg.lr / cfg.warmup_steps and _lr_at(cfg, cfg.warmup_steps - 1) == cfg.lr
    assert _lr_at(cfg, 10 * cfg.warmup_steps) == cfg.lr
    seeds = {step_seed(0, s, r, k) for s in range(3) for r in range(2) for k in range(3)}
    assert len(seeds) == 18 and all(0 <= s < 2**63 for s in seeds)
    # SeedSequence is stable across NumPy versions: a pinned value guards against accidental changes.
    assert step_seed(0, 0, 0, 0) == step_seed(0, 0, 0, 0) == 6_375_474_604_893_067_239


def test_training_subset_is_the_same_from_any_copy_of_the_data():
    names = np.array([f"img_{i:05d}.png" for i in range(1000)])
    idx = training_subset(names, 50)
    assert idx.dtype == np.int64 and len(set(idx.tolist())) == 50
    perm = np.random.default_rng(0).permutation(1000)  # another copy stores the images in another order
    np.testing.assert_array_equal(names[perm][training_subset(names[perm], 50)], names[idx])
    assert not np.array_equal(np.sort(idx), np.arange(50)), "the hash order mixes the storage order"
    with pytest.warns(UserWarning, match="no file names"):
        np.testing.assert_array_equal(training_subset(None, 3), [0, 1, 2])


def test_model_init_depends_only_on_the_seed():
    a, b, c = build_model(_config()), build_model(_config()), build_model(_config(seed=1))
    assert _weights_sha256(a) == _weights_sha256(b) != _weights_sha256(c)


# ------------------------------------------------------------------------------------------------
# Training, NaN, resume
# ------------------------------------------------------------------------------------------------


def test_nan_stops_keeps_last_good_checkpoint_and_resume_is_exact(tmp_path):
    """A NaN at step 5 stops the run naming the step and leaves the step-4 checkpoint untouched; resuming
    from it ends bit-identical to an uninterrupted run (model, EMA, optimiser, VLB sampler history)."""
    cfg = _config(weighting="vlb", prediction="eps")  # vlb: the loss-aware t sampler's state is resumed too
    ref, run = tmp_path / "ref", tmp_path / "run"
    result = train(cfg, ref, QUIET)
    assert result.step == 6 and result.resumed_from == 0

    with pytest.raises(FloatingPointError, match=r"step 5 of 6.*last good checkpoint \(step 4\)"):
        train(cfg, run, Runtime(device="cpu", progress=False, fail_at_step=4))
    kept = (run / CHECKPOINT_FILE).read_bytes()
    state = _ckpt(run)
    assert state["step"] == 4 and all(torch.isfinite(v).all() for v in state["model"].values())
    assert not list(run.glob("*.tmp"))  # no temporary file (they are named ckpt.pt.<pid>.tmp) is left

    # A NaN before the next checkpoint never reaches the disk, even when the run goes on to one.
    with pytest.raises(FloatingPointError, match="step 5 of 6"):
        train(cfg, run, Runtime(device="cpu", progress=False, fail_at_step=4))
    assert (run / CHECKPOINT_FILE).read_bytes() == kept

    result = train(cfg, run, QUIET)
    assert result.resumed_from == 4 and result.step == 6
    a, b = _ckpt(ref), _ckpt(run)
    for key in ("step", "model", "ema", "optimizer", "loss_sampler", "rng"):
        _assert_same_tensors(a[key], b[key], key)
    assert a["loss_sampler"]["counts"].sum() == 6 * cfg.batch_size

    # The run directory: the config once, the metrics with one end record, nothing else.
    assert sorted(p.name for p in run.iterdir()) == [CHECKPOINT_FILE, CONFIG_FILE, METRICS_FILE]
    assert read_config(run) == cfg
    records = [json.loads(line) for line in (run / METRICS_FILE).read_text().splitlines()]
    assert [r.get("event") for r in records if "event" in r] == ["start", "resume", "resume", "end"]
    assert records[-1]["step"] == 6 and records[-2]["step"] == 6 and records[-2]["loss"] > 0

    # Rerunning a finished run does nothing; the EMA and the raw weights load for sampling.
    assert train(cfg, run, QUIET).resumed_from == 6
    ema, raw = load_run(run, "ema"), load_run(run, "model")
    assert ema.step == 6 and not ema.model.training
    assert _weights_sha256(ema.model) != _weights_sha256(raw.model)


def test_a_different_config_is_refused_naming_the_fields(tmp_path):
    cfg = _config()
    tmp_path.joinpath(CONFIG_FILE).write_text(cfg.to_json())
    other = _config(seed=1, weighting_params={"gamma": 1})
    with pytest.raises(ConfigMismatchError, match=r"seed: existing 0, requested 1") as info:
        train(other, tmp_path, QUIET)
    assert [d[0] for d in info.value.differences] == ["seed", "weighting_params"]
    assert read_config(tmp_path) == cfg


def test_metrics_are_truncated_to_the_checkpoint_on_resume(tmp_path):
    path = tmp_path / METRICS_FILE
    lines = [{"event": "start", "step": 0}, {"step": 10, "loss": 1.0}, {"step": 20, "loss": 0.5}]
    path.write_text("".join(json.dumps(r) + "\n" for r in lines) + '{"step": 30, "lo')  # torn by a kill
    _truncate_metrics(path, 10)
    assert [json.loads(s) for s in path.read_text().splitlines()] == lines[:2]


def test_autocast_and_channels_last_path_on_the_cpu():
    """The CUDA code path (bf16 autocast, channels-last) also runs on the CPU: finite loss, EMA follows."""
    cfg = _config(batch_size=4)
    trainer = Trainer(cfg, Runtime(device="cpu", amp="bf16", channels_last=True, progress=False))
    assert (trainer.amp_name, trainer.channels_last) == ("bfloat16", True)
    trainer.wrap()
    x0 = torch.rand(4, 3, 32, 32).mul(2).sub(1).contiguous(memory_format=torch.channels_last)
    before = _weights_sha256(trainer.ema)
    out = trainer.step(0, x0, torch.Generator().manual_seed(0))
    assert torch.isfinite(out.loss) and torch.isfinite(out.grad_norm) and out.lr == _lr_at(cfg, 0)
    assert _weights_sha256(trainer.ema) != before


def test_train_leaves_the_callers_rng_alone(tmp_path):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    train(_config(steps=1, batch_size=2), tmp_path, QUIET)
    torch.testing.assert_close(torch.rand(3), expected)


def test_runtime_options_are_checked():
    with pytest.raises(ValueError, match="amp"):
        Runtime(amp="fp8")
    with pytest.raises(ValueError, match="amp='fp16' needs a CUDA device"):
        Runtime(device="cpu", amp="fp16").resolve()
    device, dtype, scaler, channels_last = Runtime(device="cpu").resolve()
    assert (device.type, dtype, scaler, channels_last) == ("cpu", None, False, False)


# ------------------------------------------------------------------------------------------------
# DistributedDataParallel on the CPU (gloo), 2 processes under torchrun
# ------------------------------------------------------------------------------------------------


def test_torchrun_two_processes_gloo(tmp_path):
    run = tmp_path / "ddp"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "sched_lib.train", "--schedule", "linear", "--weighting", "vlb", "--prediction", "eps",
           "--preset", "smoke", "--steps", "4", "--checkpoint-every", "2", "--device", "cpu", "--no-progress",
           "--out", str(run)]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    # rank 0 alone writes: the three files, one start and one end record, one summary line on stdout.
    assert sorted(p.name for p in run.iterdir()) == [CHECKPOINT_FILE, CONFIG_FILE, METRICS_FILE]
    assert proc.stdout.count("sched_lib.train:") == 1
    records = [json.loads(line) for line in (run / METRICS_FILE).read_text().splitlines()]
    assert [r.get("event") for r in records if "event" in r] == ["start", "end"]
    assert records[0]["world_size"] == 2
    # Both ranks end with identical weights, and they are the checkpoint's.
    digests = records[-1]["rank_weights_sha256"]
    assert len(digests) == 2 and digests[0] == digests[1]
    state = _ckpt(run)
    assert state["step"] == 4
    model = build_model(read_config(run))
    model.load_state_dict(state["model"])
    assert _weights_sha256(model) == digests[0]


# ------------------------------------------------------------------------------------------------
# Resolution: CIFAR-10 upsampled to 64×64 (lab "Resolution")
# ------------------------------------------------------------------------------------------------


def test_image_size_64_trains_resumes_exactly_and_samples(tmp_path):
    """A smoke-sized 64×64 run: the U-Net takes 64×64, the run resumes bit-identically, samples are 64×64."""
    from sched_lib.sample import sample_run

    cfg = _config(image_size=64, steps=4, checkpoint_every=2, batch_size=4,
                  schedule="shifted_cosine", schedule_params={"d": 64, "base": 32})
    assert cfg.image_size == 64 and cfg.net.image_size == 64 and cfg.net.channels == PRESETS["smoke"].net.channels
    assert json.loads(cfg.to_json())["image_size"] == 64
    assert TrainConfig.from_dict(json.loads(cfg.to_json())) == cfg
    ref, run = tmp_path / "ref", tmp_path / "run"
    train(cfg, ref, QUIET)
    with pytest.raises(FloatingPointError):
        train(cfg, run, Runtime(device="cpu", progress=False, fail_at_step=2))
    assert _ckpt(run)["step"] == 2
    assert train(cfg, run, QUIET).resumed_from == 2
    a, b = _ckpt(ref), _ckpt(run)
    for key in ("step", "model", "ema", "optimizer"):
        _assert_same_tensors(a[key], b[key], key)
    images, prov = sample_run(run, sampler="ddim", steps=3, num=3, batch_size=2, device="cpu")
    assert images.shape == (3, 64, 64, 3) and images.dtype == np.uint8 and prov["train_step"] == 4
    # A 32×32 config in the same directory is refused, naming image_size.
    with pytest.raises(ConfigMismatchError, match=r"image_size: existing 64, requested 32"):
        train(_config(steps=4, checkpoint_every=2, batch_size=4, schedule="shifted_cosine",
                      schedule_params={"d": 64, "base": 32}), run, QUIET)


def test_upsample_batch_repeats_pixels_and_pooling_undoes_it():
    x = torch.arange(2 * 3 * 4 * 4, dtype=torch.float32).reshape(2, 3, 4, 4)
    up = upsample_batch(x, 16)
    assert up.shape == (2, 3, 16, 16)
    torch.testing.assert_close(up[:, :, ::4, ::4], x)
    torch.testing.assert_close(torch.nn.functional.avg_pool2d(up, 4), x)
    torch.testing.assert_close(up, torch.nn.functional.interpolate(x, scale_factor=4, mode="nearest"))
    assert upsample_batch(x, 4) is x
    for bad in (6, 2, True, 8.0):
        with pytest.raises(ValueError, match="multiple of the batch's side 4"):
            upsample_batch(x, bad)


def test_image_size_32_configs_are_unchanged_and_old_files_load():
    """image_size=32 is left out of config.json, so 32×32 configs (and their run hashes) are as before."""
    cfg = _config()
    d = json.loads(cfg.to_json())
    assert "image_size" not in d and cfg.image_size == 32
    assert TrainConfig.from_dict(d) == cfg  # an old config.json without the field loads as 32
    assert TrainConfig.from_dict({**d, "image_size": 32}) == cfg
    assert IMAGE_SIZES == (32, 64, 128)
    big = _config(image_size=128)
    assert big.net.image_size == 128 and cfg.diff(big) == [("image_size", 32, 128), ("net.image_size", 32, 128)]


@pytest.mark.parametrize("kw, match", [
    (dict(image_size=48), r"image_size must be one of \(32, 64, 128\).*got 48"),
    (dict(image_size=256), r"image_size must be one of"),
    (dict(image_size=True), r"image_size must be one of"),
    (dict(image_size="64"), r"image_size must be one of"),
    (dict(image_size=64, net=PRESETS["smoke"].net), r"net must take 64×64 RGB images.*net.image_size=32"),
])
def test_bad_image_size_is_refused(kw, match):
    with pytest.raises(ValueError, match=match):
        _config(**kw)


def test_list_parameters_survive_the_json_config_and_the_command_line(tmp_path):
    from sched_lib.train import build_parser, parse_key_value

    cfg = _config(schedule="piecewise_log_snr", schedule_params={"log_snr": [8, 0.5, -9]})
    assert cfg.schedule_params["log_snr"] == (8, 0.5, -9)
    assert json.loads(cfg.to_json())["schedule_params"] == {"log_snr": [8, 0.5, -9]}
    assert TrainConfig.from_dict(json.loads(cfg.to_json())) == cfg
    assert _config(schedule="piecewise_log_snr", schedule_params={"log_snr": np.array([8.0, 0.5, -9.0])}) == cfg
    assert parse_key_value("log_snr=[8, 0.5, -9]", "--schedule-param") == ("log_snr", [8, 0.5, -9])
    for bad in ("log_snr=[]", "log_snr=[1, \"a\"]", "log_snr=[true, false]", "log_snr={\"a\": 1}"):
        with pytest.raises(ValueError, match="--schedule-param log_snr"):
            parse_key_value(bad, "--schedule-param")
    for bad in ([], [1.0, float("nan")], ["a"], [True]):
        with pytest.raises(ValueError, match="non-empty list of finite numbers"):
            _config(schedule="piecewise_log_snr", schedule_params={"log_snr": bad})
    with pytest.raises(ValueError, match="strictly decreasing"):
        _config(schedule="piecewise_log_snr", schedule_params={"log_snr": [0, 1]})
    args = build_parser().parse_args(["--schedule", "piecewise_log_snr", "--schedule-param", "log_snr=[8,0.5,-9]",
                                      "--weighting", "min_snr", "--prediction", "v", "--preset", "smoke",
                                      "--image-size", "64", "--out", str(tmp_path)])
    assert args.schedule_param == ["log_snr=[8,0.5,-9]"] and args.image_size == 64
