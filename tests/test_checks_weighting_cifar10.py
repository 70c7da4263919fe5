"""The exercise checks of the lab "Weighting on CIFAR-10" accept the worked solutions and reject typical wrong
answers with a hint that names the mistake (``sched_lib/checks/weighting_cifar10.py``)."""

import numpy as np
import pytest

from sched_lib.checks import CheckFailed
from sched_lib.checks.weighting_cifar10 import _reference_mean, check_steps_to_reach, check_warmup_draws


def steps_to_reach_solution(steps, values, target):
    for k, (s, v) in enumerate(zip(steps, values)):
        if v <= target:
            if k == 0:
                return float(s)
            s0, v0 = steps[k - 1], values[k - 1]
            return float(s0 + (v0 - target) / (v0 - v) * (s - s0))
    return None


def warmup_draws_solution(T, history, seed):
    rng = np.random.default_rng(seed)
    counts = np.zeros(T, dtype=np.int64)
    draws = 0
    while True:
        for t in rng.integers(0, T, size=T):
            counts[t] += 1
            draws += 1
            if counts.min() >= history:
                return draws


def test_steps_to_reach_accepts_solution(capsys):
    check_steps_to_reach(steps_to_reach_solution)
    assert "Correct" in capsys.readouterr().out


def _last_crossing(steps, values, target):
    ks = [k for k, v in enumerate(values) if v <= target]
    if not ks:
        return None
    k = ks[-1]
    if k == 0:
        return float(steps[0])
    return float(steps[k - 1] + (values[k - 1] - target) / (values[k - 1] - values[k]) * (steps[k] - steps[k - 1]))


@pytest.mark.parametrize("wrong, hint", [
    (lambda s, v, t: next((float(x) for x, y in zip(s, v) if y <= t), None), "interpolate"),
    (_last_crossing, "first crossing"),
    (lambda s, v, t: float(s[-1]), "expected the first crossing"),
    (lambda s, v, t: None, "does reach"),
    (lambda s, v, t: 1 / 0, "raised"),
])
def test_steps_to_reach_rejects_wrong_answers(wrong, hint):
    with pytest.raises(CheckFailed, match=hint):
        check_steps_to_reach(wrong)


def test_warmup_accepts_solution(capsys):
    check_warmup_draws(warmup_draws_solution)
    assert "Correct" in capsys.readouterr().out


def test_reference_is_above_the_minimum_and_near_the_asymptotics():
    mean, sd = _reference_mean(100, 10)
    assert 1000 < mean < 100 * (np.log(100) + 9 * np.log(np.log(100)) + 5) and sd > 0


def _coupon(T, history, seed):
    return warmup_draws_solution(T, 1, seed)


@pytest.mark.parametrize("wrong, hint", [
    (lambda T, h, s: T * h, "least possible"),
    (_coupon, "drawn once"),
    (lambda T, h, s: warmup_draws_solution(T, h, 0), "same answer"),
    (lambda T, h, s: 2 * warmup_draws_solution(T, h, s), "averages"),
    (lambda T, h, s: None, "return"),
])
def test_warmup_rejects_wrong_answers(wrong, hint):
    with pytest.raises(CheckFailed, match=hint):
        check_warmup_draws(wrong)
