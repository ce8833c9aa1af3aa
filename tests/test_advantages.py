from __future__ import annotations

import numpy as np
import pytest
import torch

from rsground_lib import advantages


def test_equal_rewards_give_zero_advantage():
    adv = advantages.group_advantages([[0.0, 0.0, 0.0, 0.0], [0.2, 0.9, 0.2, 0.9]])
    assert np.all(adv[0] == 0.0)
    # mean 0.55, sample std sqrt(4/3 * 0.1225) = 0.40415; (0.9 - 0.55) / (0.40415 + 1e-4) = 0.86581
    assert adv[1] == pytest.approx([-0.86581, 0.86581, -0.86581, 0.86581], abs=1e-5)


def test_flat_batch_in_trl_order():
    flat = [1.0, 0.0, 0.5, 0.5]
    assert np.allclose(
        advantages.group_advantages(flat, 2), advantages.group_advantages([[1.0, 0.0], [0.5, 0.5]])
    )
    with pytest.raises(ValueError, match="num_generations"):
        advantages.group_advantages(flat, 3)


def test_matches_trl_formula_on_random_rewards():
    """TRL 1.x: A = (r - mean_group) / (nanstd_group + 1e-4), nanstd with Bessel's correction."""
    from trl.trainer.utils import nanstd

    rng = np.random.default_rng(0)
    r = rng.random((5, 8))
    t = torch.tensor(r)
    mean = t.mean(dim=1, keepdim=True)
    std = nanstd(t, dim=1).unsqueeze(1)
    expected = ((t - mean) / (std + 1e-4)).numpy()
    assert np.allclose(advantages.group_advantages(r), expected, atol=1e-12)
    assert np.allclose(
        advantages.group_advantages(r, scale="none"), r - r.mean(axis=1, keepdims=True)
    )


def test_nan_rewards_are_left_out_and_get_zero():
    adv = advantages.group_advantages([[1.0, np.nan, 0.0]])
    # mean 0.5, sample std of [1, 0] = 0.70711
    assert adv[0] == pytest.approx([0.5 / (0.70711 + 1e-4), 0.0, -0.5 / (0.70711 + 1e-4)], abs=1e-4)


def test_weights_scale_each_group():
    # two groups of G = 2, flat as the trainer holds them; one process holds all four
    adv = np.array([1.0, -1.0, 2.0, -2.0])
    weighted = advantages.apply_group_weights(adv, [0.5, 1.0], num_generations=2)
    assert weighted.tolist() == [0.5, -0.5, 2.0, -2.0]
    # the second of two processes holds the second group only
    assert advantages.apply_group_weights(
        np.array([2.0, -2.0]), [0.5, 1.0], num_generations=2, process_index=1
    ).tolist() == [2.0, -2.0]
    with pytest.raises(ValueError, match="only 2 completions were gathered"):
        advantages.apply_group_weights(adv, [0.5], num_generations=2)
    with pytest.raises(ValueError, match=r"weights: expected \(B,\)"):
        advantages.apply_group_weights(adv, [[0.5, 1.0]], num_generations=2)
