"""Tests of rsground_lib.rewards: literals, TRL's calling convention, and properties."""

from __future__ import annotations

import math
import subprocess
import sys
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rsground_lib import rewards as R

TARGET = [107, 236, 146, 262]


def answer(box) -> str:
    return "<think>t</think><answer>[" + ", ".join(repr(float(v)) for v in box) + "]</answer>"


def trl_kwargs(n, target=TARGET, size=(812, 812)):
    """What GRPOTrainer passes besides the completions: prompts, ids and every column."""
    return {
        "prompts": [[{"role": "user", "content": "x"}]] * n,
        "completion_ids": [[1, 2, 3]] * n,
        "bbox_model": [list(target)] * n,
        "image_size_model": [list(size)] * n,
        "expression": ["the car"] * n,
        "trainer_state": None,
    }


def test_registry_names():
    assert set(R.REWARDS) == {
        "format", "iou", "thresholded_iou", "positional", "gaussian_center", "center_distance",
        "reasoning_agreement",
    }  # fmt: skip
    assert R.get_reward("positional") is R.positional_reward
    with pytest.raises(ValueError, match="known rewards: format, iou, thresholded_iou, positional"):
        R.get_reward("giou")


def test_literal_rewards():
    comps = [
        answer(TARGET),
        answer([v + 4 for v in TARGET]),
        answer([0, 0, 10, 10]),
        "I cannot see it",
        '{"bbox_2d": [107, 236, 146, 262]}',  # parseable, wrong format
    ]
    kw = trl_kwargs(len(comps))
    assert R.format_reward(comps, **kw) == [1.0, 1.0, 1.0, 0.0, 0.0]
    iou = R.iou_reward(comps, **kw)
    assert iou == pytest.approx([1.0, 770 / 1258, 0.0, 0.0, 1.0])
    pos = R.positional_reward(comps, **kw)
    # (DIoU + 1) / 2 with DIoU = 770/1258 - 32/2749 for the +4 shift
    assert pos[0] == 1.0 and pos[3] == 0.0 and pos[4] == 1.0
    assert pos[1] == pytest.approx((770 / 1258 - 32 / 2749 + 1) / 2)
    # a miss: IoU 0, rho^2 = (126.5-5)^2 + (249-5)^2, c^2 = 146^2 + 262^2
    rho2 = (126.5 - 5) ** 2 + (249 - 5) ** 2
    assert pos[2] == pytest.approx((1 - rho2 / (146**2 + 262**2)) / 2)
    assert 0 < pos[2] < 0.5
    gauss = R.gaussian_center_reward(comps, **kw)
    sigma = R.GAUSSIAN_SIGMA_SCALE * math.sqrt(39 * 26)
    assert gauss[1] == pytest.approx(math.exp(-32 / (2 * sigma**2)))
    assert gauss[0] == 1.0 and gauss[3] == 0.0
    cd = R.center_distance_reward(comps, **kw)
    assert cd[1] == pytest.approx(1 - math.sqrt(32) / math.hypot(812, 812))
    assert cd[2] == pytest.approx(1 - math.sqrt(rho2) / math.hypot(812, 812))
    assert cd[3] == 0.0


def test_touching_box_scores_half():
    # same size, touching on the right: IoU 0, rho = w, c = 2w (height equal) -> rho^2/c^2 =
    # w^2 / (4w^2 + 0)... with h: c^2 = (2w)^2 + h^2
    t = [0.0, 0.0, 10.0, 10.0]
    p = [10.0, 0.0, 20.0, 10.0]
    assert R.positional_scores([p], [t])[0] == pytest.approx((1 - 100 / 500) / 2)


def test_chat_completions_are_accepted():
    comps = [[{"role": "assistant", "content": answer(TARGET)}]]
    kw = trl_kwargs(1)
    assert R.format_reward(comps, **kw) == [1.0]
    assert R.positional_reward(comps, **kw) == [1.0]


def test_missing_or_bad_columns_are_value_errors():
    comps = [answer(TARGET)]
    with pytest.raises(ValueError, match="bbox_model"):
        R.iou_reward(comps, prompts=["x"])
    with pytest.raises(ValueError, match=r"shape \(1, 4\)"):
        R.iou_reward(comps, bbox_model=[[1, 2, 3]])
    with pytest.raises(ValueError, match=r"expected shape \(1, 4\)"):
        R.iou_reward(comps, bbox_model=[TARGET, TARGET])
    with pytest.raises(ValueError, match="row 0"):
        R.positional_reward(comps, bbox_model=[[np.nan, 1, 2, 3]])
    with pytest.raises(ValueError, match="image_size_model"):
        R.center_distance_reward(comps, bbox_model=[TARGET])
    with pytest.raises(ValueError, match="positive"):
        R.center_distance_reward(comps, bbox_model=[TARGET], image_size_model=[[0, 10]])


def test_group_rewards_scores_sampled_groups_with_the_registered_rewards():
    # one prompt, a group of 3: the target, a miss, an unparsable completion (what
    # generation.sample_groups returns, outside the trainer)
    texts = [answer(TARGET), answer([0, 0, 10, 10]), "garbage"]
    groups = {
        "texts": [texts],
        "boxes": np.array([[TARGET, [0, 0, 10, 10], [np.nan] * 4]], dtype=float),
        "bbox_model": np.array([TARGET], dtype=float),
        "image_size_model": np.array([[100.0, 100.0]]),
    }
    got = R.group_rewards(groups, ["format", "iou"])
    assert list(got) == ["format", "iou"] and got["iou"].shape == (1, 3)
    assert got["format"].tolist() == [[1.0, 1.0, 0.0]]
    assert got["iou"].tolist() == [[1.0, 0.0, 0.0]]
    # the default is the recipe's rewards, the RFT trainer's default reward_funcs
    assert list(R.group_rewards(groups)) == list(R.DEFAULT_REWARD_FUNCS)
    with pytest.raises(ValueError, match="known rewards"):
        R.group_rewards(groups, ["accuracy"])


def test_import_is_light():
    code = (
        "import sys, rsground_lib.rewards, rsground_lib.consistency, rsground_lib.metrics;"
        "heavy = [m for m in ('torch', 'transformers', 'trl', 'pandas') if m in sys.modules];"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


# ----------------------------------------------------------------------------- properties

finite = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)
target_box = st.lists(finite, min_size=4, max_size=4)  # any finite box: swapped, flat, …
completion = st.one_of(
    st.text(max_size=80),
    st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=0, max_size=6).map(
        lambda v: "<think>x</think><answer>[" + ", ".join(map(repr, v)) + "]</answer>"
    ),
    st.lists(finite, min_size=4, max_size=4).map(answer),
)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(completion, target_box), min_size=1, max_size=6),
    st.tuples(st.integers(1, 5000), st.integers(1, 5000)),
)
def test_every_reward_is_finite_and_in_range(rows, size):
    comps = [c for c, _ in rows]
    kw = {"bbox_model": [t for _, t in rows], "image_size_model": [list(size)] * len(rows)}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning from numpy either
        for name, func in R.REWARDS.items():
            values = func(comps, **kw)
            assert len(values) == len(comps)
            assert all(isinstance(v, float) and math.isfinite(v) for v in values), name
            assert all(0.0 <= v <= 1.0 for v in values), (name, values)


@settings(max_examples=200, deadline=None)
@given(
    st.floats(1, 500),  # target width
    st.floats(1, 500),  # target height
    st.floats(0, 2 * math.pi),  # direction
    st.floats(0.01, 50),  # start distance beyond touching, in units of the box size
    st.floats(1, 200),  # step in pixels
)
def test_positional_decreases_along_a_ray(w, h, angle, start, step):
    """The point of the reward: a same-size box that misses keeps scoring lower as it moves
    away from the target, while its IoU stays 0."""
    t = np.array([1000.0, 1000.0, 1000.0 + w, 1000.0 + h])
    ux, uy = math.cos(angle), math.sin(angle)
    # distance at which the moved box no longer overlaps, then further along the ray
    d0 = min(
        w / abs(ux) if abs(ux) > 1e-12 else math.inf, h / abs(uy) if abs(uy) > 1e-12 else math.inf
    )
    d = d0 * (1 + start) + np.arange(4) * step
    preds = t + np.stack([d * ux, d * uy, d * ux, d * uy], axis=1)
    pos = R.positional_scores(preds, t)
    assert np.all(R.iou_scores(preds, t) == 0.0)
    assert np.all(pos > 0.0)
    assert np.all(np.diff(pos) < 0.0), pos
    # and the TRL function agrees on the same boxes written as text
    comps = [answer(p) for p in preds]
    via_text = R.positional_reward(comps, bbox_model=[t.tolist()] * 4)
    np.testing.assert_allclose(via_text, pos, rtol=1e-12)


@settings(max_examples=100, deadline=None)
@given(st.lists(finite, min_size=4, max_size=4), st.lists(finite, min_size=4, max_size=4))
def test_array_scores_match_the_text_rewards(p, t):
    kw = {"bbox_model": [t], "image_size_model": [[640, 480]]}
    comps = [answer(p)]
    parsed = R.parse_completions(comps)
    assert R.iou_reward(comps, **kw) == pytest.approx(R.iou_scores(parsed, [t]).tolist())
    assert R.positional_reward(comps, **kw) == pytest.approx(
        R.positional_scores(parsed, [t]).tolist()
    )


def test_array_scores_with_unparsed_rows():
    pred = np.array([TARGET, [np.nan] * 4, [np.inf, 0, 1, 1]], dtype=float)
    for f in (R.iou_scores, R.positional_scores, R.gaussian_center_scores):
        out = f(pred, TARGET)
        assert out.tolist()[1:] == [0.0, 0.0] and out[0] == 1.0
    out = R.center_distance_scores(pred, TARGET, (812, 812))
    assert out.tolist() == [1.0, 0.0, 0.0]


def test_center_distance_with_per_row_sizes_beyond_one_chunk():
    """Per-row image sizes are sliced with the boxes (regression: > CHUNK_ROWS rows crashed)."""
    n = 9000
    t = np.tile([10.0, 10.0, 20.0, 20.0], (n, 1))
    sizes = np.tile([100.0, 100.0], (n, 1))
    sizes[-1] = [300.0, 400.0]  # diagonal 500
    out = R.center_distance_scores(t + [3.0, 4.0, 3.0, 4.0], t, sizes)  # centre moved by 5 px
    assert out.shape == (n,)
    assert out[0] == pytest.approx(1 - 5 / np.hypot(100, 100))
    assert out[-1] == pytest.approx(1 - 5 / 500)


def test_thresholded_iou_steps_at_point_three_and_point_five():
    t = np.array([[0, 0, 10, 10.0]] * 5)
    # IoU 1, 0.5, 0.35, 0.25 (boxes of height 10, 5, 3.5, 2.5 inside the target), unparsable
    p = np.array([[0, 0, 10, 10.0], [0, 0, 10, 5], [0, 0, 10, 3.5], [0, 0, 10, 2.5], [np.nan] * 4])
    assert R.thresholded_iou_scores(p, t).tolist() == pytest.approx([1.0, 0.5, 0.28, 0.0, 0.0])
    texts = ["<answer>[0, 0, 10, 5]</answer>", "no box"]
    assert R.get_reward("thresholded_iou")(texts, bbox_model=[[0, 0, 10, 10]] * 2) == pytest.approx(
        [0.5, 0.0]
    )
