"""Synthetic georeferenced rasters whose target is known: a data scene
(:mod:`rsground_lib.data.base_scenes`) placed at an offset in a larger GeoTIFF, its boxes
moved with it, so that grounding in a whole raster can be scored.

* :func:`scene_raster` — one scene in one raster;
* :func:`synthetic_rasters` — ``n`` of them, at random offsets, deterministic in the seed.

:class:`RasterError`, the error of every raster operation of :mod:`rsground_lib.geo`, is
defined here: this data-layer module raises it too and may not import the geo package
(``tests/test_layers.py``); :mod:`rsground_lib.geo` re-exports it. rasterio is imported inside
the functions (the ``geo`` extra).

Book chapter: "Grounding in a map" (``book/07_geo.py``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rsground_lib.data import base_scenes


class RasterError(ValueError):
    """A raster, band choice or output that cannot be used; the message names the file."""


def scene_raster(
    path: str | os.PathLike,
    record: dict,
    *,
    size: int,
    offset: Sequence[int],
    crs: str = "EPSG:32631",
    origin: Sequence[float] = (500000.0, 4000000.0),
    pixel_size: float = 0.5,
    seed: int = 0,
) -> dict:
    """Write a ``size`` × ``size`` georeferenced RGB GeoTIFF that holds the scene of
    ``record`` (a :mod:`rsground_lib.data.base_scenes` record) with its top-left corner at
    pixel ``offset``, on a background that continues the scene's (its median colour plus the
    same Gaussian noise, σ 8), north-up with ``pixel_size`` metres from ``origin`` (the
    top-left corner, map units of ``crs``). Returns the raster's record: ``path``,
    ``expression``, ``category``, ``bbox`` and ``objects`` in raster pixels, ``width``,
    ``height``, ``n_same``, ``scene_box`` (where the scene lies) and ``scene`` (the input
    record). Our design: a raster whose target is known, so that grounding in it is scored."""
    import rasterio
    from rasterio.transform import from_origin

    scene = np.asarray(record["image"].convert("RGB"), dtype=np.uint8)
    sh, sw = scene.shape[:2]
    ox, oy = (int(v) for v in offset)
    if not (0 <= ox <= size - sw and 0 <= oy <= size - sh):
        raise RasterError(
            f"scene_raster: a {sw} x {sh} scene at {tuple(offset)} does not fit in {size} px"
        )
    rng = np.random.default_rng(seed)
    bg = np.median(scene.reshape(-1, 3), axis=0)
    canvas = np.clip(bg + rng.normal(0, 8, (size, size, 3)), 0, 255).astype(np.uint8)
    canvas[oy : oy + sh, ox : ox + sw] = scene
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    transform = from_origin(float(origin[0]), float(origin[1]), pixel_size, pixel_size)
    with rasterio.open(
        out, "w", driver="GTiff", width=size, height=size, count=3, dtype="uint8", crs=crs,
        transform=transform, photometric="RGB",
    ) as ds:  # fmt: skip
        ds.write(np.moveaxis(canvas, -1, 0))

    def shift(b):
        return [float(b[0]) + ox, float(b[1]) + oy, float(b[2]) + ox, float(b[3]) + oy]

    return {
        "path": str(out),
        "expression": record["expression"],
        "category": record["category"],
        "bbox": shift(record["bbox"]),
        "objects": [{**o, "bbox": shift(o["bbox"])} for o in record.get("objects", [])],
        "width": size,
        "height": size,
        "n_same": record.get("n_same"),
        "scene_box": [ox, oy, ox + sw, oy + sh],
        "scene": record,
    }


def synthetic_rasters(
    folder: str | os.PathLike,
    n: int,
    *,
    seed: int = 0,
    size: int = 192,
    scene_size: int = 64,
    max_objects: int = 3,
    mode: str = "single",
    **raster_kwargs,
) -> list[dict]:
    """``n`` rasters of :func:`scene_raster` in ``folder`` (``raster_000.tif`` …): scenes of
    :func:`rsground_lib.data.base_scenes.make_records` (``max_objects``, ``mode``; seed
    ``seed``) placed at offsets drawn uniformly (seed ``seed + 1``), so a window grid rarely
    matches a scene. Deterministic in ``seed``."""
    if size < scene_size:
        raise RasterError(
            f"synthetic_rasters: size {size} is smaller than the scene ({scene_size})"
        )
    scenes = base_scenes.make_records(
        n, seed=seed, image_size=scene_size, max_objects=max_objects, mode=mode
    )
    rng = np.random.default_rng(seed + 1)
    out = []
    for i, rec in enumerate(scenes):
        ox, oy = (int(v) for v in rng.integers(0, size - scene_size + 1, 2))
        out.append(
            scene_raster(
                Path(folder) / f"raster_{i:03d}.tif",
                rec,
                size=size,
                offset=(ox, oy),
                seed=seed + 2 + i,
                **raster_kwargs,
            )
        )
    return out
