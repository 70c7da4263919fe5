"""Solvers in sched_lib.samplers: DDPM, DDIM, Euler and Heun (chapter "The endpoints and sampling").

diffusers' DDIMScheduler/DDPMScheduler (a test dependency) compute in float32, so parity with them is
at float32 tolerances; the Karras et al. (2022) Alg. 1 reference is re-typed here and compared in float64.
"""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from sched_lib import get_schedule
from sched_lib import samplers as S
from sched_lib.process import Process

diffusers = pytest.importorskip("diffusers")
from diffusers import DDIMScheduler, DDPMScheduler  # noqa: E402

HF_PRED = {"eps": "epsilon", "x0": "sample", "v": "v_prediction"}
SHAPE = (4, 2, 3)


def fake_model(x, t):
    """A fixed, smooth, t-dependent stand-in for a network (any frame)."""
    tt = t.to(x.dtype).view(-1, *([1] * (x.ndim - 1)))
    return 0.8 * torch.tanh(x) + 0.3 * torch.cos(x + 1e-3 * tt)


def _x_T(seed=0, dtype=torch.float32):
    return torch.randn(SHAPE, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def _run_diffusers(sched, x_T, eta=None, seed=1):
    g = torch.Generator().manual_seed(seed)
    x = x_T.clone()
    for t in sched.timesteps:
        out = fake_model(x, torch.full((x.shape[0],), int(t)))
        kw = dict(eta=eta) if eta is not None else {}
        x = sched.step(out, t, x, generator=g, **kw).prev_sample
    return x


@pytest.mark.parametrize("schedule, pred", [
    (("linear", {}), "eps"), (("cosine", {}), "v"), (("linear", {"zero_terminal_snr": True}), "v"),
    (("scaled_linear", {}), "x0"),
])
@pytest.mark.parametrize("spacing, steps", [("trailing", 10), ("leading", 20), ("trailing", 50)])
@pytest.mark.parametrize("eta", [0.0, 1.0])
def test_ddim_matches_diffusers(schedule, pred, spacing, steps, eta):
    # huggingface/diffusers src/diffusers/schedulers/scheduling_ddim.py, DDIMScheduler.step (v0.42).
    sch = get_schedule(schedule[0], 1000, **schedule[1])
    hf = DDIMScheduler(num_train_timesteps=1000, trained_betas=sch.betas, clip_sample=False, set_alpha_to_one=True,
                       timestep_spacing=spacing, prediction_type=HF_PRED[pred])
    hf.set_timesteps(steps)
    x_T = _x_T()
    ref = _run_diffusers(hf, x_T, eta=eta)
    ours = S.sample_ddim(fake_model, Process(sch), SHAPE, steps=steps, spacing=spacing, eta=eta, prediction=pred,
                         generator=torch.Generator().manual_seed(1), x_T=x_T)
    assert ours.dtype == torch.float32 and torch.isfinite(ours).all()
    if not torch.isfinite(ref).all():
        # diffusers' first step from ᾱ = 0 with η = 1: float32 rounding makes 1 − ᾱ_prev − σ² a hair below 0
        # and its square root NaN; ours clamps the (mathematically non-negative) value at 0.
        assert schedule[1].get("zero_terminal_snr") and eta == 1.0 and spacing == "trailing"
        return
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=2e-5)


@pytest.mark.parametrize("variance, hf_variance, spacing", [
    ("posterior", "fixed_small", "leading"), ("posterior", "fixed_small", "trailing"),
    ("beta", "fixed_large", "leading"),  # diffusers adds β noise on a trailing grid's last step; we never do
])
@pytest.mark.parametrize("pred", ["eps", "v"])
@pytest.mark.parametrize("T, steps", [(1000, 10), (50, 50)])
def test_ddpm_matches_diffusers(variance, hf_variance, spacing, pred, T, steps):
    # huggingface/diffusers src/diffusers/schedulers/scheduling_ddpm.py, DDPMScheduler.step (v0.42).
    sch = get_schedule("linear", T, scale_to_T=True)
    hf = DDPMScheduler(num_train_timesteps=T, trained_betas=sch.betas, clip_sample=False, variance_type=hf_variance,
                       timestep_spacing=spacing, prediction_type=HF_PRED[pred])
    hf.set_timesteps(steps)
    x_T = _x_T()
    ref = _run_diffusers(hf, x_T)
    ours = S.sample("ddpm" if variance == "posterior" else "ddpm_large", fake_model, Process(sch), SHAPE,
                    steps=steps, spacing=spacing, prediction=pred, generator=torch.Generator().manual_seed(1), x_T=x_T)
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=2e-5)


@settings(max_examples=50, deadline=None)
@given(ab_t=st.floats(0.0, 0.999), frac=st.floats(0.01, 1.0))
def test_ddim_with_eta_1_is_the_ddpm_posterior_step(ab_t, frac):
    ab_prev = ab_t + frac * (1 - ab_t)
    c_x0, c_eps, sig = S.ddim_coefficients(ab_t, ab_prev, 1.0)
    d_x0, d_xt, d_sig = S.ddpm_coefficients(ab_t, ab_prev, "posterior")
    # ε̂ = (x − √ᾱ x̂₀)/√(1 − ᾱ): the DDIM update rewritten in (x̂₀, x).
    s = np.sqrt(1 - ab_t)
    np.testing.assert_allclose(c_x0 - c_eps * np.sqrt(ab_t) / s, d_x0, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(c_eps / s, d_xt, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(sig, d_sig, rtol=1e-9, atol=1e-12)


def test_coefficients_at_the_ends():
    # Step to the data: x_prev = x̂₀ exactly and no noise, for every rule.
    assert S.ddim_coefficients(0.3, 1.0, 1.0) == (1.0, 0.0, 0.0)
    c = S.ddpm_coefficients(0.3, 1.0, "beta")
    np.testing.assert_allclose(c, [1.0, 0.0, 0.0], atol=1e-15)
    # From ᾱ = 0 (zero terminal SNR): x_T carries no information, β' = 1.
    c_x0, c_xt, sig = S.ddpm_coefficients(0.0, 0.5, "posterior")
    assert c_x0 == pytest.approx(np.sqrt(0.5)) and c_xt == 0 and sig == pytest.approx(np.sqrt(0.5))
    for call in (lambda: S.ddim_coefficients(0.5, 0.5), lambda: S.ddim_coefficients(0.5, 0.7, eta=1.5),
                 lambda: S.ddpm_coefficients(1.0, 1.0), lambda: S.ddpm_coefficients(0.2, 0.5, "large")):
        with pytest.raises(ValueError):
            call()


def test_grid_of_sampling_steps():
    ab = get_schedule("linear", 1000).alpha_bar
    k, ab_t, ab_prev = S.sampling_steps(ab, 10, "trailing")
    np.testing.assert_array_equal(k, np.arange(999, 0, -100))
    np.testing.assert_array_equal(ab_t, ab[k])
    np.testing.assert_array_equal(ab_prev, np.append(ab[k[1:]], 1.0))


def test_ddim_eta_1_equals_ddpm_and_euler_equals_ddim_eta_0():
    proc = Process(get_schedule("cosine", 1000), dtype=torch.float64)
    x_T = _x_T(dtype=torch.float64)
    kw = dict(steps=25, spacing="trailing", prediction="eps", x_T=x_T)
    a = S.sample("ddim", fake_model, proc, SHAPE, eta=1.0, generator=torch.Generator().manual_seed(3), **kw)
    b = S.sample("ddpm", fake_model, proc, SHAPE, generator=torch.Generator().manual_seed(3), **kw)
    torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-9)
    c = S.sample("ddim", fake_model, proc, SHAPE, **kw)
    d = S.sample("euler", fake_model, proc, SHAPE, **kw)
    torch.testing.assert_close(c, d, rtol=1e-9, atol=1e-9)


def _karras_alg1_reference(proc, steps, spacing, x_T, heun):
    """Karras et al. 2022, Algorithm 1, literally, in the VE variable y = x/√ᾱ with σ = √((1−ᾱ)/ᾱ)."""
    k = S.timesteps(proc.T, steps, spacing)
    ab = proc.q.alpha_bar
    sigmas = list(np.sqrt((1 - ab[k]) / ab[k])) + [0.0]

    def D(y, i):  # denoiser at grid point i: the model sees the VP input √ᾱ·y at index k_i
        x = np.sqrt(ab[k[i]]) * y
        t = torch.full((y.shape[0],), int(k[i]))
        eps = fake_model(x, t)
        return (x - np.sqrt(1 - ab[k[i]]) * eps) / np.sqrt(ab[k[i]])

    y = x_T / np.sqrt(ab[k[0]])
    for i in range(len(k)):
        d = (y - D(y, i)) / sigmas[i]
        y_next = y + (sigmas[i + 1] - sigmas[i]) * d
        if heun and sigmas[i + 1] != 0:
            d2 = (y_next - D(y_next, i + 1)) / sigmas[i + 1]
            y_next = y + (sigmas[i + 1] - sigmas[i]) * 0.5 * (d + d2)
        y = y_next
    return y  # σ = 0: y is x₀


@pytest.mark.parametrize("name", ["euler", "heun"])
@pytest.mark.parametrize("spacing, steps", [("trailing", 8), ("linspace", 5)])
def test_euler_and_heun_match_karras_algorithm_1(name, spacing, steps):
    proc = Process(get_schedule("linear", 1000), dtype=torch.float64)
    x_T = _x_T(dtype=torch.float64)
    ref = _karras_alg1_reference(proc, steps, spacing, x_T, heun=name == "heun")
    ours = S.sample(name, fake_model, proc, SHAPE, steps=steps, spacing=spacing, x_T=x_T)
    torch.testing.assert_close(ours, ref, rtol=1e-10, atol=1e-10)


def test_heun_counts_model_calls():
    calls = []
    proc = Process(get_schedule("linear", 100))
    S.sample_heun(lambda x, t: calls.append(int(t[0])) or fake_model(x, t), proc, SHAPE, steps=5)
    assert len(calls) == 2 * 5 - 1
    assert calls[:3] == [99, 79, 79]  # the correction evaluates the model at the next grid step


@pytest.mark.parametrize("name", S.SAMPLERS)
def test_zero_terminal_snr(name):
    proc = Process(get_schedule("linear", 1000, zero_terminal_snr=True))
    out = S.sample(name, fake_model, proc, SHAPE, steps=10, prediction="v", generator=torch.Generator().manual_seed(0))
    assert torch.isfinite(out).all()
    with pytest.raises(ValueError, match="undefined at alpha_bar = 0"):
        S.sample(name, fake_model, proc, SHAPE, steps=10, prediction="eps")
    # A leading grid never visits the last step, so ε-prediction is fine there (and x_T ~ N(0, I) is a mismatch).
    assert torch.isfinite(S.sample(name, fake_model, proc, SHAPE, steps=10, spacing="leading")).all()


def test_clip_x0_and_progress():
    proc = Process(get_schedule("linear", 100))
    out = S.sample("ddim", lambda x, t: 5 * torch.ones_like(x), proc, SHAPE, steps=4, prediction="x0", clip_x0=True,
                   progress=True)
    torch.testing.assert_close(out, torch.ones(SHAPE))


def test_generator_makes_sampling_reproducible():
    proc = Process(get_schedule("cosine", 100))
    a = S.sample("ddpm", fake_model, proc, SHAPE, steps=10, generator=torch.Generator().manual_seed(7))
    b = S.sample("ddpm", fake_model, proc, SHAPE, steps=10, generator=torch.Generator().manual_seed(7))
    torch.testing.assert_close(a, b, rtol=0, atol=0)


@pytest.mark.parametrize("call, match", [
    (lambda p: S.sample("dpm++", fake_model, p, SHAPE, steps=5), "ddpm, ddpm_large, ddim, euler, heun"),
    (lambda p: S.sample("ddpm", fake_model, p, SHAPE, steps=5, eta=0.5), "eta"),
    (lambda p: S.sample("ddim", fake_model, p, SHAPE, steps=5, eta=1.5), "eta"),
    (lambda p: S.sample("ddim", fake_model, p, SHAPE, steps=101), "num_inference_steps"),
    (lambda p: S.sample("ddim", fake_model, p, SHAPE, steps=5, spacing="middle"), "spacing"),
    (lambda p: S.sample("ddim", fake_model, p, SHAPE, steps=5, prediction="score"), "prediction"),
    (lambda p: S.sample("ddim", fake_model, p, SHAPE, steps=5, x_T=torch.zeros(2, 2)), "x_T"),
    (lambda p: S.sample("ddim", fake_model, p, (0, 3), steps=5), "shape"),
    (lambda p: S.sample("ddim", lambda x, t: x[:1], p, SHAPE, steps=5), "model_fn"),
    (lambda p: S.sample("ddim", fake_model, p.q, SHAPE, steps=5), "process"),
])
def test_bad_solver_arguments(call, match):
    with pytest.raises(ValueError, match=match):
        call(Process(get_schedule("linear", 100)))


@pytest.mark.parametrize("steps", [10, 50])
def test_ddim_with_steps_offset_matches_diffusers(steps):
    # Stable Diffusion's configuration: leading spacing with steps_offset = 1 (DDIMScheduler.step, v0.42).
    sch = get_schedule("scaled_linear", 1000)
    hf = DDIMScheduler(num_train_timesteps=1000, trained_betas=sch.betas, clip_sample=False, set_alpha_to_one=True,
                       timestep_spacing="leading", steps_offset=1)
    hf.set_timesteps(steps)
    x_T = _x_T()
    ref = _run_diffusers(hf, x_T, eta=0.0)
    ours = S.sample("ddim", fake_model, Process(sch), SHAPE, steps=steps, spacing="leading", steps_offset=1, x_T=x_T)
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=2e-5)
    k, _, _ = S.sampling_steps(sch.alpha_bar, steps, "leading", steps_offset=1)
    np.testing.assert_array_equal(k, hf.timesteps.numpy())


def test_explicit_grid_equals_the_named_one():
    proc = Process(get_schedule("cosine", 1000), dtype=torch.float64)
    x_T = _x_T(dtype=torch.float64)
    for name in ("ddim", "heun", "dpmpp_2m"):
        a = S.sample(name, fake_model, proc, SHAPE, steps=7, spacing="linspace", x_T=x_T)
        b = S.sample(name, fake_model, proc, SHAPE, steps=7, spacing=list(S.timesteps(1000, 7, "linspace")), x_T=x_T)
        torch.testing.assert_close(a, b, rtol=0, atol=0)
