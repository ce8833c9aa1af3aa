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
# the runs support the claim, contradict it, or cannot tell. The verdicts come from the full
# sweep over seeds on the CPU miniature, run by `rsground ablate` and archived; this
# chapter's own run adds a short live slice that checks the runner end to end.
#
# **Prerequisites.** The recipe and its trainer ([RFT](04_rft.ipynb)); the scenes and the
# paired test ([Evaluation](05_evaluation.ipynb)); the start checkpoints
# ([CoT-SFT](03_cot_sft.ipynb)). Terms are defined in the {ref}`glossary <glossary>`.

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
from IPython.display import Markdown
from myst_nb import glue

from rsground_lib import ablations, archive, files, paths, plotting, report

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
# than the arm; 0: the arm tests no claim of the paper). The last two arms are not trained:
# they are the SFT models themselves, scored on the same scenes.

# %%
report.show_table(ablations.arms_table())

# %% [markdown]
# **The rule, fixed before any table below** (our reading of how to judge a claim at this
# scale; the paper's statistics are not public): for each arm, the difference *recipe − arm*
# in Pr@0.5 on the same scenes and seeds gets a 95 % interval by resampling seeds and scenes
# together. The claim is *supported* when the interval excludes 0 in the paper's direction,
# *contradicted* when it excludes 0 the other way, and *not resolved* otherwise;
# `ablations.claim_verdict` applies it. The 2 × 2 factorial is read the same way through its
# contrasts: the positional reward's main effect (its difference averaged over κ = 0 and
# κ = {glue:text}`sweep_kappa`), the weight's main effect (averaged over both rewards), and their interaction.
#
# ## The sweep (archived)

# %%
sweep = archive.load(ablations.ARCHIVE)
archived = ablations.archived_results(sweep)
SPLITS = ("class_only", "with_position", "test")
glue("sweep_source", archive.source_line(sweep), display=False)
glue("sweep_shape", ablations.sweep_shape(archived), display=False)
glue("sweep_steps", sweep["recipe"]["max_steps"], display=False)
glue("sweep_kappa", f"{sweep['recipe']['consistency_kappa']:g}", display=False)
glue("sweep_scenes", ablations.scenes_phrase(sweep["scenes"]), display=False)
glue("sweep_scenes_note", ablations.scenes_note(sweep["scenes"]) or "as designed", display=False)
report.show_table(ablations.seeds_table(archived, SPLITS))

# %% [markdown]
# Above: each arm's Pr@0.5, the mean over its seeds and the 95 % t-interval. The sweep is
# archived ({glue:text}`sweep_source`). It holds {glue:text}`sweep_shape`; each RFT run is
# the RFT chapter's recipe cut to {glue:text}`sweep_steps` steps (the budget that fits the
# sweep in one working session of two cores), and every arm is scored on the same
# {glue:text}`sweep_scenes` scenes ({glue:text}`sweep_scenes_note`). The command that made
# it — rerun, it reads back every finished run and trains the others; on another CPU it
# gives the same table up to seed noise, since the float-level sums differ between CPUs:

# %%
Markdown(f"```bash\n{sweep['produced_by']['command']}\n```")

# %% [markdown]
# The verdicts below are recomputed from the archived hits, scene by scene.
#
# ### Rewards × consistency: the 2 × 2 factorial
#
# The factorial's effects, then each of its arms against the recipe:

# %%
effects = ablations.factorial_effects(archived, SPLITS, n_resamples=n_resamples)
glue("effects_counts", ablations.verdict_counts(effects[effects["verdict"] != "no claim"]), display=False)
glue("effects_finding", ablations.effects_finding(effects), display=False)
report.show_table(effects, digits=3)

# %%
report.show_table(ablations.verdict_table(archived, ablations.question_arms("rewards × consistency", archived), SPLITS, n_resamples=n_resamples), digits=3)

# %% [markdown]
# Main effects: {glue:text}`effects_counts`. {glue:text}`effects_finding` What happened
# inside training in the four arms, averaged over their seeds:

# %%
plotting.show_figure(plotting.ablation_curves(archived, arms=ablations.FACTORIAL), run_dir / "figures" / "factorial_mechanism.png")

# %% [markdown]
# ### A peer's reward, the coherence score, and the strength κ
#
# These arms test no claim of the paper (`direction` 0): RS-HyRe-R1's thresholded IoU in
# place of IoU + positional, the mean pairwise IoU in place of the centre dispersion as the
# coherence score, and κ = 1 and κ = 20 around the recipe's κ = {glue:text}`sweep_kappa`. The interval says whether
# the change moves Pr@0.5 at all.

# %%
variants = [a for q in ("a peer's reward", "the coherence score", "the strength κ") for a in ablations.question_arms(q, archived)]
variant_table = ablations.verdict_table(archived, variants, SPLITS, n_resamples=n_resamples)
glue("variants_finding", ablations.variants_finding(variant_table), display=False)
report.show_table(variant_table, digits=3)

# %% [markdown]
# {glue:text}`variants_finding`

# %%
plotting.show_figure(plotting.ablation_curves(archived, arms=dict.fromkeys(["recipe", *variants])), run_dir / "figures" / "variants_mechanism.png")

# %% [markdown]
# ### The start, and RL itself
#
# The same RFT from plain SFT and from the untrained base (R1-Zero style) asks whether
# CoT-SFT before RL helps; the SFT models scored without RL ask whether RL adds anything to
# them on this budget. An arm without RL has one greedy score, paired with every seed of the
# recipe.

# %%
starts = [a for q in ("the start", "RL itself") for a in ablations.question_arms(q, archived)]
start_table = ablations.verdict_table(archived, starts, SPLITS, n_resamples=n_resamples)
glue("starts_counts", ablations.verdict_counts(start_table), display=False)
report.show_table(start_table, digits=3)

# %%
plotting.show_figure(plotting.ablation_curves(archived, arms=dict.fromkeys(["recipe", *starts])), run_dir / "figures" / "start_mechanism.png")

# %% [markdown]
# Verdicts of the start and RL rows: {glue:text}`starts_counts`.
#
# ### What the miniature can and cannot say
#
# The paper's claims tested here, each with its verdicts over the scored splits:
# {glue:text}`claims_summary`
#
# {glue:text}`claims_leaning`
#
# These verdicts are about the tiny CPU model of the CoT-SFT chapter on its synthetic
# scenes, with {glue:text}`sweep_steps` RL steps per run; they are not the paper's numbers
# and do not test Qwen2.5-VL. A *not resolved* means the difference, if there is one, is smaller
# than the noise of these seeds and scenes — not that the component does nothing at the
# paper's scale.

# %%
glue("claims_summary", ablations.claims_summary(effects, start_table), display=False)
glue("claims_leaning", ablations.leaning(start_table), display=False)

# %% [markdown]
# ### What a run costs: one run at two threads, or two runs at one
#
# Each archived run records its wall time, its torch threads and how many runs shared the
# machine with it. The sweep's first runs measured both ways of using two cores; the table
# counts the factorial's arms only, whose runs cost the same (one start, reasonings of one
# length):

# %%
cost = ablations.throughput(archived)
glue("cost_finding", ablations.throughput_finding(cost), display=False)
report.show_table(cost, digits=1)

# %% [markdown]
# {glue:text}`cost_finding`
#
# ## The live slice
#
# This run's own check of the runner: the arms of the `arms` parameter, from this profile's
# CoT-SFT model, each for {glue:text}`live_steps` steps instead of the recipe's
# {glue:text}`recipe_steps`, one run per arm and seed ({glue:text}`live_seeds`), scored on
# {glue:text}`live_scenes` scenes. A finished arm × seed is read back from
# `runs/<profile>/06_ablations/live/`, never trained twice.

# %%
results = ablations.sweep(arms, seeds, **setup)
files.write_json(run_dir / "summary.json", ablations.summary(results))
glue("live_steps", max_steps, display=False)
glue("recipe_steps", ablations.recipe_of_run(layout)["max_steps"], display=False)
glue("live_seeds", ", ".join(str(s) for s in seeds), display=False)
glue("live_scenes", f"{num_class_only} class-only, {num_with_position} extreme-cue and {num_test} test", display=False)
verdicts = ablations.verdict_table(results, arms, SPLITS, n_resamples=n_resamples)
files.write_json(run_dir / "verdicts.json", {f"{a}/{s}": row for (a, s), row in verdicts.to_dict(orient="index").items()})
glue("verdict_counts", ablations.verdict_counts(verdicts), display=False)
report.show_table(verdicts, digits=3)

# %% [markdown]
# Verdicts of the live slice: {glue:text}`verdict_counts`. With {glue:text}`live_steps` steps
# and one seed the interval holds only the scenes' noise, not the seeds': the slice shows
# that the runner works on this profile; the archived sweep above is what the chapter's
# conclusions rest on.

# %%
report.glue_status("ablations", f"built: the archived sweep ({ablations.sweep_shape(archived)}) and a live slice of {len(results)} arms × {len(seeds)} seed(s), {max_steps} steps")

# %% [markdown]
# ## The full profile
#
# `make reproduce` runs this chapter with `params/full.yml`: {glue:text}`full_arms` arms,
# {glue:text}`full_runs` runs of Qwen2.5-VL-3B from the full profile's checkpoints
# ({glue:text}`full_seeds` seeds; an arm without RL is scored once), {glue:text}`full_steps`
# RL steps each. GPU hours: {glue:text}`full_gpu_hours`.

# %%
full = ablations.chapter_values("full", "06_ablations")
glue("full_arms", len(full["arms"]), display=False)
glue("full_seeds", len(full["seeds"]), display=False)
glue("full_runs", len(ablations.run_order(full["arms"], full["seeds"])), display=False)
glue("full_steps", full["max_steps"], display=False)
glue("full_gpu_hours", "not measured — no RFT step of the full profile has been timed on a GPU (the RFT chapter's benchmark, python -m rsground_lib.bench.rft, is prepared and not run), so no estimate is given", display=False)

# %% [markdown]
# ## Summary
#
# - An ablation arm is the recipe with one change, trained and scored on the same scenes
#   and seeds; a claim's verdict comes from a rule stated before the tables.
# - The archived sweep holds {glue:text}`sweep_shape`. Its verdicts on the paper's claims:
#   {glue:text}`claims_summary`
# - Two cores: {glue:text}`cost_finding`
#
# ## What's next
#
# [Grounding in a map](07_geo.ipynb) takes a checkpoint out of the benchmarks, into rasters
# of any size.
