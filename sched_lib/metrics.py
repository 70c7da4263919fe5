"""Sample-quality metrics: the Fréchet distance, real FID (online), and an offline stand-in.

The Fréchet (2-Wasserstein) distance between two Gaussians N(μ1, Σ1) and N(μ2, Σ2) is

    d² = ‖μ1 − μ2‖² + Tr(Σ1 + Σ2 − 2 (Σ1 Σ2)^{1/2})

(Dowson & Landau 1982, "The Fréchet distance between multivariate normal distributions",
J. Multivariate Anal. 12(3); used as FID by Heusel et al. 2017, "GANs trained by a two
time-scale update rule converge to a local Nash equilibrium", NeurIPS, with Inception-v3
features). Two ways to get features:

* ``"fid"``: real FID, computed by the maintained library torch-fidelity (Obukhov et al.) from
  Inception-v3 pool3 features (:func:`fid_torch_fidelity`). It is an optional extra and needs the
  Inception weights, which it downloads on first use (Colab or any online machine). Report the
  number of samples with it ("FID-10k").
* ``"fd_randconv"``: **not FID**. The Fréchet distance in the features of a small fixed random
  convolutional network (:func:`randconv_features`). It runs offline in seconds on a CPU and is
  deterministic, so the CPU labs and CI can rank samples; its values are on a different scale
  from FID and must never be reported as FID.

:func:`evaluate` is the front door; it returns a :class:`Score` that carries its metric's name
and label, so the stand-in cannot be mistaken for FID in a results table. DESIGN.md, "Metrics".
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F

__all__ = [
    "METRICS",
    "METRIC_LABELS",
    "RANDCONV_DIM",
    "Score",
    "evaluate",
    "fd_randconv",
    "feature_statistics",
    "fid_torch_fidelity",
    "frechet_distance",
    "randconv_features",
]

#: Metric names accepted by :func:`evaluate`.
METRICS = ("fd_randconv", "fid")
#: Human-readable label of each metric, for tables and plot axes.
METRIC_LABELS = {
    "fd_randconv": "Fréchet distance in random-conv features (not FID)",
    "fid": "FID (Inception-v3 features, torch-fidelity)",
}

# Relative tolerances for accepting a covariance matrix (see frechet_distance).
_SYM_RTOL = 1e-5
_PSD_RTOL = 1e-5


# --------------------------------------------------------------------------------------------
# The Fréchet distance
# --------------------------------------------------------------------------------------------


def _as_mean(mu, name: str) -> np.ndarray:
    mu = np.asarray(mu, dtype=np.float64)
    if mu.ndim != 1 or mu.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D mean vector, got shape {mu.shape}")
    if not np.all(np.isfinite(mu)):
        raise ValueError(f"{name} contains NaN or inf")
    return mu


def _as_cov(sigma, d: int, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate a covariance and return it symmetrised with its (clamped) eigendecomposition."""
    sigma = np.asarray(sigma, dtype=np.float64)
    if sigma.shape != (d, d):
        raise ValueError(f"{name} must have shape ({d}, {d}) to match the mean, got {sigma.shape}")
    if not np.all(np.isfinite(sigma)):
        raise ValueError(f"{name} contains NaN or inf")
    scale = max(float(np.max(np.abs(sigma))), np.finfo(np.float64).tiny)
    asym = float(np.max(np.abs(sigma - sigma.T)))
    if asym > _SYM_RTOL * scale:
        raise ValueError(
            f"{name} must be symmetric (a covariance); max |Σ − Σᵀ| = {asym:.3g} "
            f"exceeds {_SYM_RTOL} × max |Σ|"
        )
    sigma = 0.5 * (sigma + sigma.T)
    w, v = np.linalg.eigh(sigma)
    if w[0] < -_PSD_RTOL * max(w[-1], 0.0) - np.finfo(np.float64).tiny:
        raise ValueError(
            f"{name} must be positive semi-definite (a covariance); its smallest eigenvalue "
            f"{w[0]:.3g} is below −{_PSD_RTOL} × the largest ({w[-1]:.3g})"
        )
    return sigma, np.clip(w, 0.0, None), v


def _drop_rounding_eigenvalues(w: np.ndarray) -> np.ndarray:
    """Eigenvalues of a symmetric PSD matrix with those of rounding size set to exactly zero.

    ``eigh`` is backward stable: each computed eigenvalue is within about ``d · eps · λ_max`` of an
    eigenvalue of the matrix (Golub & Van Loan, *Matrix Computations*, 4th ed., Thm. 8.1.6 and
    §8.4), so an eigenvalue below that bound cannot be told apart from zero. Zero ones matter: for a
    singular covariance, √ of a rounding-size eigenvalue ``δ ≈ 1e-16 · λ_max`` is ``1e-8 · √λ_max``,
    and that noise, different for Σ1 and Σ2 and for each BLAS, would make d(1, 2) ≠ d(2, 1) at
    the 1e-9 level. Dropping them leaves the distance exact for the rank-revealed matrices.
    """
    w = np.clip(w, 0.0, None)
    tol = w.size * np.finfo(np.float64).eps * (float(w.max()) if w.size else 0.0)
    return np.where(w > tol, w, 0.0)


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """Squared Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2).

    ``d² = ‖μ1 − μ2‖² + Tr Σ1 + Tr Σ2 − 2 Tr (Σ1 Σ2)^{1/2}`` (Dowson & Landau 1982; the FID of
    Heusel et al. 2017 is this formula on Inception features). Computed in float64 with NumPy
    only, through the symmetric form ``Tr (Σ1 Σ2)^{1/2} = Tr (√Σ1 Σ2 √Σ1)^{1/2}`` (the two
    matrices are similar, so they share their non-negative eigenvalues): two ``eigh`` calls
    instead of a general matrix square root, with no complex round-off to discard. Eigenvalues
    of rounding size (below ``d · eps · λ_max``, negative ones included) are set to zero before
    each square root (:func:`_drop_rounding_eigenvalues`), so singular covariances give the
    same distance in either order; a final value of rounding size below zero is clamped to zero.

    Args:
        mu1, mu2: means, shape (d,).
        sigma1, sigma2: covariances, shape (d, d), symmetric positive semi-definite (asymmetry or
            negative eigenvalues beyond a relative 1e-5 are rejected).

    Returns:
        The squared distance (the quantity FID reports), a Python float >= 0.

    Raises:
        ValueError: shapes that do not match, NaN/inf, a non-symmetric or non-PSD covariance.
    """
    mu1 = _as_mean(mu1, "mu1")
    mu2 = _as_mean(mu2, "mu2")
    if mu1.shape != mu2.shape:
        raise ValueError(f"mu1 and mu2 must have the same shape, got {mu1.shape} and {mu2.shape}")
    d = mu1.size
    s1, w1, v1 = _as_cov(sigma1, d, "sigma1")
    s2, _, _ = _as_cov(sigma2, d, "sigma2")
    root1 = (v1 * np.sqrt(_drop_rounding_eigenvalues(w1))) @ v1.T  # √Σ1
    m = root1 @ s2 @ root1
    m = 0.5 * (m + m.T)
    tr_sqrt = float(np.sum(np.sqrt(_drop_rounding_eigenvalues(np.linalg.eigvalsh(m)))))
    diff = mu1 - mu2
    value = float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * tr_sqrt)
    return max(value, 0.0)


def feature_statistics(features) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of a feature matrix, in float64, for :func:`frechet_distance`.

    Args:
        features: array or tensor, shape (n, d) with n >= 2 rows (samples) and d columns.

    Returns:
        ``(mu, sigma)``: float64 arrays of shape (d,) and (d, d); ``sigma`` is the unbiased
        sample covariance (divides by n − 1), as in the reference FID code.
    """
    if isinstance(features, torch.Tensor):
        features = features.detach().cpu().numpy()
    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2 or f.shape[0] < 2 or f.shape[1] < 1:
        raise ValueError(f"features must have shape (n, d) with n >= 2 and d >= 1, got {f.shape}")
    if not np.all(np.isfinite(f)):
        raise ValueError("features contain NaN or inf")
    return f.mean(axis=0), np.cov(f, rowvar=False).reshape(f.shape[1], f.shape[1])


# --------------------------------------------------------------------------------------------
# The offline stand-in: random-conv features (NOT FID)
# --------------------------------------------------------------------------------------------

#: Seed of the stand-in's weights. Frozen: recorded lab results depend on it.
_RANDCONV_SEED = 20240601
#: Output channels of the three conv layers. Frozen, like the seed.
_RANDCONV_WIDTHS = (16, 32, 64)
#: Floor added to each mean energy before the log (images are on the [0, 1] scale).
_RANDCONV_EPS = 1e-6
#: Scale applied to the colour statistics so they weigh about as much as the log-energies.
_COLOUR_SCALE = 4.0
#: Feature dimension of :func:`randconv_features`: 3 means + 3 stds + one per conv channel.
RANDCONV_DIM = 6 + sum(_RANDCONV_WIDTHS)
#: Smallest image side the three valid 3×3 convs and two 2×2 pools accept.
_MIN_SIDE = 18


@functools.lru_cache(maxsize=1)
def _randconv_weights() -> tuple[torch.Tensor, ...]:
    """The stand-in's fixed filters, float32, drawn from NumPy's legacy ``RandomState``.

    ``RandomState`` is NumPy's frozen stream (NEP 19 guarantees its values across versions),
    so the filters are identical on every machine and every NumPy/PyTorch version; PyTorch's
    own initialisers make no such promise. Each filter is a standard normal 3×3 kernel with its
    mean over each input channel's 3×3 window removed (so it ignores flat regions and responds
    to edges and texture, not to brightness) and is scaled to unit L2 norm.
    """
    rs = np.random.RandomState(_RANDCONV_SEED)
    weights, c_in = [], 3
    for c_out in _RANDCONV_WIDTHS:
        w = rs.standard_normal((c_out, c_in, 3, 3))
        w -= w.mean(axis=(2, 3), keepdims=True)
        w /= np.sqrt(np.sum(w * w, axis=(1, 2, 3), keepdims=True))
        weights.append(torch.from_numpy(w.astype(np.float32)))
        c_in = c_out
    return tuple(weights)


def _check_images(images, name: str) -> np.ndarray | torch.Tensor:
    """Validate a batch of uint8 RGB images in channels-last (N, H, W, 3) layout."""
    if isinstance(images, torch.Tensor):
        dtype_ok = images.dtype == torch.uint8
        dtype = images.dtype
    else:
        images = np.asarray(images)
        dtype_ok = images.dtype == np.uint8
        dtype = images.dtype
    if not dtype_ok:
        raise ValueError(
            f"{name} must be uint8 images (0-255), got dtype {dtype}; convert model outputs in "
            "[-1, 1] with sched_lib.data.from_tensor"
        )
    shape = tuple(images.shape)
    if len(shape) != 4 or shape[-1] != 3:
        raise ValueError(f"{name} must have shape (N, H, W, 3) (channels last, RGB), got {shape}")
    if shape[0] < 2:
        raise ValueError(
            f"{name} must hold at least 2 images to estimate a covariance, got {shape[0]}"
        )
    if min(shape[1], shape[2]) < _MIN_SIDE:
        raise ValueError(
            f"{name} images must be at least {_MIN_SIDE}×{_MIN_SIDE}, got {shape[1:3]}"
        )
    return images


def randconv_features(images, *, batch_size: int = 256) -> np.ndarray:
    """Features of the offline stand-in metric: a fixed random conv network (NOT Inception).

    Per image (on the [0, 1] scale, float32):

    * colour statistics: the mean and standard deviation of each RGB channel (6 numbers, × 4);
    * three conv layers with fixed random zero-mean 3×3 filters (widths 16, 32, 64; no padding),
      each followed by the modulus ``|·|`` and a 2×2 average pool before the next layer, as in
      a scattering network (Bruna & Mallat 2013) with random instead of wavelet filters; random
      conv features are a known-reasonable image representation (Jarrett et al. 2009, Saxe et
      al. 2011). From each layer's response r, per channel: ``log(mean(r²) + 1e-6)``, the
      log-energy of that filter at that scale (16 + 32 + 64 numbers).

    Why this design: the typical failures of a diffusion sampler (leftover noise, over-smoothing,
    colour shifts) change the colour statistics and the amount of detail at each scale (noise
    adds energy, blur removes it) and how these co-vary, which these 118 numbers capture
    directly; the logs put every band on a comparable, multiplicative scale (halving the detail
    moves a feature by the same amount whatever its size). It costs about 1.5 M
    multiply-adds per 32×32 image, about a second per 10,000 images on two CPU cores. It knows
    nothing about object categories, so it cannot tell a sharp but meaningless texture from a
    real object; treat it as a sanity and ranking tool, never as FID.

    Deterministic: the filters come from NumPy's frozen ``RandomState`` (see
    :func:`_randconv_weights`); float32 results agree across machines up to rounding (≈1e-6
    relative), not bit for bit.

    Args:
        images: uint8 array or tensor, shape (N, H, W, 3) with N >= 2 and H, W >= 18.
        batch_size: images per forward pass (memory and speed only; the result changes at most
            by float32 rounding).

    Returns:
        float64 array, shape (N, 118).
    """
    images = _check_images(images, "images")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    weights = _randconv_weights()
    out = []
    with torch.inference_mode():
        for start in range(0, images.shape[0], batch_size):
            chunk = images[start : start + batch_size]
            if isinstance(chunk, torch.Tensor):
                u = chunk.detach().cpu().to(torch.float32)
            else:  # a float copy: also fine for read-only arrays such as CIFAR10.images
                u = torch.from_numpy(chunk.astype(np.float32))
            x = u.permute(0, 3, 1, 2).div_(255.0)
            feats = [
                _COLOUR_SCALE * x.mean(dim=(2, 3)),
                _COLOUR_SCALE * x.std(dim=(2, 3)),
            ]
            h = x
            for i, w in enumerate(weights):
                r = F.conv2d(h, w)
                feats.append(torch.log(r.square().mean(dim=(2, 3)) + _RANDCONV_EPS))
                if i + 1 < len(weights):
                    h = F.avg_pool2d(r.abs_(), 2)
            out.append(torch.cat(feats, dim=1).to(torch.float64))
    return torch.cat(out).numpy()


def fd_randconv(samples, reference, *, batch_size: int = 256) -> float:
    """Fréchet distance between two image sets in random-conv features (NOT FID).

    ``frechet_distance`` of the :func:`feature_statistics` of :func:`randconv_features` of each
    set. Lower is closer; two disjoint halves of the CIFAR-10 test set (5,000 each) score about
    0.1, mild degradations (Gaussian noise σ = 0.05 on the [0, 1] scale) a few units; see
    ``tests/test_metrics.py``. The value depends on the number of images (the estimator is
    biased upwards for small sets), so compare only numbers computed on equal-sized sets.

    Args:
        samples, reference: uint8 arrays or tensors, shape (N, H, W, 3), same H and W.

    Returns:
        A float >= 0.
    """
    samples = _check_images(samples, "samples")
    reference = _check_images(reference, "reference")
    _check_same_size(samples, reference)
    s = feature_statistics(randconv_features(samples, batch_size=batch_size))
    r = feature_statistics(randconv_features(reference, batch_size=batch_size))
    return frechet_distance(*s, *r)


def _check_same_size(samples, reference) -> None:
    if tuple(samples.shape[1:]) != tuple(reference.shape[1:]):
        raise ValueError(
            "samples and reference must have the same image size, got "
            f"{tuple(samples.shape[1:])} and {tuple(reference.shape[1:])}"
        )


# --------------------------------------------------------------------------------------------
# Real FID through torch-fidelity (optional, online)
# --------------------------------------------------------------------------------------------

_FID_OFFLINE_HINT = (
    "Offline, use sched_lib.metrics.evaluate(..., metric='fd_randconv'), a stand-in that is "
    "NOT FID and must not be reported as FID."
)


class _UInt8Images(torch.utils.data.Dataset):
    """Dataset view of uint8 NHWC images as the uint8 (3, H, W) tensors torch-fidelity expects."""

    def __init__(self, images):
        self.images = images

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def __getitem__(self, i: int) -> torch.Tensor:
        img = self.images[i]
        t = img.detach().cpu() if isinstance(img, torch.Tensor) else torch.from_numpy(np.array(img))
        return t.permute(2, 0, 1).contiguous()


def fid_torch_fidelity(
    samples,
    reference,
    *,
    batch_size: int = 64,
    cuda: bool | None = None,
    weights_path: str | None = None,
    verbose: bool = False,
) -> float:
    """FID between two uint8 image sets, computed by torch-fidelity (Inception-v3 features).

    Heusel et al. (2017); torch-fidelity's ``inception-v3-compat`` extractor reproduces the
    original TensorFlow FID. Requires the optional package ``torch-fidelity``
    (``pip install torch-fidelity``), which downloads the Inception weights on first use unless
    ``weights_path`` points to a local copy. Report the sample count with the value ("FID-10k"
    for 10,000 samples); FID is biased upwards for small sets.

    Args:
        samples, reference: uint8 arrays or tensors, shape (N, H, W, 3), N >= 2, same H and W
            (torch-fidelity resizes to 299×299 internally).
        batch_size: images per Inception forward pass.
        cuda: run on the GPU; default: when CUDA is available.
        weights_path: optional local path of torch-fidelity's Inception weights.
        verbose: let torch-fidelity print progress.

    Returns:
        The FID, a float.

    Raises:
        RuntimeError: torch-fidelity is not installed (or fails to import), or it cannot compute
            FID (typically because the Inception weights cannot be downloaded). The message
            points to the offline stand-in ``"fd_randconv"``.
    """
    samples = _check_images(samples, "samples")
    reference = _check_images(reference, "reference")
    _check_same_size(samples, reference)
    try:
        import torch_fidelity
    except Exception as exc:  # ImportError, or a broken torchvision underneath it
        raise RuntimeError(
            "metric 'fid' needs the optional package torch-fidelity, which is not available "
            f"({type(exc).__name__}: {exc}). Install it with `pip install torch-fidelity`; on "
            "first use it downloads the Inception-v3 weights, so it needs internet once. "
            + _FID_OFFLINE_HINT
        ) from exc
    kwargs = dict(
        input1=_UInt8Images(samples),
        input2=_UInt8Images(reference),
        fid=True,
        cuda=torch.cuda.is_available() if cuda is None else bool(cuda),
        batch_size=int(batch_size),
        verbose=bool(verbose),
        cache=False,
        save_cpu_ram=True,
    )
    if weights_path is not None:
        kwargs["feature_extractor_weights_path"] = str(weights_path)
    try:
        result = torch_fidelity.calculate_metrics(**kwargs)
    except (OSError, RuntimeError) as exc:  # URLError is an OSError
        raise RuntimeError(
            f"torch-fidelity could not compute FID ({type(exc).__name__}: {exc}). Offline, the "
            "usual cause is that the Inception-v3 weights cannot be downloaded; pass "
            "weights_path=... to a local copy. " + _FID_OFFLINE_HINT
        ) from exc
    key = getattr(torch_fidelity, "KEY_METRIC_FID", "frechet_inception_distance")
    value = float(result[key])
    if not np.isfinite(value):
        raise RuntimeError(f"torch-fidelity returned a non-finite FID ({value})")
    return value


# --------------------------------------------------------------------------------------------
# Front door
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Score:
    """A metric value that carries its name, so that the stand-in is never mistaken for FID.

    Attributes:
        metric: ``"fd_randconv"`` or ``"fid"``.
        value: the number (lower is better for both).
        n_samples, n_reference: image counts; report them (for example "FID-10k").
        label: human-readable name, e.g. "Fréchet distance in random-conv features (not FID)".

    ``float(score)`` gives the value, ``f"{score:.2f}"`` formats it, ``as_dict()`` gives a
    JSON-ready dict for ``labs/results/``.
    """

    metric: str
    value: float
    n_samples: int
    n_reference: int
    label: str

    def __float__(self) -> float:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec) if spec else str(self)

    def __str__(self) -> str:
        return f"{self.label}: {self.value:.4g} ({self.n_samples} vs {self.n_reference} images)"

    def as_dict(self) -> dict:
        return asdict(self)


def evaluate(samples_uint8, reference_uint8, metric: str = "fd_randconv", **kwargs) -> Score:
    """Score generated images against reference images with a named metric.

    Args:
        samples_uint8, reference_uint8: uint8 arrays or tensors, shape (N, H, W, 3), same H, W
            (use :func:`sched_lib.data.from_tensor` on model outputs in [-1, 1]).
        metric: ``"fd_randconv"`` (offline stand-in, NOT FID: :func:`fd_randconv`) or ``"fid"``
            (real FID via torch-fidelity: :func:`fid_torch_fidelity`).
        **kwargs: passed to the metric's function (e.g. ``batch_size``, ``cuda``).

    Returns:
        A :class:`Score`.

    Raises:
        ValueError: an unknown metric (the message lists :data:`METRICS`) or bad images.
        RuntimeError: ``"fid"`` without torch-fidelity or its weights.
    """
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; valid metrics are {METRICS}")
    samples = _check_images(samples_uint8, "samples_uint8")
    reference = _check_images(reference_uint8, "reference_uint8")
    fn = fd_randconv if metric == "fd_randconv" else fid_torch_fidelity
    value = fn(samples, reference, **kwargs)
    return Score(
        metric=metric,
        value=float(value),
        n_samples=int(samples.shape[0]),
        n_reference=int(reference.shape[0]),
        label=METRIC_LABELS[metric],
    )
