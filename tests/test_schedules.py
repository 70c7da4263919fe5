"""Invariants and bad-input behaviour of sched_lib.schedules (chapter "The classic schedules")."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sched_lib import schedules as S
from sched_lib.quantities import get_schedule_quantities

ALL = S.list_schedules()


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("T", [1, 2, 10, 1000, 4000])
def test_registered_schedule_invariants(name, T):
    s = S.get_schedule(name, T)
    assert s.T == T and s.betas.dtype == np.float64 and s.alpha_bar.shape == (T,)
    assert ((s.betas > 0) & (s.betas <= 1)).all()
    assert (s.alpha_bar[:-1] > 0).all() and (s.alpha_bar <= 1).all()
    assert (np.diff(np.concatenate([[1.0], s.alpha_bar])) < 0).all()  # strictly decreasing from ᾱ_0 = 1
    lam = get_schedule_quantities(s).log_snr
    assert not np.isnan(lam).any() and (np.diff(lam) < 0).all()


def test_schedule_is_frozen_and_read_only():
    s = S.get_schedule("linear", 10)
    with pytest.raises(Exception):
        s.name = "x"
    with pytest.raises(ValueError):
        s.betas[0] = 0.5
    with pytest.raises(TypeError):
        s.params["beta_min"] = 1.0
    assert dict(s.params) == {"beta_min": 1e-4, "beta_max": 0.02, "scale_to_T": False,
                              "zero_terminal_snr": False}


@settings(max_examples=60, deadline=None)
@given(name=st.sampled_from(ALL), T=st.integers(2, 3000), ztsnr=st.booleans())
def test_property_monotone_and_in_range(name, T, ztsnr):
    s = S.get_schedule(name, T, zero_terminal_snr=ztsnr)
    q = get_schedule_quantities(s)
    assert ((s.betas > 0) & (s.betas <= 1)).all()
    assert (np.diff(q.log_snr) < 0).all()
    if ztsnr:
        assert s.alpha_bar[-1] == 0 and q.snr[-1] == 0 and q.log_snr[-1] == -np.inf


@settings(max_examples=40, deadline=None)
@given(s=st.floats(0, 0.2), T=st.integers(2, 2000))
def test_cosine_chain_matches_closed_form_until_clip(s, T):
    # Nichol & Dhariwal eq. 17: the chain's ᾱ_t equals f(t/T)/f(0) wherever the 0.999 clip did not act.
    sch = S.get_schedule("cosine", T, s=s)
    closed = S.cosine_alpha_bar(np.arange(1, T + 1) / T, s)
    unclipped = np.cumsum(sch.betas >= 0.999) == 0
    np.testing.assert_allclose(sch.alpha_bar[unclipped], closed[unclipped], rtol=1e-9)


def test_cosine_log_snr_exact_form_and_correction():
    # Seed errata row 15 / D4-D5: λ = 2 log cot θ − log(1 − sin²θ₀/sin²θ); the correction is 1.56 at t=1 step.
    t = np.linspace(0.0005, 0.9995, 2001)
    lam = S.cosine_log_snr(t)
    np.testing.assert_allclose(lam, S.log_snr_from_alpha_bar(S.cosine_alpha_bar(t)), rtol=1e-9, atol=1e-9)
    s = 0.008
    theta, theta0 = (t + s) / (1 + s) * np.pi / 2, s / (1 + s) * np.pi / 2
    correction = lam - 2 * np.log(1 / np.tan(theta))
    np.testing.assert_allclose(correction, -np.log(1 - np.sin(theta0) ** 2 / np.sin(theta) ** 2), rtol=1e-9, atol=1e-11)
    one_step = S.cosine_log_snr(1e-3) - 2 * np.log(1 / np.tan((1e-3 + s) / (1 + s) * np.pi / 2))
    assert abs(one_step - 1.56) < 0.01
    assert S.cosine_log_snr(0.0) == np.inf and S.cosine_log_snr(1.0) == -np.inf
    assert S.cosine_alpha_bar(0.0) == 1.0 and S.cosine_alpha_bar(1.0) == 0.0


def test_cosine_without_clip_has_zero_terminal_snr():
    s = S.get_schedule("cosine", 1000, max_beta=1.0)
    assert s.betas[-1] == 1.0 and s.alpha_bar[-1] == 0.0
    np.testing.assert_allclose(s.betas[-2], 0.75, rtol=1e-3)  # seed errata row 12


def test_logistic_is_exactly_linear_in_log_snr():
    T = 1000
    lam = get_schedule_quantities(S.get_schedule("logistic", T, log_snr_max=3, log_snr_min=-3)).log_snr
    np.testing.assert_allclose(lam, 3 - 6 * np.arange(1, T + 1) / T, atol=1e-9)


def test_shifted_cosine_shift_is_two_log_ratio():
    t = np.linspace(0, 1, 101)
    for d in (128, 256, 512, 1024):
        diff = S.shifted_cosine_log_snr(t, d=d) - S.shifted_cosine_log_snr(t, d=64)
        np.testing.assert_allclose(diff, 2 * np.log(64 / d), atol=1e-12)


@given(t=st.floats(0.001, 0.999), shift=st.floats(0.2, 8))
def test_sd3_shift_is_a_log_snr_shift(t, shift):
    # Esser et al. 2024 §5.3.2: for rectified flow the time shift moves λ by exactly −2 log(shift).
    diff = S.rectified_flow_log_snr(t, shift) - S.rectified_flow_log_snr(t, 1.0)
    assert math.isclose(float(diff), -2 * math.log(shift), rel_tol=1e-9, abs_tol=1e-9)


def test_alpha_bar_log_snr_roundtrip():
    lam = np.array([-np.inf, -700, -40, -5, 0, 3.5, 20, np.inf])
    ab = S.alpha_bar_from_log_snr(lam)
    assert ab[0] == 0 and ab[-1] == 1 and ab[4] == 0.5
    # ᾱ keeps full relative precision for very negative λ; for large positive λ, 1 − ᾱ is limited by
    # float64 spacing near 1 (1e-16 / 2e-9 ≈ 5e-8 relative at λ = 20).
    np.testing.assert_allclose(S.log_snr_from_alpha_bar(ab[1:-1]), lam[1:-1], rtol=1e-8)


def test_betas_for_alpha_bar_and_inverse():
    fn = lambda t: S.cosine_alpha_bar(t)  # noqa: E731
    b = S.betas_for_alpha_bar(fn, 50, max_beta=1.0)
    np.testing.assert_allclose(S.betas_from_alpha_bar(S.alpha_bar_from_betas(b)), b, rtol=1e-9)


def test_rescale_zero_terminal_snr_properties():
    b = S.get_schedule("scaled_linear", 1000).betas
    r = S.rescale_zero_terminal_snr(b)
    ab0, ab1 = np.cumprod(1 - b), np.cumprod(1 - r)
    assert r[-1] == 1.0 and ab1[-1] == 0.0
    np.testing.assert_allclose(ab1[0], ab0[0], rtol=1e-12)
    # Linear in √ᾱ: the rescaled √ᾱ is an affine function of the original.
    x, y = np.sqrt(ab0), np.sqrt(ab1)
    slope = (y[0] - y[-1]) / (x[0] - x[-1])
    np.testing.assert_allclose(y, slope * (x - x[-1]), atol=1e-12)


def test_two_quadratic_forms_differ_as_errata_say():
    # Seed errata row 26: mid-chain (t = 501 of T = 1000, u = 500/999), β is 0.005085 (seed) vs 0.005742 (√-linspace "quad").
    seed, quad = S.quadratic_betas(1000)[500], S.sqrt_linear_betas(1000)[500]
    assert abs(seed - 0.005085) < 5e-7 and abs(quad - 0.005742) < 5e-7
    np.testing.assert_allclose(S.quadratic_betas(3)[1], 1e-4 + 0.25 * (0.02 - 1e-4), rtol=1e-12)


# ------------------------------------------------------------------------------------------------
# Bad input: every case raises ValueError naming the argument.
# ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("call, word", [
    (lambda: S.get_schedule("nope", 10), "valid:"),
    (lambda: S.get_schedule("sigmoid", 10), "beta_sigmoid"),
    (lambda: S.get_schedule("linear", 10, beta_start=0.1), "valid: beta_min"),
    (lambda: S.get_schedule("linear", 0), "T must be"),
    (lambda: S.get_schedule("linear", -5), "T must be"),
    (lambda: S.get_schedule("linear", 10.0), "T must be"),
    (lambda: S.get_schedule("linear", 10.5), "T must be"),
    (lambda: S.get_schedule("linear", True), "T must be"),
    (lambda: S.get_schedule("linear", "10"), "T must be"),
    (lambda: S.get_schedule("linear", 10, beta_min=float("nan")), "beta_min"),
    (lambda: S.get_schedule("linear", 10, beta_max=float("inf")), "beta_max"),
    (lambda: S.get_schedule("linear", 10, beta_min=0.0), "beta_min"),
    (lambda: S.get_schedule("linear", 10, beta_max=1.5), "beta_max"),
    (lambda: S.get_schedule("linear", 10, beta_min=0.1, beta_max=0.01), "beta_max must be >="),
    (lambda: S.get_schedule("linear", 10, scale_to_T=True), "(0, 1]"),
    (lambda: S.get_schedule("linear", 10, scale_to_T=1), "scale_to_T"),
    (lambda: S.get_schedule("cosine", 10, s=-0.1), "s must"),
    (lambda: S.get_schedule("cosine", 10, max_beta=0.0), "max_beta"),
    (lambda: S.get_schedule("cosine", 10, max_beta=1.2), "max_beta"),
    (lambda: S.get_schedule("chen_sigmoid", 10, tau=0.0), "tau"),
    (lambda: S.get_schedule("chen_sigmoid", 10, start=3, end=-3), "end must be greater"),
    (lambda: S.get_schedule("chen_sigmoid", 10, clip_min=0.0), "clip_min"),
    (lambda: S.get_schedule("logistic", 10, log_snr_max=-10, log_snr_min=10), "log_snr_max"),
    (lambda: S.get_schedule("shifted_cosine", 10, d=0), "d must"),
    (lambda: S.get_schedule("rectified_flow", 10, shift=-1), "shift"),
    (lambda: S.get_schedule("linear", 10, zero_terminal_snr="yes"), "zero_terminal_snr"),
    (lambda: S.get_schedule("linear", 1, zero_terminal_snr=True), "T >= 2"),
    (lambda: S.validate_betas([0.1, 0.0, 0.2]), "betas[1]"),
    (lambda: S.validate_betas([0.1, -0.2]), "(0, 1]"),
    (lambda: S.validate_betas([0.1, 1.2]), "(0, 1]"),
    (lambda: S.validate_betas([1.0, 0.5]), "only at the last step"),
    (lambda: S.validate_betas([0.1, np.nan]), "NaN"),
    (lambda: S.validate_betas([0.1, np.inf]), "inf"),
    (lambda: S.validate_betas([[0.1, 0.2]]), "1-dimensional"),
    (lambda: S.validate_betas([]), "at least one"),
    (lambda: S.validate_betas(["a"]), "real numbers"),
    (lambda: S.betas_from_alpha_bar([0.9, 0.95]), "strictly decreasing"),
    (lambda: S.betas_from_alpha_bar([1.2, 0.5]), "(0, 1]"),
    (lambda: S.betas_from_alpha_bar([0.5, 0.0, 0.0]), "(0, 1]"),
    (lambda: S.betas_for_alpha_bar(lambda t: 1 + t, 10), "alpha_bar_fn"),
    (lambda: S.betas_for_alpha_bar(lambda t: np.ones(3), 10), "shape"),
    (lambda: S.betas_for_alpha_bar(lambda t: 1 - t ** 0 + 0.5, 10), "(0, 1]"),
    (lambda: S.betas_for_alpha_bar(0.5, 10), "callable"),
    (lambda: S.cosine_alpha_bar(1.5), "t must lie in [0, 1]"),
    (lambda: S.cosine_log_snr(np.nan), "NaN"),
    (lambda: S.sd3_time_shift(0.5, shift=0), "shift"),
    (lambda: S.Schedule("x", {}, [0.1, 0.2], [0.9, 0.5]), "cumprod"),
    (lambda: S.log_snr_from_alpha_bar(1.5), "alpha_bar"),
])
def test_bad_input_is_refused(call, word):
    with pytest.raises(ValueError) as err:
        call()
    assert word in str(err.value)


def test_flat_ratio_refused_rather_than_zero_beta():
    # A curve that stops decreasing gives β = 0: λ would be flat, which we refuse with a clear message.
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        S.betas_for_alpha_bar(lambda t: np.maximum(1 - t, 0.5), 10)


# ------------------------------------------------------------------------------------------------
# piecewise_log_snr: a reader-designed curve (lab "Design a schedule")
# ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("hi, lo", [(10.0, -10.0), (7.0, -9.0), (3.5, -2.0)])
@pytest.mark.parametrize("T", [1, 10, 1000])
def test_two_knot_piecewise_is_the_logistic_schedule(hi, lo, T):
    a = S.get_schedule("piecewise_log_snr", T, log_snr=[hi, lo])
    b = S.get_schedule("logistic", T, log_snr_max=hi, log_snr_min=lo)
    np.testing.assert_allclose(a.betas, b.betas, rtol=1e-12, atol=0)
    np.testing.assert_allclose(a.alpha_bar, b.alpha_bar, rtol=1e-12, atol=0)


def test_piecewise_log_snr_hits_its_knots_and_is_linear_between():
    knots = [9.0, 1.0, -1.0, -11.0]
    t = np.linspace(0, 1, 4)
    np.testing.assert_allclose(S.piecewise_log_snr(t, knots), knots, atol=1e-12)
    np.testing.assert_allclose(S.piecewise_log_snr(np.array([1 / 6, 0.5]), knots), [5.0, 0.0], atol=1e-12)
    # The chain reads the curve off at t/T exactly (no normalisation by alpha_bar(0)).
    s = S.get_schedule("piecewise_log_snr", 300, log_snr=knots)
    lam = get_schedule_quantities(s).log_snr
    np.testing.assert_allclose(lam, S.piecewise_log_snr(np.arange(1, 301) / 300, knots), atol=1e-9)
    assert dict(s.params) == {"log_snr": tuple(knots), "zero_terminal_snr": False}  # frozen as a tuple
    assert S.get_schedule("piecewise_log_snr", 10, log_snr=knots, zero_terminal_snr=True).alpha_bar[-1] == 0


@pytest.mark.parametrize("knots, word", [
    ([5.0], "at least 2 knots"),
    ([], "at least 2 knots"),
    ([1.0, 1.0], "strictly decreasing"),
    ([-5.0, 5.0], "strictly decreasing"),
    ([8.0, 0.0, 1.0, -8.0], "knot 2 (1) is not below knot 1 (0)"),
    ([8.0, float("nan")], "NaN"),
    ([float("inf"), 0.0], "inf"),
    ([8.0, -float("inf")], "inf"),
    ("8,-8", "list of at least 2 numbers"),
    (8.0, "list of at least 2 numbers"),
    ([[8.0, -8.0]], "list of at least 2 numbers"),
    ([True, False], "not bools"),
    (["a", "b"], "real numbers"),
])
def test_piecewise_log_snr_refuses_bad_knots(knots, word):
    with pytest.raises(ValueError) as err:
        S.get_schedule("piecewise_log_snr", 10, log_snr=knots)
    assert word in str(err.value)
    assert "piecewise_log_snr" in str(err.value)
