"""Auto-checks for the exercises of the chapter "Samplers on the Log-SNR Axis"
(``chapters/samplers_log_snr.ipynb``).

Each check calls the reader's function on several inputs, compares with an independent reference (DDIM's
update with η = 0, :func:`~sched_lib.samplers.ddim_coefficients`, and the DPM-Solver++(2M) weights of
:func:`~sched_lib.samplers.dpmpp_2m_coefficients`) and, when the answer is wrong, says *what* is wrong without
giving the answer away. Typical mistakes (the full log-SNR λ where DPM-Solver's half log-SNR belongs, α of the
wrong end of the step, e^{h} for e^{−h}, the step ratio r where 1/(2r) belongs, the two predictions swapped) get
a hint of their own.
"""

from __future__ import annotations

import numpy as np

from . import CheckFailed, as_array, call_answer, fail, passed

__all__ = ["check_ddim_in_lambda", "check_dpmpp_2m_combination", "CheckFailed"]

_LEVELS = [(0.02, 0.3), (0.5, 0.6), (0.9, 0.999), (0.3, 1.0), (0.0, 0.2), (1e-4, 0.97)]


def _ddim(x, x0, ab_s, ab_t):
    """DDIM (η = 0) from ᾱ_s to ᾱ_t, written with ε̂ = (x − √ᾱ_s x̂₀)/√(1 − ᾱ_s)."""
    eps = (x - np.sqrt(ab_s) * x0) / np.sqrt(1.0 - ab_s)
    return np.sqrt(ab_t) * x0 + np.sqrt(1.0 - ab_t) * eps


def _step_with(x, x0, ab_s, ab_t, *, half=True, alpha_end="t", sign=-1):
    """The exponential-integrator step, optionally with one typical mistake, for the hints."""
    with np.errstate(divide="ignore", invalid="ignore"):
        lam = lambda ab: np.log(ab) - np.log1p(-ab)  # noqa: E731  full log-SNR
        h = (lam(ab_t) - lam(ab_s)) * (0.5 if half else 1.0)
        a = np.sqrt(ab_t if alpha_end == "t" else ab_s)
        return np.sqrt((1 - ab_t) / (1 - ab_s)) * x + a * (1 - np.exp(sign * h)) * x0


# --------------------------------------------------------------------------------------------------
# Exercise 1: DDIM as the first-order exponential integrator in λ
# --------------------------------------------------------------------------------------------------

def check_ddim_in_lambda(step) -> None:
    """Check ``step(x, x0_hat, alpha_bar_s, alpha_bar_t)``: one first-order step of the data-prediction ODE."""
    rng = np.random.default_rng(11)
    x = rng.standard_normal(8)
    x0 = rng.uniform(-1.0, 1.0, 8)
    for ab_s, ab_t in _LEVELS:
        what = f"alpha_bar_s = {ab_s:g}, alpha_bar_t = {ab_t:g}"
        out = as_array(call_answer(step, x.copy(), x0.copy(), ab_s, ab_t, what=what), f"your step at {what}",
                       shape=x.shape)
        ref = _ddim(x, x0, ab_s, ab_t)
        if not np.isfinite(out).all():
            fail(f"your step returns inf at {what}: at alpha_bar = 0 or 1 the log-SNR is infinite, but "
                 "e^(-h) is then simply 0; write the step so that it stays finite there")
        if np.allclose(out, ref, rtol=1e-9, atol=1e-12):
            continue
        if np.allclose(out, _step_with(x, x0, ab_s, ab_t, half=False), rtol=1e-9, atol=1e-12):
            fail(f"your step is wrong at {what}: you used the full log-SNR log(alpha_bar/(1 - alpha_bar)) for h. "
                 "DPM-Solver's time variable is log(alpha/sigma), half of it")
        if np.allclose(out, _step_with(x, x0, ab_s, ab_t, alpha_end="s"), rtol=1e-9, atol=1e-12):
            fail(f"your step is wrong at {what}: the weight of x0_hat belongs to the end of the step "
                 "(alpha at alpha_bar_t), not its start")
        if np.allclose(out, _step_with(x, x0, ab_s, ab_t, sign=+1), rtol=1e-9, atol=1e-12):
            fail(f"your step is wrong at {what}: check the sign of h in the exponential (h > 0 when the step "
                 "moves towards the data)")
        if ab_t == 1.0 and not np.allclose(out, x0, atol=1e-12):
            fail("a step to the data (alpha_bar_t = 1) must return x0_hat itself: sigma_t = 0 removes x")
        err = float(np.max(np.abs(out - ref)))
        fail(f"your step is wrong at {what}: it differs from the exact first-order step by up to {err:.3g}")
    passed("your first-order step in log-SNR is DDIM (eta = 0) at every level tried, including a start at "
           "alpha_bar = 0 and a last step to the data.")


# --------------------------------------------------------------------------------------------------
# Exercise 2: the DPM-Solver++(2M) combination of the last two predictions
# --------------------------------------------------------------------------------------------------

def check_dpmpp_2m_combination(combine) -> None:
    """Check ``combine(x0_cur, x0_prev, lam_prev, lam_cur, lam_next)``: Algorithm 2's D_i."""
    from ..samplers import dpmpp_2m_coefficients

    rng = np.random.default_rng(12)
    cur, prev = rng.standard_normal(6), rng.standard_normal(6)
    cases = [(-4.0, -2.0, 0.0), (-1.0, 0.0, 3.0), (2.0, 2.5, 2.6), (-9.0, 1.0, 2.0), (0.0, 4.0, 4.1)]
    sig = lambda lam: 1.0 / (1.0 + np.exp(-lam))  # noqa: E731  ᾱ from the full log-SNR λ
    for lp, lc, ln in cases:
        what = f"lambda = ({lp:g}, {lc:g}, {ln:g})"
        out = as_array(call_answer(combine, cur.copy(), prev.copy(), lp, lc, ln, what=what),
                       f"your D at {what}", shape=cur.shape)
        # reference from the library's weights: c_cur·x0_cur + c_old·x0_prev = c_d·D, c_d = c_cur + c_old
        _, c_cur, c_old = dpmpp_2m_coefficients(sig(np.array([lp, lc])), sig(np.array([lc, ln])))
        ref = (c_cur[1] * cur + c_old[1] * prev) / (c_cur[1] + c_old[1])
        if np.allclose(out, ref, rtol=1e-9, atol=1e-12):
            continue
        r = (lc - lp) / (ln - lc)
        if np.allclose(out, (1 + 1 / r) * cur - (1 / r) * prev, rtol=1e-9, atol=1e-12):
            fail(f"your D is wrong at {what}: the extrapolation weight is 1/(2r), not 1/r (the midpoint of the "
                 "step, not its end)")
        if np.allclose(out, (1 + r / 2) * cur - (r / 2) * prev, rtol=1e-9, atol=1e-12):
            fail(f"your D is wrong at {what}: r is the previous step over the current one, h_(i-1)/h_i")
        if np.allclose(out, (1 + 1 / (2 * r)) * prev - (1 / (2 * r)) * cur, rtol=1e-9, atol=1e-12):
            fail(f"your D is wrong at {what}: you swapped the current and the previous prediction")
        if np.allclose(out, cur, rtol=1e-9, atol=1e-12):
            fail(f"your D at {what} is just x0_cur: that is DDIM; add the correction from the previous prediction")
        err = float(np.max(np.abs(out - ref)))
        fail(f"your D is wrong at {what}: it differs from DPM-Solver++(2M)'s by up to {err:.3g}")
    passed("your D extrapolates the last two predictions to the middle of the step, as DPM-Solver++(2M) does; "
           "note that it does not matter whether you measure the steps in lambda or in lambda/2.")
