"""The exercise checks of the lab "Schedules on CIFAR-10" accept the worked solutions and reject typical wrong
answers with a hint that names the mistake (``sched_lib/checks/schedules_cifar10.py``)."""

import numpy as np
import pytest

from sched_lib import get_schedule
from sched_lib.checks import CheckFailed
from sched_lib.checks.schedules_cifar10 import check_share_below, check_verdict


def compare_solution(a, b):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.max() < b.min():
        return "a"
    if b.max() < a.min():
        return "b"
    return "tie"


def share_below_solution(name, T, lam):
    ab = get_schedule(name, T).alpha_bar
    return float(np.mean(np.log(ab / (1 - ab)) < lam))


def test_verdict_accepts_solution(capsys):
    check_verdict(compare_solution)
    assert "Correct" in capsys.readouterr().out


@pytest.mark.parametrize("wrong, hint", [
    (lambda a, b: "a" if np.mean(a) < np.mean(b) else "b", "ranges"),
    (lambda a, b: {"a": "b", "b": "a", "tie": "tie"}[compare_solution(a, b)], "higher"),
    (lambda a, b: "tie", "wrong answer"),
    (lambda a, b: 0, "string"),
    (lambda a, b: None, "return"),
])
def test_verdict_rejects_wrong_answers(wrong, hint):
    with pytest.raises(CheckFailed, match=hint):
        check_verdict(wrong)


def test_share_below_accepts_solution(capsys):
    check_share_below(share_below_solution)
    assert "Correct" in capsys.readouterr().out


@pytest.mark.parametrize("wrong, hint", [
    (lambda n, T, lam: 1 - share_below_solution(n, T, lam), "above"),
    (lambda n, T, lam: float(np.mean(get_schedule(n, T).alpha_bar < lam)), "ᾱ"),
    (lambda n, T, lam: share_below_solution(n, T, lam) * T, "fraction"),
    (lambda n, T, lam: 0.5, "expected"),
    (lambda n, T, lam: "x", "one number"),
])
def test_share_below_rejects_wrong_answers(wrong, hint):
    with pytest.raises(CheckFailed, match=hint):
        check_share_below(wrong)
