"""Toy rollout groups: boxes that a model might sample for one prompt, drawn to show what the
rewards and the consistency weight do with a group, without a model.

* :func:`ring_of_misses` — a group of boxes of the target's size around it, every one too far
  to overlap: IoU gives them all 0, so GRPO sees no advantage;
* :func:`consistency_groups` — a coherent group, a scattered one, and two coherent groups of
  which only three or one rollout could be parsed (NaN rows).

Our illustrations, not the paper's. Book chapter: "Rewards and spatial consistency"
(``book/01_rewards.py``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def ring_of_misses(
    target: Sequence[float],
    image_size: Sequence[float],
    num: int,
    rng: np.random.Generator,
    radii_px: tuple[float, float] = (50.0, 110.0),
) -> np.ndarray:
    """``(num, 4)`` boxes of the target's size, their centres spread evenly in angle around
    the target's centre at a distance drawn uniformly from ``radii_px`` (beyond the target's
    size, so none overlaps it), then moved inside the image."""
    target = np.asarray(target, dtype=float)
    size = target[2:] - target[:2]
    angles = np.linspace(0, 2 * np.pi, num, endpoint=False)
    radii = rng.uniform(radii_px[0], radii_px[1], size=num)
    centres = (target[:2] + target[2:]) / 2 + radii[:, None] * np.stack(
        [np.cos(angles), np.sin(angles)], axis=1
    )
    centres = np.clip(centres, size / 2, np.asarray(image_size) - size / 2)
    return np.concatenate([centres - size / 2, centres + size / 2], axis=1)


def consistency_groups(
    target: Sequence[float],
    image_size: Sequence[float],
    num: int,
    rng: np.random.Generator,
    jitter_px: float = 4.0,
) -> dict[str, np.ndarray]:
    """Four toy groups of ``num`` boxes ``(num, 4)``: ``"coherent"`` (the target with normal
    jitter of ``jitter_px``), ``"scattered"`` (boxes of the target's size anywhere in the
    image), ``"3 parsed"`` and ``"1 parsed"`` (the coherent group with all but the first
    three, or one, rollouts unparsable: NaN rows)."""
    target = np.asarray(target, dtype=float)
    size = target[2:] - target[:2]
    coherent = target + rng.normal(0, jitter_px, size=(num, 4))
    corner = np.concatenate(
        [
            rng.uniform(0, image_size[0] - size[0], size=(num, 1)),
            rng.uniform(0, image_size[1] - size[1], size=(num, 1)),
        ],
        axis=1,
    )
    scattered = np.concatenate([corner, corner + size], axis=1)
    three_parsed = coherent.copy()
    three_parsed[3:] = np.nan
    one_parsed = coherent.copy()
    one_parsed[1:] = np.nan
    return {
        "coherent": coherent,
        "scattered": scattered,
        "3 parsed": three_parsed,
        "1 parsed": one_parsed,
    }
