"""The schedule explorer (``sched_lib.widgets``) and the plotting helpers it draws with
(``sched_lib.plotting``), driven without a browser: set a control's value, check what was drawn."""

import math

import numpy as np
import pytest
from matplotlib.figure import Figure

from sched_lib import get_schedule
from sched_lib.plotting import (avg_pool, continuous_log_snr_fn, noisy, plot_images, plot_schedule_panels,
                                resolution_shift, shift_log_snr, to_display, upsample)
from sched_lib.schedules import cosine_log_snr, list_schedules, log_snr_from_alpha_bar
from sched_lib.weighting import UniformTime

widgets = pytest.importorskip("ipywidgets")
from sched_lib.widgets import ScheduleExplorer, schedule_explorer  # noqa: E402

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def explorer():
    return schedule_explorer(dpi=30, schedules=("linear", "cosine"), T=1000, t=0.5)


def _ab_lines(e):
    return e.figure.axes[0].get_lines()


# --------------------------------------------------------------------------------------------------
# The explorer
# --------------------------------------------------------------------------------------------------


def test_explorer_is_a_widget_with_a_png(explorer):
    assert isinstance(explorer, ScheduleExplorer) and isinstance(explorer, widgets.VBox)
    assert bytes(explorer.image_widget.value).startswith(PNG)
    assert set(explorer.controls["schedules"].options) == set(list_schedules())
    assert list(explorer.drawn) == ["linear", "cosine"]
    assert explorer.message.value == ""


def test_explorer_draws_the_library_curves(explorer):
    for label, name in [("linear", "linear"), ("cosine", "cosine")]:
        sched = get_schedule(name, 1000)
        np.testing.assert_array_equal(explorer.drawn[label]["alpha_bar"], sched.alpha_bar)
        np.testing.assert_array_equal(explorer.drawn[label]["betas"], sched.betas)
    ydata = [line.get_ydata() for line in _ab_lines(explorer) if line.get_label() in ("linear", "cosine")]
    np.testing.assert_array_equal(ydata[0], get_schedule("linear", 1000).alpha_bar)
    edges, values = explorer.drawn["linear"]["density"]
    assert math.isclose(np.sum(values * np.diff(edges)), 1.0, rel_tol=1e-12)   # a density of the T steps


def test_changing_controls_updates_the_figure():
    e = schedule_explorer(dpi=30, schedules=("linear",), T=1000, t=0.5)
    png = bytes(e.image_widget.value)
    e.controls["schedules"].value = ("cosine", "logistic", "scaled_linear")
    assert list(e.drawn) == ["cosine", "logistic", "scaled_linear"]
    assert [ln.get_label() for ln in _ab_lines(e)][:3] == ["cosine", "logistic", "scaled_linear"]
    assert e.controls["edit"].options == ("cosine", "logistic", "scaled_linear")
    assert bytes(e.image_widget.value) != png

    e.controls["T"].value = 50
    assert all(len(entry["alpha_bar"]) == 50 for entry in e.drawn.values())
    assert len(_ab_lines(e)[0].get_xdata()) == 50

    e.controls["zero_terminal_snr"].value = True
    assert all(entry["alpha_bar"][-1] == 0.0 for entry in e.drawn.values())
    assert all("continuous_density" not in entry for entry in e.drawn.values())   # curves are for the chain only
    e.controls["zero_terminal_snr"].value = False


def test_t_moves_the_marker_and_the_images():
    e = schedule_explorer(dpi=30, schedules=("linear", "cosine"), T=1000, t=0.2)
    first = [img.copy() for _, img in e.shown]
    assert e.drawn["linear"]["step"] == 200
    e.controls["t"].value = 0.9
    assert e.drawn["linear"]["step"] == 900
    assert np.array_equal(e.shown[0][1], first[0])                                   # the clean image
    ab = get_schedule("cosine", 1000).alpha_bar[899]
    x0 = e.images[e.controls["image"].value]
    np.testing.assert_allclose(e.shown[2][1], noisy(x0, ab, e._noise(32)), rtol=0, atol=1e-12)
    assert not np.allclose(e.shown[2][1], first[2])
    e.controls["image"].value = 3
    assert not np.array_equal(e.shown[0][1], first[0])


def test_parameters_and_invalid_parameters():
    e = schedule_explorer(dpi=30, schedules=("logistic", "cosine"), T=100)
    assert [w.description for w in e.param_box.children] == ["log_snr_max", "log_snr_min"]
    e.param_box.children[0].value = 5.0                                              # as a user would type it
    assert math.isclose(e.drawn["logistic"]["log_snr"][0], 5.0 - 15.0 / 100, rel_tol=1e-12)
    e.controls["edit"].value = "cosine"
    assert [w.description for w in e.param_box.children] == ["s", "max_beta"]
    e.set_param("cosine", "s", -1.0)
    assert "cosine" not in e.drawn and "s must lie in" in e.message.value            # shown, not raised
    e.controls["edit"].value = "cosine"
    e._on_reset()
    assert "cosine" in e.drawn and e.message.value == ""
    with pytest.raises(ValueError, match="unknown parameter"):
        e.set_param("cosine", "tau", 1.0)


def test_continuous_density_only_for_curves():
    e = schedule_explorer(dpi=30, schedules=("linear", "cosine"), T=1000, continuous=True)
    assert "continuous_density" not in e.drawn["linear"]
    grid, dens = e.drawn["cosine"]["continuous_density"]
    np.testing.assert_allclose(dens, UniformTime(lambda t: cosine_log_snr(t)).log_snr_density(grid))
    e.controls["continuous"].value = False
    assert "continuous_density" not in e.drawn["cosine"]


def test_matching_mode_shifts_and_upsamples():
    e = schedule_explorer(dpi=30, schedules=("cosine",), T=1000, t=0.5, match_resolution=True, d=128)
    shift = 2 * math.log(32 / 128)
    lam = e.drawn["cosine"]["log_snr"]
    np.testing.assert_allclose(e.drawn["cosine, d = 128"]["log_snr"], lam + shift, rtol=1e-9, atol=1e-9)
    labels = [label for label, _ in e.shown]
    shapes = [img.shape for _, img in e.shown]
    assert shapes == [(32, 32, 3), (32, 32, 3), (128, 128, 3), (128, 128, 3), (32, 32, 3)], labels
    assert "matched" in labels[3] and "pooled" in labels[4]
    e.controls["d"].value = 256
    assert e.shown[3][1].shape == (256, 256, 3)
    assert "2 log(32/d)" in e.message.value
    e.controls["match_resolution"].value = False
    assert list(e.drawn) == ["cosine"]


def test_empty_selection_and_bad_arguments():
    e = schedule_explorer(dpi=30, schedules=("linear",))
    e.controls["schedules"].value = ()
    assert e.drawn == {} and e.shown == [] and "select at least one" in e.message.value
    with pytest.raises(ValueError, match="unknown schedule"):
        schedule_explorer(dpi=30, schedules=("nope",))
    with pytest.raises(ValueError, match="T must be one of"):
        schedule_explorer(T=7)


# --------------------------------------------------------------------------------------------------
# Plotting helpers
# --------------------------------------------------------------------------------------------------


def test_image_helpers():
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (2, 8, 8, 3))
    up = upsample(x, 4)
    assert up.shape == (2, 32, 32, 3)
    np.testing.assert_allclose(avg_pool(up, 4), x, rtol=0, atol=1e-15)
    np.testing.assert_allclose(avg_pool(x, 2)[0, 0, 0], x[0, :2, :2].mean(axis=(0, 1)))
    eps = rng.standard_normal(x.shape)
    np.testing.assert_allclose(noisy(x, 0.36, eps), 0.6 * x + 0.8 * eps)
    assert to_display(np.array([-3.0, 0.0, 3.0])).tolist() == [0.0, 0.5, 1.0]
    with pytest.raises(ValueError, match="multiples"):
        avg_pool(x, 3)
    with pytest.raises(ValueError, match="shape of x0"):
        noisy(x, 0.5, eps[:1])


def test_shift_and_resolution_rule():
    assert math.isclose(resolution_shift(256, 64), -2 * math.log(4))
    s = get_schedule("linear", 100, zero_terminal_snr=True)
    shifted = shift_log_snr(s, -1.5)
    lam, lam2 = log_snr_from_alpha_bar(s.alpha_bar), log_snr_from_alpha_bar(shifted.alpha_bar)
    np.testing.assert_allclose(lam2[:-1], lam[:-1] - 1.5, rtol=1e-9, atol=1e-9)
    assert shifted.alpha_bar[-1] == 0.0
    with pytest.raises(ValueError, match="no valid chain"):
        shift_log_snr(get_schedule("logistic", 100), 60.0)


def test_continuous_curves():
    t = np.linspace(0.05, 0.95, 7)
    np.testing.assert_allclose(continuous_log_snr_fn("cosine")(t), cosine_log_snr(t))
    assert continuous_log_snr_fn("linear") is None
    assert continuous_log_snr_fn("cosine", zero_terminal_snr=True) is None
    for name in ("chen_sigmoid", "chen_cosine", "logistic", "shifted_cosine", "rectified_flow"):
        fn = continuous_log_snr_fn(name)
        chain = get_schedule(name, 1000)
        k = np.array([100, 500, 900])
        np.testing.assert_allclose(fn(k / 1000), log_snr_from_alpha_bar(chain.alpha_bar[k - 1]), atol=0.05)
    with pytest.raises(ValueError, match="unknown parameter"):
        continuous_log_snr_fn("cosine", tau=1.0)


def test_plot_schedule_panels_and_images():
    fig = Figure()
    axes = fig.subplots(1, 4)
    scheds = {"a": get_schedule("linear", 200), "b": get_schedule("cosine", 200, zero_terminal_snr=True)}
    drawn = plot_schedule_panels(axes, scheds, t=0.25, continuous={"a": None})
    assert drawn["a"]["step"] == 50 and drawn["b"]["step"] == 50
    assert np.isneginf(drawn["b"]["log_snr"][-1])
    assert np.isnan(axes[1].get_lines()[1].get_ydata()[-1])          # -inf is not drawn
    with pytest.raises(ValueError, match="4 axes"):
        plot_schedule_panels(axes[:3], scheds)
    fig2 = Figure()
    img_axes = fig2.subplots(1, 2)
    plot_images(img_axes, [np.zeros((4, 4, 3)), np.ones((4, 4, 3))], ["a", "b"])
    assert img_axes[1].get_xlabel() == "b"
    with pytest.raises(ValueError, match="same length"):
        plot_images(img_axes, [np.zeros((4, 4, 3))], ["a", "b"])


def test_list_parameters_are_edited_as_comma_separated_numbers():
    e = schedule_explorer(dpi=30, schedules=("piecewise_log_snr",), T=100)
    (box,) = e.param_box.children
    assert box.description == "log_snr" and box.value == "10, -10"
    box.value = "8, 0, -6"                                                          # as a user would type it
    assert e.params["piecewise_log_snr"]["log_snr"] == (8.0, 0.0, -6.0)
    assert "piecewise_log_snr" in e.drawn and e.message.value == ""
    assert math.isclose(e.drawn["piecewise_log_snr"]["log_snr"][-1], -6.0, rel_tol=1e-12)
    box.value = "8, zero"
    assert "write numbers separated by commas" in e.message.value
    box.value = "0, 8"                                                               # not decreasing
    assert "piecewise_log_snr" not in e.drawn and "decreasing" in e.message.value
