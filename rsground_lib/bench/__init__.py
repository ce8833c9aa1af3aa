"""``make bench``: run the registered benchmarks and print their tables.

Each benchmark is a function in some module, registered in :data:`BENCHMARKS` as
``"module:function"``; it measures its candidates side by side in one run (this machine is
noisy: ratios, not absolute times, are what we report), prints a table and returns a dict of
results that is written to ``runs/bench/<name>.json``.

Book chapter: each benchmark module names the chapter of what it measures.
"""

from __future__ import annotations

import importlib
import json
import time
from pathlib import Path

from rsground_lib.paths import runs_root

BENCHMARKS: dict[str, str] = {
    "scoring": "rsground_lib.bench.scoring:run",
    "synthetic": "rsground_lib.bench.synthetic:run",
    "parsers": "rsground_lib.bench.parsers:run",
    "tiny_model": "rsground_lib.bench.tiny_model:run",
    "text_depth": "rsground_lib.bench.text_depth:run",
    "rft": "rsground_lib.bench.rft:run",
    "predict": "rsground_lib.bench.predict:run",
    "geo": "rsground_lib.bench.geo:run",
}
"""name → "module:function"; the function takes no arguments and returns a JSON-able dict."""


def run_benchmarks(names: list[str] | None = None, out_dir: Path | None = None) -> int:
    """Run the named benchmarks (default: all), print their tables, write their JSON."""
    selected = names or list(BENCHMARKS)
    unknown = [n for n in selected if n not in BENCHMARKS]
    if unknown:
        raise SystemExit(
            f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(BENCHMARKS) or 'none'}"
        )
    if not selected:
        print("no benchmarks are registered yet")
        return 0
    out_dir = out_dir or runs_root() / "bench"
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in selected:
        module_name, func_name = BENCHMARKS[name].split(":")
        func = getattr(importlib.import_module(module_name), func_name)
        print(f"\n== {name} ==", flush=True)
        t0 = time.perf_counter()
        result = func()
        result["wall_seconds"] = round(time.perf_counter() - t0, 2)
        path = out_dir / f"{name}.json"
        path.write_text(json.dumps(result, indent=2))
        print(f"({result['wall_seconds']} s; written to {path})")
    return 0
