"""Every figure of the book.

Functions build and return a ``matplotlib.figure.Figure`` without touching pyplot's global
state or ``rcParams`` (styles apply inside ``matplotlib.rc_context`` only), so importing this
module changes nothing. :func:`save_figure` writes a figure into a run folder.

About 760 lines, over the project's ~600: one function per figure of the book, each short
and independent; keeping them together keeps the book's look in one place.

Book chapter: every chapter draws its figures with this module.
"""

from __future__ import annotations

from pathlib import Path

from rsground_lib import consistency, rewards

BOOK_STYLE = {
    "figure.dpi": 110,
    "savefig.dpi": 150,
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
}

BOOK_WIDTH_IN = 7.5
"""Width, in inches, of a figure drawn across the book's text column (about 750 CSS pixels at
1280 px): a wider figure is shrunk, and its 9-pt text with it. Multi-panel figures wrap into
rows of :data:`PANELS_PER_ROW` so that they stay within this width."""

PANELS_PER_ROW = 2
"""Panels side by side in a multi-panel figure of the book."""

MIN_FONT_PT = 8.0
"""The smallest text of a book figure, in points at :data:`BOOK_WIDTH_IN` (about 11 px)."""

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
    positional reward and whose group advantages are scaled by the spatial-consistency weight
    → evaluation on the RSVG benchmarks.

    Drawn as a vertical flow 6 in wide so that, shrunk to the book's 676-px text column, its
    smallest text (10 pt) renders about 15 px tall (issue 26: the former 9-in figure's text
    came out about 7 px). The axes cover the whole figure in inches, so boxes and texts are
    placed in inches."""
    import matplotlib
    from matplotlib.figure import Figure
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    # saved with bbox_inches="tight" (0.1-in pad each side), the PNG is 6.2 in wide: 10 pt shows
    # 10 × 676 / (6.2 × 72) ≈ 15 px tall, a mathtext subscript (70 %) about 11 px
    width_in, height_in = 6.0, 6.6
    title_pt, body_pt, label_pt = 11.5, 10.5, 10.0
    with matplotlib.rc_context(BOOK_STYLE):
        fig = Figure(figsize=(width_in, height_in))
        ax = fig.add_axes((0, 0, 1, 1))
        ax.set_xlim(0, width_in)
        ax.set_ylim(0, height_in)
        ax.axis("off")

        def box(x, top, w, h, title, body, colour):
            """A rounded box whose upper-left corner is (x, top), in inches."""
            ax.add_patch(
                FancyBboxPatch(
                    (x, top - h),
                    w,
                    h,
                    boxstyle="round,pad=0,rounding_size=0.1",
                    fc=colour,
                    ec="#444444",
                    lw=0.9,
                )
            )
            ax.text(
                x + w / 2, top - 0.1, title, ha="center", va="top", fontsize=title_pt, weight="bold"
            )
            ax.text(
                x + w / 2,
                top - 0.44,
                body,
                ha="center",
                va="top",
                fontsize=body_pt,
                linespacing=1.35,
            )

        def arrow(x0, y0, x1, y1, label=""):
            ax.add_patch(
                FancyArrowPatch(
                    (x0, y0),
                    (x1, y1),
                    arrowstyle="-|>",
                    mutation_scale=12,
                    lw=1.1,
                    color="#333333",
                    shrinkA=0,
                    shrinkB=0,
                )
            )
            if label:
                vertical = x0 == x1
                ax.text(
                    (x0 + x1) / 2 + (0.08 if vertical else 0),
                    (y0 + y1) / 2 + (0 if vertical else 0.05),
                    label,
                    ha="left" if vertical else "center",
                    va="center" if vertical else "bottom",
                    fontsize=label_pt,
                    style="italic",
                )

        left, right, gap = 0.05, width_in - 0.05, 0.35
        full = right - left
        lw, rw = 3.0, 2.6  # left column: the RFT stage; right column: what feeds it
        rx = right - rw
        mid = left + lw / 2

        top = height_in - 0.05
        box(
            left,
            top,
            full,
            0.95,
            "Synthetic position-aware CoT data",
            "aerial scenes, several objects per class, positional expressions;\n"
            "CoT traces: candidates → cue → choice → box",
            STAGE_COLOURS["data"],
        )
        top -= 0.95 + gap
        arrow(mid, top + gap, mid, top)
        box(
            left,
            top,
            full,
            0.72,
            "1  CoT-SFT",
            "Qwen2.5-VL (or the offline tiny model) learns to reason about position",
            STAGE_COLOURS["sft"],
        )
        top -= 0.72 + gap
        arrow(mid, top + gap, mid, top, "policy")
        rft_h, rew_h, con_h = 2.85, 1.2, 1.4
        box(
            left,
            top,
            lw,
            rft_h,
            "2  RFT (GRPO)",
            "G rollouts per prompt:\n<think> … </think>\n<answer>[x1,y1,x2,y2]</answer>"
            "\n\ngroup-relative\nadvantages Â,\nscaled by the\ngroup's weight w",
            STAGE_COLOURS["rft"],
        )
        box(
            rx,
            top,
            rw,
            rew_h,
            "Rewards",
            "format + IoU + positional\n"
            r"$r_\mathrm{pos} = (\mathrm{IoU} - \rho^2/c^2 + 1)\,/\,2$"
            "\nDIoU → [0, 1] (our reading)",
            STAGE_COLOURS["reward"],
        )
        arrow(rx, top - rew_h / 2, left + lw, top - rew_h / 2, "r")
        box(
            rx,
            top - rft_h + con_h,
            rw,
            con_h,
            "3  Spatial consistency",
            r"$w = \mathrm{clip}(e^{-\kappa d},\ w_\mathrm{min},\ 1)$"
            "\n$d$: spread of the group's box\ncentres / image diagonal\n(our reading)",
            STAGE_COLOURS["rft"],
        )
        arrow(rx, top - rft_h + con_h / 2, left + lw, top - rft_h + con_h / 2, "w")
        top -= rft_h + gap
        arrow(mid, top + gap, mid, top)
        box(
            left,
            top,
            full,
            0.95,
            "Evaluation on the RSVG benchmarks",
            "DIOR-RSVG, OPT-RSVG, VRSBench\nPr@0.5–0.9, meanIoU, cumIoU",
            STAGE_COLOURS["eval"],
        )
    return fig


def save_figure(fig, path: str | Path) -> Path:
    """Write ``fig`` as PNG (folders created) and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=BOOK_STYLE["savefig.dpi"], bbox_inches="tight")
    return path


def show_figure(fig, path: str | Path) -> None:
    """Save ``fig`` to ``path`` (the run's artefact) and display exactly the saved PNG where
    the call stands — not only when it is a cell's last expression (a figure followed by
    ``glue`` calls was silently not shown; issue 26). Returns None, so a cell that ends with
    the call does not show it twice.

    Our figures are built without pyplot (no global state), so IPython would otherwise print
    only their ``repr``.
    """
    from IPython.display import Image, display

    display(Image(filename=str(save_figure(fig, path))))


# ------------------------------------------------------------------ rewards and consistency
REWARD_LABELS = {
    "iou": "IoU",
    "positional": "positional (DIoU → [0, 1])",
    "gaussian_center": "Gaussian of centre distance",
    "center_distance": "1 − centre distance / diagonal",
}


def reward_grid(name: str, target, image_size, step_px: float = 2.0):
    """Reward ``name`` of a prediction of the target's size whose centre sweeps the image on
    a grid of ``step_px``: returns ``(xs, ys, Z)`` with ``Z[j, i]`` the reward with the
    centre at ``(xs[i], ys[j])``. Data of :func:`reward_heatmaps`."""
    import numpy as np

    t = np.asarray(target, dtype=float)
    w, h = t[2] - t[0], t[3] - t[1]
    xs = np.arange(0.0, image_size[0] + 1e-9, step_px)
    ys = np.arange(0.0, image_size[1] + 1e-9, step_px)
    cx, cy = np.meshgrid(xs, ys)
    pred = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=-1).reshape(-1, 4)
    score_fns = {
        "iou": lambda p: rewards.iou_scores(p, t),
        "positional": lambda p: rewards.positional_scores(p, t),
        "gaussian_center": lambda p: rewards.gaussian_center_scores(p, t),
        "center_distance": lambda p: rewards.center_distance_scores(p, t, image_size),
    }
    if name not in score_fns:
        raise ValueError(f"unknown reward {name!r}; known: {', '.join(score_fns)}")
    return xs, ys, np.asarray(score_fns[name](pred)).reshape(cy.shape)


def reward_heatmaps(target, image_size, names=tuple(REWARD_LABELS), step_px: float = 2.0):
    """One heat map per reward over the predicted box's centre position (same size as the
    target), the target drawn in white: where each reward gives signal, and where IoU gives
    none."""
    import matplotlib
    import numpy as np
    from matplotlib.patches import Rectangle

    with matplotlib.rc_context(BOOK_STYLE):
        ncols = 2 if len(names) == 4 else len(names)
        nrows = -(-len(names) // ncols)
        fig = _new_figure(3.0 * ncols + 0.8, 2.75 * nrows)
        axes = np.atleast_1d(fig.subplots(nrows, ncols, sharex=True, sharey=True)).ravel()
        for ax, name in zip(axes, names, strict=True):
            xs, ys, z = reward_grid(name, target, image_size, step_px)
            im = ax.imshow(
                z,
                origin="upper",
                extent=(xs[0], xs[-1], ys[-1], ys[0]),
                vmin=0,
                vmax=1,
                cmap="viridis",
                interpolation="nearest",
            )
            x1, y1, x2, y2 = target
            ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, ec="white", lw=1.2))
            signal = 100.0 * float((z >= 0.01).mean())
            ax.set_title(
                f"{REWARD_LABELS.get(name, name)}\n≥ 0.01 on {signal:.0f}% of centres", fontsize=8
            )
            if ax in axes[-ncols:]:
                ax.set_xlabel("predicted centre x (px)")
            if ax in axes[::ncols]:
                ax.set_ylabel("predicted centre y (px)")
        fig.colorbar(im, ax=axes, shrink=0.85, label="reward")
    return fig


def reward_profile(
    target, image_size, names=tuple(REWARD_LABELS), max_shift_px: float | None = None
):
    """Rewards of a same-size prediction sliding right from the target (shift 0 = perfect):
    IoU falls to 0 once the boxes stop overlapping and stays flat; the distance-aware
    rewards keep decreasing."""
    import matplotlib
    import numpy as np

    t = np.asarray(target, dtype=float)
    w = t[2] - t[0]
    max_shift_px = max_shift_px or (image_size[0] - t[2])
    shifts = np.linspace(0.0, max_shift_px, 400)
    pred = t[None, :] + np.stack([shifts, 0 * shifts, shifts, 0 * shifts], axis=1)
    curves = {
        "iou": rewards.iou_scores(pred, t),
        "positional": rewards.positional_scores(pred, t),
        "gaussian_center": rewards.gaussian_center_scores(pred, t),
        "center_distance": rewards.center_distance_scores(pred, t, image_size),
    }
    with matplotlib.rc_context(BOOK_STYLE):
        fig = _new_figure(6.4, 3.0)
        ax = fig.add_subplot()
        for name in names:
            ax.plot(shifts, curves[name], label=REWARD_LABELS.get(name, name), lw=1.6)
        ax.axvspan(w, shifts[-1], color="#eeeeee", zorder=0)
        ax.text(w + 2, 0.95, "no overlap: IoU = 0", fontsize=7.5, va="top")
        ax.set_xlabel("horizontal shift of the prediction (px)")
        ax.set_ylabel("reward")
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlim(0, shifts[-1])
        ax.legend(fontsize=7.5, frameon=False, loc="upper right")
    return fig


def rollout_groups(groups: dict, target, image_size, scores=None, weights=None, images=None):
    """Each named rollout group's boxes (one panel per group) over the image frame, the target
    dashed, titled with the group's consistency score and update weight when given.

    With ``images`` (one per group, drawn over the model-input frame ``image_size``) each
    group is drawn on its own scene and ``target`` holds one target box per group."""
    import matplotlib
    import numpy as np
    from matplotlib.patches import Rectangle

    with matplotlib.rc_context(BOOK_STYLE):
        cols = min(PANELS_PER_ROW, len(groups))
        rows = -(-len(groups) // cols)
        fig = _new_figure(BOOK_WIDTH_IN * cols / PANELS_PER_ROW, 3.6 * rows)
        axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
        for ax in axes[len(groups) :]:
            ax.set_visible(False)
        for k, (ax, (title, group)) in enumerate(zip(axes, groups.items(), strict=False)):
            ax.set_xlim(0, image_size[0])
            ax.set_ylim(image_size[1], 0)
            ax.set_aspect("equal")
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():  # the image frame
                spine.set_visible(True)
                spine.set_color("#888888")
            if images is not None:
                ax.imshow(
                    np.asarray(images[k].convert("RGB")),
                    extent=(0, image_size[0], image_size[1], 0),
                    interpolation="nearest",
                )
            x1, y1, x2, y2 = target[k] if images is not None else target
            ax.add_patch(
                Rectangle(
                    (x1, y1),
                    x2 - x1,
                    y2 - y1,
                    fill=False,
                    ec="#ffd700" if images is not None else "black",
                    lw=1.6 if images is not None else 1.4,
                    ls="--",
                )
            )
            for b in np.asarray(group, dtype=float):
                if not np.all(np.isfinite(b)):
                    continue
                ax.add_patch(
                    Rectangle(
                        (b[0], b[1]), b[2] - b[0], b[3] - b[1], fill=False, ec="#d62728", lw=1.0
                    )
                )
                ax.plot((b[0] + b[2]) / 2, (b[1] + b[3]) / 2, ".", color="#d62728", ms=3)
            sub = []
            if scores is not None:
                sub.append(f"dispersion {float(scores[k]):.3f}")
            if weights is not None:
                sub.append(f"w = {float(weights[k]):.2f}")
            ax.set_title(title + ("\n" + ", ".join(sub) if sub else ""), fontsize=9.5)
    return fig


RFT_PANELS: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    (
        "rewards (mean over the step's completions)",
        (
            ("rewards/format_reward/mean", "format"),
            ("rewards/iou_reward/mean", "IoU"),
            ("rewards/positional_reward/mean", "positional"),
        ),
    ),
    (
        "rollout dispersion and its weight",
        (
            ("consistency/score_mean", "group dispersion (mean)"),
            ("consistency/weight_mean", "weight w (mean)"),
            ("consistency/weight_min", "weight w (min)"),
        ),
    ),
    (
        "answers",
        (
            ("answer_follows_reasoning", "answer = reasoning's box"),
            ("parse_rate", "parse rate"),
            ("frac_reward_zero_std", "groups with all-equal rewards"),
        ),
    ),
    ("KL to the start model", (("kl", "KL"),)),
)
"""The panels of :func:`rft_curves`: a title and the logged keys drawn in it with labels."""


def rft_curves(rows, smooth: int = 10, panels=RFT_PANELS):
    """An RFT run's log against the optimizer step, one panel per entry of ``panels`` (title,
    ``(key, label)`` pairs; keys absent from the log are left out, a panel with none is not
    drawn). ``rows`` as :func:`rsground_lib.training.common.read_log` gives them; ``smooth``
    > 1 draws the running mean of that many logged steps over the raw values (faint)."""
    import matplotlib
    import numpy as np

    drawn = [
        (title, [(k, lab) for k, lab in keys if any(k in r for r in rows)])
        for title, keys in panels
    ]
    drawn = [(t, keys) for t, keys in drawn if keys]
    if not drawn:
        raise ValueError("rft_curves: no logged key of the panels in the log")
    with matplotlib.rc_context(BOOK_STYLE):
        cols = min(PANELS_PER_ROW, len(drawn))
        nrows = -(-len(drawn) // cols)
        fig = _new_figure(BOOK_WIDTH_IN, 3.0 * nrows)
        axes = np.atleast_1d(fig.subplots(nrows, cols)).ravel()
        for ax in axes[len(drawn) :]:
            ax.set_visible(False)
        for ax, (title, keys) in zip(axes, drawn, strict=False):
            for j, (key, label) in enumerate(keys):
                pts = [(r["step"], r[key]) for r in rows if key in r and "step" in r]
                steps, vals = (np.asarray(v, dtype=float) for v in zip(*pts, strict=True))
                colour = MODEL_COLOURS[j % len(MODEL_COLOURS)]
                if smooth > 1 and len(vals) >= smooth:
                    ax.plot(steps, vals, color=colour, lw=0.6, alpha=0.25)
                    vals = np.convolve(vals, np.ones(smooth) / smooth, mode="valid")
                    steps = steps[smooth - 1 :]
                ax.plot(steps, vals, color=colour, lw=1.4, label=label)
            ax.set_title(title, fontsize=9.5)
            ax.set_xlabel("optimizer step", fontsize=MIN_FONT_PT + 0.5)
            ax.tick_params(labelsize=MIN_FONT_PT)
            ax.set_ylim(bottom=0)
            # where the curves leave most room, on a white box so that a curve under it
            # still reads as hidden rather than as absent
            ax.legend(
                fontsize=MIN_FONT_PT,
                loc="best",
                frameon=True,
                framealpha=0.85,
                edgecolor="none",
                handlelength=1.5,
            )
    return fig


def weight_curves(kappas=(0.0, 2.0, 5.0, 10.0, 20.0), w_min: float = 0.1, max_score: float = 0.5):
    """The update weight ``w = clip(exp(−κ·score), w_min, 1)`` against the group's dispersion
    score, one curve per κ."""
    import matplotlib
    import numpy as np

    s = np.linspace(0.0, max_score, 300)
    with matplotlib.rc_context(BOOK_STYLE):
        fig = _new_figure(5.2, 3.0)
        ax = fig.add_subplot()
        for kappa in kappas:
            ax.plot(s, consistency.update_weight(s, kappa, w_min), label=f"κ = {kappa:g}", lw=1.6)
        ax.axhline(w_min, color="grey", lw=0.8, ls=":")
        ax.text(max_score, w_min + 0.02, f"w_min = {w_min:g}", ha="right", fontsize=MIN_FONT_PT)
        ax.set_xlabel("centre dispersion of the group (fraction of the image diagonal)")
        ax.set_ylabel("update weight w")
        ax.set_ylim(0, 1.05)
        # below the κ = 0 line at w = 1, above the slow curves
        ax.legend(
            fontsize=MIN_FONT_PT, frameon=False, loc="upper right", bbox_to_anchor=(1.0, 0.92)
        )
    return fig


# ------------------------------------------------------------------------------------ data
def scene_gallery(items, ncols: int = 3, title_chars: int = 60):
    """A grid of scenes, each with its target box (yellow, dashed outline) and its referring
    expression as the title. ``items``: dicts with ``image`` (PIL image or array), ``bbox``
    ([x1, y1, x2, y2] in the image's pixels) and ``expression``; optional ``objects`` (list of
    dicts with ``bbox``) are outlined thinly in white."""
    import textwrap

    import matplotlib
    import numpy as np
    from matplotlib.patches import Rectangle

    items = list(items)
    if not items:
        raise ValueError("scene_gallery: no items to draw")
    nrows = -(-len(items) // ncols)
    with matplotlib.rc_context(BOOK_STYLE):
        panel_in = BOOK_WIDTH_IN / ncols
        fig = _new_figure(BOOK_WIDTH_IN, (panel_in + 0.55) * nrows)
        axes = np.atleast_1d(fig.subplots(nrows, ncols)).ravel()
        for ax in axes:
            ax.axis("off")
        for ax, item in zip(axes, items, strict=False):
            ax.imshow(np.asarray(item["image"]))
            for obj in item.get("objects") or []:
                x1, y1, x2, y2 = obj["bbox"]
                ax.add_patch(
                    Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, ec="white", lw=0.5, alpha=0.7)
                )
            x1, y1, x2, y2 = item["bbox"]
            ax.add_patch(
                Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, ec="#ffd400", lw=1.6, ls="--")
            )
            text = str(item["expression"])
            if len(text) > title_chars * 2:
                text = text[: title_chars * 2 - 1] + "…"
            wrap = max(12, int(panel_in * 15))  # characters of MIN_FONT_PT text per line
            ax.set_title("\n".join(textwrap.wrap(text, wrap)[:3]), fontsize=MIN_FONT_PT)
    return fig


def cue_mix(shares, title: str = "Share of expressions carrying each positional cue"):
    """Grouped horizontal bars: one group per cue tag, one bar per dataset. ``shares``: a
    pandas DataFrame indexed by tag with one column per dataset, values in [0, 1] (an
    expression may carry several tags, so a column need not sum to 1)."""
    import matplotlib
    import numpy as np

    tags = list(shares.index)
    names = list(shares.columns)
    width = 0.8 / max(len(names), 1)
    with matplotlib.rc_context(BOOK_STYLE):
        fig = _new_figure(7.0, 3.0)
        ax = fig.add_subplot()
        x = np.arange(len(tags))
        for k, name in enumerate(names):
            ax.bar(
                x + (k - (len(names) - 1) / 2) * width,
                100 * shares[name].to_numpy(float),
                width,
                label=name,
            )
        ax.set_xticks(x, tags)
        ax.set_ylabel("% of expressions")
        ax.set_ylim(0, 100)
        ax.set_title(title, fontsize=9)
        ax.legend(fontsize=7.5, frameon=False, loc="upper right")
    return fig


def box_statistics(datasets: dict, bins: int = 24):
    """Where targets are and how big they are, per dataset: a 2-D histogram of normalised
    box centres (one panel each) and the distribution of box area as a fraction of the image
    (log scale). ``datasets``: name → ``(bboxes (N, 4), image_sizes (N, 2))``, original
    pixels and ``(width, height)``."""
    import matplotlib
    import numpy as np

    n = len(datasets)
    rows = -(-n // PANELS_PER_ROW)
    with matplotlib.rc_context(BOOK_STYLE):
        fig = _new_figure(BOOK_WIDTH_IN, 3.3 * rows + 2.8)
        grid = fig.add_gridspec(rows + 1, PANELS_PER_ROW, height_ratios=[1] * rows + [0.8])
        area_ax = fig.add_subplot(grid[rows, :])
        for k, (name, (bboxes, sizes)) in enumerate(datasets.items()):
            b = np.asarray(bboxes, dtype=float)
            s = np.asarray(sizes, dtype=float)
            cx = (b[:, 0] + b[:, 2]) / 2 / s[:, 0]
            cy = (b[:, 1] + b[:, 3]) / 2 / s[:, 1]
            ax = fig.add_subplot(grid[k // PANELS_PER_ROW, k % PANELS_PER_ROW])
            counts, _, _, image = ax.hist2d(
                cx, cy, bins=bins, range=[[0, 1], [0, 1]], cmap="magma", density=True
            )
            fig.colorbar(image, ax=ax, shrink=0.85, label="density of centres")
            ax.set_ylim(1, 0)
            ax.set_aspect("equal")
            ax.set_title(f"{name} (n = {len(b):,})", fontsize=9.5)
            ax.set_xlabel("centre x / width")
            if k % PANELS_PER_ROW == 0:
                ax.set_ylabel("centre y / height")
            frac = np.clip((b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]) / (s[:, 0] * s[:, 1]), 1e-6, 1)
            area_ax.hist(
                np.log10(frac),
                bins=40,
                range=(-5, 0),
                histtype="step",
                lw=1.4,
                label=name,
                density=True,
            )
        area_ax.set_xlabel("log10(box area / image area)")
        area_ax.set_ylabel("density")
        area_ax.legend(fontsize=MIN_FONT_PT + 0.5, frameon=False)
    return fig


# ------------------------------------------------------------------------------ CoT-SFT
MODEL_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b")


def loss_curves(logs: dict, floor: float | None = None, smooth: int = 1):
    """Training loss against optimizer step, one line per run. ``logs``: ``{name: rows}``,
    rows as read by :func:`rsground_lib.training.common.read_log` (those with a ``loss`` are drawn);
    ``floor`` draws the image-blind floor as a dashed line; ``smooth`` > 1 averages that many
    consecutive logged values."""
    import matplotlib
    import numpy as np

    with matplotlib.rc_context(BOOK_STYLE):
        fig = _new_figure(6.4, 3.0)
        ax = fig.add_subplot()
        drawn = 0
        for k, (name, rows) in enumerate(logs.items()):
            pts = [(r["step"], r["loss"]) for r in rows if "loss" in r and "step" in r]
            if not pts:
                continue
            steps, loss = (np.asarray(v, dtype=float) for v in zip(*pts, strict=True))
            if smooth > 1 and len(loss) >= smooth:
                kernel = np.ones(smooth) / smooth
                loss = np.convolve(loss, kernel, mode="valid")
                steps = steps[smooth - 1 :]
            ax.plot(steps, loss, color=MODEL_COLOURS[k % len(MODEL_COLOURS)], lw=1.4, label=name)
            drawn += 1
        if drawn == 0:
            raise ValueError("loss_curves: no log row with 'step' and 'loss'")
        if floor is not None:
            ax.axhline(
                floor, color="0.4", ls="--", lw=1.0, label="image-blind floor (answer tokens)"
            )
        ax.set_xlabel("optimizer step")
        ax.set_ylabel("training loss (nats / completion token)")
        ax.set_yscale("log")
        ax.legend(fontsize=7.5, frameon=False)
    return fig


def prediction_gallery(items, predictions: dict, ncols: int = 3):
    """Scenes with the target (yellow, dashed) and each model's predicted box (one colour per
    model, solid; a missing box — an unparsable answer — is listed as such in the title).
    ``items``: dicts with ``image``, ``bbox``, ``expression``; ``predictions``:
    ``{model name: [box or None, one per item]}`` in the items' pixels."""
    import textwrap

    import matplotlib
    import numpy as np
    from matplotlib.lines import Line2D
    from matplotlib.patches import Rectangle

    items = list(items)
    if not items:
        raise ValueError("prediction_gallery: no items to draw")
    for name, boxes in predictions.items():
        if len(boxes) != len(items):
            raise ValueError(
                f"prediction_gallery: {name!r} has {len(boxes)} boxes for {len(items)} items"
            )
    nrows = -(-len(items) // ncols)
    names = list(predictions)
    with matplotlib.rc_context(BOOK_STYLE):
        panel_in = BOOK_WIDTH_IN / ncols
        fig = _new_figure(BOOK_WIDTH_IN, (panel_in + 0.6) * nrows + 0.5)
        axes = np.atleast_1d(fig.subplots(nrows, ncols)).ravel()
        for ax in axes:
            ax.axis("off")
        for i, (ax, item) in enumerate(zip(axes, items, strict=False)):
            ax.imshow(np.asarray(item["image"]))
            x1, y1, x2, y2 = item["bbox"]
            ax.add_patch(
                Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, ec="#ffd400", lw=1.8, ls="--")
            )
            missing = []
            for k, name in enumerate(names):
                box = predictions[name][i]
                if box is None:
                    missing.append(name)
                    continue
                bx1, by1, bx2, by2 = box
                ax.add_patch(
                    Rectangle(
                        (bx1, by1), bx2 - bx1, by2 - by1, fill=False,
                        ec=MODEL_COLOURS[k % len(MODEL_COLOURS)], lw=1.2,
                    )
                )  # fmt: skip
            title = "\n".join(
                textwrap.wrap(str(item["expression"]), max(12, int(panel_in * 15)))[:3]
            )
            if missing:
                title += "\nno box: " + ", ".join(missing)
            ax.set_title(title, fontsize=MIN_FONT_PT)
        handles = [Line2D([], [], color="#ffd400", ls="--", lw=1.8, label="target")] + [
            Line2D([], [], color=MODEL_COLOURS[k % len(MODEL_COLOURS)], lw=1.2, label=n)
            for k, n in enumerate(names)
        ]
        fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), fontsize=MIN_FONT_PT + 0.5,
                   frameon=False)  # fmt: skip
    return fig


def raster_panels(panels, ncols: int = PANELS_PER_ROW):
    """Rasters with what grounding in them did, one panel each. A panel is a dict: ``image``
    (an RGB array, e.g. :func:`rsground_lib.geo.read_preview`), ``scale`` (raster pixels →
    image pixels, default 1), ``title``, and boxes in RASTER pixels: ``windows`` (thin dotted
    white: the windows read), ``skipped`` (red: windows skipped for nodata), ``objects``
    (thin white: every labelled object), ``targets`` (yellow, dashed: what the sentence
    names) and ``answers`` (``[(box, label)]``, cyan, solid, labelled). Windows and
    ``skipped`` take :class:`rsground_lib.geo.Tile` or ``(col_off, row_off, width, height)``."""
    import textwrap

    import matplotlib
    import numpy as np
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch, Rectangle

    panels = list(panels)
    if not panels:
        raise ValueError("raster_panels: no panels to draw")
    ncols = max(1, min(ncols, len(panels)))
    nrows = -(-len(panels) // ncols)

    def tile_box(t):
        c, r, w, h = (t.col_off, t.row_off, t.width, t.height) if hasattr(t, "col_off") else t
        return [c, r, c + w, r + h]

    def rect(ax, box, s, **kw):
        x1, y1, x2, y2 = (float(v) * s for v in box)
        ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, **kw))

    used = set()
    with matplotlib.rc_context(BOOK_STYLE):
        panel_in = BOOK_WIDTH_IN / ncols
        fig = _new_figure(BOOK_WIDTH_IN, (panel_in + 0.55) * nrows + 0.45)
        axes = np.atleast_1d(fig.subplots(nrows, ncols)).ravel()
        for ax in axes:
            ax.axis("off")
        for ax, p in zip(axes, panels, strict=False):
            s = float(p.get("scale", 1.0))
            ax.imshow(np.asarray(p["image"]))
            for t in p.get("windows", ()):
                rect(ax, tile_box(t), s, fill=False, ec="white", lw=0.5, ls=":", alpha=0.8)
                used.add("windows")
            for t in p.get("skipped", ()):
                rect(ax, tile_box(t), s, fill=True, fc="#d62728", alpha=0.25, ec="#d62728", lw=0.6)
                used.add("skipped")
            for b in p.get("objects", ()):
                rect(ax, b, s, fill=False, ec="white", lw=0.6, alpha=0.9)
                used.add("objects")
            for b in p.get("targets", ()):
                rect(ax, b, s, fill=False, ec="#ffd400", lw=1.8, ls="--")
                used.add("targets")
            for b, label in p.get("answers", ()):
                rect(ax, b, s, fill=False, ec="#00e5ff", lw=1.4)
                ax.text(float(b[0]) * s, float(b[1]) * s - 1, str(label), color="#00e5ff",
                        fontsize=MIN_FONT_PT, va="bottom", ha="left")  # fmt: skip
                used.add("answers")
            title = p.get("title", "")
            ax.set_title(
                "\n".join(textwrap.wrap(str(title), max(16, int(panel_in * 14)))[:3]),
                fontsize=MIN_FONT_PT,
            )
        legend = {
            "windows": Line2D([], [], color="0.4", ls=":", lw=1.0, label="windows"),
            "skipped": Patch(fc="#d62728", alpha=0.35, label="skipped (nodata)"),
            "objects": Line2D([], [], color="0.55", lw=1.0, label="labelled objects"),
            "targets": Line2D([], [], color="#ffd400", ls="--", lw=1.8, label="target"),
            "answers": Line2D([], [], color="#00e5ff", lw=1.4, label="answers (rank)"),
        }
        handles = [h for k, h in legend.items() if k in used]
        if handles:
            fig.legend(handles=handles, loc="outside lower center", ncols=len(handles),
                       fontsize=MIN_FONT_PT + 0.5, frameon=False)  # fmt: skip
    return fig


# ------------------------------------------------------------------ ablations
MECHANISM_PANELS = {
    "all_equal_reward": "groups with all-equal rewards",
    "dispersion": "group dispersion (centres / diagonal)",
    "weight": "consistency weight w",
    "follows": "answer follows reasoning",
}
"""The panels of :func:`ablation_curves`: keys of a run's ``curves``
(:data:`rsground_lib.ablations.CURVE_KEYS`) and their titles."""


def ablation_curves(results, panels: dict = MECHANISM_PANELS, arms=None):
    """The mechanism behind an ablation's outcome (issue 27): for every arm of a sweep
    (``{arm: {seed: result}}``, :func:`rsground_lib.ablations.sweep`; ``arms``: only these,
    in this order), each logged quantity over the first tenth of training (open marker) and
    the last tenth (filled), averaged over the arm's seeds, one panel per quantity; an arm
    whose log lacks a quantity has no marker in that panel, an arm that logged nothing (no
    RL) no row."""
    import matplotlib
    import numpy as np

    arms = [
        a
        for a in (results if arms is None else arms)
        if a in results and any(r.get("curves") for r in results[a].values())
    ]
    with matplotlib.rc_context(BOOK_STYLE):
        fig = _new_figure(7.0, 1.2 + 0.35 * len(arms) * 2)
        axes = fig.subplots(2, 2, sharey=True).ravel()
        y = np.arange(len(arms))
        for ax, (key, title) in zip(axes, panels.items(), strict=True):
            for i, arm in enumerate(arms):
                runs = [r["curves"][key] for r in results[arm].values() if key in r["curves"]]
                if not runs:
                    continue
                first = float(np.mean([c["first"] for c in runs]))
                last = float(np.mean([c["last"] for c in runs]))
                ax.plot([first, last], [i, i], color="0.6", linewidth=1)
                ax.plot(first, i, "o", mfc="white", mec="C0")
                ax.plot(last, i, "o", color="C0")
            ax.set_title(title, fontsize=9)
            ax.set_yticks(y, arms, fontsize=8)
        axes[0].invert_yaxis()  # the axes share y: the first arm on top in every panel
        fig.suptitle("first tenth of training (open) → last tenth (filled)", fontsize=9)
    return fig
