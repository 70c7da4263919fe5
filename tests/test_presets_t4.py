"""The t4 preset (sched_lib.presets): every CIFAR-10 lab fits one free Colab session on a T4 by the FLOP
estimate, and ``auto`` picks t4 on a T4-class GPU, gpu on a large one, cpu without CUDA."""

import json
import re
import types
from pathlib import Path

import pytest
import torch

from sched_lib import presets
from sched_lib.presets import (PRESETS, T4_LAB_PLANS, T4_PEAK_FLOPS, resolve_preset_name, t4_estimate_markdown,
                               t4_lab_estimates, train_flops_per_image)

ROOT = Path(__file__).resolve().parents[1]


def _fake_cuda(monkeypatch, name, gib):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: name)
    monkeypatch.setattr(torch.cuda, "get_device_properties",
                        lambda device=None: types.SimpleNamespace(total_memory=int(gib * 2**30), name=name))


@pytest.mark.parametrize("name, gib, expected", [
    ("Tesla T4", 14.7, "t4"),                 # Colab's T4 (15 GiB usable)
    ("NVIDIA T4 (renamed)", 40.0, "t4"),      # by name, whatever the memory
    ("NVIDIA GeForce RTX 3060", 12.0, "t4"),  # T4-class by memory
    ("NVIDIA H100 80GB HBM3", 79.6, "gpu"),
    ("NVIDIA A100-SXM4-40GB", 39.4, "gpu"),
    ("NVIDIA L4", 22.0, "gpu"),               # 22 GiB: above the T4-class bound
])
def test_auto_picks_t4_on_t4_class_gpus(monkeypatch, name, gib, expected):
    monkeypatch.delenv(presets.ENV_VAR, raising=False)
    _fake_cuda(monkeypatch, name, gib)
    assert resolve_preset_name("auto") == expected
    assert resolve_preset_name(None) == expected
    assert presets.get_preset("auto") is PRESETS[expected]


def test_auto_without_cuda_is_cpu_and_explicit_name_wins(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_preset_name("auto") == "cpu"
    _fake_cuda(monkeypatch, "Tesla T4", 14.7)
    assert resolve_preset_name("gpu") == "gpu" and resolve_preset_name("t4") == "t4"


def test_t4_preset_changes_sizes_only():
    t4, gpu = PRESETS["t4"], PRESETS["gpu"]
    assert t4.num_images == 50_000 and t4.steps % t4.checkpoint_every == 0
    assert t4.net.channels < gpu.net.channels and t4.steps < gpu.steps
    assert set(t4.__dataclass_fields__) == set(gpu.__dataclass_fields__)


def test_every_cifar10_lab_fits_one_hour_on_a_t4():
    rows = t4_lab_estimates()
    labs = {p.stem for p in (ROOT / "labs").glob("*cifar10*.ipynb")} | {"design_a_schedule"}
    assert {r["lab"] for r in rows} == labs
    for r in rows:
        # the arithmetic, redone here from its parts
        total = r["flops_per_image"] * (r["batch_size"] * r["steps"] * r["runs"]) + r["sample_flops"]
        assert r["hours"] == pytest.approx(total / (T4_PEAK_FLOPS * 0.20) / 3600, rel=1e-12)
        assert 0.2 < r["hours"] <= 1.0, r
        # big enough to show an effect: >= 4 runs, several epochs of all images
        assert r["runs"] >= 4 and r["steps"] * r["batch_size"] >= 5 * 50_000


def test_flop_count_scales_with_resolution_and_width():
    net = PRESETS["t4"].net
    f32, f64 = train_flops_per_image(net, 32), train_flops_per_image(net, 64)
    assert 3.0 < f64 / f32 < 4.5  # convolutions scale as pixels (4x); attention at 16x16 of 32 moves to 32x32
    # the gpu preset's DDPM net: 37.3 GFLOP per image (forward + backward), as the module docstring states
    assert train_flops_per_image(PRESETS["gpu"].net, 32) / 1e9 == pytest.approx(37.3, abs=0.05)


def test_estimate_markdown_shows_the_arithmetic():
    text = t4_estimate_markdown("weighting_cifar10")
    row = t4_lab_estimates()[[p.lab for p in T4_LAB_PLANS].index("weighting_cifar10")]
    assert f"{row['hours']:.2f}" in text and "65 TFLOP/s" in text and "20%" in text and "datasheet" in text
    assert text.count("\n| ") == 1 and "schedules_cifar10" not in text  # one lab row under the header
    with pytest.raises(ValueError, match="unknown lab 'nope'"):
        t4_estimate_markdown("nope")
    with pytest.raises(ValueError, match="utilisation"):
        t4_lab_estimates(utilisation=0)


# --- the labs read their t4 sizes from sched_lib.presets ----------------------------------------------------------

def _setup_namespace(lab, monkeypatch, tmp_path, preset):
    """Run a lab's provenance and setup cells (the code cells after the Colab install cell) with
    $SCHED_LIB_PRESET = preset, in an empty folder; nothing is trained."""
    nb = json.loads((ROOT / "labs" / f"{lab}.ipynb").read_text())
    code = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]
    assert "PRESETS = {" in code[2], f"{lab}: the third code cell should be the setup cell with PRESETS"
    monkeypatch.setenv(presets.ENV_VAR, preset)
    monkeypatch.chdir(tmp_path)
    ns = {}
    for source in code[1:3]:
        exec(compile(source, f"{lab} setup", "exec"), ns)  # noqa: S102 - the lab's own cells
    return ns


@pytest.mark.parametrize("lab", sorted(presets.T4_LAB_SIZES))
def test_lab_selects_t4_sizes_from_presets(lab, monkeypatch, tmp_path):
    ns = _setup_namespace(lab, monkeypatch, tmp_path, "t4")
    assert ns["PRESET"] == "t4"
    assert ns["P"] == presets.T4_LAB_SIZES[lab]
    # the other presets keep the same keys: a preset changes sizes only
    assert all(set(v) == set(ns["PRESETS"]["t4"]) for v in ns["PRESETS"].values()), lab
    plan = next(p for p in T4_LAB_PLANS if p.lab == lab)
    steps = ns["P"]["steps"]
    assert (steps[-1] if isinstance(steps, tuple) else steps) == plan.steps
    assert ns["P"]["batch_size"] == plan.batch_size


def test_t4_sizes_are_copies_and_unknown_labs_fail():
    sizes = presets.t4_lab_sizes("weighting_cifar10")
    sizes["steps"] = (1,)
    assert presets.T4_LAB_SIZES["weighting_cifar10"]["steps"][-1] == 6_000
    with pytest.raises(ValueError, match="unknown lab 'nope'"):
        presets.t4_lab_sizes("nope")


def test_t4_plans_count_what_the_sizes_sample():
    s = presets.T4_LAB_SIZES["schedules_cifar10"]
    plan = {p.lab: p for p in T4_LAB_PLANS}
    assert plan["schedules_cifar10"].sample_evals == s["n_samples"] * (s["quality_steps"] * len(s["steps"])
                                                                       + sum(s["sampling_steps"]))
    r = presets.T4_LAB_SIZES["resolution_cifar10"]
    assert plan["resolution_cifar10"].image_size == 64 and plan["resolution_cifar10"].batch_size == r["batch_size"]


def test_t4_estimate_table_and_fid_floor():
    table = presets.t4_estimate_table("design_a_schedule")
    row = next(r for r in t4_lab_estimates() if r["lab"] == "design_a_schedule")
    html = table._repr_html_()
    assert f"{row['hours']:.2f}" in html and "10,000 × 128" in html and "6.5 M parameters" in html
    floor = presets.t4_fid_floor("schedules_cifar10")
    ddpm = train_flops_per_image(PRESETS["gpu"].net, 32) * 128 * 800_000
    t4 = train_flops_per_image(PRESETS["t4"].net, 32) * 128 * 6_000
    assert floor["compute_ratio"] == pytest.approx(ddpm / t4, rel=1e-12) and floor["compute_ratio"] > 100
    assert floor["images"] == 768_000 and floor["floor"] == 4.67 and floor["ddpm_fid"] == 3.17
    with pytest.raises(ValueError, match="unknown lab"):
        presets.t4_fid_floor("nope")
