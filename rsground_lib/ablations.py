"""Ablations: which part of RSGround-R1 does the work — arms × seeds, run resumably, and the
statistics that decide whether a claim is supported at this scale.

An *arm* is a named difference from the recipe (a few :class:`~rsground_lib.training.rft.
RftConfig` fields, or another start checkpoint). For each arm × seed :func:`run_arm` trains
RFT from that arm's start, scores the model on fixed scenes with the evaluation module, and
writes one JSON (metrics, per-scene hits, the training curves' summary, config, commit, CPU
model, wall time) under ``<folder>/<arm>/seed<k>/result.json``. A finished arm × seed is
never recomputed: the file is the unit of resumption (a killed sweep continues with the
next one; inside a run, the trainer's own checkpoints continue it when ``save_steps`` > 0).

The statistics compare an arm with the recipe on the *same* scenes and seeds:
:func:`seed_interval` (mean and 95 % t-interval over seeds), :func:`paired_bootstrap` (the
difference of Pr@0.5, resampling seeds and scenes together, and the probability of an
improvement), :func:`mcnemar_by_seed` (the exact paired test within each seed) and
:func:`claim_verdict`, the rule the chapter states before its tables: *supported* when the
interval of the difference excludes 0 in the paper's direction, *contradicted* when it
excludes 0 the other way, *not resolved* otherwise. Our design: the paper's ablations are
not public.

Why this module is long (over the project's ~600 lines): it holds one concept end to end —
the arms, the resumable runner (one or several runs at a time), the archive of a sweep, the
statistics of a verdict, and the tables and sentences the chapter computes from them. The
sentences (``*_finding``, ``claims_summary``, ``leaning``) are the first candidates to move
into a module of their own.

Book chapter: "Ablations" (``book/06_ablations.py``).
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from rsground_lib import (
    archive,
    bookbuild,
    evaluation,
    files,
    metrics,
    paths,
    profiles,
    report,
)
from rsground_lib.data import splits
from rsground_lib.training import common, rft


@dataclass(frozen=True)
class Arm:
    """One arm of the sweep: ``changes`` (RftConfig fields that differ from the recipe) and
    ``start`` (which checkpoint RFT starts from: a key of the ``starts`` mapping given to
    :func:`run_arm` — ``"CoT-SFT"``, ``"plain SFT"`` or ``"start"``, the untrained base).
    ``question`` groups the arms of one table; ``direction`` is the sign the paper's claim
    predicts for the recipe minus this arm (+1: the recipe is better), 0 when the arm asks
    no claim of the paper (a peer's reward, a κ curve). ``rl`` False: no RL at all — the
    start itself is scored (greedy decoding: one run stands for every seed)."""

    name: str
    question: str
    changes: dict = field(default_factory=dict)
    start: str = "CoT-SFT"
    direction: int = 1
    description: str = ""
    rl: bool = True


RECIPE = "recipe"
"""The name of the arm that is the recipe itself (no change)."""

ARMS: tuple[Arm, ...] = (
    Arm(RECIPE, "rewards × consistency", description="format + IoU + positional, κ = 5"),
    Arm("no_positional", "rewards × consistency", {"reward_funcs": ["format", "iou"]},
        description="format + IoU, κ = 5: does the positional reward help?"),
    Arm("no_weight", "rewards × consistency", {"consistency_kappa": 0.0},
        description="format + IoU + positional, κ = 0 (plain GRPO): does the weight help?"),
    Arm("no_positional_no_weight", "rewards × consistency",
        {"reward_funcs": ["format", "iou"], "consistency_kappa": 0.0},
        description="format + IoU, κ = 0: neither"),
    Arm("thresholded_iou", "a peer's reward", {"reward_funcs": ["format", "thresholded_iou"]},
        direction=0, description="RS-HyRe-R1's thresholded IoU instead of IoU + positional"),
    Arm("pairwise_iou_score", "the coherence score", {"consistency_score": "mean_pairwise_iou"},
        direction=0, description="1 − mean pairwise IoU instead of the centre dispersion"),
    Arm("kappa_1", "the strength κ", {"consistency_kappa": 1.0}, direction=0,
        description="κ = 1"),
    Arm("kappa_20", "the strength κ", {"consistency_kappa": 20.0}, direction=0,
        description="κ = 20"),
    Arm("from_plain_sft", "the start", start="plain SFT",
        description="the same RFT from plain SFT: does CoT-SFT before RL help?"),
    Arm("from_base", "the start", start="start",
        description="the same RFT from the untrained base, no SFT (R1-Zero style)"),
    Arm("cot_sft_only", "RL itself", start="CoT-SFT", rl=False,
        description="the CoT-SFT model, no RL: does RL add to CoT-SFT?"),
    Arm("plain_sft_only", "RL itself", start="plain SFT", rl=False,
        description="the plain-SFT model, no RL"),
)  # fmt: skip
"""The arms on the miniature (issue 27); the factorial's four arms first, the SFT-only rows
(scored, not trained) last."""

FACTORIAL = ("recipe", "no_positional", "no_weight", "no_positional_no_weight")
"""The 2 × 2 factorial {format + IoU, + positional} × {κ = 0, κ = 5}."""


QUESTIONS: tuple[str, ...] = tuple(dict.fromkeys(a.question for a in ARMS))
"""The questions of the chapter, one table each, in the registry's order."""


def get_arm(name: str, arms: Sequence[Arm] = ARMS) -> Arm:
    """The arm called ``name``; a ValueError listing the known ones otherwise."""
    for arm in arms:
        if arm.name == name:
            return arm
    raise ValueError(f"unknown arm {name!r}; known arms: {', '.join(a.name for a in arms)}")


def _scene_key(record: Mapping) -> str:
    """A scene's id, or — the tiny base's scenes have none — its expression and box."""
    if record.get("id"):
        return str(record["id"])
    return f"{record['expression']}|{[round(float(v), 3) for v in record['bbox']]}"


_NOT_IN_KEY = frozenset({"output_dir", "num_threads"})
"""Config fields that do not make a different run: where it is written, and the CPU threads
(they change the sums' order at the float level, not what is computed; a result records
its threads)."""


def run_key(arm: Arm, seed: int, config: Mapping, scenes: Mapping[str, Sequence[dict]]) -> str:
    """A hash of what makes a run: the arm, the seed, the full trainer config and the scenes
    it is scored on — a finished result with the same key is reused."""
    payload = {
        "arm": arm.name,
        "changes": arm.changes,
        "start": arm.start,
        "seed": int(seed),
        "config": {k: v for k, v in config.items() if k not in _NOT_IN_KEY},
        "scenes": {split: [_scene_key(r) for r in recs] for split, recs in scenes.items()},
    }
    text = json.dumps(files.json_ready(payload), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _git(*args: str) -> str:
    """The output of ``git <args>`` in the project's checkout (stripped)."""
    return subprocess.run(
        ["git", *args], capture_output=True, text=True, check=True, cwd=Path(__file__).parent
    ).stdout.strip()


def commit() -> str:
    """The project's git commit (short), with "+dirty" when tracked files differ from it, or
    "unknown" outside a checkout: the code a run used, as far as git can say."""
    try:
        head = _git("rev-parse", "--short", "HEAD")
        changed = _git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    if not head:
        return "unknown"
    return f"{head}+dirty" if changed else head


CURVE_KEYS: dict[str, str] = {
    "all_equal_iou": "rewards/iou_reward/frac_zero_std",
    "all_equal_reward": "frac_reward_zero_std",
    "dispersion": "consistency/score_mean",
    "weight": "consistency/weight_mean",
    "follows": "answer_follows_reasoning",
}
"""What :func:`curves_summary` reads from a run's ``log.jsonl``: the share of groups whose
IoU rewards (and whose total rewards) are all equal, the groups' dispersion and weight, and
how often the answer follows the reasoning — the mechanism behind an outcome."""


def curves_summary(log_rows: Sequence[dict], keys: Mapping[str, str] = CURVE_KEYS) -> dict:
    """``{name: {"first": …, "last": …}}``: each logged quantity's mean over the first and the
    last tenth of training (:func:`rsground_lib.training.rft.log_window_means`); a quantity
    the log does not carry is left out (an arm without the IoU reward logs no IoU share)."""
    out = {}
    for name, key in keys.items():
        if any(key in r for r in log_rows):
            first, last = rft.log_window_means(log_rows, key)
            out[name] = {"first": first, "last": last}
    return out


def run_config(
    arm: Arm, seed: int, recipe: Mapping, starts: Mapping[str, str], folder: str | Path
) -> dict:
    """The RftConfig values of one arm × seed: the recipe with the arm's changes, the seed,
    the arm's start and ``<folder>/<arm>/seed<k>/model`` as the output folder. An arm with
    no RL keeps only its start and the decoding (what its score depends on)."""
    if not arm.rl:
        keep = ("prompt_style", "max_completion_length")
        return {**{k: recipe[k] for k in keep if k in recipe}, "seed": int(seed),
                "model_name_or_path": str(starts[arm.start])}  # fmt: skip
    return {
        **dict(recipe),
        **arm.changes,
        "seed": int(seed),
        "model_name_or_path": str(starts[arm.start]),
        "output_dir": str(Path(folder) / arm.name / f"seed{int(seed)}" / "model"),
    }


def finished(
    arm_names: Sequence[str],
    *,
    recipe: Mapping,
    starts: Mapping[str, str],
    scenes: Mapping[str, Sequence[dict]],
    folder: str | Path,
    **_unused,
) -> dict[str, dict[int, dict]]:
    """The finished runs of ``arm_names`` under ``folder`` that this setup (:func:`plan`'s
    recipe, starts and scenes) would make — their :func:`run_key` matches — as
    ``{arm: {seed: result}}``; a run of another recipe or other scenes (another step count,
    an older sweep) is left out, never mixed in."""
    out: dict[str, dict[int, dict]] = {}
    for arm_name, by_seed in load_results(folder).items():
        if arm_name not in arm_names:
            continue
        arm = get_arm(arm_name)
        for seed, result in by_seed.items():
            config = run_config(arm, seed, recipe, starts, folder)
            if result.get("key") == run_key(arm, seed, config, scenes):
                out.setdefault(arm_name, {})[seed] = result
    return out


def run_arm(
    arm: Arm,
    seed: int,
    *,
    recipe: Mapping,
    starts: Mapping[str, str],
    train_records: Sequence[dict],
    scenes: Mapping[str, Sequence[dict]],
    folder: str | Path,
    keep_weights: bool = False,
    evaluate_kwargs: Mapping | None = None,
    train: Callable = rft.train_rft,
    jobs: int = 1,
    code: str = "",
) -> dict:
    """Train ``arm`` with ``seed`` and score it: the recipe's RftConfig values (``recipe``)
    with the arm's changes, from ``starts[arm.start]``, on ``train_records``; then every
    split of ``scenes`` scored by :func:`rsground_lib.evaluation.evaluate_checkpoints`
    (``evaluate_kwargs`` passed on: prompt style, answer budget). Writes and returns
    ``<folder>/<arm>/seed<seed>/result.json``; a result of the same :func:`run_key` is
    returned as it is (``"reused": True``) without training. The weights are removed after
    scoring unless ``keep_weights`` (the result holds what the statistics need). The result
    records the CPU threads the run used and ``jobs``, how many runs shared the machine with
    it, so that wall times are read with the parallelism that made them, and ``code``, the
    commit of the code that runs (:func:`commit` when the sweep started; default: now) — a
    checkout may move while a long sweep runs."""
    if arm.start not in starts:
        raise ValueError(
            f"arm {arm.name!r} starts from {arm.start!r}; starts given: {', '.join(starts)}"
        )
    unknown = sorted(set(arm.changes) - set(rft.RftConfig.__dataclass_fields__))
    if unknown:
        raise ValueError(f"arm {arm.name!r}: not RftConfig fields: {', '.join(unknown)}")
    start = Path(str(starts[arm.start]))
    if start.is_absolute() and not (start / "config.json").is_file():
        raise FileNotFoundError(
            f"arm {arm.name!r} starts from {start}, which holds no model: run the chapter "
            "that trains it (book/03_cot_sft.py) for this profile first"
        )
    out = Path(folder) / arm.name / f"seed{int(seed)}"
    model_dir = out / "model"
    config = run_config(arm, seed, recipe, starts, folder)
    key = run_key(arm, seed, config, scenes)
    result_path = out / "result.json"
    if result_path.is_file():
        done = json.loads(result_path.read_text())
        if done.get("key") == key:
            return {**done, "reused": True}
    t0 = time.perf_counter()
    if arm.rl:
        run = train(config, train_records, reuse=True)
        log_rows = common.read_log(model_dir / "log.jsonl")
    else:  # the start itself, scored
        run, log_rows, model_dir = {"steps": 0}, [], Path(str(starts[arm.start]))
    results, rows = evaluation.evaluate_checkpoints(
        {arm.name: str(model_dir)}, scenes, **dict(evaluate_kwargs or {})
    )
    result = {
        "arm": arm.name,
        "seed": int(seed),
        "key": key,
        "question": arm.question,
        "start": arm.start,
        "changes": arm.changes,
        "config": config,
        "steps": run.get("steps"),
        "metrics": results[arm.name],
        "ious": {split: [float(r["iou"]) for r in split_rows] for split, split_rows in rows[arm.name].items()},
        "curves": curves_summary(log_rows),
        "commit": code or commit(),
        "cpu": report.cpu_model(),
        "threads": torch.get_num_threads(),
        "jobs": int(jobs),
        "wall_s": round(time.perf_counter() - t0, 1),
    }  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    files.write_json(result_path, result)
    if arm.rl and not keep_weights:
        shutil.rmtree(model_dir, ignore_errors=False)
    return json.loads(result_path.read_text())  # as a reader gets it: NaN is null


# ----------------------------------------------------------------------------- statistics


def t_within(t: float, df: int) -> float:
    """P(|T| < t) for Student's t with an integer ``df`` ≥ 1, in closed form (Abramowitz &
    Stegun 26.7.3–4: a finite series in θ = atan(t/√df)) — no SciPy needed."""
    theta = math.atan(t / math.sqrt(df))
    c2, s = math.cos(theta) ** 2, math.sin(theta)
    if df % 2 == 1:
        total, term = 0.0, math.cos(theta)
        if df > 1:
            total = term
            for k in range(1, (df - 3) // 2 + 1):
                term *= c2 * (2 * k) / (2 * k + 1)
                total += term
        return 2 / math.pi * (theta + s * total)
    total, term = 1.0, 1.0
    for k in range(1, (df - 2) // 2 + 1):
        term *= c2 * (2 * k - 1) / (2 * k)
        total += term
    return s * total


def t_quantile(confidence: float, df: int) -> float:
    """The t with P(|T| < t) = ``confidence`` (two-sided), by bisection on :func:`t_within`."""
    if not 0 < confidence < 1 or df < 1:
        raise ValueError(
            f"t_quantile: expected confidence in (0, 1) and df ≥ 1; got {confidence}, {df}"
        )
    low, high = 0.0, 1.0
    while t_within(high, df) < confidence:
        high *= 2
    for _ in range(200):
        mid = (low + high) / 2
        low, high = (mid, high) if t_within(mid, df) < confidence else (low, mid)
    return (low + high) / 2


def seed_interval(values: Sequence[float], confidence: float = 0.95) -> dict:
    """Mean over seeds and its ``confidence`` t-interval (``low``/``high`` None with one
    seed: no spread is measured)."""
    x = np.asarray(values, dtype=float)
    if x.size == 0 or np.isnan(x).any():
        raise ValueError(f"seed_interval: expected measured values; got {list(values)}")
    mean = float(x.mean())
    if x.size < 2:
        return {"mean": mean, "low": None, "high": None, "n": 1}
    half = t_quantile(confidence, x.size - 1) * float(x.std(ddof=1)) / math.sqrt(x.size)
    return {"mean": mean, "low": mean - half, "high": mean + half, "n": int(x.size)}


def contrast_bootstrap(
    hits: Sequence,
    coefficients: Sequence[float],
    *,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict:
    """A contrast Σ cᵢ·Pr(armᵢ) of arms scored on the same scenes with the same seeds
    (``hits``: one seeds × scenes 0/1 array per arm), with a percentile interval from
    resampling seeds and scenes together — one draw of seed indices and scene indices for
    every arm, so the pairing is kept — and the share of resamples in which the contrast is
    above 0. Our design, to carry both sources of noise (the paper's statistics are not
    public)."""
    arrays = [np.asarray(h, dtype=float) for h in hits]
    shapes = {a.shape for a in arrays}
    if len(shapes) != 1 or arrays[0].ndim != 2 or arrays[0].size == 0:
        raise ValueError(
            f"contrast_bootstrap: expected (seeds, scenes) arrays of one shape; got "
            f"{' and '.join(str(a.shape) for a in arrays)}"
        )
    if len(coefficients) != len(arrays):
        raise ValueError(
            f"contrast_bootstrap: {len(coefficients)} coefficients for {len(arrays)} arms"
        )
    rng = np.random.default_rng(seed)
    n_seeds, n_scenes = arrays[0].shape
    diffs = np.empty(n_resamples)
    for i in range(n_resamples):
        s = rng.integers(0, n_seeds, n_seeds)
        c = rng.integers(0, n_scenes, n_scenes)
        diffs[i] = sum(
            k * a[np.ix_(s, c)].mean() for k, a in zip(coefficients, arrays, strict=True)
        )
    diffs = np.round(diffs, 12) + 0.0  # sums of means carry float noise (±6e-17); no −0.0
    tail = (1 - confidence) / 2
    return {
        "diff": round(
            float(sum(k * a.mean() for k, a in zip(coefficients, arrays, strict=True))), 12
        )
        + 0.0,
        "low": float(np.quantile(diffs, tail)),
        "high": float(np.quantile(diffs, 1 - tail)),
        "p_improve": float((diffs > 0).mean()),
        "n_seeds": int(n_seeds),
        "n_scenes": int(n_scenes),
    }


def paired_bootstrap(
    hits_a,
    hits_b,
    *,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict:
    """The difference of hit rates ``b − a`` of two arms scored on the same scenes with the
    same seeds (``hits_*``: seeds × scenes, 0/1): :func:`contrast_bootstrap` with
    coefficients (−1, +1); ``p_improve`` is the probability that ``b`` is ahead."""
    return contrast_bootstrap(
        [hits_a, hits_b], [-1.0, 1.0], n_resamples=n_resamples, confidence=confidence, seed=seed
    )


FACTORIAL_EFFECTS: dict[str, tuple[dict[str, float], int]] = {
    "positional reward": (
        {"recipe": 0.5, "no_positional": -0.5, "no_weight": 0.5, "no_positional_no_weight": -0.5},
        1,
    ),
    "consistency weight": (
        {"recipe": 0.5, "no_positional": 0.5, "no_weight": -0.5, "no_positional_no_weight": -0.5},
        1,
    ),
    "interaction": (
        {"recipe": 1.0, "no_positional": -1.0, "no_weight": -1.0, "no_positional_no_weight": 1.0},
        0,
    ),
}
"""The 2 × 2 factorial's effects as contrasts of the four arms' Pr@0.5, with the sign the
paper predicts: each main effect averages its difference over the other factor's two levels
(the positional reward with and without the weight; the weight with and without the
positional reward); the interaction is how much more the weight adds with the positional
reward than without it (the paper states no claim about it)."""


def factorial_effects(
    results: Mapping[str, Mapping[int, dict]],
    splits_: Sequence[str],
    *,
    n_resamples: int = 2000,
):
    """The factorial's main effects and interaction (:data:`FACTORIAL_EFFECTS`) on every
    split, over the seeds all four arms share: the contrast, its 95 % interval from
    :func:`contrast_bootstrap`, the probability that it is above 0, the seeds, and the
    verdict of :func:`claim_verdict` (its sign taken as the paper's direction)."""
    import pandas as pd

    seeds = sorted(set.intersection(*(set(results.get(a, {})) for a in FACTORIAL)))
    if not seeds:
        raise ValueError(f"factorial_effects: no seed has all of {', '.join(FACTORIAL)}")
    rows = {}
    for split in splits_:
        hits = {a: np.stack([run_hits(results[a][s], split) for s in seeds]) for a in FACTORIAL}
        for effect, (coefs, direction) in FACTORIAL_EFFECTS.items():
            boot = contrast_bootstrap(
                [hits[a] for a in coefs], list(coefs.values()), n_resamples=n_resamples
            )
            rows[(effect, split)] = {
                "effect": boot["diff"],
                "95% low": boot["low"],
                "95% high": boot["high"],
                "P(effect > 0)": boot["p_improve"],
                "seeds": len(seeds),
                "verdict": claim_verdict(boot["low"], boot["high"], direction),
            }
    frame = pd.DataFrame(rows).T
    frame.index.names = ["effect", "split"]
    return frame


def mcnemar_by_seed(ious_a: Sequence[Sequence[float]], ious_b: Sequence[Sequence[float]]) -> list:
    """The exact paired test (:func:`rsground_lib.metrics.paired_hits`) of ``b`` against
    ``a`` within each seed (same scenes, same seed)."""
    if len(ious_a) != len(ious_b):
        raise ValueError(f"mcnemar_by_seed: {len(ious_a)} seeds against {len(ious_b)}")
    return [metrics.paired_hits(x, y) for x, y in zip(ious_a, ious_b, strict=True)]


VERDICTS = ("supported", "contradicted", "not resolved")


def claim_verdict(low: float, high: float, direction: int) -> str:
    """The rule the chapter states before its tables: the interval ``[low, high]`` of the
    difference *recipe − arm* excludes 0 on the side the paper predicts (``direction`` +1:
    the recipe is better) → "supported"; on the other side → "contradicted"; else "not
    resolved". An arm that tests no claim of the paper (``direction`` 0) is "no claim"."""
    if direction == 0:
        return "no claim"
    if direction not in (1, -1):
        raise ValueError(f"direction: expected +1, -1 or 0; got {direction!r}")
    if low > 0:
        return VERDICTS[0] if direction > 0 else VERDICTS[1]
    if high < 0:
        return VERDICTS[1] if direction > 0 else VERDICTS[0]
    return VERDICTS[2]


def load_results(folder: str | Path) -> dict[str, dict[int, dict]]:
    """Every finished ``<folder>/<arm>/seed<k>/result.json``: ``{arm: {seed: result}}``; a
    file that is not JSON is a ValueError naming it."""
    out: dict[str, dict[int, dict]] = {}
    for path in sorted(Path(folder).glob("*/seed*/result.json")):
        try:
            result = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: not a result JSON ({exc})") from exc
        out.setdefault(result["arm"], {})[int(result["seed"])] = result
    return out


def run_hits(result: Mapping, split: str) -> np.ndarray:
    """One run's hits on ``split`` (IoU > 0.5, the Pr@0.5 of :mod:`rsground_lib.metrics`) as
    a 0/1 float array: from its per-scene IoUs (a run's ``result.json``) or from its ``hits``
    string of 0s and 1s (the archive, :func:`archive_sweep`)."""
    if "hits" in result:
        text = result["hits"][split]
        if set(text) - {"0", "1"}:
            raise ValueError(f"hits of {result.get('arm')!r} on {split!r}: expected 0s and 1s")
        return np.frombuffer(text.encode(), dtype=np.uint8).astype(float) - ord("0")
    return (np.asarray(result["ious"][split], dtype=float) > 0.5).astype(float)


def compare(
    results: Mapping[str, Mapping[int, dict]],
    arm: str,
    split: str,
    *,
    reference: str = RECIPE,
    arms: Sequence[Arm] = ARMS,
    n_resamples: int = 2000,
) -> dict:
    """The recipe (``reference``) against ``arm`` on ``split``, over the seeds both have:
    each one's Pr@0.5 over seeds (:func:`seed_interval`), the difference *recipe − arm* with
    its paired bootstrap over seeds and scenes (:func:`paired_bootstrap`), the exact test
    within each seed, and the verdict the paper's direction gives (:func:`claim_verdict`)."""
    by_seed = dict(results.get(arm, {}))
    if by_seed and not get_arm(arm, arms).rl:  # no RL: one greedy score stands for every seed
        by_seed = {s: next(iter(by_seed.values())) for s in results.get(reference, {})}
    seeds = sorted(set(by_seed) & set(results.get(reference, {})))
    if not seeds:
        raise ValueError(f"compare: no seed has both {arm!r} and {reference!r}")
    hits_arm = np.stack([run_hits(by_seed[s], split) for s in seeds])
    hits_ref = np.stack([run_hits(results[reference][s], split) for s in seeds])
    boot = paired_bootstrap(hits_arm, hits_ref, n_resamples=n_resamples)
    return {
        "arm": arm,
        "split": split,
        "seeds": seeds,
        "arm_pr50": seed_interval(hits_arm.mean(axis=1)),
        "reference_pr50": seed_interval(hits_ref.mean(axis=1)),
        "difference": boot,
        "mcnemar": mcnemar_by_seed(hits_arm, hits_ref),
        "verdict": claim_verdict(boot["low"], boot["high"], get_arm(arm, arms).direction),
    }


def sweep(
    arm_names: Sequence[str],
    seeds: Sequence[int],
    *,
    factorial_seeds: Sequence[int] = (),
    progress: Callable[[str], None] | None = None,
    **run_kwargs,
) -> dict[str, dict[int, dict]]:
    """:func:`run_arm` for every run of :func:`run_order` (every arm × seed, then the
    factorial's arms at ``factorial_seeds``); ``progress`` gets one line per run. Returns
    ``{arm: {seed: result}}``."""
    out: dict[str, dict[int, dict]] = {}
    todo = run_order(arm_names, seeds, factorial_seeds)
    code = commit()  # the code that runs, taken once: the checkout may move meanwhile
    for done, (name, seed) in enumerate(todo, 1):
        result = run_arm(get_arm(name), seed, code=code, **run_kwargs)
        out.setdefault(name, {})[seed] = result
        if progress:
            state = "reused" if result.get("reused") else f"{result['wall_s']:.0f} s"
            progress(f"[{done}/{len(todo)}] {name} seed {seed}: {state}")
    return out


def run_order(
    arm_names: Sequence[str], seeds: Sequence[int], factorial_seeds: Sequence[int] = ()
) -> list[tuple[str, int]]:
    """The runs of a sweep, seed-major (an interrupted sweep has every arm at the first
    seeds): every arm at ``seeds`` — an arm with no RL at the first only, its greedy score
    has no seed — then the factorial's arms among them at ``factorial_seeds`` (the issue
    asks five seeds of the factorial, three of the rest)."""
    names = [get_arm(n).name for n in arm_names]
    order = [(n, int(s)) for s in seeds for n in names if get_arm(n).rl or s == seeds[0]]
    order += [(n, int(s)) for s in factorial_seeds for n in names if n in FACTORIAL]
    if len(set(order)) != len(order):
        raise ValueError(
            f"run_order: a run is asked twice (seeds {list(seeds)}, factorial seeds {list(factorial_seeds)})"
        )
    return order


_WORKER: dict = {}
"""The setup of a worker process of :func:`sweep_parallel` (planned once per process)."""


def _init_worker(plan_kwargs: dict, threads: int) -> None:
    torch.set_num_threads(threads)
    overrides = {**(plan_kwargs.pop("recipe_overrides", None) or {}), "num_threads": threads}
    _WORKER.update(plan(**plan_kwargs, recipe_overrides=overrides))


def _worker_run(arm_name: str, seed: int, jobs: int, code: str) -> dict:
    return run_arm(get_arm(arm_name), seed, jobs=jobs, code=code, **_WORKER)


def sweep_parallel(
    arm_names: Sequence[str],
    seeds: Sequence[int],
    *,
    plan_kwargs: Mapping,
    jobs: int,
    threads: int = 1,
    factorial_seeds: Sequence[int] = (),
    progress: Callable[[str], None] | None = None,
) -> dict[str, dict[int, dict]]:
    """:func:`sweep` with ``jobs`` runs at a time, each in its own process with ``threads``
    torch threads (on 2 cores, two one-thread runs side by side against one two-thread run
    is the choice the chapter measures). Each worker plans once (:func:`plan` with
    ``plan_kwargs``; ``num_threads`` set to ``threads``); runs are handed out seed-major;
    a finished run is read back as in :func:`sweep`. Returns ``{arm: {seed: result}}``."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    if jobs < 1 or threads < 1:
        raise ValueError(f"sweep_parallel: jobs and threads must be ≥ 1; got {jobs}, {threads}")
    tasks = run_order(arm_names, seeds, factorial_seeds)
    out: dict[str, dict[int, dict]] = {}
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        jobs, mp_context=context, initializer=_init_worker, initargs=(dict(plan_kwargs), threads)
    ) as pool:
        code = commit()  # the code that runs, taken once: the checkout may move meanwhile
        futures = {
            pool.submit(_worker_run, name, seed, jobs, code): (name, seed) for name, seed in tasks
        }
        for done, future in enumerate(as_completed(futures), 1):
            name, seed = futures[future]
            result = future.result()
            out.setdefault(name, {})[seed] = result
            if progress:
                state = "reused" if result.get("reused") else f"{result['wall_s']:.0f} s"
                progress(f"[{done}/{len(tasks)}] {name} seed {seed}: {state}")
    return {n: dict(sorted(out[n].items())) for n in dict.fromkeys(n for n, _ in tasks) if n in out}


def chapter_values(profile: str, chapter: str, root: str | Path | None = None) -> dict:
    """Every parameter of ``chapter`` as it runs on ``profile``: its defaults with the
    profile's values over them (:func:`rsground_lib.profiles.resolve_parameters`), so that
    an ablation uses the very recipe the chapter uses on that profile."""
    root = paths.project_root(root)
    name, profile_file = profiles.resolve_profile(profile, root)
    sources = bookbuild.notebook_sources(root)
    params = {stem: profiles.chapter_parameters(p) for stem, p in sources.items()}
    injected = profiles.resolve_parameters(profile_file, params, name)
    if chapter not in params:
        raise ValueError(f"chapter_values: no chapter {chapter!r}; chapters: {', '.join(params)}")
    return {**{n: p.default for n, p in params[chapter].items()}, **injected[chapter]}


PLAN_PARAMETERS = (
    "scenes",
    "image_size",
    "num_train",
    "seed",
    "test_scenes",
    "test_seed",
    "num_class_only",
    "num_with_position",
    "num_test",
)
"""The Ablations chapter's parameters that :func:`plan` takes by name (the command line
reads them from the chapter on a profile)."""


def recipe_of_run(layout: paths.RunLayout, root: str | Path | None = None) -> dict:
    """The recipe the RFT chapter ran on this profile: from its run record
    (``runs/<profile>/04_rft/rft/train.json``), the values of the RftConfig fields that are
    parameters of that chapter (the knobs it sets), without the start and output folders.
    A FileNotFoundError says to run the RFT chapter first."""
    record = layout.run("04_rft", "RFT") / "train.json"
    if not record.is_file():
        raise FileNotFoundError(
            f"{record}: no RFT run on this profile — run the RFT chapter (book/04_rft.py) "
            "first: the ablations vary its recipe"
        )
    ran = json.loads(record.read_text())["config"]
    knobs = profiles.chapter_parameters(paths.project_root(root) / "book" / "04_rft.py")
    fields_ = set(rft.RftConfig.__dataclass_fields__) - {"model_name_or_path", "output_dir"}
    return {k: ran[k] for k in knobs if k in fields_ and k in ran}


SCENE_COUNTS = ("num_class_only", "num_with_position", "num_test")
"""The parameters that say how many scenes of each split a run is scored on."""

SWEEP_SCENES: dict[str, int] = {"class_only": 1024, "with_position": 512, "test": 512}
"""The scenes the miniature's sweep is designed to score every arm on (issue 27)."""


def scenes_note(counts: Mapping[str, int], design: Mapping[str, int] = SWEEP_SCENES) -> str:
    """How a sweep's scene counts compare with :data:`SWEEP_SCENES`, as prose: "" when it
    scored at least as many of every split, else that it scored fewer and that a sweep at
    the design's counts is not run yet."""
    if all(counts.get(k, 0) >= n for k, n in design.items()):
        return ""
    return (
        f"fewer than the {scenes_phrase(design)} scenes the sweep is designed for; a sweep at "
        "those counts is not run yet"
    )


PARTS = ("live", "sweep")
"""The two folders of ``runs/<profile>/06_ablations``: the chapter's live slice and the
sweep of ``rsground ablate``."""


def plan(
    layout: paths.RunLayout,
    *,
    scenes: str = "base",
    image_size: int = 64,
    num_train: int = 6400,
    seed: int = 0,
    test_scenes: str = "base_scenes",
    test_seed: int = 0,
    num_class_only: int = 1024,
    num_with_position: int = 512,
    num_test: int = 512,
    start: str = "",
    recipe_overrides: Mapping | None = None,
    root: str | Path | None = None,
    part: str = "live",
) -> dict:
    """What :func:`sweep` needs on one profile's runs (``layout``): the recipe the RFT
    chapter ran (:func:`recipe_of_run`; ``recipe_overrides`` win, e.g. fewer steps), the
    three starts (the profile's CoT-SFT and plain-SFT models, and the untrained start of SFT:
    ``start``, "" for the committed tiny base), the training scenes (``scenes``,
    ``image_size``, ``num_train``, ``seed``: the RFT chapter's draw), the scenes every arm is
    scored on — ``num_class_only`` and ``num_with_position`` validation scenes of that draw
    (its first ``num_val`` are the chapters' own) and the first ``num_test`` test scenes of
    the evaluation chapter (``test_scenes``, ``test_seed``) — and the folder
    ``runs/<profile>/06_ablations/<part>``: ``live`` for the chapter's slice, ``sweep`` for
    ``rsground ablate``, so that neither overwrites the other's runs."""
    if part not in PARTS:
        raise ValueError(f"plan: part must be one of {', '.join(PARTS)}; got {part!r}")
    recipe = recipe_of_run(layout, root)
    unknown = sorted(set(recipe_overrides or {}) - set(rft.RftConfig.__dataclass_fields__))
    if unknown:
        raise ValueError(f"recipe_overrides: not RftConfig fields: {', '.join(unknown)}")
    recipe.update(recipe_overrides or {})
    starts = {
        "CoT-SFT": str(layout.model("CoT-SFT")),
        "plain SFT": str(layout.model("plain SFT")),
        "start": start or str(paths.tiny_base()),
    }
    draw = dict(seed=seed, image_size=image_size)
    train_records, val = splits.train_and_val(
        scenes, num_train=num_train, num_val=max(num_class_only, num_with_position), **draw
    )
    test = evaluation.split_records(
        test_scenes, split="test", num=num_test, image_size=image_size, seed=test_seed
    )
    return {
        "recipe": recipe,
        "starts": starts,
        "train_records": train_records,
        "scenes": {
            "class_only": val["class_only"][:num_class_only],
            "with_position": val["with_position"][:num_with_position],
            "test": test,
        },
        "folder": layout.output("06_ablations") / part,
        "evaluate_kwargs": {
            "prompt_style": recipe.get("prompt_style"),
            "max_new_tokens": recipe.get("max_completion_length"),
        },
    }


def verdict_table(
    results: Mapping[str, Mapping[int, dict]],
    arm_names: Sequence[str],
    splits_: Sequence[str],
    *,
    reference: str = RECIPE,
    n_resamples: int = 2000,
):
    """One row per arm × split compared with the recipe (:func:`compare`): the recipe's and
    the arm's Pr@0.5 over seeds, the difference *recipe − arm* with its 95 % interval (seeds
    and scenes resampled), the probability that the recipe is ahead, in how many of the
    seeds the exact McNemar test within the seed gives p < 0.05 ("1 of 3"), and the verdict.
    The rows of one question of the chapter."""
    import pandas as pd

    rows = {}
    for name in arm_names:
        if name == reference:
            continue
        for split in splits_:
            c = compare(results, name, split, reference=reference, n_resamples=n_resamples)
            d = c["difference"]
            rows[(name, split)] = {
                "recipe Pr@0.5": c["reference_pr50"]["mean"],
                "arm Pr@0.5": c["arm_pr50"]["mean"],
                "recipe − arm": d["diff"],
                "95% low": d["low"],
                "95% high": d["high"],
                "P(recipe ahead)": d["p_improve"],
                "seeds with p < 0.05": (
                    f"{sum(m['p_value'] < 0.05 for m in c['mcnemar'])} of {len(c['seeds'])}"
                ),
                "verdict": c["verdict"],
            }
    frame = pd.DataFrame(rows).T
    if len(frame):
        frame.index.names = ["arm", "split"]
    return frame


def verdict_counts(frame) -> str:
    """The verdicts of a :func:`verdict_table` counted, as prose ("2 not resolved, 1
    supported"); "no comparison" for an empty table."""
    if not len(frame):
        return "no comparison"
    counts = frame["verdict"].value_counts()
    return ", ".join(f"{n} {v}" for v, n in counts.items())


def question_arms(question: str, results: Mapping | None = None) -> list[str]:
    """The recipe and the arms that ask ``question`` (:data:`QUESTIONS`), in the registry's
    order; with ``results``, only the arms that have runs there."""
    if question not in QUESTIONS:
        raise ValueError(f"unknown question {question!r}; questions: {', '.join(QUESTIONS)}")
    names = [RECIPE] + [a.name for a in ARMS if a.question == question and a.name != RECIPE]
    return [n for n in names if results is None or n in results]


def seeds_table(results: Mapping[str, Mapping[int, dict]], splits_: Sequence[str]):
    """One row per arm: its Pr@0.5 on every split as the mean over seeds with the 95 %
    t-interval (:func:`seed_interval`), written "0.716 (0.702–0.730)"; "0.716 (1 run)"
    where one seed gives no interval (an arm without RL: its greedy score has no seed)."""
    import pandas as pd

    def cell(values):
        out = seed_interval(values)
        if out["low"] is None:
            return f"{out['mean']:.3f} (1 run)"
        return f"{out['mean']:.3f} ({out['low']:.3f}–{out['high']:.3f})"

    rows = {
        arm: {
            **{split: cell([run_hits(r, split).mean() for r in by_seed.values()]) for split in splits_},
            "seeds": len(by_seed),
        }
        for arm, by_seed in results.items()
    }  # fmt: skip
    frame = pd.DataFrame(rows).T
    frame.index.name = "arm"
    return frame


def throughput(results: Mapping[str, Mapping[int, dict]], arms: Sequence[str] = FACTORIAL):
    """The measured cost of the runs of ``arms`` (default: the factorial's four, which start
    from one model and write reasonings of one length, so their costs compare; RFT from
    plain SFT writes no reasoning and runs about twice as fast) by how they ran: torch
    threads per run and ``jobs`` (runs side by side), with the runs' median wall seconds and
    the runs finished per hour that gives (jobs × 3600 / median) — the comparison of two
    one-thread runs side by side with one two-thread run, read from the runs themselves."""
    import pandas as pd

    groups: dict[tuple[int, int], list[float]] = {}
    for arm, by_seed in results.items():
        if arm not in arms:
            continue
        for r in by_seed.values():
            groups.setdefault((int(r["threads"]), int(r["jobs"])), []).append(float(r["wall_s"]))

    def label(threads: int, jobs: int) -> str:
        each = f"{threads} thread{'s' if threads > 1 else ''}"
        return (
            f"one run at a time, {each}" if jobs == 1 else f"{jobs} runs side by side, {each} each"
        )

    rows = {
        label(t, j): {
            "runs": len(w),
            "median wall s": float(np.median(w)),
            "runs per hour": j * 3600 / float(np.median(w)),
        }
        for (t, j), w in sorted(groups.items())
    }
    frame = pd.DataFrame(rows).T
    frame.index.name = "how the runs ran"
    return frame


SPLIT_NAMES = {"class_only": "class-only", "with_position": "extreme-cue", "test": "test"}
"""How prose names the scored splits."""


def scenes_phrase(counts: Mapping[str, int]) -> str:
    """The scenes every arm is scored on, as prose: "1,024 class-only, 512 extreme-cue and
    512 test"."""
    order = list(SPLIT_NAMES)
    ranked = sorted(
        counts.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else len(order)
    )
    parts = [f"{int(n):,} {SPLIT_NAMES.get(split, split)}" for split, n in ranked]
    return parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])} and {parts[-1]}"


def sweep_shape(results: Mapping[str, Mapping[int, dict]]) -> str:
    """What a sweep holds, as prose: "38 runs — 4 arms × 5 seeds, 6 arms × 3 seeds and 2 arms
    without RL, scored once"."""
    groups: dict[tuple[bool, int], int] = {}
    for arm, by_seed in results.items():
        key = (get_arm(arm).rl, len(by_seed))
        groups[key] = groups.get(key, 0) + 1
    parts = [
        f"{n} arm{'s' if n > 1 else ''} × {k} seed{'s' if k > 1 else ''}"
        if rl
        else f"{n} arm{'s' if n > 1 else ''} without RL, scored {'once' if k == 1 else f'{k} times'}"
        for (rl, k), n in sorted(groups.items(), key=lambda kv: (not kv[0][0], -kv[0][1]))
    ]
    runs = sum(len(v) for v in results.values())
    listed = parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])} and {parts[-1]}"
    return f"{runs} runs — {listed}"


def _signed(x: float) -> str:
    return f"{x:+.3f}".replace("-", "−")


def effects_finding(effects) -> str:
    """What :func:`factorial_effects` found, in one sentence per effect: the range of the
    contrast over the splits and the widest interval's bounds."""
    out = []
    names = {"positional reward": "The positional reward's main effect",
             "consistency weight": "the weight's", "interaction": "their interaction"}  # fmt: skip
    for effect, name in names.items():
        rows = effects.xs(effect, level="effect")
        lo, hi = float(rows["95% low"].min()), float(rows["95% high"].max())
        out.append(
            f"{name} lies between {_signed(float(rows['effect'].min()))} and "
            f"{_signed(float(rows['effect'].max()))} across the {len(rows)} splits (95 % "
            f"intervals within {_signed(lo)} to {_signed(hi)})"
        )
    return "; ".join(out) + "."


def _excluding_zero(table) -> list[str]:
    """The rows of a :func:`verdict_table` whose interval excludes 0, as prose."""
    out = []
    for (arm, split), row in table.iterrows():
        if row["95% low"] > 0 or row["95% high"] < 0:
            out.append(
                f"{arm} on {SPLIT_NAMES.get(split, split)} (recipe − arm "
                f"{_signed(row['recipe − arm'])}, interval {_signed(row['95% low'])} to "
                f"{_signed(row['95% high'])})"
            )
    return out


def _ahead(diff: float) -> str:
    return "the recipe ahead" if diff > 0 else "the arm ahead" if diff < 0 else "level"


def leaning(table, tail: float = 0.05) -> str:
    """The comparisons of a :func:`verdict_table` that are *not resolved* but lean — the
    recipe ahead in at least 1 − ``tail`` of the resamples, or behind in all but ``tail`` —
    as prose, or that none leans so far."""
    rows = table[
        (table["verdict"] == VERDICTS[2])
        & ((table["P(recipe ahead)"] <= tail) | (table["P(recipe ahead)"] >= 1 - tail))
    ]
    if not len(rows):
        return (
            f"No unresolved comparison leans further than P(recipe ahead) {tail:g} or {1 - tail:g}."
        )
    parts = [
        f"{arm} on {SPLIT_NAMES.get(split, split)} (recipe − arm {_signed(r['recipe − arm'])}: "
        f"{_ahead(r['recipe − arm'])}; P(recipe ahead) {r['P(recipe ahead)']:.2f})"
        for (arm, split), r in rows.iterrows()
    ]
    return (
        f"Not resolved, but leaning (P(recipe ahead) ≤ {tail:g} or ≥ {1 - tail:g}): "
        + "; ".join(parts) + "."
    )  # fmt: skip


def variants_finding(table) -> str:
    """Whether any arm of a :func:`verdict_table` moved Pr@0.5 beyond the noise: the rows
    whose interval excludes 0, or that none does."""
    moved = _excluding_zero(table)
    if not moved:
        return (
            f"No variant moves Pr@0.5 beyond the noise: all {len(table)} intervals of "
            "recipe − arm contain 0."
        )
    return (
        f"{len(moved)} of {len(table)} comparisons exclude 0: " + "; ".join(moved) + ". The "
        "others' intervals contain 0."
    )


CLAIMS: dict[str, str] = {
    "positional reward": "the positional reward helps (the factorial's main effect)",
    "consistency weight": "the spatial-consistency weight helps (the factorial's main effect)",
    "from_plain_sft": "CoT-SFT before RL beats plain SFT before RL",
    "from_base": "SFT before RL beats RL from the untrained base",
    "cot_sft_only": "RL adds to the CoT-SFT model",
}
"""The paper's claims the sweep tests (our reading of its comparisons), by the effect of
:data:`FACTORIAL_EFFECTS` or the arm that tests each."""


def claims_summary(effects, table) -> str:
    """The verdict on each of :data:`CLAIMS` over the scored splits, from the factorial's
    effects and the other arms' :func:`verdict_table`, as prose."""
    parts = []
    for key, claim in CLAIMS.items():
        if key in FACTORIAL_EFFECTS:
            rows = effects.xs(key, level="effect")
        elif key in table.index.get_level_values("arm"):
            rows = table.xs(key, level="arm")
        else:
            parts.append(f"{claim}: not run")
            continue
        parts.append(f"{claim}: {verdict_counts(rows)} (of {len(rows)} splits)")
    text = "; ".join(parts) + "."
    return text[0].upper() + text[1:]


def throughput_finding(cost) -> str:
    """Which way of using two cores finished more runs per hour (:func:`throughput`), as
    prose with the ratio; says so when only one way was measured."""
    if len(cost) < 2:
        only = cost.index[0] if len(cost) else "none"
        return f"only one way of running was measured ({only}), so no comparison is made."
    ranked = cost.sort_values("runs per hour", ascending=False)
    best, other = ranked.index[0], ranked.index[1]
    ratio = ranked["runs per hour"].iloc[0] / ranked["runs per hour"].iloc[1]
    total = int(cost["runs"].sum())
    return (
        f"{best[0].upper()}{best[1:]}: {ranked['runs per hour'].iloc[0]:.1f} runs per hour; "
        f"{other}: {ranked['runs per hour'].iloc[1]:.1f} — {ratio:.2f}× the throughput for "
        f"the first. "
        f"{int(ranked['runs'].iloc[0])} of these {total} runs ran the faster way."
    )


def runs_table(results: Mapping[str, Mapping[int, dict]]):
    """One row per arm × seed of a sweep: Pr@0.5 on every split scored, the training steps
    and the wall seconds of the run."""
    import pandas as pd

    frame = pd.DataFrame(
        {
            (arm, seed): {
                **{split: m["pr@0.5"] for split, m in r["metrics"].items()},
                "steps": r["steps"],
                "wall s": r["wall_s"],
            }
            for arm, by_seed in results.items()
            for seed, r in by_seed.items()
        }
    ).T
    frame.index.names = ["arm", "seed"]
    return frame


def summary(results: Mapping[str, Mapping[int, dict]]) -> dict:
    """What a chapter keeps of a sweep (``{arm: {seed: …}}``): metrics, curves, steps, wall
    seconds, CPU and commit — the per-scene IoUs stay in each run's ``result.json``."""
    keys = ("metrics", "curves", "steps", "wall_s", "cpu", "commit")
    return {
        arm: {seed: {k: r.get(k) for k in keys} for seed, r in by_seed.items()}
        for arm, by_seed in results.items()
    }


ARCHIVE = "ablations"
"""The archived full sweep: ``experiments/ablations.json``."""


def archived_sweep(root: str | Path | None = None) -> dict | None:
    """The archived full sweep (:data:`ARCHIVE`, read by :func:`rsground_lib.archive.load`),
    or None when it has not been run and committed yet."""
    path = archive.archive_dir(root) / f"{ARCHIVE}.json"
    return archive.load(ARCHIVE, root) if path.is_file() else None


RUN_KEYS = ("metrics", "curves", "steps", "wall_s", "threads", "jobs", "cpu", "commit")
"""What the archive keeps of each run besides its hits."""


def archive_sweep(
    results: Mapping[str, Mapping[int, dict]],
    *,
    command: str,
    title: str = "The ablation sweep on the CPU miniature",
) -> dict:
    """A finished sweep (``{arm: {seed: result}}``) as the archived result
    ``experiments/ablations.json``: the provenance :func:`rsground_lib.archive.load` requires
    (commits, ``command``, machine, CPU), the recipe and the scenes' counts, and per run its
    metrics, curves' summary, steps, wall seconds with threads and jobs, and its hits on every
    split as a string of 0s and 1s (one character per scene, in the scenes' order) — what
    :func:`compare` needs to recompute every verdict. ``recipe`` is the config the recipe's
    runs shared, without seed, start, folder and threads (None if they disagree or the
    recipe has no run); a ValueError when the runs were scored on different scenes."""
    runs = [r for by_seed in results.values() for r in by_seed.values()]
    if not runs:
        raise ValueError("archive_sweep: no finished run")
    counts = {json.dumps({sp: len(v) for sp, v in r["ious"].items()}, sort_keys=True) for r in runs}
    if len(counts) > 1:
        raise ValueError(
            f"archive_sweep: the runs were scored on different scenes: {sorted(counts)}"
        )
    cpus = sorted({str(r.get("cpu")) for r in runs})
    commits = sorted({str(r.get("commit")) for r in runs})
    threads = sorted({int(r.get("threads") or 0) for r in runs})
    # the recipe: what the recipe's own runs ran (an arm's changes are its own)
    drop = {*_NOT_IN_KEY, "seed", "model_name_or_path"}
    recipes = {
        json.dumps(files.json_ready({k: v for k, v in r["config"].items() if k not in drop}),
                   sort_keys=True, default=str)
        for r in runs
        if r["arm"] == RECIPE
    }  # fmt: skip
    recipe = json.loads(recipes.pop()) if len(recipes) == 1 else None
    return {
        "title": title,
        "archived": True,
        "produced_by": {
            "commits": commits,
            "command": command,
            "machine": f"{'; '.join(cpus)}; {'/'.join(map(str, threads))} torch thread(s) per run",
            "cpu": "; ".join(cpus),
        },
        "recipe": recipe,
        "scenes": json.loads(counts.pop()),
        "runs": {
            arm: {
                str(seed): {
                    **{k: r.get(k) for k in RUN_KEYS},
                    "hits": {split: "".join(map(str, run_hits(r, split).astype(int))) for split in r["ious"]},
                }
                for seed, r in sorted(by_seed.items())
            }
            for arm, by_seed in results.items()
        },
    }  # fmt: skip


def archived_results(data: Mapping) -> dict[str, dict[int, dict]]:
    """The runs of an archived sweep (:func:`archive_sweep`) as ``{arm: {seed: result}}``,
    the shape :func:`verdict_table`, :func:`runs_table` and the mechanism figure read."""
    order = {a.name: i for i, a in enumerate(ARMS)}
    arms = sorted(data["runs"], key=lambda a: (order.get(a, len(order)), a))
    return {
        arm: {int(seed): {"arm": arm, **r} for seed, r in sorted(data["runs"][arm].items(), key=lambda kv: int(kv[0]))}
        for arm in arms
    }  # fmt: skip


def arms_table(arms: Sequence[Arm] = ARMS):
    """The registry as a table: each arm's question, what it changes, its start, and the sign
    the paper's claim predicts (+1: the recipe is better than the arm; 0: no claim)."""
    import pandas as pd

    rows = {
        a.name: {
            "question": a.question,
            "changes": a.description,
            "start": a.start,
            "direction": f"{a.direction:+d}" if a.direction else "0",
        }
        for a in arms
    }
    frame = pd.DataFrame(rows).T
    frame.index.name = "arm"
    return frame
