"""Ablations (issue 27): the arms are RftConfig differences, a run is trained once and then
reused, and the statistics that decide a verdict — hand-checked on literal arrays."""

from __future__ import annotations

import json
import math
import re
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
    with pytest.raises(ValueError, match="expected \\(seeds, scenes\\) arrays of one shape"):
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
    assert (result["threads"], result["jobs"]) == (1, 1)
    assert not (path.parent / "model").exists()  # weights removed after scoring

    def no_training(*args, **kw):
        raise AssertionError("a finished arm × seed was trained again")

    again = ablations.run_arm(arm, 1, **kwargs, train=no_training)
    assert again["reused"] is True and again["key"] == result["key"]
    # the CPU threads do not make another run: the same result is read back
    two_threads = {**kwargs, "recipe": {**recipe, "num_threads": 2}}
    assert ablations.run_arm(arm, 1, **two_threads, train=no_training)["reused"] is True
    # finished(): this setup's runs only — not a run of another recipe
    assert ablations.finished(["no_weight", "recipe"], **kwargs) == {"no_weight": {1: result}}
    longer = {**kwargs, "recipe": {**recipe, "max_steps": 3}}
    assert ablations.finished(["no_weight"], **longer) == {}
    assert ablations.finished(["recipe"], **kwargs) == {}
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
    assert row["verdict"] == "no claim" and row["seeds with p < 0.05"] == "0 of 1"
    # 8 scenes the recipe gets and the arm misses: McNemar p = 2 · 0.5⁸ = 0.0078 < 0.05
    apart = {
        "recipe": {0: _result("recipe", 0, [0.9] * 8)},
        "kappa_1": {0: _result("kappa_1", 0, [0.1] * 8)},
    }
    far = ablations.verdict_table(apart, ["kappa_1"], ["class_only"], n_resamples=50)
    assert far.loc[("kappa_1", "class_only"), "seeds with p < 0.05"] == "1 of 1"
    assert ablations.verdict_counts(table) == "1 no claim"
    assert ablations.verdict_counts(table.iloc[:0]) == "no comparison"
    runs = ablations.runs_table(results)
    assert (
        runs.loc[("kappa_1", 0), "wall s"] == 4.0 and runs.loc[("recipe", 0), "class_only"] == 5 / 6
    )
    assert ablations.summary(results)["recipe"][0]["steps"] == 2


def _run(arm, seed, ious, changes=None, **config):
    return {
        "arm": arm, "seed": seed, "ious": {"class_only": ious, "test": ious[:2]},
        "changes": changes or {}, "config": {"max_steps": 5, "seed": seed, "num_threads": 1,
        "output_dir": f"/r/{arm}/seed{seed}/model", "model_name_or_path": "/m", **(changes or {}), **config},
        "metrics": {"class_only": {"pr@0.5": 0.5}}, "curves": {}, "steps": 5, "wall_s": 9.5,
        "threads": 1, "jobs": 2, "cpu": "CPU X", "commit": "abc1234",
    }  # fmt: skip


def test_the_archive_keeps_hits_and_gives_the_same_verdicts(tmp_path):
    from rsground_lib import archive, files

    ref = [0.9, 0.5, 0.51, 0.1, 0.9, 0.9]  # IoU 0.5 is a miss (Pr@0.5 counts IoU > 0.5)
    worse = [0.1, 0.1, 0.9, 0.1, 0.1, 0.9]
    results = {
        "recipe": {s: _run("recipe", s, ref) for s in (0, 1)},
        "no_weight": {s: _run("no_weight", s, worse, {"consistency_kappa": 0.0}) for s in (0, 1)},
    }
    data = ablations.archive_sweep(results, command="rsground ablate --seeds 0 1")
    assert data["runs"]["recipe"]["1"]["hits"] == {"class_only": "101011", "test": "10"}
    assert data["runs"]["no_weight"]["0"]["hits"]["class_only"] == "001001"
    assert data["produced_by"]["cpu"] == "CPU X" and data["produced_by"]["commits"] == ["abc1234"]
    assert data["recipe"] == {"max_steps": 5}  # no seed, start, folder, threads or arm change
    no_rl = {**_run("cot_sft_only", 0, ref), "config": {"seed": 0, "model_name_or_path": "/m"}}
    with_sft = ablations.archive_sweep({**results, "cot_sft_only": {0: no_rl}}, command="c")
    assert with_sft["recipe"] == {"max_steps": 5}  # what the recipe's runs ran
    assert data["scenes"] == {"class_only": 6, "test": 2}
    (tmp_path / "experiments").mkdir()
    files.write_json(tmp_path / "experiments" / "ablations.json", data)
    (tmp_path / "_toc.yml").write_text("root: x\n")
    (tmp_path / "params").mkdir()
    back = ablations.archived_results(archive.load("ablations", tmp_path))
    assert ablations.archived_sweep(tmp_path)["title"] == data["title"]
    live = ablations.compare(results, "no_weight", "class_only", n_resamples=300)
    archived = ablations.compare(back, "no_weight", "class_only", n_resamples=300)
    for key in ("arm_pr50", "reference_pr50", "difference", "mcnemar", "verdict"):
        assert archived[key] == live[key], key
    assert archived["difference"]["diff"] == pytest.approx(4 / 6 - 2 / 6)
    assert list(ablations.runs_table(back).index) == [
        ("recipe", 0),
        ("recipe", 1),
        ("no_weight", 0),
        ("no_weight", 1),
    ]
    seeds = ablations.seeds_table(back, ["class_only"])
    assert seeds.loc["recipe", "class_only"] == "0.667 (0.667–0.667)"  # 4 of 6, both seeds
    assert seeds.loc["no_weight", "seeds"] == 2
    one = ablations.seeds_table({"recipe": {0: back["recipe"][0]}}, ["test"])
    assert one.loc["recipe", "test"] == "0.500 (1 run)"
    cost = ablations.throughput(back)
    assert list(cost.index) == ["2 runs side by side, 1 thread each"]
    assert cost.iloc[0].tolist() == [4, 9.5, pytest.approx(2 * 3600 / 9.5)]
    assert ablations.question_arms("the strength κ") == ["recipe", "kappa_1", "kappa_20"]
    assert ablations.question_arms("rewards × consistency", back) == ["recipe", "no_weight"]
    with pytest.raises(ValueError, match="unknown question 'x'; questions: rewards × consistency"):
        ablations.question_arms("x")
    other = {**results, "kappa_1": {0: {**_run("kappa_1", 0, ref[:5])}}}
    with pytest.raises(ValueError, match="scored on different scenes"):
        ablations.archive_sweep(other, command="c")
    with pytest.raises(ValueError, match="no finished run"):
        ablations.archive_sweep({}, command="c")
    bad = {"arm": "x", "hits": {"class_only": "10x"}}
    with pytest.raises(ValueError, match="hits of 'x' on 'class_only': expected 0s and 1s"):
        ablations.run_hits(bad, "class_only")


def test_run_order_is_seed_major_with_the_factorials_extra_seeds_last():
    order = ablations.run_order(["recipe", "kappa_1", "no_weight"], [0, 1], [2])
    assert order == [("recipe", 0), ("kappa_1", 0), ("no_weight", 0),
                     ("recipe", 1), ("kappa_1", 1), ("no_weight", 1),
                     ("recipe", 2), ("no_weight", 2)]  # fmt: skip
    with pytest.raises(ValueError, match="a run is asked twice"):
        ablations.run_order(["recipe"], [0, 1], [1])


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
        len(setup["train_records"]) == 10
        and setup["folder"] == tmp_path / "smoke" / "06_ablations" / "live"
    )
    sweep = ablations.plan(
        layout, num_class_only=2, num_with_position=2, num_test=2, num_train=4, part="sweep"
    )
    assert sweep["folder"] == tmp_path / "smoke" / "06_ablations" / "sweep"
    with pytest.raises(ValueError, match="part must be one of live, sweep; got 'x'"):
        ablations.plan(layout, num_train=4, part="x")
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
    assert cli.main(["ablate", "--jobs", "0"]) == 2
    assert "--jobs must be ≥ 1 and --threads ≥ 0; got 0, 0" in capsys.readouterr().err


def test_sweep_parallel_runs_in_worker_processes_and_a_serial_sweep_reuses_them(tmp_path):
    from rsground_lib import files, paths

    layout = paths.layout("smoke", tmp_path)
    recipe = {"max_steps": 1, "per_device_train_batch_size": 2, "num_generations": 2,
              "max_completion_length": 16, "learning_rate": 1e-3, "num_threads": 2}  # fmt: skip
    (layout.output("04_rft") / "rft").mkdir()
    files.write_json(layout.run("04_rft", "RFT") / "train.json", {"config": recipe})
    layout.model("CoT-SFT").parent.mkdir(parents=True, exist_ok=True)
    layout.model("CoT-SFT").symlink_to(rft_scripted.CHECKPOINT, target_is_directory=True)
    plan_kwargs = dict(layout=layout, num_train=4, num_class_only=2, num_with_position=2,
                       num_test=2, part="sweep")  # fmt: skip
    lines = []
    out = ablations.sweep_parallel(
        ["recipe", "no_weight"], [0], plan_kwargs=plan_kwargs, jobs=2, progress=lines.append
    )
    assert sorted(out) == ["no_weight", "recipe"] and len(lines) == 2
    for arm in out:
        run = out[arm][0]
        assert (run["threads"], run["jobs"], run["steps"]) == (1, 2, 1), arm
        assert run["config"]["num_threads"] == 1 and "reused" not in run

    def no_training(*args, **kw):
        raise AssertionError("a finished arm × seed was trained again")

    setup = ablations.plan(**plan_kwargs)  # the recipe's two threads: the same runs
    again = ablations.sweep(["recipe", "no_weight"], [0], **setup, train=no_training)
    assert all(again[a][0]["reused"] for a in again)
    assert ablations.finished(["recipe", "no_weight"], **setup).keys() == out.keys()
    with pytest.raises(ValueError, match="jobs and threads must be ≥ 1"):
        ablations.sweep_parallel(["recipe"], [0], plan_kwargs=plan_kwargs, jobs=0)


def test_factorial_effects_are_the_contrasts_of_the_four_arms():
    one = {"recipe": [1, 1, 1, 0], "no_positional": [1, 1, 0, 0],
           "no_weight": [1, 0, 1, 0], "no_positional_no_weight": [1, 0, 0, 0]}  # fmt: skip
    results = {a: {s: _result(a, s, [0.9 * h for h in v]) for s in (0, 1)} for a, v in one.items()}
    table = ablations.factorial_effects(results, ["class_only"], n_resamples=300)
    # positional: ½(0.75 − 0.5) + ½(0.5 − 0.25); weight: the same; interaction 0.75 − 0.5 − 0.5 + 0.25
    assert table.loc[("positional reward", "class_only"), "effect"] == pytest.approx(0.25)
    assert table.loc[("consistency weight", "class_only"), "effect"] == pytest.approx(0.25)
    assert table.loc[("interaction", "class_only"), "effect"] == pytest.approx(0.0)
    assert table.loc[("interaction", "class_only"), "verdict"] == "no claim"
    # positional reward on every scene, no weight effect anywhere: every resample agrees
    clear = {"recipe": [1] * 4, "no_positional": [0] * 4, "no_weight": [1] * 4,
             "no_positional_no_weight": [0] * 4}  # fmt: skip
    results = {a: {0: _result(a, 0, [0.9 * h for h in v])} for a, v in clear.items()}
    table = ablations.factorial_effects(results, ["class_only"], n_resamples=100)
    row = table.loc[("positional reward", "class_only")]
    assert (row["effect"], row["95% low"], row["P(effect > 0)"], row["verdict"]) == (
        1.0,
        1.0,
        1.0,
        "supported",
    )
    assert table.loc[("consistency weight", "class_only"), "verdict"] == "not resolved"
    with pytest.raises(ValueError, match="no seed has all of recipe, no_positional"):
        ablations.factorial_effects({"recipe": results["recipe"]}, ["class_only"])
    with pytest.raises(ValueError, match="2 coefficients for 1 arms"):
        ablations.contrast_bootstrap([np.ones((1, 2))], [1.0, -1.0])


def test_an_arm_without_rl_is_scored_once_and_stands_for_every_seed(tmp_path):
    arm = ablations.get_arm("cot_sft_only")
    assert not arm.rl and arm.direction == 1
    assert ablations.run_order(["recipe", "cot_sft_only"], [0, 1]) == [
        ("recipe", 0), ("cot_sft_only", 0), ("recipe", 1)]  # fmt: skip
    scenes = {"class_only": base_scenes.make_records(2, seed=5, image_size=64, mode="single")}
    result = ablations.run_arm(
        arm, 0, recipe={"max_steps": 9, "max_completion_length": 24, "learning_rate": 0.1},
        starts={"CoT-SFT": str(rft_scripted.CHECKPOINT)}, train_records=[], scenes=scenes,
        folder=tmp_path, evaluate_kwargs={"max_new_tokens": 24}, code="feedbee",
    )  # fmt: skip
    assert result["steps"] == 0 and result["curves"] == {}
    assert result["commit"] == "feedbee"  # the commit the sweep took when it started
    assert re.fullmatch(r"[0-9a-f]{7,}(\+dirty)?|unknown", ablations.commit())
    assert result["config"] == {"max_completion_length": 24, "seed": 0,
                                "model_name_or_path": str(rft_scripted.CHECKPOINT)}  # fmt: skip
    assert (rft_scripted.CHECKPOINT / "config.json").is_file()  # the start is never removed
    ref = [0.9, 0.9]
    results = {"recipe": {s: _result("recipe", s, ref) for s in (0, 1, 2)},
               "cot_sft_only": {0: _result("cot_sft_only", 0, [0.1, 0.9])}}  # fmt: skip
    out = ablations.compare(results, "cot_sft_only", "class_only", n_resamples=100)
    assert out["seeds"] == [0, 1, 2] and out["difference"]["diff"] == pytest.approx(0.5)


def test_the_chapters_sentences_are_computed_from_the_tables():
    import pandas as pd

    runs = {"recipe": {s: {} for s in range(5)}, "no_weight": {s: {} for s in range(5)},
            "kappa_1": {s: {} for s in range(3)}, "cot_sft_only": {0: {}}}  # fmt: skip
    assert ablations.sweep_shape(runs) == (
        "14 runs — 2 arms × 5 seeds, 1 arm × 3 seeds and 1 arm without RL, scored once"
    )
    assert ablations.scenes_phrase({"class_only": 1024, "with_position": 512, "test": 512}) == (
        "1,024 class-only, 512 extreme-cue and 512 test"
    )
    assert ablations.scenes_note({"class_only": 1024, "with_position": 512, "test": 600}) == ""
    assert ablations.scenes_note({"class_only": 256, "with_position": 512, "test": 512}) == (
        "fewer than the 1,024 class-only, 512 extreme-cue and 512 test scenes the sweep is "
        "designed for; a sweep at those counts is not run yet"
    )
    idx = pd.MultiIndex.from_tuples(
        [(e, s) for e in ablations.FACTORIAL_EFFECTS for s in ("class_only", "test")],
        names=["effect", "split"],
    )
    effects = pd.DataFrame(
        {"effect": [0.01, -0.02, 0.0, 0.03, 0.005, 0.0],
         "95% low": [-0.01, -0.04, -0.02, 0.01, -0.01, -0.01],
         "95% high": [0.03, 0.0, 0.02, 0.05, 0.02, 0.01],
         "verdict": ["not resolved"] * 3 + ["supported", "no claim", "no claim"]},
        index=idx,
    )  # fmt: skip
    assert ablations.effects_finding(effects) == (
        "The positional reward's main effect lies between −0.020 and +0.010 across the 2 "
        "splits (95 % intervals within −0.040 to +0.030); the weight's lies between +0.000 and "
        "+0.030 across the 2 splits (95 % intervals within −0.020 to +0.050); their interaction "
        "lies between +0.000 and +0.005 across the 2 splits (95 % intervals within −0.010 to "
        "+0.020)."
    )
    table = pd.DataFrame(
        {"recipe − arm": [0.02, 0.0], "95% low": [0.01, -0.01], "95% high": [0.03, 0.01],
         "verdict": ["supported", "not resolved"]},
        index=pd.MultiIndex.from_tuples([("from_base", "test"), ("from_base", "class_only")],
                                        names=["arm", "split"]),
    )  # fmt: skip
    assert ablations.variants_finding(table) == (
        "1 of 2 comparisons exclude 0: from_base on test (recipe − arm +0.020, interval +0.010 "
        "to +0.030). The others' intervals contain 0."
    )
    assert ablations.variants_finding(table.iloc[1:]).startswith("No variant moves Pr@0.5")
    table["P(recipe ahead)"] = [0.99, 0.03]  # the first is supported: not "leaning"
    assert ablations.leaning(table) == (
        "Not resolved, but leaning (P(recipe ahead) ≤ 0.05 or ≥ 0.95): from_base on class-only "
        "(recipe − arm +0.000: level; P(recipe ahead) 0.03)."
    )
    table["P(recipe ahead)"] = [0.99, 0.5]
    assert ablations.leaning(table).startswith("No unresolved comparison leans further")
    summary = ablations.claims_summary(effects, table)
    assert summary.startswith(
        "The positional reward helps (the factorial's main effect): 2 not resolved (of 2 splits); "
    )
    assert (
        "the spatial-consistency weight helps (the factorial's main effect): 1 not resolved, 1 supported (of 2 splits)"
        in summary
    )
    assert "SFT before RL beats RL from the untrained base: 1 supported, 1 not resolved" in summary
    assert "RL adds to the CoT-SFT model: not run" in summary
    cost = pd.DataFrame(
        {"runs": [30, 2], "median wall s": [200.0, 120.0], "runs per hour": [36.0, 30.0]},
        index=["2 runs side by side, 1 thread each", "one run at a time, 2 threads"],
    )
    assert ablations.throughput_finding(cost) == (
        "2 runs side by side, 1 thread each: 36.0 runs per hour; one run at a time, 2 threads: "
        "30.0 — 1.20× the throughput for the first. 30 of these 32 runs ran the faster way."
    )
    assert ablations.throughput_finding(cost.iloc[1:]).startswith("only one way of running")
