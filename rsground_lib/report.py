"""Reporting helpers for the book: the run's environment, glued results, and the overview's
results table that later chapters fill.

Chapters glue their headline numbers with :func:`glue_metrics` under ``<row_id>_<metric>``;
the overview renders :func:`results_table`, whose cells are ``{glue:text}`` roles pointing at
those chapters (``<stem>.ipynb::<key>``), so Jupyter Book fills them at build time from the
very run it renders. Only rows whose chapter is in the book are listed.

:func:`convention_comparison` and :func:`glue_convention_gaps` are the chapter "Rewards and
spatial consistency"'s measurement of how much the benchmarks' box conventions move a score.

About 870 lines, over the project's ~600: everything a chapter shows besides its figures —
the overview's tables, the tables of results (each fitted to the text column), and the
sentences whose every word is computed from the values they state (``verdict``,
``change_phrase``, ``share_claim``…). Splitting the sentences into a module of their own is
the next step when it grows.

Book chapter: *Overview* ("Results").
"""

from __future__ import annotations

import importlib.metadata
import math
import os
import platform
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rsground_lib import __version__, metrics
from rsground_lib.bookbuild import notebook_sources
from rsground_lib.data import splits
from rsground_lib.paths import project_root

TABLE_METRICS = ("pr@0.5", "pr@0.7", "pr@0.9", "mean_iou", "cum_iou", "parse_rate")
"""Columns of the overview's results table (keys of ``metrics.grounding_metrics``)."""

METRIC_LABELS = {
    "pr@0.5": "Pr@0.5",
    "pr@0.6": "Pr@0.6",
    "pr@0.7": "Pr@0.7",
    "pr@0.8": "Pr@0.8",
    "pr@0.9": "Pr@0.9",
    "mean_iou": "meanIoU",
    "cum_iou": "cumIoU",
    "parse_rate": "parsed",
}


@dataclass(frozen=True)
class ResultRow:
    """One row of the overview's results table: a model/baseline on one dataset split,
    glued by chapter ``chapter`` under ``<row_id>_<metric>``."""

    chapter: str
    row_id: str
    label: str
    dataset: str


START, PLAIN, RFT = (
    "Start of SFT (tiny base / Qwen2.5-VL)",
    "Plain SFT (box only)",
    "RFT (GRPO + consistency)",
)
SCENES = "{scenes}"
"""In a row's ``dataset``: the scenes its chapter glued under ``scenes`` (:func:`glue_scenes`),
so that the overview names them — the tiny base's 64-px scenes or the Data chapter's
synthetic ones — as the run drew them."""


RESULT_ROWS: tuple[ResultRow, ...] = (
    ResultRow("02_data", "prior_dior_test", "Language-only prior (no pixels)", "DIOR-RSVG test"),
    ResultRow("03_cot_sft", "start_with_position", START, f"{SCENES}: val, positional cues"),
    ResultRow("03_cot_sft", "plain_sft_with_position", PLAIN, f"{SCENES}: val, positional cues"),
    ResultRow("03_cot_sft", "cot_sft_with_position", "CoT-SFT", f"{SCENES}: val, positional cues"),
    ResultRow("04_rft", "rft_with_position", RFT, f"{SCENES}: val, positional cues"),
    ResultRow("03_cot_sft", "start_class_only", START, f"{SCENES}: val, class only"),
    ResultRow("03_cot_sft", "cot_sft_class_only", "CoT-SFT", f"{SCENES}: val, class only"),
    ResultRow("04_rft", "rft_class_only", RFT, f"{SCENES}: val, class only"),
    ResultRow("05_evaluation", "start_test", START, f"{SCENES}: test"),
    ResultRow("05_evaluation", "plain_sft_test", PLAIN, f"{SCENES}: test"),
    ResultRow("05_evaluation", "cot_sft_test", "CoT-SFT", f"{SCENES}: test"),
    ResultRow("05_evaluation", "rft_test", RFT, f"{SCENES}: test"),
)  # fmt: skip
"""Registered rows, in table order. Chapters that report grounding metrics add theirs here
when they land (one line each)."""


def glue_key(row_id: str, metric: str) -> str:
    """The glue key of one metric of one row (characters safe for Sphinx roles)."""
    return f"{row_id}_{metric.replace('@', '').replace('.', '')}"


def format_metric(metric: str, value: float | None) -> str:
    """Percentages with one decimal for rates and IoUs; an em dash for a missing value (None
    or NaN, e.g. cumIoU with an empty union)."""
    if value is None or math.isnan(float(value)):
        return "—"
    return f"{100.0 * float(value):.1f}"


def glue_metrics(row_id: str, metrics: dict[str, float | None]) -> dict[str, str]:
    """Glue every table metric of ``metrics`` (missing ones as "—") so that the overview's
    table can show them. Returns what was glued (key → text). Call from a chapter."""
    from myst_nb import glue

    glued = {}
    for metric in TABLE_METRICS:
        key = glue_key(row_id, metric)
        text = format_metric(metric, metrics.get(metric))
        glue(key, text, display=False)
        glued[key] = text
    return glued


def results_table(chapters_in_book: list[str], rows: tuple[ResultRow, ...] = RESULT_ROWS) -> str:
    """MyST Markdown for the overview's results table: one row per registered result whose
    chapter is in this book, each cell a cross-page ``{glue:text}`` role.

    Returns a sentence instead of an empty table when no such chapter is in the book.
    """
    present = [r for r in rows if r.chapter in chapters_in_book]
    if not present:
        return (
            "*No chapter of this build reports grounding metrics yet: the table fills in as the "
            "data, training and evaluation chapters are added to the book.*"
        )
    header = ["Model / baseline", "Data"] + [f"{METRIC_LABELS[m]} (%)" for m in TABLE_METRICS]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in present:
        scenes = f"{{glue:text}}`{row.chapter}.ipynb::scenes:s`"
        cells = [f"[{row.label}]({row.chapter}.ipynb)", row.dataset.replace(SCENES, scenes)]
        # The trailing ":s" is needed: myst-nb splits a format spec off at the last colon, so
        # "doc::key" alone would be read as key "doc:" with format "key" (myst-nb 1.x).
        cells += [
            f"{{glue:text}}`{row.chapter}.ipynb::{glue_key(row.row_id, m)}:s`"
            for m in TABLE_METRICS
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


@dataclass(frozen=True)
class Stage:
    """One stage of the paper in the overview's status table. ``chapter``: the chapter that
    builds and measures it (``None``: not built yet); that chapter glues its status under
    ``status_<key>`` when it has run (:func:`glue_status`)."""

    key: str
    label: str
    chapter: str | None
    gpu_path: str


STAGES: tuple[Stage, ...] = (
    Stage("scoring", "Scoring core: answer contract, rewards, consistency weight, metrics",
          "01_rewards", "the same code (no GPU part)"),
    Stage("data", "Data: synthetic scenes and traces, real-benchmark readers, cue tagger",
          "02_data", "the same code (no GPU part)"),
    Stage("cot_sft", "Stage 1, CoT-SFT (TRL SFTTrainer)", "03_cot_sft",
          "built; step time and memory timed on an H200 with random weights, never trained there"),
    Stage("rft", "Stage 2, RFT: GRPO with the positional reward", "04_rft",
          "built; the full profile's settings are set, never run on a GPU"),
    Stage("consistency", "Stage 3, spatial-consistency guided optimisation", "04_rft",
          "the same trainer (two processes tested on CPU)"),
    Stage("evaluation", "Evaluation on DIOR-RSVG, OPT-RSVG, VRSBench", "05_evaluation",
          "the same commands (rsground predict / eval) on the real test splits; never run on a GPU"),
    Stage("ablations", "Ablations: rewards, consistency scores, κ, the start", "06_ablations",
          "the same runner (rsground ablate) on the full profile; never run on a GPU"),
    Stage("geo", "Grounding in GeoTIFFs (our addition: windows, map coordinates, GeoJSON)", "07_geo",
          "the same code (rsground ground); never run with a GPU checkpoint"),
)  # fmt: skip
"""The paper's stages in order. A stage whose chapter lands sets ``chapter`` (one line)."""

NOT_BUILT = "**not built yet**"
NOT_RUN = "built; its chapter was not executed in this build"


def status_table(chapters_in_book: list[str], stages: tuple[Stage, ...] = STAGES) -> str:
    """MyST Markdown for the overview's status table: each stage with what this build shows
    of it — the status its chapter glued when it ran (a cross-page ``{glue:text}``), that its
    chapter was not executed, or that it is not built yet — and its GPU path."""
    lines = ["| stage | in this build | GPU path |", "|---|---|---|"]
    for st in stages:
        if st.chapter is None:
            status = NOT_BUILT
        elif st.chapter in chapters_in_book:
            status = f"[{{glue:text}}`{st.chapter}.ipynb::status_{st.key}:s`]({st.chapter}.ipynb)"
        else:
            status = NOT_RUN
        lines.append(f"| {st.label} | {status} | {st.gpu_path} |")
    return "\n".join(lines)


def glue_scenes(scenes: str, image_size: int) -> str:
    """Glue (myst_nb) the name of the scenes a chapter drew, under ``scenes``
    (:func:`rsground_lib.data.splits.scenes_label`): what the overview's results table says
    in its Data column for that chapter's rows."""
    from myst_nb import glue  # the book extra: only chapters glue

    label = splits.scenes_label(scenes, image_size)
    glue("scenes", label, display=False)
    return label


def glue_status(key: str, status: str) -> None:
    """Glue a stage's status for the overview's status table (call at the end of the chapter
    that builds the stage, with a sentence computed from what it measured). Returns nothing,
    so that a cell ending in it shows no raw string (issue 26)."""
    from myst_nb import glue  # the book extra: only chapters glue

    if key not in {st.key for st in STAGES}:
        raise ValueError(f"glue_status: unknown stage {key!r}; known: {[st.key for st in STAGES]}")
    glue(f"status_{key}", status, display=False)


DIOR_PRESET_ROW = "DIOR-RSVG test, continuous & > (its preset)"
DIOR_INCLUSIVE_ROW = "DIOR-RSVG test, inclusive & >="
VRS_PRESET_ROW = "VRSBench val (grid), inclusive & >= (its preset)"
VRS_CONTINUOUS_ROW = "VRSBench val (grid), continuous & >"

VRSBENCH_GRID_PX = 5.12
"""Pixels of one unit of VRSBench's 0–100 grid over its 512-px patch."""

CONVENTION_GAPS: dict[str, tuple[str, str, str]] = {
    "dior_pr09_gap": (DIOR_INCLUSIVE_ROW, DIOR_PRESET_ROW, "pr@0.9"),
    "vrs_pr05_gap": (VRS_CONTINUOUS_ROW, VRS_PRESET_ROW, "pr@0.5"),
}
"""Glue key → (row, row it is compared with, metric) of :func:`convention_gaps`: the gap is
``row − compared``, the direction the chapter's sentence names (DIOR-RSVG switched *to*
inclusive; VRSBench scored continuously *instead of* inclusively)."""

NOT_MEASURED = "not measured (no real data: set `RSGROUND_DATA`)"
"""What prose shows for a value of the real benchmarks when no data root is set."""


def convention_comparison(
    dior_test, vrs_val, rng: np.random.Generator, *, jitter_px: float, jitter_grid_units: int
) -> dict[str, dict[str, float]]:
    """Score the same simulated predictions under both box protocols of each benchmark.

    Predictions are the real target boxes jittered: uniform ±``jitter_px`` pixels per
    coordinate on DIOR-RSVG test (``dior_test``, records with ``bbox``), scored with its
    preset (continuous, IoU > t) and inclusive with IoU ≥ t; uniform integers
    ±``jitter_grid_units`` on VRSBench's 0–100 grid (``vrs_val``'s boxes divided by
    :data:`VRSBENCH_GRID_PX` and rounded), scored with its preset (inclusive, ≥) and
    continuous with >. ``rng`` draws the DIOR-RSVG jitter first, then VRSBench's. A dataset
    that is ``None`` (not found) gives no rows. Returns row label → grounding metrics.
    """
    rows = {}
    if dior_test is not None:
        t_dior = np.asarray(dior_test["bbox"], dtype=float)
        p_dior = t_dior + rng.uniform(-jitter_px, jitter_px, size=t_dior.shape)
        rows[DIOR_PRESET_ROW] = metrics.grounding_metrics(p_dior, t_dior, preset="dior_rsvg")
        rows[DIOR_INCLUSIVE_ROW] = metrics.grounding_metrics(
            p_dior, t_dior, convention="inclusive", op=">="
        )
    if vrs_val is not None:
        t_grid = np.round(np.asarray(vrs_val["bbox"], dtype=float) / VRSBENCH_GRID_PX)
        p_grid = t_grid + rng.integers(-jitter_grid_units, jitter_grid_units + 1, size=t_grid.shape)
        rows[VRS_PRESET_ROW] = metrics.grounding_metrics(p_grid, t_grid, preset="vrsbench")
        rows[VRS_CONTINUOUS_ROW] = metrics.grounding_metrics(
            p_grid, t_grid, convention="continuous", op=">"
        )
    return rows


def convention_gaps(rows: dict[str, dict[str, float]]) -> dict[str, str]:
    """For each key of :data:`CONVENTION_GAPS`, the difference of the metric between the two
    rows of :func:`convention_comparison`, in percentage points with a sign and one decimal
    (``"+1.2"``); :data:`NOT_MEASURED` when a row is absent."""
    gaps = {}
    for key, (row, baseline, metric) in CONVENTION_GAPS.items():
        if row in rows and baseline in rows:
            gaps[key] = f"{100 * (rows[row][metric] - rows[baseline][metric]):+.1f}"
        else:
            gaps[key] = NOT_MEASURED
    return gaps


def glue_convention_gaps(rows: dict[str, dict[str, float]]) -> dict[str, str]:
    """Glue :func:`convention_gaps` (not displayed) for the chapter's text; returns them.
    Call from a chapter."""
    from myst_nb import glue

    gaps = convention_gaps(rows)
    for key, text in gaps.items():
        glue(key, text, display=False)
    return gaps


def book_chapters(root=None) -> list[str]:
    """Stems of the executable chapters listed in the project's ``_toc.yml``, in order."""
    return list(notebook_sources(project_root(root)))


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``'s "model name", else ``platform.processor()``),
    or "unknown": what a run records beside its numbers, since training differs between CPUs
    at the float level."""
    info = Path("/proc/cpuinfo")
    if info.is_file():
        for line in info.read_text(errors="replace").splitlines():
            if line.startswith("model name") and ":" in line:
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def environment_report() -> dict[str, str]:
    """What this run ran on: Python, the key libraries, the accelerator, CPU cores."""
    info = {
        "rsground_lib": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "cpu": cpu_model(),
        "cpu_cores": str(os.cpu_count()),
    }
    for dist in ("torch", "transformers", "trl", "peft", "datasets", "jupyter-book"):
        info[dist] = _version(dist)
    accelerator = "CPU (no GPU)"
    if info["torch"] != "not installed":
        import torch

        if torch.cuda.is_available():
            accelerator = f"{torch.cuda.device_count()} × {torch.cuda.get_device_name(0)}"
    info["accelerator"] = accelerator
    return info


def change_phrase(before: float, after: float, *, digits: int = 1) -> str:
    """A change of a rate in [0, 1] as words and percentage points, sign and number from the
    same values: ``"loses 12.3 points"``, ``"gains 1.2 points"``, or ``"keeps it (within 0.1
    points)"`` when the change rounds to zero at ``digits``; ``"not measured"`` when either
    value is NaN or None. For prose that states a direction."""
    if before is None or after is None or np.isnan(before) or np.isnan(after):
        return "not measured"
    points = round(100 * (float(after) - float(before)), digits)
    if points == 0:
        return f"keeps it (within {10**-digits:g} points)"
    word = "gains" if points > 0 else "loses"
    return f"{word} {abs(points):.{digits}f} points"


def points_from(value: float, reference: float, *, digits: int = 1) -> str:
    """How far a rate in [0, 1] lies from a reference, in percentage points, with the
    direction from the same rounded number: ``"1.7 points above"``, ``"4.0 points below"``,
    ``"level with (within 0.1 points)"``; ``"not measured"`` when either is NaN or None."""
    if value is None or reference is None or np.isnan(value) or np.isnan(reference):
        return "not measured"
    points = round(100 * (float(value) - float(reference)), digits)
    if points == 0:
        return f"level with (within {10**-digits:g} points)"
    return f"{abs(points):.{digits}f} points {'above' if points > 0 else 'below'}"


def glue_model_splits(
    results: dict[str, dict[str, dict]],
    paired: dict[tuple[str, str], dict],
    keys: dict[str, str],
    reference: str,
) -> None:
    """Glue (myst_nb) what a chapter's prose quotes of every model × split evaluation:
    the table metrics (:func:`glue_metrics`, row ``<key>_<split>``), ``<key>_<split>_pick``
    and ``_follows`` (percentages, "not measured" when NaN), and for the models compared
    with ``reference`` scene by scene (``paired``, :func:`rsground_lib.evaluation.
    paired_comparisons`) ``_lost``, ``_gained``, ``_p`` and ``_change`` (the Pr@0.5 change
    against the reference, :func:`change_phrase`). ``keys`` maps a model name to its glue
    prefix."""
    from myst_nb import glue  # the book extra: only chapters glue

    for model, key in keys.items():
        for split, res in results[model].items():
            glue_metrics(f"{key}_{split}", res)
            pick, follows = res["pick_acc"], res["answer_follows_reasoning"]
            glue(f"{key}_{split}_pick", percent(pick, missing="not measured"), display=False)
            glue(f"{key}_{split}_follows", percent(follows, missing="not measured"), display=False)
            if (model, split) in paired:
                p = paired[model, split]
                glue(f"{key}_{split}_lost", p["only_a"], display=False)
                glue(f"{key}_{split}_gained", p["only_b"], display=False)
                glue(f"{key}_{split}_p", f"{p['p_value']:.2g}", display=False)
                before = results[reference][split]["pr@0.5"]
                glue(f"{key}_{split}_change", change_phrase(before, res["pr@0.5"]), display=False)


def percent(value: float | None, *, digits: int = 1, missing: str = NOT_MEASURED) -> str:
    """A rate in [0, 1] as prose quotes it (``"72.4%"``); ``missing`` when the value is None
    or NaN — never ``"nan%"``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return missing
    return f"{100 * float(value):.{digits}f}%"


DRY_RUN_PROFILE = "dryrun"
"""The profile ``make dryrun`` executes (:mod:`rsground_lib.dryrun`)."""


def profile_banner(profile: str):
    """What a chapter shows first when ``make dryrun`` executed it: a note that the page
    checked the full profile's code path on a random model and that none of its numbers means
    anything; ``None`` (nothing shown) on any other profile."""
    if profile != DRY_RUN_PROFILE:
        return None
    from IPython.display import Markdown

    return Markdown(
        "> **Dry run** (`make dryrun`): this page was executed on the full profile's code path "
        "with a tiny Qwen2.5-VL of random weights given a short format SFT, to check that the "
        "code runs before GPU hours are spent. No number, figure or sentence about results on "
        "this page means anything."
    )


def show_table(frame, digits: int = 3, *, count_rows: tuple = ()):
    """A table as the book shows it (a pandas ``Styler``): counts — columns whose values are
    all whole numbers, some above 1 — without decimals, other numbers with ``digits``
    decimals, and a missing or not-applicable value (NaN, None) as "—", never ``NaN``. A
    column label may break after an underscore (a zero-width space follows it), so that a
    name such as ``chance_quadrant`` wraps instead of widening the table past the text
    column (issue 26); row labels too. Numeric columns named in :data:`COUNT_COLUMNS`, and
    the rows named in ``count_rows`` (a transposed table), are counts whatever their values."""
    import pandas as pd

    formats = {}
    for column in frame.columns:
        values = [
            v for v in frame[column] if isinstance(v, (int, float)) and not isinstance(v, bool)
        ]
        if column in COUNT_COLUMNS and values and len(values) == len(frame[column].dropna()):
            formats[column] = "{:,.0f}"  # a numeric count column, whatever its values
            continue
        finite = [float(v) for v in values if math.isfinite(float(v))]
        if not values:
            continue
        if finite and all(v.is_integer() for v in finite) and max(finite) > 1:
            formats[column] = "{:,.0f}"
        else:
            formats[column] = f"{{:.{digits}f}}"
    styled = frame.style.format(formats, na_rep="—").format_index(breakable, axis=1)
    for row in count_rows:
        if row in frame.index:
            styled = styled.format("{:,.0f}", subset=pd.IndexSlice[[row], :], na_rep="—")
    return styled.format_index(breakable, axis=0)


def breakable(label) -> str:
    """``label`` as text that may break after each underscore (a zero-width space follows
    it): how :func:`show_table` lets long column names wrap."""
    return str(label).replace("_", "_\u200b")


def share_claim(shares: dict[str, float | None], subject: str, predicate: str) -> str:
    """A sentence about shares in [0, 1] whose quantifier comes from the values: "most
    <subject> <predicate>" when every measured share is above one half, "fewer than half of
    <subject> <predicate>" when every one is below, "<subject> differ: …" otherwise; a
    "not measured" sentence when none was measured (no real data)."""
    measured = {k: v for k, v in shares.items() if v is not None and not math.isnan(v)}
    if not measured:
        return f"whether {subject} {predicate} is {NOT_MEASURED}"
    if all(v > 0.5 for v in measured.values()):
        return f"most {subject} {predicate}"
    if all(v < 0.5 for v in measured.values()):
        return f"fewer than half of {subject} {predicate}"
    parts = ", ".join(f"{k} {percent(v)}" for k, v in measured.items())
    return f"{subject} differ in how often they {predicate} ({parts})"


def relation(
    value: float, reference: float, *, more: str, less: str, same: str, digits: int = 3
) -> str:
    """The word that compares ``value`` with ``reference`` at ``digits`` decimals — ``more``,
    ``less`` or ``same`` (e.g. "better than" / "worse than" / "as good as") — so that a
    sentence's direction comes from the values it quotes."""
    a, b = round(float(value), digits), round(float(reference), digits)
    return more if a > b else less if a < b else same


PUBLISHED_METRICS: dict[str, tuple[str, ...]] = {
    "DIOR-RSVG": ("pr@0.5", "pr@0.7", "pr@0.9", "mean_iou", "cum_iou"),
    "OPT-RSVG": ("pr@0.5", "pr@0.7", "pr@0.9", "mean_iou", "cum_iou"),
    "VRSBench (visual grounding)": ("acc@0.5", "acc@0.7"),
}
"""The columns of :func:`published_table` per benchmark (percent, as the sources print them)."""


def published_table(data: dict, benchmark: str):
    """The published results of ``benchmark`` in an archived file of transcribed numbers
    (``experiments/published_results.json``): one row per model and source, each number with
    the decimals its source prints (``decimals``), "—" where the source gives none, and the
    source's table and address. Never mixed with numbers a run measured."""
    import pandas as pd

    columns = PUBLISHED_METRICS.get(benchmark)
    if columns is None:
        raise ValueError(
            f"published_table: expected one of {list(PUBLISHED_METRICS)}; got {benchmark!r}"
        )
    rows = [r for r in data["rows"] if r["benchmark"] == benchmark]
    if not rows:
        raise ValueError(f"published_table: no row for {benchmark!r} in {data.get('title')!r}")
    frame = pd.DataFrame(
        [
            {
                "model": r["model"],
                "kind": r.get("kind", "—"),
                **{
                    METRIC_LABELS.get(m, m.replace("acc", "Acc")): (
                        f"{r[m]:.{int(r.get('decimals', 2))}f}" if m in r else "—"
                    )
                    for m in columns
                },
                "source": f"{r['table']} — {r['url']}",
            }
            for r in rows
        ]
    )
    return frame.set_index("model")


LINK_COLUMNS: dict[str, str] = {
    "cue_copied": "cue copied",
    "choice_listed": "choice listed",
    "choice_consistent": "choice at the edge",
    "answer_follows_reasoning": "answer follows",
    "candidates_recall": "listing recall",
    "candidates_precision": "listing precision",
}
"""The columns of :func:`links_table`: the links of a reasoning
(:mod:`rsground_lib.reasoning`; short titles, defined in the design page's glossary); the
scores of the answer are in :func:`model_split_table`'s tables."""

SCORE_COLUMNS: tuple[str, ...] = ("pr@0.5", "pr@0.7", "mean_iou", "cum_iou", "parse_rate")
"""The box scores of a model × split table (:func:`model_split_table`)."""

PICK_COLUMNS: tuple[str, ...] = (
    "pick_acc",
    "chance_pick",
    "quadrant_acc",
    "chance_quadrant",
    "answer_follows_reasoning",
)
"""Which instance the answer chose, beside its chance levels, and whether it follows the
reasoning (:func:`model_split_table`); the finer picks stay in ``metrics.json``."""

COUNT_COLUMNS = frozenset(
    {
        "n",
        "missing",
        "both",
        "only_a",
        "only_b",
        "neither",
        "steps",
        "records",
        "read",
        "kept",
        "skipped",
        "repaired",
        "rank",
        "windows",
        "seeds",
    }
)
"""Columns :func:`show_table` always prints as whole numbers, whatever their values (a count
of 0 or 1 is not "0.000")."""


def model_split_table(results: dict[str, dict[str, dict]], columns: tuple[str, ...]):
    """One table of every model × split evaluation (``results``: model → split → metrics,
    :func:`rsground_lib.evaluation.evaluate_splits`), index ``(model, split)``, the given
    metric columns (:data:`SCORE_COLUMNS` or :data:`PICK_COLUMNS`): two narrow tables fit
    the text column where one wide one did not (issue 26)."""
    import pandas as pd

    frame = pd.concat(
        {m: pd.DataFrame(r).T.reindex(columns=list(columns)) for m, r in results.items()},
        names=["model", "split"],
    ).astype(float)
    return show_table(frame)


def breakdown_table(tables: dict, metric: str = "pr@0.5"):
    """Per-group results of several models side by side: ``tables`` maps a model to its
    :func:`rsground_lib.evaluation.breakdown_table` (indexed by group, with ``n`` and
    ``metric``); one ``n`` column (the groups are the same scenes for every model), then
    each model's ``metric`` — narrow enough for the text column (issue 26). A model whose
    groups differ from the first's is an error."""
    import pandas as pd

    first = next(iter(tables.values()))
    for model, table in tables.items():
        if not table["n"].equals(first["n"]):
            raise ValueError(f"breakdown_table: {model!r}'s groups differ from the first model's")
    frame = pd.concat({"n": first["n"], **{m: t[metric] for m, t in tables.items()}}, axis=1)
    return show_table(frame).set_caption(f"{METRIC_LABELS.get(metric, metric)} by group")


def links_table(rows: dict[str, dict[str, dict]], columns: dict[str, str] = LINK_COLUMNS):
    """The links of each model's reasoning per split as one table: ``rows`` maps a row label
    (e.g. "before (archived)", "CoT-SFT", "the targets") to ``{split: metrics}`` (
    :func:`rsground_lib.evaluation.evaluate` metrics, or an archived result's ``splits``);
    index ``(model, split)``, the columns :data:`LINK_COLUMNS`; a missing or NaN value shows
    "—" (:func:`show_table`)."""
    import pandas as pd

    frame = pd.DataFrame(
        {
            (model, split): {title: m.get(key) for key, title in columns.items()}
            for model, splits in rows.items()
            for split, m in splits.items()
        }
    ).T.astype(float)
    frame.index.names = ["model", "split"]
    return show_table(frame)


def reading_table(reports: dict):
    """What the readers did with each real split, as a table a reader can take in at once:
    records read, kept, skipped and repaired, the kept oddities by kind, and the file's name
    (no machine path). ``reports`` maps a split's label to its
    :class:`rsground_lib.data.readers.common.LoadReport`."""
    import pandas as pd

    def kinds(counter) -> str:
        return ", ".join(f"{k} {v:,}" for k, v in sorted(counter.items())) or "—"

    return pd.DataFrame(
        {
            name: {
                "read": r.n_read,
                "kept": r.n_kept,
                "skipped": kinds(r.skipped),
                "repaired": kinds(r.repaired),
                "kept with a flag": kinds(r.kept_flags),
                "file": Path(r.source).name,
            }
            for name, r in reports.items()
        }
    ).T


def check_table(checks: dict[str, tuple[float | None, str, float]]):
    """Bars and whether they are met, computed from the values: ``checks`` maps what is
    checked to ``(value, ">=" or "<=", bar)``; the table shows the value (three decimals, "—"
    when not measured), the bar and "yes", "no" or "not measured"."""
    import pandas as pd

    rows = {}
    for what, (value, op, bar) in checks.items():
        if op not in (">=", "<="):
            raise ValueError(f"check_table: {what!r}: expected '>=' or '<='; got {op!r}")
        missing = value is None or (isinstance(value, float) and math.isnan(value))
        met = (
            "not measured"
            if missing
            else ("yes" if (value >= bar if op == ">=" else value <= bar) else "no")
        )
        rows[what] = {
            "measured": "—" if missing else f"{float(value):.3f}",
            "bar": f"{op} {bar:g}",
            "met": met,
        }
    return pd.DataFrame(rows).T


def lowest_phrase(values: dict[str, float], *, skip: tuple[str, ...] = ("all",)) -> str:
    """ "the lowest is 96.0% (copy_box)" for a dict of rates, or "every one is 100.0%" when
    they are all equal (to the percent's digit): which item is lowest says nothing then."""
    items = {k: v for k, v in values.items() if k not in skip}
    if not items:
        raise ValueError("lowest_phrase: no values")
    name = min(items, key=items.get)
    if percent(items[name]) == percent(max(items.values())):
        return f"every one is {percent(items[name])}"
    return f"the lowest is {percent(items[name])} ({name})"


def completions_text(expressions, texts, *, width: int = 88) -> str:
    """Expressions and the completions a model wrote for them, for a chapter to print: each
    completion wrapped at ``width`` characters after an arrow, so that a reader sees a whole
    reasoning without scrolling; blocks separated by a blank line."""
    import textwrap

    blocks = []
    for expression, text in zip(expressions, texts, strict=True):
        body = textwrap.fill(
            str(text).strip(), width=width, initial_indent="  → ", subsequent_indent="    ",
            break_on_hyphens=False,
        )  # fmt: skip
        blocks.append(f"{expression}\n{body}")
    return "\n\n".join(blocks)


def weakest(metrics: dict, keys: tuple[str, ...]) -> tuple[str, float | None]:
    """``(key, value)`` of the smallest measured value of ``metrics`` among ``keys`` (NaN and
    None are not measured); ``(keys[0], None)`` when none is."""
    measured = [
        (k, float(metrics[k]))
        for k in keys
        if metrics.get(k) is not None and not math.isnan(float(metrics[k]))
    ]
    if not measured:
        return keys[0], None
    return min(measured, key=lambda kv: kv[1])


def span(values: dict[str, float | None] | list, *, digits: int = 1) -> str:
    """The measured rates in [0, 1] as one percentage or a range: ``"97.1%"`` when they all
    round to the same, else ``"95.1–97.1%"``; :data:`NOT_MEASURED`-style "not measured" when
    none is (NaN, None)."""
    items = values.values() if isinstance(values, dict) else values
    measured = [float(v) for v in items if v is not None and not math.isnan(float(v))]
    if not measured:
        return "not measured"
    low, high = percent(min(measured), digits=digits), percent(max(measured), digits=digits)
    return low if low == high else f"{low[:-1]}–{high}"


def verdict(
    values: dict[str, float],
    paired: dict[str, dict],
    reference: str,
    *,
    alpha: float = 0.05,
    what: str = "trained checkpoint",
) -> str:
    """The finding of comparing models with a reference scene by scene, as one sentence whose
    every word comes from the values: ``values`` maps each model (the reference included) to
    a rate in [0, 1] (Pr@0.5), ``paired`` each other model to its exact paired test (a dict
    with ``p_value``, :func:`rsground_lib.evaluation.paired_comparisons`). The lead says
    whether the differences clear ``alpha`` — none, all in one direction, or some — then each
    model's distance from the reference (:func:`points_from`) and its p-value. How the
    evaluation chapter and the overview state their headline (issue 26)."""
    models = [m for m in values if m != reference]
    missing = [m for m in models if m not in paired]
    if reference not in values or not models or missing:
        raise ValueError(
            f"verdict: need the reference {reference!r} and a paired test for every other model; "
            f"values has {sorted(values)}, paired has {sorted(paired)}"
        )
    ref = values[reference]
    significant = {m: paired[m]["p_value"] < alpha for m in models}
    signs = {m: round(100 * (values[m] - ref), 1) for m in models}
    if not any(significant.values()):
        lead = (
            f"no {what} differs from the {reference} beyond chance (exact McNemar test: every "
            f"p ≥ {alpha:g})"
        )
    elif all(significant.values()) and all(s < 0 for s in signs.values()):
        lead = f"every {what} is below the {reference} (each p < {alpha:g})"
    elif all(significant.values()) and all(s > 0 for s in signs.values()):
        lead = f"every {what} is above the {reference} (each p < {alpha:g})"
    else:
        named = [m for m in models if significant[m]]
        verb = "differs" if len(named) == 1 else "differ"
        lead = f"only {', '.join(named)} {verb} from the {reference} at p < {alpha:g}"

    def part(model: str) -> str:
        where, p = points_from(values[model], ref), f"p = {paired[model]['p_value']:.2g}"
        if where.startswith("level with ("):  # "level with (within 0.1 points)"
            return f"{model} level with it ({where[len('level with (') : -1]}; {p})"
        return f"{model} {where} it ({p})"

    return f"{lead}: " + "; ".join(part(m) for m in models)


def side_of(values, reference: float, *, digits: int = 3) -> str:
    """Where a set of values lies against one reference, compared at ``digits`` decimals:
    ``"above"`` (all higher), ``"below"`` (all lower), ``"level with"`` (all equal) or ``"on
    both sides of"`` — the word a sentence about several models' rates takes from them."""
    words = {
        relation(v, reference, more="above", less="below", same="level with", digits=digits)
        for v in values
    }
    if not words:
        raise ValueError("side_of: no values")
    return words.pop() if len(words) == 1 else "on both sides of"


FINDINGS: tuple[tuple[str, str, str], ...] = (
    ("03_cot_sft", "finding", "CoT-SFT against its start"),
    ("04_rft", "finding", "RFT against its start"),
    ("05_evaluation", "headline", "Every checkpoint against the start, on fresh test scenes"),
    (
        "06_ablations",
        "claims_summary",
        "The paper's claims over seeds, on the miniature (archived sweep)",
    ),
)
"""The overview's findings: ``(chapter, glue key, what it compares)``, each a sentence the
chapter computed from its own measurements and paired tests and glued under that key."""


def findings(chapters_in_book: list[str], items: tuple = FINDINGS) -> str:
    """MyST Markdown for the overview's "What this build found": one bullet per finding
    whose chapter is in the book, its sentence a cross-page ``{glue:text}`` (so the
    overview states only what a chapter of this build measured), and a line naming the
    chapters that are not in the build."""
    lines, absent = [], []
    for chapter, key, what in items:
        if chapter in chapters_in_book:
            lines.append(f"- [{what}]({chapter}.ipynb): {{glue:text}}`{chapter}.ipynb::{key}:s`")
        else:
            absent.append(chapter)
    if absent:
        lines.append(f"- Not in this build, so not stated here: {', '.join(sorted(set(absent)))}.")
    return "\n".join(lines)


def follows_claim(follows: dict[str, float | None]) -> str:
    """What the share of answers that follow their own reasoning (``answer_follows_reasoning``
    per model) says about a wrong answer, in words chosen by the values: above one half for
    every model, a wrong answer is mostly the reasoning's own choice; below for every one,
    the reasoning is not followed; otherwise the models differ."""
    measured = [v for v in follows.values() if v is not None and not math.isnan(v)]
    side = side_of(measured, 0.5) if measured else ""
    if side == "above":
        return "so a wrong answer is mostly the reasoning's own choice"
    if side == "below":
        return "so most answers depart from the reasoning that precedes them: it is not followed"
    if not measured:
        return "so whether an answer follows its reasoning is not measured"
    return "so whether an answer is the reasoning's own choice differs between the models"


def cot_sft_finding(
    results: dict, paired: dict, *, model: str = "CoT-SFT", reference: str = "base"
) -> str:
    """The CoT-SFT chapter's finding, for the overview: ``model``'s Pr@0.5 change against
    ``reference`` on each validation split with its exact paired test (``paired``:
    :func:`rsground_lib.evaluation.paired_comparisons`), e.g. "On the validation scenes,
    CoT-SFT: class only Pr@0.5 loses 4.3 points against the start (p = 0.0071), ..."."""
    changes = [
        f"{split.replace('_', ' ')} Pr@0.5 "
        f"{change_phrase(results[reference][split]['pr@0.5'], res['pr@0.5'])} against the "
        f"start (p = {paired[model, split]['p_value']:.2g})"
        for split, res in results.get(model, {}).items()
        if (model, split) in paired and split in results.get(reference, {})
    ]
    if not changes:
        return f"{model} was not compared with the start in this run."
    return f"On the validation scenes, {model}: {', '.join(changes)}."


def rft_finding(
    results: dict,
    paired: dict,
    base_pr50: float | None,
    *,
    model: str = "RFT",
    start: str = "CoT-SFT (start)",
    split: str = "class_only",
) -> str:
    """The RFT chapter's finding, for the overview: ``model``'s Pr@0.5 change on ``split``
    against the CoT-SFT model it starts from, with the exact paired test, and where it lies
    against the untrained start of SFT (``base_pr50``; None when the CoT-SFT chapter did not
    run)."""
    value = results[model][split]["pr@0.5"]
    change = change_phrase(results[start][split]["pr@0.5"], value)
    text = (
        f"On the {split.replace('_', '-')} validation scenes, {model}'s Pr@0.5 {change} against "
        f"the CoT-SFT model it starts from (p = {paired[model, split]['p_value']:.2g})"
    )
    if base_pr50 is None:
        return f"{text}; the untrained start of SFT was not scored in this run."
    return f"{text} and lies {points_from(value, base_pr50)} the untrained start of SFT."
