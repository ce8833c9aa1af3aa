"""Figures build without global state, and their data say what the book claims."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest

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


def test_show_figure_saves_the_png_it_displays(tmp_path):
    img = plotting.show_figure(plotting.weight_curves(), tmp_path / "f" / "w.png")
    path = tmp_path / "f" / "w.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert img.data == path.read_bytes()


def test_rollout_groups_skips_unparsable_rows():
    group = np.array([TARGET, [np.nan] * 4, [0, 0, 10, 10]], dtype=float)
    fig = plotting.rollout_groups({"g": group}, TARGET, SIZE, scores=[0.1], weights=[0.6])
    ax = fig.axes[0]
    assert len(ax.patches) == 3  # target + two parsable boxes
    assert "w = 0.60" in ax.get_title()
