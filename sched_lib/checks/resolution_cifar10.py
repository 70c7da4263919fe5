"""Auto-checks for the exercises of the lab "Resolution" (``labs/resolution_cifar10.ipynb``).

Exercise 1 configures simple diffusion's shifted cosine schedule (Hoogeboom et al. 2023, eq. 5-6;
chapter "Schedules and Resolution") through the ``shifted_cosine`` registry entry, for images whose content
has ``d_content`` pixels a side shown at ``d``; exercise 2 brings samples back to the content resolution for
the stand-in metric. The references are the library's :func:`~sched_lib.schedules.shifted_cosine_log_snr`
and 2×2 / 4×4 average pooling evaluated here. When an answer is wrong the check says *what* is wrong
(a shift in the wrong direction, a forgotten base, subsampling instead of averaging, a float result)
without giving the answer away.
"""

from __future__ import annotations

import math

import numpy as np

from . import CheckFailed, call_answer, fail, passed

__all__ = ["check_shift_params", "check_to_content_resolution", "CheckFailed"]

_T = 1000
_CASES = ((64, 32), (128, 32), (128, 64), (256, 64), (32, 32))


def _log_snr(params: dict) -> np.ndarray:
    from ..quantities import get_schedule_quantities
    from ..schedules import get_schedule

    return get_schedule_quantities(get_schedule("shifted_cosine", _T, **params)).log_snr


def check_shift_params(shift_params) -> None:
    """Check ``shift_params(d, d_content)``: the ``schedule_params`` of the registry schedule
    ``"shifted_cosine"`` that give simple diffusion's cosine schedule for content of ``d_content`` pixels a
    side, shown at ``d`` pixels a side (so that the d×d run is as hard as the cosine schedule at d_content)."""
    from ..schedules import schedule_params

    valid = set(schedule_params("shifted_cosine"))
    for d, dc in _CASES:
        what = f"d={d}, d_content={dc}"
        params = call_answer(shift_params, d, dc, what=what)
        if not isinstance(params, dict):
            fail(f"return a dict of schedule parameters (for get_schedule('shifted_cosine', T, **params)), got "
                 f"{type(params).__name__} on {what}")
        unknown = sorted(set(params) - valid)
        if unknown:
            fail(f"shifted_cosine has no parameter(s) {unknown}; its parameters are {sorted(valid)}")
        try:
            lam = _log_snr(params)
        except ValueError as err:
            fail(f"get_schedule('shifted_cosine', {_T}, **params) refused your parameters on {what}: {err}")
        reference = _log_snr({"d": dc, "base": dc})          # the unshifted cosine at the content resolution
        shift = lam - reference
        want = 2 * math.log(dc / d)
        finite = np.isfinite(shift)
        if not finite.all() or np.ptp(shift[finite]) > 1e-6:
            fail(f"on {what} your schedule is not the content resolution's cosine moved by a constant: change "
                 "only where the curve sits, not its interval [log_snr_min, log_snr_max]")
        got = float(np.mean(shift))
        if abs(got - want) < 1e-9:
            continue
        if abs(got + want) < 1e-9 and want != 0:
            fail(f"on {what} your shift goes the wrong way: the larger image must be noisier (a lower log-SNR at "
                 "every t), not cleaner")
        if abs(got - 2 * math.log(64 / d)) < 1e-9:
            fail(f"on {what} your schedule is shifted relative to 64×64, the paper's default base; the content "
                 "here has another resolution: tell the schedule what its base is")
        if abs(got - want / 2) < 1e-9:
            fail(f"on {what} your shift is half the right size: SNR scales with the square of the side ratio")
        fail(f"on {what} your schedule lies {got:+.3f} from the content resolution's cosine; that is not the "
             "simple diffusion shift")
    passed("these parameters give simple diffusion's shift 2 log(d_content/d) for every case tried.")


def _pool(images: np.ndarray, s: int) -> np.ndarray:
    n, h, w, c = images.shape
    return images.astype(np.float64).reshape(n, h // s, s, w // s, s, c).mean(axis=(2, 4))


def check_to_content_resolution(to_content_resolution) -> None:
    """Check ``to_content_resolution(images, size)``: uint8 (N, d, d, 3) images → uint8 (N, size, size, 3) by
    averaging every (d/size)×(d/size) block, rounded to the nearest integer."""
    rng = np.random.default_rng(5)
    for d, size in ((64, 32), (128, 32), (32, 32)):
        what = f"{d}×{d} → {size}×{size}"
        images = rng.integers(0, 256, size=(3, d, d, 3), dtype=np.uint8)
        out = call_answer(to_content_resolution, images.copy(), size, what=what)
        out_arr = np.asarray(out)
        if out_arr.shape != (3, size, size, 3):
            fail(f"on {what} the result should have shape (3, {size}, {size}, 3) (channels last, like the input), "
                 f"got {out_arr.shape}")
        if out_arr.dtype != np.uint8:
            fail(f"on {what} return uint8 images (0-255), as the metric expects; got dtype {out_arr.dtype}")
        s = d // size
        mean = _pool(images, s)
        if np.array_equal(out_arr, images[:, ::s, ::s, :]) and s > 1:
            fail(f"on {what} you kept one pixel of every block: average the block instead (on a sample, "
                 "subsampling keeps the noise the block average removes)")
        if np.array_equal(out_arr, np.floor(mean).astype(np.uint8)) and not np.array_equal(
                out_arr, np.rint(mean).astype(np.uint8)):
            fail(f"on {what} the values are truncated: round to the nearest integer instead")
        if np.abs(out_arr.astype(np.float64) - mean).max() > 0.5 + 1e-9:
            fail(f"on {what} some pixels are not the mean of their {s}×{s} block (largest difference "
                 f"{np.abs(out_arr.astype(np.float64) - mean).max():.1f})")
    # On an upsampled image the answer must give back the original exactly.
    small = rng.integers(0, 256, size=(2, 32, 32, 3), dtype=np.uint8)
    up = small.repeat(2, axis=1).repeat(2, axis=2)
    if not np.array_equal(np.asarray(call_answer(to_content_resolution, up, 32, what="an upsampled image")), small):
        fail("an image upsampled by repeating pixels must come back exactly as it was")
    passed("block averages, rounded, uint8; an upsampled image comes back unchanged.")
