"""Spatial consistency: how coherent a rollout group's boxes are, and the update weight.

For each prompt GRPO samples ``G`` completions. Their parsed boxes form a group
``(G, 4)`` (a NaN row, or ``None`` in a list, for a completion that cannot be parsed). A
*coherence score* — bigger means less coherent for every score here — turns into a weight

    ``w = clip(exp(−κ · score), w_min, 1)``

that multiplies the group's advantages (design page, "Rewards and the consistency weight"; our
reading of the paper, whose formula is not public). ``κ = 0`` gives ``w = 1`` (off).

Scores (:data:`SCORES`):

``center_dispersion`` (default)
    RMS distance of the parsed boxes' centres from their mean centre, divided by the image
    diagonal: ``sqrt(mean_i ‖c_i − c̄‖²) / sqrt(W² + H²)``. 0 when all centres coincide; at
    most 0.5 while the centres lie inside the image (half the points in one corner, half in
    the opposite one).
``mean_pairwise_iou``
    ``1 − mean_{i<j} IoU(b_i, b_j)`` over the pairs of parsed boxes, in [0, 1]: 0 when all
    boxes are identical, 1 when no two overlap.

Unparsable completions: both scores are computed over the parsed boxes only. A group with
fewer than two parsed boxes has no spatial agreement to measure and gets
``score_if_too_few`` (default :data:`TOO_FEW_SCORE` = 1.0, i.e. maximally incoherent — above
any centre dispersion of boxes inside the image), so its weight falls to
``max(exp(−κ), w_min)``. Such a group's advantages are driven by the format reward only.

Book chapter: "Rewards and spatial consistency" (``book/01_rewards.py``).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from rsground_lib import boxes

TOO_FEW_SCORE = 1.0
"""Score of a group with fewer than two parsed boxes (our choice; see the module notes)."""


def as_groups(groups) -> np.ndarray:
    """Boxes of one group ``(G, 4)`` or of many groups ``(B, G, 4)`` as a float array with NaN
    rows for unparsable completions.

    Accepts arrays (rows with any non-finite value, or one beyond
    :data:`rsground_lib.boxes.MAX_ABS_COORD` as the parser refuses it, count as unparsable
    and become all-NaN)
    or nested lists where an unparsable box is ``None``. Anything else — a box without
    four numbers, ragged groups — is a ValueError. (Plumbing; unparsable handling is our
    choice, see the module notes.)
    """
    if isinstance(groups, np.ndarray):
        try:
            arr = groups.astype(np.float64, copy=True)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"boxes: expected a numeric array; got dtype {groups.dtype}") from exc
    else:
        arr = _from_nested(groups)
    if arr.ndim not in (2, 3) or arr.shape[-1] != 4:
        raise ValueError(
            f"boxes: expected one group (G, 4) or groups (B, G, 4) of [x1, y1, x2, y2]; got shape {arr.shape}"
        )
    with np.errstate(invalid="ignore"):  # NaN rows compare False
        usable = np.all(np.isfinite(arr) & (np.abs(arr) <= boxes.MAX_ABS_COORD), axis=-1)
    arr[~usable] = np.nan
    return arr


def _from_nested(groups) -> np.ndarray:
    def row(box):
        if box is None:
            return [np.nan] * 4
        vals = list(box)
        if len(vals) != 4:
            raise ValueError(f"boxes: expected [x1, y1, x2, y2] or None; got {box!r}")
        return [float(v) for v in vals]

    try:
        seq = list(groups)
        if seq and all(b is None or _is_box_like(b) for b in seq):
            return np.asarray([row(b) for b in seq], dtype=np.float64)
        return np.asarray([[row(b) for b in g] for g in seq], dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            "boxes: expected a (G, 4) / (B, G, 4) array or lists of [x1, y1, x2, y2] / None "
            "with the same G in every group"
        ) from exc


def _is_box_like(b) -> bool:
    try:
        vals = list(b)
    except TypeError:
        return False
    return len(vals) == 4 and all(np.isscalar(v) for v in vals)


def _sizes(image_size, batch_shape: tuple[int, ...]) -> np.ndarray:
    s = np.asarray(image_size, dtype=np.float64)
    if s.shape[-1:] != (2,) or not np.all(np.isfinite(s) & (s > 0)):
        raise ValueError(
            f"image_size: expected positive (width, height), or one per group (B, 2); got {image_size!r}"
        )
    try:
        return np.broadcast_to(s, batch_shape + (2,))
    except ValueError as exc:
        raise ValueError(
            f"image_size: shape {s.shape} does not match {batch_shape[0] if batch_shape else 1} group(s)"
        ) from exc


def _check_too_few(score_if_too_few: float) -> float:
    v = float(score_if_too_few)
    if not (math.isfinite(v) and v >= 0):
        raise ValueError(
            f"score_if_too_few: expected a finite number >= 0; got {score_if_too_few!r}"
        )
    return v


def _out(x: np.ndarray):
    return float(x) if x.ndim == 0 else x


def center_dispersion(groups, image_size, *, score_if_too_few: float = TOO_FEW_SCORE):
    """RMS distance of the parsed box centres from their mean centre over the image diagonal:
    ``sqrt(mean_i ‖c_i − c̄‖²) / sqrt(W² + H²)`` — the default coherence score (bigger = less
    coherent; in [0, 0.5] for centres inside the image).

    ``groups`` is ``(G, 4)`` → a float, or ``(B, G, 4)`` → ``(B,)``; NaN rows / ``None``
    are unparsable and left out; fewer than two parsed boxes → ``score_if_too_few``.
    ``image_size`` is the ``(width, height)`` of the boxes' frame (model pixels for
    rollouts), or ``(B, 2)``. Our reading of the paper.
    """
    too_few = _check_too_few(score_if_too_few)
    g = as_groups(groups)
    batched = g if g.ndim == 3 else g[None]
    size = _sizes(image_size, batched.shape[:1]) if g.ndim == 3 else _sizes(image_size, ())[None]
    ok = np.all(np.isfinite(batched), axis=-1)  # (B, G)
    count = ok.sum(axis=-1)  # (B,)
    c = np.where(ok[..., None], boxes.centers(np.nan_to_num(batched)), 0.0)  # (B, G, 2)
    mean = c.sum(axis=1) / np.maximum(count, 1)[:, None]
    sq = np.where(ok, ((c - mean[:, None, :]) ** 2).sum(axis=-1), 0.0).sum(axis=-1)
    rms = np.sqrt(sq / np.maximum(count, 1))
    score = np.where(count >= 2, rms / np.hypot(size[:, 0], size[:, 1]), too_few)
    return _out(score if g.ndim == 3 else score[0])


def mean_pairwise_iou(
    groups,
    image_size=None,
    *,
    convention: str = "continuous",
    score_if_too_few: float = TOO_FEW_SCORE,
):
    """``1 − mean_{i<j} IoU(b_i, b_j)`` over the pairs of parsed boxes of a group — the
    alternative coherence score, turned into a dispersion so that bigger = less coherent.
    In [0, 1].

    Shapes and unparsable handling as :func:`center_dispersion`; ``image_size`` is accepted
    for a common signature and not used. Two identical boxes count as IoU 1 even when they
    have zero area (a group that agrees on a point is coherent). Our reading of the paper.
    """
    too_few = _check_too_few(score_if_too_few)
    g = as_groups(groups)
    batched = g if g.ndim == 3 else g[None]
    ok = np.all(np.isfinite(batched), axis=-1)  # (B, G)
    count = ok.sum(axis=-1)
    b = np.nan_to_num(batched)
    pair_iou = boxes.iou(b[:, :, None, :], b[:, None, :, :], convention)  # (B, G, G)
    # two identical boxes agree perfectly, zero-area ones too (their IoU alone would be 0)
    same = np.all(b[:, :, None, :] == b[:, None, :, :], axis=-1)
    pair_iou = np.where(same, 1.0, pair_iou)
    n_groups = batched.shape[1]
    upper = np.triu(np.ones((n_groups, n_groups), dtype=bool), k=1)
    valid = ok[:, :, None] & ok[:, None, :] & upper
    pairs = valid.sum(axis=(1, 2))
    mean = np.where(valid, pair_iou, 0.0).sum(axis=(1, 2)) / np.maximum(pairs, 1)
    score = np.where(count >= 2, 1.0 - mean, too_few)
    return _out(score if g.ndim == 3 else score[0])


SCORES: dict[str, Callable] = {
    "center_dispersion": center_dispersion,
    "mean_pairwise_iou": mean_pairwise_iou,
}
"""Coherence-score name (the config field ``consistency_score``) → function."""


def group_score(groups, image_size, score: str = "center_dispersion", **kwargs):
    """The coherence score called ``score`` of one group ``(G, 4)`` or of groups
    ``(B, G, 4)``; ValueError listing the known scores for an unknown name. Our reading of
    the paper (design page: the score is a config field).
    """
    if score not in SCORES:
        raise ValueError(f"unknown consistency score {score!r}; known scores: {', '.join(SCORES)}")
    return SCORES[score](groups, image_size, **kwargs)


def update_weight(score, kappa: float, w_min: float):
    """The group update weight ``w = clip(exp(−κ · score), w_min, 1)``; ``κ = 0`` gives 1.

    ``score`` is a float or an array (one per group); the result has its shape (a float for
    a float). ``kappa >= 0`` and ``0 <= w_min <= 1`` are checked (ValueError), as is a
    finite, non-negative score. The design page's weight, our reading of the paper.
    """
    kappa_f, w_min_f = float(kappa), float(w_min)
    if not (math.isfinite(kappa_f) and kappa_f >= 0):
        raise ValueError(f"kappa: expected a finite number >= 0; got {kappa!r}")
    if not (0.0 <= w_min_f <= 1.0):
        raise ValueError(f"w_min: expected a number in [0, 1]; got {w_min!r}")
    s = np.asarray(score, dtype=np.float64)
    if not np.all(np.isfinite(s)):
        raise ValueError(f"score: expected finite coherence scores; got {score!r}")
    if np.any(s < 0):
        raise ValueError(
            f"score: coherence scores are >= 0 (0 for a perfectly coherent group); got {score!r}"
        )
    if kappa_f == 0.0:
        w = np.ones_like(s)
    else:
        w = np.clip(np.exp(-kappa_f * s), w_min_f, 1.0)
    return _out(w)


def group_weights(
    groups,
    image_size,
    *,
    kappa: float,
    w_min: float,
    score: str = "center_dispersion",
    **kwargs,
) -> tuple[np.ndarray, np.ndarray]:
    """``(scores, weights)`` of groups ``(B, G, 4)`` (or one group ``(G, 4)``, giving arrays of
    shape ``()``): :func:`group_score` then :func:`update_weight` — what the GRPO trainer
    logs and multiplies the advantages by (our reading of the paper).
    """
    s = np.asarray(group_score(groups, image_size, score, **kwargs), dtype=np.float64)
    return s, np.asarray(update_weight(s, kappa, w_min), dtype=np.float64)


def groups_from_flat(parsed, num_generations: int) -> np.ndarray:
    """Parsed boxes of a flat batch ``(B·G, 4)`` — TRL orders completions prompt by prompt,
    ``num_generations`` consecutive rows per prompt — reshaped to groups ``(B, G, 4)``.

    ValueError when the batch is not a multiple of ``num_generations``. (TRL's batch layout.)
    """
    arr = as_groups(parsed) if not isinstance(parsed, np.ndarray) else parsed.astype(np.float64)
    if arr.ndim != 2 or arr.shape[-1] != 4:
        raise ValueError(f"parsed: expected a flat batch (B*G, 4); got shape {arr.shape}")
    if isinstance(num_generations, bool) or not isinstance(num_generations, (int, np.integer)):
        raise ValueError(f"num_generations: expected a positive integer; got {num_generations!r}")
    if num_generations < 1 or arr.shape[0] % num_generations:
        raise ValueError(
            f"parsed: {arr.shape[0]} rows is not a multiple of num_generations={num_generations}"
        )
    return as_groups(arr.reshape(-1, num_generations, 4))
