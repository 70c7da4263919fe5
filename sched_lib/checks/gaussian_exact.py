"""Auto-checks for the exercises of the lab "Exact Diffusion on Gaussian Data" (``labs/gaussian_exact.ipynb``).

The references are computed here in closed form (exercises 1 and 2) or with the exact Gaussian analysis
of :mod:`sched_lib.gaussian` (exercise 3). When an answer is wrong the check says *what* is wrong without
giving the answer away; typical mistakes (the KL in the wrong direction, a start from the true marginal
instead of N(0, 1), a missing mean term, the MMSE in place of the variance of the posterior mean, the
lowest KL in place of the lowest W₂) get a hint of their own.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from . import CheckFailed, as_array, call_answer, fail, passed

__all__ = ["check_one_step_kl", "check_beta1_for_floor", "check_best_schedule", "CheckFailed"]


def _kl(m1, v1, m2, v2):
    """KL(N(m1, v1) ‖ N(m2, v2)), elementwise."""
    return 0.5 * (np.log(v2 / v1) + (v1 + (m1 - m2) ** 2) / v2 - 1.0)


def _scalar(out, what: str) -> float:
    if isinstance(out, (np.ndarray, list, tuple)) and np.size(out) != 1:
        fail(f"return one number (the KL summed over everything), got an array of shape {np.shape(out)} "
             f"on {what}")
    if not isinstance(out, (numbers.Real, np.ndarray, list, tuple)):
        fail(f"return a number, got {type(out).__name__} on {what}")
    return float(as_array(out, f"the result on {what}").reshape(()))


# --------------------------------------------------------------------------------------------------
# Exercise 1: the KL of a one-step DDIM sampler for 1-D Gaussian data
# --------------------------------------------------------------------------------------------------

def _one_step_variants(s2: float, m: float, ab: float) -> dict:
    g = math.sqrt(ab) * s2 / (ab * s2 + 1.0 - ab)                       # gain of E[x0 | x_T]
    mean, var = m * (1.0 - g * math.sqrt(ab)), g * g                    # x_T ~ N(0, 1) pushed through it
    right = float(_kl(mean, var, m, s2))
    marginal = ab * s2 + 1.0 - ab
    mmse = s2 * (1.0 - ab) / (ab * s2 + 1.0 - ab)
    return {
        "right": right,
        "reversed": float(_kl(m, s2, mean, var)),
        "true_start": float(_kl(m, g * g * marginal, m, s2)),
        "no_mean": float(_kl(m, var, m, s2)),
        "no_half": 2.0 * right,
        "bits": right / math.log(2.0),
        "mmse_var": float(_kl(mean, mmse, m, s2)),
    }


_ONE_STEP_HINTS = {
    "reversed": "your KL goes the wrong way: the question is KL(sampler output || data), the expectation "
                "taken under the sampler's output",
    "true_start": "you started from the true marginal of x_T, N(sqrt(abar) m, abar s2 + 1 - abar); the "
                  "sampler starts from x_T ~ N(0, 1). That mismatch is part of the answer",
    "no_mean": "your KL has no mean term: the output's mean is m (1 - g sqrt(abar)), not m, because x_T "
               "has mean 0",
    "no_half": "your KL is twice the right value: KL between Gaussians has a factor 1/2 in front",
    "bits": "use the natural log (nats), not bits",
    "mmse_var": "you gave the output the posterior variance (the MMSE). The output is the posterior "
                "*mean* x0_hat(x_T), and its variance is g^2 Var(x_T)",
}

_ONE_STEP_CASES = [(1.0, 0.0, 0.5), (0.25, 0.4, 0.9), (4.0, -1.0, 0.05), (0.01, 0.3, 0.99), (2.0, 0.7, 0.3)]


def check_one_step_kl(kl_one_step) -> None:
    """Exercise 1: ``kl_one_step(s2, m, alpha_bar) -> float``.

    Data N(m, s2) in one dimension; the sampler draws x_T ~ N(0, 1) and takes one DDIM step from ᾱ_T =
    ``alpha_bar`` straight to the data, i.e. returns the optimal x̂₀(x_T) = E[x₀ | x_T]. Return
    KL(output ‖ data) in nats.
    """
    for s2, m, ab in _ONE_STEP_CASES:
        what = f"s2 = {s2:g}, m = {m:g}, alpha_bar = {ab:g}"
        got = _scalar(call_answer(kl_one_step, s2, m, ab, what=what), what)
        v = _one_step_variants(s2, m, ab)
        if math.isclose(got, v["right"], rel_tol=1e-6, abs_tol=1e-9):
            continue
        for key, hint in _ONE_STEP_HINTS.items():
            if math.isclose(got, v[key], rel_tol=1e-6, abs_tol=1e-9):
                fail(hint)
        if got < 0:
            fail(f"a KL divergence is never negative, got {got:g} for {what}")
        fail(f"for {what} you got {got:.6g}; find the output law first: x0_hat = m + g (x_T - sqrt(abar) m) "
             "with g = sqrt(abar) s2 / (abar s2 + 1 - abar) and x_T ~ N(0, 1)")
    v = _one_step_variants(1.0, 0.0, 0.5)["right"]
    g = math.sqrt(0.5) / (0.5 + 0.5)
    passed(f"on {len(_ONE_STEP_CASES)} cases. For unit-variance data and alpha_bar = 0.5 one step leaves a KL "
           f"of {v:.3f} nats: the output is too narrow (variance g^2 = {g * g:.2f}).")


# --------------------------------------------------------------------------------------------------
# Exercise 2: the first noise level that a given last-step floor needs
# --------------------------------------------------------------------------------------------------

def _floor(eig: np.ndarray, beta: float, kind: str = "right") -> float:
    """The last-step floor (nats) of a final step from alpha_bar = 1 - beta, and typical wrong versions."""
    ab = 1.0 - beta
    r = ab * eig / (ab * eig + beta)
    if kind == "reversed":
        per = 0.5 * (1.0 / r - 1.0 + np.log(r))
    else:
        per = 0.5 * (r - 1.0 - np.log(r))
    return float(per.mean() if kind == "mean" else per.sum())


def _solve_beta(eig: np.ndarray, target: float, kind: str = "right") -> float:
    lo, hi = -60.0, math.log1p(-1e-12)                 # bisection on log(beta); the floor increases with beta
    if _floor(eig, math.exp(hi), kind) < target:
        return math.nan
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if _floor(eig, math.exp(mid), kind) < target else (lo, mid)
    return math.exp(0.5 * (lo + hi))


_BETA_HINTS = {
    "alpha_bar": "you returned alpha_bar_1; the question asks for beta_1 = 1 - alpha_bar_1",
    "sigma2": "your answer is the noise variance in x0 units, (1 - alpha_bar)/alpha_bar = beta_1/(1 - beta_1), "
              "not beta_1 (or your floor takes beta_1 itself as that variance: x_1 / sqrt(alpha_bar_1) = x0 + noise "
              "of variance beta_1/(1 - beta_1), so r = alpha_bar s2 / (alpha_bar s2 + 1 - alpha_bar))",
    "reversed": "your floor uses the KL in the wrong direction: the question is KL(output || data)",
    "mean": "your floor averages over the directions: the KL of independent directions is their sum",
}


def _beta_cases():
    return [
        ("100 variances from 1e-6 to 10, target 1 nat", np.geomspace(1e-6, 10.0, 100), 1.0),
        ("variances [1e-3, 1e-2, 0.1], target 0.01 nats", np.array([1e-3, 1e-2, 0.1]), 0.01),
        ("50 variances from 1e-8 to 1, target 5 nats", np.geomspace(1e-8, 1.0, 50), 5.0),
        ("one variance 0.5, target 0.2 nats", np.array([0.5]), 0.2),
    ]


def check_beta1_for_floor(beta1_for_floor) -> None:
    """Exercise 2: ``beta1_for_floor(eigvals, target) -> beta_1``.

    The β₁ = 1 − ᾱ₁ at which the last-step floor of a final step from ᾱ₁, Σ ½(r − 1 − log r) with
    r = ᾱ s²/(ᾱ s² + 1 − ᾱ), equals ``target`` nats for data with variances ``eigvals``.
    """
    for what, eig, target in _beta_cases():
        got = _scalar(call_answer(beta1_for_floor, eig.copy(), target, what=what), what)
        right = _solve_beta(eig, target)
        if math.isclose(got, right, rel_tol=1e-4):
            continue
        if math.isclose(got, target, rel_tol=1e-9) or math.isclose(got, _floor(eig, right), rel_tol=1e-6):
            fail(f"on {what} you returned the floor itself; return the beta_1 at which it equals the target")
        variants = {"alpha_bar": 1.0 - right, "sigma2": right / (1.0 - right)}
        variants.update({k: _solve_beta(eig, target, k) for k in ("reversed", "mean")})
        for key, hint in _BETA_HINTS.items():
            v = variants[key]
            if math.isfinite(v) and math.isclose(got, v, rel_tol=1e-4) and not math.isclose(v, right, rel_tol=1e-4):
                fail(hint)
        if not 0 < got < 1:
            fail(f"beta_1 must lie in (0, 1), got {got:g} on {what}")
        at = _floor(eig, got)
        direction = "too large: the floor there exceeds" if at > target else "too small: the floor there is below"
        fail(f"on {what} your beta_1 = {got:.4g} is {direction} the target ({at:.4g} nats)")
    b = _solve_beta(np.geomspace(1e-6, 10.0, 100), 1.0)
    passed(f"on {len(_beta_cases())} cases. For 100 log-spaced variances from 1e-6 to 10, a floor of 1 nat needs "
           f"beta_1 = {b:.2e}.")


# --------------------------------------------------------------------------------------------------
# Exercise 3: the schedule with the lowest W2 at few DDIM steps
# --------------------------------------------------------------------------------------------------

def _synthetic_data(D: int, power: float, top: float, seed: int):
    from ..gaussian import GaussianData

    rng = np.random.default_rng(seed)
    eig = top * np.arange(1, D + 1, dtype=np.float64) ** (-power)
    mean = np.zeros(D)
    mean[:4] = rng.normal(0.0, 1.0, 4) * np.sqrt(eig[:4]) * 0.3
    return GaussianData(mean, eig)


def _candidates(names, zero_terminal: bool):
    from ..schedules import get_schedule

    out = {name: get_schedule(name, 1000) for name in names}
    if zero_terminal:
        out.update({f"{name}+zt": get_schedule(name, 1000, zero_terminal_snr=True) for name in names})
    return out


def _best_cases():
    names5 = ("linear", "cosine", "scaled_linear", "chen_sigmoid", "logistic")
    return [
        ("a 64-d power-law spectrum (top variance 200), 10 trailing steps",
         _synthetic_data(64, 2.2, 200.0, 0), _candidates(names5, True), 10, "trailing"),
        ("a 64-d spectrum with top variance 20, 10 leading steps",
         _synthetic_data(64, 1.5, 20.0, 0), _candidates(names5, True), 10, "leading"),
        ("a 32-d flatter spectrum (top variance 2), three schedules, 5 trailing steps",
         _synthetic_data(32, 1.2, 2.0, 1), _candidates(("linear", "cosine", "chen_sigmoid"), False), 5, "trailing"),
    ]


def _scores(data, schedules, steps, spacing, sampler="ddim"):
    from ..gaussian import kl_diagonal, sampler_output_distribution, w2_diagonal

    w2, kl = {}, {}
    for label, sched in schedules.items():
        mean, var = sampler_output_distribution(data, sched, sampler, steps, spacing)
        w2[label] = float(np.sqrt(w2_diagonal(mean, var, data.mean_eig, data.eigvals).sum()))
        kl[label] = float(kl_diagonal(mean, var, data.mean_eig, data.eigvals).sum())
    return w2, kl


def check_best_schedule(best_schedule) -> None:
    """Exercise 3: ``best_schedule(data, schedules, steps, spacing) -> label``.

    ``data`` is a :class:`~sched_lib.gaussian.GaussianData`, ``schedules`` a dict {label: Schedule}.
    Return the label whose DDIM sampler (η = 0) with ``steps`` steps and ``spacing`` has the lowest exact
    W₂ to the data. Checked on synthetic spectra with different step counts and spacings.
    """
    from ..schedules import Schedule

    found = []
    for what, data, schedules, steps, spacing in _best_cases():
        out = call_answer(best_schedule, data, dict(schedules), steps, spacing, what=what)
        if isinstance(out, Schedule):
            fail("return the label (the key of the schedules dict), not the Schedule object")
        if isinstance(out, numbers.Real):
            fail(f"return the label of the best schedule, not a number (got {out:g})")
        if not isinstance(out, str) or out not in schedules:
            fail(f"return one of the labels {sorted(schedules)}, got {out!r} on {what}")
        w2, kl = _scores(data, schedules, steps, spacing)
        right = min(w2, key=w2.get)
        if out == right or math.isclose(w2[out], w2[right], rel_tol=1e-9):
            found.append((what, out, w2[out]))
            continue
        if out == min(kl, key=kl.get):
            fail(f"on {what} you returned the schedule with the lowest KL, not the lowest W2")
        if out == max(w2, key=w2.get):
            fail(f"on {what} you returned the schedule with the *highest* W2")
        w2_ddpm, _ = _scores(data, schedules, steps, spacing, sampler="ddpm")
        ddpm = out == min(w2_ddpm, key=w2_ddpm.get)
        others = [o for o in ("leading", "trailing", "linspace") if o != spacing
                  and out == min(w2o := _scores(data, schedules, steps, o)[0], key=w2o.get)]
        if ddpm and others:
            fail(f"on {what} your answer is the best for DDPM and for {others[0]!r} spacing, not for DDIM with "
                 f"{spacing!r} spacing: use the DDIM sampler (eta = 0) and the spacing argument")
        if ddpm:
            fail(f"on {what} your answer is the best for DDPM (ancestral sampling); the question is DDIM, eta = 0")
        if others:
            fail(f"on {what} your answer is the best for {others[0]!r} spacing: use the spacing argument")
        fail(f"on {what} {out!r} is not the schedule with the lowest W2 (yours: {w2[out]:.4g})")
    what, label, value = found[0]
    passed(f"on {len(found)} cases; on {what} the best is {label!r} with W2 = {value:.3f}.")
