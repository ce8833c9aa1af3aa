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
# # CoT-SFT
#
# **Overview.** RSGround-R1's first training stage is supervised fine-tuning on synthetic
# chain-of-thought grounding data: the model is shown how to list the candidates of the
# named class with their boxes, apply the position words, and answer with one box. This
# chapter trains that stage and measures it against two references that see the same scenes:
# the starting model, and *plain SFT* — the same steps on the same scenes with the box alone
# as target. On a GPU (`make reproduce`) the model is Qwen2.5-VL-3B-Instruct with LoRA; on a
# CPU (the smoke profile) it is the project's tiny base checkpoint, and the first section
# explains why a tiny model needs one.
#
# **Prerequisites.** The answer contract and the scoring core ([Rewards](01_rewards.ipynb));
# the synthetic scenes and their reasoning traces ([Data](02_data.ipynb)).

# %% [markdown]
# ## Parameters

# %% tags=["parameters"]
profile = "smoke"  # str: parameter profile of this run (params/<profile>.yml); names the folder runs/<profile>/
runs_root = ""  # str: folder for run artefacts; "" means $RSGROUND_RUNS, else <project>/runs
seed = 0  # int ≥ 0: seed of the scenes, the trace wording and the trainer
model_name_or_path = ""  # str: checkpoint folder or hub id to start from; "" means the committed tiny base checkpoints/tiny-base
scenes = "base"  # str in {base, synthetic}: "base" (the tiny base's 64-px scenes, CPU) or "synthetic" (rich scenes of the Data chapter)
image_size = 64  # int ≥ 1: side of the scenes in pixels (the tiny base sees 64; full profile: 800)
num_train = 6400  # int ≥ 1: training scenes (each seen max_steps * per_device_train_batch_size * gradient_accumulation_steps / num_train times)
num_val = 512  # int ≥ 1: validation scenes (per split for base scenes; split by cue tags for synthetic)
max_steps = 1500  # int ≥ 1: optimizer steps of each SFT run (plain and CoT alike)
per_device_train_batch_size = 16  # int ≥ 1: scenes per device step
gradient_accumulation_steps = 1  # int ≥ 1: device steps per optimizer step
learning_rate = 0.002  # float > 0: peak learning rate (cosine decay to 10 %; full profile 1e-5 with LoRA)
warmup_steps = 40  # int ≥ 0: linear warm-up steps
use_peft = False  # bool: LoRA on the language model's projections (merged after training) instead of full fine-tuning
lora_r = 64  # int ≥ 1: LoRA rank (used when use_peft)
lora_alpha = 128  # int ≥ 1: LoRA scaling alpha (used when use_peft)
freeze_vision = True  # bool: keep the vision tower and connector fixed (only the language model learns)
init_tokens = {"<think>": "<answer>", "</think>": "</answer>"}  # dict: {new token: existing token} embedding rows copied before training ({} none); the tiny base starts its reasoning tags from its answer tags
trace_style = "compact"  # str in {compact, prose}: "compact" (terse traces for the tiny model) or "prose" (sentences)
coord_step = 4  # int ≥ 1: grid of the target boxes in model pixels (the tiny base answers in multiples of 4; Qwen: 1)
prompt_style = "compact"  # str in {compact, full}: "compact" (image + expression) or "full" (the project's system prompt)
max_new_tokens = 96  # int ≥ 1: generation budget of an answer at evaluation, in tokens
num_threads = 2  # int ≥ 0: torch CPU threads; 0 means torch's default
gallery_size = 6  # int ≥ 1: validation scenes drawn with every model's box

# %%
import json

import pandas as pd
from myst_nb import glue

from rsground_lib import archive, evaluation, models, paths, plotting, report
from rsground_lib.data import cues
from rsground_lib.training import common, sft, tiny_base

run_dir = paths.run_dir(profile, "03_cot_sft", runs_root or None)
start = model_name_or_path or str(paths.project_root() / "checkpoints" / "tiny-base")
probes = archive.load("tiny_base_probes")
variants = archive.load("cot_sft_variants")
glue("archived_probe_relation", report.relation(archive.value(probes, "dense_probe.r2_after"), archive.value(probes, "dense_probe.r2_mean_box_of_class"), more="above", less="below", same="equal to"), display=False)
archive.glue_values(probes, {"early_runs": "early_runs.count", "early_min_lo": "early_runs.minutes_each.0", "early_min_hi": "early_runs.minutes_each.1", "probe_r2": "dense_probe.r2_after", "probe_mean_box_r2": "dense_probe.r2_mean_box_of_class", "cue_run_steps": "cue_only_third_run.steps.3"})

# %% [markdown]
# ## Why the CPU path starts from a tiny base checkpoint
#
# A pretrained Qwen2.5-VL already localises objects; CoT-SFT teaches it *how to reason* about
# position. A tiny model built from random weights does not localise at all, and learning to
# do so is the hard part. Measured while building this project ({glue:text}`archived_early_runs`
# CPU runs of {glue:text}`archived_early_min_lo`–{glue:text}`archived_early_min_hi` minutes,
# archived in `experiments/tiny_base_probes.json`; details in
# `checkpoints/tiny-base/README.md`): tiny models learn the answer format
# within ~100 steps, then print almost the same box for every image — their training loss
# sits at the **image-blind floor**, the loss of a model that knows only the marginal box
# statistics, for thousands of steps. The loss was identical with true and with shuffled
# images. A Qwen2.5-VL-shaped tiny tower has no absolute position embedding and a linear
# probe could not read the object's centre from it; an Idefics3/SmolVLM-shaped tower (learned
# absolute position embeddings, pixel-shuffle connector) could, and is the architecture of
# the tiny model.
#
# The recipe that escapes the floor: first warm-start the vision tower with throw-away heads
# that regress every class's box from the image tokens, then train grounding answers with a
# curriculum from one object to several. Its result is committed as `checkpoints/tiny-base`
# (2.4 MB of weights); `make tiny-base` regenerates it from a seed in two runs, about 75
# minutes of one CPU core (the second continues the first with a fresh learning-rate cycle).
# Its training log, with the floor beside the loss:

# %%
base_dir = paths.project_root() / "checkpoints" / "tiny-base"
base_logs = {
    "run 1: warm starts, then 12,000 steps": common.read_log(base_dir / "part1" / "log.jsonl"),
    "run 2: 8,000 more steps": common.read_log(base_dir / "log.jsonl", step_offset=12_000),
}
base_floor = next(r["image_blind_floor"] for r in base_logs["run 2: 8,000 more steps"] if "image_blind_floor" in r)
plotting.show_figure(
    plotting.loss_curves(base_logs, floor=base_floor, smooth=5),
    run_dir / "figures" / "base_loss.png",
)

# %% [markdown]
# What it can do, on 512 fresh scenes per kind (`python -m rsground_lib.training.tiny_base eval-base`;
# chance levels beside each rate): it localises a lone object (Pr@0.5
# {glue:text}`base_one_object_pr50`), picks the object named by its class in
# {glue:text}`base_class_pick` of the scenes, and on extreme cues its pick
# ({glue:text}`base_position_pick`) is {glue:text}`base_position_vs_chance` a random pick among
# the instances of the class ({glue:text}`base_position_chance`). Two later attempts did not
# teach it the position words (archived: `experiments/tiny_base_probes.json`, details in
# `checkpoints/tiny-base/README.md`): {glue:text}`archived_cue_run_steps` more steps on cue
# scenes alone, and a dense probe — a regression head on the text model's last hidden state,
# trained with the whole model — whose held-out R² for the target box
# ({glue:text}`archived_probe_r2`) is {glue:text}`archived_probe_relation` that of the mean box
# of the class's instances ({glue:text}`archived_probe_mean_box_r2`), a guess that ignores the
# cue word.

# %%
base_model_eval, base_processor = models.load_model(base_dir)
base_benchmark = tiny_base.evaluate_base(base_model_eval, base_processor, n=512)
glue("base_one_object_pr50", report.percent(base_benchmark["one_object"]["pr@0.5"]), display=False)
glue("base_class_pick", report.percent(base_benchmark["class_only"]["pick_acc"]), display=False)
glue("base_position_pick", report.percent(base_benchmark["with_position"]["pick_acc"]), display=False)
glue("base_position_chance", report.percent(base_benchmark["with_position"]["chance_pick"]), display=False)
glue("base_position_vs_chance", report.relation(base_benchmark["with_position"]["pick_acc"], base_benchmark["with_position"]["chance_pick"], more="better than", less="worse than", same="as good as"), display=False)
prior = base_benchmark["with_position"]["language_prior"]
glue("prior_centre_pick", report.percent(prior["centre_pick_acc"]), display=False)
glue("prior_pick", report.percent(prior["pick_acc"]), display=False)
glue("base_centre_pick", report.percent(base_benchmark["with_position"]["centre_pick_acc"]), display=False)
position_probes = archive.load("tiny_base_position_probes")
archive.glue_values(position_probes, {"n_probes": "summary.probes", "probe_cpu_min": "summary.cpu_minutes", "best_probe": "summary.best_pick_probe"})
glue("archived_best_probe_pick", report.percent(archive.value(position_probes, "summary.best_pick")), display=False)
glue("best_probe_vs_prior", report.relation(archive.value(position_probes, "summary.best_pick"), prior["pick_acc"], more="above", less="below", same="level with", digits=2), display=False)
glue("best_probe_vs_chance", report.relation(archive.value(position_probes, "summary.best_pick"), base_benchmark["with_position"]["chance_pick"], more="above", less="below", same="level with", digits=2), display=False)
report.show_table(pd.DataFrame(base_benchmark).T[["pr@0.5", "mean_iou", "quadrant_acc", "chance_quadrant", "pick_acc", "chance_pick", "chance_pick_any"]])

# %% [markdown]
# **Position words, probed.** A pick above a random one is not yet a pick *from the image*:
# the words alone say a lot. The language-only prior of the Data chapter, fitted on these
# scenes (class and position words, no pixels), puts its box on the side the cue names; its
# box centre is nearest the target's in {glue:text}`prior_centre_pick` of the extreme-cue
# scenes (the base: {glue:text}`base_centre_pick`), and its box covers the target best — the
# pick accuracy above — in {glue:text}`prior_pick`. {glue:text}`archived_n_probes` runs
# of the recipe ({glue:text}`archived_probe_cpu_min` CPU minutes in all; archived in
# `experiments/tiny_base_position_probes.json`) looked for one that teaches the tiny model to
# pick the instance with the image. Those trained on cue scenes reach about the prior's
# centre pick; on the pick accuracy the best probe ({glue:text}`archived_best_probe`,
# {glue:text}`archived_best_probe_pick`) is {glue:text}`best_probe_vs_prior` the prior and
# {glue:text}`best_probe_vs_chance` a random pick. The probes, with the prior's row for
# reference:

# %%
archive.table(position_probes, {"changed": "what changed", "steps": "steps", "cpu_s": "CPU s", "with_position_pick_acc": "pick (extreme cues)", "with_position_centre_pick_acc": "centre pick", "chance_pick": "random pick", "with_position_pr50": "Pr@0.5 (extreme cues)", "one_object_pr50": "Pr@0.5 (one object)", "class_only_pr50": "Pr@0.5 (class only)"}, index="id")

# %% [markdown]
# **Which instance, and where its box goes.** A pick needs two things at once, and two more
# measures of the scoring core separate them: along the axis the cue names — x for "the
# leftmost ship" — does the answer's extent overlap the named instance more than the class's
# other instances (*axis pick*), and does it across that axis (*cross pick*)? A model that
# chose the right instance but wrote its other coordinates from elsewhere scores high on the
# first only. The words alone: {glue:text}`prior_axis_pick` along the axis,
# {glue:text}`prior_cross_pick` across it; the base: {glue:text}`base_axis_pick` and
# {glue:text}`base_cross_pick`; the best probe: {glue:text}`archived_best_probe_axis_pick` and
# {glue:text}`archived_best_probe_cross_pick`, against {glue:text}`base_position_chance` for a
# random pick. The best probe's axis pick is {glue:text}`best_probe_axis_vs_prior` the words'
# — it looks at the image to choose — while its cross pick is only
# {glue:text}`best_probe_cross_vs_chance` a random pick: it hardly takes the box's other
# coordinates from the instance it chose.
# {glue:text}`archived_meets_bar` of
# the {glue:text}`archived_n_probes` probes meet the bar set for a new base
# ({glue:text}`archived_bar`), so the smoke profile still runs on the committed base, whose
# position words stay unread: a CPU miniature that reads them is **not built yet**.

# %%
glue("prior_axis_pick", report.percent(prior["axis_pick"]), display=False)
glue("prior_cross_pick", report.percent(prior["cross_pick"]), display=False)
glue("base_axis_pick", report.percent(base_benchmark["with_position"]["axis_pick"]), display=False)
glue("base_cross_pick", report.percent(base_benchmark["with_position"]["cross_pick"]), display=False)
archive.glue_values(position_probes, {"meets_bar": "summary.meets_bar", "bar": "bar.text"})
glue("archived_best_probe_axis_pick", report.percent(archive.value(position_probes, "summary.best_axis_pick")), display=False)
glue("archived_best_probe_cross_pick", report.percent(archive.value(position_probes, "summary.best_cross_pick")), display=False)
glue("best_probe_axis_vs_prior", report.relation(archive.value(position_probes, "summary.best_axis_pick"), prior["axis_pick"], more="above", less="below", same="level with", digits=2), display=False)
glue("best_probe_cross_vs_chance", report.points_from(archive.value(position_probes, "summary.best_cross_pick"), base_benchmark["with_position"]["chance_pick"]), display=False)
archive.table(position_probes, {"with_position_pick_acc": "pick", "with_position_hit_rate": "box on some object", "with_position_pick_given_class_hit": "pick, when on the class", "with_position_axis_pick": "axis pick", "with_position_cross_pick": "cross pick", "chance_pick": "random pick"}, index="id")

# %% [markdown]
# ## The data the model sees
#
# Training scenes mix two kinds: one instance per class, named by its class ("the ship"), and
# two or three instances of the target's class, named by an extreme cue ("the leftmost
# ship"). The validation splits keep the two apart, so each skill is measured on its own:
# `class_only` needs the class, `with_position` needs the position word as well (on the rich
# synthetic scenes of the full profile, the split follows the expression's cue tags).

# %%
train_records, val_splits = sft.sft_data(
    scenes, num_train=num_train, num_val=num_val, seed=seed, image_size=image_size
)
plotting.show_figure(
    plotting.scene_gallery(train_records[:6]),
    run_dir / "figures" / "train_scenes.png",
)

# %% [markdown]
# One training conversation as the model's chat template renders it — the image tokens, the
# user turn and the assistant turn. The loss is computed on the assistant turn only. The
# reasoning lists the candidates of the class left to right with their boxes in the model's
# input pixels, then sorts their centres along the axis the cue names and picks one. The
# smoke profile writes it in the compact notation sized for the tiny model (boxes on its
# 4-pixel grid, no class noun); the full profile writes the prose traces of the Data chapter.

# %%
model, processor = models.load_model(start)
example = sft.sft_examples(
    [next((r for r in train_records if set(r["cues"]) & set(cues.POSITIONAL_TAGS)), train_records[0])],
    processor,
    targets="cot",
    prompt_style=prompt_style,
    trace_style=trace_style,
    coord_step=coord_step,
)[0]
print(processor.apply_chat_template(example["prompt"] + example["completion"], tokenize=False))

# %% [markdown]
# ## Before training: the starting model
#
# Every model is scored by the scoring core in original pixels (DIOR-RSVG protocol:
# continuous boxes, IoU > t), with the centre-quadrant accuracy and the *pick accuracy* —
# the predicted box overlaps the target more than any other object — beside the chance
# levels: 0.25 for the quadrant, a random pick among the objects of the target's class for
# the pick.

# %%
results, rows = {}, {}
results["base"], rows["base"] = evaluation.evaluate_splits(
    model, processor, val_splits, prompt_style=prompt_style, max_new_tokens=max_new_tokens
)
report.show_table(pd.DataFrame(results["base"]).T)

# %% [markdown]
# ## Plain SFT and CoT-SFT
#
# Both runs start from the same weights and see the same scenes in the same order for the
# same number of steps; only the target differs — the box alone, or the reasoning then the
# box.

# %%
sft_values = dict(
    model_name_or_path=start,
    prompt_style=prompt_style,
    trace_style=trace_style,
    coord_step=coord_step,
    freeze_vision=freeze_vision,
    init_tokens=init_tokens or None,
    max_steps=max_steps,
    per_device_train_batch_size=per_device_train_batch_size,
    gradient_accumulation_steps=gradient_accumulation_steps,
    learning_rate=learning_rate,
    warmup_steps=warmup_steps,
    use_peft=use_peft,
    lora_r=lora_r,
    lora_alpha=lora_alpha,
    seed=seed,
    num_threads=num_threads,
)
runs = sft.train_variants(sft_values, train_records, run_dir)
report.show_table(pd.DataFrame(
    {n: {k: r[k] for k in ("steps", "train_loss", "cpu_s", "wall_s", "num_tokens")} for n, r in runs.items()}
).T)

# %% [markdown]
# The loss curves. They are not on the same footing: plain SFT's loss covers the ~14 answer
# tokens, CoT-SFT's the reasoning as well (the candidate boxes of the other instances are
# the hard tokens in it); the dashed line is the image-blind floor of an answer.

# %%
logs = {n: common.read_log(r["folder"] / "log.jsonl") for n, r in runs.items()}
plotting.show_figure(
    plotting.loss_curves(logs, floor=None if model_name_or_path else base_floor),
    run_dir / "figures" / "sft_loss.png",
)

# %% [markdown]
# ## After training

# %%
trained_results, trained_rows = evaluation.evaluate_checkpoints(
    {name: run["folder"] for name, run in runs.items()},
    val_splits,
    prompt_style=prompt_style,
    max_new_tokens=max_new_tokens,
)
results.update(trained_results)
rows.update(trained_rows)
report.write_json(run_dir / "metrics.json", results)
columns = ["pr@0.5", "pr@0.7", "mean_iou", "cum_iou", "parse_rate", "quadrant_acc", "chance_quadrant", "pick_acc", "chance_pick", "chance_pick_any", "answer_follows_reasoning"]
table = pd.concat({m: pd.DataFrame(r).T[columns] for m, r in results.items()}, names=["model", "split"])
report.show_table(table)

# %% [markdown]
# Did a stage *lose* the start's localisation? Two Pr@0.5 values on a few hundred scenes
# differ by chance by several points, so the models are also compared scene by scene on the
# same validation scenes: `only_a` scenes the start gets right (IoU > 0.5) and the trained
# model misses, `only_b` the reverse, and the exact McNemar p-value of that difference
# (`metrics.paired_hits`).

# %%
paired = evaluation.paired_comparisons(rows, reference="base")
report.write_json(run_dir / "paired.json", {f"{n}/{s}": v for (n, s), v in paired.items()})
counts = {k: int for k in ("n", "both", "only_a", "only_b", "neither")}
pd.DataFrame(paired).T.astype(counts).style.format({"delta": "{:+.3f}", "p_value": "{:.2g}"})

# %%
report.glue_model_splits(
    results, paired, {"base": "start", "plain SFT": "plain_sft", "CoT-SFT": "cot_sft"}, reference="base"
)
glue("chance_pick_position", f"{100 * results['base']['with_position']['chance_pick']:.1f}%", display=False)
report.glue_status("cot_sft", f"built; {len(runs)} runs of {max_steps} steps trained and scored in this run, from {model_name_or_path or 'the tiny base (CPU)'}")
recipe_lost = archive.points_lost(variants, rows=[0, 1])
glue("archived_recipe_lost_min", f"{min(recipe_lost):.1f}", display=False)
glue("archived_recipe_lost_max", f"{max(recipe_lost):.1f}", display=False)
archive.glue_values(variants, {"base_small": "base_pr50.small", "base_paired": "base_pr50.paired", "scenes_small": "scenes.small", "scenes_paired": "scenes.paired", "first_box": "rows.0.first_box_pr50.0", "follows": "rows.0.follows.0", "two_threads": "thread_comparison.two_threads", "one_thread": "thread_comparison.one_thread", "collapse_steps": "without_freeze_and_init_tokens.steps", "collapse_lr": "without_freeze_and_init_tokens.learning_rate"})

# %% [markdown]
# Validation scenes with every model's box (target dashed yellow). The CoT-SFT model's
# reasoning for the first of them:

# %%
split = "with_position"
shown = val_splits[split][:gallery_size]
plotting.show_figure(
    plotting.prediction_gallery(
        shown, {m: [r["box"] for r in rows[m][split][:gallery_size]] for m in results}
    ),
    run_dir / "figures" / "predictions.png",
)

# %%
for r, rec in zip(rows["CoT-SFT"][split][:3], shown, strict=False):
    print(f"{rec['expression']}\n  → {r['text'].strip()}\n")

# %% [markdown]
# **Reading the numbers.** On the `class_only` split the starting model scores
# Pr@0.5 {glue:text}`start_class_only_pr05`%, plain SFT {glue:text}`plain_sft_class_only_pr05`%,
# CoT-SFT {glue:text}`cot_sft_class_only_pr05`%. On the `with_position` split the pick
# accuracy is {glue:text}`start_with_position_pick` (start), {glue:text}`plain_sft_with_position_pick`
# (plain) and {glue:text}`cot_sft_with_position_pick` (CoT) against
# {glue:text}`chance_pick_position` for a random pick among the instances of the class. The
# CoT-SFT model's answer is the last box of its own reasoning in
# {glue:text}`cot_sft_class_only_follows` of the `class_only` answers and
# {glue:text}`cot_sft_with_position_follows` of the `with_position` ones.
#
# Scene by scene on the same `class_only` scenes, CoT-SFT gets
# {glue:text}`cot_sft_class_only_lost` scenes wrong that the start got right and
# {glue:text}`cot_sft_class_only_gained` right that it missed (McNemar p =
# {glue:text}`cot_sft_class_only_p`); plain SFT {glue:text}`plain_sft_class_only_lost` and
# {glue:text}`plain_sft_class_only_gained` (p = {glue:text}`plain_sft_class_only_p`).
#
# **On the tiny model, in this run, CoT-SFT {glue:text}`cot_sft_class_only_change` of
# `class_only` Pr@0.5 against the start, and plain SFT {glue:text}`plain_sft_class_only_change`.**
# In the archived one-thread runs of the same recipe (the first two rows of the table below)
# CoT-SFT lost {glue:text}`archived_recipe_lost_min` to {glue:text}`archived_recipe_lost_max`
# points. What fails is carrying the reasoning into the answer: in the archived recipe run the
# first box of the reasoning scores Pr@0.5 {glue:text}`archived_first_box` (the start:
# {glue:text}`archived_base_small` on the same {glue:text}`archived_scenes_small` scenes), and
# the answer is the reasoning's box in {glue:text}`archived_follows` of the answers — the model
# often writes the first coordinate of its reasoning box and then re-localises the rest from
# the image. The variants tried, one CPU thread each, from this base (`class_only` Pr@0.5;
# the start scores {glue:text}`archived_base_small` on the {glue:text}`archived_scenes_small`
# scenes and {glue:text}`archived_base_paired` on the {glue:text}`archived_scenes_paired`):

# %%
archive.table(
    variants,
    {"steps": "steps", "pr50_small": "Pr@0.5, 128 scenes", "pr50_paired": "Pr@0.5, 512 scenes", "paired": "vs start, 512 scenes", "first_box_pr50": "first reasoning box Pr@0.5", "follows": "answer follows reasoning", "note": "note"},
    index="variant",
).style.set_caption(archive.source_line(variants))

# %% [markdown]
# The rendered run above uses two threads, as `make smoke` does; it is reproducible, but
# not the same run as the one-thread runs in the table (the floating-point sums are ordered
# differently and the trajectories part): the archived recipe scored
# {glue:text}`archived_two_threads` with two threads and {glue:text}`archived_one_thread`
# with one on the same {glue:text}`archived_scenes_paired` scenes. Freezing the vision tower
# and starting `<think>` from `<answer>` (parameters above) mattered: without them,
# {glue:text}`archived_collapse_steps` steps at learning rate {glue:text}`archived_collapse_lr`
# collapsed the model to one box per image (archived). These are a tiny model's numbers on toy
# scenes, not the paper's, and say nothing about Qwen2.5-VL, which already localises and reads.

# %% [markdown]
# ## The full profile
#
# `make reproduce` runs this chapter with `params/full.yml`: Qwen2.5-VL-3B-Instruct in bf16,
# LoRA r 64 / α 128 on the language model's projections (the vision tower frozen), learning
# rate 1e-5, prose traces and the full system prompt, on the rich synthetic scenes at 800 px,
# batch 8 × 2 accumulation steps. Before any checkpoint was at hand, the same code path was
# timed on one H200 with a model of Qwen2.5-VL-3B's shape and random weights
# (`python -m rsground_lib.bench.sft`; ~1,250 tokens per example, 841 of them image tokens;
# `benchmarks/bench_sft_h200.json`). `step_s_median` times forward, backward and optimizer
# step (tokens/s is computed from it); `wall_s_per_step_incl_data` adds the loading and
# collating of the batch on the CPU and the first steps' warm-up. Activation checkpointing
# cuts the memory of LoRA at batch 8 from {glue:text}`h200_lora_b8_gib` to
# {glue:text}`h200_lora_b8_ckpt_gib` GiB at {glue:text}`h200_ckpt_slowdown`× the step time;
# full fine-tuning (float32 master weights) needs {glue:text}`h200_full_b4_gib` GiB at batch 4
# with checkpointing (archived: measured on the H200, not on this run's machine).

# %%
bench = json.loads((paths.project_root() / "benchmarks" / "bench_sft_h200.json").read_text())
cases = bench["cases"]
glue("h200_lora_b8_gib", f"{cases['lora_b8']['peak_memory_gib']:.0f}", display=False)
glue("h200_lora_b8_ckpt_gib", f"{cases['lora_b8_ckpt']['peak_memory_gib']:.0f}", display=False)
glue("h200_ckpt_slowdown", f"{cases['lora_b8_ckpt']['step_s_median'] / cases['lora_b8']['step_s_median']:.1f}", display=False)
glue("h200_full_b4_gib", f"{cases['full_b4_ckpt']['peak_memory_gib']:.0f}", display=False)
pd.DataFrame(bench["cases"]).T[
    ["batch_size", "lora", "gradient_checkpointing", "weights_dtype", "step_s_median", "wall_s_per_step_incl_data", "tokens_per_s", "peak_memory_gib"]
]

# %% [markdown]
# ## Summary
#
# - A tiny model does not learn to localise from scratch in a CPU budget; the committed tiny
#   base, pretrained with vision warm starts and a curriculum, stands in for a pretrained
#   MLLM.
# - CoT-SFT and plain SFT run through the same TRL builder, loss on the assistant turn
#   only, from the same start on the same scenes; every model is scored by the scoring core
#   with the chance levels beside it (`runs/<profile>/03_cot_sft/metrics.json`).
# - On the tiny model, within the smoke budget, CoT-SFT {glue:text}`cot_sft_class_only_change`
#   of `class_only` Pr@0.5 against the start, plain SFT {glue:text}`plain_sft_class_only_change`
#   (the paired test above says how sure that is); its answers often do not follow its own
#   reasoning. Measured, not hidden.
# - The full profile trains Qwen2.5-VL-3B with LoRA through the same code; its step time and
#   memory were measured on an H200.
#
# ## What's next
#
# [Reinforcement fine-tuning](04_rft.ipynb) — GRPO with the positional reward and the
# spatial-consistency weight — starts from the CoT-SFT model of this chapter. The
# [design page](design.md) keeps the status of every stage.
