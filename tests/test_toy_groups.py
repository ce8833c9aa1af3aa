"""The toy rollout groups of the Rewards chapter (:mod:`rsground_lib.data.toy_groups`)."""

from __future__ import annotations

import numpy as np

from rsground_lib import boxes
from rsground_lib.data import toy_groups

TARGET = [62.0, 48.0, 102.0, 76.0]


def test_a_ring_of_misses_keeps_the_target_size_and_never_overlaps_it():
    group = toy_groups.ring_of_misses(TARGET, (224, 224), 8, np.random.default_rng(0))
    assert group.shape == (8, 4)
    assert np.allclose(group[:, 2:] - group[:, :2], [40.0, 28.0])  # the target's size
    assert all(boxes.iou(b, TARGET) == 0.0 for b in group)
    assert (group[:, :2] >= 0).all() and (group[:, 2:] <= 224).all()  # inside the image


def test_consistency_groups_parsed_rows():
    groups = toy_groups.consistency_groups(TARGET, (224, 224), 8, np.random.default_rng(0))
    assert list(groups) == ["coherent", "scattered", "3 parsed", "1 parsed"]
    parsed = {k: int(np.isfinite(g).all(axis=1).sum()) for k, g in groups.items()}
    assert parsed == {"coherent": 8, "scattered": 8, "3 parsed": 3, "1 parsed": 1}
    assert np.abs(groups["coherent"] - TARGET).max() < 20  # 4-px jitter: within 5 sigma
    assert np.allclose(groups["scattered"][:, 2:] - groups["scattered"][:, :2], [40.0, 28.0])
