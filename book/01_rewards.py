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
# # Rewards and spatial consistency
#
# **Overview.** Every number this book prints passes through a small scoring core: the
# answer contract and its parser, box geometry, the rewards of the reinforcement stage, the
# spatial-consistency weight, and the benchmark metrics. This chapter shows why RSGround-R1
# needs a *positional* reward on top of IoU, what each candidate reward looks like, how a
# rollout group's coherence turns into an update weight, and how much the benchmarks'
# box conventions move a score. The metric names the book's tables use are collected in the
# design page's {ref}`glossary <glossary>`.
#
# **Prerequisites.** The [overview](00_overview.ipynb) (GRPO's group-relative advantage).
# No model is trained here; everything runs in seconds.
#
# :::{admonition} Our reading of the paper
# :class: note
#
# The paper's reward and weighting formulas are not public. The positional reward (DIoU
# rescaled to $[0, 1]$), the dispersion score and the weight $w = \operatorname{clip}(e^{-\kappa d},
# w_\text{min}, 1)$ are **our reading of the paper**; the alternatives below are in the
# registry so the ablations can compare them.
# :::

# %% [markdown]
# ## Parameters

# %% tags=["parameters"]
profile = "smoke"  # str: parameter profile of this run (params/<profile>.yml); names the folder runs/<profile>/
runs_root = ""  # str: folder for run artefacts; "" means $RSGROUND_RUNS, else <project>/runs
data_root = ""  # str: folder holding the real benchmarks; "" means $RSGROUND_DATA (may be unset)
seed = 0  # int ≥ 0: seed of the toy rollout groups and of the simulated predictions
image_size_model = [224, 224]  # list: [width, height] of the toy model-input image, in model pixels
target_box = [62.0, 48.0, 102.0, 76.0]  # list: toy target [x1, y1, x2, y2] in model pixels
heatmap_step_px = 2.0  # float > 0: grid step of the reward heat maps, in model pixels
num_generations = 8  # int ≥ 2: rollouts per prompt (G) in the toy groups
kappa = 5.0  # float in [0, inf): consistency strength κ of the weight clip(exp(-κ·dispersion), w_min, 1); 0 turns it off
w_min = 0.1  # float in [0, 1]: lower bound of the consistency weight w
jitter_px = 4.0  # float ≥ 0: half-width (px) of the uniform jitter simulating DIOR-RSVG predictions
jitter_grid_units = 1  # int ≥ 0: half-width of the integer jitter on VRSBench's 0–100 grid

# %%
import numpy as np
import pandas as pd
from myst_nb import glue

from rsground_lib import advantages, consistency, paths, plotting, prompts, report, rewards
from rsground_lib.data import toy_groups
from rsground_lib.data.benchmarks import load_available

run_dir = paths.run_dir(profile, "01_rewards", runs_root or None)
real_data = paths.data_root(data_root or None)
rng = np.random.default_rng(seed)
target = np.asarray(target_box, dtype=float)

# %% tags=["remove-input"]
report.profile_banner(profile)

# %% [markdown]
# ## The answer contract
#
# The model answers in one fixed shape: its reasoning inside `<think>…</think>`, then one
# box in model-input pixels inside `<answer>[x1, y1, x2, y2]</answer>`. The user turn states
# the image size the model sees, so the coordinates have a frame:

# %%
messages = prompts.build_messages("the second storage tank from the left", image_size_model)
for m in messages:
    print(f"{m['role']:>9}: " + " | ".join(p.get("text", "<image>") for p in m["content"]))

# %% [markdown]
# Real models do not always obey. The parser accepts what they emit — Qwen2.5-VL's native
# JSON, bare lists, corner pairs, swapped corners — and returns nothing (never an error) for
# the rest; the `format` reward is stricter and pays only for the exact contract.

# %%
samples = [
    "<think>Three tanks; the second from the left is the middle one.</think><answer>[62, 48, 102, 76]</answer>",
    '```json\n[{"bbox_2d": [62, 48, 102, 76], "label": "storage tank"}]\n```',
    "The tank is at (102, 76), (62, 48).",
    "<answer>[62.5, 48.0, 101.9, 76.2]</answer>",
    "<think>It is in the upper left.</think><answer>upper left</answer>",
    "[62, 48, 102]",
]
pd.DataFrame(
    {
        "completion": samples,
        "parsed box": [prompts.parse_answer(s) or "unparsable" for s in samples],
        "format reward": rewards.REWARDS["format"](samples),
    }
)

# %% [markdown]
# ## Why IoU alone gives a group of misses no signal
#
# GRPO scores $G$ rollouts per prompt and moves the policy towards the ones that beat their
# group's mean. Take a group in which **every** box misses the target — common early in
# training, when a scene holds several objects of the same class and the model picks the
# wrong one. Under IoU each of them scores 0, the group's rewards are all equal, and every
# advantage is exactly zero: the step learns nothing from this prompt. The positional reward
# still prefers the near misses.

# %%
group = toy_groups.ring_of_misses(target, image_size_model, num_generations, rng)  # px: every box misses
completions = [prompts.format_answer("a guess", b) for b in group]
columns = {
    "bbox_model": [target.tolist()] * num_generations,
    "image_size_model": [image_size_model] * num_generations,
}
iou_r = np.asarray(rewards.REWARDS["iou"](completions, **columns))
pos_r = np.asarray(rewards.REWARDS["positional"](completions, **columns))
misses = pd.DataFrame(
    {
        "predicted box": [[round(float(v)) for v in b] for b in group],
        "IoU reward": iou_r.round(3),
        "advantage (IoU)": advantages.group_advantages(iou_r[None, :])[0].round(3),
        "positional reward": pos_r.round(3),
        "advantage (IoU + positional)": advantages.group_advantages((iou_r + pos_r)[None, :])[0].round(3),
    }
)
glue("misses_iou_adv_max", f"{np.abs(misses['advantage (IoU)']).max():.3f}", display=False)
misses

# %% [markdown]
# The largest IoU advantage in this group is {glue:text}`misses_iou_adv_max`: no gradient.
# With the positional term the advantages are spread out and ranked by distance.
#
# ## What each reward looks like
#
# Fix the target (white) and slide a prediction of the same size over the image; each panel
# shows the reward as a function of the prediction's centre. IoU is non-zero only where the
# boxes overlap. The positional reward (our default) is non-zero everywhere and peaks at the
# target; the Gaussian of the centre distance is sharper and vanishes a few target sizes
# away; the centre distance over the image diagonal is the flattest.

# %%
plotting.show_figure(
    plotting.reward_heatmaps(target, image_size_model, step_px=heatmap_step_px),
    run_dir / "figures" / "reward_heatmaps.png",
)

# %% [markdown]
# The same along one line: the prediction slides right from a perfect hit. Once the boxes
# stop overlapping (grey), IoU is flat at 0, while the positional reward keeps decreasing
# strictly — a near miss still beats a far one.

# %%
plotting.show_figure(
    plotting.reward_profile(target, image_size_model), run_dir / "figures" / "reward_profile.png"
)

# %% [markdown]
# ## Spatial consistency
#
# The third stage scales each group's advantages by how coherent the group is. Our reading
# measures the *dispersion* of the group's box centres — their RMS distance from the mean
# centre, over the image diagonal — and turns it into a weight
# $w = \operatorname{clip}(e^{-\kappa\, d}, w_\text{min}, 1)$. Unparsable rollouts are left
# out of the score; a group with fewer than two parsable boxes gets the maximal score 1.
# Four toy groups of $G$ rollouts — coherent, scattered, and two in which most rollouts
# could not be parsed:

# %%
groups = toy_groups.consistency_groups(target, image_size_model, num_generations, rng)
scores, weights = consistency.group_weights(
    np.stack(list(groups.values())), image_size_model, kappa=kappa, w_min=w_min
)
plotting.show_figure(
    plotting.rollout_groups(groups, target, image_size_model, scores, weights),
    run_dir / "figures" / "rollout_groups.png",
)

# %%
glue("weight_coherent", f"{weights[0]:.3f}", display=False)
glue("weight_few_parsed", f"{weights[2]:.3f}", display=False)
glue("few_parsed", list(groups)[2], display=False)
glue("weight_too_few", f"{weights[3]:.3f}", display=False)
pd.DataFrame(
    {
        "parsed boxes": [int(np.isfinite(g).all(axis=1).sum()) for g in groups.values()],
        "centre dispersion": scores.round(4),
        "1 − mean pairwise IoU": consistency.group_score(
            np.stack(list(groups.values())), image_size_model, "mean_pairwise_iou"
        ).round(4),
        f"weight (κ={kappa:g}, w_min={w_min:g})": weights.round(3),
    },
    index=list(groups),
)

# %% [markdown]
# How the weight depends on κ: with κ = 0 the stage is off; a larger κ discounts scattered
# groups sooner, down to $w_\text{min}$. Note the two scores live on different scales — the
# centre dispersion of boxes inside the image is at most 0.5, while 1 − mean pairwise IoU
# reaches 1 — so the same κ is a different strength for each.

# %%
plotting.show_figure(plotting.weight_curves(w_min=w_min), run_dir / "figures" / "weight_curves.png")

# %% [markdown]
# ## Metric conventions, and how much they move a score
#
# The benchmarks disagree on two details. DIOR-RSVG (RSVG-pytorch) treats boxes as
# continuous (width $= x_2 - x_1$) and counts a hit when IoU $>$ t; VRSBench works on an
# integer 0–100 grid, counts pixels inclusively (width $= x_2 - x_1 + 1$) and uses
# IoU $\ge$ t. Both are parameters of the scoring core, with a preset per benchmark. On
# small boxes the difference is not small:

# %%
vehicle = np.array([107.0, 236.0, 146.0, 262.0])  # a real DIOR-RSVG vehicle, original pixels
cases = {
    "DIOR vehicle, prediction shifted 4 px": (vehicle + 4, vehicle),
    "DIOR vehicle, prediction shifted 8 px": (vehicle + 8, vehicle),
    "VRSBench grid, x1 off by one unit": (
        np.array([26.0, 40, 33, 60]),
        np.array([25.0, 40, 33, 60]),
    ),
    "VRSBench grid, 1×4-unit box shifted by one": (
        np.array([11.0, 10, 12, 14]),
        np.array([10.0, 10, 11, 14]),
    ),
}
pd.DataFrame(
    {
        "IoU continuous": [rewards.iou_scores(p[None], t)[0] for p, t in cases.values()],
        "IoU inclusive": [
            rewards.iou_scores(p[None], t, convention="inclusive")[0] for p, t in cases.values()
        ],
    },
    index=list(cases),
).round(4)

# %% [markdown]
# On whole test sets: we simulate predictions by jittering every real target box (uniform,
# ±{glue:text}`jitter_px_value` pixels per coordinate on DIOR-RSVG;
# ±{glue:text}`jitter_grid_value` integer units on VRSBench's grid) and score the *same* predictions under both protocols. The jitter is our
# choice, to make the effect visible; these are not model results. Needs the real data
# (`RSGROUND_DATA`); skipped otherwise.

# %%
glue("jitter_px_value", f"{jitter_px:g}", display=False)
glue("jitter_grid_value", f"{jitter_grid_units:g}", display=False)
real = load_available(real_data, ["DIOR-RSVG test", "VRSBench val"])
if real.missing:
    print(real.missing_note("the real-data comparison is skipped"))
rows = report.convention_comparison(
    real.datasets.get("DIOR-RSVG test"),
    real.datasets.get("VRSBench val"),
    rng,
    jitter_px=jitter_px,
    jitter_grid_units=jitter_grid_units,
)
report.glue_convention_gaps(rows)
report.glue_status("scoring", f"built; measured in this run: the toy rollout groups and the benchmark conventions on {', '.join(real.datasets) or 'no real split (no RSGROUND_DATA)'}")
conventions = pd.DataFrame(rows).T
conventions.to_json(run_dir / "conventions.json", indent=2)
report.show_table(conventions.T, digits=4, count_rows=("n",))

# %% [markdown]
# With identical predictions, switching DIOR-RSVG to the inclusive convention moves Pr@0.9
# by {glue:text}`dior_pr09_gap` points; scoring VRSBench's grid continuously instead of
# inclusively moves Pr@0.5 by {glue:text}`vrs_pr05_gap` points. Comparisons across papers
# are only fair under the same protocol — which is why every metric in this book names its
# preset.

# %% [markdown]
# ## Summary
#
# - A group of misses has equal IoU rewards and therefore zero GRPO advantage; a
#   distance-aware positional reward restores a signal that ranks near misses above far
#   ones.
# - Our default positional reward is DIoU rescaled to $[0, 1]$; Gaussian-centre and
#   centre-distance rewards are registered alternatives.
# - The spatial-consistency weight discounts groups whose parsed boxes scatter, from 1 down
#   to $w_\text{min}$, with strength κ. Unparsable rollouts are left out of the score, so
#   unparsability alone is not discounted: the "{glue:text}`few_parsed`" group keeps a weight
#   of {glue:text}`weight_few_parsed` (the coherent one: {glue:text}`weight_coherent`); only a
#   group with fewer than two parsed boxes falls to {glue:text}`weight_too_few`. That is our
#   reading of the paper; the format reward, not the weight, is what penalises unparsable
#   answers.
# - Box convention and threshold operator are protocol parameters: with the same simulated
#   predictions they moved DIOR-RSVG's Pr@0.9 by {glue:text}`dior_pr09_gap` and VRSBench's
#   Pr@0.5 by {glue:text}`vrs_pr05_gap` points in this run, so every table here names its
#   preset.
#
# ## What's next
#
# The [data chapter](02_data.ipynb) builds the synthetic scenes and reads the real
# benchmarks, whose boxes these functions score.
