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
# # Reinforcement fine-tuning
#
# **Overview.** RSGround-R1's second and third stages: GRPO — as Visual-RFT
# {cite:p}`liu2025visualrft` and VLM-R1 {cite:p}`shen2025vlmr1` apply it to grounding with an
# IoU reward — on the CoT-SFT model, with a
# format reward, an IoU reward and a continuous *positional* reward, and each prompt group's
# update scaled by how coherent its rollouts' boxes are (*spatial-consistency guided
# optimisation*). This chapter measures why the positional reward is needed — on the start
# model's own rollouts, how many groups an IoU-only reward leaves without any learning
# signal — trains the paper's recipe (our reading of it) with TRL's `GRPOTrainer` {cite:p}`vonwerra2020trl`, draws what
# changes during training, and scores the start and the RFT model scene by scene on the
# CoT-SFT chapter's validation scenes. On a CPU (the smoke profile) the model is the tiny
# model of the CoT-SFT chapter; `make reproduce` runs the same code on Qwen2.5-VL.
#
# **Prerequisites.** The rewards, the consistency weight and GRPO's group-relative advantage
# ([Rewards](01_rewards.ipynb)); the CoT-SFT model this chapter starts from
# ([CoT-SFT](03_cot_sft.ipynb)).

# %% [markdown]
# ## Parameters

# %% tags=["parameters"]
profile = "smoke"  # str: parameter profile of this run (params/<profile>.yml); names the folder runs/<profile>/
runs_root = ""  # str: folder for run artefacts; "" means $RSGROUND_RUNS, else <project>/runs
seed = 0  # int ≥ 0: seed of the scenes (the CoT-SFT chapter's), the rollouts and the trainer
model_name_or_path = ""  # str: checkpoint folder or hub id to start from; "" means this profile's CoT-SFT model (runs/<profile>/03_cot_sft/cot_sft)
scenes = "base"  # str in {base, synthetic}: scenes of the CoT-SFT chapter: "base" (64-px, CPU) or "synthetic" (rich scenes)
image_size = 64  # int ≥ 1: side of the scenes in pixels (as in the CoT-SFT chapter)
num_train = 6400  # int ≥ 1: training scenes (the prompts GRPO draws from)
num_val = 512  # int ≥ 1: validation scenes per split (the CoT-SFT chapter's)
reward_funcs = ["format", "iou", "positional"]  # list: rewards by registry name (rsground_lib.rewards.REWARDS), summed with weight 1
consistency_score = "center_dispersion"  # str in {center_dispersion, mean_pairwise_iou}: coherence score of a group's boxes
consistency_kappa = 5.0  # float in [0, inf): κ of the group weight clip(exp(-κ·score), w_min, 1); 0 is plain GRPO
consistency_w_min = 0.1  # float in [0, 1]: floor of the weight w
max_steps = 250  # int ≥ 1: GRPO optimizer steps
per_device_train_batch_size = 64  # int ≥ 2: completions per device step (prompts × num_generations)
num_generations = 8  # int ≥ 2: completions per prompt (the group size G)
gradient_accumulation_steps = 1  # int ≥ 1: device steps per optimizer step
learning_rate = 5e-5  # float > 0: learning rate (constant)
beta = 0.04  # float in [0, inf): KL coefficient against the start model
epsilon = 0.2  # float > 0: PPO clipping range of the probability ratio
temperature = 0.9  # float > 0: sampling temperature of the rollouts
max_completion_length = 96  # int ≥ 1: most tokens of a rollout
use_peft = False  # bool: LoRA on the language model's projections (merged after training) instead of full fine-tuning
lora_r = 64  # int ≥ 1: LoRA rank (used when use_peft)
lora_alpha = 128  # int ≥ 1: LoRA scaling alpha (used when use_peft)
freeze_vision = True  # bool: keep the vision tower and connector fixed (as in the CoT-SFT chapter)
activation_checkpointing = False  # bool: recompute activations in the backward pass (GPU memory for time)
save_steps = 0  # int ≥ 0: optimizer steps between trainer checkpoints, from which an interrupted run continues (with reuse_finished); 0 means none
use_vllm = False  # bool: rollouts with vLLM instead of transformers' generate (needs a vLLM TRL accepts, 0.22-0.31, and the transformers it pins)
prompt_style = "compact"  # str in {compact, full}: "compact" (image + expression) or "full" (the project's system prompt)
num_probe_prompts = 128  # int ≥ 1: training scenes whose start-model rollouts measure the rewards' learning signal
max_new_tokens = 96  # int ≥ 1: generation budget of an answer at evaluation, in tokens
num_threads = 2  # int ≥ 0: torch CPU threads; 0 means torch's default
reuse_finished = False  # bool: a finished RFT run of the same config and scenes in the run folder is reused, an interrupted one continues from its last trainer checkpoint (for re-runs of make reproduce)

# %%

import pandas as pd
from myst_nb import glue

from rsground_lib import (
    advantages,
    archive,
    config,
    consistency,
    evaluation,
    files,
    generation,
    models,
    paths,
    plotting,
    profiles,
    report,
    rewards,
)
from rsground_lib.data import splits
from rsground_lib.training import common, rft

layout = paths.layout(profile, runs_root or None)
run_dir = layout.output("04_rft")
start = rft.start_checkpoint(model_name_or_path, layout)
train_records, val_splits = splits.train_and_val(scenes, num_train=num_train, num_val=num_val, seed=seed, image_size=image_size)
probes = archive.load("rft_probes")

# %% tags=["remove-input"]
report.profile_banner(profile)

# %% [markdown]
# ## Why an IoU-only reward starves
#
# GRPO learns from the *differences* between the rewards of one prompt's rollouts: a group
# whose rewards are all equal has every advantage 0 and teaches nothing. Under an IoU reward,
# every box that misses the target scores 0, so a group of misses is such a group. Here are
# the start model's own rollouts — {glue:text}`num_generations` sampled answers to each of
# {glue:text}`num_probe_prompts` training scenes — scored by each registered reward:

# %%
model, processor = models.load_model(start)
groups = generation.sample_groups(model, processor, train_records[:num_probe_prompts], num_generations=num_generations, temperature=temperature, max_new_tokens=max_completion_length, prompt_style=prompt_style, seed=seed)
del model  # the trainer loads its own copy: free the memory for it
models.free_memory()
group_rewards = rewards.group_rewards(groups, list(rewards.REWARDS))
starvation = pd.DataFrame({name: {"groups with all-equal rewards": advantages.all_equal_fraction(r), "mean reward": r.mean()} for name, r in group_rewards.items()}).T
files.write_json(run_dir / "starvation.json", starvation.to_dict(orient="index"))
report.show_table(starvation)

# %%
glue("num_generations", num_generations, display=False)
glue("num_probe_prompts", num_probe_prompts, display=False)
glue("iou_all_equal", report.percent(starvation.loc["iou", "groups with all-equal rewards"]), display=False)
glue("positional_all_equal", report.percent(starvation.loc["positional", "groups with all-equal rewards"]), display=False)
glue("format_all_equal", report.percent(starvation.loc["format", "groups with all-equal rewards"]), display=False)
glue("format_mean", report.percent(starvation.loc["format", "mean reward"]), display=False)

# %% [markdown]
# Under IoU alone {glue:text}`iou_all_equal` of the groups have all-equal rewards; under the
# positional reward {glue:text}`positional_all_equal`. The positional reward — DIoU rescaled
# to $[0, 1]$, our reading of the paper — still ranks two misses by how far they are from
# the target, so a group of misses keeps a direction to move in. The format reward is
# all-equal in {glue:text}`format_all_equal` of the groups: {glue:text}`format_mean` of the
# rollouts already follow the contract, and the reward only speaks when one breaks it. The
# paper's recipe sums format, IoU and positional, so a group is silent only when all three
# are. (`gaussian_center` and `center_distance` are the alternative positional rewards of the
# design page; `reasoning_agreement` is our addition, not the paper's, tried in the sweep at
# the end.)
#
# ## Coherent and scattered groups
#
# The consistency weight looks at where a group's boxes are, not at the target: the
# dispersion of their centres (over the image diagonal) becomes the weight
# $w = \operatorname{clip}(e^{-\kappa s}, w_\text{min}, 1)$ that scales the group's
# advantages. The start model's most coherent and most scattered groups among the probe
# scenes (target dashed yellow):

# %%
scores, weights = consistency.group_weights(groups["boxes"], groups["image_size_model"], kappa=consistency_kappa, w_min=consistency_w_min, score=consistency_score)
shown = [int(scores.argmin()), int(scores.argmax())]
plotting.show_figure(
    plotting.rollout_groups(
        {
            "most coherent: " + train_records[shown[0]]["expression"]: groups["boxes"][shown[0]],
            "most scattered: " + train_records[shown[1]]["expression"]: groups["boxes"][shown[1]],
        },
        [groups["bbox_model"][i] for i in shown],
        groups["image_size_model"][shown[0]],
        scores=scores[shown],
        weights=weights[shown],
        images=[train_records[i]["image"] for i in shown],
    ),
    run_dir / "figures" / "groups.png",
)
glue("probe_weight_mean", f"{weights.mean():.2f}", display=False)
glue("probe_weight_min", f"{weights.min():.2f}", display=False)

# %% [markdown]
# Over the probe groups the weight averages {glue:text}`probe_weight_mean` (lowest
# {glue:text}`probe_weight_min`) at κ = {glue:text}`kappa`. A group with a weight below 1
# takes a smaller step, so the weight also lowers the effective learning rate; the sweep at
# the end of the chapter compares arms with and without it at two learning rates.
#
# ## Training
#
# `rsground_lib.training.rft.ConsistencyGRPOTrainer` is TRL's `GRPOTrainer` with one change:
# after TRL has computed the group-relative advantages, each group's are multiplied by its
# weight (scaling the rewards instead would be undone by the group normalisation). Every
# completion is parsed once per step; the boxes are gathered across processes in the order
# TRL gathers the rewards, so a group split between two GPUs gets one weight (tested with
# two processes). With κ = 0 the trainer is TRL's, to the bit (tested).

# %%
rft_values = {**config.field_values(rft.RftConfig, profiles.parameter_values("04_rft", globals())),
              "model_name_or_path": start, "output_dir": str(layout.model("RFT"))}
run = rft.train_rft(rft_values, train_records, reuse=reuse_finished)
run["s_per_step"] = run["wall_s"] / run["steps"]
glue("kappa", f"{consistency_kappa:g}", display=False)
glue("rft_steps", run["steps"], display=False)
glue("rft_s_per_step", f"{run['s_per_step']:.2f}", display=False)
glue("rft_wall_min", f"{run['wall_s'] / 60:.1f}", display=False)
report.show_table(pd.DataFrame({"RFT": {k: run[k] for k in ("steps", "train_loss", "cpu_s", "wall_s", "s_per_step")}}).T)

# %% [markdown]
# {glue:text}`rft_steps` steps took {glue:text}`rft_wall_min` minutes here,
# {glue:text}`rft_s_per_step` s per step (rollouts, rewards, reference and policy passes).
# What the trainer logged at every step (faint: raw; solid: running mean of 10 steps). The
# top-right panel is our counterpart of the paper's rollout-dispersion figure: the mean
# dispersion of the groups' boxes, and the weights it gave.

# %%
log = common.read_log(layout.model("RFT") / "log.jsonl")
plotting.show_figure(plotting.rft_curves(log), run_dir / "figures" / "rft_curves.png")
dispersion_first, dispersion_last = rft.log_window_means(log, "consistency/score_mean", fraction=0.1)
glue("dispersion_first", f"{dispersion_first:.3f}", display=False)
glue("dispersion_last", f"{dispersion_last:.3f}", display=False)
glue("dispersion_relation", report.relation(dispersion_last, dispersion_first, more="above", less="below", same="equal to"), display=False)

# %% [markdown]
# The groups' mean dispersion over the last tenth of the steps ({glue:text}`dispersion_last`)
# is {glue:text}`dispersion_relation` that over the first tenth ({glue:text}`dispersion_first`).
#
# ## Start and RFT, scene by scene
#
# Both models answer the CoT-SFT chapter's validation scenes greedily and are scored by the
# scoring core in original pixels, with the chance levels beside them; the paired test counts
# the scenes one model gets right (IoU > 0.5) and the other misses (exact McNemar p-value,
# `metrics.paired_hits`). Box scores first, then which instance the answer chose beside its
# chance levels (every column is defined in the {ref}`glossary <glossary>`).

# %%
results, rows = evaluation.evaluate_checkpoints(
    {"CoT-SFT (start)": start, "RFT": layout.model("RFT")},
    val_splits,
    prompt_style=prompt_style,
    max_new_tokens=max_new_tokens,
)
paired = evaluation.paired_comparisons(rows, reference="CoT-SFT (start)")
files.write_json(run_dir / "metrics.json", results)
files.write_json(run_dir / "paired.json", {f"{n}/{s}": v for (n, s), v in paired.items()})
report.model_split_table(results, report.SCORE_COLUMNS)

# %%
report.model_split_table(results, report.PICK_COLUMNS)

# %%
counts = {k: int for k in ("n", "both", "only_a", "only_b", "neither")}
pd.DataFrame(paired).T.astype(counts).style.format({"delta": "{:+.3f}", "p_value": "{:.2g}"})

# %% [markdown]
# The links of both models' reasoning (design page, "Reasoning traces"): is the cue word
# copied, is the chosen box listed and the extreme of the listed ones, does the answer follow,
# and does the listing find the class's instances:

# %%
report.links_table(results)

# %%
sft_metrics = layout.read_json("03_cot_sft")
base_pr50 = sft_metrics["base"]["class_only"]["pr@0.5"] if sft_metrics else None
report.glue_status("rft", f"built; {run['steps']} GRPO steps trained and scored in this run. " + report.rft_finding(results, paired, base_pr50))
report.glue_scenes(scenes, image_size)
glue("finding", report.rft_finding(results, paired, base_pr50), display=False)
report.glue_status("consistency", f"built; on in this run (κ = {consistency_kappa:g}, w_min = {consistency_w_min:g}); whether it helps is the ablations' question, judged over seeds there (the factorial's weight effect)")
report.glue_model_splits(results, paired, {"CoT-SFT (start)": "start", "RFT": "rft"}, reference="CoT-SFT (start)")
glue("chance_pick_position", report.percent(results["RFT"]["with_position"]["chance_pick"]), display=False)
glue("rft_position_vs_chance", report.relation(results["RFT"]["with_position"]["pick_acc"], results["RFT"]["with_position"]["chance_pick"], more="above", less="below", same="equal to"), display=False)
glue("base_class_only", report.percent(base_pr50, missing="not measured (no CoT-SFT chapter run of this profile)"), display=False)
glue("rft_vs_base", report.relation(results["RFT"]["class_only"]["pr@0.5"], base_pr50, more="above", less="below", same="equal to") if base_pr50 is not None else "not compared with", display=False)

# %% [markdown]
# **Reading the numbers.** On `class_only`, RFT {glue:text}`rft_class_only_change` of Pr@0.5
# against its start ({glue:text}`start_class_only_pr05`% → {glue:text}`rft_class_only_pr05`%):
# it gets {glue:text}`rft_class_only_gained` scenes right that the start missed and loses
# {glue:text}`rft_class_only_lost` (McNemar p = {glue:text}`rft_class_only_p`). The model the
# CoT-SFT chapter started from scored {glue:text}`base_class_only` on these scenes, so RFT
# ends {glue:text}`rft_vs_base` that level. The answer is the last box of the model's own
# reasoning in {glue:text}`rft_class_only_follows` of its `class_only` answers (start:
# {glue:text}`start_class_only_follows`). On `with_position`, RFT
# {glue:text}`rft_with_position_change` of Pr@0.5 (p = {glue:text}`rft_with_position_p`); its
# pick accuracy there, {glue:text}`rft_with_position_pick` (start:
# {glue:text}`start_with_position_pick`), is {glue:text}`rft_position_vs_chance` a random pick
# among the instances of the class ({glue:text}`chance_pick_position`).
#
# ## The archived sweep
#
# Before the chapter's settings were fixed, the recipe was run with and without the
# consistency weight at two learning rates, and once with a reward of ours added, from the
# CoT-SFT model of that time — compact traces from the two-layer base, before issue 22 — on
# the same scenes, with the chapter's other settings (archived:
# `experiments/rft_probes.json`, made by `experiments/rft_probes.py`; the chapter's own run
# above uses the first arm's settings, from today's start):

# %%
archive.table(
    probes,
    {"kappa": "κ", "learning_rate": "learning rate", "rewards": "rewards", "class_only_pr50": "class only Pr@0.5 (start, RFT)", "class_only_p": "paired p", "with_position_pr50": "with position Pr@0.5 (start, RFT)", "follows": "answer follows (start, RFT)"},
    index="arm",
).style.set_caption(f"{archive.source_line(probes)}; {archive.format_value(archive.value(probes, 'rows.0.steps'))} steps per arm")

# %%
arms = {row["id"]: row for row in probes["rows"]}
glue("archived_off_low", report.change_phrase(arms["a1"]["class_only_pr50"][1], arms["a2"]["class_only_pr50"][1]), display=False)
glue("archived_off_high", report.change_phrase(arms["a3"]["class_only_pr50"][1], arms["a4"]["class_only_pr50"][1]), display=False)
glue("archived_agreement", report.change_phrase(arms["a1"]["class_only_pr50"][1], arms["a5"]["class_only_pr50"][1]), display=False)
glue("archived_agreement_follows", report.percent(arms["a5"]["follows"][1]), display=False)
glue("archived_recipe_follows", report.percent(arms["a1"]["follows"][1]), display=False)
glue("archived_arms", len(arms), display=False)
glue("archived_improved", sum(a["class_only_p"] < 0.05 and a["class_only_pr50"][1] > a["class_only_pr50"][0] for a in arms.values()), display=False)

# %% [markdown]
# Switching the consistency weight off (κ = 0, plain GRPO) {glue:text}`archived_off_low` of
# `class_only` Pr@0.5 against the weighted arm at learning rate 5e-5 and
# {glue:text}`archived_off_high` at 1e-4 (archived). With one run per arm and no paired test
# between arms, this sweep cannot say whether the weight helps on this model;
# {glue:text}`archived_improved` of the {glue:text}`archived_arms` arms improved on their
# start with a paired p below 0.05. Our reasoning-agreement reward, added to the
# recipe, {glue:text}`archived_agreement` against the recipe alone, with the answer following
# the reasoning in {glue:text}`archived_agreement_follows` of the answers (recipe alone:
# {glue:text}`archived_recipe_follows`).

# %% [markdown]
# ## The full profile
#
# `make reproduce` runs this chapter with `params/full.yml`: from the full profile's CoT-SFT
# model (Qwen2.5-VL-3B-Instruct with merged LoRA), LoRA r 64 again, learning rate 1e-5,
# G = 8, β = 0.04, ε = 0.2, temperature 0.9, completions of up to 1,024 tokens — VLM-R1's
# settings — with activation checkpointing; the rollouts use transformers' `generate` (the parameter `use_vllm`
# is off: the vLLM releases TRL accepts pin a transformers older than this project's).
# That path has **not been run on a GPU** in this project: no GPU was available when the
# trainer was built, so its step time and memory are **not measured yet**. The benchmark
# that will measure them is prepared — `python -m rsground_lib.bench.rft --shape
# qwen2_5_vl_3b` runs a few GRPO steps of a model of Qwen2.5-VL-3B's shape with random
# weights through this chapter's trainer (LoRA and full, with and without activation
# checkpointing) and reports generation tokens/s, step time and peak memory, as
# `python -m rsground_lib.bench.sft` did for the CoT-SFT chapter.
#
# ## Summary
#
# - Under an IoU-only reward {glue:text}`iou_all_equal` of the start model's rollout groups
#   carry no learning signal; under the positional reward {glue:text}`positional_all_equal`.
# - `ConsistencyGRPOTrainer` is TRL's GRPO with each group's advantages scaled by its
#   consistency weight — κ = 0 reproduces TRL exactly, two processes reproduce one, and a
#   killed run resumes to the same end (tests).
# - On the tiny model, in this run, RFT {glue:text}`rft_class_only_change` of `class_only`
#   Pr@0.5 against its CoT-SFT start (p = {glue:text}`rft_class_only_p`), ending
#   {glue:text}`rft_vs_base` the model the CoT-SFT chapter started from; on
#   `with_position` it {glue:text}`rft_with_position_change` of Pr@0.5 (p =
#   {glue:text}`rft_with_position_p`) and its pick accuracy is
#   {glue:text}`rft_position_vs_chance` chance.
# - The consistency weight's own effect is not established on this model: the archived sweep
#   has one run per arm and no paired comparison between arms.
#
# ## What's next
#
# The [evaluation chapter](05_evaluation.ipynb) scores every checkpoint of the run — this
# one included — on fresh test scenes, with breakdowns by cue, size and class; the
# [ablations](06_ablations.ipynb) vary this chapter's recipe one thing at a time. The
# [design page](design.md) keeps the status of every stage.
