"""Bits/dim from the VLB (``sched_lib.likelihood``), against independent computations:
torch.distributions for the Gaussian KL and the discretised decoder, closed forms for an oracle model,
and the VLB weight of ``sched_lib.process.vlb_term_weight`` for the KL terms."""

import math

import numpy as np
import pytest
import torch

from sched_lib import get_schedule
from sched_lib.likelihood import (bits_per_dim, discretized_gaussian_log_likelihood, normal_kl,
                                  prior_bits_per_dim, vlb_terms)
from sched_lib.process import Process, vlb_term_weight

T = 50
LOG2 = math.log(2.0)


def grid_images(n=4, shape=(3, 2, 2), seed=0):
    """8-bit images on the grid k/127.5 − 1, float64."""
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, *shape), generator=g).double() / 127.5 - 1.0


def oracle(x0):
    """An x₀-prediction model that knows the image (one image repeated, or a batch in order)."""
    return lambda xt, t: x0.expand_as(xt)


def test_normal_kl_matches_torch_distributions():
    g = torch.Generator().manual_seed(1)
    m1, m2 = torch.randn(100, generator=g, dtype=torch.float64), torch.randn(100, generator=g, dtype=torch.float64)
    lv1, lv2 = torch.randn(100, generator=g, dtype=torch.float64), torch.randn(100, generator=g, dtype=torch.float64)
    ref = torch.distributions.kl_divergence(torch.distributions.Normal(m1, (0.5 * lv1).exp()),
                                            torch.distributions.Normal(m2, (0.5 * lv2).exp()))
    torch.testing.assert_close(normal_kl(m1, lv1, m2, lv2), ref)


@pytest.mark.parametrize("mean, scale", [(0.0, 0.01), (0.3, 0.2), (-0.97, 0.05), (2.0, 1.0)])
def test_discretized_decoder_is_a_distribution_over_256_bins(mean, scale):
    x = torch.arange(256, dtype=torch.float64) / 127.5 - 1.0
    mean_t, log_scale = torch.full_like(x, mean), torch.full_like(x, math.log(scale))
    logp = discretized_gaussian_log_likelihood(x, mean_t, log_scale)
    assert float(logp.exp().sum()) == pytest.approx(1.0, abs=1e-9)
    normal = torch.distributions.Normal(torch.tensor(mean, dtype=torch.float64),
                                        torch.tensor(scale, dtype=torch.float64))
    upper, lower = normal.cdf(x + 1 / 255), normal.cdf(x - 1 / 255)
    ref = torch.cat([upper[:1], (upper - lower)[1:255], 1 - lower[255:]])
    ok = ref > 1e-10
    torch.testing.assert_close(logp[ok], ref[ok].log())


def test_prior_term_closed_form():
    process = Process(get_schedule("linear", T), dtype=torch.float64)
    x0 = grid_images()
    ab = process.q.alpha_bar[-1]
    ref = 0.5 * (ab * x0 ** 2 + (1 - ab) - 1 - math.log(1 - ab))
    np.testing.assert_allclose(prior_bits_per_dim(x0, process).numpy(), (ref.mean(dim=(1, 2, 3)) / LOG2).numpy())
    zt = Process(get_schedule("linear", T, zero_terminal_snr=True), dtype=torch.float64)
    assert float(prior_bits_per_dim(x0, zt).abs().max()) == 0.0


def test_oracle_model_has_zero_kl_terms_and_the_closed_form_decoder():
    process = Process(get_schedule("cosine", T), dtype=torch.float64)
    x0 = grid_images()
    out = bits_per_dim(oracle(x0), x0, process, prediction="x0", generator=torch.Generator().manual_seed(0))
    assert out.diffusion == pytest.approx(0.0, abs=1e-9)
    np.testing.assert_allclose(out.terms[1:], 0.0, atol=1e-9)
    # decoder: x̂₀ = x₀ gives the mean μ̃_1 = x₀, with the clipped variance β̃_2
    scale = math.sqrt(process.q.posterior_variance[1])
    normal = torch.distributions.Normal(torch.tensor(0.0, dtype=torch.float64), scale)
    half_bin = torch.tensor(1 / 255, dtype=torch.float64)
    p_mid = float(normal.cdf(half_bin) - normal.cdf(-half_bin))
    p_edge = float(normal.cdf(half_bin))
    edge = (x0.abs() > 0.999).double()
    ref = -(edge * math.log(p_edge) + (1 - edge) * math.log(p_mid)).mean() / LOG2
    assert out.decoder == pytest.approx(float(ref), rel=1e-9)
    assert out.total == pytest.approx(out.prior + out.decoder + out.diffusion, rel=1e-12)


def test_fixed_large_variance_adds_the_variance_mismatch_kl():
    process = Process(get_schedule("linear", T), dtype=torch.float64)
    x0 = grid_images()
    out = bits_per_dim(oracle(x0), x0, process, prediction="x0", variance="beta")
    q = process.q
    bt, b = q.posterior_variance[1:], q.betas[1:]
    ref = 0.5 * (np.log(b / bt) + bt / b - 1.0) / LOG2
    np.testing.assert_allclose(out.terms[1:], ref, rtol=1e-9)


@pytest.mark.parametrize("prediction", ["eps", "x0", "v"])
def test_kl_terms_are_the_vlb_weighted_x0_error(prediction):
    """For t ≥ 2 and σ² = β̃: L_{t−1} = w_t ‖x₀ − x̂₀‖²/D with w_t = c1_t²/(2β̃_t) (Ho et al. eq. 8 and 12)."""
    process = Process(get_schedule("cosine", T), dtype=torch.float64)
    x0 = grid_images(n=8)
    g_model = torch.Generator().manual_seed(5)
    seen = {}

    def model(xt, t):
        out = 0.3 * torch.randn(xt.shape, generator=g_model, dtype=xt.dtype)
        seen["x0_hat"] = process.predict_x0(xt, t, out, prediction)
        return out

    t = torch.arange(1, 9)
    terms = vlb_terms(model, x0, t, process, prediction=prediction)
    w = vlb_term_weight(process.q, "x0")[t.numpy()]
    mse = ((x0 - seen["x0_hat"]) ** 2).mean(dim=(1, 2, 3)).numpy()
    np.testing.assert_allclose(terms.numpy() * LOG2, w * mse, rtol=1e-9)


def test_stratified_estimate_is_unbiased_and_exact_with_one_step_per_stratum():
    process = Process(get_schedule("linear", T), dtype=torch.float64)
    x0 = grid_images(n=2)
    full = bits_per_dim(oracle(x0), x0, process, prediction="x0", variance="beta")
    every = bits_per_dim(oracle(x0), x0, process, prediction="x0", variance="beta", num_t=T - 1)
    assert every.total == pytest.approx(full.total, rel=1e-12)
    g = torch.Generator().manual_seed(0)
    draws = [bits_per_dim(oracle(x0), x0, process, prediction="x0", variance="beta", num_t=5, generator=g).total
             for _ in range(300)]
    assert np.std(draws) > 0  # the terms differ across a stratum, so the estimate really varies
    assert abs(np.mean(draws) - full.total) < 4 * np.std(draws) / math.sqrt(len(draws))


def test_zero_terminal_snr_needs_v_or_x0():
    process = Process(get_schedule("linear", T, zero_terminal_snr=True), dtype=torch.float64)
    x0 = grid_images(n=2)
    with pytest.raises(ValueError, match="zero terminal SNR"):
        bits_per_dim(lambda xt, t: torch.zeros_like(xt), x0, process, prediction="eps")
    out = bits_per_dim(lambda xt, t: torch.zeros_like(xt), x0, process, prediction="v")
    assert out.prior == 0.0 and np.isfinite(out.total)


def test_bad_inputs_are_clear_errors():
    process = Process(get_schedule("linear", T), dtype=torch.float64)
    x0 = grid_images(n=2)
    model = oracle(x0)
    with pytest.raises(ValueError, match="8-bit grid"):
        bits_per_dim(model, x0 + 1e-3 * (x0 < 0), process, prediction="x0")
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        bits_per_dim(model, 2 * x0.abs().clamp(min=0.6), process, prediction="x0")
    with pytest.raises(ValueError, match="variance"):
        bits_per_dim(model, x0, process, prediction="x0", variance="learned")
    with pytest.raises(ValueError, match="num_t"):
        bits_per_dim(model, x0, process, prediction="x0", num_t=T)
    with pytest.raises(ValueError, match="process"):
        bits_per_dim(model, x0, get_schedule("linear", T), prediction="x0")
    with pytest.raises(FloatingPointError, match="not finite"):
        bits_per_dim(lambda xt, t: torch.full_like(xt, float("nan")), x0, process, prediction="x0")


def test_run_bits_per_dim_of_a_trained_run(tmp_path):
    from sched_lib.likelihood import run_bits_per_dim
    from sched_lib.train import TrainConfig, train

    config = TrainConfig.from_preset("smoke", schedule="cosine", weighting="uniform", prediction="v", steps=2,
                                     num_images=32)
    train(config, tmp_path / "run")
    out = run_bits_per_dim(tmp_path / "run", num=4, num_t=3, seed=0)
    assert out.per_image.shape == (4,) and np.isfinite(out.per_image).all()
    assert out.total == pytest.approx(out.prior + out.decoder + out.diffusion, rel=1e-9)
    assert out.num_t == 3 and out.decoder > 0 and out.diffusion > 0
    again = run_bits_per_dim(tmp_path / "run", num=4, num_t=3, seed=0)
    assert again.total == out.total  # seeded: the same draws of t and x_t
    with pytest.raises(ValueError, match="num must be at most"):
        run_bits_per_dim(tmp_path / "run", num=10_001)
