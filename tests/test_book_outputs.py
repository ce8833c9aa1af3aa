"""What the chapters write and show: strict JSON artefacts (no bare NaN), prose that says "not
measured" instead of "nan%", papermill's injected parameters folded, and trainers that print
no log dicts into a chapter."""

from __future__ import annotations

import json
import math

import pytest

from rsground_lib import bookbuild, files, models, report
from rsground_lib.training import common


def test_artefacts_are_strict_json(tmp_path):
    path = tmp_path / "m.json"
    files.write_json(path, {"a": math.nan, "b": [1.0, math.inf, {"c": -math.inf}], "d": (2, 3)})
    text = path.read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == {"a": None, "b": [1.0, None, {"c": None}], "d": [2, 3]}


def test_percent_never_says_nan():
    assert report.percent(0.7236) == "72.4%"
    assert report.percent(math.nan) == report.NOT_MEASURED == report.percent(None)
    assert "RSGROUND_DATA" in report.NOT_MEASURED
    assert report.percent(math.nan, missing="not measured") == "not measured"


def test_injected_parameters_cell_is_folded(tmp_path):
    nb = {
        "cells": [
            {"cell_type": "code", "metadata": {"tags": ["parameters"]}, "source": "a = 1"},
            {"cell_type": "code", "metadata": {"tags": ["injected-parameters"]}, "source": "a = 2"},
        ],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path = tmp_path / "c.ipynb"
    path.write_text(json.dumps(nb))
    assert bookbuild.fold_injected_parameters(path) is True
    cells = json.loads(path.read_text())["cells"]
    assert cells[0]["metadata"]["tags"] == ["parameters"]
    assert cells[1]["metadata"]["tags"] == ["injected-parameters", "hide-input"]
    assert bookbuild.fold_injected_parameters(path) is False  # already folded


def test_trainers_print_no_log_dicts(tmp_path):
    from datasets import Dataset
    from transformers import PrinterCallback

    model, processor = models.build_tiny_model(0)
    trainer = common.build_sft_trainer(
        model, processor, Dataset.from_list([{"prompt": "a", "completion": "b"}]),
        args={"output_dir": str(tmp_path), "max_steps": 1},
    )  # fmt: skip
    kinds = [type(cb) for cb in trainer.callback_handler.callbacks]
    assert PrinterCallback not in kinds


def test_status_table_says_what_is_built_run_or_not_built():
    table = report.status_table(["00_overview", "01_rewards", "03_cot_sft"])
    lines = table.splitlines()
    assert lines[0] == "| stage | in this build | GPU path |"
    row = {line.split(" | ")[0].lstrip("| "): line for line in lines[2:]}
    scoring = row["Scoring core: answer contract, rewards, consistency weight, metrics"]
    assert "{glue:text}`01_rewards.ipynb::status_scoring:s`" in scoring
    assert (
        report.NOT_RUN
        in row["Data: synthetic scenes and traces, real-benchmark readers, cue tagger"]
    )
    assert report.NOT_RUN in row["Stage 2, RFT: GRPO with the positional reward"]
    assert report.NOT_RUN in row["Ablations: rewards, consistency scores, κ, the start"]
    assert (
        report.NOT_RUN
        in row["Grounding in GeoTIFFs (our addition: windows, map coordinates, GeoJSON)"]
    )
    assert len(lines) == 2 + len(report.STAGES)
    # a stage without a chapter says it is not built
    future = report.Stage("future", "A future stage", None, "—")
    assert (
        report.status_table([], (future,)).splitlines()[2]
        == f"| A future stage | {report.NOT_BUILT} | — |"
    )


def test_glue_status_refuses_an_unknown_stage():
    import pytest

    with pytest.raises(ValueError, match="unknown stage 'training'"):
        report.glue_status("training", "built")


def test_share_claims_take_their_quantifier_from_the_values():
    claim = report.share_claim
    assert claim({"a": 0.72, "b": 0.9}, "descriptions", "use position") == (
        "most descriptions use position"
    )
    assert claim({"a": 0.2}, "descriptions", "use position") == (
        "fewer than half of descriptions use position"
    )
    assert claim({"a": 0.7, "b": 0.3}, "descriptions", "use position") == (
        "descriptions differ in how often they use position (a 70.0%, b 30.0%)"
    )
    assert claim({}, "descriptions", "use position") == (
        "whether descriptions use position is " + report.NOT_MEASURED
    )


def test_relation_words_come_from_the_values():
    words = {"more": "better than", "less": "worse than", "same": "as good as"}
    assert report.relation(0.299, 0.417, **words) == "worse than"
    assert report.relation(0.5, 0.417, **words) == "better than"
    assert report.relation(0.4171, 0.4169, **words) == "as good as"  # equal at 3 decimals


def test_points_from_states_distance_and_direction_from_one_rounded_number():
    assert report.points_from(0.434, 0.417) == "1.7 points above"
    assert report.points_from(0.377, 0.417) == "4.0 points below"
    assert report.points_from(0.4171, 0.4169) == "level with (within 0.1 points)"
    assert report.points_from(float("nan"), 0.417) == "not measured"


def test_check_table_says_met_from_the_values():
    table = report.check_table(
        {
            "cue copied": (0.96, ">=", 0.95),
            "pick": (0.41, ">=", 0.6),
            "loss": (0.2, "<=", 0.1),
            "recall": (float("nan"), ">=", 0.5),
        }  # fmt: skip
    )
    assert list(table["met"]) == ["yes", "no", "no", "not measured"]
    assert list(table["measured"]) == ["0.960", "0.410", "0.200", "—"]
    assert list(table["bar"]) == [">= 0.95", ">= 0.6", "<= 0.1", ">= 0.5"]
    with pytest.raises(ValueError, match="expected '>=' or '<='"):
        report.check_table({"x": (1.0, ">", 0.5)})


def test_links_table_rows_and_missing_values():
    live = {"with_position": {"cue_copied": 0.9, "pick_acc": 0.5, "pr@0.5": 0.3},
            "class_only": {"cue_copied": float("nan"), "pick_acc": 0.7, "pr@0.5": 0.5}}  # fmt: skip
    archived = {"with_position": {"cue_copied": 0.22, "pick_acc": None, "pr@0.5": 0.04}}
    styled = report.links_table({"before (archived)": archived, "CoT-SFT": live})
    frame = styled.data
    assert list(frame.index) == [
        ("before (archived)", "with_position"),
        ("CoT-SFT", "with_position"),
        ("CoT-SFT", "class_only"),
    ]
    assert frame.loc[("CoT-SFT", "with_position"), "cue copied"] == 0.9
    html = styled.to_html()
    assert "0.220" in html and "nan" not in html.lower() and "—" in html


def test_completions_text_wraps_each_reasoning_under_its_expression():
    from rsground_lib import report

    text = report.completions_text(
        ["the leftmost ship", "the ship"],
        [" <think>first [8, 40, 20, 48]; second [28, 12, 40, 20]. leftmost x1: first 8, second 28."
         " so first [8, 40, 20, 48]</think><answer>[8, 40, 20, 48]</answer>", "<answer>[1, 2, 3, 4]</answer>"],
        width=40,
    )  # fmt: skip
    lines = text.splitlines()
    assert lines[0] == "the leftmost ship"
    assert lines[1] == "  → <think>first [8, 40, 20, 48]; second"
    assert all(len(x) <= 40 for x in lines) and all(x.startswith("    ") for x in lines[2:-3])
    assert lines[-3:] == ["", "the ship", "  → <answer>[1, 2, 3, 4]</answer>"]
    assert " ".join(x.strip() for x in lines[1:-3]) == (  # nothing lost in the wrapping
        "→ <think>first [8, 40, 20, 48]; second [28, 12, 40, 20]. leftmost x1: first 8, second 28."
        " so first [8, 40, 20, 48]</think><answer>[8, 40, 20, 48]</answer>"
    )
    with pytest.raises(ValueError):
        report.completions_text(["a"], [])


def test_lowest_phrase_names_the_lowest_only_when_it_differs():
    from rsground_lib import report

    assert report.lowest_phrase({"a": 1.0, "b": 0.96, "all": 0.5}) == "the lowest is 96.0% (b)"
    assert report.lowest_phrase({"a": 1.0, "b": 1.0, "all": 1.0}) == "every one is 100.0%"
    with pytest.raises(ValueError, match="no values"):
        report.lowest_phrase({"all": 1.0})


def test_show_table_formats_counts_and_lets_long_labels_wrap():
    import pandas as pd

    table = pd.DataFrame(
        {"chance_pick": [0.7244, float("nan")], "n": [512.0, 7422.0]}, index=["start", "RFT"]
    )
    html = report.show_table(table).to_html()
    assert "chance_\u200bpick" in html  # may break after the underscore
    assert ">7,422<" in html and ">512<" in html  # counts without decimals
    assert ">0.724<" in html and ">—<" in html and "nan" not in html.lower()
    assert report.breakable("cum_iou") == "cum_\u200biou"


# ------------------------------------------------------------- issue 26: the book says what it found

PAIRED_NONE = {
    "plain SFT": {"p_value": 1.0},
    "CoT-SFT": {"p_value": 0.54},
    "RFT": {"p_value": 0.76},
}


def test_verdict_states_direction_and_significance_from_the_values():
    values = {"start": 0.75, "plain SFT": 0.75, "CoT-SFT": 0.736, "RFT": 0.758}
    assert report.verdict(values, PAIRED_NONE, "start") == (
        "no trained checkpoint differs from the start beyond chance (exact McNemar test: "
        "every p ≥ 0.05): plain SFT level with it (within 0.1 points; p = 1); CoT-SFT 1.4 "
        "points below it (p = 0.54); RFT 0.8 points above it (p = 0.76)"
    )
    # the numbers (smoke build at 17c7e84): every trained checkpoint below the start
    below = {"start": 0.361, "plain SFT": 0.318, "CoT-SFT": 0.217, "RFT": 0.283}
    p = {"plain SFT": {"p_value": 0.0046}, "CoT-SFT": {"p_value": 6e-15}, "RFT": {"p_value": 3e-6}}
    text = report.verdict(below, p, "start")
    assert text.startswith("every trained checkpoint is below the start (each p < 0.05): ")
    assert "CoT-SFT 14.4 points below it (p = 6e-15)" in text
    mixed = {**p, "CoT-SFT": {"p_value": 0.6}}
    assert report.verdict(below, mixed, "start").startswith(
        "only plain SFT, RFT differ from the start at p < 0.05: "
    )
    with pytest.raises(ValueError, match="paired test for every other model"):
        report.verdict(values, {"RFT": {"p_value": 0.1}}, "start")


def test_span_and_side_of():
    assert report.span({"a": 0.97, "b": 0.951}) == "95.1–97.0%"
    assert report.span([0.5, 0.5001]) == "50.0%"
    assert report.span([None, math.nan]) == "not measured"
    assert report.side_of([0.857, 0.881], 0.724) == "above"
    assert report.side_of([0.2, 0.3], 0.724) == "below"
    assert report.side_of([0.7, 0.8], 0.724) == "on both sides of"
    assert report.side_of([0.7241], 0.7239) == "level with"


def test_scenes_are_named_for_a_reader_never_by_the_raw_value():
    from rsground_lib.data import splits

    assert splits.scenes_label("base", 64) == "the tiny base's 64-px scenes"
    assert splits.scenes_label("base_scenes", 64) == "the tiny base's 64-px scenes"
    assert splits.scenes_label("synthetic", 800) == "the Data chapter's synthetic scenes (800 px)"
    with pytest.raises(ValueError, match="scenes: expected one of"):
        splits.scenes_label("toy", 64)
    # the overview's Data column takes the name from the chapter that drew the scenes
    table = report.results_table(["03_cot_sft"])
    assert "{glue:text}`03_cot_sft.ipynb::scenes:s`: val, positional cues" in table
    assert "synthetic val" not in table


def test_findings_quote_only_chapters_in_the_build():
    text = report.findings(["03_cot_sft", "05_evaluation"])
    assert "{glue:text}`05_evaluation.ipynb::headline:s`" in text
    assert "{glue:text}`03_cot_sft.ipynb::finding:s`" in text
    assert "04_rft.ipynb::" not in text
    assert text.endswith("Not in this build, so not stated here: 04_rft, 06_ablations.")


def test_show_table_prints_counts_whole_and_breakdowns_fit():
    import pandas as pd

    frame = pd.DataFrame({"pr@0.5": [0.75, 0.5], "n": [512.0, 16.0], "missing": [0.0, 1.0]})
    html = report.show_table(frame).to_html()
    assert "512" in html and "512.0" not in html and "0.000" not in html  # missing 0, not 0.000
    assert "0.750" in html
    transposed = report.show_table(frame.T, count_rows=("n",)).to_html()
    assert ">512<" in transposed and "512.000" not in transposed
    tables = {
        m: pd.DataFrame({"n": [3, 5], "pr@0.5": [v, 0.2]}, index=["a", "b"])
        for m, v in (("x", 0.1), ("y", 0.4))
    }
    styled = report.breakdown_table(tables)
    assert list(styled.data.columns) == ["n", "x", "y"] and styled.data.loc["a", "y"] == 0.4
    tables["y"] = tables["y"].assign(n=[3, 6])
    with pytest.raises(ValueError, match="'y''s groups differ"):
        report.breakdown_table(tables)


def test_model_split_tables_and_reading_table():
    results = {
        "start": {"class_only": {"pr@0.5": 0.5, "pick_acc": 0.9}},
        "RFT": {"class_only": {"pr@0.5": 0.6}},
    }
    frame = report.model_split_table(results, ("pr@0.5", "pick_acc")).data
    assert list(frame.index) == [("start", "class_only"), ("RFT", "class_only")]
    assert frame.loc[("RFT", "class_only"), "pr@0.5"] == 0.6
    assert math.isnan(frame.loc[("RFT", "class_only"), "pick_acc"])
    from collections import Counter

    from rsground_lib.data.readers.common import LoadReport

    r = LoadReport("rsvg_hr", "train", "/some/machine/path/rsvg_hr_train.txt", n_read=2151, n_kept=2150,
                   skipped=Counter(inverted=1), repaired=Counter(decimal_comma=1))  # fmt: skip
    row = report.reading_table({"RSVG-HR train": r}).loc["RSVG-HR train"]
    assert (row["read"], row["kept"], row["skipped"]) == (2151, 2150, "inverted 1")
    assert row["file"] == "rsvg_hr_train.txt" and row["kept with a flag"] == "—"


def test_the_cpu_is_recorded():
    assert report.cpu_model() and report.cpu_model() == report.environment_report()["cpu"]


def test_follows_claim_takes_its_words_from_the_values():
    assert report.follows_claim({"CoT-SFT": 0.97, "RFT": 0.95}).endswith("reasoning's own choice")
    assert report.follows_claim({"CoT-SFT": 0.11, "RFT": 0.44}).endswith("it is not followed")
    assert "differs between" in report.follows_claim({"a": 0.2, "b": 0.9})
    assert report.follows_claim({}).endswith("not measured")


def test_stage_findings_name_the_comparison_and_its_test():
    results = {
        "base": {"class_only": {"pr@0.5": 0.5}, "with_position": {"pr@0.5": 0.4}},
        "CoT-SFT": {"class_only": {"pr@0.5": 0.52}, "with_position": {"pr@0.5": 0.3}},
    }
    paired = {
        ("CoT-SFT", "class_only"): {"p_value": 0.5},
        ("CoT-SFT", "with_position"): {"p_value": 0.001},
    }
    assert report.cot_sft_finding(results, paired) == (
        "On the validation scenes, CoT-SFT: class only Pr@0.5 gains 2.0 points against the start "
        "(p = 0.5), with position Pr@0.5 loses 10.0 points against the start (p = 0.001)."
    )
    assert (
        report.cot_sft_finding(results, {})
        == "CoT-SFT was not compared with the start in this run."
    )
    rft = {
        "CoT-SFT (start)": {"class_only": {"pr@0.5": 0.5}},
        "RFT": {"class_only": {"pr@0.5": 0.498}},
    }
    p = {("RFT", "class_only"): {"p_value": 1.0}}
    assert report.rft_finding(rft, p, 0.543) == (
        "On the class-only validation scenes, RFT's Pr@0.5 loses 0.2 points against the CoT-SFT "
        "model it starts from (p = 1) and lies 4.5 points below the untrained start of SFT."
    )
    assert report.rft_finding(rft, p, None).endswith("was not scored in this run.")
