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
# # RSGround-R1, reproduced
#
# **Overview.** This book re-implements RSGround-R1 {cite:p}`huang2026rsgroundr1`:
# *remote-sensing visual grounding* — finding the one object in an aerial image that a
# sentence such as "the storage tank in the upper left" describes — with a multimodal LLM
# (Qwen2.5-VL {cite:p}`bai2025qwen25vl`) that first reasons about position in words and
# then answers with a box. Every chapter is an executable notebook; every number on these
# pages comes from the run that rendered them, on the profile named below.
#
# **Prerequisites.** Python and a little PyTorch. No GPU is needed to read or to run the
# smoke profile; the full profile (`make reproduce`) needs one.
#
# :::{admonition} The paper's formulas and tables are not public
# :class: note
#
# We could not reach the paper's exact reward, weighting and hyper-parameters. Where this
# project picks a formula it says *"our reading of the paper"*, and the numbers in this book
# are **ours**, measured on the profile this page was built with — never the paper's.
# :::

# %% [markdown]
# ## Parameters
#
# Every chapter starts with a cell tagged `parameters`; its defaults are the CPU smoke
# profile, and `params/<profile>.yml` overrides them (`make book PROFILE=full`).

# %% tags=["parameters"]
profile = "smoke"  # str: parameter profile of this run (params/<profile>.yml); names the folder runs/<profile>/
runs_root = ""  # str: folder for run artefacts; "" means $RSGROUND_RUNS, else <project>/runs
data_root = ""  # str: folder holding the real benchmarks; "" means $RSGROUND_DATA (may be unset)

# %%

import pandas as pd
from myst_nb import glue

from rsground_lib import files, paths, plotting, report

run_dir = paths.run_dir(profile, "00_overview", runs_root or None)
real_data = paths.data_root(data_root or None)
env = report.environment_report()
glue("profile", profile, display=False)
glue("accelerator", env["accelerator"], display=False)
files.write_json(run_dir / "environment.json", env)
pd.Series(env, name="this run").to_frame()

# %% tags=["remove-input"]
report.profile_banner(profile)

# %% [markdown]
# This page was built with the **{glue:text}`profile`** profile on
# **{glue:text}`accelerator`**.

# %% [markdown]
# ## The paper in one page
#
# A referring expression in remote sensing usually singles out one object among several of
# the same kind — "the *second* ship from the left", "the tennis court *next to* the
# baseball field". RSGround-R1 argues that the hard part is **spatial reasoning**, and
# teaches it in three stages:
#
# 1. **CoT-SFT.** Supervised fine-tuning on synthetic grounding data whose targets spell
#    out the reasoning: which candidates exist, which positional cue the sentence uses, and
#    which candidate it selects — then the box.
# 2. **Reinforcement fine-tuning (RFT).** GRPO {cite:p}`shao2024deepseekmath`: for each
#    prompt the model samples a group of $G$ answers; each answer's advantage is its reward
#    relative to its group,
#    $\hat A_i = \big(r_i - \operatorname{mean}(r_{1..G})\big) / \operatorname{std}(r_{1..G})$.
#    The reward adds a **format** term, the **IoU** with the target, and a continuous
#    **positional** term. IoU is 0 for every box that misses, so a group of misses has
#    $r_i$ all equal and no advantage at all; the positional term still ranks near misses
#    above far ones. Our reading of the paper uses DIoU {cite:p}`zheng2020diou` rescaled to
#    $[0, 1]$:
#
#    $$ r_\text{pos} = \tfrac{1}{2}\Big(\mathrm{IoU} - \frac{\rho^2}{c^2} + 1\Big), $$
#
#    with $\rho$ the distance between the box centres and $c$ the diagonal of the smallest
#    box enclosing both.
# 3. **Spatial-consistency guided optimisation.** A group whose $G$ boxes scatter over the
#    image is an unreliable learning signal. Our reading scales the group's advantages by
#
#    $$ w = \operatorname{clip}\big(e^{-\kappa\, d}, w_\text{min}, 1\big), $$
#
#    where $d$ is the dispersion of the group's box centres over the image diagonal;
#    $\kappa = 0$ switches it off.
#
# Evaluation follows the RSVG benchmarks {cite:p}`zhan2023rsvg,li2024vrsbench`:
# Pr@0.5–0.9 (share of boxes whose IoU with the target clears the threshold), meanIoU and
# cumIoU, in the pixels of the original image.

# %%
plotting.show_figure(plotting.pipeline_figure(), run_dir / "figures" / "pipeline.png")

# %% [markdown]
# ## How to run
#
# | command | what it does |
# |---|---|
# | `make smoke` | installs everything on first use, executes every chapter on the CPU smoke profile and builds this book under `_build/smoke/` |
# | `make test` | the fast test suite (`make test-slow` adds the book build and the fuzzers) |
# | `make dryrun` | the full profile's code path on a CPU with a tiny random Qwen2.5-VL, before GPU hours are spent: every chapter runs, no number means anything |
# | `make reproduce` | the same book at paper scale on a GPU machine, after `rsground doctor` checked it; run again after an interruption, it continues inside the interrupted training |
# | `make lab` | JupyterLab; the `.py` chapters in `book/` open as notebooks |
# | `papermill` | any chapter on your own parameters, after `jupytext --to ipynb book/<chapter>.py` |
#
# Every artefact of a run — configuration, metrics, predictions, figures, checkpoints — lands
# in `runs/<profile>/<chapter>/`; later chapters read earlier chapters' artefacts from there.
# The real benchmarks are found through `RSGROUND_DATA` (or the `data_root` parameter).

# %%
print(f"artefacts of this chapter: {run_dir}")
print(
    f"real-data folder: {real_data if real_data else 'not set (RSGROUND_DATA); real-data sections are skipped'}"
)

# %% [markdown]
# ## Results
#
# The headline numbers of this build, filled in by the chapters that measure them. On the
# smoke profile the training rows are the tiny CPU model on toy scenes — a check that the
# pipeline runs and measures honestly, not Qwen2.5-VL's numbers and not the paper's.

# %%
from IPython.display import Markdown

Markdown(report.results_table(report.book_chapters()))

# %% [markdown]
# ## Status of the stages
#
# What this build shows of each stage of the paper: the status each chapter wrote when it
# ran (so a stage whose chapter failed or was skipped cannot look done), and what is not
# built yet.

# %%
Markdown(report.status_table(report.book_chapters()))

# %% [markdown]
# ## What this build found
#
# Each sentence below is computed by the chapter that measured it (the column names and
# terms are defined in the design page's {ref}`glossary <glossary>`):

# %%
Markdown(report.findings(report.book_chapters()))

# %% [markdown]
# ## Summary
#
# - RSGround-R1 = CoT-SFT on synthetic position-aware reasoning, then GRPO with a
#   distance-aware positional reward, with each group's update scaled by its spatial
#   consistency.
# - On the tiny CPU model this book trains, what each stage changes is stated above with
#   its paired test; none of it is Qwen2.5-VL's or the paper's result.
# - Every page of this book is an executed notebook; its numbers are this run's.
#
# ## What's next
#
# The [rewards chapter](01_rewards.ipynb) builds the scoring core (boxes, the answer
# contract, rewards, the consistency weight, metrics); the [data chapter](02_data.ipynb) the
# synthetic scenes and the real benchmarks; the [CoT-SFT chapter](03_cot_sft.ipynb) the first
# training stage; the [RFT chapter](04_rft.ipynb) GRPO with the positional reward and the
# consistency weight; the [evaluation chapter](05_evaluation.ipynb) scores every checkpoint
# and sets the published results apart; the [map chapter](07_geo.ipynb) grounds sentences in
# rasters of any size and writes GeoJSON; the [ablations chapter](06_ablations.ipynb) trains
# the recipe with one thing changed per arm and judges each claim with a rule stated before
# its tables, from an archived sweep over seeds on the miniature and a live slice. The
# [design page](design.md) keeps the status of every stage.
