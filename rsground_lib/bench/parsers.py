"""Benchmark ``parsers``: do the readers of model output and of expressions stay linear in
the length of hostile input?

Each family of pathological strings (the families of ``tests/test_prompts.py`` and
``tests/test_data_cues.py``) is built at ``n`` and ``4n`` characters and each reader is timed
on both in the same run: a ratio near 4 is linear, near 16 quadratic. Absolute seconds are
reported beside the ratio but are machine-dependent. These were wall-clock asserts in the
unit tests before; timing belongs here.

Run: ``python -c "from rsground_lib.bench.parsers import run; run()"`` or ``make bench``.
Book chapter: "Rewards and spatial consistency" (``book/01_rewards.py``).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from rsground_lib import prompts
from rsground_lib.data import cues

BASE_CHARS = 10_000
"""The smaller size of every family, in characters (the larger is four times it)."""

FAMILIES: dict[str, Callable[[int], str]] = {
    "digits-commas": lambda n: "1," * (n // 2),
    "digits-then-letter": lambda n: "1" * n + "a",
    "open-think-tags": lambda n: "<think>" * (n // 7),
    "answer-pairs": lambda n: "<answer>" + "(1,2) " * (n // 6),
    "bbox-key-spaces": lambda n: '{"bbox_2d"' + " " * n + ":",
    "unclosed-lists": lambda n: ("[1, 2, 3" + " " * 50) * (n // 58),
    "unclosed-think-with-boxes": lambda n: "<think>" + "[1, 2, 3, 4] " * (n // 13),
}
"""Pathological model outputs, family name → builder of a string of about ``n`` characters."""

CUE_FAMILIES: dict[str, Callable[[int], str]] = {
    "near-far": lambda n: "near the " + "far " * (n // 4) + "x",
    "left-of": lambda n: "left " * (n // 5) + "of a ship",
    "right-of-the": lambda n: "right of the " * (n // 13),
}
"""Pathological expressions for the cue tagger."""

READERS: dict[str, Callable[[str], object]] = {
    "parse_answer": prompts.parse_answer,
    "check_format": prompts.check_format,
    "reasoning_boxes": prompts.reasoning_boxes,
}


def _seconds(fn: Callable[[str], object], text: str) -> float:
    t0 = time.perf_counter()
    fn(text)
    return time.perf_counter() - t0


def _row(reader: str, family: str, fn: Callable[[str], object], build) -> dict:
    small, large = build(BASE_CHARS), build(4 * BASE_CHARS)
    t_small, t_large = _seconds(fn, small), _seconds(fn, large)
    ratio = t_large / t_small if t_small > 0 else float("inf")
    return {
        "reader": reader,
        "family": family,
        "chars_small": len(small),
        "chars_large": len(large),
        "seconds_small": round(t_small, 5),
        "seconds_large": round(t_large, 5),
        "ratio_4x_input": round(ratio, 2),
    }


def run() -> dict:
    """Time every reader on every family at two sizes; print the table; return the rows."""
    rows = [
        _row(name, family, fn, build)
        for name, fn in READERS.items()
        for family, build in FAMILIES.items()
    ]
    rows += [
        _row("tag_cues", family, cues.tag_cues, build) for family, build in CUE_FAMILIES.items()
    ]
    print(f"{'reader':<16} {'family':<26} {'s @ n':>9} {'s @ 4n':>9} {'ratio':>7}")
    for r in rows:
        print(
            f"{r['reader']:<16} {r['family']:<26} {r['seconds_small']:>9.4f} "
            f"{r['seconds_large']:>9.4f} {r['ratio_4x_input']:>7.1f}"
        )
    print("ratio ≈ 4: linear; ≈ 16: quadratic (the larger input is 4× the smaller)")
    return {"base_chars": BASE_CHARS, "rows": rows}
