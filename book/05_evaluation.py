# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Evaluation
#
# **Overview.** Every checkpoint this run trained — the start, plain SFT, CoT-SFT and RFT —
# answers the same fresh test scenes; the answers are written to prediction files (one JSON
# line per scene, as `rsground predict` writes them) and scored by the project's scorer for
# anyone's predictions (`rsground eval`), with the chance levels beside the scores, then
# broken down by cue, object size and class. Beside them: what a model that never looks at
# the image scores on a real benchmark, and — in a separate table, never mixed with this
# run's numbers — what published models report on DIOR-RSVG {cite:p}`zhan2023rsvg`, OPT-RSVG
# {cite:p}`li2024lpva` and VRSBench {cite:p}`li2024vrsbench`.
#
# **Prerequisites.** The metrics and their conventions ([Rewards](01_rewards.ipynb)); the
# language-only prior ([Data](02_data.ipynb)); the checkpoints of
# [CoT-SFT](03_cot_sft.ipynb) and [RFT](04_rft.ipynb).

# %% [markdown]
# ## Parameters

# %% tags=["parameters"]
profile = "smoke"  # str: parameter profile of this run (params/<profile>.yml); names the folder runs/<profile>/
runs_root = ""  # str: folder for run artefacts; "" means $RSGROUND_RUNS, else <project>/runs
seed = 0  # int ≥ 0: seed of the test scenes
model_name_or_path = ""  # str: the model the CoT-SFT chapter started from; "" means the committed tiny base checkpoints/tiny-base
scenes = "base_scenes"  # str in {base_scenes, synthetic}: test scenes: the tiny base's 64-px scenes (CPU) or the rich synthetic scenes
image_size = 64  # int ≥ 1: side of the test scenes in pixels
num_test = 512  # int ≥ 1: test scenes (a split no training chapter drew from)
batch_size = 32  # int ≥ 1: prompts per generation batch
max_new_tokens = 96  # int ≥ 1: answer budget in tokens
prompt_style = ""  # str in {"", compact, full}: "" means each checkpoint's own (the style it was trained in, recorded in its config.json; the tiny models: compact); "compact" (image + expression) or "full" (the project's system prompt) forces one
gallery_size = 3  # int ≥ 1: successes and failures drawn each
data_root = ""  # str: folder holding the real benchmarks; "" means $RSGROUND_DATA (may be unset)
real_splits = []  # list: real splits (rsground_lib.data.benchmarks.REAL_SPLITS labels) the last checkpoint is scored on; [] none (the tiny models read 64-px toy scenes)
real_limit = 0  # int ≥ 0: only the first N records of each real split; 0 means all
reuse_finished = False  # bool: a prediction file of the same checkpoint (weights hash) and settings is continued, not redone (for re-runs of make reproduce)

# %%

import pandas as pd
from myst_nb import glue

from rsground_lib import archive, evaluation, files, models, paths, plotting, predictions, report

layout = paths.layout(profile, runs_root or None)
run_dir = layout.output("05_evaluation")
start = model_name_or_path or str(paths.tiny_base())
checkpoints, not_trained = evaluation.run_checkpoints(start, layout)
records = evaluation.split_records(scenes, split="test", num=num_test, image_size=image_size, seed=seed)
published = archive.load("published_results")
glue("checkpoints", ", ".join(checkpoints), display=False)
glue("not_trained", ", ".join(not_trained) or "none", display=False)
glue("num_test", num_test, display=False)
scenes_label = report.glue_scenes(scenes, image_size)
glue("scenes_label", scenes_label, display=False)

# %% tags=["remove-input"]
report.profile_banner(profile)

# %% [markdown]
# The checkpoints found for this profile: {glue:text}`checkpoints` (not trained in this build:
# {glue:text}`not_trained`). The test split is {glue:text}`num_test` of
# {glue:text}`scenes_label`, drawn from a seed the training chapters did not use.
#
# ## Predictions, written and scored
#
# Each checkpoint's answers go to a prediction file line by line (an interrupted run started
# again continues where it stopped); the scorer reads the files back, matches each line to
# its scene by id, and computes the benchmark metrics in original pixels.

# %%
prediction_files, links = {}, {}
for name, where in checkpoints.items():
    model, processor = models.load_model(where)
    prediction_files[name] = layout.predictions(name)
    evaluation.predict(model, processor, records, prediction_files[name], batch_size=batch_size, max_new_tokens=max_new_tokens, prompt_style=prompt_style, model_name=name, checkpoint=where, progress=False, resume="matching" if reuse_finished else False)
    links[name] = {"test": evaluation.score_texts(records, [line["completion"] for line in predictions.read_prediction_lines(prediction_files[name])], processor)[0]}
scored = {name: predictions.score_file(path, records) for name, path in prediction_files.items()}
lines = {name: predictions.read_prediction_lines(path) for name, path in prediction_files.items()}
chance = {name: evaluation.score_grounding(records, [line["bbox"] for line in lines[name]]) for name in prediction_files}
files.write_json(run_dir / "metrics.json", {"scored": scored, "with_chance": chance, "links": links})

# %%
report.show_table(pd.DataFrame({name: {k: scored[name][k] for k in (*report.SCORE_COLUMNS, "n", "missing")} for name in prediction_files}).T)

# %%
report.show_table(pd.DataFrame({name: {k: chance[name][k] for k in report.PICK_COLUMNS if k in chance[name]} for name in prediction_files}).T)

# %%
same = all(abs(scored[n][k] - chance[n][k]) < 1e-12 for n in prediction_files for k in ("pr@0.5", "mean_iou", "cum_iou"))
glue("scorers_agree", "give the same" if same else "do NOT give the same", display=False)
best = pd.Series({name: scored[name]["pr@0.5"] for name in prediction_files}).idxmax()
glue("best_model", best, display=False)
glue("best_pr50", report.percent(scored[best]["pr@0.5"]), display=False)
for name in prediction_files:
    report.glue_metrics(f"{paths.folder_name(name)}_test", scored[name])

# %% [markdown]
# The scorer for prediction files and the in-memory scorer of the training chapters
# {glue:text}`scorers_agree` Pr@0.5, meanIoU and cumIoU on every checkpoint. The highest
# Pr@0.5 on this split is {glue:text}`best_model`'s ({glue:text}`best_pr50`). The pick
# accuracy (`pick_acc`: the predicted box overlaps the target more than any other object)
# reads against a random pick among the objects of the target's class (`chance_pick`); every
# column is defined in the design page's {ref}`glossary <glossary>`.
#
# Scene by scene against the start (exact McNemar test on IoU > 0.5; `only_a`: the start
# right and the model wrong):

# %%
paired = evaluation.paired_comparisons({name: {"test": lines[name]} for name in prediction_files}, reference="start") if "start" in prediction_files else {}
files.write_json(run_dir / "paired.json", {f"{n}/{s}": v for (n, s), v in paired.items()})
counts = {k: int for k in ("n", "both", "only_a", "only_b", "neither")}
pd.DataFrame(paired).T.astype(counts).style.format({"delta": "{:+.3f}", "p_value": "{:.2g}"})

# %%
headline = report.verdict({name: scored[name]["pr@0.5"] for name in prediction_files}, {n: v for (n, _), v in paired.items()}, "start") if paired else "no comparison: the start checkpoint was not predicted in this run"
glue("headline", f"On {num_test} test scenes, {headline}.", display=False)

# %% [markdown]
# **What this run found.** {glue:text}`headline`
#
# The [CoT-SFT](03_cot_sft.ipynb) and [RFT](04_rft.ipynb) chapters compare the same
# checkpoints on their validation splits, one kind of scene each (class only; with
# positional cues); this test split mixes both kinds, from another seed, so a change here
# need not equal a change there.
#
# The reasoning of each model, link by link, on the same predictions (`rsground_lib.reasoning`;
# the design page's "Reasoning traces"): is the cue word copied, is the chosen box one of the
# listed candidates and the extreme of them along the edge the cue names, does the answer
# follow, and does the listing find the instances of the class. A model that writes no
# reasoning has no links ("—").

# %%
report.links_table(links)

# %%
reasoners = [n for n in links if pd.notna(links[n]["test"]["reasoning_rate"])]
follows = {n: links[n]["test"]["answer_follows_reasoning"] for n in reasoners}
glue("follows_span", report.span(follows), display=False)
glue("follows_claim", report.follows_claim(follows), display=False)
glue("reasoners", " and ".join(reasoners) or "no checkpoint", display=False)
weak_link, weak_value = report.weakest(links[reasoners[-1]]["test"], tuple(report.LINK_COLUMNS)) if reasoners else ("none", None)
glue("weak_model", reasoners[-1] if reasoners else "no checkpoint", display=False)
glue("weak_link", report.LINK_COLUMNS.get(weak_link, weak_link), display=False)
glue("weak_value", report.percent(weak_value, missing="not measured"), display=False)
pick = {n: chance[n]["pick_acc"] for n in prediction_files}
chance_level = chance["start"]["chance_pick"] if "start" in chance else next(iter(chance.values()))["chance_pick"]
glue("pick_span", report.span(pick), display=False)
glue("chance_pick", report.percent(chance_level), display=False)
glue("pick_vs_chance", report.side_of(pick.values(), chance_level), display=False)

# %% [markdown]
# **Why.** The answers of {glue:text}`reasoners` follow their reasoning's box in
# {glue:text}`follows_span` of the scenes, {glue:text}`follows_claim`; the weakest link of
# {glue:text}`weak_model`'s reasoning is *{glue:text}`weak_link`* ({glue:text}`weak_value`). Every checkpoint picks the named instance in
# {glue:text}`pick_span` of the scenes, {glue:text}`pick_vs_chance` a random pick among the
# instances of its class ({glue:text}`chance_pick`). One seed per arm cannot separate a
# stage's effect from seed noise: the [ablations](06_ablations.ipynb) repeat the RL stage's
# arms over seeds, score the SFT models beside them on the same scenes, and test the
# differences.
#
# ## Where the models fail: cue, size and class
#
# The same predictions, per group of scenes (`metrics.metrics_by`; Pr@0.5 per model, meanIoU
# in `breakdowns.json`): by the expression's cue
# tags (a scene named by its class alone is "class only"), by the target's share of the
# image (small below 1 %, large above 5 %; our bins) and by class.

# %%
breakdowns = {by: {name: evaluation.breakdown_table(records, lines[name], by).set_index(by)[["n", "pr@0.5", "mean_iou"]] for name in prediction_files} for by in ("cue", "size", "class")}
files.write_json(run_dir / "breakdowns.json", {by: {name: t.to_dict(orient="index") for name, t in tables.items()} for by, tables in breakdowns.items()})
report.breakdown_table(breakdowns["cue"])

# %%
last = list(prediction_files)[-1]
glue("last_model", last, display=False)
glue("cue_lowest", report.lowest_phrase(breakdowns["cue"][last]["pr@0.5"].to_dict()), display=False)

# %% [markdown]
# By cue, {glue:text}`last_model`'s Pr@0.5: {glue:text}`cue_lowest`.

# %%
report.breakdown_table(breakdowns["size"])

# %%
report.breakdown_table(breakdowns["class"])

# %% [markdown]
# ## Successes and failures
#
# The last checkpoint's best and worst answers on the test split (target dashed yellow).

# %%
good, bad = evaluation.gallery_picks(lines[last], gallery_size)
glue("gallery_model", last, display=False)
glue("gallery_size", gallery_size, display=False)
plotting.show_figure(
    plotting.prediction_gallery([records[i] for i in good + bad], {last: [lines[last][i]["bbox"] for i in good + bad]}),
    run_dir / "figures" / "gallery.png",
)

# %% [markdown]
# The first row holds {glue:text}`gallery_model`'s {glue:text}`gallery_size` highest-IoU
# answers, the second its lowest.
#
# ## A model that does not look: the language-only prior
#
# On a real benchmark, part of the score needs no pixels: the Data chapter fits a prior that
# predicts a box from the expression's class, position and size words alone, on DIOR-RSVG
# train, and scores it on DIOR-RSVG test. Its scores in this build (read from that chapter's
# artefacts):

# %%
prior = (layout.read_json("02_data") or {}).get("language_prior", {}).get("dior_rsvg_test", {})
glue("prior_pr50", report.percent(prior.get("pr@0.5")), display=False)
report.show_table(pd.DataFrame({"language-only prior, DIOR-RSVG test": {k: prior.get(k) for k in ("pr@0.5", "pr@0.7", "pr@0.9", "mean_iou", "cum_iou")}}).T)

# %% [markdown]
# The prior's Pr@0.5 on DIOR-RSVG test: {glue:text}`prior_pr50`.
#
# ## The last checkpoint on the real benchmarks
#
# The full profile scores the last checkpoint of the run on the real splits named in
# `real_splits`; the smoke profile names none — the tiny models read 64-pixel toy scenes,
# and their answers on 800-pixel aerial images would measure nothing.

# %%
real_scores, real_notes = evaluation.score_real_splits(checkpoints[list(checkpoints)[-1]], paths.data_root(data_root or None), real_splits, run_dir / "real", limit=real_limit, resume="matching" if reuse_finished else False, batch_size=batch_size, max_new_tokens=max_new_tokens, prompt_style=prompt_style)
files.write_json(run_dir / "real_metrics.json", real_scores)
glue("real_scored", ", ".join(real_scores) or ("none: no real split is named on this profile" if not real_splits else "none found (" + "; ".join(real_notes) + ")"), display=False)
report.glue_status("evaluation", f"built; {len(prediction_files)} checkpoints predicted and scored on {num_test} test scenes ({scenes_label}) in this run; real benchmarks: " + (f"{', '.join(real_scores)} scored" if real_scores else "none scored on this profile" if not real_splits else "none scored (not found)"))
report.show_table(pd.DataFrame(real_scores).T) if real_scores else None

# %% [markdown]
# Real splits scored in this run: {glue:text}`real_scored`. The same two commands do it for
# any checkpoint, and the second for anyone's predictions:
#
# ```bash
# rsground predict --checkpoint runs/full/04_rft/rft --benchmark dior_rsvg --data-root $RSGROUND_DATA/dior_rsvg --split test -o dior_test.jsonl
# rsground eval dior_test.jsonl --benchmark dior_rsvg --data-root $RSGROUND_DATA/dior_rsvg --split test --json dior_test.json
# ```
#
# `rsground eval` also scores other models' outputs: `--coords` says which frame their
# boxes are in (`original` pixels, `qwen2.5-vl`'s resized input, Qwen2-VL's `norm1000`, or
# `norm100`): a model that answers in a normalised frame must be mapped back to pixels
# before it is scored, so the frame is an explicit choice, never a guess.
#
# ## Published results
#
# What other papers report — **not measured by this project**, transcribed from the sources
# named in each row (archived: `experiments/published_results.json`; the sources are the
# authors' repositories — among them MB-ORES's and PR-VG's {cite:p}`sunprvg` — whose tables
# could be read as text, not the papers' PDFs). Protocols
# differ between sources (IoU > t or ≥ t, splits revised over time), so the rows are not
# strictly comparable with each other, and not at all with the toy scenes above. Not found
# in a source that could be read as text, hence absent: Qwen2-VL's and Qwen2.5-VL's zero-shot
# scores on these benchmarks, GeoGround's own tables {cite:p}`zhou2024geoground` (it appears
# once, on DIOR-RSVG, as quoted by MB-ORES {cite:p}`radouane2025mbores`), and GeoChat
# {cite:p}`kuckreja2024geochat` on DIOR-RSVG.

# %%
report.published_table(published, "DIOR-RSVG")

# %%
report.published_table(published, "OPT-RSVG")

# %%
report.published_table(published, "VRSBench (visual grounding)")

# %% [markdown]
# ## Summary
#
# - {glue:text}`headline`
# - Every checkpoint of the run is predicted into a resumable file and scored by the same
#   scorer that reads anyone's predictions.
# - The breakdowns show where each model fails; the language-only prior
#   ({glue:text}`prior_pr50` on DIOR-RSVG test) is the floor a real model must clear.
# - Published numbers stay in their own table, with their sources.
#
# ## What's next
#
# [Ablations](06_ablations.ipynb) change the RFT recipe one thing at a time and judge each of
# the paper's claims on the same scenes and seeds; [grounding in a map](07_geo.ipynb) takes a
# checkpoint out of the benchmarks, into rasters of any size. The [design page](design.md)
# keeps the status of every stage.
