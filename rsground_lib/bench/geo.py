"""Benchmark ``geo``: peak memory of :func:`rsground_lib.geo.ground_raster` on rasters of
10,000 × 10,000, 5,000 × 5,000 and 1,000 × 1,000 pixels, to show that a raster is grounded
window by window without being read whole (the growth levels off as the raster grows).

Each raster is written into a temporary folder by :func:`write_raster`: a tiled (256-pixel
blocks), DEFLATE-compressed (horizontal predictor), georeferenced GeoTIFF of three uint16
bands (so :func:`rsground_lib.geo.ground_raster` takes its percentile-stretch path), written
one block row at a time (the writer never holds the raster either). Its pixels are
:func:`content`: smooth gradients plus two rectangles in every 1,000-pixel cell, cheap to
compress (the 10,000² file is a few MB; read whole it would be 600 MB of uint16).

Each raster is then grounded in a **fresh subprocess** (``python -m rsground_lib.bench.geo``,
:func:`measure`), so that the peak resident set size of one raster is not that of another:
the subprocess loads the tiny base (``checkpoints/tiny-base``), opens the raster's metadata,
reads ``ru_maxrss`` (the process's peak RSS, KiB on Linux) before grounding, grounds
:data:`SENTENCE` with :data:`SETTINGS` (tile 800, overlap 0.2, batch 16, the compact prompt,
24 new tokens) and reads ``ru_maxrss`` again. The growth (after − before) is what grounding
itself added to the peak. The key numbers: the growth on the largest raster as a share of its
size read whole (``largest_growth_over_raster_bytes``), and its excess over the growth on the
smallest (``largest_minus_smallest_growth_kib``). That excess is not the raster's size read whole:
GDAL's block cache, capped at :data:`rsground_lib.geo.GDAL_CACHE_MB` while grounding
(``gdal_cache_mb``), fills up on a large raster but holds at most the 6 MB of a 1,000² one;
and the smallest raster has fewer windows than a batch (4 at 1,000²), so its batches of
window images and model inputs are smaller (each row says how many windows a batch held,
``batch_windows``).

Run: ``rsground bench geo`` or ``python -c "from rsground_lib.bench.geo import run; run()"``.
Book chapter: "Grounding in a map" (``book/07_geo.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from rsground_lib import geo, models, paths

SENTENCE = "the storage tank"

SETTINGS = geo.GroundingSettings(tile=geo.DEFAULT_TILE, max_new_tokens=24, prompt_style="compact")
"""The settings grounded with: the defaults of :class:`rsground_lib.geo.GroundingSettings`
(overlap 0.2, batch 16), except a fixed tile of 800 px (not the tiny model's input side: the
windows of DIOR-RSVG's size), the tiny base's compact prompt and 24 new tokens."""

SIZES: tuple[tuple[int, int], ...] = ((10_000, 10_000), (5_000, 5_000), (1_000, 1_000))
"""``(width, height)`` of the rasters grounded, in this order."""

BLOCK = 256
"""Tile side of the written GeoTIFFs (pixels); also the height of one written block row."""

CELL = 1_000
"""The content repeats every ``CELL`` pixels along both axes."""

CRS = "EPSG:32617"
ORIGIN = (400_000.0, 3_285_000.0)
PIXEL_M = 0.5
"""The written rasters' CRS (UTM zone 17N), the map position of their top-left corner and
their pixel size in metres (north up)."""

TANK = (200, 150, 248, 198, 4000)
ROOF = (450, 350, 570, 410, 500)
"""Rectangles drawn in every cell: ``(x1, y1, x2, y2, value)`` in cell pixels (``x2``,
``y2`` excluded), the same value in all three bands: a bright 48-pixel square and a dark
120 × 60 rectangle."""

RESULT_PREFIX = "GEO_BENCH_RESULT "
"""The line of the subprocess's stdout that carries its JSON."""


def content(cols: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """The pixels of the rasters at the columns ``cols`` and rows ``rows`` (1-D integer
    arrays): a ``(3, len(rows), len(cols))`` uint16 array. With ``x = col mod CELL`` and
    ``y = row mod CELL``: band 1 is ``1000 + x``, band 2 ``1000 + y``, band 3
    ``1500 + ((col + row) mod CELL) // 2``; inside :data:`TANK` and :data:`ROOF` (cell
    coordinates) all three bands take the rectangle's value."""
    c = np.asarray(cols, dtype=np.int64)[None, :]
    r = np.asarray(rows, dtype=np.int64)[:, None]
    x, y = c % CELL, r % CELL
    shape = (r.shape[0], c.shape[1])
    out = np.empty((3, *shape), dtype=np.uint16)
    out[0] = np.broadcast_to(1000 + x, shape)
    out[1] = np.broadcast_to(1000 + y, shape)
    out[2] = 1500 + ((c + r) % CELL) // 2
    for x1, y1, x2, y2, value in (TANK, ROOF):
        inside = ((x >= x1) & (x < x2)) & ((y >= y1) & (y < y2))
        out[:, inside] = value
    return out


def write_raster(path: str | os.PathLike, width: int, height: int, block: int = BLOCK) -> Path:
    """Write :func:`content` as a ``width`` × ``height`` GeoTIFF at ``path``: three uint16
    bands, tiled in ``block`` × ``block`` blocks, DEFLATE with the horizontal predictor,
    :data:`CRS` with a north-up geotransform from :data:`ORIGIN` at :data:`PIXEL_M` m. It is
    written one block row (``block`` rows × the full width) at a time, with GDAL's block cache
    capped at 64 MB, so the whole raster is never in memory. Returns the path."""
    import rasterio
    from affine import Affine
    from rasterio.windows import Window

    path = Path(path)
    profile = {
        "driver": "GTiff",
        "width": width,
        "height": height,
        "count": 3,
        "dtype": "uint16",
        "crs": CRS,
        "transform": Affine(PIXEL_M, 0.0, ORIGIN[0], 0.0, -PIXEL_M, ORIGIN[1]),
        "tiled": True,
        "blockxsize": block,
        "blockysize": block,
        "compress": "deflate",
        "predictor": 2,
        "BIGTIFF": "IF_SAFER",
    }
    cols = np.arange(width)
    with rasterio.Env(GDAL_CACHEMAX=64), rasterio.open(path, "w", **profile) as ds:
        for r0 in range(0, height, block):
            h = min(block, height - r0)
            ds.write(content(cols, np.arange(r0, r0 + h)), window=Window(0, r0, width, h))
    return path


def _maxrss_kib() -> int:
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def measure(
    raster: str | os.PathLike,
    checkpoint: str | os.PathLike,
    settings: geo.GroundingSettings = SETTINGS,
    *,
    torch_threads: int | None = None,
) -> dict:
    """Run in a fresh process by :func:`run`: load the model, read the raster's metadata,
    then ground :data:`SENTENCE` in it with ``settings``, with the process's peak RSS
    (``ru_maxrss``, KiB) before and after grounding. Returns ``{"width", "height", "bands",
    "dtype", "windows", "skipped", "unparsed", "answers", "seconds", "maxrss_before_kib",
    "maxrss_after_kib", "torch_threads"}``."""
    import rasterio  # noqa: F401  (imported before the first measurement: not growth)
    import torch
    import tqdm.auto  # noqa: F401

    if torch_threads is not None:
        torch.set_num_threads(torch_threads)
    model, processor = models.load_model(Path(checkpoint), device="cpu")
    info = geo.open_raster(raster)
    before = _maxrss_kib()
    t0 = time.perf_counter()
    result = geo.ground_raster(raster, SENTENCE, model, processor, settings, progress=False)
    seconds = time.perf_counter() - t0
    after = _maxrss_kib()
    return {
        "width": info.width,
        "height": info.height,
        "bands": info.count,
        "dtype": info.dtypes[0],
        "windows": len(result.windows),
        "skipped": len(result.skipped),
        "unparsed": result.unparsed,
        "answers": len(result.answers),
        "seconds": seconds,
        "maxrss_before_kib": before,
        "maxrss_after_kib": after,
        "torch_threads": torch.get_num_threads(),
    }


def _options(settings: geo.GroundingSettings, torch_threads: int | None) -> list[str]:
    """The command-line options of :func:`main` that give ``settings`` and ``torch_threads``:
    one per value that is not None (an option left out is None by default)."""
    argv = []
    for key, value in {**asdict(settings), "torch_threads": torch_threads}.items():
        if value is not None:
            text = ",".join(map(str, value)) if isinstance(value, list | tuple) else str(value)
            argv += [f"--{key.replace('_', '-')}", text]  # bands as "1,2,3"
    return argv


def _measure_in_subprocess(
    raster: Path, checkpoint: Path, settings: geo.GroundingSettings, torch_threads: int | None
) -> dict:
    cmd = [sys.executable, "-m", "rsground_lib.bench.geo", str(raster), str(checkpoint)]
    cmd += _options(settings, torch_threads)
    proc = subprocess.run(cmd, capture_output=True, text=True)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(RESULT_PREFIX)]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(
            f"geo benchmark subprocess on {raster.name} failed (exit {proc.returncode}):\n"
            + proc.stderr[-4000:]
        )
    return json.loads(lines[-1][len(RESULT_PREFIX) :])


def run(
    sizes: tuple[tuple[int, int], ...] = SIZES,
    settings: geo.GroundingSettings = SETTINGS,
    checkpoint: str | Path | None = None,
    torch_threads: int | None = None,
    verbose: bool = True,
) -> dict:
    """Write each raster of ``sizes`` (:func:`write_raster`, in a temporary folder that is
    removed afterwards) and ground :data:`SENTENCE` in it with ``settings`` in a fresh
    subprocess (:func:`measure`; ``torch_threads`` None leaves torch its default), print the
    table and return ``{"sentence", "tile", "overlap", "batch_size", "max_new_tokens",
    "prompt_style", "device", "torch_threads", "gdal_cache_mb", "rows": [{"width", "height",
    "bands", "dtype", "raster_bytes", "file_bytes", "write_seconds", "windows", "skipped",
    "batch_windows", "maxrss_before_kib", "maxrss_after_kib", "growth_kib",
    "growth_over_raster_bytes", "seconds", "windows_per_s"}], "largest", "smallest",
    "largest_growth_over_raster_bytes", "largest_minus_smallest_growth_kib"}``.
    ``raster_bytes`` is the raster read whole as uint16 (width · height · bands · 2); largest
    and smallest are by pixel count."""
    folder = Path(checkpoint) if checkpoint else paths.tiny_base()
    rows = []
    threads = None
    with tempfile.TemporaryDirectory(prefix="rsground-bench-geo-") as tmp:
        for width, height in sizes:
            path = Path(tmp) / f"raster_{width}x{height}.tif"
            t0 = time.perf_counter()
            write_raster(path, width, height)
            write_seconds = time.perf_counter() - t0
            file_bytes = path.stat().st_size
            m = _measure_in_subprocess(path.resolve(), folder.resolve(), settings, torch_threads)
            path.unlink()
            threads = m["torch_threads"]
            raster_bytes = m["width"] * m["height"] * m["bands"] * 2
            growth = m["maxrss_after_kib"] - m["maxrss_before_kib"]
            rows.append(
                {
                    "width": m["width"],
                    "height": m["height"],
                    "bands": m["bands"],
                    "dtype": m["dtype"],
                    "raster_bytes": raster_bytes,
                    "file_bytes": file_bytes,
                    "write_seconds": round(write_seconds, 2),
                    "windows": m["windows"],
                    "skipped": m["skipped"],
                    "batch_windows": min(settings.batch_size, m["windows"]),
                    "maxrss_before_kib": m["maxrss_before_kib"],
                    "maxrss_after_kib": m["maxrss_after_kib"],
                    "growth_kib": growth,
                    "growth_over_raster_bytes": round(growth * 1024 / raster_bytes, 4),
                    "seconds": round(m["seconds"], 2),
                    "windows_per_s": round(m["windows"] / m["seconds"], 2),
                }
            )
    largest = max(rows, key=lambda r: r["width"] * r["height"])
    smallest = min(rows, key=lambda r: r["width"] * r["height"])
    result = {
        "sentence": SENTENCE,
        "tile": settings.tile,
        "overlap": settings.overlap,
        "batch_size": settings.batch_size,
        "max_new_tokens": settings.max_new_tokens,
        "prompt_style": settings.prompt_style,
        "device": "cpu",
        "torch_threads": threads,
        "gdal_cache_mb": geo.GDAL_CACHE_MB,
        "rows": rows,
        "largest": f"{largest['width']}x{largest['height']}",
        "smallest": f"{smallest['width']}x{smallest['height']}",
        "largest_growth_over_raster_bytes": largest["growth_over_raster_bytes"],
        "largest_minus_smallest_growth_kib": largest["growth_kib"] - smallest["growth_kib"],
    }
    if verbose:
        print(_table(result))
    return result


def _mib(kib: int) -> float:
    return kib / 1024


def _table(result: dict) -> str:
    lines = [
        f"ground_raster on the tiny base, one fresh process per raster: {result['sentence']!r}, "
        f"tile {result['tile']}, overlap {result['overlap']}, batch {result['batch_size']}, "
        f"{result['torch_threads']} torch thread(s), CPU; peak RSS (ru_maxrss) in MiB",
        f"{'raster':>13} {'whole MB':>9} {'file MB':>8} {'windows':>7} {'before':>7} "
        f"{'after':>7} {'growth':>7} {'growth/whole':>12} {'seconds':>8} {'windows/s':>9}",
    ]
    for r in result["rows"]:
        lines.append(
            f"{r['width']:>6}x{r['height']:<6} {r['raster_bytes'] / 1e6:>9.1f} "
            f"{r['file_bytes'] / 1e6:>8.2f} {r['windows']:>7} "
            f"{_mib(r['maxrss_before_kib']):>7.1f} {_mib(r['maxrss_after_kib']):>7.1f} "
            f"{_mib(r['growth_kib']):>7.1f} {r['growth_over_raster_bytes']:>12.4f} "
            f"{r['seconds']:>8.2f} {r['windows_per_s']:>9.2f}"
        )
    lines.append(
        f"{result['largest']}: grounding grew the peak RSS by "
        f"{result['largest_growth_over_raster_bytes']:.4f} of the raster's size read whole, "
        f"{_mib(result['largest_minus_smallest_growth_kib']):.1f} MiB more than on "
        f"{result['smallest']}"
    )
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m rsground_lib.bench.geo")
    parser.add_argument("raster")
    parser.add_argument("checkpoint")
    geo.GroundingSettings.add_arguments(parser)
    parser.add_argument("--torch-threads", type=int, default=None)
    return parser


def main(argv: list[str] | None = None) -> int:
    """``python -m rsground_lib.bench.geo RASTER CHECKPOINT [--tile ...]``: :func:`measure`
    in this process, its JSON on one stdout line starting with :data:`RESULT_PREFIX`. The
    grounding options are those of ``rsground ground``, with their defaults
    (:meth:`rsground_lib.geo.GroundingSettings.add_arguments`): :func:`run` passes every
    setting that is not None (:func:`_options`)."""
    args = _parser().parse_args(argv)
    settings = geo.GroundingSettings.from_args(args)
    out = measure(args.raster, args.checkpoint, settings, torch_threads=args.torch_threads)
    print(RESULT_PREFIX + json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
