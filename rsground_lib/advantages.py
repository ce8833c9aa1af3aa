"""GRPO's group-relative advantages, and their scaling by the spatial-consistency weight.

For each prompt GRPO samples a group of ``G`` completions and scores them; a completion's
advantage is its reward relative to its group (DeepSeekMath's GRPO, the RL stage of
RSGround-R1):

    ``A_i = (r_i − mean_j r_j) / (std_j r_j + eps)``

This mirrors TRL's ``GRPOTrainer`` (``scale_rewards`` = ``"group"``, ``"batch"`` or
``"none"``; sample standard deviation with Bessel's correction; ``eps = 1e-4``), so the book
can show, without a model, why a group whose rewards are all equal — a group of misses under
an IoU-only reward — has no advantage and therefore no learning signal. The consistency
weight multiplies a group's advantages (our reading of the paper: design page, "Rewards and the
consistency weight").

Book chapter: "Rewards and spatial consistency" (``book/01_rewards.py``).
"""

from __future__ import annotations

import numpy as np

TRL_EPS = 1e-4
"""TRL's constant in ``A / (std + eps)``."""

SCALES = ("group", "batch", "none")


def _grouped(rewards, num_generations: int | None) -> np.ndarray:
    r = np.asarray(rewards, dtype=np.float64)
    if r.ndim == 1:
        if not num_generations or r.shape[0] % num_generations:
            raise ValueError(
                f"rewards: a flat batch of {r.shape[0]} needs num_generations dividing it; "
                f"got num_generations={num_generations!r}"
            )
        r = r.reshape(-1, num_generations)
    if r.ndim != 2 or r.shape[1] < 1:
        raise ValueError(f"rewards: expected (B, G) or a flat (B*G,) batch; got shape {r.shape}")
    infinite = np.isinf(r)
    if infinite.any():
        g, i = (int(v) for v in np.argwhere(infinite)[0])
        raise ValueError(
            f"rewards[{g}][{i}] = {r[g, i]}: a reward must be finite (NaN marks an unscorable "
            "completion); an infinite one would make every advantage of its group ±inf or 0"
        )
    return r


def _sample_std(x: np.ndarray, axis=None) -> np.ndarray:
    n = np.sum(~np.isnan(x), axis=axis, keepdims=True)
    mean = np.nanmean(x, axis=axis, keepdims=True)
    var = np.nanmean((x - mean) ** 2, axis=axis, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        var = np.where(n > 1, var * n / (n - 1), np.nan)
    return np.sqrt(var)


def group_advantages(
    rewards, num_generations: int | None = None, *, scale: str = "group", eps: float = TRL_EPS
) -> np.ndarray:
    """Group-relative advantages ``(B, G)`` from rewards ``(B, G)`` (or a flat ``(B·G,)``
    batch in TRL's order, prompt by prompt, with ``num_generations``), as TRL computes them.

    A group whose rewards are all equal gets advantages of 0 (up to float rounding, ~1e-13,
    as in TRL). NaN rewards
    (unscorable) are left out of the mean and std and get advantage 0, as in TRL. An
    infinite reward is a ValueError naming its group and index.
    """
    if scale not in SCALES:
        raise ValueError(f"scale: expected one of {SCALES}; got {scale!r}")
    r = _grouped(rewards, num_generations)
    with np.errstate(invalid="ignore"):
        mean = (
            np.nanmean(r, axis=1, keepdims=True)
            if np.isfinite(r).any()
            else np.zeros((r.shape[0], 1))
        )
    adv = r - mean
    if scale == "group":
        adv = adv / (np.nan_to_num(_sample_std(r, axis=1), nan=0.0) + eps)
    elif scale == "batch":
        adv = adv / (np.nan_to_num(_sample_std(r), nan=0.0) + eps)
    return np.nan_to_num(adv, nan=0.0)


def weighted_advantages(advantages, weights) -> np.ndarray:
    """Scale each group's advantages ``(B, G)`` by its consistency weight ``(B,)`` — the
    spatial-consistency guided update (our reading of the paper). A weight that is NaN,
    infinite or negative is a ValueError naming its group (it would silently turn the
    group's update into NaN or reverse it)."""
    a = np.asarray(advantages, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    if a.ndim != 2 or w.shape != (a.shape[0],):
        raise ValueError(
            f"expected advantages (B, G) and weights (B,); got {a.shape} and {w.shape}"
        )
    bad = ~(np.isfinite(w) & (w >= 0))
    if bad.any():
        g = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"weights[{g}] = {w[g]}: a consistency weight must be a finite number >= 0 "
            "(consistency.update_weight gives values in [w_min, 1])"
        )
    return a * w[:, None]
