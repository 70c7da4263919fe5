"""Loss weights, frame conversions and training densities (chapters on the loss and its weighting)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sched_lib import get_schedule, list_schedules
from sched_lib import schedules as S
from sched_lib import weighting as W
from sched_lib.quantities import get_schedule_quantities

SNRS = np.array([0.0, 1e-9, 0.2, 1.0, 4.999, 5.0, 5.001, 1e3, 1e12, np.inf])


@pytest.mark.parametrize("frame", W.FRAMES)
def test_min_snr_is_finite_at_the_ends_and_agrees_across_frames(frame):
    w = W.min_snr_weight(SNRS, gamma=5, frame=frame)
    assert np.isfinite(w).all()
    inner = slice(1, -1)  # conversions are exact away from SNR = 0 and inf
    np.testing.assert_allclose(W.convert_weight(W.min_snr_weight(SNRS[inner], 5, "eps"), SNRS[inner], "eps", frame),
                               w[inner], rtol=1e-12)


def test_min_snr_values():
    # ε: capped at 1 (not at γ), 1 at SNR = 0; x₀: min(SNR, γ); v: min(SNR, γ)/(SNR + 1).
    np.testing.assert_allclose(W.min_snr_weight(SNRS, 5, "eps"),
                               [1, 1, 1, 1, 1, 1, 5 / 5.001, 5e-3, 5e-12, 0], rtol=1e-12)
    np.testing.assert_allclose(W.min_snr_weight(SNRS, 5, "x0"), np.minimum(SNRS, 5), rtol=1e-12)
    np.testing.assert_allclose(W.min_snr_weight(SNRS[:-1], 5, "v"), np.minimum(SNRS[:-1], 5) / (SNRS[:-1] + 1))
    assert W.min_snr_weight(np.inf, 5, "v") == 0.0
    assert W.min_snr_weight(SNRS, 5, "eps").max() == 1.0


def test_min_snr_counts_from_errata():
    # Seed errata §2.4: ε-weight below 1 only where SNR > 5: t ≤ 130 (linear), t ≤ 261 (cosine).
    for name, last in [("linear", 130), ("cosine", 261)]:
        snr = get_schedule_quantities(get_schedule(name, 1000)).snr
        below = np.flatnonzero(W.min_snr_weight(snr, 5) < 1) + 1
        assert below.max() == last and len(below) == last


def test_p2():
    snr = get_schedule_quantities(get_schedule("linear", 1000)).snr
    w = W.p2_weight(snr)
    np.testing.assert_allclose(w, 1 / (1 + snr), rtol=1e-12)
    assert abs(w[0] - 1.0e-4) < 1e-6 and abs(w[-1] - 0.99996) < 1e-5  # errata §2.4
    assert (np.diff(w) > 0).all()  # decreasing in SNR, increasing in t
    np.testing.assert_allclose(W.p2_weight(snr, k=1, gamma=0.5, frame="x0"), snr / np.sqrt(1 + snr), rtol=1e-12)


@settings(max_examples=50, deadline=None)
@given(snr=st.floats(1e-6, 1e6), w=st.floats(1e-6, 1e6), a=st.sampled_from(W.FRAMES), b=st.sampled_from(W.FRAMES))
def test_frame_conversion_roundtrip_and_definition(snr, w, a, b):
    there = W.convert_weight(w, snr, a, b)
    np.testing.assert_allclose(W.convert_weight(there, snr, b, a), w, rtol=1e-10)
    # The weighted losses agree: w_a·f_a = w_b·f_b with f_eps = SNR, f_x0 = 1, f_v = 1 + SNR.
    f = {"eps": snr, "x0": 1.0, "v": 1.0 + snr}
    np.testing.assert_allclose(there * f[b], w * f[a], rtol=1e-10)


def test_frame_factors_from_a_real_denoiser_error():
    # ‖ε−ε̂‖² = SNR‖x₀−x̂₀‖² and ‖v−v̂‖² = (1+SNR)‖x₀−x̂₀‖² for x_t = αx₀ + σε, v = αε − σx₀.
    rng = np.random.default_rng(0)
    x0, eps = rng.standard_normal(100), rng.standard_normal(100)
    ab = 0.3
    a, s = np.sqrt(ab), np.sqrt(1 - ab)
    xt = a * x0 + s * eps
    x0_hat = x0 + 0.1 * rng.standard_normal(100)
    eps_hat = (xt - a * x0_hat) / s
    v, v_hat = a * eps - s * x0, a * eps_hat - s * x0_hat
    snr = ab / (1 - ab)
    e_x0 = np.sum((x0 - x0_hat) ** 2)
    np.testing.assert_allclose(np.sum((eps - eps_hat) ** 2), snr * e_x0, rtol=1e-10)
    np.testing.assert_allclose(np.sum((v - v_hat) ** 2), (1 + snr) * e_x0, rtol=1e-10)


def test_indeterminate_conversion_is_refused():
    with pytest.raises(ValueError, match="indeterminate"):
        W.convert_weight(0.0, np.inf, "eps", "x0")


@pytest.mark.parametrize("name", list_schedules())
def test_vlb_weight_identity(name):
    # β²/(2β̃α(1−ᾱ)) = ½(SNR(t−1) − SNR(t))/SNR(t) for σ² = β̃ (Ho et al. eq. 12; VDM eq. 13).
    q = get_schedule_quantities(get_schedule(name, 1000))
    w = W.vlb_weight(q, "posterior")
    snr_prev = np.concatenate([[np.inf], q.snr[:-1]])
    ident = W.vlb_weight_from_snr(snr_prev, q.snr)
    assert w[0] == np.inf and ident[0] == np.inf
    np.testing.assert_allclose(w[1:], ident[1:], rtol=1e-6)


def test_vlb_weight_numbers_from_errata():
    lin = get_schedule_quantities(get_schedule("linear", 1000))
    cos = get_schedule_quantities(get_schedule("cosine", 1000))
    w = W.vlb_weight(lin)
    np.testing.assert_allclose([w[1], w[-1]], [0.600, 0.0102], rtol=2e-3)
    np.testing.assert_allclose(W.vlb_weight(cos)[[1, 499]], [0.559, 0.00313], rtol=2e-3)
    np.testing.assert_allclose(W.vlb_weight(lin, "beta")[0], 1 / (2 * (1 - 1e-4)), rtol=1e-12)
    np.testing.assert_allclose(W.vlb_weight(cos, "beta")[-1], 499.5, rtol=1e-3)
    assert W.vlb_weight(lin)[1] / W.vlb_weight(lin)[-1] == pytest.approx(60, rel=0.05)
    c = W.vlb_constant_term(lin, "beta")
    assert c[0] == np.inf and (c[1:] > 0).all() and (W.vlb_constant_term(lin, "posterior")[1:] == 0).all()


def test_vlb_weight_zero_terminal_snr_is_inf_not_nan():
    q = get_schedule_quantities(get_schedule("linear", 1000, zero_terminal_snr=True))
    for variance in ("posterior", "beta"):
        w = W.vlb_weight(q, variance)
        assert not np.isnan(w).any() and w[-1] == np.inf


def test_get_weighting_registry():
    w = W.get_weighting("min_snr", gamma=5)
    np.testing.assert_allclose(w(SNRS, "v"), W.min_snr_weight(SNRS, 5, "v"))
    assert W.list_weightings() == ["uniform", "min_snr", "p2"]
    for call in (lambda: W.get_weighting("vlbx"), lambda: W.get_weighting("min_snr", k=1),
                 lambda: W.get_weighting("p2", k=-1), lambda: W.min_snr_weight(SNRS, 5, "score"),
                 lambda: W.min_snr_weight([-1.0]), lambda: W.min_snr_weight([np.nan]),
                 lambda: W.min_snr_weight(SNRS, gamma=0)):
        with pytest.raises(ValueError):
            call()


# ------------------------------------------------------------------------------------------------
# Densities
# ------------------------------------------------------------------------------------------------

def _integral(density, lo=-60, hi=60, n=240001):
    lam = np.linspace(lo, hi, n)
    return np.trapezoid(density.log_snr_density(lam), lam)


@pytest.mark.parametrize("density", [
    W.UniformTime(S.cosine_log_snr),
    W.UniformTime(lambda t: S.cosine_log_snr(t, s=0.0)),
    W.UniformTime(S.logistic_log_snr),
    W.UniformTime(lambda t: S.shifted_cosine_log_snr(t, d=256)),
    W.UniformTime(S.rectified_flow_log_snr),
    W.EDMLogNormal(), W.EDMLogNormal(0.3, 0.5), W.LogitNormalTime(), W.LogitNormalTime(0.5, 0.8),
])
def test_densities_integrate_to_one_and_match_samples(density):
    assert _integral(density) == pytest.approx(1.0, abs=2e-4)
    lam = density.sample_log_snr(200_000, rng=0)
    lam = lam[np.isfinite(lam)]
    # The empirical CDF at a few points matches the integrated density.
    for q in (-4.0, 0.0, 3.0):
        grid = np.linspace(-60, q, 120001)
        cdf = np.trapezoid(density.log_snr_density(grid), grid)
        assert np.mean(lam <= q) == pytest.approx(cdf, abs=5e-3)


def test_cosine_density_is_sech_over_two_pi():
    # Kingma & Gao 2023: for ᾱ = cos²(πt/2), p(λ) = sech(λ/2)/(2π) under uniform t.
    lam = np.linspace(-20, 20, 81)
    p = W.UniformTime(lambda t: S.cosine_log_snr(t, s=0.0)).log_snr_density(lam)
    np.testing.assert_allclose(p, 1 / (2 * np.pi * np.cosh(lam / 2)), rtol=1e-6)


def test_logistic_density_is_uniform():
    p = W.UniformTime(S.logistic_log_snr).log_snr_density(np.array([-12, -9.0, 0.0, 9.0, 12]))
    np.testing.assert_allclose(p, [0, 1 / 20, 1 / 20, 1 / 20, 0], rtol=1e-6)


def test_density_parameters_are_validated():
    for call in (lambda: W.EDMLogNormal(p_std=0), lambda: W.LogitNormalTime(scale=-1),
                 lambda: W.EDMLogNormal(p_mean=np.nan), lambda: W.EDMLogNormal().sample(0),
                 lambda: W.LogitNormalTime().sample(5, rng="x"), lambda: W.UniformTime("cosine"),
                 lambda: W.UniformTime(lambda t: t), lambda: W.UniformTime(lambda t: 0.0)):
        with pytest.raises(ValueError):
            call()
