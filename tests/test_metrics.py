"""Tests for sched_lib.metrics: the Fréchet distance, the offline stand-in, the FID front door.

The Fréchet distance is checked against an independent computation with ``scipy.linalg.sqrtm``
(scipy is a test-only dependency) and against closed forms. The stand-in ``fd_randconv`` is
checked on the real CIFAR-10 test set from ``../shared/data/cifar10``: two disjoint halves of
5,000 images each, and degraded copies of 2,000 images of the second half (see N_DEGRADED).
"""

from __future__ import annotations

import sys
import types
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import linalg, ndimage

from sched_lib import metrics
from sched_lib.data import load_cifar10, load_sample_images

SHARED_CIFAR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "cifar10"
needs_cifar = pytest.mark.skipif(
    not (SHARED_CIFAR / "cifar10_test.npz").is_file(),
    reason=f"real CIFAR-10 not found at {SHARED_CIFAR} (the ../shared folder beside the repo)",
)


# --------------------------------------------------------------------------------------------
# Fréchet distance
# --------------------------------------------------------------------------------------------


def _random_gaussian(rng, d, rank=None):
    g = rng.standard_normal((d, rank or d))
    sigma = g @ g.T / d
    if rank is None:
        sigma += 0.1 * np.eye(d)
    return rng.standard_normal(d), sigma


def _scipy_fd(mu1, s1, mu2, s2):
    """Independent reference: the textbook formula with scipy's general matrix square root."""
    covmean = linalg.sqrtm(s1 @ s2)
    covmean = np.real(covmean)
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * np.trace(covmean))


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), d=st.integers(1, 24))
def test_frechet_matches_scipy_sqrtm(seed, d):
    rng = np.random.default_rng(seed)
    mu1, s1 = _random_gaussian(rng, d)
    mu2, s2 = _random_gaussian(rng, d)
    ours = metrics.frechet_distance(mu1, s1, mu2, s2)
    ref = _scipy_fd(mu1, s1, mu2, s2)
    scale = np.trace(s1) + np.trace(s2) + np.sum((mu1 - mu2) ** 2)
    assert abs(ours - ref) <= 1e-9 * scale
    assert isinstance(ours, float)


def test_frechet_matches_scipy_on_feature_sized_problem():
    rng = np.random.default_rng(1)
    f1 = rng.standard_normal((1000, 64)) @ rng.standard_normal((64, 64))
    f2 = 0.9 * rng.standard_normal((1000, 64)) @ rng.standard_normal((64, 64)) + 0.3
    s1 = metrics.feature_statistics(f1)
    s2 = metrics.feature_statistics(f2)
    np.testing.assert_allclose(metrics.frechet_distance(*s1, *s2), _scipy_fd(*s1, *s2), rtol=1e-9)


def test_frechet_closed_forms():
    # 1-D: (m1 - m2)^2 + (s1 - s2)^2 with standard deviations s.
    assert metrics.frechet_distance([1.0], [[4.0]], [-2.0], [[9.0]]) == pytest.approx(9.0 + 1.0)
    # Diagonal covariances: sum of (sqrt a - sqrt b)^2.
    a, b = np.array([1.0, 4.0, 0.25]), np.array([9.0, 1.0, 0.0])
    expected = np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    got = metrics.frechet_distance(np.zeros(3), np.diag(a), np.zeros(3), np.diag(b))
    assert got == pytest.approx(expected, rel=1e-12)


def test_frechet_zero_for_identical_and_symmetric():
    rng = np.random.default_rng(0)
    for rank in (None, 3):  # full rank and singular (rank 3 of 10)
        mu1, s1 = _random_gaussian(rng, 10, rank)
        mu2, s2 = _random_gaussian(rng, 10, rank)
        assert metrics.frechet_distance(mu1, s1, mu1, s1) == pytest.approx(
            0.0, abs=1e-6 * np.trace(s1)
        )
        d12 = metrics.frechet_distance(mu1, s1, mu2, s2)
        d21 = metrics.frechet_distance(mu2, s2, mu1, s1)
        assert d12 > 0
        assert d12 == pytest.approx(d21, rel=1e-9)


@pytest.mark.parametrize("d, rank", [(10, 3), (64, 5), (32, 31), (10, None)])
def test_frechet_symmetric_for_singular_covariances(d, rank):
    """d(1, 2) = d(2, 1) to float64 rounding, on any BLAS: without dropping rounding-size
    eigenvalues, √ of them gave relative asymmetries up to 4e-9 over these seeds."""
    for seed in range(50):
        rng = np.random.default_rng(seed)
        mu1, s1 = _random_gaussian(rng, d, rank)
        mu2, s2 = _random_gaussian(rng, d, rank)
        d12 = metrics.frechet_distance(mu1, s1, mu2, s2)
        d21 = metrics.frechet_distance(mu2, s2, mu1, s1)
        # The result is a sum of d terms of size ~Tr Σ, each with a relative error ~ d·eps.
        assert d12 == pytest.approx(d21, rel=1e-9), seed


@pytest.mark.parametrize(
    "args, match",
    [
        (([0.0, 0.0], np.eye(2), [0.0], np.eye(1)), "mu1 and mu2"),
        (([0.0, 0.0], np.eye(3), [0.0, 0.0], np.eye(2)), "sigma1 must have shape"),
        (([[0.0, 0.0]], np.eye(2), [0.0, 0.0], np.eye(2)), "mu1 must be"),
        (([np.nan, 0.0], np.eye(2), [0.0, 0.0], np.eye(2)), "mu1 contains NaN"),
        (([0.0, 0.0], np.eye(2), [0.0, 0.0], [[1.0, np.inf], [0.0, 1.0]]), "sigma2 contains NaN"),
        (([0.0, 0.0], [[1.0, 0.5], [0.0, 1.0]], [0.0, 0.0], np.eye(2)), "sigma1 must be symmetric"),
        (([0.0, 0.0], np.eye(2), [0.0, 0.0], [[1.0, 2.0], [2.0, 1.0]]), "sigma2 must be positive"),
    ],
)
def test_frechet_rejects_bad_input(args, match):
    with pytest.raises(ValueError, match=match):
        metrics.frechet_distance(*args)


def test_feature_statistics():
    rng = np.random.default_rng(0)
    f = rng.standard_normal((50, 4)).astype(np.float32)
    mu, sigma = metrics.feature_statistics(f)
    assert mu.dtype == sigma.dtype == np.float64
    np.testing.assert_allclose(mu, f.astype(np.float64).mean(0))
    np.testing.assert_allclose(sigma, np.cov(f.astype(np.float64), rowvar=False))
    mu_t, sigma_t = metrics.feature_statistics(torch.from_numpy(f))
    np.testing.assert_array_equal(mu, mu_t)
    _, s1 = metrics.feature_statistics(f[:, :1])
    assert s1.shape == (1, 1)
    for bad in (f[:1], f[:, 0], np.full((3, 2), np.nan)):
        with pytest.raises(ValueError, match="features"):
            metrics.feature_statistics(bad)


# --------------------------------------------------------------------------------------------
# The stand-in (fd_randconv): mechanics
# --------------------------------------------------------------------------------------------


def test_randconv_features_shape_determinism_and_frozen_values():
    imgs = load_sample_images().images
    f = metrics.randconv_features(imgs)
    assert f.shape == (40, metrics.RANDCONV_DIM) == (40, 118)
    assert f.dtype == np.float64 and np.all(np.isfinite(f))
    np.testing.assert_array_equal(f, metrics.randconv_features(imgs))
    np.testing.assert_allclose(
        f, metrics.randconv_features(imgs, batch_size=7), rtol=1e-5, atol=1e-5
    )
    np.testing.assert_allclose(f, metrics.randconv_features(torch.from_numpy(imgs.copy())), rtol=0)
    # The extractor is frozen (recorded lab results depend on it): pin a few values.
    np.testing.assert_allclose(
        [f[:, :6].mean(), f[:, 6:22].mean(), f[:, 22:54].mean(), f[:, 54:].mean()],
        PINNED_GROUP_MEANS,
        rtol=1e-4,
    )


# Group means (colour, layer 1, layer 2, layer 3) of the stand-in features of the 40 packaged
# sample images, recorded when the extractor was frozen.
PINNED_GROUP_MEANS = [1.3675439, -4.8410786, -6.1060939, -7.9860834]


def test_constant_images_do_not_give_nan():
    flat = np.full((4, 32, 32, 3), 128, np.uint8)
    f = metrics.randconv_features(flat)
    assert np.all(np.isfinite(f))
    ref = load_sample_images().images
    assert np.isfinite(metrics.fd_randconv(flat, ref))


@pytest.mark.parametrize(
    "images, match",
    [
        (np.zeros((4, 32, 32, 3), np.float32), "uint8"),
        (np.zeros((4, 3, 32, 32), np.uint8), r"\(N, H, W, 3\)"),
        (np.zeros((1, 32, 32, 3), np.uint8), "at least 2"),
        (np.zeros((4, 8, 8, 3), np.uint8), "at least 18"),
    ],
)
def test_image_validation(images, match):
    with pytest.raises(ValueError, match=match):
        metrics.randconv_features(images)


def test_evaluate_front_door():
    ref = load_sample_images().images
    score = metrics.evaluate(ref[:20], ref[20:])
    assert score.metric == "fd_randconv"
    assert "not FID" in score.label and "not FID" in str(score)
    assert (score.n_samples, score.n_reference) == (20, 20)
    assert float(score) == score.value > 0
    assert f"{score:.3f}" == f"{score.value:.3f}"
    assert score.as_dict()["label"] == metrics.METRIC_LABELS["fd_randconv"]
    with pytest.raises(ValueError, match="valid metrics are.*fd_randconv.*fid"):
        metrics.evaluate(ref, ref, metric="inception_score")
    with pytest.raises(ValueError, match="same image size"):
        metrics.evaluate(ref, np.zeros((4, 24, 24, 3), np.uint8))
    with pytest.raises(ValueError, match="samples_uint8 must be uint8"):
        metrics.evaluate(ref.astype(np.float32), ref)


# --------------------------------------------------------------------------------------------
# FID through torch-fidelity
# --------------------------------------------------------------------------------------------


def test_fid_without_torch_fidelity_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch_fidelity", None)  # makes `import` raise ImportError
    ref = load_sample_images().images
    with pytest.raises(RuntimeError, match="torch-fidelity") as info:
        metrics.evaluate(ref, ref, metric="fid")
    assert "fd_randconv" in str(info.value) and "NOT FID" in str(info.value)


def test_fid_without_weights_is_a_clear_error(monkeypatch):
    fake = types.ModuleType("torch_fidelity")

    def calculate_metrics(**kwargs):
        raise urllib.error.URLError("no network")

    fake.calculate_metrics = calculate_metrics
    monkeypatch.setitem(sys.modules, "torch_fidelity", fake)
    ref = load_sample_images().images
    with pytest.raises(RuntimeError, match="weights") as info:
        metrics.fid_torch_fidelity(ref, ref, cuda=False)
    assert "fd_randconv" in str(info.value)


def test_fid_passes_uint8_chw_datasets(monkeypatch):
    seen = {}
    fake = types.ModuleType("torch_fidelity")
    fake.KEY_METRIC_FID = "frechet_inception_distance"

    def calculate_metrics(**kwargs):
        seen.update(kwargs)
        return {"frechet_inception_distance": 12.5}

    fake.calculate_metrics = calculate_metrics
    monkeypatch.setitem(sys.modules, "torch_fidelity", fake)
    ref = load_sample_images().images
    score = metrics.evaluate(ref[:10], ref, metric="fid", cuda=False, weights_path="/w.pth")
    assert score.value == 12.5 and score.metric == "fid" and "not FID" not in score.label
    assert seen["fid"] is True and seen["cuda"] is False
    assert seen["feature_extractor_weights_path"] == "/w.pth"
    assert len(seen["input1"]) == 10 and len(seen["input2"]) == 40
    item = seen["input1"][3]
    assert item.dtype == torch.uint8 and item.shape == (3, 32, 32)
    np.testing.assert_array_equal(item.permute(1, 2, 0).numpy(), ref[3])


# --------------------------------------------------------------------------------------------
# The stand-in on real CIFAR-10: halves agree, degradations are ranked
# --------------------------------------------------------------------------------------------
# Sizes: the halves are the full 5,000 + 5,000 test images. To keep this file fast on 2 busy
# cores, each degradation level is applied to the first N_DEGRADED = 2,000 images of half B
# (scored against all of half A), and the clean 2,000-image subset is level 0 of each sequence,
# so every value in a sequence has the same sample size.
#
# Recorded values (CIFAR-10 test set; half A = first 5,000 images is the reference):
#   half B (5,000) vs half A: 0.123;  clean 2,000-subset of B vs A: 0.199
#   Gaussian noise σ = 0.05, 0.1, 0.2, 0.4 (on the [0, 1] scale, clipped, rounded to uint8):
#     4.42, 22.1, 92.2, 256.7
#   box blur radius 1, 2, 3 (3×3, 5×5, 7×7 mean filter, reflected edges):
#     76.3, 300.7, 603.5

N_HALF = 5_000
N_DEGRADED = 2_000


def _noisy(images, sigma, seed=0):
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal(images.shape, np.float32)
    x = images / np.float32(255.0) + np.float32(sigma) * noise
    return np.round(np.clip(x, 0.0, 1.0) * 255.0).astype(np.uint8)


def _box_blur(images, radius):
    size = (1, 2 * radius + 1, 2 * radius + 1, 1)
    x = ndimage.uniform_filter(images.astype(np.float32), size=size, mode="reflect")
    return np.round(x).astype(np.uint8)


def _fd_to(stats, images):
    features = metrics.randconv_features(images)
    return metrics.frechet_distance(*stats, *metrics.feature_statistics(features))


@pytest.fixture(scope="module")
def halves():
    """Half A's statistics, half B, and the stand-in between the two halves (5,000 each)."""
    test = load_cifar10("test", SHARED_CIFAR)
    a, b = test.images[:N_HALF], test.images[N_HALF : 2 * N_HALF]
    stats_a = metrics.feature_statistics(metrics.randconv_features(a))
    return stats_a, b, _fd_to(stats_a, b)


@needs_cifar
def test_stand_in_halves_are_close(halves):
    stats_a, _, fd_halves = halves
    assert 0.0 < fd_halves < 0.3
    assert fd_halves < 5e-3 * np.trace(stats_a[1])  # trace of the covariance: about 55


@needs_cifar
@pytest.mark.parametrize(
    "degrade, levels",
    [(_noisy, (0.05, 0.1, 0.2, 0.4)), (_box_blur, (1, 2, 3))],
    ids=["gaussian_noise", "box_blur"],
)
def test_stand_in_worsens_monotonically(halves, degrade, levels):
    stats_a, b, fd_halves = halves
    subset = b[:N_DEGRADED]
    values = [_fd_to(stats_a, subset)] + [_fd_to(stats_a, degrade(subset, v)) for v in levels]
    print(
        f"{degrade.__name__}: halves {fd_halves:.4g}; clean subset, then levels {levels}: "
        + ", ".join(f"{v:.4g}" for v in values)
    )
    assert all(lo < hi for lo, hi in zip(values[:-1], values[1:], strict=True)), values
    assert 10.0 * fd_halves < values[1], (fd_halves, values)  # mildest degradation
    assert 10.0 * values[0] < values[1], values  # the same at equal sample size
