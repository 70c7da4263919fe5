"""Auto-checks for the exercises of chapter "The Loss and the VLB Weight".

Each check calls the reader's function on several schedules or inputs, compares with ``sched_lib``
and, when the answer is wrong, says *what kind* of mistake it looks like (a factor of 2, α_t where ᾱ_t
belongs, the other variance choice, an index off by one, ...) without printing the right numbers.
"""

from __future__ import annotations

import numpy as np

from ..quantities import get_schedule_quantities
from ..schedules import get_schedule
from ..weighting import FRAMES, convert_weight, vlb_weight
from . import as_array, call_answer, fail, passed

__all__ = ["check_vlb_weight", "check_convert_weight", "check_vlb_ratio"]

_OTHER = {"posterior": "beta", "beta": "posterior"}
_SIGMA = {"posterior": "σ_t² = β̃_t", "beta": "σ_t² = β_t"}


def _test_chains():
    """β chains to test on: the two DDPM/iDDPM schedules and a short random chain."""
    rng = np.random.default_rng(20200619)
    return [
        ("linear, T=1000", get_schedule("linear", 1000).betas),
        ("cosine, T=1000", get_schedule("cosine", 1000).betas),
        ("a random chain with T=40", np.sort(rng.uniform(1e-3, 0.3, 40))),
    ]


def _close(a, b, rtol=1e-8):
    return a.shape == b.shape and np.allclose(a, b, rtol=rtol, atol=0)


def check_vlb_weight(vlb_weight_fn) -> None:
    """Check ``vlb_weight_fn(betas, variance) -> weights`` (shape (T,), index 0 is t = 1).

    ``variance`` is ``"posterior"`` (σ_t² = β̃_t) or ``"beta"`` (σ_t² = β_t).
    """
    for label, betas in _test_chains():
        q = get_schedule_quantities(betas)
        T = betas.size
        for variance in ("posterior", "beta"):
            got = call_answer(vlb_weight_fn, np.array(betas), variance)
            mine = as_array(got, f"your weights ({label}, variance={variance!r})", shape=(T,))
            ref = vlb_weight(q, variance)
            lo = 1 if variance == "posterior" else 0  # t = 1 with σ² = β̃ is judged last
            m, r = mine[lo:], ref[lo:]
            if _close(m, r):
                if variance == "posterior" and not np.isposinf(mine[0]):
                    fail(f"with {_SIGMA[variance]} the weight at t = 1 (index 0) should be +inf, got {mine[0]:g}: "
                         "β̃_1 = 0 there, and this step is the decoder term L_0, not a Gaussian KL")
                continue
            if np.isinf(m).any():
                fail(f"your weights are infinite at t = {lo + 1 + int(np.flatnonzero(np.isinf(m))[0])} "
                     f"({label}, {_SIGMA[variance]}): only t = 1 with σ² = β̃ should be")
            if _close(m, vlb_weight(q, _OTHER[variance])[lo:]):
                fail(f"for variance={variance!r} you returned the weights of the other choice, "
                     f"{_SIGMA[_OTHER[variance]]}: check which σ_t² goes in the denominator")
            ratio = m / r
            if np.allclose(ratio, ratio[0], rtol=1e-6):
                fail(f"your weights are off by a constant factor {ratio[0]:.4g} ({label}, {_SIGMA[variance]}): "
                     "check the 2 in 2σ_t² and the other constants")
            sigma2 = q.posterior_variance if variance == "posterior" else q.betas
            with np.errstate(divide="ignore"):
                bar = (q.betas ** 2 / (2 * sigma2 * q.alpha_bar * q.one_minus_alpha_bar))[lo:]
                unsquared = (q.betas / (2 * sigma2 * q.alphas * q.one_minus_alpha_bar))[lo:]
                sqrt_one_minus = (q.betas ** 2 / (2 * sigma2 * q.alphas * q.sqrt_one_minus_alpha_bar))[lo:]
            if _close(m, bar):
                fail("your denominator uses ᾱ_t where the per-step α_t = 1 − β_t belongs "
                     "(it comes from the 1/√α_t in μ_θ)")
            if _close(m, unsquared):
                fail("your weight is too large by a factor 1/β_t: did you forget to square β_t?")
            if _close(m, sqrt_one_minus):
                fail("you used √(1 − ᾱ_t) where (1 − ᾱ_t) belongs: the coefficient of ε is squared")
            bad = int(np.argmax(np.abs(ratio - 1)))
            fail(f"your weights differ from the VLB weight ({label}, {_SIGMA[variance]}); the worst step is "
                 f"t = {lo + 1 + bad}, off by a factor {ratio[bad]:.4g}")
    passed("your VLB weights match β_t²/(2σ_t²α_t(1−ᾱ_t)) for both variance choices on three schedules.")


def check_convert_weight(convert_fn) -> None:
    """Check ``convert_fn(weight, snr, from_frame, to_frame)`` for every pair of frames."""
    rng = np.random.default_rng(20220201)
    snr = np.exp(rng.uniform(-8, 8, 200))
    weight = np.exp(rng.uniform(-3, 3, 200))
    factor = {"eps": snr, "x0": np.ones_like(snr), "v": 1.0 + snr}
    wrong_v = {"eps": snr, "x0": np.ones_like(snr), "v": snr}
    for a in FRAMES:
        for b in FRAMES:
            got = call_answer(convert_fn, weight.copy(), snr.copy(), a, b)
            mine = as_array(got, f"your weight converted from {a!r} to {b!r}", shape=snr.shape)
            ref = convert_weight(weight, snr, a, b)
            if _close(mine, ref, rtol=1e-9):
                continue
            if _close(mine, weight * wrong_v[a] / wrong_v[b], rtol=1e-9):
                fail(f"from {a!r} to {b!r}: the v-frame factor is not SNR; work out ‖v − v̂‖² in terms of "
                     "‖x₀ − x̂₀‖² again")
            if a != b and _close(mine, weight, rtol=1e-9):
                fail(f"from {a!r} to {b!r} you returned the weight unchanged: the same loss needs a different "
                     "weight in another frame, because the squared errors differ by a factor")
            if _close(mine, weight * factor[b] / factor[a], rtol=1e-9):
                fail(f"from {a!r} to {b!r} your factor is upside down: the weighted losses w·‖error‖² must agree, "
                     "so the frame whose error is larger needs the smaller weight")
            fail(f"your conversion from {a!r} to {b!r} gives a different weight (e.g. at SNR = {snr[0]:.3g}); "
                 "use ‖ε−ε̂‖² = f_ε‖x₀−x̂₀‖² and ‖v−v̂‖² = f_v‖x₀−x̂₀‖² and equate the weighted losses")
    passed("your conversion agrees with sched_lib.weighting.convert_weight for all nine pairs of frames.")


def check_vlb_ratio(ratio_fn) -> None:
    """Check ``ratio_fn(betas) -> w_VLB(2)/w_VLB(T)`` with σ_t² = β̃_t, on several schedules."""
    cases = [("linear", 1000), ("cosine", 1000), ("scaled_linear", 1000), ("logistic", 1000), ("linear", 200)]
    for name, T in cases:
        betas = get_schedule(name, T).betas
        got = call_answer(ratio_fn, np.array(betas))
        mine = as_array(got, f"your ratio for {name} (T={T})")
        if mine.size != 1:
            fail(f"return one number (a float), got an array of shape {mine.shape}")
        mine = float(mine.reshape(()))
        w = vlb_weight(get_schedule_quantities(betas), "posterior")
        ref = w[1] / w[-1]
        if np.isclose(mine, ref, rtol=1e-8):
            continue
        if np.isinf(mine):
            fail("your ratio is infinite: index 0 holds t = 1, where the σ² = β̃ weight is +inf (the decoder term)")
        if np.isclose(mine, 1 / ref, rtol=1e-8):
            fail("your ratio is upside down: the exercise asks for w(2)/w(T)")
        wb = vlb_weight(get_schedule_quantities(betas), "beta")
        if np.isclose(mine, wb[1] / wb[-1], rtol=1e-8):
            fail("this is the ratio for σ_t² = β_t; the exercise uses σ_t² = β̃_t")
        if np.isclose(mine, w[2] / w[-1], rtol=1e-8) or np.isclose(mine, w[1] / w[-2], rtol=1e-8):
            fail(f"off by one step for {name}: arrays start at t = 1, so t = 2 is index 1 and t = T is index T−1")
        fail(f"your ratio for {name} (T={T}) is {mine:.4g}, which is not w(2)/w(T) for σ_t² = β̃_t "
             f"(relative error {abs(mine / ref - 1):.2g})")
    passed("w(2)/w(T) is right on five schedules; for the DDPM linear schedule it is about 59.")
