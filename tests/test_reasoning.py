"""The links of a reasoning (rsground_lib.reasoning): what a trace listed, named and chose,
read back from the compact, steps and prose notations, and scored against hand-made scenes
with hand-checked shares."""

from __future__ import annotations

import json
import math

import pytest

from rsground_lib import evaluation, reasoning
from rsground_lib.data import base_scenes

STEPS = (
    "<think>first [8, 40, 20, 48]; second [28, 12, 40, 20]; third [52, 40, 64, 48]. leftmost x1:"
    " first 8, second 28, third 52. so first [8, 40, 20, 48]</think><answer>[8, 40, 20, 48]</answer>"
)


def test_parse_steps_compact_prose_and_lone_candidate():
    r = reasoning.parse_reasoning(STEPS)
    assert r.listed == ((8, 40, 20, 48), (28, 12, 40, 20), (52, 40, 64, 48))
    assert r.chosen == (8, 40, 20, 48) and r.cue_words == ("leftmost",)
    compact = reasoning.parse_reasoning(
        "<think>[24, 40, 32, 48]; [52, 40, 60, 48]. rightmost: x 28, 56 → [4, 40, 12, 48]"
        "</think><answer>[28, 24, 36, 28]</answer>"
    )
    assert compact.listed == ((24, 40, 32, 48), (52, 40, 60, 48))
    assert compact.chosen == (4, 40, 12, 48) and compact.cue_words == ("rightmost",)
    lone = reasoning.parse_reasoning(
        "<think>first [16, 40, 20, 48].</think><answer>[16, 40, 20, 48]</answer>"
    )
    assert (
        lone.listed == ((16, 40, 20, 48),)
        and lone.chosen == (16, 40, 20, 48)
        and lone.cue_words == ()
    )
    # A prose trace's closing sentence repeats a listed box: listed once, chosen.
    prose = reasoning.parse_reasoning(
        "<think>I can see 2 ships: #1 [1, 2, 3, 4]; #2 [5, 6, 7, 8]. The described object is #2"
        " at [5, 6, 7, 8].</think><answer>[5, 6, 7, 8]</answer>"
    )
    assert prose.listed == ((1, 2, 3, 4), (5, 6, 7, 8)) and prose.chosen == (5, 6, 7, 8)
    # "So" closes a prose trace: the boxes after it are the choice.
    so = reasoning.parse_reasoning(
        "<think>#1 [1, 2, 3, 4]; #2 [5, 6, 7, 8]. So the answer is [1, 2, 3, 4].</think>"
    )
    assert so.listed == ((1, 2, 3, 4), (5, 6, 7, 8)) and so.chosen == (1, 2, 3, 4)
    # A marker with no box after it chose nothing.
    assert reasoning.parse_reasoning("<think>[1, 2, 3, 4]. leftmost → </think>").chosen is None
    # No complete reasoning block: nothing to read.
    assert reasoning.parse_reasoning("<answer>[1, 2, 3, 4]</answer>") is None
    assert reasoning.parse_reasoning("<think>[1, 2, 3, 4] and no end") is None
    # Cue words are whole words, read in order, case-folded.
    assert reasoning.parse_reasoning(
        "<think>Leftmost, then topmost; leftmosts</think>"
    ).cue_words == (
        "leftmost",
        "topmost",
    )


def test_mapped_moves_every_box_into_another_frame():
    r = reasoning.parse_reasoning(STEPS).mapped(lambda b: [2 * v for v in b])
    assert r.listed[1] == (56, 24, 80, 40) and r.chosen == (16, 80, 40, 96)


def _three_ships(expression: str = "the leftmost ship") -> dict:
    """Three ships and a vehicle on a 64-px scene, the target named by ``expression``."""
    objs = [("ship", [8.0, 40.0, 20.0, 48.0]), ("ship", [28.0, 12.0, 40.0, 20.0]),
            ("ship", [52.0, 40.0, 64.0, 48.0]), ("vehicle", [30.0, 50.0, 36.0, 56.0])]  # fmt: skip
    target = {"the leftmost ship": 0, "the topmost ship": 1, "the ship": 0}[expression]
    return {
        "width": 64, "height": 64, "expression": expression, "bbox": objs[target][1],
        "category": "ship", "target_index": target,
        "objects": [{"category": c, "bbox": b} for c, b in objs],
        "resolver_steps": json.dumps(base_scenes.resolver_steps(objs, target, expression)),
    }  # fmt: skip


def test_links_of_five_completions_hand_checked():
    rec = _three_ships()
    texts = [
        STEPS,  # every link holds
        STEPS.replace("leftmost", "topmost"),  # the wrong cue word copied
        # the chosen box is not one of the listed ones
        STEPS.replace("so first [8, 40, 20, 48]", "so first [12, 40, 20, 48]"),
        # listed, but not the smallest x1: inconsistent; two candidates listed, one a miss
        "<think>first [8, 40, 20, 48]; second [30, 30, 34, 34]. leftmost x1: first 8, second 30."
        " so second [30, 30, 34, 34]</think><answer>[30, 30, 34, 34]</answer>",
        "<answer>[8, 40, 20, 48]</answer>",  # no reasoning: every link broken
    ]
    rz = [reasoning.parse_reasoning(t) for t in texts]
    m = reasoning.link_scores([rec] * 5, rz)
    assert m["reasoning_rate"] == pytest.approx(4 / 5)
    assert m["cue_copied"] == pytest.approx(3 / 5)  # 1, 3, 4 copy "leftmost" and nothing else
    assert m["choice_listed"] == pytest.approx(3 / 5)  # 1, 2, 4
    assert m["choice_consistent"] == pytest.approx(2 / 5)  # 1, 2 (2 compares by the right edge)
    # listed 3 + 3 + 3 + 2 + 0 = 11 boxes; matched 3 + 3 + 3 + 1 = 10 of 5 × 3 instances
    assert m["candidates_recall"] == pytest.approx(10 / 15)
    assert m["candidates_precision"] == pytest.approx(10 / 11)
    assert m["candidates_count_exact"] == pytest.approx(3 / 5)


def test_links_that_do_not_apply_are_nan():
    # Class only: no cue, so cue_copied and choice_consistent are NaN, the rest measured.
    rec = {k: v for k, v in _three_ships().items() if k != "resolver_steps"}
    m = reasoning.link_scores([rec], [reasoning.parse_reasoning(STEPS)])
    assert math.isnan(m["cue_copied"]) and math.isnan(m["choice_consistent"])
    assert m["choice_listed"] == 1.0 and m["candidates_recall"] == 1.0
    # A box-only model (no completion reasons): not a reasoning model, every link NaN.
    assert all(math.isnan(v) for v in reasoning.link_scores([_three_ships()], [None]).values())
    # Records without objects are not scored.
    assert all(
        math.isnan(v) for v in reasoning.link_scores([{"bbox": [0, 0, 1, 1]}], [None]).values()
    )
    with pytest.raises(ValueError, match="1 reasonings for 2 records"):
        reasoning.link_scores([rec, rec], [None])


def test_consistency_counts_ties_and_uses_the_named_edge():
    listed = [[8, 40, 20, 48], [8, 12, 16, 20], [52, 4, 64, 12]]
    assert reasoning.is_consistent(listed, [8, 40, 20, 48], "leftmost")  # tied x1 = 8
    assert reasoning.is_consistent(listed, [8, 12, 16, 20], "leftmost")
    assert reasoning.is_consistent(listed, [52, 4, 64, 12], "topmost")  # smallest y1
    assert reasoning.is_consistent(listed, [8, 40, 20, 48], "bottommost")  # largest y2
    assert reasoning.is_consistent(listed, [52, 4, 64, 12], "rightmost")  # largest x2
    assert not reasoning.is_consistent(listed, [52, 4, 64, 12], "leftmost")
    assert not reasoning.is_consistent(listed, [0, 0, 4, 4], "leftmost")  # not listed


def test_match_count_is_one_to_one_at_iou_half():
    inst = [[0, 0, 10, 10], [20, 0, 30, 10]]
    # Two listings of the first instance match it once; the second instance is missed.
    assert reasoning.match_count([[0, 0, 10, 10], [1, 0, 10, 10]], inst) == 1
    assert reasoning.match_count([[0, 0, 10, 10], [20, 0, 30, 10]], inst) == 2
    # IoU 25 / 175 < 0.5: no match.
    assert reasoning.match_count([[5, 5, 15, 15]], inst) == 0
    assert reasoning.match_count([], inst) == 0 and reasoning.match_count([[0, 0, 1, 1]], []) == 0


def test_score_grounding_reports_the_links_with_reasonings():
    rec = _three_ships("the topmost ship")
    text = (
        "<think>first [8, 40, 20, 48]; second [28, 12, 40, 20]; third [52, 40, 64, 48]. topmost y1:"
        " first 40, second 12, third 40. so second [28, 12, 40, 20]</think><answer>[28, 12, 40, 20]</answer>"
    )
    m = evaluation.score_grounding(
        [rec], [[28, 12, 40, 20]], reasonings=[reasoning.parse_reasoning(text)]
    )
    assert {k: m[k] for k in reasoning.LINK_KEYS} == {
        "cue_copied": 1.0, "choice_listed": 1.0, "choice_consistent": 1.0,
        "candidates_recall": 1.0, "candidates_precision": 1.0, "candidates_count_exact": 1.0,
        "reasoning_rate": 1.0,
    }  # fmt: skip
    assert "cue_copied" not in evaluation.score_grounding([rec], [[28, 12, 40, 20]])
