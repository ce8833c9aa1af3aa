"""Every figure of the book.

Functions build and return a ``matplotlib.figure.Figure`` without touching pyplot's global
state or ``rcParams`` (styles apply inside ``matplotlib.rc_context`` only), so importing this
module changes nothing. :func:`save_figure` writes a figure into a run folder.
"""

from __future__ import annotations

from pathlib import Path

BOOK_STYLE = {
    "figure.dpi": 110,
    "savefig.dpi": 150,
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
}

STAGE_COLOURS = {
    "data": "#dbe9f6",
    "sft": "#fde2c8",
    "rft": "#e3f1dd",
    "eval": "#ece3f3",
    "reward": "#ffffff",
}


def _new_figure(width_in: float, height_in: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width_in, height_in), layout="constrained")


def pipeline_figure():
    """The RSGround-R1 pipeline (the paper's overview figure, redrawn as we read it):
    synthetic position-aware CoT data → CoT-SFT → GRPO-style RFT whose rewards include the
    positional reward and whose group updates are scaled by spatial consistency → evaluation
    on the RSVG benchmarks. Book chapter: *Overview*."""
    import matplotlib
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    with matplotlib.rc_context(BOOK_STYLE):
        fig = _new_figure(9.0, 3.6)
        ax = fig.add_subplot()
        ax.set_xlim(0, 100)
        ax.set_ylim(0, 40)
        ax.axis("off")

        def box(x, y, w, h, title, body, colour):
            ax.add_patch(
                FancyBboxPatch(
                    (x, y),
                    w,
                    h,
                    boxstyle="round,pad=0.6,rounding_size=1.5",
                    fc=colour,
                    ec="#444444",
                    lw=0.9,
                )
            )
            ax.text(
                x + w / 2, y + h - 2.2, title, ha="center", va="top", fontsize=9.5, weight="bold"
            )
            ax.text(
                x + w / 2, y + h - 6.8, body, ha="center", va="top", fontsize=7.6, linespacing=1.35
            )

        def arrow(x0, y0, x1, y1, label=""):
            ax.add_patch(
                FancyArrowPatch(
                    (x0, y0), (x1, y1), arrowstyle="-|>", mutation_scale=12, lw=1.1, color="#333333"
                )
            )
            if label:
                ax.text(
                    (x0 + x1) / 2, (y0 + y1) / 2 + 1.3, label, ha="center", va="bottom", fontsize=7
                )

        box(
            1,
            22,
            20,
            16,
            "Synthetic RSVG data",
            "aerial scenes, several\ninstances per class,\nexpressions with\npositional cues",
            STAGE_COLOURS["data"],
        )
        box(
            1,
            1,
            20,
            14,
            "CoT traces",
            "candidates → cue →\nchoice, boxes in\nmodel pixels",
            STAGE_COLOURS["data"],
        )
        box(
            27,
            10,
            18,
            18,
            "1  CoT-SFT",
            "Qwen2.5-VL (or the\noffline tiny model)\nlearns to reason\nabout position",
            STAGE_COLOURS["sft"],
        )
        box(
            51,
            15,
            24,
            23,
            "2  RFT (GRPO)",
            "G rollouts per prompt\n<think>…</think>\n<answer>[x1,y1,x2,y2]</answer>\n\ngroup-relative advantages",
            STAGE_COLOURS["rft"],
        )
        box(51, 1, 24, 9, "", "", STAGE_COLOURS["reward"])
        ax.text(
            63,
            8.2,
            "rewards: format + IoU\n+ positional (distance-aware)",
            ha="center",
            va="top",
            fontsize=7.6,
        )
        box(
            80,
            22,
            19,
            16,
            "3  Spatial\nconsistency",
            "\nscale each group's\nupdate by how\ncoherent its boxes\nare: w = e^(−κ·disp.)",
            STAGE_COLOURS["rft"],
        )
        box(
            80,
            1,
            19,
            14,
            "Evaluation",
            "DIOR-RSVG, OPT-RSVG,\nVRSBench: Pr@0.5–0.9,\nmeanIoU, cumIoU",
            STAGE_COLOURS["eval"],
        )

        arrow(11, 21.4, 11, 15.6)
        ax.text(12, 18.5, "resolver steps", ha="left", va="center", fontsize=7)
        arrow(21.6, 30, 26.4, 24)
        arrow(21.6, 8, 26.4, 14)
        arrow(45.6, 19, 50.4, 23)
        ax.text(48, 17.2, "policy", ha="center", va="top", fontsize=7)
        arrow(63, 10.6, 63, 14.4)
        arrow(79.4, 30, 75.6, 30)
        ax.text(77.5, 31, "w", ha="center", va="bottom", fontsize=8, style="italic")
        arrow(75.6, 18, 79.4, 10)
    return fig


def save_figure(fig, path: str | Path) -> Path:
    """Write ``fig`` as PNG (folders created) and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=BOOK_STYLE["savefig.dpi"], bbox_inches="tight")
    return path


def show_figure(fig, path: str | Path):
    """Save ``fig`` to ``path`` (the run's artefact) and return it as an IPython image, so a
    chapter cell ending in ``plotting.show_figure(...)`` displays exactly the saved PNG.

    Our figures are built without pyplot (no global state), so IPython would otherwise print
    only their ``repr``.
    """
    from IPython.display import Image

    return Image(filename=str(save_figure(fig, path)))
