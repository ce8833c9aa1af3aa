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
# # Chapter title
#
# **Overview.** What this chapter builds or measures, in two or three sentences, and what the
# reader will know at the end.
#
# **Prerequisites.** The chapters it builds on, as links ([Rewards](../01_rewards.ipynb)).
#
# A new chapter starts from this file (copy it to `book/NN_name.py` and list it in
# `_toc.yml`). `tests/test_bookbuild.py::test_chapters_follow_the_skeleton` holds every chapter,
# and this template, to its rules:
#
# - the headings below, a `parameters` cell whose every line is `name = value  # type[ range]:
#   meaning` (unit where there is one; ranges as `≥ 1`, `in [0, 1]`, `in {a, b}`);
# - calls, not logic: no `def`, `class` or `lambda` (the library holds them);
# - artefacts through `files.write_json` (strict JSON: `null`, never `NaN`), tables through
#   `report.show_table` (counts as integers, a missing value as "—"), percentages in prose
#   through `report.percent` ("not measured", never `nan%`), changes through
#   `report.change_phrase` (the direction word and the number from the same values), a
#   comparison with its paired test through `report.verdict`; a parameter's value in prose
#   (glued), never its name;
# - tables no wider than the text column (`tests/test_render.py` estimates each): few,
#   short columns, the quoted ones first; two narrow tables rather than one wide one;
# - every `plotting.show_figure` is shown where it is called;
# - no trainer or library log printed: training writes `log.jsonl`, the chapter draws it;
# - a number from an earlier experiment comes from a committed file (`rsground_lib.archive`)
#   and is labelled archived; a stage that is not built says so;
# - "What's next" links to a page that exists; `report.glue_status` records what this run
#   measured for the overview's status table when the chapter builds a stage of the paper.

# %% [markdown]
# ## Parameters

# %% tags=["parameters"]
profile = "smoke"  # str: parameter profile of this run (params/<profile>.yml); names the folder runs/<profile>/
runs_root = ""  # str: folder for run artefacts; "" means $RSGROUND_RUNS, else <project>/runs
seed = 0  # int ≥ 0: seed of everything random in this chapter

# %%
from rsground_lib import files, paths, report

run_dir = paths.run_dir(profile, "templates_chapter", runs_root or None)

# %% [markdown]
# ## Content
#
# Narrative, then a short cell that calls the library and shows its result.

# %%
files.write_json(run_dir / "metrics.json", {"seed": seed})
report.percent(None, missing="not measured")

# %% [markdown]
# ## Summary
#
# - One bullet per thing the reader should keep, each number glued from this run.
#
# ## What's next
#
# The [overview](../00_overview.ipynb) lists every stage and its status.
