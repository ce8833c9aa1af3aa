"""Tests of rsground_lib.consistency: coherence scores and the update weight."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rsground_lib import consistency as C

SIZE = (100, 100)
DIAG = math.hypot(100, 100)


def test_center_dispersion_literal():
    # centres (5,5), (15,5), (5,15); mean (25/3, 25/3); squared distances 200/9, 500/9,
    # 500/9 -> mean 400/9 -> RMS 20/3 px, over the diagonal 100*sqrt(2)
    group = [[0, 0, 10, 10], [10, 0, 20, 10], None, [0, 10, 10, 20]]
    assert C.center_dispersion(group, SIZE) == pytest.approx((20 / 3) / DIAG)
    # identical boxes: 0
    assert C.center_dispersion([[1, 2, 3, 4]] * 5, SIZE) == 0.0
    # two opposite corners of the image: RMS = half the diagonal -> 0.5
    assert C.center_dispersion([[0, 0, 0, 0], [100, 100, 100, 100]], SIZE) == pytest.approx(0.5)


def test_mean_pairwise_iou_literal():
    # pairs: (a,b) IoU 0, (a,c) IoU 50/150 = 1/3, (b,c) IoU 0 -> mean 1/9 -> score 8/9
    a, b, c = [0, 0, 10, 10], [20, 0, 30, 10], [0, 5, 10, 15]
    assert C.mean_pairwise_iou([a, b, c]) == pytest.approx(1 - 1 / 9)
    assert C.mean_pairwise_iou([a, a, a]) == 0.0
    assert C.mean_pairwise_iou([a, b]) == 1.0
    # unparsable boxes are left out of the pairs
    assert C.mean_pairwise_iou([a, None, c, [np.nan] * 4]) == pytest.approx(1 - 1 / 3)


def test_too_few_parsed_boxes():
    for score in C.SCORES.values():
        assert score([None, None, None], SIZE) == C.TOO_FEW_SCORE == 1.0
        assert score([[1, 2, 3, 4], None], SIZE) == 1.0
        assert score(np.full((4, 4), np.nan), SIZE) == 1.0
        assert score([[1, 2, 3, 4], None], SIZE, score_if_too_few=0.0) == 0.0
    with pytest.raises(ValueError, match="score_if_too_few"):
        C.center_dispersion([None, None], SIZE, score_if_too_few=-1)


def test_batched_equals_per_group():
    rng = np.random.default_rng(0)
    groups = rng.uniform(0, 100, (6, 8, 4))
    groups[..., 2:] = groups[..., :2] + rng.uniform(1, 30, (6, 8, 2))
    groups[1, :7] = np.nan  # one parsed box
    groups[2, ::2] = np.nan  # half parsed
    sizes = rng.uniform(100, 1000, (6, 2))
    for name, score in C.SCORES.items():
        batched = score(groups, sizes)
        assert batched.shape == (6,)
        single = [score(g, s) for g, s in zip(groups, sizes, strict=True)]
        np.testing.assert_allclose(batched, single, err_msg=name)
        assert batched[1] == 1.0
    lists = [[None if np.isnan(b).any() else list(b) for b in g] for g in groups]
    np.testing.assert_allclose(
        C.center_dispersion(lists, sizes), C.center_dispersion(groups, sizes)
    )


def test_update_weight():
    assert C.update_weight(0.3, kappa=2.0, w_min=0.1) == pytest.approx(math.exp(-0.6))
    assert C.update_weight(10.0, kappa=2.0, w_min=0.1) == 0.1
    assert C.update_weight(0.0, kappa=5.0, w_min=0.0) == 1.0
    # kappa = 0 turns the weight off
    assert C.update_weight(123.0, kappa=0.0, w_min=0.5) == 1.0
    w = C.update_weight(np.array([0.0, 0.5, 1.0]), kappa=1.0, w_min=0.5)
    np.testing.assert_allclose(w, [1.0, math.exp(-0.5), 0.5])
    assert isinstance(C.update_weight(0.1, 1.0, 0.0), float)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"kappa": -1.0, "w_min": 0.1}, "kappa"),
        ({"kappa": float("nan"), "w_min": 0.1}, "kappa"),
        ({"kappa": 1.0, "w_min": 1.5}, "w_min"),
        ({"kappa": 1.0, "w_min": -0.1}, "w_min"),
    ],
)
def test_update_weight_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        C.update_weight(0.1, **kwargs)


def test_group_weights_and_flat_batches():
    flat = [[0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 10, 10], None, [50, 50, 60, 60], [0, 0, 1, 1]]
    groups = C.groups_from_flat(flat, num_generations=3)
    assert groups.shape == (2, 3, 4)
    scores, weights = C.group_weights(groups, SIZE, kappa=4.0, w_min=0.2)
    assert scores[0] == 0.0 and weights[0] == 1.0
    assert scores[1] > 0 and weights[1] == pytest.approx(max(math.exp(-4 * scores[1]), 0.2))
    s2, w2 = C.group_weights(groups, SIZE, kappa=4.0, w_min=0.2, score="mean_pairwise_iou")
    assert s2[0] == 0.0 and s2[1] == 1.0 and w2[1] == pytest.approx(max(math.exp(-4), 0.2))
    with pytest.raises(ValueError, match="num_generations"):
        C.groups_from_flat(flat, num_generations=4)
    with pytest.raises(ValueError, match="known scores"):
        C.group_score(groups, SIZE, score="variance")


def test_bad_inputs():
    with pytest.raises(ValueError, match="x1, y1, x2, y2"):
        C.center_dispersion([[1, 2, 3]], SIZE)
    with pytest.raises(ValueError, match="width, height"):
        C.center_dispersion([[1, 2, 3, 4]] * 2, (0, 10))
    with pytest.raises(ValueError, match="group"):
        C.center_dispersion(np.zeros((2, 3, 4)), np.ones((3, 2)))
    with pytest.raises(ValueError, match="same G"):
        C.center_dispersion([[[1, 2, 3, 4]], [[1, 2, 3, 4], [1, 2, 3, 4]]], SIZE)


box = st.tuples(st.floats(0, 1000), st.floats(0, 1000), st.floats(0, 300), st.floats(0, 300)).map(
    lambda v: [v[0], v[1], v[0] + v[2], v[1] + v[3]]
)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.one_of(st.none(), box), min_size=1, max_size=10), st.floats(0, 50), st.floats(0, 1)
)
def test_scores_and_weights_are_bounded(group, kappa, w_min):
    for name, score in C.SCORES.items():
        s = score(group, (1300, 1300))
        assert math.isfinite(s) and 0.0 <= s <= 1.0, name
        w = C.update_weight(s, kappa, w_min)
        assert w_min <= w <= 1.0
        # the weight never increases when the score grows
        assert C.update_weight(s + 0.1, kappa, w_min) <= w
