"""The evaluation module's pure parts (quadrants, chance levels, paired comparisons) and the
conversation a record becomes, with hand-checked values; the model-driven parts run in
tests/test_training.py and tests/test_sft.py on the tiny base."""

from __future__ import annotations

import math

import pytest

from rsground_lib import conversation, evaluation, models, prompts


def test_quadrant_of_the_box_centre():
    assert evaluation.quadrant([0, 0, 10, 10], (64, 64)) == 0
    assert evaluation.quadrant([40, 0, 50, 10], (64, 64)) == 1
    assert evaluation.quadrant([0, 40, 10, 50], (64, 64)) == 2
    assert evaluation.quadrant([27, 27, 37, 37], (64, 64)) == 3  # centre (32, 32) counts right/down


def test_chance_pick_from_n_same_or_objects():
    assert evaluation.chance_pick({"n_same": 4}) == 0.25
    rec = {"category": "ship", "objects": [{"category": "ship"}, {"category": "ship"},
                                           {"category": "vehicle"}]}  # fmt: skip
    assert evaluation.chance_pick(rec) == 0.5
    assert math.isnan(evaluation.chance_pick({"category": "ship"}))


def test_paired_comparisons_against_the_reference():
    rows = {
        "base": {"s": [{"iou": 0.9}, {"iou": 0.9}, {"iou": 0.1}, {"iou": 0.1}]},
        "a": {"s": [{"iou": 0.9}, {"iou": 0.2}, {"iou": 0.8}, {"iou": 0.7}]},
    }
    out = evaluation.paired_comparisons(rows, reference="base")
    assert list(out) == [("a", "s")]
    p = out["a", "s"]
    assert (p["both"], p["only_a"], p["only_b"], p["neither"]) == (1, 1, 2, 0)
    assert p["delta"] == pytest.approx(0.25)
    with pytest.raises(ValueError, match="no rows for the reference 'start'"):
        evaluation.paired_comparisons(rows, reference="start")


def test_prompt_styles_and_box_answer():
    assert prompts.box_answer([8.4, 20, 31.6, 44]) == "<answer>[8, 20, 32, 44]</answer>"
    assert prompts.conversation(" the ship ", (64, 64), "compact") == [
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "the ship"}]}
    ]
    full = prompts.conversation("the ship", (64, 48), "full")
    assert [m["role"] for m in full] == ["system", "user"]
    assert "64x48" in full[1]["content"][1]["text"]
    with pytest.raises(ValueError, match="prompt_style"):
        prompts.conversation("the ship", (64, 64), "verbose")


def test_answer_box_quantises_only_on_a_grid_coarser_than_one_pixel():
    assert conversation.answer_box([10.0, 20.0, 30.0, 45.0], (64, 64), 4) == [8, 20, 32, 44]
    assert conversation.answer_box([10.4, 20.0, 30.0, 45.0], (64, 64), 1) == [
        10.4,
        20.0,
        30.0,
        45.0,
    ]


def test_target_box_in_model_pixels():
    _, processor = models.build_tiny_model(0)  # a 64-px square input
    rec = {"width": 128, "height": 256, "bbox": [20.0, 40.0, 60.0, 90.0]}
    box, size = conversation.target_box_model(rec, processor)
    assert size == (64, 64) and box == [10.0, 10.0, 30.0, 22.5]
