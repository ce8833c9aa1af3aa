"""Ablations (issue 27): the arms are RftConfig differences, a run is trained once and then
reused, and the statistics that decide a verdict — hand-checked on literal arrays."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from rsground_lib import ablations
from rsground_lib.data import base_scenes
from rsground_lib.training import rft
from tests import rft_scripted

# ----------------------------------------------------------------------------- arms


def test_arms_are_rftconfig_differences_and_the_factorial_is_complete():
    fields = set(rft.RftConfig.__dataclass_fields__)
    names = [a.name for a in ablations.ARMS]
    assert len(names) == len(set(names)) >= 9
    for arm in ablations.ARMS:
        assert set(arm.changes) <= fields, arm.name
        assert arm.start in {"CoT-SFT", "plain SFT", "start"}
    assert list(ablations.FACTORIAL) == names[:4]
    recipe = ablations.get_arm("recipe")
    assert recipe.changes == {} and recipe.start == "CoT-SFT"
    assert ablations.get_arm("no_weight").changes == {"consistency_kappa": 0.0}
    with pytest.raises(ValueError, match="unknown arm 'x'; known arms: recipe, no_positional"):
        ablations.get_arm("x")


# ----------------------------------------------------------------------------- statistics


def test_seed_interval_is_the_t_interval():
    out = ablations.seed_interval([0.5, 0.6, 0.7])
    # t(0.975, 2) = 4.302653; sd 0.1; half-width 4.302653 · 0.1 / √3 = 0.248414
    assert out["mean"] == pytest.approx(0.6)
    assert out["low"] == pytest.approx(0.6 - 0.248414, abs=1e-6)
    assert out["high"] == pytest.approx(0.6 + 0.248414, abs=1e-6)
    assert ablations.seed_interval([0.4]) == {"mean": 0.4, "low": None, "high": None, "n": 1}
    with pytest.raises(ValueError, match="expected measured values"):
        ablations.seed_interval([0.4, math.nan])


def test_paired_bootstrap_keeps_the_pairing():
    a = np.array([[1, 0, 1, 0], [1, 1, 0, 0]])
    same = ablations.paired_bootstrap(a, a, n_resamples=200)
    assert (same["diff"], same["low"], same["high"], same["p_improve"]) == (0.0, 0.0, 0.0, 0.0)
    # b is a on every scene plus one more hit per seed: b − a ≥ 0 in every resample
    b = np.array([[1, 1, 1, 0], [1, 1, 1, 0]])
    out = ablations.paired_bootstrap(a, b, n_resamples=500)
    assert out["diff"] == pytest.approx(0.25)  # 6/8 − 4/8
    assert 0.0 <= out["low"] <= 0.25 <= out["high"] <= 1.0
    assert out["p_improve"] > 0.8 and (out["n_seeds"], out["n_scenes"]) == (2, 4)
    with pytest.raises(ValueError, match="two \\(seeds, scenes\\) arrays of one shape"):
        ablations.paired_bootstrap(a, b[:, :3])


def test_claim_verdict_rule():
    assert ablations.claim_verdict(0.01, 0.05, 1) == "supported"
    assert ablations.claim_verdict(-0.05, -0.01, 1) == "contradicted"
    assert ablations.claim_verdict(-0.01, 0.05, 1) == "not resolved"
    assert ablations.claim_verdict(-0.05, -0.01, -1) == "supported"
    assert ablations.claim_verdict(0.01, 0.05, 0) == "no claim"


def _result(arm, seed, ious):
    return {"arm": arm, "seed": seed, "ious": {"class_only": ious}}


def test_compare_reads_matching_seeds_and_states_the_verdict():
    ref = [0.9, 0.9, 0.9, 0.1, 0.9, 0.9]
    worse = [0.1, 0.1, 0.9, 0.1, 0.1, 0.9]
    results = {
        "recipe": {0: _result("recipe", 0, ref), 1: _result("recipe", 1, ref), 2: _result("recipe", 2, ref)},
        "no_weight": {0: _result("no_weight", 0, worse), 1: _result("no_weight", 1, worse)},
    }  # fmt: skip
    out = ablations.compare(results, "no_weight", "class_only", n_resamples=300)
    assert out["seeds"] == [0, 1]  # seed 2 has no pair
    assert out["reference_pr50"]["mean"] == pytest.approx(5 / 6)
    assert out["arm_pr50"]["mean"] == pytest.approx(2 / 6)
    assert out["difference"]["diff"] == pytest.approx(0.5)
    assert [m["only_b"] for m in out["mcnemar"]] == [3, 3]  # the recipe right, the arm wrong
    assert out["verdict"] == "supported"
    with pytest.raises(ValueError, match="no seed has both 'kappa_1' and 'recipe'"):
        ablations.compare(results, "kappa_1", "class_only")


# ----------------------------------------------------------------------------- a real run


def test_run_arm_trains_once_then_reuses_and_refuses_unknown_fields(tmp_path):
    torch.set_num_threads(1)
    recipe = {
        "max_steps": 2, "per_device_train_batch_size": 4, "num_generations": 2,
        "max_completion_length": 24, "learning_rate": 1e-3, "temperature": 1.0, "num_threads": 1,
    }  # fmt: skip
    scenes = {"class_only": base_scenes.make_records(3, seed=5, image_size=64, mode="single")}
    kwargs = dict(
        recipe=recipe,
        starts={"CoT-SFT": str(rft_scripted.CHECKPOINT)},
        train_records=rft_scripted.records(4),
        scenes=scenes,
        folder=tmp_path / "ablations",
        evaluate_kwargs={"max_new_tokens": 24},
    )
    arm = ablations.get_arm("no_weight")
    result = ablations.run_arm(arm, 1, **kwargs)
    path = tmp_path / "ablations" / "no_weight" / "seed1" / "result.json"
    assert json.loads(path.read_text())["key"] == result["key"]
    assert result["config"]["consistency_kappa"] == 0.0 and result["config"]["seed"] == 1
    assert result["steps"] == 2 and len(result["ious"]["class_only"]) == 3
    assert set(result["metrics"]["class_only"]) >= {"pr@0.5", "pick_acc"}
    assert {"dispersion", "weight", "all_equal_reward"} <= set(result["curves"])
    assert result["cpu"] and result["commit"]
    assert not (path.parent / "model").exists()  # weights removed after scoring

    def no_training(*args, **kw):
        raise AssertionError("a finished arm × seed was trained again")

    again = ablations.run_arm(arm, 1, **kwargs, train=no_training)
    assert again["reused"] is True and again["key"] == result["key"]
    assert ablations.load_results(tmp_path / "ablations") == {"no_weight": {1: result}}
    bad = ablations.Arm("bad", "q", {"not_a_field": 1})
    with pytest.raises(ValueError, match="not RftConfig fields: not_a_field"):
        ablations.run_arm(bad, 0, **kwargs)
    with pytest.raises(ValueError, match="starts from 'plain SFT'; starts given: CoT-SFT"):
        ablations.run_arm(ablations.get_arm("from_plain_sft"), 0, **kwargs)
    assert Path(result["config"]["model_name_or_path"]) == rft_scripted.CHECKPOINT


@pytest.mark.parametrize(
    ("confidence", "df", "t"),
    # Student's t table (two-sided): 12.706, 4.303, 3.182, 2.776, 2.228; 0.99 at df 4: 4.604
    [(0.95, 1, 12.7062), (0.95, 2, 4.3027), (0.95, 3, 3.1824), (0.95, 4, 2.7764),
     (0.95, 10, 2.2281), (0.99, 4, 4.6041)],
)  # fmt: skip
def test_t_quantile_matches_the_table(confidence, df, t):
    assert ablations.t_quantile(confidence, df) == pytest.approx(t, abs=1e-4)


def test_verdict_table_runs_table_and_counts():
    ref = [0.9, 0.9, 0.9, 0.1, 0.9, 0.9]
    same = list(ref)
    results = {
        "recipe": {0: {**_result("recipe", 0, ref), "metrics": {"class_only": {"pr@0.5": 5 / 6}}, "steps": 2, "wall_s": 3.0}},
        "kappa_1": {0: {**_result("kappa_1", 0, same), "metrics": {"class_only": {"pr@0.5": 5 / 6}}, "steps": 2, "wall_s": 4.0}},
    }  # fmt: skip
    table = ablations.verdict_table(results, ["recipe", "kappa_1"], ["class_only"], n_resamples=200)
    assert list(table.index) == [("kappa_1", "class_only")]
    row = table.loc[("kappa_1", "class_only")]
    assert (row["recipe − arm"], row["95% low"], row["95% high"]) == (0.0, 0.0, 0.0)
    assert row["verdict"] == "no claim" and row["seeds"] == 1
    assert ablations.verdict_counts(table) == "1 no claim"
    assert ablations.verdict_counts(table.iloc[:0]) == "no comparison"
    runs = ablations.runs_table(results)
    assert (
        runs.loc[("kappa_1", 0), "wall s"] == 4.0 and runs.loc[("recipe", 0), "class_only"] == 5 / 6
    )
    assert ablations.summary(results)["recipe"][0]["steps"] == 2
    assert ablations.archived_sweep() is None  # the full sweep has not been run yet


def test_plan_uses_the_recipe_the_rft_chapter_ran(tmp_path):
    from rsground_lib import files, paths

    layout = paths.layout("smoke", tmp_path)
    with pytest.raises(FileNotFoundError, match="run the RFT chapter"):
        ablations.plan(layout)
    ran = {"max_steps": 250, "learning_rate": 5e-5, "reward_funcs": ["format", "iou", "positional"],
           "consistency_kappa": 5.0, "max_completion_length": 96, "prompt_style": "compact",
           "output_dir": "/x", "model_name_or_path": "/y", "logging_dir": "/z"}  # fmt: skip
    (layout.output("04_rft") / "rft").mkdir()
    files.write_json(layout.run("04_rft", "RFT") / "train.json", {"config": ran})
    setup = ablations.plan(
        layout, num_class_only=6, num_with_position=4, num_test=3, num_train=10,
        recipe_overrides={"max_steps": 7},
    )  # fmt: skip
    # the chapter's knobs as they ran; not the folders, not the fields the chapter does not set
    assert setup["recipe"] == {"reward_funcs": ["format", "iou", "positional"],
                               "consistency_kappa": 5.0, "max_steps": 7, "learning_rate": 5e-5,
                               "max_completion_length": 96, "prompt_style": "compact"}  # fmt: skip
    assert setup["evaluate_kwargs"] == {"prompt_style": "compact", "max_new_tokens": 96}
    assert setup["starts"]["CoT-SFT"] == str(tmp_path / "smoke" / "03_cot_sft" / "cot_sft")
    assert Path(setup["starts"]["start"]).name == "tiny-base"
    assert {k: len(v) for k, v in setup["scenes"].items()} == {
        "class_only": 6,
        "with_position": 4,
        "test": 3,
    }
    assert (
        len(setup["train_records"]) == 10 and setup["folder"] == tmp_path / "smoke" / "06_ablations"
    )
    with pytest.raises(ValueError, match="not RftConfig fields: steps"):
        ablations.plan(layout, recipe_overrides={"steps": 7})


def test_mechanism_figure_has_a_panel_per_quantity():
    from rsground_lib import plotting

    curves = {
        "all_equal_reward": {"first": 0.3, "last": 0.25},
        "weight": {"first": 0.8, "last": 0.9},
    }
    results = {
        "recipe": {0: {"curves": curves}},
        "no_weight": {0: {"curves": {"follows": {"first": 0.9, "last": 0.95}}}},
    }
    fig = plotting.ablation_curves(results)
    axes = fig.get_axes()
    assert [ax.get_title() for ax in axes] == list(plotting.MECHANISM_PANELS.values())
    assert [t.get_text() for t in axes[0].get_yticklabels()] == ["recipe", "no_weight"]
    assert len(axes[0].lines) == 3 and len(axes[3].lines) == 3  # one arm each: a line, two markers
    assert len(axes[1].lines) == 0  # no arm logged the dispersion


def test_the_command_line_refuses_bad_input(tmp_path, capsys):
    from rsground_lib import cli

    assert cli.main(["ablate", "--arms", "nope"]) == 2
    assert "unknown arm 'nope'" in capsys.readouterr().err
    assert (
        cli.main(["ablate", "--profile", "smoke", "--runs-root", str(tmp_path), "--seeds", "0"])
        == 2
    )
    assert "run the RFT chapter (book/04_rft.py)" in capsys.readouterr().err
