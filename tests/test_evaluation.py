"""The evaluation module's pure parts (quadrants, chance levels, paired comparisons) and the
conversation a record becomes, with hand-checked values; the model-driven parts run in
tests/test_training.py and tests/test_sft.py on the tiny base."""

from __future__ import annotations

import math

import pytest

from rsground_lib import conversation, evaluation, models, paths, prompts


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


# ----------------------------------------------------------------------------- the chapter's helpers


def test_run_checkpoints_lists_what_the_run_trained(tmp_path):
    layout = paths.layout("smoke", tmp_path)
    sft_dir = tmp_path / "smoke" / "03_cot_sft"
    (sft_dir / "cot_sft").mkdir(parents=True)
    (sft_dir / "cot_sft" / "config.json").write_text("{}")
    (sft_dir / "plain_sft").mkdir()  # a folder without a model: not trained
    present, absent = evaluation.run_checkpoints("Qwen/Qwen2.5-VL-3B-Instruct", layout)
    assert present == {"start": "Qwen/Qwen2.5-VL-3B-Instruct", "CoT-SFT": str(sft_dir / "cot_sft")}
    assert absent == ["plain SFT", "RFT"]
    assert not (tmp_path / "smoke" / "04_rft").exists()  # reading creates nothing


def test_size_bins_breakdown_and_gallery_picks():
    assert [evaluation.size_bin(b, 100, 100) for b in ([0, 0, 9, 9], [0, 0, 10, 10], [0, 0, 22, 22], [0, 0, 23, 23])] == [
        "small", "medium", "medium", "large"]  # fmt: skip
    recs = [
        {"id": "a", "bbox": [0, 0, 10, 10], "width": 100, "height": 100, "cues": ["none"], "category": "ship"},
        {"id": "b", "bbox": [50, 50, 60, 60], "width": 100, "height": 100, "cues": ["extreme"], "category": "ship"},
    ]  # fmt: skip
    lines = [{"id": "a", "bbox": [0, 0, 10, 10], "iou": 1.0}, {"id": "b", "bbox": None, "iou": 0.0}]
    cue = evaluation.breakdown_table(recs, lines, "cue").set_index("cue")
    assert cue.loc["all", "pr@0.5"] == 0.5
    assert cue.loc["class only", "pr@0.5"] == 1.0 and cue.loc["extreme", "pr@0.5"] == 0.0
    with pytest.raises(ValueError, match="is not record id"):
        evaluation.breakdown_table(recs, lines[::-1], "cue")
    iou = [{"iou": v} for v in (0.3, 0.9, 0.0, 0.6, 0.1)]
    assert evaluation.gallery_picks(iou, 2) == ([1, 3], [2, 4])


def test_score_real_splits_says_what_it_did_not_find(tmp_path):
    assert evaluation.score_real_splits("unused", None, [], tmp_path) == ({}, [])
    scores, notes = evaluation.score_real_splits("unused", None, ["DIOR-RSVG test"], tmp_path)
    assert scores == {} and notes == ["DIOR-RSVG test: no data root (RSGROUND_DATA is not set)"]


def test_real_splits_without_images_are_a_note_and_half_the_images_an_error(tmp_path):
    """Annotations without any image (this project's test data) are named in the notes and
    not scored — before any model is loaded; some images present and others absent is an
    error that names the first missing file."""
    import json

    from PIL import Image

    folder = tmp_path / "dior_rsvg" / "records"
    folder.mkdir(parents=True)
    rows = [{"image": f"{i:05d}.jpg", "bbox": [10, 10, 50, 60], "expression": "the ship"}
            for i in (1, 2)]  # fmt: skip
    (folder / "test.json").write_text(json.dumps(rows))
    scores, notes = evaluation.score_real_splits("unused", tmp_path, ["DIOR-RSVG test"], tmp_path)
    assert scores == {} and len(notes) == 1
    assert notes[0].startswith("DIOR-RSVG test: none of its images is there (first: ")
    assert notes[0].endswith("images/00001.jpg); not scored")
    (folder / "images").mkdir()
    Image.new("RGB", (800, 800)).save(folder / "images" / "00001.jpg")
    with pytest.raises(
        FileNotFoundError, match=r"DIOR-RSVG test: 1 of 2 images are missing, the first .*00002.jpg"
    ):
        evaluation.score_real_splits("unused", tmp_path, ["DIOR-RSVG test"], tmp_path)


def test_choose_checkpoint():
    present, absent = {"start": "base", "CoT-SFT": "runs/x/cot_sft"}, ["plain SFT", "RFT"]
    assert evaluation.choose_checkpoint("", present, absent, "tiny") == "tiny"
    assert evaluation.choose_checkpoint("CoT-SFT", present, absent, "tiny") == "runs/x/cot_sft"
    assert evaluation.choose_checkpoint("some/folder", present, absent, "tiny") == "some/folder"
    with pytest.raises(ValueError, match="'RFT': this profile's run has not trained it yet"):
        evaluation.choose_checkpoint("RFT", present, absent, "tiny")
