"""Auto-checks for the exercises of chapter "Every Weighting Is an ELBO".

Each check evaluates the reader's function on several inputs, compares with the closed form and names
the kind of mistake (a missing minus sign, the weight instead of its derivative, a bias with the wrong sign,
a density that is not normalised, s for s², the EDM weight left out, ...) without printing the right numbers.
"""

from __future__ import annotations

import numpy as np

from ..elbo import edm2_optimal_log_variance
from ..weighting import sigmoid_weight
from . import as_array, call_answer, fail, passed

__all__ = ["check_augmentation_density", "check_edm2_log_variance", "check_vdm_density"]


def _values(fn, *args, shape, what):
    return as_array(call_answer(fn, *args, what=what), f"your answer on {what}", shape,
                    nan_hint="look for inf/inf or 0·inf (exp of a large number?)")


def _close(a, b, rtol=1e-9, atol=1e-300):
    return np.allclose(a, b, rtol=rtol, atol=atol)


def check_augmentation_density(density_fn) -> None:
    """Check ``density_fn(lam, bias)``: the density of noise levels for the sigmoid weighting sigmoid(b − λ)."""
    lam = np.concatenate([np.linspace(-30.0, 30.0, 241), [-200.0, 200.0]])
    for bias in (2.0, 0.0, -3.0, 5.0):
        what = f"bias = {bias:g}"
        p = _values(density_fn, lam.copy(), bias, shape=lam.shape, what=what)
        w = sigmoid_weight(lam, bias)
        ref = w * sigmoid_weight(-lam, -bias)            # sigmoid(b − λ)·sigmoid(λ − b), full precision
        if _close(p, ref, atol=1e-15):
            continue
        if np.isinf(p).any():
            fail(f"your density is infinite somewhere on {what}; write it with sigmoid or exp(-|x|) so it "
                 "stays finite for large |λ|")
        if _close(p, -ref, atol=1e-15):
            fail("your density is negative: dw/dλ < 0 for a weight that falls with λ; the mixture density is −dw/dλ")
        if _close(p, w, atol=1e-15):
            fail("you returned the weight w(λ) itself; the density of the augmentation levels is its derivative, −dw/dλ")
        wf = sigmoid_weight(-lam, bias)
        if _close(p, wf * (1 - wf), atol=1e-15):
            fail(f"your density is centred at λ = {-bias:g} for bias {bias:g}: check the sign of the bias")
        if (p >= 0).all() and np.trapezoid(p[:241], lam[:241]) > 0 and _close(p / np.trapezoid(p[:241], lam[:241]),
                                                                            ref / np.trapezoid(ref[:241], lam[:241]),
                                                                            rtol=1e-6, atol=1e-15):
            fail("right shape, wrong scale: −dw/dλ for w = sigmoid(b − λ) already integrates to w(−inf) − w(inf) = 1")
        bad = int(np.argmax(np.abs(p - ref)))
        fail(f"your density is wrong at λ = {lam[bad]:g} for {what} (you return {p[bad]:.6g}); "
             "differentiate sigmoid(b − λ) with respect to λ")
    passed("the sigmoid weighting is the ELBO of data augmented at a noise level λ with a logistic density "
           "centred at the bias.")


def _u_star(sigma, s, sigma_data):
    weight = (sigma ** 2 + sigma_data ** 2) / (sigma * sigma_data) ** 2      # EDM's λ(σ), Karras et al. 2022
    mse = s ** 2 * sigma ** 2 / (s ** 2 + sigma ** 2)                          # E(D* − y)² per element
    return edm2_optimal_log_variance(weight, mse)


def check_edm2_log_variance(u_fn) -> None:
    """Check ``u_fn(sigma, s, sigma_data)``: EDM2's learned log-variance at its optimum for N(0, s²) data."""
    sigma = np.geomspace(1e-3, 1e3, 61)
    for s, sd in [(0.5, 0.5), (1.0, 0.5), (0.25, 0.5), (2.0, 1.0)]:
        what = f"s = {s:g}, sigma_data = {sd:g}"
        u = _values(u_fn, sigma.copy(), s, sd, shape=sigma.shape, what=what)
        ref = _u_star(sigma, s, sd)
        if _close(u, ref, rtol=1e-9, atol=1e-12):
            continue
        mse = s ** 2 * sigma ** 2 / (s ** 2 + sigma ** 2)
        if _close(u, np.log(mse), atol=1e-12):
            fail("you returned log of the denoiser's error alone: EDM2's loss multiplies that error by EDM's "
                 "weight λ(σ) before dividing by e^u")
        if _close(u, -ref, atol=1e-12) and not _close(ref, 0.0, atol=1e-12):
            fail("your u has the wrong sign: minimise λ(σ)·L·e^(−u) + u over u")
        if (np.asarray(u) > 0).all() and _close(np.log(np.asarray(u)), ref, atol=1e-12):
            fail("you returned e^u (the variance), not its log u")
        if _close(u, _u_star(sigma, np.sqrt(s), sd), atol=1e-12) or _close(u, _u_star(sigma, s ** 2, sd), atol=1e-12):
            fail("mix-up of s and s²: the data have standard deviation s and variance s²")
        bad = int(np.argmax(np.abs(u - ref)))
        fail(f"your u is wrong at sigma = {sigma[bad]:.3g} for {what} (you return {u[bad]:.6g}); the optimal "
             "denoiser's error for N(0, s²) data plus noise of std σ is s²σ²/(s² + σ²) per element")
    passed("EDM2's u(σ) learns log(λ(σ)·error), which is exactly 0 when σ_data is the data's standard deviation.")


def _vdm_density(lam, s, lo, hi):
    c = 2.0 * np.log(s)
    z = np.logaddexp(0.0, hi + c) - np.logaddexp(0.0, lo + c)   # ∫ sigmoid(λ + c) dλ = softplus difference
    return sigmoid_weight(-(lam + c)) / z                        # sigmoid(λ + c) = sigmoid_weight(−λ − c)


def check_vdm_density(density_fn) -> None:
    """Check ``density_fn(lam, s, lam_min, lam_max)``: the variance-minimising density of λ for the ELBO."""
    for s, lo, hi in [(0.5, -10.0, 10.0), (1.0, -15.0, 15.0), (0.1, -5.0, 12.0), (3.0, -20.0, 8.0)]:
        lam = np.linspace(lo, hi, 201)
        what = f"s = {s:g}, lambda in [{lo:g}, {hi:g}]"
        p = _values(density_fn, lam.copy(), s, lo, hi, shape=lam.shape, what=what)
        ref = _vdm_density(lam, s, lo, hi)
        if _close(p, ref, rtol=1e-8):
            continue
        if (p < 0).any():
            fail(f"your density is negative somewhere on {what}")
        area = np.trapezoid(p, lam)
        if area > 0 and _close(p / area, ref / np.trapezoid(ref, lam), rtol=1e-6):
            fail(f"right shape, but it integrates to {area:.4g} on {what}: normalise over [lam_min, lam_max] "
                 "(the integral of sigmoid is softplus)")
        for wrong, hint in [(_vdm_density(lam, np.sqrt(s), lo, hi), "you used s where the variance s² belongs "
                                                                     "(SNR·s² is the data's SNR)"),
                            (_vdm_density(-lam, s, -hi, -lo), "your density falls with λ: the ε-MSE of the best "
                                                              "predictor grows with λ (ε is hard to see in clean data)"),
                            (_vdm_density(lam, 1 / s, lo, hi), "check the sign of the shift: the density is "
                                                               "sigmoid(λ + log s²)")]:
            if _close(p, wrong, rtol=1e-6):
                fail(hint)
        if _close(p, np.full_like(lam, 1 / (hi - lo)), rtol=1e-6):
            fail("a uniform density in λ has the ELBO's mean but not the smallest variance; "
                 "put the samples where E[ℓ²] is large")
        bad = int(np.argmax(np.abs(p - ref)))
        fail(f"your density is wrong at λ = {lam[bad]:g} on {what} (you return {p[bad]:.6g}); it is proportional "
             "to √E[ℓ²] with ℓ the ε-error of the optimal predictor")
    passed("for isotropic Gaussian data the variance-minimising density is sigmoid(λ + log s²), normalised.")
