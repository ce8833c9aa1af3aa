"""Rewards: pure functions with TRL's reward signature, in a name registry.

``f(completions, **kwargs) -> list[float]``: TRL's ``GRPOTrainer`` calls each reward with
the batch's ``prompts``, ``completions`` (strings, or lists of chat messages), their
``completion_ids`` and every dataset column as a keyword list. These rewards read

``bbox_model``
    the target box ``[x1, y1, x2, y2]`` in model-input pixels, one per completion;
``image_size_model``
    ``[width, height]`` of the model input, one per completion (only ``center_distance``);
``parsed_box``
    optional: each completion's box already parsed (``[x1, y1, x2, y2]`` or ``None``), which
    the RFT trainer passes so that a step parses every completion once, not once per reward
    (:mod:`rsground_lib.training.rft`); without it the rewards parse the completions.

and ignore every other keyword. A completion that cannot be parsed scores 0 (never raises);
a missing or malformed target column is a ValueError that says what was expected.

The formulas are our reading of the paper (RSGround-R1, arXiv 2601.21634; its formulas are
not public) — design page, "Rewards and the consistency weight". Each function has a ``*_scores``
twin working on parsed arrays ``(N, 4)`` (NaN rows = unparsable), which the benchmark and the
book's plots use.

Book chapter: "Rewards and spatial consistency" (``book/01_rewards.py``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from rsground_lib import boxes
from rsground_lib.boxes import MAX_ABS_COORD
from rsground_lib.prompts import answer_follows_reasoning, check_format, parse_answer

RewardFunc = Callable[..., list[float]]

GAUSSIAN_SIGMA_SCALE = 0.5
"""``s`` in the Gaussian-centre reward's ``σ = s · sqrt(w · h)`` of the target (our choice: a
centre one target-size away scores ``exp(-2) ≈ 0.14``)."""

GAUSSIAN_MIN_SIGMA = 1.0
"""Floor of ``σ`` in pixels, so that a zero-area target cannot divide by zero."""

DEFAULT_REWARD_FUNCS: tuple[str, ...] = ("format", "iou", "positional")
"""The paper's recipe (our reading): format + IoU + positional, each weighted 1 — the default
of :class:`rsground_lib.training.rft.RftConfig`'s ``reward_funcs``, summed with TRL's
``reward_weights`` into the total reward ``R = Σ_k λ_k r_k``."""


# ----------------------------------------------------------------------------- inputs


def parse_completions(completions: Sequence) -> np.ndarray:
    """The parsed boxes of a batch of completions, ``(N, 4)`` float, a NaN row where the
    completion cannot be parsed (:func:`rsground_lib.prompts.parse_answer`; an unparsable
    answer scores 0, design page, "Coordinates").
    """
    out = np.full((len(completions), 4), np.nan)
    for i, c in enumerate(completions):
        box = parse_answer(c)
        if box is not None:
            out[i] = box
    return out


def parsed_boxes(completions: Sequence, parsed_box=None) -> np.ndarray:
    """The boxes the rewards score, ``(N, 4)`` with NaN rows for unparsable completions:
    ``parsed_box`` (one ``[x1, y1, x2, y2]`` or ``None`` per completion, parsed once per step
    by the RFT trainer) when given, else :func:`parse_completions`. A ``parsed_box`` of the
    wrong length is a ValueError (it would score one completion with another's box)."""
    if parsed_box is None:
        return parse_completions(completions)
    if len(parsed_box) != len(completions):
        raise ValueError(
            f"parsed_box: {len(parsed_box)} boxes for {len(completions)} completions; expected one each"
        )
    out = np.full((len(completions), 4), np.nan)
    for i, box in enumerate(parsed_box):
        if box is not None:
            out[i] = np.asarray(box, dtype=np.float64)
    return out


def _column(kwargs: Mapping, name: str, n: int, width: int, what: str) -> np.ndarray:
    if name not in kwargs or kwargs[name] is None:
        raise ValueError(
            f"reward needs the dataset column {name!r} ({what}); got columns "
            f"{sorted(k for k in kwargs if k not in ('prompts', 'completions', 'completion_ids'))}"
        )
    try:
        arr = np.asarray(kwargs[name], dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"column {name!r}: expected {n} rows of {width} numbers ({what})") from exc
    if arr.shape != (n, width):
        raise ValueError(
            f"column {name!r}: expected shape ({n}, {width}) — one {what} per completion; got {arr.shape}"
        )
    bad = ~np.all(np.isfinite(arr) & (np.abs(arr) <= MAX_ABS_COORD), axis=1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"column {name!r}, row {i}: expected finite numbers of magnitude <= {MAX_ABS_COORD:g}; "
            f"got {kwargs[name][i]!r}"
        )
    return arr


def _targets(kwargs: Mapping, n: int) -> np.ndarray:
    return _column(kwargs, "bbox_model", n, 4, "target box [x1, y1, x2, y2] in model pixels")


def _masked(pred, target, fn, per_row=None) -> np.ndarray:
    """``fn(pred, target)`` row by row, 0.0 on rows where the prediction (or target) is not
    finite — the unparsable completions. ``fn`` sees every row (NaN flows through it
    without warnings) and the masked rows are overwritten afterwards; large batches go in
    cache-sized chunks (:data:`rsground_lib.boxes.CHUNK_ROWS`). ``per_row`` (optional, e.g.
    the image sizes ``(..., k)``) is broadcast to the rows and sliced with them:
    ``fn(pred_chunk, target_chunk, per_row_chunk)``."""
    p, t = np.broadcast_arrays(boxes.as_boxes(pred, "pred"), boxes.as_boxes(target, "target"))
    lead = p.shape[:-1]
    m = math.prod(lead)
    p, t = p.reshape(m, 4), t.reshape(m, 4)
    extra = None
    if per_row is not None:
        per_row = np.asarray(per_row, dtype=np.float64)
        try:
            extra = np.broadcast_to(per_row, (*lead, per_row.shape[-1])).reshape(m, -1)
        except ValueError as exc:
            raise ValueError(
                f"per-row values of shape {per_row.shape} do not match {m} box rows"
            ) from exc
    out = np.empty(m, dtype=np.float64)
    chunk = boxes.CHUNK_ROWS
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        for s in range(0, m, chunk):
            pc, tc = p[s : s + chunk], t[s : s + chunk]
            r = out[s : s + chunk]
            r[...] = fn(pc, tc) if extra is None else fn(pc, tc, extra[s : s + chunk])
            r[~(boxes.finite_rows(pc) & boxes.finite_rows(tc))] = 0.0
    return out.reshape(lead)


# ----------------------------------------------------------------------------- array scores


def iou_scores(pred, target, convention: str = "continuous") -> np.ndarray:
    """IoU of parsed boxes ``(N, 4)`` with targets, in [0, 1]; 0.0 on rows with a NaN
    (unparsable) prediction. The array form of :func:`iou_reward` (the paper's IoU reward).
    """
    return _masked(pred, target, lambda p, t: boxes.iou(p, t, convention))


def _positional(p, t, convention):
    r = np.asarray(boxes.diou(p, t, convention), dtype=np.float64)
    r += 1.0
    r *= 0.5
    return r


def positional_scores(pred, target, convention: str = "continuous") -> np.ndarray:
    """DIoU rescaled to [0, 1], ``(IoU − ρ²/c² + 1) / 2``, of parsed boxes ``(N, 4)`` with
    targets; 0.0 on rows with a NaN (unparsable) prediction. The array form of
    :func:`positional_reward` (our reading of the paper).
    """
    return _masked(pred, target, lambda p, t: _positional(p, t, convention))


def gaussian_center_scores(pred, target, sigma_scale: float = GAUSSIAN_SIGMA_SCALE) -> np.ndarray:
    """``exp(−d² / (2σ²))`` with ``d`` the centre distance and ``σ = max(s·sqrt(w·h), 1 px)``
    from the target's width and height; 0.0 on NaN rows; in [0, 1]. The array form of
    :func:`gaussian_center_reward` (our reading of the paper).
    """
    if not (math.isfinite(sigma_scale) and sigma_scale > 0):
        raise ValueError(f"sigma_scale: expected a positive number; got {sigma_scale!r}")

    def score(p, t):
        d = np.asarray(boxes.center_distance(p, t))
        sigma = np.maximum(sigma_scale * np.sqrt(np.asarray(boxes.area(t))), GAUSSIAN_MIN_SIGMA)
        return np.exp(-(d * d) / (2.0 * sigma * sigma))

    return _masked(pred, target, score)


def center_distance_scores(pred, target, image_size) -> np.ndarray:
    """``1 − d / diag`` clipped to [0, 1], with ``d`` the centre distance and ``diag`` the
    image diagonal (``image_size`` = ``(w, h)`` or ``(N, 2)``); 0.0 on NaN rows. The array
    form of :func:`center_distance_reward` (our reading of the paper).
    """
    size = np.asarray(image_size, dtype=np.float64)
    if size.shape[-1:] != (2,) or not np.all(np.isfinite(size) & (size > 0)):
        raise ValueError(
            f"image_size: expected positive (width, height) or (N, 2); got shape {size.shape}"
        )

    def score(p, t, sz):
        d = np.asarray(boxes.center_distance(p, t))
        diag = np.hypot(sz[:, 0], sz[:, 1])
        return np.clip(1.0 - d / diag, 0.0, 1.0)

    return _masked(pred, target, score, per_row=size)


# ----------------------------------------------------------------------------- TRL rewards


def format_reward(completions, **kwargs) -> list[float]:
    """1.0 when the completion follows the contract ``<think>…</think><answer>[x1, y1, x2,
    y2]</answer>`` with exactly one parseable box (:func:`rsground_lib.prompts.check_format`),
    else 0.0. Range {0, 1}. Needs no column.

    The paper's format reward (DeepSeek-R1 style); the exact strictness is our reading of
    the paper.
    """
    return [1.0 if check_format(c) else 0.0 for c in completions]


def iou_reward(completions, bbox_model=None, parsed_box=None, **kwargs) -> list[float]:
    """IoU of the parsed box with the target ``bbox_model`` (continuous convention); 0.0 when
    the completion is unparsable. Range [0, 1].

    The paper's IoU reward; zero for every box that misses, hence the positional reward.
    """
    target = _targets({**kwargs, "bbox_model": bbox_model}, len(completions))
    return iou_scores(parsed_boxes(completions, parsed_box), target).tolist()


def thresholded_iou_scores(pred, target) -> np.ndarray:
    """IoU in steps: IoU where it is ≥ 0.5, 0.8·IoU where it is in [0.3, 0.5), else 0 (NaN
    rows — unparsable — score 0). The grounding accuracy reward of RS-HyRe-R1 as a peer's
    choice for the ablations (our transcription)."""
    iou = np.nan_to_num(iou_scores(pred, target), nan=0.0)
    return np.where(iou >= 0.5, iou, np.where(iou >= 0.3, 0.8 * iou, 0.0))


def thresholded_iou_reward(completions, bbox_model=None, parsed_box=None, **kwargs) -> list[float]:
    """:func:`thresholded_iou_scores` of the parsed box with the target ``bbox_model``; 0.0
    when the completion is unparsable. Range [0, 1]; like IoU, zero for every box that
    misses by more than IoU 0.3 (a peer's reward, for the ablations)."""
    target = _targets({**kwargs, "bbox_model": bbox_model}, len(completions))
    return thresholded_iou_scores(parsed_boxes(completions, parsed_box), target).tolist()


def positional_reward(completions, bbox_model=None, parsed_box=None, **kwargs) -> list[float]:
    """The default positional reward: DIoU rescaled to [0, 1],
    ``(IoU − ρ²/c² + 1) / 2`` (ρ centre distance, c diagonal of the box enclosing prediction
    and target); 0.0 when unparsable. Range [0, 1]: 1 for a perfect box; every box that misses
    (IoU 0) scores below 0.5 — 0.4 for a square of the target's size touching it side to
    side — and still > 0, decreasing with distance, so a group of misses keeps a learning
    signal.

    Our reading of the paper's continuous, distance-aware positional reward (design page).
    """
    target = _targets({**kwargs, "bbox_model": bbox_model}, len(completions))
    return positional_scores(parsed_boxes(completions, parsed_box), target).tolist()


def gaussian_center_reward(completions, bbox_model=None, parsed_box=None, **kwargs) -> list[float]:
    """Alternative positional reward: ``exp(−d² / (2σ²))``, ``d`` the distance between the
    parsed box's centre and the target's, ``σ = max(s · sqrt(w · h), 1 px)`` with the
    target's ``w, h`` and ``s =`` :data:`GAUSSIAN_SIGMA_SCALE`; 0.0 when unparsable.
    Range [0, 1] (1 for a centred box of any size: it ignores the box's extent).

    Our reading of the paper (an ablation alternative; design page).
    """
    target = _targets({**kwargs, "bbox_model": bbox_model}, len(completions))
    return gaussian_center_scores(parsed_boxes(completions, parsed_box), target).tolist()


def center_distance_reward(
    completions, bbox_model=None, image_size_model=None, parsed_box=None, **kwargs
) -> list[float]:
    """Alternative positional reward: ``1 − d / diag`` clipped to [0, 1], ``d`` the centre
    distance and ``diag`` the model-input image diagonal (column ``image_size_model``,
    ``[width, height]``); 0.0 when unparsable. Range [0, 1], linear in the distance.

    Our reading of the paper (an ablation alternative; design page).
    """
    n = len(completions)
    target = _targets({**kwargs, "bbox_model": bbox_model}, n)
    size = _column(
        {**kwargs, "image_size_model": image_size_model},
        "image_size_model",
        n,
        2,
        "model-input image size [width, height]",
    )
    if np.any(size <= 0):
        raise ValueError(
            "column 'image_size_model': expected positive [width, height] in every row"
        )
    return center_distance_scores(parsed_boxes(completions, parsed_box), target, size).tolist()


def reasoning_agreement_reward(completions, parsed_box=None, **kwargs) -> list[float]:
    """1.0 when the answer's box is the last box of the completion's own reasoning
    (:func:`rsground_lib.prompts.answer_follows_reasoning`), else 0.0 — also when there is no
    reasoning box, no parseable answer, or no text at all. Range {0, 1}. Needs no column.

    **Our addition, not the paper's**: a CoT-SFT model that reasons to one box and answers
    another is rewarded for answering what it reasoned (GeoReason's logical-consistency
    reward is the precedent). It says nothing about whether that box is right — the IoU and
    positional rewards do.
    """
    boxes_ = [None] * len(completions) if parsed_box is None else parsed_box
    if len(boxes_) != len(completions):
        raise ValueError(
            f"parsed_box: {len(boxes_)} boxes for {len(completions)} completions; expected one each"
        )
    out = []
    for c, box in zip(completions, boxes_, strict=True):
        if (parsed_box is not None and box is None) or not isinstance(c, (str, list)):
            out.append(0.0)  # no text (TRL gives strings or chat messages): 0, as format's
            continue
        out.append(1.0 if answer_follows_reasoning(c, box) else 0.0)
    return out


REWARDS: dict[str, RewardFunc] = {
    "format": format_reward,
    "iou": iou_reward,
    "thresholded_iou": thresholded_iou_reward,
    "positional": positional_reward,
    "gaussian_center": gaussian_center_reward,
    "center_distance": center_distance_reward,
    "reasoning_agreement": reasoning_agreement_reward,
}
"""Reward name → TRL reward function; the names used in configs (``reward_weights``)."""


def get_reward(name: str) -> RewardFunc:
    """The registered reward called ``name``; ValueError listing the known names otherwise.
    The names are the config's ``reward_weights`` keys (design page, "Rewards").
    """
    if name not in REWARDS:
        raise ValueError(f"unknown reward {name!r}; known rewards: {', '.join(REWARDS)}")
    return REWARDS[name]


def group_rewards(
    groups: dict, names: Sequence[str] = DEFAULT_REWARD_FUNCS
) -> dict[str, np.ndarray]:
    """Each named reward of every completion of :func:`rsground_lib.generation.sample_groups`' groups, ``{name: (B,
    G)}``, through the registered reward functions (format reads the texts, the others the
    parsed boxes)."""
    b, g = groups["boxes"].shape[:2]
    flat_texts = [t for group in groups["texts"] for t in group]
    flat_boxes = groups["boxes"].reshape(-1, 4)
    parsed = [None if not np.all(np.isfinite(r)) else r.tolist() for r in flat_boxes]
    kwargs = {
        "bbox_model": np.repeat(groups["bbox_model"], g, axis=0).tolist(),
        "image_size_model": np.repeat(groups["image_size_model"], g, axis=0).tolist(),
        "parsed_box": parsed,
    }
    return {
        name: np.asarray(get_reward(name)(flat_texts, **kwargs)).reshape(b, g) for name in names
    }
