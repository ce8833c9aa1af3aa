"""Benchmark ``scoring``: vectorised IoU, positional reward and grounding metrics against a
per-sample pure-Python implementation of the same formulas.

Both candidates run in the same process, one after the other, on the same seeded random
box pairs (this machine is noisy: the ratio is what we report). The vectorised functions
score all ``n_pairs`` pairs; the pure-Python loop scores the first ``n_pure`` and its time is
extrapolated linearly to ``n_pairs`` (the loop is O(n) per item, with no caching). Before
timing anything the two are checked to agree on the ``n_pure`` subset (RuntimeError if they
do not). Goal: at least :data:`GOAL_SPEEDUP` × on every row.

Run: ``python -c "from rsground_lib.bench.scoring import run; run()"`` or ``make bench``.
Book chapter: "Rewards and spatial consistency" (``book/01_rewards.py``).
"""

from __future__ import annotations

import math
import time

import numpy as np

from rsground_lib import boxes
from rsground_lib.metrics import grounding_metrics
from rsground_lib.rewards import positional_scores

GOAL_SPEEDUP = 50.0
"""The speed-up of the vectorised scoring over pure Python that the project asks for."""

_THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.9)


# ----------------------------------------------------------------------------- pure Python


def _iou_py(p, t) -> float:
    iw = max(0.0, min(p[2], t[2]) - max(p[0], t[0]))
    ih = max(0.0, min(p[3], t[3]) - max(p[1], t[1]))
    inter = iw * ih
    union = (
        max(0.0, p[2] - p[0]) * max(0.0, p[3] - p[1])
        + max(0.0, t[2] - t[0]) * max(0.0, t[3] - t[1])
        - inter
    )
    return inter / union if union > 0 else 0.0


def _positional_py(p, t) -> float:
    if p is None:
        return 0.0
    dx = (p[0] + p[2] - t[0] - t[2]) / 2.0
    dy = (p[1] + p[3] - t[1] - t[3]) / 2.0
    cw = max(p[2], t[2]) - min(p[0], t[0])
    ch = max(p[3], t[3]) - min(p[1], t[1])
    c2 = cw * cw + ch * ch
    penalty = (dx * dx + dy * dy) / c2 if c2 > 0 else 0.0
    return (_iou_py(p, t) - penalty + 1.0) / 2.0


def _metrics_py(preds, targets) -> dict[str, float]:
    hits = [0] * len(_THRESHOLDS)
    iou_sum = inter_sum = union_sum = 0.0
    parsed = 0
    for p, t in zip(preds, targets, strict=True):
        area_t = max(0.0, t[2] - t[0]) * max(0.0, t[3] - t[1])
        if p is None:
            union_sum += area_t
            continue
        parsed += 1
        iw = max(0.0, min(p[2], t[2]) - max(p[0], t[0]))
        ih = max(0.0, min(p[3], t[3]) - max(p[1], t[1]))
        inter = iw * ih
        union = max(0.0, p[2] - p[0]) * max(0.0, p[3] - p[1]) + area_t - inter
        iou = inter / union if union > 0 else 0.0
        iou_sum += iou
        inter_sum += inter
        union_sum += union
        for k, thr in enumerate(_THRESHOLDS):
            if iou > thr:
                hits[k] += 1
    n = len(targets)
    out = {f"pr@{thr:g}": hits[k] / n for k, thr in enumerate(_THRESHOLDS)}
    out.update(mean_iou=iou_sum / n, cum_iou=inter_sum / union_sum, parse_rate=parsed / n)
    return out


# ----------------------------------------------------------------------------- data


def random_pairs(n: int, seed: int = 0, unparsed_fraction: float = 0.05):
    """Seeded random (prediction, target) boxes in a 1000×1000 frame: targets of 2–200 px,
    predictions jittered around them (IoUs spread over [0, 1]) and a fraction of NaN rows
    standing for unparsable answers. Returns ``(pred (n, 4), target (n, 4))``. (Test data,
    no formula of the paper.)"""
    rng = np.random.default_rng(seed)
    size = rng.uniform(2.0, 200.0, size=(n, 2))
    corner = rng.uniform(0.0, 800.0, size=(n, 2))
    target = np.concatenate([corner, corner + size], axis=1)
    shift = rng.normal(0.0, 0.3, size=(n, 2)) * size
    scale = np.exp(rng.normal(0.0, 0.2, size=(n, 2)))
    centre = corner + size / 2 + shift
    half = size * scale / 2
    pred = np.concatenate([centre - half, centre + half], axis=1)
    pred[rng.random(n) < unparsed_fraction] = np.nan
    return pred, target


# ----------------------------------------------------------------------------- run


def _time(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def run(
    n_pairs: int = 10**6,
    n_pure: int = 10**5,
    seed: int = 0,
    repeat: int = 3,
    verbose: bool = True,
) -> dict:
    """Time vectorised vs pure-Python scoring, print the table, return the numbers.

    Each row is timed in ``repeat`` interleaved rounds (vectorised, then pure Python) and
    the best time of each is kept. Rows: ``iou`` (:func:`rsground_lib.boxes.iou` on parsed rows), ``positional``
    (:func:`rsground_lib.rewards.positional_scores`), ``grounding_metrics``
    (:func:`rsground_lib.metrics.grounding_metrics`, DIOR-RSVG protocol). Returns a dict
    with ``n_pairs``, ``n_pure``, ``rows`` (per row: seconds, ns per item, speed-up),
    ``max_abs_diff`` per row on the subset, ``goal_speedup`` and ``meets_goal``.
    """
    if not (0 < n_pure <= n_pairs):
        raise ValueError(f"expected 0 < n_pure <= n_pairs; got n_pure={n_pure}, n_pairs={n_pairs}")
    pred, target = random_pairs(n_pairs, seed)
    ok = np.all(np.isfinite(pred), axis=1)
    pred_ok, target_ok = pred[ok], target[ok]

    # pure-Python inputs: lists of floats, None for unparsable (what a per-sample loop sees)
    sub_pred = [None if not np.isfinite(r).all() else r.tolist() for r in pred[:n_pure]]
    sub_target = target[:n_pure].tolist()
    sub_pairs = [(p, t) for p, t in zip(sub_pred, sub_target, strict=True) if p is not None]

    candidates = {
        "iou": (
            lambda: boxes.iou(pred_ok, target_ok),
            lambda: [_iou_py(p, t) for p, t in sub_pairs],
            int(ok.sum()),
            len(sub_pairs),
        ),
        "positional": (
            lambda: positional_scores(pred, target),
            lambda: [_positional_py(p, t) for p, t in zip(sub_pred, sub_target, strict=True)],
            n_pairs,
            n_pure,
        ),
        "grounding_metrics": (
            lambda: grounding_metrics(pred, target),
            lambda: _metrics_py(sub_pred, sub_target),
            n_pairs,
            n_pure,
        ),
    }

    # agreement on the subset
    sub_ok = ok[:n_pure]
    diffs = {
        "iou": float(
            np.max(
                np.abs(
                    boxes.iou(pred[:n_pure][sub_ok], target[:n_pure][sub_ok])
                    - np.array([_iou_py(p, t) for p, t in sub_pairs])
                )
            )
        ),
        "positional": float(
            np.max(
                np.abs(
                    positional_scores(pred[:n_pure], target[:n_pure])
                    - np.array(
                        [_positional_py(p, t) for p, t in zip(sub_pred, sub_target, strict=True)]
                    )
                )
            )
        ),
    }
    vec_m = grounding_metrics(pred[:n_pure], target[:n_pure])
    py_m = _metrics_py(sub_pred, sub_target)
    diffs["grounding_metrics"] = max(abs(vec_m[k] - py_m[k]) for k in py_m)
    bad = {k: v for k, v in diffs.items() if not v <= 1e-9}
    if bad:
        raise RuntimeError(f"vectorised and pure-Python scoring disagree on the subset: {bad}")

    rows = []
    for name, (vec, pure, n_vec, n_py) in candidates.items():
        # interleaved rounds, best of each: both candidates see the same machine state
        t_vec = t_py = math.inf
        for _ in range(repeat):
            t_vec = min(t_vec, _time(vec))
            t_py = min(t_py, _time(pure))
        vec_ns = 1e9 * t_vec / n_vec
        py_ns = 1e9 * t_py / n_py
        rows.append(
            {
                "name": name,
                "n_vectorised": n_vec,
                "n_pure_measured": n_py,
                "vectorised_s": t_vec,
                "pure_s_measured": t_py,
                "pure_s_extrapolated": t_py * n_vec / n_py,
                "vectorised_ns_per_item": vec_ns,
                "pure_ns_per_item": py_ns,
                "speedup": py_ns / vec_ns,
            }
        )
    result = {
        "n_pairs": n_pairs,
        "n_pure": n_pure,
        "seed": seed,
        "repeat": repeat,
        "rows": rows,
        "max_abs_diff": diffs,
        "goal_speedup": GOAL_SPEEDUP,
        "meets_goal": all(r["speedup"] >= GOAL_SPEEDUP for r in rows),
    }
    if verbose:
        print(_table(result))
    return result


def _table(result: dict) -> str:
    lines = [
        f"scoring: {result['n_pairs']:,} box pairs (seed {result['seed']}); pure Python timed on "
        f"the first {result['n_pure']:,} and extrapolated linearly to {result['n_pairs']:,}; "
        f"best of {result['repeat']} interleaved rounds",
        f"{'operation':<18} {'vectorised':>12} {'pure (extrap.)':>15} "
        f"{'vec ns/item':>12} {'py ns/item':>11} {'speed-up':>9} {'max |diff|':>11}",
    ]
    for r in result["rows"]:
        lines.append(
            f"{r['name']:<18} {r['vectorised_s']:>11.3f}s {r['pure_s_extrapolated']:>14.2f}s "
            f"{r['vectorised_ns_per_item']:>12.1f} {r['pure_ns_per_item']:>11.1f} "
            f"{r['speedup']:>8.0f}x {result['max_abs_diff'][r['name']]:>11.1e}"
        )
    lines.append(
        f"goal: >= {result['goal_speedup']:.0f}x on every row — "
        + ("met" if result["meets_goal"] else "NOT met")
    )
    return "\n".join(lines)
