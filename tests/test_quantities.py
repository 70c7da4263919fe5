"""sched_lib.quantities against independent derivations (chapter "SNR and log-SNR")."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sched_lib import get_schedule, list_schedules
from sched_lib.quantities import get_schedule_quantities


@settings(max_examples=50, deadline=None)
@given(name=st.sampled_from(list_schedules()), T=st.integers(2, 2000), ztsnr=st.booleans())
def test_quantities_consistent_with_independent_derivations(name, T, ztsnr):
    q = get_schedule_quantities(get_schedule(name, T, zero_terminal_snr=ztsnr))
    for field in q.__dataclass_fields__:
        assert not np.isnan(getattr(q, field)).any(), field
    # ᾱ as an explicit running product.
    prod, ab = 1.0, []
    for b in q.betas:
        prod *= 1.0 - b
        ab.append(prod)
    np.testing.assert_allclose(q.alpha_bar, ab, rtol=1e-12)
    # Posterior variance from Gaussian conditioning: precision 1/(1 − ᾱ_{t−1}) + α_t/β_t (errata H1).
    with np.errstate(divide="ignore"):
        precision = 1.0 / (1.0 - q.alpha_bar_prev[1:]) + q.alphas[1:] / q.betas[1:]
    np.testing.assert_allclose(q.posterior_variance[1:], 1.0 / precision, rtol=1e-8)
    assert q.posterior_variance[0] == 0.0
    # SNR, λ and σ agree with each other where finite.
    finite = np.isfinite(q.log_snr)
    np.testing.assert_allclose(q.snr[finite], np.exp(q.log_snr[finite]), rtol=1e-9)
    np.testing.assert_allclose(q.sigma[finite] ** 2, 1.0 / q.snr[finite], rtol=1e-9)
    np.testing.assert_allclose(q.one_minus_alpha_bar, 1.0 - q.alpha_bar, atol=1e-15)
    # Posterior mean: μ̃ = coef1 x₀ + coef2 x_t must reproduce x_{t−1} when x_t comes from it noise-free
    # (coef1·√ᾱ_{t−1}... identity coef1 + coef2·√α_t·... checked on E[x_{t−1} | x₀] = √ᾱ_{t−1} x₀).
    mean_x0 = q.posterior_mean_coef1 + q.posterior_mean_coef2 * q.sqrt_alpha_bar
    np.testing.assert_allclose(mean_x0, np.sqrt(q.alpha_bar_prev), rtol=1e-9, atol=1e-12)


def test_first_step_snr_keeps_precision():
    # β_1 = 1e-4: 1 − ᾱ_1 must equal β_1 to full precision, so λ_1 = log((1−β)/β) = 9.2102.
    q = get_schedule_quantities(get_schedule("linear", 1000))
    np.testing.assert_allclose(q.one_minus_alpha_bar[0], 1e-4, rtol=1e-15)
    np.testing.assert_allclose(q.log_snr[0], np.log((1 - 1e-4) / 1e-4), rtol=1e-14)


def test_zero_terminal_snr_ends_exactly():
    q = get_schedule_quantities(get_schedule("cosine", 1000, max_beta=1.0))
    assert q.snr[-1] == 0.0 and q.log_snr[-1] == -np.inf and q.sigma[-1] == np.inf
    assert np.isfinite(q.posterior_variance).all() and np.isfinite(q.posterior_mean_coef1).all()


def test_errata_key_numbers():
    # seed-errata §2.1 and row 28: the log-SNR table and improved-diffusion's log-variance at t = 1.
    lin = get_schedule_quantities(get_schedule("linear", 1000))
    cos = get_schedule_quantities(get_schedule("cosine", 1000))
    np.testing.assert_allclose([lin.log_snr[0], lin.log_snr[499], lin.log_snr[-1]], [9.210, -2.462, -10.118],
                               atol=1e-3)
    np.testing.assert_allclose([cos.log_snr[0], cos.log_snr[499], cos.log_snr[-1]], [10.095, -0.025, -19.836],
                               atol=1e-3)
    np.testing.assert_allclose(lin.posterior_log_variance_clipped[0], -9.82, atol=5e-3)
    np.testing.assert_allclose([lin.alpha_bar[499], cos.alpha_bar[499]], [0.079, 0.494], atol=1e-3)


def test_t_equals_one_and_bad_input():
    q = get_schedule_quantities(np.array([0.3]))
    assert q.posterior_variance[0] == 0 and q.posterior_log_variance_clipped[0] == -np.inf
    for bad in ([0.1, 0.0], [np.nan], [[0.1]], [1.5], "x"):
        with pytest.raises(ValueError):
            get_schedule_quantities(bad)
