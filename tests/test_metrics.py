"""Tests of rsground_lib.metrics against hand-checked cases and an independent, per-sample
pure-Python implementation of the RSVG-pytorch protocol."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rsground_lib import metrics as M

T = [0, 0, 10, 10]
# IoUs with T: 1, 50/100 = 0.5, 25/175 = 1/7, None (unparsable)
PREDS = [[0, 0, 10, 10], [0, 0, 10, 5], [5, 5, 15, 15], None]
TARGETS = [T] * 4


def reference(
    preds, targets, *, inclusive=False, ge=False, skip_unparsed=False, thresholds=M.THRESHOLDS
):
    """The RSVG-pytorch protocol, one sample at a time, written independently of the library:
    IoU > t accuracy, mean IoU, cumIoU = sum(I) / sum(U); None = empty prediction."""
    plus = 1.0 if inclusive else 0.0
    n = len(targets)
    hits = dict.fromkeys(thresholds, 0)
    iou_total = inter_total = union_total = 0.0
    parsed = 0
    for p, t in zip(preds, targets, strict=True):
        t_area = max(t[2] - t[0] + plus, 0) * max(t[3] - t[1] + plus, 0)
        if p is None:
            if not skip_unparsed:
                union_total += t_area
            continue
        parsed += 1
        w = min(p[2], t[2]) - max(p[0], t[0]) + plus
        h = min(p[3], t[3]) - max(p[1], t[1]) + plus
        inter = max(w, 0) * max(h, 0)
        p_area = max(p[2] - p[0] + plus, 0) * max(p[3] - p[1] + plus, 0)
        union = p_area + t_area - inter
        iou = inter / union if union > 0 else 0.0
        iou_total += iou
        inter_total += inter
        union_total += union
        for thr in thresholds:
            if (iou >= thr) if ge else (iou > thr):
                hits[thr] += 1
    out = {f"pr@{thr:g}": hits[thr] / n for thr in thresholds}
    out["mean_iou"] = iou_total / n
    out["cum_iou"] = inter_total / union_total if union_total else float("nan")
    out["parse_rate"] = parsed / n
    out["n"] = n
    return out


def test_literal_four_predictions():
    m = M.grounding_metrics(PREDS, TARGETS)
    assert list(m) == M.metric_names()
    # IoU 0.5 is not > 0.5: only the exact box counts
    assert m["pr@0.5"] == 0.25 and m["pr@0.9"] == 0.25
    assert m["mean_iou"] == pytest.approx((1 + 0.5 + 1 / 7 + 0) / 4)
    # cumIoU: intersections 100 + 50 + 25 + 0; unions 100 + 100 + 175 + 100 (the None's target)
    assert m["cum_iou"] == pytest.approx(175 / 475)
    assert m["parse_rate"] == 0.75 and m["n"] == 4


def test_literal_vrsbench_preset():
    m = M.grounding_metrics(PREDS, TARGETS, preset="vrsbench")
    # inclusive: [0,0,10,5] vs [0,0,10,10] -> 11*6 / 121 = 66/121 = 0.545 (>= 0.5 counts)
    # [5,5,15,15] -> 6*6 / (242 - 36) = 36/206
    assert m["pr@0.5"] == 0.5 and m["pr@0.6"] == 0.25
    assert m["mean_iou"] == pytest.approx((1 + 66 / 121 + 36 / 206) / 4)
    # the None is left out of cumIoU
    assert m["cum_iou"] == pytest.approx((121 + 66 + 36) / (121 + 121 + 206))
    # ">=" matters at the threshold itself
    assert M.grounding_metrics([[0, 0, 10, 5]], [T], op=">=")["pr@0.5"] == 1.0
    assert M.grounding_metrics([[0, 0, 10, 5]], [T])["pr@0.5"] == 0.0


def test_presets_and_overrides():
    assert M.PRESETS["dior_rsvg"] == M.PRESETS["opt_rsvg"] == M.PRESETS["rsvg_hr"]
    assert M.resolve_protocol("vrsbench") == {
        "convention": "inclusive",
        "op": ">=",
        "cum_iou_unparsed": "skip",
    }
    assert M.resolve_protocol("vrsbench", op=">")["op"] == ">"
    with pytest.raises(ValueError, match="known presets"):
        M.grounding_metrics(PREDS, TARGETS, preset="refcoco")
    with pytest.raises(ValueError, match="comparison"):
        M.grounding_metrics(PREDS, TARGETS, op="<")
    with pytest.raises(ValueError, match="convention"):
        M.grounding_metrics(PREDS, TARGETS, convention="voc")
    with pytest.raises(ValueError, match="cum_iou_unparsed"):
        M.grounding_metrics(PREDS, TARGETS, cum_iou_unparsed="zero")


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("preset", [None, "dior_rsvg", "vrsbench"])
def test_agrees_with_reference_on_random_predictions(seed, preset):
    rng = np.random.default_rng(seed)
    n = 3000
    xy = rng.integers(0, 80, (n, 2)).astype(float)
    wh = rng.integers(1, 20, (n, 2)).astype(float)
    targets = np.concatenate([xy, xy + wh], axis=1)
    preds_arr = targets + rng.normal(0, 3, (n, 4)).round()
    preds = [None if rng.random() < 0.1 else p.tolist() for p in preds_arr]
    # include exact hits and boxes on the thresholds' edges
    preds[0] = targets[0].tolist()
    kwargs = {} if preset is None else {"preset": preset}
    ref = reference(
        preds,
        targets.tolist(),
        inclusive=preset == "vrsbench",
        ge=preset == "vrsbench",
        skip_unparsed=preset == "vrsbench",
    )
    ours = M.grounding_metrics(preds, targets, **kwargs)
    assert ours.keys() == ref.keys()
    for k in ref:
        assert ours[k] == pytest.approx(ref[k], abs=1e-12), k
    # the same numbers from an (N, 4) array with NaN rows
    arr = np.array([[np.nan] * 4 if p is None else p for p in preds])
    assert M.grounding_metrics(arr, targets, **kwargs) == pytest.approx(ours, abs=1e-12)


def test_large_input_goes_through_chunks():
    rng = np.random.default_rng(5)
    n = 40_000  # more than two chunks
    t = np.concatenate([rng.uniform(0, 500, (n, 2)), np.zeros((n, 2))], axis=1)
    t[:, 2:] = t[:, :2] + rng.uniform(1, 50, (n, 2))
    p = t + rng.normal(0, 4, (n, 4))
    p[rng.random(n) < 0.05] = np.nan
    preds = [None if np.isnan(r).any() else r.tolist() for r in p]
    ref = reference(preds, t.tolist())
    ours = M.grounding_metrics(p, t)
    for k in ref:
        assert ours[k] == pytest.approx(ref[k], rel=1e-12, abs=1e-12), k


def test_edge_cases():
    empty = M.grounding_metrics([], [])
    assert empty["n"] == 0 and math.isnan(empty["mean_iou"])
    none = M.grounding_metrics([None, None], [T, T])
    assert none["parse_rate"] == 0.0 and none["mean_iou"] == 0.0 and none["cum_iou"] == 0.0
    assert math.isnan(M.grounding_metrics([None], [T], preset="vrsbench")["cum_iou"])
    m = M.grounding_metrics([T], [T], thresholds=(0.25, 0.75))
    assert list(m)[:2] == ["pr@0.25", "pr@0.75"]
    # inf in a prediction counts as unparsable, never as a box
    assert M.grounding_metrics(np.array([[0, 0, np.inf, 10.0]]), [T])["parse_rate"] == 0.0


def test_bad_inputs():
    with pytest.raises(ValueError, match=r"preds\[1\]"):
        M.grounding_metrics([T, [1, 2, 3]], [T, T])
    with pytest.raises(ValueError, match=r"shape \(2, 4\)"):
        M.grounding_metrics([T, T], [T])
    with pytest.raises(ValueError, match=r"targets\[0\]"):
        M.grounding_metrics([T], [[0, 0, np.nan, 1]])
    with pytest.raises(ValueError, match="thresholds"):
        M.grounding_metrics([T], [T], thresholds=(1.5,))


def test_metrics_by_explodes_list_columns():
    import pandas as pd

    records = [
        {"pred": PREDS[0], "target": T, "cues": ["absolute"], "dataset": "a"},
        {"pred": PREDS[1], "target": T, "cues": ["absolute", "extreme"], "dataset": "a"},
        {"pred": PREDS[2], "target": T, "cues": [], "dataset": "b"},
        {"pred": PREDS[3], "target": T, "cues": ["none"], "dataset": "b"},
    ]
    df = M.metrics_by(records, by="cues")
    assert isinstance(df, pd.DataFrame)
    assert list(df.columns) == ["cues", "n", *M.metric_names()[:-1]]
    rows = df.set_index("cues")
    assert rows.loc["all", "n"] == 4
    assert rows.loc["all", "cum_iou"] == pytest.approx(175 / 475)
    # the two-cue expression counts in both groups
    assert rows.loc["absolute", "n"] == 2 and rows.loc["extreme", "n"] == 1
    assert rows.loc["absolute", "mean_iou"] == pytest.approx(0.75)
    assert rows.loc["(missing)", "n"] == 1  # the empty cue list
    assert rows.loc["none", "parse_rate"] == 0.0
    assert df["n"].iloc[1:].sum() == 5  # more than 4: exploded
    # the same from a DataFrame, several keys, and a preset
    two = M.metrics_by(
        pd.DataFrame.from_records(records), by=["dataset", "cues"], preset="vrsbench"
    )
    assert two.iloc[0][["dataset", "cues"]].tolist() == ["all", "all"]
    assert set(map(tuple, two[["dataset", "cues"]].iloc[1:].values)) == {
        ("a", "absolute"),
        ("a", "extreme"),
        ("b", "(missing)"),
        ("b", "none"),
    }
    by_ds = M.metrics_by(records, by="dataset").set_index("dataset")
    assert by_ds.loc["a", "mean_iou"] == pytest.approx(0.75)
    with pytest.raises(ValueError, match="missing column"):
        M.metrics_by(records, by="cue")


def test_metrics_by_keeps_missing_keys_of_nullable_columns():
    """pd.NA in a nullable string column is grouped as "(missing)", not dropped."""
    import pandas as pd

    box = [0.0, 0.0, 10.0, 10.0]
    df = pd.DataFrame({"pred": [box, box, None], "target": [box] * 3, "cat": ["a", None, None]})
    df["cat"] = df["cat"].astype("string")
    table = M.metrics_by(df, by="cat")
    counts = dict(zip(table["cat"], table["n"], strict=True))
    assert counts == {"all": 3, "a": 1, "(missing)": 2}


def test_paired_hits_literal():
    # a hits samples 0, 1, 2; b hits 2, 3, 4, 5, 6, 7 (IoU > 0.5; 0.5 itself is a miss).
    a = [0.9, 0.6, 0.7, 0.1, 0.5, 0.0, 0.2, 0.3, 0.0]
    b = [0.1, 0.2, 0.8, 0.6, 0.7, 0.9, 0.51, 0.6, 0.4]
    r = M.paired_hits(a, b)
    assert (r["n"], r["both"], r["only_a"], r["only_b"], r["neither"]) == (9, 1, 2, 5, 1)
    # discordant 2 vs 5: p = 2 * (C(7,0) + C(7,1) + C(7,2)) / 2^7 = 2 * 29 / 128
    assert r["p_value"] == pytest.approx(58 / 128)
    assert r["delta"] == pytest.approx(6 / 9 - 3 / 9)


def test_paired_hits_one_sided_and_ties():
    r = M.paired_hits([0.0] * 6, [0.9] * 6)
    assert r["only_b"] == 6 and r["p_value"] == pytest.approx(2 / 64)
    same = M.paired_hits([0.9, 0.1], [0.9, 0.1])
    assert same["p_value"] == 1.0 and same["delta"] == 0.0
    with pytest.raises(ValueError, match="same length"):
        M.paired_hits([0.9], [0.9, 0.1])
    with pytest.raises(ValueError, match="non-empty"):
        M.paired_hits([], [])
