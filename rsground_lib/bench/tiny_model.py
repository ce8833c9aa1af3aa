"""Benchmark ``tiny_model``: seconds to build the offline tiny vision-language model from a
seed (what CI and the smoke profile build), per family, median of three builds in one run.
This was a wall-clock assert in the unit tests before; timing belongs here.

Run: ``python -c "from rsground_lib.bench.tiny_model import run; run()"`` or ``make bench``.
Book chapter: "CoT-SFT" (``book/03_cot_sft.py``).
"""

from __future__ import annotations

import statistics
import time

from rsground_lib import models

REPEATS = 3


def run() -> dict:
    """Build the tiny model of each family :data:`REPEATS` times; print and return the medians."""
    rows = []
    for family in models.FAMILIES:
        seconds = []
        for seed in range(REPEATS):
            t0 = time.perf_counter()
            model, _ = models.build_tiny_model(seed, family=family)
            seconds.append(time.perf_counter() - t0)
        rows.append(
            {
                "family": family,
                "parameters": model.num_parameters(),
                "build_seconds_median": round(statistics.median(seconds), 3),
                "build_seconds_max": round(max(seconds), 3),
            }
        )
    print(f"{'family':<12} {'parameters':>11} {'median s':>9} {'max s':>7}")
    for r in rows:
        print(
            f"{r['family']:<12} {r['parameters']:>11,} {r['build_seconds_median']:>9.2f} "
            f"{r['build_seconds_max']:>7.2f}"
        )
    return {"repeats": REPEATS, "rows": rows}
