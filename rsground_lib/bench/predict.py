"""Benchmark ``predict``: samples per second of :func:`rsground_lib.evaluation.predict` on the
committed tiny base, one by one (batch 1) against batched (batch 32), on the same records in
one run, with the predictions of the two compared record by record.

Two rows per batch size:

``predict``
    the whole path a user runs: images, prompts, left-padded batched greedy generation with
    the KV cache, parsing, one JSONL line per sample, a flush and an fsync per batch.
``generate``
    :func:`rsground_lib.generation.generate_answers` alone (no file), to tell generation
    from the writing.

Each candidate runs :data:`REPEATS` times, alternating, after one warm-up; the median is
reported. The issue asks for at least :data:`GOAL_SPEEDUP` × at batch 32; the ratio is
reported as measured. ``same_predictions`` says whether the batched completions equal the
one-by-one ones on every record (left padding may change float sums and so a greedy pick);
``n_differ`` counts the records where they do not.

Run: ``rsground bench predict`` or ``python -c "from rsground_lib.bench.predict import run;
run()"``. Book chapter: "CoT-SFT" (``book/03_cot_sft.py``, the tiny base).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from rsground_lib import evaluation, generation, models, paths, predictions
from rsground_lib.data import base_scenes

GOAL_SPEEDUP = 5.0
"""The speed-up of batch-32 prediction over one-by-one that the Evaluation issue asks for."""

REPEATS = 3
SEED = 515151
"""The seed of the benchmark's scenes (:func:`rsground_lib.data.base_scenes.make_records`,
1-3 objects, single and multi mixed; not the checkpoint's training or held-out seeds)."""


def bench_records(n: int, seed: int = SEED) -> list[dict]:
    """``n`` tiny-base scenes with ids ``bench/{i}``."""
    records = base_scenes.make_records(n, seed=seed, max_objects=3, mode="mixed")
    return [{**r, "id": f"bench/{i}"} for i, r in enumerate(records)]


def run(
    n: int = 64,
    batch_size: int = 32,
    repeats: int = REPEATS,
    checkpoint: str | Path | None = None,
    max_new_tokens: int = 24,
    verbose: bool = True,
) -> dict:
    """Time :func:`rsground_lib.evaluation.predict` and ``generate_answers`` at batch 1 and at
    ``batch_size`` on ``n`` scenes (median of ``repeats``; CPU, the threads torch has), print
    the table and return ``{"n", "batch_size", "repeats", "max_new_tokens", "device",
    "torch_threads", "rows": [{"stage", "batch_size", "seconds", "samples_per_s"}],
    "speedup_predict", "speedup_generate", "goal_speedup", "same_predictions", "n_differ",
    "parse_rate"}``. ``max_new_tokens`` 24 leaves room for the tiny base's box-only answer
    (about 15 tokens) and generation stops at its end-of-sequence token anyway."""
    import torch

    folder = Path(checkpoint) if checkpoint else paths.tiny_base()
    model, processor = models.load_model(folder, device="cpu")
    records = bench_records(n)
    kw = {"max_new_tokens": max_new_tokens, "prompt_style": "compact"}
    sizes = (1, batch_size)
    times: dict[tuple[str, int], list[float]] = {
        (s, b): [] for s in ("predict", "generate") for b in sizes
    }
    lines: dict[int, list[dict]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        # warm-up outside the timings (first-call allocations, lazy imports)
        evaluation.predict(
            model,
            processor,
            records[:2],
            Path(tmp) / "warm.jsonl",
            batch_size=2,
            progress=False,
            **kw,
        )
        for rep in range(repeats):
            for b in sizes:
                out = Path(tmp) / f"b{b}_r{rep}.jsonl"
                t0 = time.perf_counter()
                evaluation.predict(
                    model, processor, records, out, batch_size=b, progress=False, **kw
                )
                times["predict", b].append(time.perf_counter() - t0)
                lines[b] = predictions.read_prediction_lines(out)
                t0 = time.perf_counter()
                generation.generate_answers(model, processor, records, batch_size=b, **kw)
                times["generate", b].append(time.perf_counter() - t0)
    one, batched = lines[1], lines[batch_size]
    differ = [
        a["id"]
        for a, c in zip(one, batched, strict=True)
        if (a["completion"], a["box_model"]) != (c["completion"], c["box_model"])
    ]
    rows = []
    for (stage, b), secs in times.items():
        med = statistics.median(secs)
        rows.append(
            {
                "stage": stage,
                "batch_size": b,
                "seconds": round(med, 4),
                "samples_per_s": round(n / med, 2),
            }
        )
    rate = {(r["stage"], r["batch_size"]): r["samples_per_s"] for r in rows}
    result = {
        "n": n,
        "batch_size": batch_size,
        "repeats": repeats,
        "max_new_tokens": max_new_tokens,
        "device": "cpu",
        "torch_threads": torch.get_num_threads(),
        "rows": rows,
        "speedup_predict": round(rate["predict", batch_size] / rate["predict", 1], 2),
        "speedup_generate": round(rate["generate", batch_size] / rate["generate", 1], 2),
        "goal_speedup": GOAL_SPEEDUP,
        "same_predictions": not differ,
        "n_differ": len(differ),
        "differ_ids": differ[:10],
        "parse_rate": sum(r["parsed"] for r in batched) / n,
    }
    if verbose:
        print(_table(result))
    return result


def _table(result: dict) -> str:
    b = result["batch_size"]
    lines = [
        f"predict on the tiny base: {result['n']} scenes, batch 1 vs {b}, median of "
        f"{result['repeats']}, {result['torch_threads']} torch thread(s), CPU",
        f"{'stage':<9} {'batch':>5} {'seconds':>8} {'samples/s':>10}",
    ]
    for r in result["rows"]:
        lines.append(
            f"{r['stage']:<9} {r['batch_size']:>5} {r['seconds']:>8.3f} {r['samples_per_s']:>10.1f}"
        )
    lines.append(
        f"speed-up at batch {b}: predict {result['speedup_predict']:.2f}x, generate "
        f"{result['speedup_generate']:.2f}x (goal {result['goal_speedup']:.0f}x)"
    )
    lines.append(
        f"same predictions batched and one by one: {result['same_predictions']} "
        f"({result['n_differ']} of {result['n']} differ); parse rate {result['parse_rate']:.3f}"
    )
    return "\n".join(lines)
