"""Grounding metrics: Pr@t, meanIoU, cumIoU and the parse rate, with per-benchmark presets
and breakdowns by any column (positional cue, category, dataset…).

The RSVG protocol (RSVG-pytorch, used by DIOR-RSVG and its successors):

``pr@t``
    fraction of samples whose IoU with the target is ``> t`` (``>=`` for VRSBench);
``mean_iou``
    mean IoU over samples;
``cum_iou``
    ``Σ intersection / Σ union`` over samples (large boxes weigh more);
``parse_rate``
    fraction of answers that could be parsed into a box; ``n`` the number of samples.

An unparsable answer (``None``) has IoU 0 and stays in every denominator (design page,
"Coordinates"). For cumIoU it counts as an *empty* prediction — no intersection, and its
target's area joins the union sum — except in the VRSBench preset, whose evaluation code
leaves samples without a box out of cumIoU (``cum_iou_unparsed="skip"``).

All boxes must be in the same frame (original-image pixels, or VRSBench's 0–100 grid for
its preset — this module does not rescale).

Book chapter: "Rewards and spatial consistency" (``book/01_rewards.py``); the evaluation
chapters report these numbers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from rsground_lib import boxes

THRESHOLDS: tuple[float, ...] = (0.5, 0.6, 0.7, 0.8, 0.9)
"""Default Pr@t thresholds (DIOR-RSVG reports all five)."""

OPS: tuple[str, ...] = (">", ">=")
CUM_IOU_UNPARSED: tuple[str, ...] = ("empty", "skip")

_EMPTY_BOX = np.array([1.0, 1.0, 0.0, 0.0])
"""Stands in for an unparsable answer: zero area and no intersection in both conventions."""

_TINY = np.finfo(np.float64).tiny

_DEFAULTS = {"convention": "continuous", "op": ">", "cum_iou_unparsed": "empty"}

PRESETS: dict[str, dict[str, str]] = {
    "dior_rsvg": {"convention": "continuous", "op": ">", "cum_iou_unparsed": "empty"},
    "opt_rsvg": {"convention": "continuous", "op": ">", "cum_iou_unparsed": "empty"},
    "rsvg_hr": {"convention": "continuous", "op": ">", "cum_iou_unparsed": "empty"},
    "vrsbench": {"convention": "inclusive", "op": ">=", "cum_iou_unparsed": "skip"},
}
"""Benchmark name → its evaluation protocol. DIOR-RSVG, OPT-RSVG and RSVG-HR follow
RSVG-pytorch (continuous boxes, IoU ``>`` t); VRSBench uses inclusive pixels on its 0–100
grid, IoU ``>=`` t, and skips box-less answers in cumIoU."""


def metric_names(thresholds: Sequence[float] = THRESHOLDS) -> list[str]:
    """The metric keys :func:`grounding_metrics` returns, in order:
    ``pr@<t>`` for each threshold, ``mean_iou``, ``cum_iou``, ``parse_rate``, ``n`` (the
    RSVG protocol's metrics plus the parse rate of design page, "Coordinates")."""
    return [f"pr@{t:g}" for t in thresholds] + ["mean_iou", "cum_iou", "parse_rate", "n"]


def resolve_protocol(
    preset: str | None = None,
    *,
    convention: str | None = None,
    op: str | None = None,
    cum_iou_unparsed: str | None = None,
) -> dict[str, str]:
    """The evaluation protocol: explicit arguments over the ``preset``'s values over the
    defaults (continuous, ``>``, unparsed as empty). ValueError for unknown names. The
    benchmarks' own protocols (RSVG-pytorch; VRSBench).
    """
    if preset is None:
        proto = dict(_DEFAULTS)
    elif preset in PRESETS:
        proto = dict(PRESETS[preset])
    else:
        raise ValueError(f"unknown metrics preset {preset!r}; known presets: {', '.join(PRESETS)}")
    for key, value in (
        ("convention", convention),
        ("op", op),
        ("cum_iou_unparsed", cum_iou_unparsed),
    ):
        if value is not None:
            proto[key] = value
    if proto["convention"] not in boxes.CONVENTIONS:
        raise ValueError(
            f"unknown box convention {proto['convention']!r}; expected one of {', '.join(boxes.CONVENTIONS)}"
        )
    if proto["op"] not in OPS:
        raise ValueError(f"unknown threshold comparison {proto['op']!r}; expected one of {OPS}")
    if proto["cum_iou_unparsed"] not in CUM_IOU_UNPARSED:
        raise ValueError(
            f"cum_iou_unparsed: expected one of {CUM_IOU_UNPARSED}; got {proto['cum_iou_unparsed']!r}"
        )
    return proto


def as_predictions(preds) -> np.ndarray:
    """Predictions as ``(N, 4)`` float with a NaN row per unparsable answer.

    Accepts an array (a row with any non-finite value is unparsable) or a sequence whose
    items are boxes or ``None`` (also NaN/float ``nan`` scalars, as pandas stores missing
    values). A box without four numbers is a ValueError naming its index. An unparsable
    answer stays in the denominators (design page, "Coordinates").
    """
    if isinstance(preds, np.ndarray) and preds.dtype != object:
        arr = np.array(preds, dtype=np.float64)
        if arr.ndim != 2 or arr.shape[1] != 4:
            raise ValueError(
                f"preds: expected shape (N, 4) with NaN rows for unparsable; got {arr.shape}"
            )
    else:
        items = list(preds)
        arr = np.full((len(items), 4), np.nan)
        for i, p in enumerate(items):
            if p is None or (isinstance(p, float) and math.isnan(p)):
                continue
            try:
                row = np.asarray(p, dtype=np.float64)
            except (TypeError, ValueError) as exc:
                raise ValueError(
                    f"preds[{i}]: expected [x1, y1, x2, y2] or None; got {p!r}"
                ) from exc
            if row.shape != (4,):
                raise ValueError(f"preds[{i}]: expected [x1, y1, x2, y2] or None; got {p!r}")
            arr[i] = row
    arr[~np.all(np.isfinite(arr), axis=1)] = np.nan
    return arr


def _as_targets(targets, n: int) -> np.ndarray:
    try:
        t = np.asarray(
            targets if isinstance(targets, np.ndarray) else list(targets), dtype=np.float64
        )
    except (TypeError, ValueError) as exc:
        raise ValueError("targets: expected (N, 4) boxes [x1, y1, x2, y2]") from exc
    if n == 0 and t.size == 0:
        return np.zeros((0, 4))
    if t.shape != (n, 4):
        raise ValueError(
            f"targets: expected shape ({n}, 4) to match {n} predictions; got {t.shape}"
        )
    return t


def _pred_array(preds) -> np.ndarray:
    """Predictions ``(N, 4)`` without a copy when already a float array (non-finite rows are
    masked by the caller), else :func:`as_predictions`."""
    if isinstance(preds, np.ndarray) and preds.dtype.kind == "f":
        if preds.ndim != 2 or preds.shape[1] != 4:
            raise ValueError(
                f"preds: expected shape (N, 4) with NaN rows for unparsable; got {preds.shape}"
            )
        return preds.astype(np.float64, copy=False)
    return as_predictions(preds)


def grounding_metrics(
    preds,
    targets,
    *,
    preset: str | None = None,
    convention: str | None = None,
    op: str | None = None,
    thresholds: Sequence[float] = THRESHOLDS,
    cum_iou_unparsed: str | None = None,
) -> dict[str, float]:
    """Pr@t for each threshold, meanIoU, cumIoU, parse rate and ``n`` of predictions against
    targets (the RSVG protocol; see the module notes).

    ``preds``: ``(N, 4)`` with NaN rows, or a sequence of boxes / ``None`` (unparsable: IoU
    0, kept in the denominators; a box with a coordinate beyond
    :data:`rsground_lib.boxes.MAX_ABS_COORD` counts as unparsable too). ``targets``:
    ``(N, 4)``, finite, ordered (``x1 <= x2``, ``y1 <= y2``; an inverted target is a
    ValueError naming its row, not a silent IoU of 0). ``preset`` picks a
    benchmark's protocol from :data:`PRESETS`; ``convention`` (``"continuous"`` /
    ``"inclusive"``), ``op`` (``">"`` / ``">="``) and ``cum_iou_unparsed`` (``"empty"``:
    an unparsable answer adds its target's area to the union sum; ``"skip"``: left out of
    cumIoU) override it. With ``n = 0`` every rate is NaN, as is cumIoU when its union sum
    is 0. Keys: :func:`metric_names`. Computed in cache-sized chunks (fast for millions of
    rows). Standard protocol (RSVG-pytorch; VRSBench for its preset).
    """
    proto = resolve_protocol(
        preset, convention=convention, op=op, cum_iou_unparsed=cum_iou_unparsed
    )
    thr = [float(t) for t in thresholds]
    if not all(0.0 <= t <= 1.0 for t in thr):
        raise ValueError(f"thresholds: expected numbers in [0, 1]; got {list(thresholds)}")
    p = _pred_array(preds)
    n = len(p)
    t = _as_targets(targets, n)
    names = metric_names(thr)
    if n == 0:
        out = dict.fromkeys(names, float("nan"))
        out["n"] = 0
        return out
    conv, strict = proto["convention"], proto["op"] == ">"
    skip = proto["cum_iou_unparsed"] == "skip"
    hits = [0] * len(thr)
    iou_sum = inter_sum = union_sum = 0.0
    parsed = 0
    chunk = boxes.CHUNK_ROWS
    with np.errstate(invalid="ignore", over="ignore"):
        for s in range(0, n, chunk):
            pc, tc = p[s : s + chunk], t[s : s + chunk]
            t_ok = boxes.finite_rows(tc)
            if not t_ok.all():
                i = s + int(np.flatnonzero(~t_ok)[0])
                raise ValueError(f"targets[{i}]: expected four finite numbers; got {t[i].tolist()}")
            t_bad = (tc[:, 2] < tc[:, 0]) | (tc[:, 3] < tc[:, 1])
            t_bad |= np.any(np.abs(tc) > boxes.MAX_ABS_COORD, axis=1)
            if t_bad.any():
                i = s + int(np.flatnonzero(t_bad)[0])
                raise ValueError(
                    f"targets[{i}]: expected x1 <= x2 and y1 <= y2, coordinates of magnitude <= "
                    f"{boxes.MAX_ABS_COORD:g}; got {t[i].tolist()}"
                )
            # a prediction beyond MAX_ABS_COORD is garbage: unparsable, like parse_answer says
            ok = boxes.finite_rows(pc) & np.all(np.abs(pc) <= boxes.MAX_ABS_COORD, axis=1)
            n_ok = int(np.count_nonzero(ok))
            parsed += n_ok
            if n_ok < len(ok):
                # an unparsable answer is the empty box [1, 1, 0, 0]: no intersection, and
                # the union is the target's area in both conventions
                pc = pc.copy()
                pc[~ok] = _EMPTY_BOX
            inter, union = boxes.intersection_union(pc, tc, conv)
            if skip and n_ok < len(ok):
                union[~ok] = 0.0
            iou = np.maximum(union, _TINY)
            np.divide(inter, iou, out=iou)
            np.clip(iou, 0.0, 1.0, out=iou)
            for k, th in enumerate(thr):
                hits[k] += int(np.count_nonzero(iou > th if strict else iou >= th))
            iou_sum += float(iou.sum())
            inter_sum += float(inter.sum())
            union_sum += float(union.sum())
    out: dict[str, float] = {name: h / n for name, h in zip(names, hits, strict=False)}
    out["mean_iou"] = iou_sum / n
    out["cum_iou"] = inter_sum / union_sum if union_sum > 0 else float("nan")
    out["parse_rate"] = parsed / n
    out["n"] = n
    return out


def metrics_by(
    table,
    by: str | Sequence[str] = "cues",
    *,
    pred_col: str = "pred",
    target_col: str = "target",
    missing_label: str = "(missing)",
    all_label: str = "all",
    **metric_kwargs,
):
    """A tidy ``pandas.DataFrame`` of :func:`grounding_metrics` per group: one row per value
    of the ``by`` column(s) plus a first row labelled ``"all"`` over every sample, with
    columns ``by…``, ``n`` and every metric.

    ``table`` is a DataFrame or a list of records (dicts) with columns ``pred`` (box or
    ``None``), ``target`` and the grouping columns. A list-valued column such as ``cues`` is
    *exploded*: an expression tagged ``["absolute", "extreme"]`` counts in both groups, so
    the groups' ``n`` can add up to more than the "all" row's. An empty list or a missing
    value is grouped under ``missing_label``. ``metric_kwargs`` go to
    :func:`grounding_metrics` (``preset=…``, ``thresholds=…``). The cue breakdown is ours
    (design page, "The record": positional-cue tags).
    """
    import pandas as pd

    df = table if isinstance(table, pd.DataFrame) else pd.DataFrame.from_records(list(table))
    keys = [by] if isinstance(by, str) else list(by)
    if not keys:
        raise ValueError("metrics_by: expected at least one grouping column in `by`")
    missing = [c for c in [pred_col, target_col, *keys] if c not in df.columns]
    if missing:
        raise ValueError(
            f"metrics_by: missing column(s) {missing}; the table has {list(df.columns)}"
        )
    work = df[[pred_col, target_col, *keys]].copy()
    work["_row"] = np.arange(len(work))
    for key in keys:
        is_list = work[key].map(lambda v: isinstance(v, (list, tuple, set, np.ndarray)))
        if is_list.any():
            work[key] = work[key].map(
                lambda v: list(v) if isinstance(v, (list, tuple, set, np.ndarray)) else v
            )
            work = work.explode(key, ignore_index=True)
        work[key] = work[key].map(lambda v: missing_label if _is_missing(v) else v)

    rows = []
    overall = grounding_metrics(list(df[pred_col]), list(df[target_col]), **metric_kwargs)
    rows.append({**dict.fromkeys(keys, all_label), **overall})
    for group_key, part in work.groupby(keys, sort=True, dropna=False):
        labels = group_key if isinstance(group_key, tuple) else (group_key,)
        m = grounding_metrics(list(part[pred_col]), list(part[target_col]), **metric_kwargs)
        rows.append({**dict(zip(keys, labels, strict=True)), **m})
    result = pd.DataFrame(rows)
    metric_cols = [c for c in result.columns if c not in keys and c != "n"]
    return result[[*keys, "n", *metric_cols]]


def _is_missing(v) -> bool:
    """None, NaN, pd.NA / NaT (nullable and Arrow-backed columns): a missing group key."""
    if v is None:
        return True
    if isinstance(v, float) and math.isnan(v):
        return True
    import pandas as pd

    return bool(np.isscalar(v) or v is pd.NA) and bool(pd.isna(v))


EXACT_BINOMIAL_MAX_M = 50_000
"""Up to this many discordant pairs :func:`binomial_half_cdf` sums exact integers."""


def binomial_half_cdf(k: int, m: int) -> float:
    """``P[Bin(m, ½) ≤ k]`` for any ``m``, never overflowing (``2.0**m`` does from
    ``m = 1024``). Up to :data:`EXACT_BINOMIAL_MAX_M` it is exact: the integer sum of
    ``C(m, i)`` over ``i ≤ k`` divided by the integer ``2^m`` (Python rounds that quotient
    correctly); above, a log-sum-exp of log-probabilities (``math.lgamma``), good to ~1e-12
    relative."""
    if not 0 <= k <= m:
        raise ValueError(f"binomial_half_cdf: expected 0 <= k <= m; got k={k}, m={m}")
    if m <= EXACT_BINOMIAL_MAX_M:
        total, term = 0, 1
        for i in range(k + 1):
            total += term
            term = term * (m - i) // (i + 1)
        return min(1.0, total / (1 << m))
    log_half = m * math.log(0.5)
    logs = [math.lgamma(m + 1) - math.lgamma(i + 1) - math.lgamma(m - i + 1) + log_half
            for i in range(k + 1)]  # fmt: skip
    top = max(logs)
    return min(1.0, math.exp(top) * math.fsum(math.exp(t - top) for t in logs))


def paired_hits(ious_a: Sequence[float], ious_b: Sequence[float], threshold: float = 0.5) -> dict:
    """Two models scored on the *same* samples: how many each gets right (IoU ``> threshold``)
    that the other misses, and the exact two-sided McNemar p-value of the difference (a
    binomial test on the discordant pairs, ``p = min(1, 2·P[Bin(b + c, ½) ≤ min(b, c)])``).

    Returns ``n``, ``both``, ``only_a``, ``only_b``, ``neither``, ``delta`` (Pr of b minus Pr
    of a) and ``p_value``. A paired test sees differences that two independent Pr@t
    estimates on a few hundred samples hide in their standard errors. ValueError if the two
    lists differ in length or are empty. Used to ask whether a training stage *lost* the
    starting model's localisation.
    """
    for name, values in (("ious_a", ious_a), ("ious_b", ious_b)):
        bad = np.flatnonzero(np.isnan(np.asarray(values, dtype=float).ravel()))
        if bad.size:
            raise ValueError(
                f"paired_hits: {name}[{int(bad[0])}] is NaN ({bad.size} NaN in all): a sample "
                "that was not scored is neither a hit nor a miss; score it (IoU 0 for no answer)"
            )
    a = np.asarray(ious_a, dtype=float) > threshold
    b = np.asarray(ious_b, dtype=float) > threshold
    if a.shape != b.shape or a.ndim != 1 or a.size == 0:
        raise ValueError(
            f"paired_hits: expected two non-empty lists of the same length; got "
            f"{a.shape} and {b.shape}"
        )
    only_a, only_b = int((a & ~b).sum()), int((~a & b).sum())
    k, m = min(only_a, only_b), only_a + only_b
    tail = binomial_half_cdf(k, m)
    return {
        "n": int(a.size),
        "both": int((a & b).sum()),
        "only_a": only_a,
        "only_b": only_b,
        "neither": int((~a & ~b).sum()),
        "delta": float(b.mean() - a.mean()),
        "p_value": float(min(1.0, 2.0 * tail)),
    }
