"""Reading a raster window by window: what the file is, which bands make the RGB image, how
they become 8 bits, and the grid of windows, each read alone — never the raster whole.

* :func:`open_raster` / :class:`RasterInfo` — what the file is (size, bands, dtype, nodata,
  CRS, geotransform, whether it is georeferenced at all);
* :func:`choose_bands` — which three bands make the RGB image (RGB, RGBN → RGB, one band →
  grey, or the user's choice); :func:`stretch_limits` — the percentile stretch of uint16 /
  float bands, computed once on full-resolution samples spread over the raster;
* :func:`plan_windows` / :class:`Tile` — overlapping windows of ``tile`` pixels that cover
  the raster and never reach outside it; :func:`read_window` — one window as an 8-bit RGB
  image, nodata masked, with its share of valid pixels;
* :func:`valid_share`, :func:`describe`, :func:`read_preview` — what a chapter says and
  shows of a raster.

:class:`RasterError` is defined in :mod:`rsground_lib.data.scene_raster` (the data layer's
synthetic rasters raise it too) and re-exported here. rasterio, affine and pyproj are
imported inside the functions that need them (the ``geo`` extra).

Book chapter: "Grounding in a map" (``book/07_geo.py``).
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from rsground_lib.data.scene_raster import RasterError

DEFAULT_TILE = 800
"""Window side in raster pixels (DIOR-RSVG's image size)."""

DEFAULT_OVERLAP = 0.2
"""Share of a window shared with its neighbour along each axis (at least)."""

GDAL_CACHE_MB = 64
"""GDAL's block cache while a raster is read (MB): windows are read once, so a large cache
would only hold memory."""


@dataclass(frozen=True)
class Tile:
    """A window of the raster in pixels: its top-left corner ``(col_off, row_off)`` and size."""

    col_off: int
    row_off: int
    width: int
    height: int

    def label(self) -> str:
        """``"col_off,row_off,width,height"``: the window as a feature attribute."""
        return f"{self.col_off},{self.row_off},{self.width},{self.height}"


@dataclass(frozen=True)
class RasterInfo:
    """What :func:`open_raster` found: size, band count, dtypes, nodata, the CRS (a string,
    e.g. ``"EPSG:32618"``; None when absent or unknown), the pixel → map transform
    (``affine.Affine``: the geotransform; else the affine fit of the ground control points;
    else the identity), the colour interpretation of each band, whether the raster is
    georeferenced (it has a transform: a world file without a CRS counts, its map coordinates
    are then in an unknown CRS) and where its georeferencing comes from (``georef_source``:
    ``"geotransform"``, ``"N ground control points (affine fit)"`` or ``"none"``)."""

    path: str
    width: int
    height: int
    count: int
    dtypes: tuple[str, ...]
    nodata: float | None
    crs: str | None
    transform: object
    colorinterp: tuple[str, ...]
    georeferenced: bool
    georef_source: str = "geotransform"


def _open(path):
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning, RasterioIOError

    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{p}: no such raster file")
    if p.is_dir():
        raise RasterError(f"{p}: is a folder, not a raster file")
    try:
        with warnings.catch_warnings():
            # A raster without georeferencing is supported (pixel coordinates); RasterInfo
            # records it and the outputs say so.
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            return rasterio.open(p)
    except RasterioIOError as err:
        raise RasterError(f"{p}: not a raster this machine's GDAL can read ({err})") from err


def _info(ds, path) -> RasterInfo:
    from affine import Affine
    from rasterio.transform import from_gcps

    crs = ds.crs.to_string() if ds.crs else None
    transform, source = ds.transform, "geotransform"
    gcps, gcp_crs = ds.gcps
    if transform == Affine.identity() and gcps:
        # only ground control points: their least-squares affine (an approximation for a
        # raster that needs a warp, exact for one that does not)
        transform, source = from_gcps(gcps), f"{len(gcps)} ground control points (affine fit)"
        crs = crs or (gcp_crs.to_string() if gcp_crs else None)
    elif transform == Affine.identity():
        source = "none"
    return RasterInfo(
        path=str(path),
        width=int(ds.width),
        height=int(ds.height),
        count=int(ds.count),
        dtypes=tuple(str(d) for d in ds.dtypes),
        nodata=None if ds.nodata is None else float(ds.nodata),
        crs=crs,
        transform=transform,
        colorinterp=tuple(c.name for c in ds.colorinterp),
        georeferenced=source != "none",
        georef_source=source,
    )


def open_raster(path: str | os.PathLike) -> RasterInfo:
    """What the raster at ``path`` is, without reading its pixels. A missing file is a
    FileNotFoundError; a file GDAL cannot read a :class:`RasterError` naming it."""
    with _open(path) as ds:
        return _info(ds, path)


# ----------------------------------------------------------------------------- bands


def parse_bands(spec: str | Sequence[int] | None) -> tuple[int, ...] | None:
    """``"1,2,3"`` / ``[4, 3, 2]`` / ``"2"`` → a tuple of 1-based band indexes (None stays
    None: the default choice of :func:`choose_bands`). Anything but 1 or 3 positive integers
    is a RasterError saying what was expected."""
    if spec is None:
        return None
    if isinstance(spec, str):
        parts = [p.strip() for p in spec.split(",") if p.strip()]
        try:
            values = [int(p) for p in parts]
        except ValueError:
            raise RasterError(
                f"bands {spec!r}: expected 1 or 3 band numbers separated by commas, e.g. 1,2,3"
            ) from None
    else:
        values = [int(v) for v in spec]
    if len(values) not in (1, 3) or any(v < 1 for v in values):
        raise RasterError(
            f"bands {spec!r}: expected 1 band (grey) or 3 bands (red, green, blue), numbered from 1"
        )
    return tuple(values)


def choose_bands(info: RasterInfo, bands: str | Sequence[int] | None = None) -> tuple[int, ...]:
    """The three 1-based band indexes read as red, green, blue. Given ``bands`` (1 or 3
    indexes; one band is repeated as grey) they are checked against the raster's count.
    Otherwise: the bands whose colour interpretation is red, green and blue when all three are
    present (so an RGBN or BGR file reads right); else the first three bands; a single-band
    raster is grey. A two-band raster has no default: a RasterError asks for ``bands``. A
    complex-valued band (SAR) is a RasterError naming it: its phase cannot be shown as a
    colour, and dropping the imaginary part silently would be wrong."""
    chosen = _default_bands(info, bands)
    for b in dict.fromkeys(chosen):
        dtype = info.dtypes[b - 1]
        if dtype.startswith("complex"):
            raise RasterError(
                f"{info.path}: band {b} is complex ({dtype}); write its magnitude to a new "
                "raster first (e.g. gdal_calc.py -A in.tif --calc='abs(A)') or choose other bands"
            )
    return chosen


def _default_bands(info: RasterInfo, bands: str | Sequence[int] | None) -> tuple[int, ...]:
    chosen = parse_bands(bands)
    if chosen is not None:
        missing = [b for b in chosen if b > info.count]
        if missing:
            raise RasterError(
                f"{info.path}: band {missing[0]} does not exist (the raster has {info.count} "
                f"band{'s' if info.count != 1 else ''})"
            )
        return chosen * 3 if len(chosen) == 1 else chosen
    interp = [c.lower() for c in info.colorinterp]
    if all(c in interp for c in ("red", "green", "blue")):
        return tuple(interp.index(c) + 1 for c in ("red", "green", "blue"))
    if info.count >= 3:
        return (1, 2, 3)
    if info.count == 1:
        return (1, 1, 1)
    raise RasterError(
        f"{info.path}: {info.count} bands and no colour interpretation; choose them with "
        "bands (e.g. --bands 1,2,1 or --bands 1)"
    )


def stretch_limits(
    ds, bands: Sequence[int], percentiles: Sequence[float] = (2.0, 98.0), max_pixels: int = 1 << 20
) -> list[tuple[float, float]]:
    """Per band, the ``(low, high)`` values that the 8-bit image maps to 0 and 255: the
    ``percentiles`` of the band's valid pixels. A raster of at most ``max_pixels`` pixels is
    read whole; a larger one through a regular grid of full-resolution 128-px samples, about
    ``max_pixels`` pixels in all, spread over the raster (never the whole raster: a
    decimated read of a pixel-interleaved GeoTIFF decodes every block and took 18 s on a
    3,000² raster in ``make bench``, the samples well under a second). A band with no valid
    pixel, or one constant value, gets ``(v, v + 1)``."""
    from rasterio.windows import Window

    unique = list(dict.fromkeys(bands))
    if ds.width * ds.height <= max_pixels:
        windows = [Window(0, 0, ds.width, ds.height)]
    else:
        side = 128
        k = max(1, int(math.sqrt(max_pixels / side**2)))
        cols = np.linspace(0, max(0, ds.width - side), k).round().astype(int)
        rows = np.linspace(0, max(0, ds.height - side), k).round().astype(int)
        windows = [
            Window(int(c), int(r), min(side, ds.width), min(side, ds.height))
            for r in dict.fromkeys(rows.tolist())
            for c in dict.fromkeys(cols.tolist())
        ]
    values: list[list[np.ndarray]] = [[] for _ in unique]
    for win in windows:
        arr = ds.read(unique, window=win, masked=True)
        for i in range(len(unique)):
            v = np.asarray(arr[i].compressed(), dtype=np.float64)
            values[i].append(v[np.isfinite(v)])
    limits = {}
    for b, parts in zip(unique, values, strict=True):
        valid = np.concatenate(parts) if parts else np.empty(0)
        if valid.size == 0:
            limits[b] = (0.0, 1.0)
            continue
        lo, hi = (float(v) for v in np.percentile(valid, list(percentiles)))
        limits[b] = (lo, hi) if hi > lo else (lo, lo + 1.0)
    return [limits[b] for b in bands]


def _needs_stretch(info: RasterInfo, bands: Sequence[int], stretch: str) -> bool:
    if stretch not in ("auto", "percentile", "none"):
        raise RasterError(f"stretch: expected 'auto', 'percentile' or 'none'; got {stretch!r}")
    if stretch == "auto":
        return any(info.dtypes[b - 1] != "uint8" for b in bands)
    return stretch == "percentile"


# ----------------------------------------------------------------------------- windows


def _offsets(size: int, tile: int, stride: int) -> list[int]:
    if size <= tile:
        return [0]
    offs = list(range(0, size - tile + 1, stride))
    if offs[-1] != size - tile:
        offs.append(size - tile)  # the last window flush with the edge, never past it
    return offs


def plan_windows(
    width: int, height: int, tile: int = DEFAULT_TILE, overlap: float = DEFAULT_OVERLAP
) -> list[Tile]:
    """Windows of ``tile`` × ``tile`` pixels (smaller only where the raster is smaller) that
    cover a ``width`` × ``height`` raster, row by row. Neighbours overlap by at least
    ``overlap`` of a tile (the stride is ``floor(tile · (1 − overlap))``); the last window of
    a row or column is moved back to end at the raster's edge, so none reaches outside it.
    Our design."""
    if width < 1 or height < 1:
        raise RasterError(f"plan_windows: raster size must be positive; got {width} x {height}")
    if tile < 1:
        raise RasterError(f"plan_windows: tile must be >= 1 pixel; got {tile}")
    if not 0.0 <= overlap < 1.0:
        raise RasterError(f"plan_windows: overlap must be in [0, 1); got {overlap}")
    stride = max(1, int(math.floor(tile * (1.0 - overlap))))
    tw, th = min(tile, width), min(tile, height)
    return [
        Tile(c, r, tw, th)
        for r in _offsets(height, tile, stride)
        for c in _offsets(width, tile, stride)
    ]


def _valid(ds, bands: Sequence[int], window, data: np.ndarray, out_shape=None) -> np.ndarray:
    """Where every band read holds data: each band's mask (nodata, alpha or mask band; GDAL's
    per-band masks) keeps the pixel, and its value is finite (NaN without a declared nodata)."""
    unique = list(dict.fromkeys(bands))
    masks = (
        ds.read_masks(unique, window=window, out_shape=out_shape)
        if out_shape is None
        else ds.read_masks(unique, out_shape=(len(unique), *out_shape))
    )
    return (masks > 0).all(axis=0) & np.isfinite(data).all(axis=0)


def read_window(
    ds,
    tile: Tile,
    bands: Sequence[int],
    limits: Sequence[tuple[float, float]] | None = None,
) -> tuple[Image.Image, float]:
    """One window as an 8-bit RGB PIL image and its share of valid pixels. ``bands``: three
    1-based indexes (:func:`choose_bands`); ``limits``: per band ``(low, high)`` of a linear
    stretch to 0–255 (:func:`stretch_limits`), None to take the values as 8-bit (uint8
    rasters). A pixel is valid when every band read holds data there (each band's mask —
    nodata, alpha or mask band — keeps it, and its value is finite); invalid pixels are
    black."""
    from rasterio.windows import Window

    win = Window(tile.col_off, tile.row_off, tile.width, tile.height)
    data = ds.read(list(bands), window=win).astype(np.float32)
    valid = _valid(ds, bands, win, data)
    return Image.fromarray(_to_rgb8(data, valid, limits), mode="RGB"), float(valid.mean())


def _to_rgb8(data: np.ndarray, valid: np.ndarray, limits) -> np.ndarray:
    """``(3, h, w)`` band values → an ``(h, w, 3)`` uint8 image: linearly stretched by
    ``limits`` (per band ``(low, high)`` → 0, 255; None: taken as 8-bit), NaN as 0, invalid
    pixels black."""
    if limits is not None:
        lo = np.asarray([lim[0] for lim in limits], dtype=np.float32)[:, None, None]
        hi = np.asarray([lim[1] for lim in limits], dtype=np.float32)[:, None, None]
        data = (data - lo) / (hi - lo) * 255.0
    data = np.nan_to_num(data, nan=0.0, posinf=255.0, neginf=0.0)
    rgb = np.clip(np.rint(data), 0, 255).astype(np.uint8)
    rgb[:, ~valid] = 0
    return np.moveaxis(rgb, 0, -1)


# ----------------------------------------------------------------------------- what a chapter shows


def valid_share(
    path: str | os.PathLike, bands: str | Sequence[int] | None = None, tile: int = 1024
) -> float:
    """The share of the raster's pixels that hold data in every band read (the rule of
    :func:`read_window`), counted window by window."""
    from rasterio.windows import Window

    with _open(path) as ds:
        info = _info(ds, path)
        chosen = choose_bands(info, bands)
        valid = 0
        for t in plan_windows(info.width, info.height, tile, 0.0):
            w = Window(t.col_off, t.row_off, t.width, t.height)
            data = ds.read(list(dict.fromkeys(chosen)), window=w)
            valid += int(_valid(ds, chosen, w, data).sum())
    return valid / (info.width * info.height)


def describe(info: RasterInfo) -> dict:
    """What a chapter says about a raster, read from it: ``size`` (``"791 × 718 px"``),
    ``pixel`` (the pixel size in map units, e.g. ``"0.1 m"``; ``"unknown"`` without
    georeferencing), ``crs`` (its name, e.g. ``"WGS 84 / UTM zone 17N"``, or
    ``"none"``), ``bands`` and ``dtype``, ``nodata``."""
    from pyproj import CRS

    t = info.transform
    pixel = math.hypot(t.a, t.d)
    if info.georeferenced and info.crs:
        crs = CRS.from_user_input(info.crs)
        unit = crs.axis_info[0].unit_name if crs.axis_info else ""
        unit = {"metre": " m", "meter": " m", "degree": "°"}.get(unit, f" {unit}")
        name = crs.name
    else:
        unit, name = " (map units)", "none"
    return {
        "size": f"{info.width:,} × {info.height:,} px",
        "pixel": f"{pixel:.3g}{unit}" if info.georeferenced else "unknown",
        "crs": name,
        "bands": info.count,
        "dtype": ", ".join(sorted(set(info.dtypes))),
        "nodata": "none" if info.nodata is None else f"{info.nodata:g}",
    }


def read_preview(
    path: str | os.PathLike, bands: str | Sequence[int] | None = None, max_side: int = 1024
):
    """``(image, scale)``: the raster as an 8-bit RGB array read at most ``max_side`` pixels a
    side (one decimated read; bands and stretch as
    :func:`~rsground_lib.geo.grounding.ground_raster` reads them), and the factor from raster
    pixels to the array's pixels (≤ 1) — for figures."""
    import rasterio

    with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB), _open(path) as ds:
        info = _info(ds, path)
        chosen = choose_bands(info, bands)
        scale = min(1.0, max_side / max(info.width, info.height))
        shape = (max(1, round(info.height * scale)), max(1, round(info.width * scale)))
        data = ds.read(list(chosen), out_shape=(3, *shape)).astype(np.float32)
        valid = _valid(ds, chosen, None, data, out_shape=shape)
        limits = stretch_limits(ds, chosen) if _needs_stretch(info, chosen, "auto") else None
    return _to_rgb8(data, valid, limits), scale
