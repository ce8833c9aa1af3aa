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
# # Ablations
#
# **Overview.** RSGround-R1's claims are comparative: the positional reward beats IoU
# alone, the spatial-consistency weighting helps, CoT-SFT before RL helps. This chapter
# measures each claim the same way — an *arm* is the RFT chapter's recipe with one thing
# changed, trained from the same start on the same scenes with the same budget, and scored
# scene by scene against the recipe — and states, with a rule fixed before the tables, whether
# this run supports the claim, contradicts it, or cannot tell. On the CPU profile the arms
# run a short live slice; the full sweep over seeds is run by `rsground ablate` (not run
# yet: see below).
#
# **Prerequisites.** The recipe and its trainer ([RFT](04_rft.ipynb)); the scenes and the
# paired test ([Evaluation](05_evaluation.ipynb)); the start checkpoints
# ([CoT-SFT](03_cot_sft.ipynb)).

# %% [markdown]
# ## Parameters

# %% tags=["parameters"]
profile = "smoke"  # str: parameter profile of this run (params/<profile>.yml); names the folder runs/<profile>/
runs_root = ""  # str: folder for run artefacts; "" means $RSGROUND_RUNS, else <project>/runs
model_name_or_path = ""  # str: the untrained start of SFT (the from_base arm); "" means the committed tiny base checkpoints/tiny-base
scenes = "base"  # str in {base, synthetic}: the RFT chapter's scenes: "base" (the tiny base's 64-px scenes) or "synthetic"
image_size = 64  # int ≥ 1: side of the scenes in pixels (as in the RFT chapter)
num_train = 6400  # int ≥ 1: training scenes (the RFT chapter's draw)
seed = 0  # int ≥ 0: seed of the scenes (the RFT chapter's)
test_scenes = "base_scenes"  # str in {base_scenes, synthetic}: the evaluation chapter's test scenes
test_seed = 0  # int ≥ 0: seed of the test scenes (the evaluation chapter's)
arms = ["recipe", "no_positional", "no_weight", "no_positional_no_weight"]  # list: arms of rsground_lib.ablations.ARMS run live in this chapter (the recipe first)
seeds = [0]  # list: seeds of every live arm (the seed of the trainer, the rollouts and the prompt order)
max_steps = 25  # int ≥ 1: GRPO steps of each live run (the RFT chapter's recipe otherwise)
num_class_only = 256  # int ≥ 1: class-only validation scenes every arm is scored on
num_with_position = 256  # int ≥ 1: validation scenes with an extreme cue every arm is scored on
num_test = 256  # int ≥ 1: the evaluation chapter's test scenes every arm is scored on
n_resamples = 2000  # int ≥ 100: bootstrap resamples of the interval of a difference

# %%
from myst_nb import glue

from rsground_lib import ablations, files, paths, plotting, report

layout = paths.layout(profile, runs_root or None)
run_dir = layout.output("06_ablations")
setup = ablations.plan(layout, scenes=scenes, image_size=image_size, num_train=num_train, seed=seed, test_scenes=test_scenes, test_seed=test_seed, num_class_only=num_class_only, num_with_position=num_with_position, num_test=num_test, start=model_name_or_path, recipe_overrides={"max_steps": max_steps})

# %% tags=["remove-input"]
report.profile_banner(profile)

# %% [markdown]
# ## The claims, the arms and the rule
#
# Every arm of the registry (`rsground_lib.ablations.ARMS`): what it changes, which question
# it answers, and the sign the paper's claim predicts (`direction` +1: the recipe is better
# than the arm; 0: the arm tests no claim of the paper).

# %%
report.show_table(ablations.arms_table())

# %% [markdown]
# **The rule, fixed before any table below** (our reading of how to judge a claim at this
# scale): for each arm, the difference *recipe − arm* in Pr@0.5 on the same scenes and seeds
# gets a 95 % interval by resampling seeds and scenes together. The claim is *supported* when
# the interval excludes 0 in the paper's direction, *contradicted* when it excludes 0 the
# other way, and *not resolved* otherwise. `ablations.claim_verdict` applies it.
#
# ## The live slice
#
# The arms above, from this profile's CoT-SFT model, each for the RFT chapter's recipe with
# {glue:text}`live_steps` steps instead of {glue:text}`recipe_steps`, one run per arm and seed
# ({glue:text}`live_seeds`), scored on {glue:text}`live_scenes` scenes. A finished arm × seed
# is read back from `runs/<profile>/06_ablations/`, never trained twice.

# %%
results = ablations.sweep(arms, seeds, **setup)
files.write_json(run_dir / "summary.json", ablations.summary(results))
glue("live_steps", max_steps, display=False)
glue("recipe_steps", ablations.recipe_of_run(layout)["max_steps"], display=False)
glue("live_seeds", ", ".join(str(s) for s in seeds), display=False)
glue("live_scenes", f"{num_class_only} class-only, {num_with_position} extreme-cue and {num_test} test", display=False)
report.show_table(ablations.runs_table(results))

# %% [markdown]
# Each arm against the recipe, per split:

# %%
verdicts = ablations.verdict_table(results, arms, ("class_only", "with_position", "test"), n_resamples=n_resamples)
files.write_json(run_dir / "verdicts.json", {f"{a}/{s}": row for (a, s), row in verdicts.to_dict(orient="index").items()})
glue("verdict_counts", ablations.verdict_counts(verdicts), display=False)
report.show_table(verdicts, digits=3)

# %% [markdown]
# Verdicts of the live slice: {glue:text}`verdict_counts`. With {glue:text}`live_steps` steps
# and one seed, the interval holds only the scenes' noise, not the seeds': a *supported*
# or *contradicted* here says what these short runs did, not what the method does.
#
# **Mechanism.** What changed inside training, first tenth against last tenth of the steps:
# the share of groups whose rewards are all equal (no learning signal), the groups'
# dispersion and weight, and how often the answer follows the reasoning.

# %%
plotting.show_figure(plotting.ablation_curves(results), run_dir / "figures" / "mechanism.png")

# %% [markdown]
# ## The full sweep
#
# The full sweep — every arm of the registry, at least three seeds each (five for the
# four factorial arms), on 1,024 class-only, 512 extreme-cue and 512 test scenes, archived
# as `experiments/ablations.json` with its commit, command and CPU — is
# {glue:text}`full_sweep`. The command that runs it, resumably:
#
# ```bash
# rsground ablate --profile smoke --seeds 0 1 2 3 4
# ```

# %%
glue("full_sweep", "archived (`experiments/ablations.json`)" if ablations.archived_sweep() else "not run yet: no archive exists, so no verdict of this chapter rests on more than the live slice", display=False)
report.glue_status("ablations", f"built (live slice): {len(results)} arms × {len(seeds)} seed(s) of {max_steps} steps in this run; verdicts: {ablations.verdict_counts(verdicts)}; the full sweep over seeds not run yet")

# %% [markdown]
# ## The full profile
#
# `make reproduce` runs this chapter with `params/full.yml`: {glue:text}`full_arms` arms ×
# {glue:text}`full_seeds` seeds = {glue:text}`full_runs` RFT runs of Qwen2.5-VL-3B from the
# full profile's checkpoints, {glue:text}`full_steps` steps each. GPU hours:
# {glue:text}`full_gpu_hours`.

# %%
full = ablations.chapter_values("full", "06_ablations")
glue("full_arms", len(full["arms"]), display=False)
glue("full_seeds", len(full["seeds"]), display=False)
glue("full_runs", len(full["arms"]) * len(full["seeds"]), display=False)
glue("full_steps", full["max_steps"], display=False)
glue("full_gpu_hours", "not measured — no RFT step of the full profile has been timed on a GPU (the RFT chapter's benchmark, python -m rsground_lib.bench.rft, is prepared and not run), so no estimate is given", display=False)

# %% [markdown]
# ## Summary
#
# - An ablation arm is the recipe with one change, trained and scored on the same scenes
#   and seeds; a claim's verdict comes from a rule stated before the tables.
# - The live slice's verdicts: {glue:text}`verdict_counts`.
# - The full sweep over seeds is {glue:text}`full_sweep`.
#
# ## What's next
#
# [Grounding in a map](07_geo.ipynb) takes a checkpoint out of the benchmarks, into rasters
# of any size.
