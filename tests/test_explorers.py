"""The website's live explorers (``sched_lib.explorers``): the embedded arrays are ``sched_lib``'s values.

Each test computes the expected values with ``sched_lib``'s own functions (not with the explorer module)
and compares them with what the page would draw for a setting (``Explorer.select``, the page's selection
rule in Python). The browser side is ``tests/test_site_explorers.py``.
"""

import base64
import hashlib
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest

from sched_lib import explorers as E
from sched_lib import get_schedule
from sched_lib.plotting import continuous_log_snr_fn
from sched_lib.samplers import karras_sigmas, timesteps
from sched_lib.schedules import (chen_cosine_alpha_bar, log_snr_from_alpha_bar, rectified_flow_log_snr,
                                 shifted_cosine_log_snr)
from sched_lib.weighting import EDMLogNormal, LogitNormalTime, UniformTime, min_snr_weight, p2_weight

ROOT = Path(__file__).resolve().parents[1]
STATIC = ROOT / "_extra" / "_static" / "explorers"


def rounded_close(page, exact, sig):
    """The page holds ``exact`` rounded to ``sig`` significant digits: |page − exact| ≤ ½·10^(1−sig)·|exact|
    (plus float64 rounding of the decimal), and None exactly where ``exact`` is not finite."""
    exact = np.asarray(exact, dtype=np.float64)
    page_arr = np.array([np.nan if v is None else v for v in page], dtype=np.float64)
    assert page_arr.shape == exact.shape
    finite = np.isfinite(exact)
    np.testing.assert_array_equal(np.isnan(page_arr), ~finite)
    tol = 0.5 * 10.0 ** (1 - sig) * np.abs(exact[finite]) * (1 + 1e-12) + 1e-300
    assert np.all(np.abs(page_arr[finite] - exact[finite]) <= tol)


@pytest.fixture(scope="module")
def explorers():
    return {key: fn() for key, fn in E.EXPLORERS.items()}


def only(drawn, panel, label=None):
    rows = [s for s in drawn[panel] if label is None or s["label"] == label]
    assert len(rows) == 1, [s["label"] for s in drawn[panel]]
    return rows[0]


# --- the rounding helper -------------------------------------------------------------------------------


def test_num_rounds_to_significant_digits_and_drops_non_finite():
    assert E._num([1.23456, -math.inf, math.nan, 123456.0], sig=3) == [1.23, None, None, 123000.0]
    assert E._num([1e-6, 2e-5], sig=3, floor=1e-5) == [None, 2e-5]
    with pytest.raises(AssertionError):                      # the comparison helper can fail
        rounded_close([1.3], [1.234], 4)


# --- 1. Explore schedules ------------------------------------------------------------------------------


def test_schedule_explorer_draws_the_library_schedules(explorers):
    e = explorers["labs/explore_schedules"]
    steps = np.array(e.spec["steps"])
    assert steps[0] == 1 and steps[-1] == 1000 and len(steps) == len(e.spec["xs"]["t"])
    for names, zt in [(["linear", "cosine"], False), (["scaled_linear", "chen_sigmoid", "rectified_flow"], True)]:
        drawn = e.select({"schedules": names, "zt": zt})
        assert [s["label"] for s in drawn["alpha_bar"]] == names
        for name in names:
            ab = get_schedule(name, 1000, zero_terminal_snr=zt).alpha_bar[steps - 1]
            rounded_close(only(drawn, "alpha_bar", name)["y"], ab, E.SIGNIFICANT)
            rounded_close(only(drawn, "log_snr", name)["y"], log_snr_from_alpha_bar(ab), E.SIGNIFICANT)
    # zero terminal SNR: the last step has alpha_bar = 0 and lambda = -inf (not drawn)
    drawn = e.select({"schedules": ["linear"], "zt": True})
    assert only(drawn, "alpha_bar")["y"][-1] == 0.0 and only(drawn, "log_snr")["y"][-1] is None
    assert only(e.select({"schedules": ["linear"]}), "alpha_bar")["y"][-1] > 0


def test_schedule_explorer_density_is_p_lambda_under_uniform_t(explorers):
    e = explorers["labs/explore_schedules"]
    lam = np.array(e.spec["xs"]["lam"])
    width = np.diff(E.DENSITY_EDGES)
    # a continuous curve: the exact density 1/|lambda'(t)|
    cosine = only(e.select({"schedules": ["cosine"]}), "density")["y"]
    rounded_close(cosine, UniformTime(continuous_log_snr_fn("cosine")).log_snr_density(lam), E.SIGNIFICANT)
    # a beta ramp: the fraction of its 1000 steps per unit lambda, which integrates to 1
    linear = np.array(only(e.select({"schedules": ["linear"]}), "density")["y"])
    lam_t = log_snr_from_alpha_bar(get_schedule("linear", 1000).alpha_bar)
    counts = np.histogram(lam_t, bins=E.DENSITY_EDGES)[0]
    rounded_close(linear, counts / (1000 * width), E.SIGNIFICANT)
    assert math.isclose(np.sum(linear * width), 1.0, rel_tol=1e-3)
    # after the rescale, the chain (its last step, lambda = -inf, has no bin)
    assert e.spec["density_how"]["cosine|true"] == "steps" and e.spec["density_how"]["cosine|false"] == "exact"


def test_schedule_explorer_image_data(explorers):
    from sched_lib.data import load_sample_images

    e = explorers["labs/explore_schedules"]
    img = e.spec["image"]
    sample = load_sample_images().images
    for k in E.IMAGES:
        assert np.array_equal(np.frombuffer(base64.b64decode(img["images"][str(k)]), np.uint8).reshape(32, 32, 3),
                              sample[k])
    eps = np.frombuffer(base64.b64decode(img["eps_float32"]), "<f4").reshape(32, 32, 3)
    np.testing.assert_allclose(eps, np.random.default_rng(0).standard_normal((32, 32, 3)), rtol=1e-7, atol=1e-7)
    assert img["steps"] == [max(1, round(f * 1000)) for f in E.T_SLIDER]
    ab = get_schedule("cosine", 1000, zero_terminal_snr=True).alpha_bar
    assert img["alpha_bar"]["cosine|true"] == [float(ab[s - 1]) for s in img["steps"]]   # full precision
    assert img["log_snr_label"]["cosine|true"][-1] == "−∞"


def test_schedule_explorer_rejects_bad_input():
    with pytest.raises(ValueError, match="unknown schedule"):
        E.schedule_explorer(schedules=("nope",))
    with pytest.raises(ValueError, match="image must be one of"):
        E.schedule_explorer(image=3)


# --- 2. Resolution -------------------------------------------------------------------------------------


def test_resolution_explorer_draws_the_three_rules(explorers):
    e = explorers["chapters/resolution"]
    t = np.array(e.spec["xs"]["t"])
    for d in (32, 256, 1024):
        drawn = e.select({"d": d})
        b = 64 / d
        exact = {
            "shifted_cosine": shifted_cosine_log_snr(t, d, 64),
            "sd3": rectified_flow_log_snr(t, d / 64),
            "chen": log_snr_from_alpha_bar(chen_cosine_alpha_bar(t)) + 2 * np.log(b),
        }
        for panel, values in exact.items():
            rounded_close(only(drawn, panel, f"d = {d}")["y"], values, E.SIGNIFICANT)
            base = np.array(only(drawn, panel, "d = 64 (base)")["y"])
            shift = np.array(only(drawn, panel, f"d = {d}")["y"]) - base
            # the theorem of the chapter: every rule moves lambda by -2 log(d/64) at every t (up to rounding)
            assert np.all(np.abs(shift + 2 * np.log(d / 64)) <= 1e-3 * (np.abs(base) + abs(2 * np.log(d / 64))) + 1e-3)


# --- 3. Weighting --------------------------------------------------------------------------------------


def _unit(w, lam):
    return w / np.trapezoid(w, lam)


def test_weighting_explorer_effective_weights(explorers):
    e = explorers["chapters/weighting"]
    lam = np.array(e.spec["xs"]["lam"])
    snr = np.exp(lam)
    sig = e.spec["significant"]
    setting = {"frame": "eps", "schedule": "logistic", "minsnr_gamma": 20.0, "p2_k": 2.0, "p2_gamma": 0.5,
               "edm_p_mean": -0.4, "edm_p_std": 0.8, "sd3_loc": 1.0, "sd3_scale": 0.5}
    drawn = e.select(setting)
    p_sched = UniformTime(continuous_log_snr_fn("logistic")).log_snr_density(lam)
    exact = {   # eps-frame weight times p(lambda), straight from the papers' eps-frame forms
        "Min-SNR-γ": min_snr_weight(snr, 20.0, "eps") * p_sched,
        "P2": p2_weight(snr, 2.0, 0.5, "eps") * p_sched,
        "EDM": (snr + 4.0) / snr * EDMLogNormal(-0.4, 0.8).log_snr_density(lam),
        "SD3": (1 + np.sqrt(snr)) ** 2 / snr * LogitNormalTime(1.0, 0.5).log_snr_density(lam),
    }
    assert [s["label"] for s in drawn["weight"]] == list(exact)
    for label, w in exact.items():
        w = _unit(w, lam)
        rounded_close(only(drawn, "weight", label)["y"], np.where(w >= E.WEIGHT_FLOOR, w, np.nan), sig)
    # the frame matters: the same recipe in the x0 frame is a different curve
    x0 = only(e.select({**setting, "frame": "x0"}), "weight", "EDM")["y"]
    assert x0 != only(drawn, "weight", "EDM")["y"]


def test_effective_weight_rejects_bad_input():
    with pytest.raises(ValueError, match="continuous curve"):
        E.effective_weight("min_snr", "eps", schedule="linear", gamma=5.0)
    with pytest.raises(ValueError, match="recipe must be"):
        E.effective_weight("vlb", "eps")
    with pytest.raises(ValueError):
        E.effective_weight("edm", "x1")


# --- 4. Sampling ---------------------------------------------------------------------------------------


def test_sampling_explorer_grids(explorers):
    e = explorers["chapters/endpoints_and_sampling"]
    for sched, n, spacing, rho in [("cosine", 18, "trailing", 7.0), ("linear", 10, "leading", 1.0),
                                   ("scaled_linear", 100, "linspace", 20.0)]:
        drawn = e.select({"schedule": sched, "steps": n, "spacing": spacing, "rho": rho})
        lam_chain = log_snr_from_alpha_bar(get_schedule(sched, 1000).alpha_bar)
        ddim = only(drawn, "grid", "DDIM grid")
        rounded_close(ddim["x"], lam_chain[timesteps(1000, n, spacing)], E.SIGNIFICANT)
        karras = only(drawn, "grid", "Karras grid")
        rounded_close(karras["x"], -2 * np.log(karras_sigmas(n, rho=rho, append_zero=False)), E.SIGNIFICANT)
        assert len(ddim["x"]) == len(karras["x"]) == n
    # leading never visits the last step; trailing starts there
    lam_T = log_snr_from_alpha_bar(get_schedule("cosine", 1000).alpha_bar)[-1]
    lead = only(e.select({"spacing": "leading"}), "grid", "DDIM grid")["x"]
    trail = only(e.select({"spacing": "trailing"}), "grid", "DDIM grid")["x"]
    assert min(lead) > lam_T + 1 and math.isclose(min(trail), lam_T, rel_tol=1e-3)
    dens = e.select()["density"]
    assert [s["label"] for s in dens] == ["EDM log-normal (training)", "uniform t through the schedule (training)"]


# --- the page side -------------------------------------------------------------------------------------


def test_html_embeds_the_data_and_the_relative_scripts(explorers):
    for key, e in explorers.items():
        text = e.html()
        assert text.count('<script type="application/json"') == 1
        data = re.search(r'<script type="application/json" class="sl-data">(.*?)</script>', text, re.S).group(1)
        assert json.loads(data) == json.loads(json.dumps(e.spec))
        assert 'src="data:image/png;base64,' in text                  # the static fallback
        for src in re.findall(r'(?:src|href)="(\.\./_static/explorers/[^"]+)"', text):
            assert (ROOT / key).parent.joinpath(src.replace("../_static", "../_extra/_static")).resolve().is_file()
        bundle = e._repr_mimebundle_()
        assert bundle["image/png"].startswith(b"\x89PNG") and "text/html" in bundle
        assert len(data) < 200_000, f"{key}: {len(data)} bytes of embedded data"


def test_select_rejects_unknown_controls(explorers):
    with pytest.raises(ValueError, match="unknown control"):
        explorers["chapters/resolution"].select({"resolution": 64})


def test_vendored_files_match_their_readme():
    readme = (STATIC / "README.md").read_text()
    for name in ("uPlot.iife.min.js", "uPlot.min.css"):
        digest = hashlib.sha256((STATIC / name).read_bytes()).hexdigest()
        assert re.search(rf"`{re.escape(name)}`[^|]*\| `{digest}`", readme), name
    assert "MIT" in (STATIC / "LICENSE.uPlot").read_text()
