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

from rsground_lib import consistency

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


def all_equal_fraction(rewards_grouped: np.ndarray) -> float:
    """The share of groups ``(B, G)`` whose rewards are all equal (to float tolerance, as TRL's
    ``frac_reward_zero_std``): groups with no advantage, hence no learning signal."""
    r = np.asarray(rewards_grouped, dtype=np.float64)
    if r.ndim != 2 or r.shape[0] == 0:
        raise ValueError(f"rewards_grouped: expected (B, G) with B >= 1; got shape {r.shape}")
    spread = np.nanmax(r, axis=1) - np.nanmin(r, axis=1)
    return float(np.mean(np.isclose(spread, 0.0, atol=1e-8)))


def apply_group_weights(advantages, weights, *, num_generations: int, process_index: int = 0):
    """This process's advantages ``(n,)`` (TRL's, already sliced to the process: a torch
    tensor or an array) multiplied by their groups' consistency weights ``(B,)`` — the
    spatial-consistency guided update (our reading of the paper).

    Groups are ``num_generations`` consecutive completions of the step, gathered across
    processes in TRL's order (process 0's ``n`` rows, then process 1's, …), so a group may
    span two processes; each completion gets its group's weight and this process keeps rows
    ``process_index·n … (process_index+1)·n``, the slice TRL takes of the advantages. A
    weight that is NaN, infinite or negative is a ValueError naming its group (it would
    silently turn the group's update into NaN or reverse it); fewer gathered completions than
    the slice needs is a ValueError too."""
    w = np.asarray(weights, dtype=np.float64)
    n = int(advantages.shape[0])
    if w.ndim != 1:
        raise ValueError(f"weights: expected (B,), one per group; got shape {w.shape}")
    bad = ~(np.isfinite(w) & (w >= 0))
    if bad.any():
        g = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"weights[{g}] = {w[g]}: a consistency weight must be a finite number >= 0 "
            "(consistency.update_weight gives values in [w_min, 1])"
        )
    if (process_index + 1) * n > w.shape[0] * num_generations:
        raise ValueError(
            f"process {process_index} holds {n} advantages but only "
            f"{w.shape[0] * num_generations} completions were gathered"
        )
    per_completion = np.repeat(w, num_generations)[process_index * n : (process_index + 1) * n]
    if hasattr(advantages, "new_tensor"):  # a torch tensor: the factor on its dtype and device
        return advantages * advantages.new_tensor(per_completion)
    return np.asarray(advantages, dtype=np.float64) * per_completion


def weight_local_advantages(
    advantages,
    boxes_all,
    sizes_all,
    *,
    num_generations: int,
    process_index: int,
    kappa: float,
    w_min: float,
    score: str = "center_dispersion",
):
    """``(weighted, scores, weights)``: what :class:`rsground_lib.training.rft.
    ConsistencyGRPOTrainer` does to each step's advantages. ``boxes_all`` ``(N, 4)`` are the
    parsed boxes of every completion of the step, gathered across processes in TRL's order
    (NaN rows unparsable), ``sizes_all`` ``(N, 2)`` their model-input sizes; each group's
    coherence score and weight are :func:`rsground_lib.consistency.group_weights` and
    :func:`apply_group_weights` scales this process's ``advantages`` by them. Our reading of
    the paper (design page, "Rewards and the consistency weight")."""
    boxes_all = np.asarray(boxes_all, dtype=np.float64)
    sizes_all = np.asarray(sizes_all, dtype=np.float64)
    if sizes_all.shape != (boxes_all.shape[0], 2):
        raise ValueError(
            f"sizes_all: expected ({boxes_all.shape[0]}, 2), one size per completion; got {sizes_all.shape}"
        )
    n = int(advantages.shape[0])
    if (process_index + 1) * n > boxes_all.shape[0]:
        raise ValueError(
            f"process {process_index} holds {n} advantages but only {boxes_all.shape[0]} "
            "completions were gathered"
        )
    groups = consistency.groups_from_flat(boxes_all, num_generations)
    scores, weights = consistency.group_weights(
        groups, sizes_all[::num_generations], kappa=kappa, w_min=w_min, score=score
    )
    weighted = apply_group_weights(
        advantages, weights, num_generations=num_generations, process_index=process_index
    )
    return weighted, scores, weights
