"""Figures for the course: the four schedule panels (ᾱ, λ, β and the density of λ) and real images noised
at a chosen step, as used by the schedule explorer (:mod:`sched_lib.widgets`) and the labs' static figures.

Figures are read on phones as well as laptops: :data:`COURSE_STYLE` (:func:`use_course_style`) sets fonts that stay
at least :data:`MIN_PHONE_PT` points when a figure of :data:`FIGURE_WIDTH` inches is shrunk to a phone's column,
and :func:`phone_font_pt` / :func:`check_phone_legible` compute that displayed size for any figure.

Conventions of the schedule panels: the x-axis of a discrete chain is t/T for
t = 1..T (so that chains with different T line up), β is drawn on a log axis, axis labels are lowercase,
and nothing here opens a window or keeps a pyplot figure alive: every function draws on axes it is given.
Infinite log-SNR values (λ_T = −∞ under zero terminal SNR) are left out of the curves and histograms, not
turned into NaN warnings.

Image helpers work on float images in [−1, 1] with shape (..., H, W, C), the course's data convention
(``x/127.5 − 1`` for uint8 CIFAR-10; :func:`sched_lib.data.to_tensor`).
"""

from __future__ import annotations

import math
from typing import Callable, Mapping, Sequence

import numpy as np

from . import _validate as check
from .schedules import (Schedule, alpha_bar_from_log_snr, betas_from_alpha_bar, chen_cosine_alpha_bar,
                        chen_sigmoid_alpha_bar, cosine_log_snr, log_snr_from_alpha_bar, logistic_log_snr,
                        piecewise_log_snr, rectified_flow_log_snr, schedule_params, shifted_cosine_log_snr)

__all__ = [
    "resolution_shift",
    "shift_log_snr",
    "continuous_log_snr_fn",
    "upsample",
    "avg_pool",
    "noisy",
    "to_display",
    "plot_schedule_panels",
    "plot_images",
    "FIGURE_WIDTH",
    "PHONE_IMAGE_PX",
    "MIN_PHONE_PT",
    "COURSE_STYLE",
    "use_course_style",
    "phone_font_pt",
    "check_phone_legible",
]


# --------------------------------------------------------------------------------------------------
# Legible on a phone
# --------------------------------------------------------------------------------------------------

#: CSS pixels an image is shown at on a 390 px phone: the book's column there is 343 px, less the figure's
#: margins (measured in headless Chromium; tests/test_site.py). A wider image is scaled down to this.
PHONE_IMAGE_PX = 327
#: The smallest font, in points as the reader sees it, that a figure may show on that phone (issue 10).
MIN_PHONE_PT = 9.0
#: The course's figure width in inches: one panel per row. At the inline backend's 100 dpi a 5-inch figure
#: is 500 px wide, shown at its size on a laptop and shrunk to 327 px on a phone.
FIGURE_WIDTH = 5.0
#: Font size (pt) such that text on a FIGURE_WIDTH figure (plus the 0.2 inch the inline backend pads its tight
#: bounding box with) is at least MIN_PHONE_PT on the phone, with 3% to spare, rounded up to a half point:
#: an image w inches wide is shown at PHONE_IMAGE_PX / (96 w) of its size (96 CSS px per inch).
_FONT_PT = math.ceil(MIN_PHONE_PT * 96 * (FIGURE_WIDTH + 0.2) / PHONE_IMAGE_PX * 1.03 * 2) / 2
#: matplotlib rcParams of the course's figures (:func:`use_course_style`).
COURSE_STYLE = {
    "figure.figsize": (FIGURE_WIDTH, 3.4),
    "font.size": _FONT_PT,
    "axes.titlesize": _FONT_PT,
    "axes.labelsize": _FONT_PT,
    "xtick.labelsize": _FONT_PT,
    "ytick.labelsize": _FONT_PT,
    "legend.fontsize": _FONT_PT,
    "legend.frameon": False,
    "lines.linewidth": 2.0,
    # log axes label their decades only: no "4×10⁰, 6×10⁰" minor labels on a short log axis
    "axes.formatter.min_exponent": 3,
}


def use_course_style() -> None:
    """Set :data:`COURSE_STYLE` for every later figure of this kernel (``matplotlib.rcParams``)."""
    import matplotlib as mpl

    mpl.rcParams.update(COURSE_STYLE)


def phone_font_pt(fig, shown_px: float = PHONE_IMAGE_PX) -> dict:
    """Each visible text of ``fig`` with its size in points as a phone shows it, smallest first.

    The notebook's inline backend saves the figure's tight bounding box (plus 0.1 inch padding) at
    ``fig.dpi``, width w inches; the page shows that image at min(``shown_px``, w · dpi) CSS pixels (its own
    size on a laptop, the column's on a phone), 96 CSS px to the inch, so a font of s points is displayed at
    s · min(shown_px, w · dpi) / (96 w) points.
    Returns ``{text: displayed_pt}``.
    """
    from matplotlib.text import Text

    shown_px = check.real(shown_px, "shown_px", low=0, low_open=True)
    fig.canvas.draw()
    width_in = fig.get_tightbbox(fig.canvas.get_renderer()).width + 0.2
    scale = min(shown_px, width_in * fig.dpi) / (96 * width_in)
    sizes = {}
    for text in fig.findobj(Text):
        label = text.get_text().strip()
        if not label or not text.get_visible() or text.get_window_extent().width == 0:
            continue
        pt = text.get_fontsize() * scale
        sizes[label] = min(float(pt), sizes.get(label, math.inf))
    return dict(sorted(sizes.items(), key=lambda kv: kv[1]))


def check_phone_legible(fig, min_pt: float = MIN_PHONE_PT, shown_px: float = PHONE_IMAGE_PX) -> float:
    """The smallest displayed font of ``fig`` on a phone (:func:`phone_font_pt`); ValueError below ``min_pt``."""
    min_pt = check.real(min_pt, "min_pt", low=0, low_open=True)
    sizes = phone_font_pt(fig, shown_px)
    small = {label: round(pt, 1) for label, pt in sizes.items() if pt < min_pt}
    if small:
        raise ValueError(f"text shown below {min_pt:g} pt on a phone ({shown_px:g} px wide): "
                         f"{dict(list(small.items())[:6])}; use sched_lib.plotting.use_course_style() "
                         f"and a figure at most {FIGURE_WIDTH:g} inches wide")
    return min(sizes.values(), default=math.inf)


# --------------------------------------------------------------------------------------------------
# Log-SNR shifts and continuous curves
# --------------------------------------------------------------------------------------------------

def resolution_shift(d: float, base: float = 64) -> float:
    """simple diffusion's log-SNR shift for resolution d: 2·log(base/d) (Hoogeboom et al. 2023, eq. 5).

    Negative for d > base (more noise at every t). Chapter "Schedules and Resolution".
    """
    d = check.real(d, "d", low=0, low_open=True)
    base = check.real(base, "base", low=0, low_open=True)
    return 2.0 * math.log(base / d)


def shift_log_snr(schedule: Schedule, shift: float, name: str | None = None) -> Schedule:
    """The chain with λ'_t = λ_t + shift at every step (ᾱ'_t = sigmoid(λ_t + shift)).

    A constant log-SNR shift is what all three resolution rules do (chapter "Schedules and Resolution").
    λ_T = −∞ (zero terminal SNR) stays −∞. ``shift`` must not push ᾱ'_1 to 1 in float64.
    """
    if not isinstance(schedule, Schedule):
        raise ValueError(f"schedule must be a sched_lib Schedule, got {type(schedule).__name__}")
    shift = check.real(shift, "shift")
    lam = log_snr_from_alpha_bar(schedule.alpha_bar)
    alpha_bar = alpha_bar_from_log_snr(lam + shift)
    try:
        betas = betas_from_alpha_bar(alpha_bar)
    except ValueError as err:
        raise ValueError(f"a log-SNR shift of {shift:+g} leaves no valid chain ({err})") from None
    params = {**schedule.params, "log_snr_shift": shift}
    return Schedule.from_betas(betas, name or f"{schedule.name}, shifted {shift:+.2f}", params)


def continuous_log_snr_fn(name: str, **params) -> Callable | None:
    """The continuous-time log-SNR curve t ↦ λ(t), t ∈ [0, 1], behind the named schedule, or None.

    Defined for the schedules given by a curve (cosine, chen_sigmoid, chen_cosine, logistic,
    piecewise_log_snr, shifted_cosine, rectified_flow), with the same parameters as :func:`sched_lib.get_schedule`.
    None for the β-ramp schedules (linear, scaled_linear, quad, quadratic, beta_sigmoid), which exist only
    as chains, and for ``zero_terminal_snr=True`` (the rescale is defined on the chain). Discretisation
    details of the chain (the cosine's 0.999 clip on β) are not part of the curve.
    """
    valid = schedule_params(name)
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise ValueError(f"unknown parameter(s) {', '.join(unknown)} for schedule {name!r}; "
                         f"valid: {', '.join(valid)}")
    p = {**valid, **params}
    if p.pop("zero_terminal_snr"):
        return None
    p.pop("max_beta", None)

    def from_alpha_bar(fn):
        return lambda t: log_snr_from_alpha_bar(fn(t))

    curves = {
        "cosine": lambda t: cosine_log_snr(t, p["s"]),
        "chen_sigmoid": from_alpha_bar(lambda t: chen_sigmoid_alpha_bar(t, **p)),
        "chen_cosine": from_alpha_bar(lambda t: chen_cosine_alpha_bar(t, **p)),
        "logistic": lambda t: logistic_log_snr(t, **p),
        "piecewise_log_snr": lambda t: piecewise_log_snr(t, **p),
        "shifted_cosine": lambda t: shifted_cosine_log_snr(t, **p),
        "rectified_flow": lambda t: rectified_flow_log_snr(t, **p),
    }
    return curves.get(name)


# --------------------------------------------------------------------------------------------------
# Images
# --------------------------------------------------------------------------------------------------

def upsample(x, s: int) -> np.ndarray:
    """Nearest-neighbour upsampling of images (..., H, W, C) by an integer factor s (each pixel → s×s)."""
    x = np.asarray(x)
    s = check.num_steps(s, "s")
    if x.ndim < 3:
        raise ValueError(f"images must have shape (..., H, W, C), got {x.shape}")
    return x.repeat(s, axis=-3).repeat(s, axis=-2)


def avg_pool(x, s: int) -> np.ndarray:
    """Mean of every non-overlapping s×s block of images (..., H, W, C); H and W must be multiples of s."""
    x = np.asarray(x, dtype=np.float64)
    s = check.num_steps(s, "s")
    if x.ndim < 3:
        raise ValueError(f"images must have shape (..., H, W, C), got {x.shape}")
    *lead, h, w, c = x.shape
    if h % s or w % s:
        raise ValueError(f"H and W ({h}, {w}) must be multiples of the pooling factor {s}")
    return x.reshape(*lead, h // s, s, w // s, s, c).mean(axis=(-4, -2))


def noisy(x0, alpha_bar: float, eps) -> np.ndarray:
    """x_t = √ᾱ x₀ + √(1 − ᾱ) ε (Ho et al. 2020, eq. 4) for a given noise draw ε of x₀'s shape."""
    ab = check.real(alpha_bar, "alpha_bar", low=0, high=1)
    x0, eps = np.asarray(x0, dtype=np.float64), np.asarray(eps, dtype=np.float64)
    if x0.shape != eps.shape:
        raise ValueError(f"eps must have the shape of x0 {x0.shape}, got {eps.shape}")
    return math.sqrt(ab) * x0 + math.sqrt(1.0 - ab) * eps


def to_display(x) -> np.ndarray:
    """Map an image in [−1, 1] to [0, 1] for ``imshow``, clipping what lies outside (noise does)."""
    return np.clip((np.asarray(x, dtype=np.float64) + 1.0) / 2.0, 0.0, 1.0)


# --------------------------------------------------------------------------------------------------
# The schedule panels
# --------------------------------------------------------------------------------------------------

def _finite(a: np.ndarray) -> np.ndarray:
    return np.where(np.isfinite(a), a, np.nan)


def plot_schedule_panels(axes: Sequence, schedules: Mapping[str, Schedule], *, t: float | None = None,
                         continuous: Mapping[str, Callable] | None = None, bins: int = 60,
                         styles: Mapping[str, dict] | None = None) -> dict:
    """Draw ᾱ_t, λ_t and β_t against t/T, and the density of λ, on four axes.

    ``schedules`` maps a label to a :class:`~sched_lib.schedules.Schedule`. The density panel is the
    histogram of the discrete λ_1..λ_T, normalised as a density (the fraction of steps per unit λ, which
    tends to p(λ) under uniform t as T grows; chapter "Schedules in Log-SNR Space"). ``continuous`` maps
    labels to continuous log-SNR curves t ↦ λ(t); each is overlaid (dashed) as the exact density
    1/|λ'(t)| of :class:`sched_lib.weighting.UniformTime`. ``t`` ∈ [0, 1] marks the step round(t·T)
    (at least 1) on every panel. ``styles`` maps labels to extra ``plot`` keywords.

    Returns ``{label: {"t": t/T, "alpha_bar", "log_snr", "betas", "step", "density": (edges, values)}}``:
    the data that was drawn, so that callers and tests can inspect it.
    """
    from .weighting import UniformTime

    if len(axes) != 4:
        raise ValueError(f"axes must hold 4 axes (alpha_bar, log-SNR, beta, density), got {len(axes)}")
    if t is not None:
        t = float(check.real(t, "t", low=0, high=1))
    continuous = dict(continuous or {})
    styles = dict(styles or {})
    ax_ab, ax_lam, ax_beta, ax_dens = axes
    drawn = {}
    finite_all = []
    for label, sched in schedules.items():
        if not isinstance(sched, Schedule):
            raise ValueError(f"schedules[{label!r}] must be a sched_lib Schedule, got {type(sched).__name__}")
        lam = log_snr_from_alpha_bar(sched.alpha_bar)
        finite_all.append(lam[np.isfinite(lam)])
    finite_all = np.concatenate(finite_all) if finite_all else np.zeros(0)
    lo, hi = (math.floor(finite_all.min()), math.ceil(finite_all.max())) if finite_all.size else (-10, 10)
    edges = np.linspace(lo, hi if hi > lo else lo + 1, bins + 1)
    for i, (label, sched) in enumerate(schedules.items()):
        style = {"color": f"C{i % 10}", **styles.get(label, {})}
        T = sched.T
        tt = np.arange(1, T + 1) / T
        lam = log_snr_from_alpha_bar(sched.alpha_bar)
        ax_ab.plot(tt, sched.alpha_bar, label=label, **style)
        ax_lam.plot(tt, _finite(lam), label=label, **style)
        ax_beta.semilogy(tt, sched.betas, label=label, **style)
        finite = lam[np.isfinite(lam)]
        values = np.histogram(finite, bins=edges)[0] / (T * np.diff(edges))
        ax_dens.stairs(values, edges, label=label, **style)
        entry = {"t": tt, "alpha_bar": np.array(sched.alpha_bar), "log_snr": lam, "betas": np.array(sched.betas),
                 "density": (edges, values), "step": None}
        if label in continuous and continuous[label] is not None:
            fn = continuous[label]
            grid = np.linspace(edges[0], edges[-1], 400)
            dens = UniformTime(fn).log_snr_density(grid)
            ax_dens.plot(grid, dens, ls="--", lw=1, color=style["color"])
            entry["continuous_density"] = (grid, dens)
        if t is not None:
            step = min(max(int(round(t * T)), 1), T)
            entry["step"] = step
            if np.isfinite(lam[step - 1]):
                ax_dens.axvline(lam[step - 1], color=style["color"], ls=":", lw=1)
        drawn[label] = entry
    if t is not None:
        for ax in (ax_ab, ax_lam, ax_beta):
            ax.axvline(t, color="k", ls=":", lw=1)
    ax_ab.set_xlabel("t / T")
    ax_ab.set_ylabel(r"$\bar\alpha_t$")
    ax_lam.set_xlabel("t / T")
    ax_lam.set_ylabel(r"log-snr $\lambda_t$")
    ax_beta.set_xlabel("t / T")
    ax_beta.set_ylabel(r"$\beta_t$ (log scale)")
    ax_dens.set_xlabel(r"log-snr $\lambda$")
    ax_dens.set_ylabel("density of steps")
    if schedules:
        ax_ab.legend()
    return drawn


def plot_images(axes: Sequence, images: Sequence, labels: Sequence[str]) -> None:
    """Show images in [−1, 1] (H, W, C) on the given axes, each with a label under it and no ticks."""
    if not (len(axes) == len(images) == len(labels)):
        raise ValueError(f"axes, images and labels must have the same length, got "
                         f"{len(axes)}, {len(images)}, {len(labels)}")
    for ax, img, label in zip(axes, images, labels, strict=True):
        ax.imshow(to_display(img), interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_xlabel(label, fontsize=8)
