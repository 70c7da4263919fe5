"""Live explorers for the static website: ``sched_lib``'s values over a grid of settings, drawn in the page.

The ipywidgets explorer (:mod:`sched_lib.widgets`) needs a kernel; most readers of the website never start
one. The four explorers here need none. At build time each one evaluates ``sched_lib`` over the steps of
its controls (every setting a reader can choose) and writes the arrays into the page as JSON. In the page,
``_static/explorers/explorers.js`` only *selects* the arrays for the current setting and draws them with
uPlot; it computes no schedule, weight or grid itself. The one exception is the noised image of
:func:`schedule_explorer`, ``√ᾱ·x₀ + √(1 − ᾱ)·ε`` per pixel (``sched_lib.plotting.noisy`` and
``to_display``), which the page computes from the embedded ᾱ, image and noise, because 40 pre-rendered
noise images per schedule would weigh far more than the page; ``tests/test_site_explorers.py`` reads the
canvas pixels back and compares them with :func:`sched_lib.plotting.noisy`.

The four explorers, one per page:

* :func:`schedule_explorer` (lab *Explore Schedules*): ᾱ(t), λ(t) and the density p(λ) under uniform t of
  the chosen schedules, with zero terminal SNR (Lin et al. 2024, Alg. 1) on or off, and a real CIFAR-10
  test image noised at the chosen t;
* :func:`resolution_explorer` (chapter *Schedules and Resolution*): the resolution d moves the shifted
  cosine (Hoogeboom et al. 2023, eq. 5), the SD3 time shift (Esser et al. 2024, eq. 23) and Chen's input
  scaling (Chen 2023, §3) on the λ axis, side by side;
* :func:`weighting_explorer` (chapter *Weighting the Loss*): the effective weight w(λ)·p(λ) of Min-SNR-γ,
  P2, EDM and SD3, normalised to unit area on λ ∈ [−15, 15], in a chosen frame (the chapter's convention);
* :func:`sampling_explorer` (chapter *The Endpoints and Sampling*): where DDIM's leading / trailing /
  linspace grid and the Karras grid put their steps on the λ axis, against the training density.

Why uPlot (``_extra/_static/explorers/README.md``): the site must work offline, so the plotting library is
served by the site itself, and it should add little to a cold first load that is already 4.3 MB. uPlot
1.6.32 (MIT, maintained) is 51 kB minified with no dependencies and draws line and point series on a
canvas, which is all these explorers need; Plotly (about 3.5 MB), Vega-Lite + Vega (about 800 kB) and
Chart.js (about 200 kB) would each weigh more than the data they draw. The script is loaded only by the
pages that show an explorer (it lives in ``_extra/``, not ``_static/``, which Jupyter Book adds to every page).

Each explorer is an :class:`Explorer`: in a notebook it displays as HTML (the live figure, with a static PNG
of its default setting inside, shown wherever the script does not run: Colab, Jupyter, GitHub, nbviewer)
and as a PNG for viewers that do not render HTML. ``Explorer.spec`` is the embedded data, and
``Explorer.select(setting)`` returns what the page draws for a setting, which the tests use.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math

import numpy as np

from . import _validate as check
from .plotting import continuous_log_snr_fn, resolution_shift
from .samplers import SPACINGS, karras_sigmas, timesteps
from .schedules import (chen_cosine_alpha_bar, get_schedule, list_schedules,
                        log_snr_from_alpha_bar, rectified_flow_log_snr, shifted_cosine_log_snr)
from .weighting import FRAMES, EDMLogNormal, LogitNormalTime, UniformTime, convert_weight, min_snr_weight, p2_weight

__all__ = ["Explorer", "schedule_explorer", "resolution_explorer", "weighting_explorer", "sampling_explorer",
           "EXPLORERS", "SIGNIFICANT"]

#: Significant digits of the embedded values: enough for a figure, and the page stays small. A value drawn
#: in the page differs from ``sched_lib``'s float64 value by at most half a unit in the last digit.
SIGNIFICANT = 4
#: Where the built pages find the scripts: chapters/ and labs/ are one level below the site root.
STATIC = "../_static/explorers"
#: Colours of the series (matplotlib's tab10, so the PNG fallback and the live figure agree).
COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
          "#bcbd22", "#17becf", "#000000")


def _num(a, sig: int = SIGNIFICANT, floor: float | None = None) -> list:
    """A float64 array as a JSON list rounded to ``sig`` significant digits; ±inf and NaN become None, and
    so do values below ``floor`` (for a log axis: values far below its bottom are not drawn)."""
    out = []
    for v in np.asarray(a, dtype=np.float64).ravel():
        keep = math.isfinite(v) and (floor is None or v >= floor)
        out.append(float(f"{v:.{sig}g}") if keep else None)
    return out


class Explorer:
    """One live figure: the data the page embeds (``spec``) and how it displays in a notebook.

    ``spec`` holds ``controls`` (name, kind ``multi``/``check``/``slider``/``select``, options, default
    value), ``xs`` (shared x grids), ``panels`` and ``series``. A series is drawn when every entry of its
    ``when`` equals the control's current value and, for ``member``, its value is among the selected
    options of that multi-select; the page does nothing else with it.
    """

    def __init__(self, spec: dict, caption: str = ""):
        self.spec = spec
        self.caption = caption
        self._png = None

    # ---- selection (the page's rule, in Python, for tests and the static figure) ------------------

    def default(self) -> dict:
        """The default setting: {control name: value}."""
        return {c["name"]: c["value"] for c in self.spec["controls"]}

    def select(self, setting: dict | None = None) -> dict:
        """What the page draws for ``setting`` (missing controls keep their defaults).

        Returns {panel id: [series, ...]}, each series a dict with ``label``, ``x`` and ``y`` (lists).
        """
        state = {**self.default(), **(setting or {})}
        names = {c["name"] for c in self.spec["controls"]}
        unknown = sorted(set(state) - names)
        if unknown:
            raise ValueError(f"unknown control(s) {unknown}; valid: {sorted(names)}")
        out = {p["id"]: [] for p in self.spec["panels"]}
        for s in self.spec["series"]:
            if not _shown(s, state):
                continue
            x = s["x"] if isinstance(s["x"], list) else self.spec["xs"][s["x"]]
            out[s["panel"]].append({"label": s["label"], "x": x, "y": s["y"], "color": s.get("color"),
                                    "kind": s.get("kind", "line")})
        return out

    # ---- display ----------------------------------------------------------------------------------

    def json(self) -> str:
        """The embedded data as compact JSON, safe inside a ``<script>`` element."""
        text = json.dumps(self.spec, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        return text.replace("</", "<\\/")

    def png(self, dpi: int = 60) -> bytes:
        """A static PNG of the default setting (the fallback where the page's script does not run)."""
        if self._png is None:
            self._png = _render_png(self, dpi)
        return self._png

    def html(self, static: str = STATIC) -> str:
        """The live figure: a ``<div>`` with the data and the static fallback, then the two scripts."""
        png = base64.b64encode(self.png()).decode("ascii")
        sid = html.escape(self.spec["id"])
        alt = html.escape(self.caption or self.spec["title"])
        return (
            f'<div class="sl-explorer" id="{sid}" data-explorer="{sid}">'
            f'<img class="sl-fallback" alt="{alt} (static figure of the default setting)" '
            f'src="data:image/png;base64,{png}" style="max-width:100%">'
            f'<script type="application/json" class="sl-data">{self.json()}</script></div>'
            f'<link rel="stylesheet" href="{static}/uPlot.min.css">'
            f'<script src="{static}/uPlot.iife.min.js"></script>'
            f'<script src="{static}/explorers.js"></script>'
        )

    def _repr_mimebundle_(self, include=None, exclude=None):
        return {"text/html": self.html(), "image/png": self.png(),
                "text/plain": f"<{self.spec['title']}: a live figure on the course website>"}


def _shown(series: dict, state: dict) -> bool:
    for key, value in series.get("when", {}).items():
        if state[key] != value:
            return False
    for key, value in series.get("member", {}).items():
        if value not in state[key]:
            return False
    return True


def _render_png(explorer: Explorer, dpi: int) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    panels = explorer.spec["panels"]
    drawn = explorer.select()
    fig = Figure(figsize=(3.2 * len(panels), 3.0))
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, p in zip(axes, panels):
        for s in drawn[p["id"]]:
            x = np.array([np.nan if v is None else v for v in s["x"]], dtype=float)
            y = np.array([np.nan if v is None else v for v in s["y"]], dtype=float)
            if s["kind"] == "points":
                ax.plot(x, y, "o", ms=3, color=s["color"], label=s["label"])
            else:
                ax.plot(x, y, color=s["color"], label=s["label"], lw=1.4)
        if p.get("log"):
            ax.set_yscale("log")
        if p.get("yticks"):
            ax.set_yticks([float(k) for k in p["yticks"]], list(p["yticks"].values()))
        if p.get("ylim"):
            ax.set_ylim(*p["ylim"])
        if p.get("xlim"):
            ax.set_xlim(*p["xlim"])
        ax.set_title(p["title"], fontsize=11)
        ax.set_xlabel(p["xlabel"], fontsize=10)
        ax.set_ylabel(p["ylabel"], fontsize=10)
        ax.tick_params(labelsize=9)
        if drawn[p["id"]] and p.get("legend", True):
            ax.legend(fontsize=8.5)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def _spec(id_, title, controls, xs, panels, series, significant=SIGNIFICANT, **extra) -> dict:
    for s in series:
        if isinstance(s["x"], str) and s["x"] not in xs:
            raise ValueError(f"series {s['label']!r} refers to an unknown x grid {s['x']!r}")
    return {"id": id_, "title": title, "controls": controls, "xs": xs, "panels": panels, "series": series,
            "significant": significant, **extra}


# ==================================================================================================
# 1. Explore schedules (lab)
# ==================================================================================================

#: The schedules offered (every registered one; ``piecewise_log_snr``'s default is ``logistic``).
SCHEDULES = tuple(n for n in list_schedules() if n != "piecewise_log_snr")
#: Steps of the t / T slider, and the step grid of the curves (step 1, then every 5th step of T = 1000).
T_EXPLORE = 1000
T_SLIDER = tuple(round(0.05 * i, 2) for i in range(21))
STEPS = np.concatenate([[1], np.arange(5, T_EXPLORE + 1, 5)])
#: The density panel's λ grid (bin centres, width 0.5, over [−20, 20]).
DENSITY_EDGES = np.linspace(-20.0, 20.0, 81)
#: Sample images offered (rows of ``load_sample_images()``): a horse, an automobile, a ship, a frog.
IMAGES = (29, 4, 32, 24)


def _lam_label(v: float) -> str:
    return "−∞" if v == -math.inf else f"{v:.1f}".replace("-0.0", "0.0").replace("-", "−")


def step_for(t_over_T: float, T: int = T_EXPLORE) -> int:
    """The step the explorers show for a slider value t/T: round(t·T), at least 1 (as the widget does)."""
    return min(max(int(round(t_over_T * T)), 1), T)


def density_of_steps(schedule) -> np.ndarray:
    """p(λ) under uniform t for a discrete chain: the fraction of its T steps per unit λ in each bin of
    :data:`DENSITY_EDGES` (as :func:`sched_lib.plotting.plot_schedule_panels` draws it); tends to the
    continuous p(λ) = 1/|λ'(t)| as T grows (chapter "Schedules in Log-SNR Space")."""
    lam = log_snr_from_alpha_bar(schedule.alpha_bar)
    lam = lam[np.isfinite(lam)]
    return np.histogram(lam, bins=DENSITY_EDGES)[0] / (schedule.T * np.diff(DENSITY_EDGES))


def schedule_density(name: str, zero_terminal_snr: bool) -> tuple[np.ndarray, str]:
    """The density the explorer draws: the exact p(λ) of :class:`UniformTime` where the schedule is a
    continuous curve (and not rescaled), else the density of the T = 1000 steps. Returns (values, how)."""
    centres = 0.5 * (DENSITY_EDGES[1:] + DENSITY_EDGES[:-1])
    fn = continuous_log_snr_fn(name, zero_terminal_snr=zero_terminal_snr)
    if fn is not None:
        return UniformTime(fn).log_snr_density(centres), "exact"
    return density_of_steps(get_schedule(name, T_EXPLORE, zero_terminal_snr=zero_terminal_snr)), "steps"


def schedule_explorer(schedules=("linear", "cosine", "logistic"), image: int = 29, seed: int = 0) -> Explorer:
    """The *Explore Schedules* figure: ᾱ(t), λ(t), p(λ) and a noised image, for the website.

    Controls: ``schedules`` (multi-select of :data:`SCHEDULES`), ``zt`` (zero terminal SNR, Lin et al. 2024,
    Alg. 1), ``t`` (t/T on :data:`T_SLIDER`; the step is :func:`step_for`), ``image`` (one of
    :data:`IMAGES`). The curves are at the steps :data:`STEPS` of T = 1000. The density is
    :func:`schedule_density`. The image panel shows ``to_display(noisy(x₀, ᾱ_step, ε))``
    (:mod:`sched_lib.plotting`) with one fixed noise draw ε ~ N(0, I) from ``default_rng(seed)``.
    """
    from .data import load_sample_images

    bad = [s for s in schedules if s not in SCHEDULES]
    if bad:
        raise ValueError(f"unknown schedule(s) {bad}; valid: {', '.join(SCHEDULES)}")
    if image not in IMAGES:
        raise ValueError(f"image must be one of {IMAGES}, got {image!r}")
    sample = load_sample_images()
    centres = 0.5 * (DENSITY_EDGES[1:] + DENSITY_EDGES[:-1])
    series, how, image_ab, image_lam = [], {}, {}, {}
    slider_steps = np.array([step_for(f) for f in T_SLIDER])
    for i, name in enumerate(SCHEDULES):
        color = COLORS[i % len(COLORS)]
        for zt in (False, True):
            sched = get_schedule(name, T_EXPLORE, zero_terminal_snr=zt)
            ab = sched.alpha_bar[STEPS - 1]
            key = f"{name}|{str(zt).lower()}"
            image_ab[key] = [float(v) for v in sched.alpha_bar[slider_steps - 1]]      # full precision
            image_lam[key] = [_lam_label(v) for v in log_snr_from_alpha_bar(sched.alpha_bar[slider_steps - 1])]
            dens, how[key] = schedule_density(name, zt)
            common = {"label": name, "color": color, "when": {"zt": zt}, "member": {"schedules": name}}
            series += [
                {**common, "panel": "alpha_bar", "x": "t", "y": _num(ab)},
                {**common, "panel": "log_snr", "x": "t", "y": _num(log_snr_from_alpha_bar(ab))},
                {**common, "panel": "density", "x": "lam", "y": _num(dens)},
            ]
    eps = np.random.default_rng(seed).standard_normal((32, 32, 3))
    images = {str(k): base64.b64encode(sample.images[k].tobytes()).decode("ascii") for k in IMAGES}
    controls = [
        {"name": "schedules", "kind": "multi", "label": "schedules", "options": list(SCHEDULES),
         "value": list(schedules)},
        {"name": "zt", "kind": "check", "label": "zero terminal SNR (Lin et al. 2024)", "value": False},
        {"name": "t", "kind": "slider", "label": "t / T", "options": list(T_SLIDER), "value": 0.5},
        {"name": "image", "kind": "select", "label": "image", "options": list(IMAGES),
         "labels": [f"{k}: {sample.classes[sample.labels[k]]}" for k in IMAGES], "value": image},
    ]
    panels = [
        {"id": "alpha_bar", "title": "ᾱ(t)", "x": "t", "xlabel": "t / T", "ylabel": "ᾱ_t", "ylim": [0, 1],
         "cursor": "t"},
        {"id": "log_snr", "title": "log-SNR λ(t)", "x": "t", "xlabel": "t / T", "ylabel": "λ_t", "cursor": "t"},
        {"id": "density", "title": "p(λ) under uniform t", "x": "lam", "xlabel": "log-SNR λ", "ylabel": "p(λ)"},
    ]
    xs = {"t": _num(STEPS / T_EXPLORE), "lam": _num(centres)}
    spec = _spec("explore-schedules", "Explore schedules", controls, xs, panels, series,
                 T=T_EXPLORE, steps=[int(s) for s in STEPS], density_how=how,
                 image={"panel_after": "density", "side": 32, "images": images, "max": 5,
                        "eps_float32": base64.b64encode(eps.astype("<f4").tobytes()).decode("ascii"),
                        "seed": int(seed), "steps": [int(v) for v in slider_steps],
                        "alpha_bar": image_ab, "log_snr_label": image_lam})
    return Explorer(spec, "Explore schedules: ᾱ(t), λ(t), the density of λ under uniform t, and a CIFAR-10 "
                          "test image noised at t, for the chosen schedules")


# ==================================================================================================
# 2. Schedules and resolution (chapter)
# ==================================================================================================

#: Resolutions of the slider (side d of a d×d image), and the base resolution the three rules start from.
RESOLUTIONS = (32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024)
BASE = 64
T_GRID = np.linspace(0.0, 1.0, 201)[1:-1]          # interior t: λ is ±inf at the ends of two of the curves


def resolution_curves(d: float, t=T_GRID) -> dict:
    """λ(t) of the three resolution rules at resolution d, from a base of 64 (chapter "Schedules and Resolution").

    ``shifted_cosine``: simple diffusion's shifted cosine (Hoogeboom et al. 2023, eq. 5-6,
    :func:`~sched_lib.schedules.shifted_cosine_log_snr`); ``sd3``: rectified flow at SD3's shifted time
    t' = αt/(1 + (α−1)t) with α = d/64 (Esser et al. 2024, eq. 23, :func:`~sched_lib.schedules.rectified_flow_log_snr`);
    ``chen``: Chen's cosine schedule γ(t) = ᾱ(t) with the input scaled by b = 64/d (Chen 2023, §3,
    "Strategy 2"), whose log-SNR is that of γ plus 2 log b (:func:`~sched_lib.plotting.resolution_shift`).
    """
    d = check.real(d, "d", low=0, low_open=True)
    return {
        "shifted_cosine": shifted_cosine_log_snr(t, d, BASE),
        "sd3": rectified_flow_log_snr(t, d / BASE),
        "chen": log_snr_from_alpha_bar(chen_cosine_alpha_bar(t)) + resolution_shift(d, BASE),
    }


def resolution_explorer() -> Explorer:
    """The *Schedules and Resolution* figure: d ∈ :data:`RESOLUTIONS` moves three rules on the λ axis.

    One panel per rule (:func:`resolution_curves`), each with its 64×64 base curve (grey) and the curve at
    the chosen d.
    """
    titles = {"shifted_cosine": "shifted cosine (simple diffusion)", "sd3": "SD3 time shift (rectified flow)",
              "chen": "input scaling b = 64/d (Chen)"}
    base = resolution_curves(BASE)
    series = []
    for key in titles:
        series.append({"panel": key, "label": "d = 64 (base)", "color": "#999999", "x": "t",
                       "y": _num(base[key])})
    for d in RESOLUTIONS:
        curves = resolution_curves(d)
        for key in titles:
            series.append({"panel": key, "label": f"d = {d}", "color": COLORS[0], "x": "t",
                           "when": {"d": d}, "y": _num(curves[key])})
    controls = [{"name": "d", "kind": "slider", "label": "resolution d", "options": list(RESOLUTIONS),
                 "value": 256}]
    panels = [{"id": key, "title": title, "x": "t", "xlabel": "t", "ylabel": "log-SNR λ", "ylim": [-20, 20]}
              for key, title in titles.items()]
    spec = _spec("schedules-resolution", "Schedules and resolution", controls, {"t": _num(T_GRID)}, panels,
                 series, base=BASE, panel_min_width=230)
    return Explorer(spec, "The resolution d moves the shifted cosine, the SD3 time shift and Chen's input "
                          "scaling down the log-SNR axis by 2 log(d/64)")


# ==================================================================================================
# 3. Weighting the loss (chapter)
# ==================================================================================================

LAM = np.linspace(-15.0, 15.0, 101)
#: The weighting figure has 180 curves; 3 significant digits keep its page light (the curves span 1e-4 to 2
#: on a log axis, where 3 digits are far below a pixel).
WEIGHT_SIGNIFICANT = 3
#: Values below this are left out of the page (None): the log axis stops at 1e-4.
WEIGHT_FLOOR = 1e-5
WEIGHT_SCHEDULES = ("cosine", "shifted_cosine", "logistic")
MIN_SNR_GAMMAS = (1.0, 2.0, 5.0, 10.0, 20.0)
P2_KS = (0.5, 1.0, 2.0)
P2_GAMMAS = (0.5, 1.0)
EDM_P_MEANS = (-1.6, -1.2, -0.8, -0.4)
EDM_P_STDS = (0.8, 1.2, 1.6)
SD3_LOCS = (-1.0, -0.5, 0.0, 0.5, 1.0)
SD3_SCALES = (0.5, 1.0, 1.5)
SIGMA_DATA = 0.5


def effective_weight(recipe: str, frame: str, lam=LAM, schedule: str = "cosine", **params) -> np.ndarray:
    """The effective weight w(λ)·p(λ) of a recipe in ``frame``, normalised to unit area on ``lam``.

    As in chapter "Weighting the Loss" (eq. weighting-density; Kingma & Gao 2023, §3): the x₀-frame weight
    times the density of λ, re-expressed in ``frame`` with :func:`~sched_lib.weighting.convert_weight`, and
    divided by its trapezoid integral over ``lam`` (so only the shape is compared).

    * ``min_snr`` (``gamma``): :func:`~sched_lib.weighting.min_snr_weight` with uniform t through ``schedule``;
    * ``p2`` (``k``, ``gamma``): :func:`~sched_lib.weighting.p2_weight`, uniform t through ``schedule``;
    * ``edm`` (``p_mean``, ``p_std``): x₀ weight SNR + 1/σ_data² (Karras et al. 2022, Table 1: λ(σ) =
      (σ² + σ_data²)/(σ·σ_data)², σ_data = 0.5) with :class:`~sched_lib.weighting.EDMLogNormal`;
    * ``sd3`` (``loc``, ``scale``): rectified flow's velocity loss, x₀ weight (1 + √SNR)², with
      :class:`~sched_lib.weighting.LogitNormalTime` (Esser et al. 2024, eq. 19).
    """
    check.choice(frame, "frame", FRAMES)
    lam = check.array(lam, "lam", ndim=1)
    snr = np.exp(lam)
    if recipe in ("min_snr", "p2"):
        fn = continuous_log_snr_fn(schedule)
        if fn is None:
            raise ValueError(f"schedule must be one with a continuous curve, e.g. {', '.join(WEIGHT_SCHEDULES)}; "
                             f"got {schedule!r}")
        p = UniformTime(fn).log_snr_density(lam)
        w = min_snr_weight(snr, frame="x0", **params) if recipe == "min_snr" else p2_weight(snr, frame="x0", **params)
    elif recipe == "edm":
        p = EDMLogNormal(**params).log_snr_density(lam)
        w = snr + SIGMA_DATA ** -2
    elif recipe == "sd3":
        p = LogitNormalTime(**params).log_snr_density(lam)
        w = (1.0 + np.sqrt(snr)) ** 2
    else:
        raise ValueError(f"recipe must be one of min_snr, p2, edm, sd3; got {recipe!r}")
    eff = convert_weight(w * p, snr, "x0", frame)
    return eff / np.trapezoid(eff, lam)


def weighting_explorer() -> Explorer:
    """The *Weighting the Loss* figure: four recipes' effective weights over λ, in one frame, with their
    parameters on sliders (:func:`effective_weight`; grids :data:`MIN_SNR_GAMMAS`, :data:`P2_KS`,
    :data:`P2_GAMMAS`, :data:`EDM_P_MEANS`, :data:`EDM_P_STDS`, :data:`SD3_LOCS`, :data:`SD3_SCALES`)."""
    series = []

    def add(label, color, when, recipe, frame, **params):
        y = _num(sig=WEIGHT_SIGNIFICANT, floor=WEIGHT_FLOOR, a=effective_weight(recipe, frame, **params))
        series.append({"panel": "weight", "label": label, "color": color, "x": "lam",
                       "when": {"frame": frame, **when}, "y": y})

    for frame in FRAMES:
        for sched in WEIGHT_SCHEDULES:
            for g in MIN_SNR_GAMMAS:
                add("Min-SNR-γ", COLORS[0], {"schedule": sched, "minsnr_gamma": g}, "min_snr", frame,
                    schedule=sched, gamma=g)
            for k in P2_KS:
                for g in P2_GAMMAS:
                    add("P2", COLORS[1], {"schedule": sched, "p2_k": k, "p2_gamma": g}, "p2", frame,
                        schedule=sched, k=k, gamma=g)
        for m in EDM_P_MEANS:
            for s in EDM_P_STDS:
                add("EDM", COLORS[2], {"edm_p_mean": m, "edm_p_std": s}, "edm", frame, p_mean=m, p_std=s)
        for m in SD3_LOCS:
            for s in SD3_SCALES:
                add("SD3", COLORS[3], {"sd3_loc": m, "sd3_scale": s}, "sd3", frame, loc=m, scale=s)
    controls = [
        {"name": "frame", "kind": "select", "label": "frame", "options": list(FRAMES),
         "labels": ["ε", "x₀", "v"], "value": "x0"},
        {"name": "schedule", "kind": "select", "label": "schedule (Min-SNR, P2)", "options": list(WEIGHT_SCHEDULES),
         "value": "cosine"},
        {"name": "minsnr_gamma", "kind": "slider", "label": "Min-SNR γ", "options": list(MIN_SNR_GAMMAS), "value": 5.0},
        {"name": "p2_k", "kind": "slider", "label": "P2 k", "options": list(P2_KS), "value": 1.0},
        {"name": "p2_gamma", "kind": "slider", "label": "P2 γ", "options": list(P2_GAMMAS), "value": 1.0},
        {"name": "edm_p_mean", "kind": "slider", "label": "EDM P_mean", "options": list(EDM_P_MEANS), "value": -1.2},
        {"name": "edm_p_std", "kind": "slider", "label": "EDM P_std", "options": list(EDM_P_STDS), "value": 1.2},
        {"name": "sd3_loc", "kind": "slider", "label": "SD3 m", "options": list(SD3_LOCS), "value": 0.0},
        {"name": "sd3_scale", "kind": "slider", "label": "SD3 s", "options": list(SD3_SCALES), "value": 1.0},
    ]
    panels = [{"id": "weight", "title": "effective weight w(λ)·p(λ), unit area", "x": "lam",
               "xlabel": "log-SNR λ", "ylabel": "effective weight", "log": True, "ylim": [1e-4, 2]}]
    spec = _spec("weighting-loss", "Weighting the loss", controls, {"lam": _num(LAM)}, panels, series,
                 significant=WEIGHT_SIGNIFICANT, sigma_data=SIGMA_DATA)
    return Explorer(spec, "Effective weights of Min-SNR-γ, P2, EDM and SD3 over the log-SNR, in one frame")


# ==================================================================================================
# 4. Endpoints and sampling (chapter)
# ==================================================================================================

SAMPLING_STEPS = (5, 10, 18, 25, 50, 100)
RHOS = (1.0, 2.0, 3.0, 5.0, 7.0, 10.0, 20.0)
SAMPLING_SCHEDULES = ("cosine", "linear", "scaled_linear")
T_TRAIN = 1000
SAMPLING_LAM = np.linspace(-20.0, 20.0, 161)


def ddim_grid_log_snr(schedule: str, steps: int, spacing: str, T: int = T_TRAIN) -> np.ndarray:
    """λ at the steps a DDIM-style sampler visits: :func:`~sched_lib.samplers.timesteps` on the schedule's
    chain (Lin et al. 2024, Table 2; chapter "The Endpoints and Sampling")."""
    lam = log_snr_from_alpha_bar(get_schedule(schedule, T).alpha_bar)
    return lam[timesteps(T, steps, spacing)]


def karras_grid_log_snr(steps: int, rho: float) -> np.ndarray:
    """λ = −2 log σ at the Karras et al. (2022, eq. 5) levels σ ∈ [0.002, 80] (the final σ = 0 left out)."""
    return -2.0 * np.log(karras_sigmas(steps, rho=rho, append_zero=False))


def sampling_explorer() -> Explorer:
    """The *Endpoints and Sampling* figure: where the sampling grid's steps fall on λ, against the training
    density (top: the densities of uniform t through the schedule's chain, :func:`density_of_steps`, and of
    EDM's log-normal; bottom: the visited λ of the DDIM grid, :func:`ddim_grid_log_snr`, and of the Karras
    grid, :func:`karras_grid_log_snr`)."""
    centres = 0.5 * (DENSITY_EDGES[1:] + DENSITY_EDGES[:-1])
    series = [{"panel": "density", "label": "EDM log-normal (training)", "color": COLORS[2], "x": "lam",
               "y": _num(EDMLogNormal().log_snr_density(centres))}]
    for sched in SAMPLING_SCHEDULES:
        series.append({"panel": "density", "label": "uniform t through the schedule (training)", "color": COLORS[0],
                       "x": "lam", "when": {"schedule": sched},
                       "y": _num(density_of_steps(get_schedule(sched, T_TRAIN)))})
        for n in SAMPLING_STEPS:
            for spacing in SPACINGS:
                lam = ddim_grid_log_snr(sched, n, spacing)
                series.append({"panel": "grid", "label": "DDIM grid", "color": COLORS[0], "kind": "points",
                               "x": _num(lam), "y": [1] * lam.size,
                               "when": {"schedule": sched, "steps": n, "spacing": spacing}})
    for n in SAMPLING_STEPS:
        for rho in RHOS:
            lam = karras_grid_log_snr(n, rho)
            series.append({"panel": "grid", "label": "Karras grid", "color": COLORS[3], "kind": "points",
                           "x": _num(lam), "y": [0] * lam.size, "when": {"steps": n, "rho": rho}})
    controls = [
        {"name": "schedule", "kind": "select", "label": "schedule (DDIM grid)", "options": list(SAMPLING_SCHEDULES),
         "value": "cosine"},
        {"name": "steps", "kind": "slider", "label": "steps N", "options": list(SAMPLING_STEPS), "value": 18},
        {"name": "spacing", "kind": "select", "label": "spacing (DDIM grid)", "options": list(SPACINGS),
         "value": "trailing"},
        {"name": "rho", "kind": "slider", "label": "Karras ρ", "options": list(RHOS), "value": 7.0},
    ]
    panels = [
        {"id": "density", "title": "training density p(λ)", "x": "lam", "xlabel": "log-SNR λ", "ylabel": "p(λ)",
         "xlim": [-20, 20]},
        {"id": "grid", "title": "levels the sampler visits", "x": "lam", "xlabel": "log-SNR λ",
         "ylabel": "grid", "yticks": {"0": "Karras", "1": "DDIM"}, "xlim": [-20, 20], "ylim": [-0.5, 1.5],
         "legend": True},
    ]
    spec = _spec("endpoints-sampling", "Endpoints and sampling", controls, {"lam": _num(centres)}, panels, series,
                 T=T_TRAIN)
    return Explorer(spec, "Where the DDIM and Karras sampling grids put their steps on the log-SNR axis, against "
                          "the training density")


#: The four explorers by page.
EXPLORERS = {
    "labs/explore_schedules": schedule_explorer,
    "chapters/resolution": resolution_explorer,
    "chapters/weighting": weighting_explorer,
    "chapters/endpoints_and_sampling": sampling_explorer,
}
