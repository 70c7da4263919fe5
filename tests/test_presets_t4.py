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
