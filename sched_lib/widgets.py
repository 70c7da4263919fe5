"""ipywidgets explorers for the course: :func:`schedule_explorer` (lab "Explore Schedules").

The explorer draws one matplotlib figure (a :class:`matplotlib.figure.Figure` with an Agg canvas, never a
pyplot window) and shows it as a PNG in an ``ipywidgets.Image``, so it works the same in Jupyter, JupyterLab
and Colab, and it can be tested without a browser: set a control's ``value`` and the figure, the PNG and the
data in :attr:`ScheduleExplorer.drawn` change (``tests/test_widgets.py``). Widgets need a live kernel; on the
static website the lab shows :func:`sched_lib.explorers.schedule_explorer` instead, a live figure whose arrays
``sched_lib`` computed at build time, and a static PNG of it wherever its script does not run.
"""

from __future__ import annotations

import io
import math

import numpy as np

try:
    import ipywidgets as widgets
except ImportError as err:  # pragma: no cover - ipywidgets comes with Jupyter and Colab
    raise ImportError("sched_lib.widgets needs ipywidgets: pip install ipywidgets") from err

from .plotting import (avg_pool, continuous_log_snr_fn, noisy, plot_images, plot_schedule_panels,
                       resolution_shift, shift_log_snr, upsample)
from .schedules import alpha_bar_from_log_snr, get_schedule, list_schedules, log_snr_from_alpha_bar, schedule_params
from .weighting import UniformTime

__all__ = ["ScheduleExplorer", "schedule_explorer"]

#: Step counts offered by the explorer.
T_CHOICES = (10, 20, 50, 100, 200, 500, 1000, 2000, 4000)
#: Target resolutions of the log-SNR matching mode (the sample images are 32×32).
RESOLUTIONS = (64, 128, 256)
#: The sample images' side: the base resolution of the matching mode.
BASE = 32
#: At most this many schedules get an image panel (the curves show them all).
MAX_IMAGES = 5


class ScheduleExplorer(widgets.VBox):
    """Choose schedules and parameters; see ᾱ, λ, β, the density of λ and a real image noised at step t.

    Controls (``self.controls``, a dict of widgets): ``schedules`` (from :func:`list_schedules`), ``T``,
    ``zero_terminal_snr``, ``t`` (t/T ∈ [0, 1]), ``image`` (one of the 40 sample images),
    ``continuous`` (overlay the density of λ under uniform t for schedules defined by a curve),
    ``match_resolution`` and ``d`` (the log-SNR matching mode), ``edit`` (whose parameters the
    parameter boxes show) and ``reset``. Parameters set in the boxes live in ``self.params``.

    After every change :meth:`update` redraws ``self.figure``, puts its PNG into
    ``self.image_widget.value`` and keeps the drawn data in ``self.drawn`` (curves per label, as
    returned by :func:`sched_lib.plotting.plot_schedule_panels`) and ``self.shown`` (the images:
    a list of (label, array)). Invalid parameters do not raise: the message line says what is wrong
    and that schedule is left out.
    """

    def __init__(self, schedules=("linear", "cosine", "logistic"), T: int = 1000, t: float = 0.5,
                 image: int = 29, zero_terminal_snr: bool = False, continuous: bool = True,
                 match_resolution: bool = False, d: int = 128, seed: int = 0, dpi: int = 72):
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        from .data import load_sample_images

        sample = load_sample_images()
        self.images = sample.images.astype(np.float64) / 127.5 - 1.0          # (40, 32, 32, 3)
        self.seed = int(seed)
        self.dpi = int(dpi)
        self._eps = {}
        self.params = {name: {} for name in list_schedules()}
        self.drawn, self.shown, self.errors = {}, [], []
        self._suspend = False
        names = list_schedules()
        bad = [s for s in schedules if s not in names]
        if bad:
            raise ValueError(f"unknown schedule(s) {bad}; valid: {', '.join(names)}")
        if T not in T_CHOICES:
            raise ValueError(f"T must be one of {T_CHOICES}, got {T!r}")
        if d not in RESOLUTIONS:
            raise ValueError(f"d must be one of {RESOLUTIONS}, got {d!r}")
        labels = [f"{i}: {sample.classes[k]}" for i, k in enumerate(sample.labels)]
        style = {"description_width": "initial"}
        c = {
            "schedules": widgets.SelectMultiple(options=names, value=tuple(schedules), rows=7,
                                                description="schedules", style=style),
            "T": widgets.Dropdown(options=T_CHOICES, value=T, description="steps T", style=style),
            "zero_terminal_snr": widgets.Checkbox(value=zero_terminal_snr, description="zero terminal snr",
                                                  indent=False),
            "t": widgets.FloatSlider(value=t, min=0.0, max=1.0, step=0.01, description="t / T",
                                     continuous_update=False, readout_format=".2f", style=style),
            "image": widgets.Dropdown(options=[(lab, i) for i, lab in enumerate(labels)], value=image,
                                      description="image", style=style),
            "continuous": widgets.Checkbox(value=continuous, indent=False,
                                           description="continuous p(λ) under uniform t"),
            "match_resolution": widgets.Checkbox(value=match_resolution, indent=False,
                                                 description="match log-snr across resolutions"),
            "d": widgets.Dropdown(options=RESOLUTIONS, value=d, description=f"resolution d (base {BASE})",
                                  style=style),
            "edit": widgets.Dropdown(options=tuple(schedules), description="parameters of", style=style),
            "reset": widgets.Button(description="reset parameters"),
        }
        self.controls = c
        self.param_box = widgets.HBox([])
        self.message = widgets.HTML("")
        self.image_widget = widgets.Image(format="png")
        self.figure = Figure(figsize=(10.5, 6.0))
        FigureCanvasAgg(self.figure)
        left = widgets.VBox([c["schedules"], c["T"], c["zero_terminal_snr"]])
        right = widgets.VBox([c["t"], c["image"], c["continuous"], c["match_resolution"], c["d"]])
        params = widgets.VBox([widgets.HBox([c["edit"], c["reset"]]), self.param_box])
        super().__init__([widgets.HBox([left, right]), params, self.message, self.image_widget])
        for key, w in c.items():
            if key == "reset":
                w.on_click(self._on_reset)
            elif key == "edit":
                w.observe(self._on_edit, names="value")
            elif key == "schedules":
                w.observe(self._on_schedules, names="value")
            else:
                w.observe(self.update, names="value")
        self._build_param_box()
        self.update()

    # ---- parameter editing ---------------------------------------------------------------------

    def _on_schedules(self, change=None):
        names = tuple(self.controls["schedules"].value)
        edit = self.controls["edit"]
        self._suspend = True
        try:
            current = edit.value
            edit.options = names
            edit.value = current if current in names else (names[0] if names else None)
        finally:
            self._suspend = False
        self._build_param_box()
        self.update()

    def _on_edit(self, change=None):
        if self._suspend:
            return
        self._build_param_box()

    def _on_reset(self, button=None):
        name = self.controls["edit"].value
        if name is not None:
            self.params[name] = {}
            self._build_param_box()
            self.update()

    def _build_param_box(self):
        name = self.controls["edit"].value
        boxes = []
        if name is not None:
            defaults = schedule_params(name)
            defaults.pop("zero_terminal_snr")
            for key, default in defaults.items():
                value = self.params[name].get(key, default)
                if isinstance(default, bool):
                    w = widgets.Checkbox(value=bool(value), description=key, indent=False)
                elif isinstance(default, (tuple, list)):  # e.g. piecewise_log_snr's knots: "10, 0, -10"
                    w = widgets.Text(value=", ".join(f"{v:g}" for v in value), description=key,
                                     layout=widgets.Layout(width="260px"), style={"description_width": "initial"})
                else:
                    w = widgets.FloatText(value=float(value), description=key,
                                          layout=widgets.Layout(width="180px"),
                                          style={"description_width": "initial"})
                w.observe(self._param_setter(name, key, default), names="value")
                boxes.append(w)
        self.param_box.children = tuple(boxes)

    def _param_setter(self, name, key, default):
        def setter(change):
            value = change["new"]
            if isinstance(default, bool):
                value = bool(value)
            elif isinstance(default, (tuple, list)):
                try:
                    value = tuple(float(v) for v in value.strip("[]() ").split(",") if v.strip())
                except ValueError:
                    self.message.value = f"{key}: write numbers separated by commas, got {change['new']!r}"
                    return
            if value == (tuple(default) if isinstance(default, list) else default):
                self.params[name].pop(key, None)
            else:
                self.params[name][key] = value
            self.update()
        return setter

    def set_param(self, name: str, key: str, value) -> None:
        """Set parameter ``key`` of schedule ``name`` (as the parameter boxes do) and redraw."""
        defaults = schedule_params(name)
        if key not in defaults or key == "zero_terminal_snr":
            raise ValueError(f"unknown parameter {key!r} for schedule {name!r}; valid: "
                             f"{', '.join(k for k in defaults if k != 'zero_terminal_snr')}")
        self.params[name][key] = value
        if self.controls["edit"].value == name:
            self._build_param_box()
        self.update()

    # ---- drawing ------------------------------------------------------------------------------

    def _noise(self, side: int) -> np.ndarray:
        if side not in self._eps:
            rng = np.random.default_rng([self.seed, side])
            self._eps[side] = rng.standard_normal((side, side, 3))
        return self._eps[side]

    def schedules(self) -> tuple:
        """The chains to draw: {label: Schedule}, and their continuous curves {label: fn or None}."""
        c = self.controls
        T, zt = c["T"].value, c["zero_terminal_snr"].value
        chains, curves, self.errors = {}, {}, []
        for name in c["schedules"].value:
            params = dict(self.params[name])
            try:
                chains[name] = get_schedule(name, T, zero_terminal_snr=zt, **params)
                curves[name] = continuous_log_snr_fn(name, zero_terminal_snr=zt, **params)
                if curves[name] is not None:
                    UniformTime(curves[name])        # validates the curve (decreasing) before it is drawn
            except ValueError as err:
                self.errors.append(str(err))
                chains.pop(name, None)
                curves.pop(name, None)
        if c["match_resolution"].value and chains:
            d = c["d"].value
            shift = resolution_shift(d, BASE)
            for name in list(chains):
                label = f"{name}, d = {d}"
                try:
                    chains[label] = shift_log_snr(chains[name], shift, name=label)
                except ValueError as err:
                    self.errors.append(f"{name}: {err}")
                    continue
                fn = curves[name]
                curves[label] = None if fn is None else (lambda t, fn=fn: fn(t) + shift)
        return chains, curves

    def update(self, change=None) -> None:
        """Recompute the chains, redraw the figure and refresh the PNG (called on every change)."""
        if self._suspend:
            return
        c = self.controls
        chains, curves = self.schedules()
        fig = self.figure
        fig.clf()
        grid = fig.add_gridspec(2, 1, height_ratios=[1.0, 0.95], hspace=0.4, left=0.06, right=0.99,
                                top=0.97, bottom=0.07)
        top = grid[0].subgridspec(1, 4, wspace=0.45).subplots()
        t = float(c["t"].value)
        self.drawn = plot_schedule_panels(top, chains, t=t,
                                          continuous=curves if c["continuous"].value else None,
                                          styles=self._styles(chains))
        self.shown = self._images(chains)
        if self.shown:
            bottom = grid[1].subgridspec(1, max(len(self.shown), 4), wspace=0.15).subplots()
            bottom = np.atleast_1d(bottom)
            plot_images(bottom[:len(self.shown)], [img for _, img in self.shown],
                        [lab for lab, _ in self.shown])
            for ax in bottom[len(self.shown):]:
                ax.set_visible(False)
        notes = list(self.errors)
        if not c["schedules"].value:
            notes.append("select at least one schedule")
        if c["match_resolution"].value and chains:
            notes.append(f"matching mode: λ_d(t) = λ(t) + 2 log({BASE}/d) = λ(t) "
                         f"{resolution_shift(c['d'].value, BASE):+.3f}; images use the first schedule")
        self.message.value = "<br>".join(_escape(n) for n in notes)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=self.dpi)
        self.image_widget.value = buf.getvalue()

    def _styles(self, chains) -> dict:
        """One colour per schedule; its shifted copy (matching mode) dashed in the same colour."""
        base = [lab for lab in chains if ", d = " not in lab]
        styles = {lab: {"color": f"C{i % 10}"} for i, lab in enumerate(base)}
        for lab in chains:
            if ", d = " in lab:
                styles[lab] = {"color": styles[lab.split(", d = ")[0]]["color"], "ls": "--"}
        return styles

    def _images(self, chains) -> list:
        c = self.controls
        x0 = self.images[c["image"].value]
        t = float(c["t"].value)
        base_names = [n for n in c["schedules"].value if n in chains]
        if not base_names:
            return []
        shown = [("clean", x0)]
        if not c["match_resolution"].value:
            for name in base_names[:MAX_IMAGES]:
                sched = chains[name]
                step = min(max(int(round(t * sched.T)), 1), sched.T)
                ab = float(sched.alpha_bar[step - 1])
                lam = float(log_snr_from_alpha_bar(ab))
                shown.append((f"{name}\nt = {step}, λ = {_fmt(lam)}", noisy(x0, ab, self._noise(BASE))))
            return shown
        d = c["d"].value
        s = d // BASE
        sched = chains[base_names[0]]
        step = min(max(int(round(t * sched.T)), 1), sched.T)
        lam = float(log_snr_from_alpha_bar(sched.alpha_bar[step - 1]))
        lam_d = lam + resolution_shift(d, BASE)
        up = upsample(x0, s)
        eps = self._noise(d)
        ab, ab_d = (float(alpha_bar_from_log_snr(v)) for v in (lam, lam_d))
        matched = noisy(up, ab_d, eps)
        shown += [
            (f"{BASE}x{BASE}, λ = {_fmt(lam)}", noisy(x0, ab, self._noise(BASE))),
            (f"{d}x{d}, same λ = {_fmt(lam)}", noisy(up, ab, eps)),
            (f"{d}x{d}, matched λ = {_fmt(lam_d)}", matched),
            (f"matched, pooled to {BASE}x{BASE}", avg_pool(matched, s)),
        ]
        return shown


def _fmt(v: float) -> str:
    if v == -math.inf:
        return "−∞"
    text = f"{v:.1f}"
    return "0.0" if text == "-0.0" else text


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def schedule_explorer(schedules=("linear", "cosine", "logistic"), T: int = 1000, t: float = 0.5, image: int = 29,
                      zero_terminal_snr: bool = False, continuous: bool = True, match_resolution: bool = False,
                      d: int = 128, seed: int = 0, dpi: int = 72):
    """An interactive schedule explorer (an ``ipywidgets.VBox``); display it in Jupyter or Colab.

    Choose schedules from :func:`sched_lib.list_schedules` and their parameters, T and zero terminal SNR;
    see ᾱ_t, λ_t, β_t (log scale) against t/T and the density of λ (histogram of the discrete λ_t, plus the
    exact density under uniform t for schedules defined by a continuous curve; chapter "Schedules in
    Log-SNR Space"), and one of the 40 sample CIFAR-10 images noised at step round(t·T) with one fixed
    noise draw (``seed``). The matching mode shifts every schedule by 2·log(32/d) (Hoogeboom et al. 2023,
    eq. 5, with the sample images' 32×32 as the base; chapter "Schedules and Resolution") and shows the
    image upsampled to d×d, noised at the same and at the matched log-SNR, and the matched one average-
    pooled back to 32×32. See :class:`ScheduleExplorer` for the attributes tests and notebooks can read.
    """
    return ScheduleExplorer(schedules=schedules, T=T, t=t, image=image, zero_terminal_snr=zero_terminal_snr,
                        continuous=continuous, match_resolution=match_resolution, d=d, seed=seed, dpi=dpi)
