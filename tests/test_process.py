"""The forward process, posterior, frame conversions, training loss and timestep samplers (sched_lib.process)."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from sched_lib import get_schedule
from sched_lib import weighting as W
from sched_lib.process import (LossSecondMomentSampler, Process, UniformSampler, training_loss,
                               vlb_term_weight)
from sched_lib.schedules import Schedule

F64 = torch.float64


@pytest.fixture(scope="module")
def linear():
    return Process(get_schedule("linear", 1000), dtype=F64)


@pytest.fixture(scope="module")
def zero_snr():
    return Process(get_schedule("linear", 1000, zero_terminal_snr=True), dtype=F64)


def _t(k, n):
    return torch.full((n,), k, dtype=torch.long)


# -- q(x_t | x_0) and the posterior --------------------------------------------------------------------

def test_q_sample_marginal_by_monte_carlo(linear):
    g = torch.Generator().manual_seed(0)
    n = 200_000
    x0 = torch.tensor([0.7, -1.2, 0.1], dtype=F64).expand(n, 3)
    for k in (0, 250, 999):
        eps = torch.randn(n, 3, generator=g, dtype=F64)
        xt = linear.q_sample(x0, _t(k, n), eps)
        ab = linear.q.alpha_bar[k]
        se_mean = np.sqrt((1 - ab) / n)
        np.testing.assert_allclose(xt.mean(0).numpy(), np.sqrt(ab) * x0[0].numpy(), atol=5 * se_mean)
        np.testing.assert_allclose(xt.var(0).numpy(), 1 - ab, rtol=5 * np.sqrt(2 / n))


def test_q_sample_in_float32_matches_float64():
    p32 = Process(get_schedule("cosine", 1000))
    p64 = p32.to(dtype=F64)
    x0, eps = torch.randn(8, 2, 3), torch.randn(8, 2, 3)
    t = torch.arange(0, 1000, 125)
    out = p32.q_sample(x0, t, eps)
    assert out.dtype == torch.float32
    np.testing.assert_allclose(out.numpy(), p64.q_sample(x0.double(), t, eps.double()).numpy(), atol=1e-6)


@pytest.mark.parametrize("k", [1, 10, 500, 999])
def test_posterior_by_gaussian_conditioning(linear, k):
    # x_{t-1} = √ᾱ_{t-1} x0 + √(1-ᾱ_{t-1}) e1 and x_t = √α_t x_{t-1} + √β_t e2: regress x_{t-1} on (x0, x_t).
    q = linear.q
    ab_prev, alpha, beta = q.alpha_bar_prev[k], q.alphas[k], q.betas[k]
    # Exact covariance algebra given x0: Var(x_{t-1}) = 1-ᾱ_{t-1}, Cov(x_{t-1}, x_t) = √α(1-ᾱ_{t-1}),
    # Var(x_t) = 1-ᾱ_t; the conditional mean's x_t-slope is Cov/Var and the rest multiplies x0.
    v_prev, v_t = 1 - ab_prev, q.one_minus_alpha_bar[k]
    slope = np.sqrt(alpha) * v_prev / v_t
    np.testing.assert_allclose(q.posterior_mean_coef2[k], slope, rtol=1e-12)
    np.testing.assert_allclose(q.posterior_mean_coef1[k], np.sqrt(ab_prev) - slope * np.sqrt(ab_prev * alpha),
                               rtol=1e-9)
    np.testing.assert_allclose(q.posterior_variance[k], v_prev - slope ** 2 * v_t, rtol=1e-9, atol=1e-15)
    # Monte Carlo regression through the torch path.
    g = torch.Generator().manual_seed(k)
    n = 200_000
    x0 = torch.randn(n, 1, generator=g, dtype=F64)
    x_prev = np.sqrt(ab_prev) * x0 + np.sqrt(1 - ab_prev) * torch.randn(n, 1, generator=g, dtype=F64)
    xt = np.sqrt(alpha) * x_prev + np.sqrt(beta) * torch.randn(n, 1, generator=g, dtype=F64)
    mean, var, log_var = linear.q_posterior(x0, xt, _t(k, n))
    design = np.column_stack([x0.numpy()[:, 0], xt.numpy()[:, 0]])
    coef, *_ = np.linalg.lstsq(design, x_prev.numpy()[:, 0], rcond=None)
    resid = x_prev.numpy()[:, 0] - design @ coef
    np.testing.assert_allclose(coef, [q.posterior_mean_coef1[k], q.posterior_mean_coef2[k]], atol=0.02)
    np.testing.assert_allclose(resid.var(), var[0, 0].item(), rtol=0.02)
    np.testing.assert_allclose((x_prev - mean).var().item(), var[0, 0].item(), rtol=0.02)
    np.testing.assert_allclose(log_var[0, 0].item(), q.posterior_log_variance_clipped[k])


def test_posterior_at_the_ends(linear, zero_snr):
    x0, xt = torch.randn(4, 3, dtype=F64), torch.randn(4, 3, dtype=F64)
    mean, var, log_var = linear.q_posterior(x0, xt, _t(0, 4))
    torch.testing.assert_close(mean, x0)  # t = 1: the posterior is a point mass at x0
    assert (var == 0).all() and torch.isfinite(log_var).all()
    assert log_var[0, 0].item() == pytest.approx(np.log(linear.q.posterior_variance[1]))  # clipped: log β̃_2
    mean, var, log_var = zero_snr.q_posterior(x0, xt, _t(999, 4))
    q = zero_snr.q
    torch.testing.assert_close(mean, np.sqrt(q.alpha_bar[998]) * x0)  # x_T carries no information
    assert torch.isfinite(var).all() and torch.isfinite(log_var).all()


# -- frame conversions ---------------------------------------------------------------------------------

@settings(max_examples=60, deadline=None)
@given(ab=st.floats(1e-6, 1 - 1e-6), seed=st.integers(0, 2 ** 16))
def test_conversions_round_trip_in_all_frames(ab, seed):
    proc = Process(Schedule.from_betas([1.0 - ab]), dtype=F64)  # one step with ᾱ_1 = ab
    g = torch.Generator().manual_seed(seed)
    x0, eps = torch.randn(5, 3, generator=g, dtype=F64), torch.randn(5, 3, generator=g, dtype=F64)
    t = _t(0, 5)
    xt = proc.q_sample(x0, t, eps)
    tol = dict(rtol=1e-9, atol=1e-9 / np.sqrt(ab))  # x0 from eps amplifies rounding by 1/√ᾱ
    torch.testing.assert_close(proc.eps_from_x0(xt, t, x0), eps, rtol=1e-9, atol=1e-9 / np.sqrt(1 - ab))
    torch.testing.assert_close(proc.x0_from_eps(xt, t, eps), x0, **tol)
    v = proc.v_from(x0, eps, t)
    torch.testing.assert_close(proc.x0_from_v(xt, t, v), x0, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(proc.eps_from_v(xt, t, v), eps, rtol=1e-9, atol=1e-9)
    for frame in ("eps", "x0", "v"):
        out = proc.target(x0, eps, t, frame)
        torch.testing.assert_close(proc.predict_x0(xt, t, out, frame), x0, **tol)
        torch.testing.assert_close(proc.predict_eps(xt, t, out, frame), eps, rtol=1e-9,
                                   atol=1e-9 / np.sqrt(ab * (1 - ab)))


def test_zero_terminal_snr_conversions(zero_snr):
    x0, eps = torch.randn(3, 2, dtype=F64), torch.randn(3, 2, dtype=F64)
    t = torch.tensor([0, 500, 999])
    xt = zero_snr.q_sample(x0, t, eps)
    torch.testing.assert_close(xt[2], eps[2])  # x_T is pure noise
    v = zero_snr.v_from(x0, eps, t)
    torch.testing.assert_close(v[2], -x0[2])
    torch.testing.assert_close(zero_snr.predict_x0(xt, t, v, "v"), x0)
    torch.testing.assert_close(zero_snr.predict_eps(xt, t, x0, "x0"), eps)
    with pytest.raises(ValueError, match="undefined at alpha_bar = 0"):
        zero_snr.predict_x0(xt, t, eps, "eps")
    zero_snr.predict_x0(xt[:2], t[:2], eps[:2], "eps")  # fine away from the last step


@pytest.mark.parametrize("call", [
    lambda p, x: p.q_sample(x, torch.tensor([0, 1000]), x),          # t out of range
    lambda p, x: p.q_sample(x, torch.tensor([-1, 0]), x),
    lambda p, x: p.q_sample(x, torch.tensor([0.0, 1.0]), x),         # float t
    lambda p, x: p.q_sample(x, torch.tensor([0, 1, 2]), x),          # wrong length
    lambda p, x: p.q_sample(x, torch.tensor([0, 1]), x[:, :1]),      # shape mismatch
    lambda p, x: p.predict_x0(x, torch.tensor([0, 1]), x, "score"),  # unknown frame
    lambda p, x: p.q_sample(x.long(), torch.tensor([0, 1]), x),      # integer data
])
def test_bad_process_input(linear, call):
    with pytest.raises(ValueError):
        call(linear, torch.randn(2, 3, dtype=F64))


def test_bad_process_construction():
    with pytest.raises(ValueError):
        Process(get_schedule("linear", 10), dtype=torch.int64)
    with pytest.raises(ValueError):
        Process([0.1, 1.5])


# -- the training loss ---------------------------------------------------------------------------------

def _model_with_x0_error(process, x0, eps, err, prediction):
    """A fake model whose x0-prediction is off by exactly `err` (per sample, all dims), in frame `prediction`."""
    def model(xt, t):
        x0_hat = x0 + err.view(-1, *([1] * (x0.ndim - 1)))
        eps_hat = process.eps_from_x0(xt, t, x0_hat)
        return {"x0": x0_hat, "eps": eps_hat, "v": process.v_from(x0_hat, eps_hat, t)}[prediction]
    return model


@pytest.mark.parametrize("prediction", ["eps", "x0", "v"])
def test_min_snr_is_applied_in_the_prediction_frame(linear, prediction):
    # The x0-error e is known, so the frame-MSE is f_frame·e² (f = SNR, 1, 1+SNR) and Min-SNR-γ in the
    # right frame turns every frame's loss into the same min(SNR, γ)·e² (Hang et al. 2023, eq. 9).
    g = torch.Generator().manual_seed(1)
    n = 64
    x0, eps = torch.randn(n, 2, 4, 4, generator=g, dtype=F64), torch.randn(n, 2, 4, 4, generator=g, dtype=F64)
    t = torch.randint(0, 1000, (n,), generator=g)
    err = torch.rand(n, generator=g, dtype=F64) + 0.1
    model = _model_with_x0_error(linear, x0, eps, err, prediction)
    out = training_loss(model, x0, linear, prediction=prediction, weighting=W.get_weighting("min_snr", gamma=5),
                        t=t, eps=eps)
    snr = linear.q.snr[t.numpy()]
    np.testing.assert_allclose(out.per_sample.numpy(), np.minimum(snr, 5) * err.numpy() ** 2, rtol=1e-7)
    assert out.loss.item() == pytest.approx(out.per_sample.mean().item())
    torch.testing.assert_close(out.t, t)
    # Uniform weighting: the plain frame-MSE.
    f = {"eps": snr, "x0": np.ones_like(snr), "v": 1 + snr}[prediction]
    plain = training_loss(model, x0, linear, prediction=prediction, t=t, eps=eps)
    np.testing.assert_allclose(plain.per_sample.numpy(), f * err.numpy() ** 2, rtol=1e-7)


def test_training_loss_draws_t_uniformly_and_calls_the_model_with_0_indexed_t():
    proc = Process(get_schedule("cosine", 10))
    seen = []

    def model(xt, t):
        seen.append(t.clone())
        return torch.zeros_like(xt)

    g = torch.Generator().manual_seed(0)
    out = training_loss(model, torch.zeros(20_000, 2), proc, generator=g)
    assert out.per_sample.shape == (20_000,) and out.loss.ndim == 0 and out.loss.dtype == torch.float32
    torch.testing.assert_close(seen[0], out.t)
    counts = np.bincount(out.t.numpy(), minlength=10)
    assert counts.min() > 1800 and counts.max() < 2200 and out.t.min() == 0 and out.t.max() == 9
    # eps-model predicting 0 on x0 = 0: the loss is E[ε²] = 1.
    assert out.loss.item() == pytest.approx(1.0, abs=0.03)


def test_training_loss_is_differentiable():
    proc = Process(get_schedule("linear", 50))
    net = torch.nn.Linear(3, 3)
    out = training_loss(lambda x, t: net(x), torch.randn(16, 3), proc, prediction="v", weighting="min_snr",
                        generator=torch.Generator().manual_seed(0))
    out.loss.backward()
    assert net.weight.grad is not None and torch.isfinite(net.weight.grad).all()


def test_vlb_weight_in_each_frame(linear, zero_snr):
    q = linear.q
    w_eps = vlb_term_weight(q, "eps")
    np.testing.assert_allclose(w_eps[1:], W.vlb_weight(q)[1:], rtol=1e-10)  # t >= 2: Ho et al. eq. 12
    assert np.isfinite(w_eps).all()  # t = 1 uses improved-diffusion's clipped variance β̃_2
    np.testing.assert_allclose(w_eps[0], 1 / (2 * q.posterior_variance[1] * q.snr[0]), rtol=1e-12)
    for frame in ("x0", "v"):
        np.testing.assert_allclose(vlb_term_weight(q, frame), W.convert_weight(w_eps, q.snr, "eps", frame),
                                   rtol=1e-10)
    # Zero terminal SNR: finite in x0 and v, infinite in eps, and training_loss refuses it.
    assert np.isfinite(vlb_term_weight(zero_snr.q, "v")).all()
    assert np.isinf(vlb_term_weight(zero_snr.q, "eps")[-1])
    x = torch.zeros(4, 2, dtype=F64)
    with pytest.raises(ValueError, match="not a finite"):
        training_loss(lambda xt, t: xt, x, zero_snr, prediction="eps", weighting="vlb")
    training_loss(lambda xt, t: xt, x, zero_snr, prediction="v", weighting="vlb")


@pytest.mark.parametrize("kwargs", [
    dict(prediction="score"), dict(weighting="nope"), dict(weighting=3.0), dict(t=torch.tensor([0, 1])),
    dict(eps=torch.zeros(3, 2)), dict(t=torch.zeros(4, dtype=torch.long), schedule_sampler=UniformSampler(10)),
    dict(schedule_sampler=UniformSampler(11)),
])
def test_bad_training_loss_arguments(kwargs):
    proc = Process(get_schedule("linear", 10))
    with pytest.raises(ValueError):
        training_loss(lambda x, t: x, torch.zeros(4, 2), proc, **kwargs)


def test_model_output_shape_is_checked():
    proc = Process(get_schedule("linear", 10))
    with pytest.raises(ValueError, match="model output"):
        training_loss(lambda x, t: x[:, :1], torch.zeros(4, 2), proc)


# -- importance sampling of timesteps (improved-diffusion resample.py) ---------------------------------

class _ImprovedDiffusionLossSecondMoment:
    """openai/improved-diffusion improved_diffusion/resample.py, LossSecondMomentResampler (commit 51fc106),
    re-typed: weights() and update_with_all_losses() only."""

    def __init__(self, T, history_per_term=10, uniform_prob=0.001):
        self.T, self.history_per_term, self.uniform_prob = T, history_per_term, uniform_prob
        self._loss_history = np.zeros([T, history_per_term], dtype=np.float64)
        self._loss_counts = np.zeros([T], dtype=int)

    def weights(self):
        if not (self._loss_counts == self.history_per_term).all():
            return np.ones([self.T], dtype=np.float64)
        weights = np.sqrt(np.mean(self._loss_history ** 2, axis=-1))
        weights /= np.sum(weights)
        weights *= 1 - self.uniform_prob
        weights += self.uniform_prob / len(weights)
        return weights

    def update_with_all_losses(self, ts, losses):
        for t, loss in zip(ts, losses):
            if self._loss_counts[t] == self.history_per_term:
                self._loss_history[t, :-1] = self._loss_history[t, 1:]
                self._loss_history[t, -1] = loss
            else:
                self._loss_history[t, self._loss_counts[t]] = loss
                self._loss_counts[t] += 1


def test_second_moment_sampler_reproduces_improved_diffusion():
    rng = np.random.default_rng(0)
    T = 30
    ours, ref = LossSecondMomentSampler(T), _ImprovedDiffusionLossSecondMoment(T)
    for step in range(60):
        ts = rng.integers(0, T, size=16)
        losses = rng.gamma(2.0, 1.0 + ts / 5.0)
        ours.update(torch.as_tensor(ts), torch.as_tensor(losses))
        ref.update_with_all_losses(ts, losses)
        np.testing.assert_allclose(ours.weights(), ref.weights(), rtol=1e-13)
        if step == 2:
            assert not ours.warmed_up() and (ours.probabilities() == 1 / T).all()  # uniform until warm
    assert ours.warmed_up()
    p = ours.probabilities()
    assert p.min() >= 0.001 / T and abs(p.sum() - 1) < 1e-12 and p[-1] > p[0]


def test_importance_weights_keep_the_estimate_unbiased():
    T = 20
    sampler = LossSecondMomentSampler(T, history_per_term=2)
    losses = np.linspace(0.1, 5.0, T) ** 2
    for k in range(T):
        sampler.update([k, k], [np.sqrt(losses[k]) * 0.5, np.sqrt(losses[k]) * 1.5])
    p = sampler.probabilities()
    assert p.max() / p.min() > 10  # far from uniform
    t, w = sampler.sample(200_000, generator=torch.Generator().manual_seed(0))
    assert t.dtype == torch.long and w.shape == (200_000,)
    np.testing.assert_allclose(w.numpy(), 1 / (T * p[t.numpy()]), rtol=1e-6)
    est = w.double().numpy() * losses[t.numpy()]
    assert abs(est.mean() - losses.mean()) < 4 * est.std() / np.sqrt(est.size)
    freq = np.bincount(t.numpy(), minlength=T) / t.numel()
    np.testing.assert_allclose(freq, p, atol=5 * np.sqrt(p.max() / t.numel()))


def test_training_loss_with_the_second_moment_sampler_updates_it():
    proc = Process(get_schedule("linear", 8))
    sampler = LossSecondMomentSampler(8, history_per_term=3)
    g = torch.Generator().manual_seed(0)
    for _ in range(20):
        out = training_loss(lambda x, t: torch.zeros_like(x), torch.randn(32, 2, generator=g), proc,
                            weighting="vlb", schedule_sampler=sampler, generator=g)
        torch.testing.assert_close(out.loss, (out.per_sample * out.importance).mean())
    assert sampler.warmed_up()
    assert not np.allclose(sampler.probabilities(), 1 / 8)
    uni = training_loss(lambda x, t: torch.zeros_like(x), torch.randn(8, 2), proc, schedule_sampler=UniformSampler(8))
    assert (uni.importance == 1).all()


@pytest.mark.parametrize("call", [
    lambda: LossSecondMomentSampler(0), lambda: LossSecondMomentSampler(5, history_per_term=0),
    lambda: LossSecondMomentSampler(5, uniform_prob=1.5), lambda: LossSecondMomentSampler(5).update([5], [1.0]),
    lambda: LossSecondMomentSampler(5).update([1], [float("nan")]),
    lambda: LossSecondMomentSampler(5).update([1, 2], [1.0]),
    lambda: UniformSampler(5).sample(0),
])
def test_bad_sampler_arguments(call):
    with pytest.raises(ValueError):
        call()
