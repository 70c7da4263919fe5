"""Browser test of the four live explorers on the built website (``sched_lib.explorers`` + ``explorers.js``).

Run after the book build (``jupyter-book build . -W -n --keep-going``). Like ``tests/test_site.py`` (the
server and browser set-up of both are in ``tests/site_browser.py``), it serves ``_build/html`` on 127.0.0.1 and drives Debian's
headless Chromium with Selenium. On each explorer page, with the browser cache cleared, it

- waits for the explorer to draw, and checks that the console has no ``SEVERE`` message and that no request
  (Chrome DevTools' network log, and the page's resource timing) left the site;
- moves every control as a reader does (clicks a checkbox, presses the arrow keys on a slider, picks an
  option of a select) and after each move reads back what the page drew, both the series it selected and the
  data uPlot holds, and compares them with ``sched_lib``'s values for that setting, computed here with
  ``sched_lib``'s own functions (to the rounding stated in ``sched_lib.explorers``); for the noised images it
  compares the canvas pixels with ``sched_lib.plotting.noisy`` and ``to_display``;
- measures the page's cold weight (bytes received, from the network log) and its load time (navigation to
  the ``load`` event, and to the explorer drawn), and takes screenshots of the explorer at 1400 and 390 px.

The measurements go to ``_build/html/_screenshots/explorers.json`` (with the screenshots, the CI artifact);
with ``SCHED_LIB_RECORD_SITE=1`` also to ``benchmarks/site_explorers.json``, which the status page shows.
Skipped without a built site or a browser, unless ``SCHED_LIB_SITE_TEST=required`` (CI).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import time
from datetime import datetime, timezone

import numpy as np
import pytest

from sched_lib import get_schedule
from sched_lib.plotting import continuous_log_snr_fn, noisy, to_display
from sched_lib.samplers import karras_sigmas, timesteps
from sched_lib.schedules import (chen_cosine_alpha_bar, log_snr_from_alpha_bar, rectified_flow_log_snr,
                                 shifted_cosine_log_snr)
from sched_lib.weighting import EDMLogNormal, LogitNormalTime, UniformTime, convert_weight, min_snr_weight, p2_weight

from site_browser import ROOT, SHOTS, TIMEOUT, chromium

RECORD = ROOT / "benchmarks" / "site_explorers.json"
PAGES = {   # page -> explorer id
    "labs/explore_schedules.html": "explore-schedules",
    "chapters/resolution.html": "schedules-resolution",
    "chapters/weighting.html": "weighting-loss",
    "chapters/endpoints_and_sampling.html": "endpoints-sampling",
}
MEASURED: dict[str, dict] = {}


@pytest.fixture(scope="module")
def browser(site_url, tmp_path_factory):
    prefs = {"browser": "ALL", "performance": "ALL"}  # the network log shows every request and its bytes
    with chromium(tmp_path_factory.mktemp("chromium-profile"), (1400, 1000), prefs) as driver:
        driver.execute_cdp_cmd("Network.enable", {})
        driver.execute_cdp_cmd("Network.setCacheDisabled", {"cacheDisabled": True})
        yield driver


# --- expected values, from sched_lib -----------------------------------------------------------------

def _close(page, exact, sig, what):
    """``page`` is ``exact`` rounded to ``sig`` significant digits (None where ``exact`` is not finite)."""
    exact = np.asarray(exact, dtype=np.float64)
    got = np.array([np.nan if v is None else v for v in page], dtype=np.float64)
    assert got.shape == exact.shape, f"{what}: {got.shape} values drawn, {exact.shape} expected"
    finite = np.isfinite(exact)
    assert np.array_equal(np.isnan(got), ~finite), f"{what}: gaps differ"
    err = np.abs(got[finite] - exact[finite])
    assert np.all(err <= 0.5 * 10.0 ** (1 - sig) * np.abs(exact[finite]) * (1 + 1e-12) + 1e-300), (
        f"{what}: largest relative error {np.max(err / np.abs(exact[finite])):.2e}")


def expect_schedules(state, spec):
    steps = np.array(spec["steps"])
    edges = np.linspace(-20.0, 20.0, 81)
    lam_grid = 0.5 * (edges[1:] + edges[:-1])
    out = {"alpha_bar": {}, "log_snr": {}, "density": {}}
    for name in state["schedules"]:
        sched = get_schedule(name, 1000, zero_terminal_snr=state["zt"])
        ab = sched.alpha_bar[steps - 1]
        out["alpha_bar"][name] = ab
        out["log_snr"][name] = log_snr_from_alpha_bar(ab)
        fn = continuous_log_snr_fn(name, zero_terminal_snr=state["zt"])
        if fn is not None:
            out["density"][name] = UniformTime(fn).log_snr_density(lam_grid)
        else:
            lam = log_snr_from_alpha_bar(sched.alpha_bar)
            out["density"][name] = np.histogram(lam[np.isfinite(lam)], bins=edges)[0] / (1000 * np.diff(edges))
    return out


def expect_resolution(state, spec):
    t, d = np.array(spec["xs"]["t"]), state["d"]
    base = {"shifted_cosine": shifted_cosine_log_snr(t, 64, 64), "sd3": rectified_flow_log_snr(t, 1.0),
            "chen": log_snr_from_alpha_bar(chen_cosine_alpha_bar(t))}
    chosen = {"shifted_cosine": shifted_cosine_log_snr(t, d, 64), "sd3": rectified_flow_log_snr(t, d / 64),
              "chen": base["chen"] + 2 * math.log(64 / d)}
    return {k: {"d = 64 (base)": base[k], f"d = {d}": chosen[k]} for k in base}


def expect_weighting(state, spec):
    lam = np.array(spec["xs"]["lam"])
    snr = np.exp(lam)
    p = UniformTime(continuous_log_snr_fn(state["schedule"])).log_snr_density(lam)
    x0 = {
        "Min-SNR-γ": min_snr_weight(snr, state["minsnr_gamma"], "x0") * p,
        "P2": p2_weight(snr, state["p2_k"], state["p2_gamma"], "x0") * p,
        "EDM": (snr + 0.5 ** -2) * EDMLogNormal(state["edm_p_mean"], state["edm_p_std"]).log_snr_density(lam),
        "SD3": (1 + np.sqrt(snr)) ** 2 * LogitNormalTime(state["sd3_loc"], state["sd3_scale"]).log_snr_density(lam),
    }
    out = {}
    for label, w in x0.items():
        w = convert_weight(w, snr, "x0", state["frame"])
        w = w / np.trapezoid(w, lam)
        out[label] = np.where(w >= 1e-5, w, np.nan)      # the page leaves out what lies far below the axis
    return {"weight": out}


def expect_sampling(state, spec):
    lam_chain = log_snr_from_alpha_bar(get_schedule(state["schedule"], 1000).alpha_bar)
    return {"grid": {
        "DDIM grid": lam_chain[timesteps(1000, state["steps"], state["spacing"])],
        "Karras grid": -2 * np.log(karras_sigmas(state["steps"], rho=state["rho"], append_zero=False)),
    }}


EXPECT = {"explore-schedules": expect_schedules, "schedules-resolution": expect_resolution,
          "weighting-loss": expect_weighting, "endpoints-sampling": expect_sampling}


# --- page helpers ------------------------------------------------------------------------------------

def _api(browser, eid, call, *args):
    return browser.execute_script(f"return window.SchedLibExplorers[arguments[0]].{call};", eid, *args)


def _check_drawn(browser, eid, spec, what):
    """What the page drew equals sched_lib's values for the page's current setting."""
    state = _api(browser, eid, "state()")
    drawn = _api(browser, eid, "drawn()")
    expected = EXPECT[eid](state, spec)
    sig = spec["significant"]
    for panel, series in expected.items():
        labels = [s["label"] for s in drawn[panel]]
        assert labels == list(series), f"{what}: panel {panel} drew {labels}, expected {list(series)}"
        up = _api(browser, eid, f"uplot('{panel}')")
        assert up["labels"] == labels, f"{what}: uPlot holds {up['labels']}"
        for i, (label, values) in enumerate(series.items()):
            s = drawn[panel][i]
            if eid == "endpoints-sampling":       # points: the grid's levels are the x values
                _close(s["x"], values, sig, f"{what}: {panel}/{label}")
            else:
                _close(s["y"], values, sig, f"{what}: {panel}/{label}")
                assert up["data"][0] == s["x"] and up["data"][i + 1] == s["y"], f"{what}: uPlot data of {label}"
    return state


def _check_images(browser, eid, state):
    """The noised images are sched_lib.plotting's to_display(noisy(x0, alpha_bar_t, eps)), to one grey level."""
    from sched_lib.data import load_sample_images

    x0 = load_sample_images().images[state["image"]].astype(np.float64) / 127.5 - 1.0
    eps = np.random.default_rng(0).standard_normal((32, 32, 3))
    pixels = browser.execute_script(
        "return Array.from(document.querySelectorAll('#' + arguments[0] + ' .sl-image canvas')).map("
        "c => Array.from(c.getContext('2d').getImageData(0, 0, 32, 32).data));", eid)
    shown = _api(browser, eid, "images()")
    names = state["schedules"][:5]
    assert len(pixels) == len(shown) == 1 + len(names)
    step = max(1, round(state["t"] * 1000))
    for k, (px, info) in enumerate(zip(pixels, shown)):
        rgb = np.array(px, dtype=np.float64).reshape(32, 32, 4)[..., :3]
        if k == 0:
            ref = to_display(x0)
        else:
            ab = float(get_schedule(names[k - 1], 1000, zero_terminal_snr=state["zt"]).alpha_bar[step - 1])
            assert math.isclose(info["alpha_bar"], ab, rel_tol=1e-15), info
            assert f"t = {step}" in info["label"]
            ref = to_display(noisy(x0, ab, eps))
        assert np.max(np.abs(rgb - ref * 255)) <= 1.0, f"image {info['label']}: pixels differ from sched_lib"


def _network(browser, site_url):
    """Requests the page made (DevTools log) and the bytes received."""
    urls, size = [], 0
    for entry in browser.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        if msg["method"] == "Network.requestWillBeSent":
            urls.append(msg["params"]["request"]["url"])
        elif msg["method"] == "Network.loadingFinished":
            size += msg["params"]["encodedDataLength"]
    outside = [u for u in urls if not (u.startswith(site_url) or u.startswith("data:"))]
    return urls, size, outside


# --- the controls, moved as a reader moves them ---------------------------------------------------------

def _control(browser, eid, name):
    from selenium.webdriver.common.by import By

    return browser.find_element(By.CSS_SELECTOR, f'#{eid} [data-control="{name}"]')


def _slide(browser, eid, name, presses):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    el = _control(browser, eid, name).find_element(By.CSS_SELECTOR, "input[type=range]")
    key = Keys.ARROW_RIGHT if presses > 0 else Keys.ARROW_LEFT
    for _ in range(abs(presses)):
        el.send_keys(key)


def _pick(browser, eid, name, text):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    Select(_control(browser, eid, name).find_element(By.TAG_NAME, "select")).select_by_visible_text(text)


def _click(browser, eid, name, option=None):
    from selenium.webdriver.common.by import By

    sel = f'input[data-option="{option}"]' if option else "input[type=checkbox]"
    box = _control(browser, eid, name).find_element(By.CSS_SELECTOR, sel)
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", box)
    box.click()


MOVES = {   # (what a reader does, the setting it must lead to)
    "explore-schedules": [
        (lambda b, e: _click(b, e, "schedules", "shifted_cosine"), {"schedules": ("toggle", "shifted_cosine")}),
        (lambda b, e: _click(b, e, "schedules", "linear"), {"schedules": ("toggle", "linear")}),
        (lambda b, e: _click(b, e, "schedules", "rectified_flow"), {"schedules": ("toggle", "rectified_flow")}),
        (lambda b, e: _click(b, e, "zt"), {"zt": True}),
        (lambda b, e: _slide(b, e, "t", 6), {"t": 0.8}),
        (lambda b, e: _slide(b, e, "t", 4), {"t": 1.0}),
        (lambda b, e: _pick(b, e, "image", "32: ship"), {"image": 32}),
        (lambda b, e: _click(b, e, "zt"), {"zt": False}),
        (lambda b, e: _slide(b, e, "t", -20), {"t": 0.0}),
    ],
    "schedules-resolution": [
        (lambda b, e: _slide(b, e, "d", -6), {"d": 32}),
        (lambda b, e: _slide(b, e, "d", 3), {"d": 96}),
        (lambda b, e: _slide(b, e, "d", 20), {"d": 1024}),
    ],
    "weighting-loss": [
        (lambda b, e: _pick(b, e, "frame", "ε"), {"frame": "eps"}),
        (lambda b, e: _pick(b, e, "schedule", "logistic"), {"schedule": "logistic"}),
        (lambda b, e: _slide(b, e, "minsnr_gamma", 2), {"minsnr_gamma": 20.0}),
        (lambda b, e: _slide(b, e, "p2_k", -1), {"p2_k": 0.5}),
        (lambda b, e: _slide(b, e, "p2_gamma", -1), {"p2_gamma": 0.5}),
        (lambda b, e: _slide(b, e, "edm_p_mean", 2), {"edm_p_mean": -0.4}),
        (lambda b, e: _slide(b, e, "edm_p_std", 1), {"edm_p_std": 1.6}),
        (lambda b, e: _slide(b, e, "sd3_loc", -2), {"sd3_loc": -1.0}),
        (lambda b, e: _slide(b, e, "sd3_scale", -1), {"sd3_scale": 0.5}),
        (lambda b, e: _pick(b, e, "frame", "v"), {"frame": "v"}),
        (lambda b, e: _pick(b, e, "schedule", "shifted_cosine"), {"schedule": "shifted_cosine"}),
    ],
    "endpoints-sampling": [
        (lambda b, e: _slide(b, e, "steps", -1), {"steps": 10}),
        (lambda b, e: _pick(b, e, "spacing", "leading"), {"spacing": "leading"}),
        (lambda b, e: _pick(b, e, "spacing", "linspace"), {"spacing": "linspace"}),
        (lambda b, e: _pick(b, e, "schedule", "scaled_linear"), {"schedule": "scaled_linear"}),
        (lambda b, e: _slide(b, e, "rho", -4), {"rho": 1.0}),
        (lambda b, e: _slide(b, e, "rho", 10), {"rho": 20.0}),
        (lambda b, e: _slide(b, e, "steps", 10), {"steps": 100}),
    ],
}


@pytest.mark.parametrize("page", list(PAGES))
def test_explorer(page, browser, site_url):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    eid = PAGES[page]
    browser.set_window_size(1400, 1000)
    browser.execute_cdp_cmd("Network.clearBrowserCache", {})
    browser.get_log("browser")
    browser.get_log("performance")
    browser.get(site_url + page)
    root = WebDriverWait(browser, TIMEOUT).until(
        lambda b: b.find_element(By.CSS_SELECTOR, f'#{eid}[data-ready="1"]'))
    WebDriverWait(browser, TIMEOUT).until(lambda b: b.execute_script("return document.readyState") == "complete")
    timing = browser.execute_script(
        "const n = performance.getEntriesByType('navigation')[0];"
        "return {load: n.loadEventEnd, dcl: n.domContentLoadedEventEnd,"
        " resources: performance.getEntriesByType('resource').map(r => r.name)};")
    ready_ms = float(root.get_attribute("data-ready-ms"))
    spec = json.loads(browser.execute_script(
        "return document.querySelector('#' + arguments[0] + ' script.sl-data').textContent;", eid))
    assert root.find_elements(By.CSS_SELECTOR, "img.sl-fallback") == [], "the static fallback was not replaced"

    state = _check_drawn(browser, eid, spec, "default")
    assert state == {c["name"]: [o for o in c["options"] if o in c["value"]] if c["kind"] == "multi" else c["value"]
                     for c in spec["controls"]}
    if eid == "explore-schedules":
        _check_images(browser, eid, state)
    for i, (move, change) in enumerate(MOVES[eid]):
        before = (_api(browser, eid, "drawn()"), _api(browser, eid, "images()"))
        previous = state
        move(browser, eid)
        state = _check_drawn(browser, eid, spec, f"move {i} {change}")
        for key, value in change.items():
            if isinstance(value, tuple):      # a multi-select toggled: in the options' order
                _, name = value
                chosen = set(previous[key]) ^ {name}
                value = [o for o in next(c for c in spec["controls"] if c["name"] == key)["options"] if o in chosen]
            assert state[key] == value, f"move {i}: {key} is {state[key]!r}, expected {value!r}"
        after = (_api(browser, eid, "drawn()"), _api(browser, eid, "images()"))
        assert after != before, f"move {i} {change}: nothing changed"      # curves, or the images at t
        if eid == "explore-schedules":
            _check_images(browser, eid, state)

    urls, size, outside = _network(browser, site_url)
    severe = [e["message"] for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not severe, f"console errors on {page}: {severe}"
    assert not outside, f"{page} requested outside the site: {outside}"
    assert all(u.startswith(site_url) for u in timing["resources"]), timing["resources"]
    assert any(u.endswith("_static/explorers/uPlot.iife.min.js") for u in urls)
    assert size > 0

    for width in (1400, 390):
        browser.set_window_size(width, 1000)
        time.sleep(0.4)      # the explorer redraws 150 ms after a resize
        browser.execute_script("arguments[0].scrollIntoView({block: 'start'});", root)
        root.screenshot(str(SHOTS / f"explorer-{eid}-{width}.png"))
        overflow = browser.execute_script("return arguments[0].scrollWidth - arguments[0].clientWidth;", root)
        assert overflow <= 1, f"{page} at {width} px: the explorer is {overflow} px wider than its box"
    assert not [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    MEASURED[page] = {"explorer": eid, "bytes_cold": int(size), "requests": len(urls),
                      "load_ms": round(timing["load"], 1), "explorer_ready_ms": round(ready_ms, 1),
                      "embedded_data_bytes": len(json.dumps(spec, separators=(",", ":"), ensure_ascii=False).encode())}


BASELINE = "chapters/snr.html"   # a chapter of similar length without an explorer, for comparison


def test_baseline_page(browser, site_url):
    """The same measurements on a page without an explorer: what the explorer adds is the difference."""
    browser.set_window_size(1400, 1000)
    browser.execute_cdp_cmd("Network.clearBrowserCache", {})
    browser.get_log("performance")
    browser.get(site_url + BASELINE)
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser, TIMEOUT).until(lambda b: b.execute_script("return document.readyState") == "complete")
    load = browser.execute_script("return performance.getEntriesByType('navigation')[0].loadEventEnd;")
    urls, size, outside = _network(browser, site_url)
    assert not outside and not any("explorers" in u for u in urls)
    MEASURED[BASELINE] = {"explorer": None, "bytes_cold": int(size), "requests": len(urls),
                          "load_ms": round(load, 1), "explorer_ready_ms": None, "embedded_data_bytes": 0}


def test_write_measurements():
    """Write what the page tests measured (runs last in this file)."""
    if len(MEASURED) != len(PAGES) + 1:
        pytest.skip(f"measured {len(MEASURED)} of {len(PAGES) + 1} pages")
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    record = {"measured": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "commit": commit,
              "how": "tests/test_site_explorers.py: headless Chromium, cache cleared, site served from 127.0.0.1",
              "pages": MEASURED}
    text = json.dumps(record, indent=1) + "\n"
    (SHOTS / "explorers.json").write_text(text)
    if os.environ.get("SCHED_LIB_RECORD_SITE") == "1":
        RECORD.write_text(text)
