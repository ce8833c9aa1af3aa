"""Benchmark ``synthetic``: how many synthetic scenes per second the stage-1 data generator
makes, at the smoke size (224 px) and at DIOR-RSVG's size (800 px), measured side by side in
one run.

Rows per image size:

``make_dataset``
    the full path: scene geometry, expression generation + resolver checks, rendering, PNG
    encoding and the ``datasets.Dataset`` build (:func:`rsground_lib.data.synthetic.make_dataset`).
``scene+expression``
    geometry and verified expression only (:func:`~rsground_lib.data.synthetic.make_records`
    with ``render=False``).
``render``
    :func:`~rsground_lib.data.render.render_scene` alone, on scenes made beforehand.
``render+png``
    rendering plus PNG encoding.

Run: ``python -c "from rsground_lib.bench.synthetic import run; run()"`` or ``make bench``.
Book chapter: "Data" (``book/02_data.py``).
"""

from __future__ import annotations

import time

from rsground_lib.data import render
from rsground_lib.data import synthetic as sy


def _rate(n: int, seconds: float) -> float:
    return n / seconds if seconds > 0 else float("inf")


def run(
    sizes: tuple[int, ...] = (224, 800),
    n_scenes: dict[int, int] | None = None,
    seed: int = 0,
    verbose: bool = True,
) -> dict:
    """Time the synthetic data generator at each image size and print the table.

    ``n_scenes`` maps an image size to the number of scenes per row (default 40 at ≤ 256 px,
    else 10). Returns ``{"seed", "rows": [{"image_size", "stage", "n", "seconds",
    "scenes_per_s", "ms_per_scene"}], "generation": {size: GenerationStats dict}}``. Our design.
    """
    rows = []
    generation = {}
    for size in sizes:
        n = (n_scenes or {}).get(size, 40 if size <= 256 else 10)
        if n < 1:
            raise ValueError(f"n_scenes[{size}]: expected >= 1; got {n}")
        # warm-up (imports, caches) outside the timings
        sy.make_records(1, seed=seed + 1, image_size=size, render=True)

        t0 = time.perf_counter()
        sy.make_dataset(n, seed=seed, image_size=size)
        t_full = time.perf_counter() - t0

        t0 = time.perf_counter()
        _, stats = sy.make_records(n, seed=seed, image_size=size, render=False)
        t_geom = time.perf_counter() - t0
        generation[size] = stats.as_dict()

        scenes = [sy.make_example(seed, i, image_size=size, render=False)[2] for i in range(n)]
        t0 = time.perf_counter()
        images = [render.render_scene(sc) for sc in scenes]
        t_render = time.perf_counter() - t0
        t0 = time.perf_counter()
        for im in images:
            render.png_bytes(im)
        t_png = time.perf_counter() - t0

        for stage, seconds in (
            ("make_dataset", t_full),
            ("scene+expression", t_geom),
            ("render", t_render),
            ("render+png", t_render + t_png),
        ):
            rows.append(
                {
                    "image_size": size,
                    "stage": stage,
                    "n": n,
                    "seconds": round(seconds, 4),
                    "scenes_per_s": round(_rate(n, seconds), 2),
                    "ms_per_scene": round(1000 * seconds / n, 2),
                }
            )
    result = {"seed": seed, "rows": rows, "generation": generation}
    if verbose:
        print(_table(result))
    return result


def _table(result: dict) -> str:
    lines = [
        f"synthetic scenes (seed {result['seed']}); one process, sizes measured side by side",
        f"{'size':>5} {'stage':<18} {'n':>4} {'seconds':>9} {'scenes/s':>9} {'ms/scene':>9}",
    ]
    for r in result["rows"]:
        lines.append(
            f"{r['image_size']:>5} {r['stage']:<18} {r['n']:>4} {r['seconds']:>9.2f} "
            f"{r['scenes_per_s']:>9.1f} {r['ms_per_scene']:>9.1f}"
        )
    return "\n".join(lines)
