"""sched_lib.sweep: run directories from config hashes, seeded longer runs, the common-frame loss per log-SNR,
the stand-in score and seed summaries.

Training runs are a few steps of the ``smoke`` preset's model on real CIFAR-10 (``$SCHED_LIB_DATA``, set by
conftest.py); the analytic checks use Gaussian data, whose optimal denoiser is known in closed form.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from sched_lib.data import load_cifar10, to_tensor
from sched_lib.nets import conditioning_table
from sched_lib.sweep import (
    STANDIN_LABEL,
    conditioning_at_log_snr,
    config_hash,
    denoising_errors,
    loss_by_log_snr,
    ranges_overlap,
    run_configs,
    run_dir_for,
    sample_and_score,
    seed_summary,
    stage_configs,
)
from sched_lib.train import CHECKPOINT_FILE, Runtime, TrainConfig, build_process, load_run

QUIET = Runtime(device="cpu", progress=False)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """These networks are tiny: one thread is as fast as two, and immune to a busy machine's oversubscription."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _config(**kw) -> TrainConfig:
    args = dict(schedule="cosine", weighting="uniform", prediction="eps", steps=2, checkpoint_every=2,
                batch_size=4, num_images=64)
    args.update(kw)
    return TrainConfig.from_preset("smoke", **args)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    (run,) = run_configs([_config()], root, progress=False, runtime=QUIET)
    return run


def test_run_dir_is_a_function_of_the_whole_config(tmp_path):
    a = _config()
    assert run_dir_for(a, tmp_path) == run_dir_for(_config(), tmp_path)
    others = [_config(seed=1), _config(steps=3), _config(schedule="linear"), _config(weighting="min_snr"),
              _config(weighting="min_snr", weighting_params={"gamma": 1.0}), _config(lr=1e-4),
              TrainConfig.from_preset("cpu", schedule="cosine", weighting="uniform", prediction="eps", steps=2,
                                      checkpoint_every=2, batch_size=4, num_images=64)]
    dirs = {run_dir_for(c, tmp_path) for c in [a, *others]}
    assert len(dirs) == len(others) + 1
    assert run_dir_for(a, tmp_path).name.startswith("cosine_uniform_eps_smoke_s0_n2-")
    assert run_dir_for(a, tmp_path).name.endswith(config_hash(a))
    with pytest.raises(ValueError, match="TrainConfig"):
        run_dir_for(a.to_dict(), tmp_path)
    with pytest.raises(ValueError, match="root"):
        run_dir_for(a, "")


def test_finished_run_is_not_retrained(tiny_run, tmp_path):
    ckpt = tiny_run / CHECKPOINT_FILE
    before = (ckpt.stat().st_mtime_ns, (tiny_run / "metrics.jsonl").read_text())
    (again,) = run_configs([_config()], tiny_run.parent, progress=False, runtime=QUIET)
    assert again == tiny_run
    assert (ckpt.stat().st_mtime_ns, (tiny_run / "metrics.jsonl").read_text()) == before
    with pytest.raises(ValueError, match="at least one"):
        run_configs([], tmp_path)
    with pytest.raises(ValueError, match="TrainConfig"):
        run_configs(["cosine"], tmp_path)


def test_seeded_longer_run_equals_a_run_from_scratch(tmp_path):
    staged = run_configs(stage_configs(_config(), [2, 4]), tmp_path / "a", progress=False, runtime=QUIET)
    fresh = run_configs([_config(steps=4)], tmp_path / "b", progress=False, runtime=QUIET,
                        seed_from_shorter=False)[0]
    assert json.loads((staged[1] / "seeded_from.json").read_text())["step"] == 2
    assert not (fresh / "seeded_from.json").exists()
    a = torch.load(staged[1] / CHECKPOINT_FILE, weights_only=True)
    b = torch.load(fresh / CHECKPOINT_FILE, weights_only=True)
    assert a["step"] == b["step"] == 4
    for part in ("model", "ema"):
        for name in a[part]:
            assert torch.equal(a[part][name], b[part][name]), (part, name)
    # the 2-step run is untouched and still complete
    assert torch.load(staged[0] / CHECKPOINT_FILE, weights_only=True)["step"] == 2
    with pytest.raises(ValueError, match="increasing"):
        stage_configs(_config(), [4, 2])
    with pytest.raises(ValueError, match="steps"):
        stage_configs(_config(), [0, 2])


def test_denoising_errors_of_the_optimal_gaussian_denoiser_match_theory():
    # x0 ~ N(0, s2 I): the optimal x0-predictor is sqrt(ab) s2/(ab s2 + 1 - ab) x_t and its eps-MSE is
    # SNR s2/(SNR s2 + 1) (chapter "The forward process"; sched_lib.gaussian for the general case).
    s2, n, d = 0.5, 4000, 48
    x0 = torch.randn(n, d, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * np.sqrt(s2)
    lam = np.array([4.0, 1.0, 0.0, -2.5])
    ab = 1 / (1 + np.exp(-lam))

    def optimal_x0(xt, j):
        return np.sqrt(ab[j]) * s2 / (ab[j] * s2 + 1 - ab[j]) * xt

    out = denoising_errors(optimal_x0, x0, lam, prediction="x0", seed=3, batch_size=1000)
    theory = np.exp(lam) * s2 / (np.exp(lam) * s2 + 1)
    np.testing.assert_allclose(out["eps_mse"], theory, rtol=0.02)
    np.testing.assert_allclose(out["x0_mse"], out["eps_mse"] * np.exp(-lam), rtol=1e-12)
    # the same numbers in the eps and v frames, and for any batch size

    def optimal_eps(xt, j):
        return (xt - np.sqrt(ab[j]) * optimal_x0(xt, j)) / np.sqrt(1 - ab[j])

    def optimal_v(xt, j):
        return np.sqrt(ab[j]) * optimal_eps(xt, j) - np.sqrt(1 - ab[j]) * optimal_x0(xt, j)

    for fn, pred in ((optimal_eps, "eps"), (optimal_v, "v")):
        other = denoising_errors(fn, x0, lam, prediction=pred, seed=3, batch_size=333)
        np.testing.assert_allclose(other["eps_mse"], out["eps_mse"], rtol=1e-9)


def test_denoising_errors_refuses_bad_arguments():
    x0 = torch.zeros(4, 3)
    fn = lambda xt, j: xt  # noqa: E731
    for lam in ([0.0, 1.0], [], [1.0, float("nan")]):
        with pytest.raises(ValueError, match="log_snr"):
            denoising_errors(fn, x0, lam, prediction="eps")
    with pytest.raises(ValueError, match="prediction"):
        denoising_errors(fn, x0, [1.0], prediction="score")
    with pytest.raises(ValueError, match="x0"):
        denoising_errors(fn, np.zeros((4, 3)), [1.0], prediction="eps")
    with pytest.raises(ValueError, match="shape"):
        denoising_errors(lambda xt, j: xt[:, :1], x0, [1.0], prediction="eps")


def test_conditioning_at_log_snr_is_the_runs_own_time_of_that_level():
    cfg = _config(schedule="linear")
    q = build_process(cfg).q
    table = conditioning_table("t", q.log_snr)
    k = np.array([3, 250, 900])
    np.testing.assert_allclose(conditioning_at_log_snr(cfg, q.log_snr[k]), table[k], rtol=1e-12)
    mid = 0.5 * (q.log_snr[500] + q.log_snr[501])
    assert table[500] < conditioning_at_log_snr(cfg, [mid])[0] < table[501]
    lam = np.array([5.0, 0.0, -5.0])
    np.testing.assert_allclose(conditioning_at_log_snr(_config(cond="log_snr"), lam), 25 * lam, rtol=1e-12)
    with pytest.raises(ValueError, match="outside the trained range"):
        conditioning_at_log_snr(cfg, [q.log_snr[0] + 1.0])


def test_loss_by_log_snr_matches_a_direct_computation(tiny_run):
    images = load_cifar10("test").images[:12]
    cfg = _config()
    q = build_process(cfg).q
    k = np.array([100, 500, 800])
    lam = q.log_snr[k]
    res = loss_by_log_snr(tiny_run, images, lam, seed=5, batch_size=5, cache=False)
    # direct: the run's Denoiser at its own integer steps k, with the noise denoising_errors draws
    run = load_run(tiny_run)
    x0 = to_tensor(images)
    from sched_lib.sweep import _noise_seed

    for j, kk in enumerate(k):
        eps = torch.randn(x0.shape, generator=torch.Generator().manual_seed(_noise_seed(5, j)))
        t = torch.full((x0.shape[0],), int(kk))
        xt = run.process.q_sample(x0, t, eps)
        with torch.inference_mode():
            direct = (run.model(xt, t) - eps).pow(2).mean().item()
        assert res.eps_mse[j] == pytest.approx(direct, rel=1e-4)
    assert res.train_step == 2 and res.n_images == 12
    cached = loss_by_log_snr(tiny_run, images, lam, seed=5)
    again = loss_by_log_snr(tiny_run, images, lam, seed=5)
    np.testing.assert_allclose(cached.eps_mse, res.eps_mse, rtol=1e-5)
    np.testing.assert_array_equal(again.eps_mse, cached.eps_mse)
    assert list((tiny_run / "evals").glob("loss_by_log_snr-*.json"))
    with pytest.raises(ValueError, match="uint8"):
        loss_by_log_snr(tiny_run, images.astype(np.float32), lam)
    with pytest.raises(ValueError, match="outside the trained range"):
        loss_by_log_snr(tiny_run, images, [40.0])


def test_sample_and_score_is_labelled_and_cached(tiny_run):
    ref = load_cifar10("test").images[:16]
    a = sample_and_score(tiny_run, ref, num=8, steps=2, batch_size=8, return_images=True)
    assert a["label"] == STANDIN_LABEL and "FID" in a["label"] and "not FID" in a["label"]
    assert a["value"] >= 0 and a["n_samples"] == 8 and a["train_step"] == 2
    assert a["images"].shape == (8, 32, 32, 3) and a["images"].dtype == np.uint8
    b = sample_and_score(tiny_run, ref, num=8, steps=2, batch_size=8, return_images=True)
    assert b["value"] == a["value"] and b["sample_wall_s"] == a["sample_wall_s"]  # from the cache
    np.testing.assert_array_equal(a["images"], b["images"])
    with pytest.raises(ValueError, match="num"):
        sample_and_score(tiny_run, ref, num=1)


def test_seed_summary_reports_a_range_for_two_seeds():
    s = seed_summary([1.0, 3.0])
    assert (s.mean, s.lo, s.hi, s.sd, s.n, s.spread) == (2.0, 1.0, 3.0, None, 2, "range")
    assert "range 1–3" in s.format(".3g") and "seeds 1, 3" in str(s)
    t = seed_summary([1.0, 2.0, 3.0])
    assert t.spread == "sd" and t.sd == pytest.approx(1.0)
    assert ranges_overlap([1.0, 3.0], [2.5, 4.0]) and not ranges_overlap([1.0, 2.0], [2.5, 4.0])
    assert json.loads(json.dumps(s.as_dict()))["values"] == [1.0, 3.0]
    for bad in ([], [1.0, float("nan")], [[1.0]]):
        with pytest.raises(ValueError, match="values"):
            seed_summary(bad)


def test_replace_keeps_configs_valid():
    # stage_configs relies on dataclasses.replace re-running TrainConfig's checks
    with pytest.raises(ValueError, match="steps"):
        dataclasses.replace(_config(), steps=0)


@pytest.mark.parametrize("before_file", ["metrics.jsonl", "seeded_from.json", "config.json"])
def test_an_interrupted_seeding_leaves_no_stale_copy_and_no_false_note(before_file, tmp_path, monkeypatch):
    """Ctrl-C at each point of a seeding step (before the metrics copy, before the note, before config.json):
    the directory never holds a seeded_from.json without the seeded checkpoint in place, and the next
    run_configs leaves no ckpt.pt.seed and ends with the weights of a run from scratch."""
    import sched_lib.sweep as sweep

    root = tmp_path / "a"
    run_configs([_config(steps=2)], root, progress=False, runtime=QUIET)
    real = sweep._atomic_write_bytes

    def interrupted(path, write):
        if path.name == before_file:
            raise KeyboardInterrupt
        real(path, write)

    monkeypatch.setattr(sweep, "_atomic_write_bytes", interrupted)
    longer = _config(steps=4)
    with pytest.raises(KeyboardInterrupt):
        run_configs([longer], root, progress=False, runtime=QUIET)
    target = run_dir_for(longer, root)
    note = target / "seeded_from.json"
    if note.exists():  # a note only beside the checkpoint it describes
        assert torch.load(target / CHECKPOINT_FILE, weights_only=True)["step"] == json.loads(note.read_text())["step"]
    assert not (target / "config.json").exists()
    monkeypatch.setattr(sweep, "_atomic_write_bytes", real)
    (again,) = run_configs([longer], root, progress=False, runtime=QUIET)
    assert again == target and not (target / (CHECKPOINT_FILE + ".seed")).exists()
    assert json.loads(note.read_text()) == {"seeded_from": run_dir_for(_config(steps=2), root).name, "step": 2}
    fresh = run_configs([longer], tmp_path / "b", progress=False, runtime=QUIET, seed_from_shorter=False)[0]
    a = torch.load(target / CHECKPOINT_FILE, weights_only=True)
    b = torch.load(fresh / CHECKPOINT_FILE, weights_only=True)
    assert a["step"] == b["step"] == 4
    for name in a["model"]:
        assert torch.equal(a["model"][name], b["model"][name]), name


def test_train_removes_the_stale_copy_of_a_seeding_interrupted_by_an_older_sched_lib(tiny_run, tmp_path):
    """A ckpt.pt.seed beside a config.json can never be used (seeding writes config.json last): train removes it."""
    import shutil

    run = tmp_path / tiny_run.name
    shutil.copytree(tiny_run, run)
    (run / (CHECKPOINT_FILE + ".seed")).write_bytes(b"partial copy")
    from sched_lib.train import train

    train(_config(), run, QUIET)
    assert not (run / (CHECKPOINT_FILE + ".seed")).exists()
