"""Figures build without global state, and their data say what the book claims."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest
from PIL import Image

from rsground_lib import plotting

TARGET = [62.0, 48.0, 102.0, 76.0]
SIZE = (224, 224)


def test_no_rcparams_changed_and_pipeline_figure_has_the_three_stages():
    before = dict(matplotlib.rcParams)
    fig = plotting.pipeline_figure()
    texts = " ".join(t.get_text() for t in fig.axes[0].texts)
    for stage in ("CoT-SFT", "RFT (GRPO)", "Spatial", "Evaluation"):
        assert stage in texts
    assert dict(matplotlib.rcParams) == before


@pytest.mark.parametrize("name", ["iou", "positional", "gaussian_center", "center_distance"])
def test_reward_grid_peaks_at_the_target_centre(name):
    xs, ys, z = plotting.reward_grid(name, TARGET, SIZE, step_px=2.0)
    j, i = np.unravel_index(np.argmax(z), z.shape)
    assert (xs[i], ys[j]) == (82.0, 62.0)  # centre of the target
    assert z[j, i] == pytest.approx(1.0)


def test_iou_is_flat_zero_far_away_where_positional_is_not():
    _, _, iou = plotting.reward_grid("iou", TARGET, SIZE, step_px=4.0)
    _, _, pos = plotting.reward_grid("positional", TARGET, SIZE, step_px=4.0)
    assert iou[-1, -1] == 0.0 and pos[-1, -1] > 0.1
    # same-size boxes overlap iff |dx| < 40 and |dy| < 28: about (80/224)*(56/224) of centres
    assert (iou > 0).mean() == pytest.approx((80 / 224) * (56 / 224), abs=0.02)


def test_unknown_reward_name_is_an_error():
    with pytest.raises(ValueError, match="unknown reward"):
        plotting.reward_grid("dice", TARGET, SIZE)


def test_show_figure_displays_the_png_it_saves_where_it_is_called(tmp_path, monkeypatch):
    import IPython.display

    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda *objs: shown.extend(objs))
    result = plotting.show_figure(plotting.weight_curves(), tmp_path / "f" / "w.png")
    path = tmp_path / "f" / "w.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert result is None  # a cell ending with the call shows the figure once
    assert len(shown) == 1 and shown[0].data == path.read_bytes()


def test_rollout_groups_skips_unparsable_rows():
    group = np.array([TARGET, [np.nan] * 4, [0, 0, 10, 10]], dtype=float)
    fig = plotting.rollout_groups({"g": group}, TARGET, SIZE, scores=[0.1], weights=[0.6])
    ax = fig.axes[0]
    assert len(ax.patches) == 3  # target + two parsable boxes
    assert "w = 0.60" in ax.get_title()


def _texts(fig):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.text import Text

    FigureCanvasAgg(fig).draw()  # tick labels exist once drawn
    return [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]


def test_multi_panel_figures_are_readable_at_the_book_width():
    """Multi-panel figures (box statistics, rollout groups, scene and prediction galleries)
    stay within the column width and no text is smaller than MIN_FONT_PT (the five-panel
    figure had ~6-px labels at page width, the galleries 7-pt titles on 10-inch figures)."""
    rng = np.random.default_rng(0)
    centres = rng.uniform(100, 700, (50, 2))
    boxes = np.hstack([centres - 20, centres + 20])
    sizes = np.full((50, 2), 800.0)
    figures = [
        plotting.box_statistics({f"set {k}": (boxes, sizes) for k in range(4)}),
        plotting.rollout_groups({f"g{k}": np.array([TARGET] * 3, float) for k in range(4)},
                                TARGET, SIZE, scores=[0.1] * 4, weights=[0.6] * 4),
    ]  # fmt: skip
    scene = {"image": np.zeros((64, 64, 3), np.uint8), "bbox": [8, 8, 20, 20],
             "expression": "the leftmost storage tank next to the largest ship on the river"}  # fmt: skip
    log = [{"step": i, "rewards/iou_reward/mean": 0.1 * i, "kl": 0.01, "parse_rate": 1.0}
           for i in range(1, 30)]  # fmt: skip
    figures += [
        plotting.scene_gallery([scene] * 6),
        plotting.prediction_gallery([scene] * 3, {"m": [[8, 8, 20, 20]] * 3}),
        plotting.rft_curves(log),
        plotting.rollout_groups(
            {
                "a": np.array([[8, 8, 20, 20]] * 3, float),
                "b": np.array([[30, 30, 40, 40]] * 3, float),
            },
            [[8, 8, 20, 20], [30, 30, 40, 40]],
            (64, 64),
            images=[Image.new("RGB", (64, 64))] * 2,
        ),  # fmt: skip
        plotting.raster_panels(
            [
                {
                    "image": np.zeros((64, 64, 3), np.uint8),
                    "title": "a raster " * 8,
                    "answers": [([8, 8, 20, 20], 1)],
                }
            ]
            * 3
        ),  # fmt: skip
    ]
    for fig in figures:
        assert fig.get_figwidth() <= plotting.BOOK_WIDTH_IN
        small = [(t.get_text(), t.get_fontsize()) for t in _texts(fig)
                 if t.get_fontsize() < plotting.MIN_FONT_PT]  # fmt: skip
        assert small == []
    # box_statistics: a colour bar per heat map, so the colours have a scale
    assert sum(ax.get_label() == "<colorbar>" for ax in figures[0].axes) == 4


def test_rft_curves_draw_the_logged_keys_only():
    log = [{"step": i, "kl": 0.01 * i, "parse_rate": 1.0} for i in range(1, 30)]
    fig = plotting.rft_curves(log, smooth=5)
    titles = [ax.get_title() for ax in fig.axes if ax.get_visible()]
    assert titles == ["answers", "KL to the start model"]  # panels without a logged key: absent
    with pytest.raises(ValueError, match="no logged key"):
        plotting.rft_curves([{"step": 1, "loss": 0.1}])


def test_raster_panels_draws_each_box_kind_scaled_to_the_preview():
    from matplotlib.patches import Rectangle

    panel = {
        "image": np.zeros((50, 100, 3), np.uint8),
        "scale": 0.5,  # a 200 x 100 raster drawn at half size
        "windows": [(0, 0, 100, 100), (100, 0, 100, 100)],
        "skipped": [(100, 0, 100, 100)],
        "objects": [[10, 10, 30, 30]],
        "targets": [[10, 10, 30, 30]],
        "answers": [([120, 40, 160, 80], 1)],
    }
    fig = plotting.raster_panels([panel], ncols=1)
    ax = fig.axes[0]
    rects = [
        (r.get_x(), r.get_y(), r.get_width(), r.get_height())
        for r in ax.patches
        if isinstance(r, Rectangle)
    ]
    # 2 windows + 1 skipped + 1 object + 1 target + 1 answer, in preview pixels (x 0.5)
    assert len(rects) == 6
    assert (60.0, 20.0, 20.0, 20.0) in rects and (50.0, 0.0, 50.0, 50.0) in rects
    assert [t.get_text() for t in ax.texts] == ["1"]
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels == ["windows", "skipped (nodata)", "labelled objects", "target", "answers (rank)"]
    with pytest.raises(ValueError, match="no panels"):
        plotting.raster_panels([])
