"""The course's figure style (``sched_lib.plotting``): text a phone reader can read (issue 10, item 6)."""

import pytest


def test_course_style_is_legible_on_a_phone_and_the_check_catches_small_text():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from sched_lib.plotting import (COURSE_STYLE, FIGURE_WIDTH, MIN_PHONE_PT, PHONE_IMAGE_PX, check_phone_legible,
                                    phone_font_pt)

    with matplotlib.rc_context(COURSE_STYLE):
        fig, axes = plt.subplots(2, 1, figsize=(FIGURE_WIDTH, 5))
        for ax in axes:
            ax.semilogy([1, 2, 3], [1e-3, 1e-1, 10], label="a curve")
            ax.set_xlabel("step t")
            ax.legend()
        smallest = check_phone_legible(fig)
        assert MIN_PHONE_PT <= smallest < MIN_PHONE_PT * 1.3, smallest
        # the displayed size follows from the image width: the same font on a twice-wider figure is half the size
        ax = axes[0]
        ax.set_xlabel("step t", fontsize=8)
        with pytest.raises(ValueError, match="step t"):
            check_phone_legible(fig)
        wide, ax = plt.subplots(figsize=(2 * FIGURE_WIDTH, 3))
        ax.plot([0, 1], [0, 1])
        ax.set_xlabel("wide")
        pt = phone_font_pt(wide)["wide"]
        width_in = wide.get_tightbbox(wide.canvas.get_renderer()).width + 0.2
        assert pt == pytest.approx(COURSE_STYLE["axes.labelsize"] * PHONE_IMAGE_PX / (96 * width_in))
        with pytest.raises(ValueError, match="below 9 pt"):
            check_phone_legible(wide)
        # on a laptop (an image shown at its own size) the same figure is legible
        assert check_phone_legible(wide, shown_px=10_000) >= MIN_PHONE_PT
        plt.close("all")
