"""Auto-checks for the exercises of chapter "Weighting the Loss".

Each check evaluates the reader's function on several inputs (including SNR = 0 and SNR = inf),
compares with ``sched_lib`` and names the kind of mistake when the answer is wrong: a 0/0, a weight
capped at γ instead of 1, the v-frame ``min(SNR + 1, γ)`` bug, ``max`` for ``min``, a missing density,
and so on, without printing the right numbers.
"""

from __future__ import annotations

import numpy as np

from ..schedules import cosine_log_snr
from ..weighting import FRAMES, UniformTime, convert_weight, min_snr_weight
from . import as_array, call_answer, fail, passed

__all__ = ["check_min_snr", "check_p2_profile", "check_effective_weight"]

#: SNR values the Min-SNR check uses: both ends, values around each γ tested, and large ones.
_SNRS = np.array([0.0, 1e-12, 1e-4, 0.3, 1.0, 2.0, 4.0, 4.999, 5.0, 5.001, 7.0, 19.0, 20.0, 25.0,
                  1e3, 1e8, 1e200, np.inf])


def _weights(fn, snr, gamma, frame):
    """The reader's weights as a float64 array of the right shape (NaN and inf are judged later)."""
    got = call_answer(fn, snr.copy(), gamma, frame)
    try:
        w = np.asarray(got, dtype=np.float64)
    except (TypeError, ValueError):
        fail(f"return an array of numbers, got {type(got).__name__}")
    if w.shape != snr.shape:
        fail(f"return one weight per SNR value: expected shape {snr.shape}, got {w.shape}")
    return w


def _diagnose_interior(w, ref, snr, gamma, frame):
    """Name the mistake when the weights are wrong at finite, positive SNR."""
    if np.isnan(w).any():
        fail(f"frame={frame!r}: your weight is NaN at SNR = {snr[np.isnan(w)][0]:g}")
    if frame == "eps" and (w > 1 + 1e-12).any():
        if np.allclose(w, np.minimum(snr, gamma), rtol=1e-9):
            fail("in the ε frame you returned min(SNR, γ): that is the x₀-frame weight")
        fail(f"your ε-frame weight exceeds 1 (at SNR = {snr[np.argmax(w)]:g}, γ = {gamma:g}): Min-SNR clamps "
             "the SNR at γ, so the weight on the ε-MSE is capped at 1, not at γ. Check min against max too")
    if frame == "v":
        if np.allclose(w, np.minimum(snr + 1, gamma) / (snr + 1), rtol=1e-9):
            fail("your v-frame weight is min(SNR + 1, γ)/(SNR + 1), the form diffusers once shipped: it tends to 1 "
                 "as SNR → 0, but the v-MSE weight that matches min(SNR, γ) in the x₀ frame tends to 0. "
                 "Clamp the SNR, not SNR + 1")
        if np.allclose(w, np.minimum(snr, gamma) / snr, rtol=1e-9):
            fail("in the v frame you divided by SNR (the ε-frame factor); ‖v − v̂‖² is (1 + SNR)·‖x₀ − x̂₀‖²")
    if np.allclose(w, convert_weight(np.maximum(snr, gamma), snr, "x0", frame), rtol=1e-9):
        fail(f"frame={frame!r}: you clamped with max; Min-SNR takes min(SNR, γ)")
    bad = int(np.argmax(np.abs(w - ref) / np.abs(ref)))
    fail(f"frame={frame!r}, γ = {gamma:g}: your weight is wrong at SNR = {snr[bad]:g} (you return {w[bad]:.6g})")


def _check_end(w_end, ref_end, at, gamma, frame):
    """Judge the weight at SNR = 0 or SNR = inf."""
    where = "SNR = 0" if at == 0 else "SNR = inf"
    if np.isnan(w_end):
        if at == 0:
            fail(f"frame={frame!r}: your weight is NaN at SNR = 0. That is 0/0 (min(SNR, γ) = 0 divided by "
                 "SNR = 0), and it happens for real at t = T under zero terminal SNR; rewrite the weight in "
                 "an algebraically equal form that never divides 0 by 0")
        fail(f"frame={frame!r}: your weight is NaN at SNR = inf (inf/inf or 0·inf); find a form that is finite "
             "there")
    if np.isinf(w_end):
        fail(f"frame={frame!r}: your weight is infinite at {where}; every Min-SNR weight is finite")
    if not np.isclose(w_end, ref_end, rtol=1e-9, atol=1e-300):
        fail(f"frame={frame!r}, γ = {gamma:g}: your weight at {where} is {w_end:.6g}; take the limit of the "
             "formula as the SNR goes there")


def check_min_snr(min_snr_fn) -> None:
    """Check ``min_snr_fn(snr, gamma, frame)`` against Min-SNR-γ in the ε, x₀ and v frames."""
    snr = _SNRS
    inner = (snr > 0) & np.isfinite(snr)
    for gamma in (5.0, 1.0, 20.0):
        ws = {}
        for frame in FRAMES:
            w = _weights(min_snr_fn, snr, gamma, frame)
            ref = min_snr_weight(snr, gamma, frame)
            if not np.allclose(w[inner], ref[inner], rtol=1e-9, atol=0):
                _diagnose_interior(w[inner], ref[inner], snr[inner], gamma, frame)
            _check_end(w[0], ref[0], 0.0, gamma, frame)
            _check_end(w[-1], ref[-1], np.inf, gamma, frame)
            ws[frame] = w
        if not np.allclose(ws["eps"][inner] * snr[inner], ws["x0"][inner], rtol=1e-9):
            fail("your frames disagree: w_ε·SNR should equal w_x₀ at every SNR")
    passed("Min-SNR-γ is right in the ε, x₀ and v frames for γ ∈ {1, 5, 20}, and finite at SNR = 0 and inf.")


def check_p2_profile(p2_profile_fn) -> None:
    """Check ``p2_profile_fn(k, gamma) -> (w_max, snr_half)`` for P2's ε-MSE weight 1/(k + SNR)^γ."""
    for k, gamma in [(1.0, 1.0), (1.0, 0.5), (2.0, 1.0), (0.5, 2.0), (3.0, 0.25)]:
        got = call_answer(p2_profile_fn, k, gamma)
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            fail("return a pair (w_max, snr_half)")
        values = []
        for x, name in zip(got, ("w_max", "snr_half")):
            arr = as_array(x, name)
            if arr.size != 1:
                fail(f"{name} should be one number, got shape {arr.shape}")
            values.append(float(arr.reshape(())))
        w_max, snr_half = values
        ref_max, ref_half = k ** -gamma, k * (2 ** (1 / gamma) - 1)
        if not np.isclose(w_max, ref_max, rtol=1e-9):
            if np.isclose(w_max, 1.0) and not np.isclose(ref_max, 1.0):
                fail(f"w_max = 1 for k = {k:g}, γ = {gamma:g}: the largest weight depends on k; "
                     "where on the SNR axis is 1/(k + SNR)^γ largest?")
            fail(f"w_max is wrong for k = {k:g}, γ = {gamma:g}: P2's weight decreases with SNR, so its maximum "
                 "is at the smallest SNR, SNR = 0")
        if np.isclose(snr_half, ref_half, rtol=1e-9):
            continue
        if np.isclose(snr_half, k, rtol=1e-9):
            fail(f"snr_half = k for γ = {gamma:g}: the exponent γ is missing; solve (k + SNR)^γ = 2·k^γ")
        if np.isclose(snr_half, 2 ** (1 / gamma) - 1, rtol=1e-9):
            fail(f"snr_half does not scale with k (k = {k:g}); solve (k + SNR)^γ = 2·k^γ")
        if np.isclose(snr_half, k * (2 ** gamma - 1), rtol=1e-9):
            fail("the exponent is inverted: which power undoes the power γ in (k + SNR)^γ = 2·k^γ?")
        if np.isclose(snr_half, np.log(ref_half), rtol=1e-9):
            fail("you returned a log-SNR; return the SNR itself")
        fail(f"snr_half is wrong for k = {k:g}, γ = {gamma:g}: the weight there should be half of w_max")
    passed("P2's maximum 1/k^γ (at SNR = 0) and its half-weight SNR are right for five (k, γ).")


def _cosine0_density(lam):
    return UniformTime(lambda t: cosine_log_snr(t, s=0.0)).log_snr_density(lam)


def check_effective_weight(effective_weight_fn) -> None:
    """Check ``effective_weight_fn(lam)``: the ε-frame effective weight of Min-SNR-5 + cosine (s = 0).

    That is the ε-MSE weight min(1, 5/SNR) times the density p(λ) of λ under uniform t.
    """
    lam = np.linspace(-20.0, 20.0, 161)
    got = call_answer(effective_weight_fn, lam.copy())
    mine = as_array(got, "your effective weight", shape=lam.shape)
    snr = np.exp(lam)
    density = 1.0 / (2.0 * np.pi * np.cosh(lam / 2.0))
    ref = min_snr_weight(snr, 5.0, "eps") * density
    if np.allclose(mine, ref, rtol=1e-6, atol=0):
        # Also against the library's numerically inverted density (guards the closed form itself).
        np.testing.assert_allclose(ref, min_snr_weight(snr, 5.0, "eps") * _cosine0_density(lam), rtol=1e-5)
        passed("the ε-frame effective weight of Min-SNR-5 + cosine is right on λ ∈ [−20, 20].")
        return
    if (mine < 0).any():
        fail("a weight times a density can never be negative")
    ratio = mine / ref
    if np.allclose(ratio, ratio[0], rtol=1e-6):
        fail(f"the shape is right but the scale is off by a factor {ratio[0]:.4g}: p(λ) must integrate to 1 "
             "over λ (check the constant in front of sech(λ/2))")
    if np.allclose(mine, min_snr_weight(snr, 5.0, "x0") * density, rtol=1e-6):
        fail("this is the x₀-frame weight times p(λ); the exercise asks for the ε frame (divide by SNR)")
    if np.allclose(mine, min_snr_weight(snr, 5.0, "eps"), rtol=1e-6):
        fail("you returned the weight alone: the effective weight also multiplies by the density p(λ)")
    if np.allclose(mine, density, rtol=1e-6):
        fail("you returned the density alone (that is L_simple + cosine): multiply by the Min-SNR weight")
    bad = int(np.argmax(np.abs(ratio - 1)))
    fail(f"your effective weight is wrong, worst at λ = {lam[bad]:.3g} (off by a factor {ratio[bad]:.4g})")
