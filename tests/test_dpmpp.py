"""DPM-Solver++(2M) (sched_lib.samplers.sample_dpmpp_2m; chapter "Samplers on the log-SNR axis").

Parity, in float64, with two independent implementations, on the same grid, denoiser and start:

* diffusers 0.42.1, ``DPMSolverMultistepScheduler`` (src/diffusers/schedulers/scheduling_dpmsolver_multistep.py),
  with ``algorithm_type="dpmsolver++"``, ``solver_order=2``, ``solver_type="midpoint"``, ``thresholding=False``
  and the final-step options ``final_sigmas_type="zero"`` (the last step goes to σ = 0), ``lower_order_final=True``
  and ``euler_at_final=False`` (with ``final_sigmas_type="zero"`` diffusers makes the last step first order
  whatever the other two say). diffusers keeps its σ table in float32 and its ``step()`` casts the sample to
  float32, so the float64 test replaces the σ table by the float64 σ of the same steps and drives diffusers' own
  ``convert_model_output``, ``dpm_solver_first_order_update`` and ``multistep_dpm_solver_second_order_update``
  with the order choice of ``step()`` (quoted below) but without its casts; a second test runs the unmodified
  ``step()`` in float32 at float32 tolerance.
* k-diffusion's ``sample_dpmpp_2m``, transcribed below (the package imports torchvision and scikit-image at
  ``import k_diffusion``, neither of which is installed beside our torch).

Float64 tolerance: every step is a handful of multiply-adds, each rounded to 1.1e-16 relative, and the
implementations compute the same coefficients by different formulas (log α − log σ against −log σ_VE, expm1
against exp − 1, VP against VE variables). The largest intermediate values are the first steps' x̂₀ =
(x − σε̂)/α = O(1/√ᾱ_T) ≈ 160 for `linear` with ε-prediction, whose ulp is 160 · 2.2e-16 ≈ 3.5e-14; a few
tens of such roundings (the map is a contraction, σ_{i+1}/σ_i ≤ 1, so they do not grow) give a few 1e-13
(measured: 5.7e-13 against diffusers, 2.0e-13 against k-diffusion). We allow 1e-12, about 30 ulps of 160.
"""

import numpy as np
import pytest
import torch

from sched_lib import get_schedule
from sched_lib import gaussian as G
from sched_lib import samplers as S
from sched_lib.process import Process

diffusers = pytest.importorskip("diffusers")
from diffusers import DPMSolverMultistepScheduler  # noqa: E402

DIFFUSERS_VERSION = "0.42.1"
HF_PRED = {"eps": "epsilon", "x0": "sample", "v": "v_prediction"}
SHAPE = (4, 2, 3)
F64_TOL = 1e-12


def fake_model(x, t):
    """A fixed, smooth, t-dependent stand-in for a network (any frame)."""
    tt = t.to(x.dtype).view(-1, *([1] * (x.ndim - 1)))
    return 0.8 * torch.tanh(x) + 0.3 * torch.cos(x + 1e-3 * tt)


def _x_T(seed=0, dtype=torch.float64):
    return torch.randn(SHAPE, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def test_diffusers_version_is_the_one_named_here():
    assert diffusers.__version__ == DIFFUSERS_VERSION, "re-read scheduling_dpmsolver_multistep.py and update the test"


# --------------------------------------------------------------------------------------------------
# diffusers
# --------------------------------------------------------------------------------------------------

def _hf_scheduler(sch, pred, spacing, steps_offset=0):
    return DPMSolverMultistepScheduler(
        num_train_timesteps=sch.T, trained_betas=sch.betas, prediction_type=HF_PRED[pred],
        algorithm_type="dpmsolver++", solver_order=2, solver_type="midpoint", thresholding=False,
        lower_order_final=True, euler_at_final=False, final_sigmas_type="zero",
        timestep_spacing=spacing, steps_offset=steps_offset)


def _run_diffusers_float64(hf, sch, x_T):
    """diffusers' own update methods in float64: the order logic of DPMSolverMultistepScheduler.step (0.42.1),

        lower_order_final = (step_index == len(timesteps) - 1) and (euler_at_final or
                            (lower_order_final and len(timesteps) < 15) or final_sigmas_type == "zero")
        if solver_order == 1 or lower_order_nums < 1 or lower_order_final: first order
        elif solver_order == 2 ...: second order

    without its ``sample.to(torch.float32)``, on a float64 σ table for the same steps."""
    t = hf.timesteps.numpy()
    ab = sch.alpha_bar[t]
    hf.sigmas = torch.from_numpy(np.append(np.sqrt((1 - ab) / ab), 0.0))     # float64, same steps
    hf._step_index, lower_order_nums, cfg = 0, 0, hf.config
    x = x_T.clone()
    for i, step in enumerate(t):
        out = fake_model(x, torch.full((x.shape[0],), int(step)))
        final = i == len(t) - 1 and (cfg.euler_at_final or (cfg.lower_order_final and len(t) < 15)
                                     or cfg.final_sigmas_type == "zero")
        m = hf.convert_model_output(out, sample=x)
        hf.model_outputs = [hf.model_outputs[-1], m]
        if lower_order_nums < 1 or final:
            x = hf.dpm_solver_first_order_update(m, sample=x)
        else:
            x = hf.multistep_dpm_solver_second_order_update(hf.model_outputs, sample=x)
        lower_order_nums += 1
        hf._step_index += 1
    assert x.dtype == torch.float64
    return x


@pytest.mark.parametrize("schedule, pred", [(("linear", {}), "eps"), (("cosine", {}), "v"),
                                            (("scaled_linear", {}), "x0")])
@pytest.mark.parametrize("spacing, steps, offset", [
    ("trailing", 10, 0), ("trailing", 25, 0), ("leading", 20, 1), ("linspace", 12, 0), ("trailing", 50, 0)])
def test_matches_diffusers_in_float64(schedule, pred, spacing, steps, offset):
    sch = get_schedule(schedule[0], 1000, **schedule[1])
    hf = _hf_scheduler(sch, pred, spacing, offset)
    hf.set_timesteps(steps)
    grid = hf.timesteps.numpy()
    # diffusers' own σ table is the float64 one in float32: replacing it changes rounding only. Its ᾱ is a
    # float32 cumulative product of T factors, good to about T·2⁻²⁴ relative (6e-5 at T = 1000).
    ab = sch.alpha_bar[grid]
    np.testing.assert_allclose(hf.sigmas.numpy()[:-1], np.sqrt((1 - ab) / ab), rtol=1000 * 2.0**-24)
    if spacing == "trailing":
        # DPMSolverMultistepScheduler's trailing grid is sched_lib's (its leading/linspace grids use N + 1
        # points and drop the last, unlike DDIMScheduler's, so those are passed as an explicit grid).
        np.testing.assert_array_equal(grid, S.timesteps(1000, steps, "trailing"))
        ours_spacing = "trailing"
    else:
        ours_spacing = grid
    x_T = _x_T()
    ref = _run_diffusers_float64(hf, sch, x_T)
    ours = S.sample_dpmpp_2m(fake_model, Process(sch, dtype=torch.float64), SHAPE, steps=steps,
                             spacing=ours_spacing, prediction=pred, x_T=x_T)
    assert ours.dtype == torch.float64
    torch.testing.assert_close(ours, ref, rtol=0, atol=F64_TOL)


def test_matches_unmodified_diffusers_step_in_float32():
    # diffusers' step() as shipped (float32 tables, float32 sample): agreement at float32 rounding, 6e-8
    # relative per operation on intermediate values up to ≈ 160 (x̂₀ at the first step), i.e. ~1e-5 absolute
    # (measured 7.6e-5 on outputs of size up to ~10, inside atol + rtol·|x|).
    sch = get_schedule("linear", 1000)
    hf = _hf_scheduler(sch, "eps", "trailing")
    hf.set_timesteps(20)
    x = _x_T(dtype=torch.float32)
    ours = S.sample_dpmpp_2m(fake_model, Process(sch, dtype=torch.float64), SHAPE, steps=20, x_T=x.double())
    for t in hf.timesteps:
        x = hf.step(fake_model(x, torch.full((x.shape[0],), int(t))), t, x).prev_sample
    torch.testing.assert_close(ours.float(), x, rtol=1e-5, atol=1e-5)


def test_leading_grid_with_steps_offset_is_diffusers_ddim_grid():
    # steps_offset = 1 (Stable Diffusion's configuration) on the DDIM "leading" grid, as DDIMScheduler builds it.
    from diffusers import DDIMScheduler
    hf = DDIMScheduler(num_train_timesteps=1000, timestep_spacing="leading", steps_offset=1)
    hf.set_timesteps(50)
    k, _, _ = S.sampling_steps(get_schedule("scaled_linear", 1000).alpha_bar, 50, "leading", steps_offset=1)
    np.testing.assert_array_equal(k, hf.timesteps.numpy())


# --------------------------------------------------------------------------------------------------
# k-diffusion
# --------------------------------------------------------------------------------------------------

def kdiffusion_sample_dpmpp_2m(model, x, sigmas):
    """INDEPENDENT REFERENCE, transcribed from k-diffusion, not part of sched_lib.

    Source: k_diffusion/sampling.py, ``sample_dpmpp_2m`` (lines 585-607 of the PyPI release
    k-diffusion 0.1.1.post1; https://github.com/crowsonkb/k-diffusion/blob/master/k_diffusion/sampling.py,
    commit 686dbad0f39640ea25c8a8c6a6e56bb40eacefa2). MIT licence, Copyright (c) 2022 Katherine Crowson.
    Only the progress bar, callback and extra_args are left out. x is the VE variable, sigmas end in 0.
    """
    s_in = x.new_ones([x.shape[0]])
    sigma_fn = lambda t: t.neg().exp()  # noqa: E731
    t_fn = lambda sigma: sigma.log().neg()  # noqa: E731
    old_denoised = None

    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in)
        t, t_next = t_fn(sigmas[i]), t_fn(sigmas[i + 1])
        h = t_next - t
        if old_denoised is None or sigmas[i + 1] == 0:
            x = (sigma_fn(t_next) / sigma_fn(t)) * x - (-h).expm1() * denoised
        else:
            h_last = t - t_fn(sigmas[i - 1])
            r = h_last / h
            denoised_d = (1 + 1 / (2 * r)) * denoised - (1 / (2 * r)) * old_denoised
            x = (sigma_fn(t_next) / sigma_fn(t)) * x - (-h).expm1() * denoised_d
        old_denoised = denoised
    return x


def _kdiff_denoiser(proc, k, pred):
    """k-diffusion's D(y; σ) for our discrete model: y = x/√ᾱ is the VE variable, σ = √((1−ᾱ)/ᾱ)."""
    ab = proc.q.alpha_bar
    index = {float(np.sqrt((1 - ab[j]) / ab[j])): int(j) for j in k}

    def D(y, sigma):
        j = index[float(sigma[0])]                       # the grid's own σ values, exactly
        x = np.sqrt(ab[j]) * y
        t = torch.full((y.shape[0],), j)
        return proc.predict_x0(x, t, fake_model(x, t), pred)

    return D


@pytest.mark.parametrize("schedule, pred", [("linear", "eps"), ("cosine", "v"), ("scaled_linear", "x0")])
@pytest.mark.parametrize("spacing, steps", [("trailing", 10), ("linspace", 7), ("leading", 30), ("trailing", 1)])
def test_matches_k_diffusion_in_float64(schedule, pred, spacing, steps):
    proc = Process(get_schedule(schedule, 1000), dtype=torch.float64)
    k = S.timesteps(1000, steps, spacing)
    ab = proc.q.alpha_bar
    sigmas = torch.from_numpy(np.append(np.sqrt((1 - ab[k]) / ab[k]), 0.0))
    x_T = _x_T()
    ref = kdiffusion_sample_dpmpp_2m(_kdiff_denoiser(proc, k, pred), x_T / np.sqrt(ab[k[0]]), sigmas)
    ours = S.sample_dpmpp_2m(fake_model, proc, SHAPE, steps=steps, spacing=spacing, prediction=pred, x_T=x_T)
    torch.testing.assert_close(ours, ref, rtol=0, atol=F64_TOL)  # at σ = 0 the VE and VP variables agree


# --------------------------------------------------------------------------------------------------
# The method itself
# --------------------------------------------------------------------------------------------------

def _ode_error(ab_grid, second_order):
    """|x_end − exact| for 1-D Gaussian data N(0.3, 0.5) along the probability-flow ODE (no step to the data).

    With the optimal denoiser the exact flow keeps the standardised coordinate: x = √ᾱ m + √(ᾱs² + 1 − ᾱ) u."""
    m, s2 = 0.3, 0.5
    ab_t, ab_p = ab_grid[:-1], ab_grid[1:]
    c_x, c_cur, c_old = S.dpmpp_2m_coefficients(ab_t, ab_p)
    if not second_order:
        c_cur, c_old = c_cur + c_old, 0 * c_old          # D = x̂₀: DDIM
    x0 = lambda x, ab: m + np.sqrt(ab) * s2 / (ab * s2 + 1 - ab) * (x - np.sqrt(ab) * m)  # noqa: E731
    u = 1.3
    x = np.sqrt(ab_t[0]) * m + np.sqrt(ab_t[0] * s2 + 1 - ab_t[0]) * u
    old = None
    for i in range(len(ab_t)):
        d = x0(x, ab_t[i])
        x = c_x[i] * x + c_cur[i] * d + (c_old[i] * old if c_old[i] else 0.0)
        old = d
    return abs(x - (np.sqrt(ab_p[-1]) * m + np.sqrt(ab_p[-1] * s2 + 1 - ab_p[-1]) * u))


def test_convergence_order_in_lambda():
    # On a grid uniform in λ from −6 to 6, halving the step divides DDIM's error by 2 and DPM-Solver++(2M)'s by 4.
    grid = lambda n: 1 / (1 + np.exp(-np.linspace(-6, 6, n + 1)))  # noqa: E731  ᾱ = sigmoid(λ)
    e1 = [_ode_error(grid(n), False) for n in (40, 80, 160)]
    e2 = [_ode_error(grid(n), True) for n in (40, 80, 160)]
    assert np.log2(e1[1] / e1[2]) == pytest.approx(1.0, abs=0.1)
    assert np.log2(e2[1] / e2[2]) == pytest.approx(2.0, abs=0.15)
    assert e2[2] < e1[2] / 20


def test_first_step_and_last_step_are_ddim():
    ab = get_schedule("cosine", 1000).alpha_bar
    _, ab_t, ab_p = S.sampling_steps(ab, 8, "trailing")
    c_x, c_cur, c_old = S.dpmpp_2m_coefficients(ab_t, ab_p)
    d_x0, d_eps, _ = S.ddim_coefficients(ab_t, ab_p)
    # DDIM in (x̂₀, x): x' = (d_x0 − d_eps√ᾱ/√(1−ᾱ)) x̂₀ + d_eps/√(1−ᾱ) x.
    ddim_x, ddim_d = d_eps / np.sqrt(1 - ab_t), d_x0 - d_eps * np.sqrt(ab_t) / np.sqrt(1 - ab_t)
    np.testing.assert_allclose(c_x, ddim_x, rtol=1e-12, atol=1e-15)
    for i in (0, 7):
        assert c_old[i] == 0 and c_cur[i] == pytest.approx(ddim_d[i], rel=1e-12)
    assert (c_old[1:7] < 0).all()
    # Every step reproduces a constant x̂₀ exactly: the weights on x̂₀ add up to DDIM's.
    np.testing.assert_allclose(c_cur + c_old, ddim_d, rtol=1e-12)


def test_zero_terminal_snr_start():
    ab = get_schedule("linear", 1000, zero_terminal_snr=True).alpha_bar
    _, ab_t, ab_p = S.sampling_steps(ab, 6, "trailing")
    c_x, c_cur, c_old = S.dpmpp_2m_coefficients(ab_t, ab_p)
    assert ab_t[0] == 0 and np.isfinite([c_x, c_cur, c_old]).all()
    assert c_old[1] == 0                                   # h_0 = ∞: the second step is first order too
    assert c_x[0] == pytest.approx(np.sqrt(1 - ab_p[0])) and c_cur[0] == pytest.approx(np.sqrt(ab_p[0]))


@pytest.mark.parametrize("schedule, zt, spacing", [("cosine", False, "trailing"), ("linear", True, "trailing"),
                                                   ("scaled_linear", False, "leading")])
def test_exact_gaussian_law_matches_monte_carlo(schedule, zt, spacing):
    rng = np.random.default_rng(1)
    data = G.GaussianData(np.array([0.4, -0.3, 0.1]), np.array([1.0, 0.2, 0.03]),
                          np.linalg.qr(rng.standard_normal((3, 3)))[0])
    sch = get_schedule(schedule, 1000, zero_terminal_snr=zt)
    proc = Process(sch, dtype=torch.float64)
    n = 20_000
    x = S.sample("dpmpp_2m", G.gaussian_model_fn(data, proc, "v"), proc, (n, 3), steps=8, spacing=spacing,
                 prediction="v", generator=torch.Generator().manual_seed(2))
    z = data.to_eigenbasis(x.numpy())
    mean, var = G.sampler_output_distribution(data, sch, "dpmpp_2m", 8, spacing)
    assert np.abs((z.mean(0) - mean) / np.sqrt(var / n)).max() < 5
    assert np.abs((z.var(0, ddof=1) / var - 1) / np.sqrt(2 / (n - 1))).max() < 5


def test_grid_output_distribution_equals_the_named_grid():
    data = G.GaussianData(np.array([0.2, -0.1]), np.array([0.8, 0.01]))
    sch = get_schedule("linear", 1000)
    _, ab_t, _ = S.sampling_steps(sch.alpha_bar, 12, "trailing")
    for sampler in ("ddim", "heun", "dpmpp_2m"):
        a = G.grid_output_distribution(data, ab_t, sampler)
        b = G.sampler_output_distribution(data, sch, sampler, 12, "trailing")
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])


def test_exponential_sigmas_are_uniform_in_log_snr():
    s = S.exponential_sigmas(9, 0.01, 50.0)
    assert s[-1] == 0 and s[0] == pytest.approx(50.0) and s[-2] == pytest.approx(0.01)
    lam = -2 * np.log(s[:-1])
    np.testing.assert_allclose(np.diff(lam), np.diff(lam)[0], rtol=1e-12)
    # k-diffusion's get_sigmas_exponential (same source): exp(linspace(log σ_max, log σ_min, n)), then 0.
    ref = torch.linspace(np.log(50.0), np.log(0.01), 9, dtype=torch.float64).exp().numpy()
    np.testing.assert_allclose(s[:-1], ref, rtol=1e-14)


@pytest.mark.parametrize("call, match", [
    (lambda p: S.sample_dpmpp_2m(fake_model, p, SHAPE, steps=5, eta=0.5), "eta"),
    (lambda p: S.sample_dpmpp_2m(fake_model, p, SHAPE, steps=3, spacing=[50, 20]), "exactly steps"),
    (lambda p: S.sample_dpmpp_2m(fake_model, p, SHAPE, steps=2, spacing=[20, 50]), "descending"),
    (lambda p: S.sample_dpmpp_2m(fake_model, p, SHAPE, steps=2, spacing=[100, 5]), r"\[0, 99\]"),
    (lambda p: S.sample_dpmpp_2m(fake_model, p, SHAPE, steps=2, spacing=[50.5, 5]), "integer"),
    (lambda p: S.sample_dpmpp_2m(fake_model, p, SHAPE, steps=2, spacing=[50, 5], steps_offset=1), "leading"),
    (lambda p: S.sample_dpmpp_2m(fake_model, p, SHAPE, steps=5, spacing="leading", steps_offset=90), "past"),
    (lambda p: S.sample_dpmpp_2m(fake_model, p, SHAPE, steps=5, prediction="score"), "prediction"),
    (lambda p: S.dpmpp_2m_coefficients([0.1, 0.3], [0.2, 1.0]), "chained"),
    (lambda p: S.dpmpp_2m_coefficients([0.5, 0.3], [0.3, 1.0]), "towards the data"),
    (lambda p: S.exponential_sigmas(4, 1.0, 0.5), "sigma_max"),
    (lambda p: G.grid_output_distribution(G.GaussianData([0.0], [1.0]), [0.5, 0.2], "dpmpp_2m"), "increase"),
    (lambda p: G.grid_output_distribution(G.GaussianData([0.0], [1.0]), [0.5], "dpm"), "unknown sampler"),
])
def test_bad_arguments(call, match):
    with pytest.raises(ValueError, match=match):
        call(Process(get_schedule("linear", 100)))
