"""Auto-checks for the exercises of the chapter "The Forward Process and What a Schedule Controls".

* :func:`check_q_sample`: exercise 1, sampling x_t = √ᾱ_t x₀ + √(1 − ᾱ_t) ε from a β array, t 1-indexed.
* :func:`check_alpha_bar_conversions`: exercise 2, ᾱ from β and back (ᾱ_0 = 1 convention).
* :func:`check_signal_threshold`: exercise 3, the first step at which ᾱ_t < 0.1 (linear and cosine, T = 1000).

Every check tests several inputs and invariants, and names what is wrong without giving the answer away.
"""

from __future__ import annotations

import numbers

import numpy as np

from . import as_array, fail, passed

__all__ = ["check_q_sample", "check_alpha_bar_conversions", "check_signal_threshold"]


def _schedule(name: str, T: int = 1000, **params) -> np.ndarray:
    from sched_lib import get_schedule

    return np.array(get_schedule(name, T, **params).betas)


def _close(a, b, rtol=1e-6, atol=1e-9) -> bool:
    return a.shape == np.shape(b) and bool(np.allclose(a, b, rtol=rtol, atol=atol))


_LOW_PRECISION = {"float16", "float32", "bfloat16", "torch.float16", "torch.float32", "torch.bfloat16"}


def _require_float64(value, name: str) -> None:
    """Reject a float32/float16 result (NumPy or torch) with the reason float64 is needed here."""
    dtype = str(getattr(value, "dtype", ""))
    if dtype in _LOW_PRECISION:
        fail(f"{name} returned {dtype}: compute in float64, as everywhere in this course (in float32, "
             "1 − ᾱ_1 = β_1 = 1e-4 keeps only about three correct digits)")


def _call(fn, what: str, *args, hint: str = ""):
    """Call the student's function; a crash becomes a hint naming the inputs, None a reminder to return."""
    try:
        out = fn(*args)
    except Exception as exc:  # noqa: BLE001 - any crash is reported as a hint
        fail(f"your function raised {type(exc).__name__}: {exc} ({what}){hint}")
    if out is None:
        fail(f"your function returned None ({what}): did you forget the `return`?")
    _require_float64(out, "your function")
    return out


# --------------------------------------------------------------------------------------------------
# Exercise 1: q_sample
# --------------------------------------------------------------------------------------------------

def check_q_sample(q_sample) -> None:
    """Check ``q_sample(x0, t, eps, betas)``: x_t = √ᾱ_t x₀ + √(1 − ᾱ_t) ε, t in 1..T.

    Probes the coefficient of x₀ (the mean of x_t given x₀) and of ε (whose square is the variance of
    x_t given x₀) at t = 1, a few middle steps and t = T, on three schedules (one with ᾱ_T = 0), then
    checks random inputs and a per-sample array of steps.
    """
    if not callable(q_sample):
        fail(f"pass your function itself (q_sample), not {type(q_sample).__name__}")
    cases = [
        ("linear", _schedule("linear")),
        ("cosine", _schedule("cosine")),
        ("linear with zero terminal SNR", _schedule("linear", zero_terminal_snr=True)),
        ("a 4-step chain", np.array([0.1, 0.2, 0.5, 0.9])),
    ]
    shape = (4, 3, 8, 8)
    for label, betas in cases:
        T = betas.size
        alpha_bar = np.cumprod(1.0 - betas)
        for t in sorted({1, 2, min(10, T), T // 4 or 1, T // 2 or 1, T}):
            where = f"{label} schedule, t = {t} of T = {T}"
            zero = _call(q_sample, where, np.zeros(shape), t, np.zeros(shape), betas.copy())
            zero = as_array(zero, f"q_sample(x0=0, t={t}, eps=0)", shape)
            if np.abs(zero).max() > 1e-12:
                fail(f"with x0 = 0 and eps = 0 your x_t is not 0 ({where}): use the eps you are given; "
                     "do not draw new noise inside q_sample")
            a = as_array(_call(q_sample, where, np.ones(shape), t, np.zeros(shape), betas.copy()),
                         f"q_sample(x0=1, t={t}, eps=0)", shape)
            b = as_array(_call(q_sample, where, np.zeros(shape), t, np.ones(shape), betas.copy()),
                         f"q_sample(x0=0, t={t}, eps=1)", shape)
            if np.ptp(a) > 1e-9 or np.ptp(b) > 1e-9:
                fail(f"with a scalar t every entry of x_t must use the same coefficients ({where})")
            a, b = float(a.flat[0]), float(b.flat[0])
            _diagnose(a, b, t, alpha_bar, betas, where)
    # Random inputs: x_t must be linear in x0 and eps, and must not modify them.
    rng = np.random.default_rng(1)
    betas = _schedule("cosine")
    alpha_bar = np.cumprod(1.0 - betas)
    x0, eps = rng.standard_normal(shape), rng.standard_normal(shape)
    x0_copy, eps_copy = x0.copy(), eps.copy()
    for t in (3, 400, 999):
        xt = as_array(_call(q_sample, f"random x0 and eps, t = {t}", x0, t, eps, betas.copy()),
                      f"q_sample(x0, t={t}, eps)", shape)
        if not (np.array_equal(x0, x0_copy) and np.array_equal(eps, eps_copy)):
            fail("your function changed x0 or eps in place: build a new array for x_t")
        want = np.sqrt(alpha_bar[t - 1]) * x0 + np.sqrt(1 - alpha_bar[t - 1]) * eps
        if not _close(xt, want):
            fail(f"for random x0 and eps (t = {t}) x_t is not (coefficient) * x0 + (coefficient) * eps: "
                 "x_t must be linear in x0 and eps")
    # One step per sample: t of shape (N,) acts along the first axis of x0.
    t = np.array([1, 10, 250, 500, 1000])
    x0, eps = rng.standard_normal((5, 3, 4, 4)), rng.standard_normal((5, 3, 4, 4))
    where = "t = np.array([1, 10, 250, 500, 1000]) with x0 of shape (5, 3, 4, 4)"
    xt = _call(q_sample, where, x0, t, eps, betas.copy(),
               hint="; with one step per sample, reshape the per-sample coefficients to (N, 1, 1, 1) "
                    "so that they broadcast along the first axis")
    try:
        xt = np.asarray(xt, dtype=np.float64)
    except (TypeError, ValueError):
        fail(f"q_sample returned {type(xt).__name__} for {where}, not an array of numbers")
    if xt.shape != x0.shape:
        fail(f"for {where} x_t should have x0's shape (5, 3, 4, 4), got {xt.shape}: reshape the "
             "per-sample coefficients to (N, 1, 1, 1) so that they broadcast along the first axis")
    a = alpha_bar[t - 1].reshape(-1, 1, 1, 1)
    if not _close(xt, np.sqrt(a) * x0 + np.sqrt(1 - a) * eps):
        fail(f"for {where} sample i must use its own step t[i] (the coefficients of the wrong sample "
             "are being applied, or t is used as a 0-based index)")
    passed("x_t has the right mean √ᾱ_t x₀ and variance 1 − ᾱ_t at t = 1, in the middle and at t = T, "
           "on four schedules, and broadcasts one step per sample.")


def _diagnose(a: float, b: float, t: int, alpha_bar, betas, where: str) -> None:
    """Name the mistake behind a wrong coefficient a of x₀ (mean) or b of ε (standard deviation)."""
    T = betas.size
    ab = alpha_bar[t - 1]
    if not (np.isfinite(a) and np.isfinite(b)):
        fail(f"x_t is not finite ({where}): at t = T the chain may have ᾱ_T = 0; avoid dividing by ᾱ or 1 − ᾱ")
    ok_a = abs(a - np.sqrt(ab)) <= 1e-9 + 1e-6 * np.sqrt(ab)
    ok_b = abs(b - np.sqrt(1 - ab)) <= 1e-9 + 1e-6 * np.sqrt(1 - ab)
    if ok_a and ok_b:
        return
    near = lambda x, y: abs(x - y) <= 1e-9 + 1e-6 * abs(y)  # noqa: E731
    if t < T and near(a, np.sqrt(alpha_bar[t])) and near(b, np.sqrt(1 - alpha_bar[t])):
        fail(f"your x_t is the sample for step t + 1 ({where}): t is 1-indexed and index 0 of the ᾱ "
             "array holds ᾱ_1, so step t is index t − 1")
    if t > 1 and near(a, np.sqrt(alpha_bar[t - 2])) and near(b, np.sqrt(1 - alpha_bar[t - 2])):
        fail(f"your x_t is the sample for step t − 1 ({where}): is your ᾱ array shifted by one "
             "(starting with ᾱ_0 = 1, or leaving out β_1)?")
    if t == 1 and near(a, 1.0) and near(b, 0.0):
        fail(f"at t = 1 your x_t equals x0 ({where}): step 1 already adds noise of variance β_1")
    if t > 1 and near(a, np.sqrt(1 - betas[t - 1])) and near(b, np.sqrt(betas[t - 1])):
        fail(f"you used the one-step α_t = 1 − β_t ({where}); q(x_t | x_0) needs the running product ᾱ_t")
    if not ok_a:
        if near(a, ab):
            fail(f"the mean of x_t given x0 is too small ({where}): your coefficient of x0 equals ᾱ_t; "
                 "did you forget the square root?")
        fail(f"the mean of x_t given x0 is wrong ({where}): your coefficient of x0 is off by a factor "
             f"{a / np.sqrt(ab):.6g}" + _precision_hint(a / np.sqrt(ab)))
    if near(b, 1 - ab):
        fail(f"the noise is scaled by 1 − ᾱ_t instead of its square root ({where}): the variance of x_t "
             "given x0 comes out as (1 − ᾱ_t)², too small (the bug shown in the chapter)")
    if near(b * b, 1 - ab) and b < 0:
        fail(f"the coefficient of eps is negative ({where}): take the positive square root")
    ratio = b * b / (1 - ab) if ab < 1 else np.inf
    fail(f"the variance of x_t given x0 is wrong ({where}): your coefficient of eps squared is off by a "
         f"factor {ratio:.6g}" + _precision_hint(ratio))


def _precision_hint(ratio: float) -> str:
    return " (a tiny difference: is part of your computation in float32?)" if abs(ratio - 1) < 1e-2 else ""


# --------------------------------------------------------------------------------------------------
# Exercise 2: ᾱ from β and back
# --------------------------------------------------------------------------------------------------

def check_alpha_bar_conversions(alpha_bar_from_betas, betas_from_alpha_bar) -> None:
    """Check both directions: ᾱ_t = ∏_{s≤t}(1 − β_s) and β_t = 1 − ᾱ_t/ᾱ_{t−1} with ᾱ_0 = 1.

    Uses the linear and cosine schedules (T = 1000), a zero-terminal-SNR chain (β_T = 1, ᾱ_T = 0),
    a 3-step chain and a 1-step chain; then the round trips through both of your functions.
    """
    for name, fn in (("alpha_bar_from_betas", alpha_bar_from_betas),
                     ("betas_from_alpha_bar", betas_from_alpha_bar)):
        if not callable(fn):
            fail(f"pass your function {name} itself, not {type(fn).__name__}")
    cases = [
        ("linear (T = 1000)", _schedule("linear")),
        ("cosine (T = 1000)", _schedule("cosine")),
        ("zero-terminal-SNR linear (β_T = 1)", _schedule("linear", zero_terminal_snr=True)),
        ("β = [0.1, 0.2, 0.5]", np.array([0.1, 0.2, 0.5])),
        ("β = [0.3] (T = 1)", np.array([0.3])),
    ]
    for label, betas in cases:
        T = betas.size
        want = np.cumprod(1.0 - betas)
        where = f"for {label}"
        got = _call(alpha_bar_from_betas, f"alpha_bar_from_betas {where}", betas.copy())
        got = _as_vector(got, "alpha_bar_from_betas", T, where, hints={
            T + 1: "ᾱ_0 = 1 is the data and is not stored: the array holds ᾱ_1, ..., ᾱ_T",
            T - 1: "one value per step t = 1, ..., T: did you leave out β_1?"})
        _diagnose_alpha_bar(got, want, betas, where)
        b = _call(betas_from_alpha_bar, f"betas_from_alpha_bar {where}", want.copy())
        b = _as_vector(b, "betas_from_alpha_bar", T, where, hints={
            T - 1: "np.diff drops the first step; β_1 comes from ᾱ_1 and ᾱ_0 = 1",
            T + 1: "one β per step t = 1, ..., T"})
        _diagnose_betas(b, betas, want, where)
        # Round trips through the student's own pair.
        back = as_array(_call(alpha_bar_from_betas, f"round trip {where}", b.copy()), "alpha_bar_from_betas(...)")
        if not _close(back, want, rtol=1e-9, atol=1e-15):
            fail(f"alpha_bar_from_betas(betas_from_alpha_bar(ᾱ)) does not give ᾱ back {where}")
    # An arbitrary strictly decreasing ᾱ, not from a named schedule.
    rng = np.random.default_rng(2)
    ab = np.sort(rng.uniform(0.01, 0.99, 50))[::-1].copy()
    b = _as_vector(_call(betas_from_alpha_bar, "a random decreasing ᾱ of length 50", ab.copy()),
                   "betas_from_alpha_bar", 50, "for a random decreasing ᾱ")
    back = as_array(_call(alpha_bar_from_betas, "round trip of a random decreasing ᾱ", b.copy()),
                    "alpha_bar_from_betas(...)")
    if not _close(back, ab, rtol=1e-9, atol=1e-15):
        fail("alpha_bar_from_betas(betas_from_alpha_bar(ᾱ)) does not give ᾱ back for a random decreasing ᾱ")
    passed("ᾱ is the running product of 1 − β starting at ᾱ_1 = 1 − β_1, β is recovered from ratios with "
           "ᾱ_0 = 1, both survive ᾱ_T = 0 and T = 1, and the round trips are exact.")


def _as_vector(value, name: str, T: int, where: str, hints=None) -> np.ndarray:
    try:
        out = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        fail(f"{name} should return an array of numbers, got {type(value).__name__}")
    if out.shape != (T,):
        extra = (hints or {}).get(out.shape[0]) if out.ndim == 1 else None
        hint = f" ({extra})" if extra else ""
        fail(f"{name} should return shape ({T},) {where}, got {out.shape}{hint}")
    if np.isnan(out).any():
        fail(f"{name} returned NaN {where}: look for 0/0 where ᾱ_T = 0 or β_T = 1")
    return out


def _diagnose_alpha_bar(got, want, betas, where: str) -> None:
    if _close(got, want, rtol=1e-9, atol=1e-15):
        return
    T = betas.size
    if T > 1 and abs(got[0] - 1.0) < 1e-12 and _close(got[1:], want[:-1], rtol=1e-9, atol=1e-15):
        fail(f"your ᾱ is shifted by one step {where}: index 0 must hold ᾱ_1 = 1 − β_1 (step 1 already "
             "adds noise), not ᾱ_0 = 1")
    if _close(got, want / (1.0 - betas[0]), rtol=1e-9, atol=1e-15):
        fail(f"your product leaves out β_1 {where}: ᾱ_t multiplies (1 − β_s) for every s from 1 to t")
    if _close(got, 1.0 - betas, rtol=1e-9):
        fail(f"you returned α_t = 1 − β_t {where}; ᾱ_t is the running product of the α_s")
    if _close(got, 1.0 - np.cumsum(betas), rtol=1e-9, atol=1e-12):
        fail(f"your ᾱ is 1 − Σβ_s {where}: ᾱ_t is a product of (1 − β_s), not one minus a sum")
    if (np.diff(got) > 0).any():
        fail(f"your ᾱ increases somewhere {where}: every step removes signal, so ᾱ_t must decrease")
    i = int(np.flatnonzero(~np.isclose(got, want, rtol=1e-9, atol=1e-15))[0])
    fail(f"ᾱ_t is not the product of (1 − β_s) for s ≤ t {where}: first wrong at t = {i + 1}")


def _diagnose_betas(got, betas, alpha_bar, where: str) -> None:
    if _close(got, betas, rtol=1e-9, atol=1e-15):
        return
    prev = np.concatenate([[1.0], alpha_bar[:-1]])
    if abs(got[0]) < 1e-15 and not _close(got[0:1], betas[0:1]):
        fail(f"β_1 is 0 {where}: the first ratio is ᾱ_1/ᾱ_0 with ᾱ_0 = 1 (the data), not ᾱ_1/ᾱ_1")
    if _close(got, prev - alpha_bar, rtol=1e-9, atol=1e-15):
        fail(f"β_t is 1 minus the ratio ᾱ_t/ᾱ_(t−1), not the difference ᾱ_(t−1) − ᾱ_t {where}")
    if not np.isclose(got[0], betas[0], rtol=1e-9, atol=1e-15):
        fail(f"β_1 is wrong {where}: use ᾱ_0 = 1, the data, for the step before t = 1")
    i = int(np.flatnonzero(~np.isclose(got, betas, rtol=1e-9, atol=1e-15))[0])
    fail(f"β_t does not undo the product {where}: first wrong at t = {i + 1}")


# --------------------------------------------------------------------------------------------------
# Exercise 3: the first step with ᾱ_t < 0.1
# --------------------------------------------------------------------------------------------------

def _first_below(alpha_bar, level: float) -> int:
    return int(np.flatnonzero(alpha_bar < level)[0]) + 1


def check_signal_threshold(t_linear, t_cosine) -> None:
    """Check the first step t (1-indexed) at which ᾱ_t < 0.1, for linear and for cosine (T = 1000)."""
    from sched_lib import get_schedule

    T = 1000
    curves = {"linear": get_schedule("linear", T).alpha_bar, "cosine": get_schedule("cosine", T).alpha_bar}
    answers = {"linear": _as_step(t_linear, "t_linear", T), "cosine": _as_step(t_cosine, "t_cosine", T)}
    truth = {name: _first_below(ab, 0.1) for name, ab in curves.items()}
    if answers["linear"] == truth["cosine"] and answers["cosine"] == truth["linear"]:
        fail("you swapped the two schedules: the first argument is the linear schedule's step")
    for name, t in answers.items():
        ab = curves[name]
        if t == truth[name]:
            continue
        if t == truth[name] - 1:
            fail(f"{name}: one step too early, ᾱ_t is still ≥ 0.1 there. If you used argmax or "
                 "np.nonzero on the ᾱ array, add 1: index 0 holds t = 1")
        if t == truth[name] + 1:
            fail(f"{name}: ᾱ is already below 0.1 one step before your t; you want the first such step "
                 "(did you add 1 twice?)")
        if t == _first_below(ab, 0.01) or t == _first_below(ab, 0.01) - 1:
            fail(f"{name}: that is where √ᾱ_t (the signal amplitude) drops below 0.1; the question is "
                 "about ᾱ_t, the fraction of the variance")
        snr = ab / (1.0 - ab)
        if t in (_first_below(snr, 0.1), _first_below(snr, 0.1) - 1):
            fail(f"{name}: that is where the SNR ᾱ/(1 − ᾱ) drops below 0.1; the question is about ᾱ_t itself")
        if ab[t - 1] >= 0.1:
            fail(f"{name}: too early, at your t the schedule still keeps at least 10 % of the signal variance")
        fail(f"{name}: too late, ᾱ_t already dropped below 0.1 before your t")
    passed(f"linear crosses ᾱ_t = 0.1 at t = {answers['linear']}, cosine at t = {answers['cosine']}: "
           "the cosine schedule keeps a tenth of the signal for far longer.")


def _as_step(value, name: str, T: int) -> int:
    if isinstance(value, (bool, np.bool_)):
        fail(f"{name} should be a step number (an integer), got a bool")
    if isinstance(value, np.ndarray) and value.size == 1:
        value = value.reshape(()).item()
    if not isinstance(value, numbers.Real):
        fail(f"{name} should be a step number (an integer), got {type(value).__name__}")
    if np.isnan(value):
        fail(f"{name} is NaN: did your search find no step at all?")
    if not np.isfinite(value):
        fail(f"{name} should be a step number between 1 and T = {T}, got {value}")
    if float(value) != int(value):
        fail(f"{name} should be a whole step number, got {value}")
    t = int(value)
    if not 1 <= t <= T:
        fail(f"{name} should be between 1 and T = {T} (t is 1-indexed), got {t}")
    return t
