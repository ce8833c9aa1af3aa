"""Grounding a sentence in a raster of any size: windows, map coordinates, GeoJSON.

A grounding model sees one image of a few hundred pixels; a remote-sensing scene is a GeoTIFF
of thousands, in a map projection. This module closes the gap, window by window, never reading
the raster whole:

* :func:`open_raster` / :class:`RasterInfo` — what the file is (size, bands, dtype, nodata,
  CRS, geotransform, whether it is georeferenced at all);
* :func:`choose_bands` — which three bands make the RGB image (RGB, RGBN → RGB, one band →
  grey, or the user's choice); :func:`stretch_limits` — the percentile stretch of uint16 /
  float bands, computed once on full-resolution samples spread over the raster;
* :func:`plan_windows` — overlapping windows of ``tile`` pixels that cover the raster and
  never reach outside it; :func:`read_window` — one window as an 8-bit RGB image, nodata
  masked, with its share of valid pixels;
* :func:`ground_raster` — the sentence grounded in every window (batched,
  :func:`rsground_lib.evaluation.generate_scored`), each answer scored by the mean
  log-probability of its answer tokens, mapped to raster pixels, merged across overlapping
  windows (:func:`merge_candidates`) and the best ``top_k`` kept;
* :func:`pixel_to_map` / :func:`map_to_pixel` / :func:`box_polygon` — raster pixels (x right,
  y down, (0, 0) the top-left corner of the top-left pixel) to the raster's CRS through its
  geotransform, rotation included, and back;
* :func:`answers_frame` / :func:`write_answers` — a GeoDataFrame of the answers and a
  GeoJSON / GeoPackage file for QGIS. A raster without georeferencing still works: the
  geometries are in pixel coordinates, the frame has no CRS and every feature says so
  (``coords`` = ``"pixel"``).

Choosing a window by the answer's own log-probability, and merging overlapping answers, is our
design: the paper grounds whole images of one benchmark size.

Book chapter: "Grounding in a map" (``book/07_geo.py``).
"""

from __future__ import annotations

import math
import os
import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from rsground_lib import boxes, evaluation, metrics, models, prompts
from rsground_lib.data import base_scenes, box_sentences

DEFAULT_TILE = 800
"""Window side in raster pixels (DIOR-RSVG's image size)."""

DEFAULT_OVERLAP = 0.2
"""Share of a window shared with its neighbour along each axis (at least)."""

WRITERS: dict[str, str] = {".geojson": "GeoJSON", ".json": "GeoJSON", ".gpkg": "GPKG"}
"""Output suffix → the OGR driver :func:`write_answers` uses."""

ANSWER_COLUMNS: tuple[str, ...] = (
    "sentence", "rank", "score", "support", "model", "window",
    "px_x1", "px_y1", "px_x2", "px_y2", "coords", "raster",
)  # fmt: skip
"""The attributes of each feature :func:`answers_frame` makes (besides its geometry)."""

GDAL_CACHE_MB = 64
"""GDAL's block cache while a raster is read (MB): windows are read once, so a large cache
would only hold memory."""


class RasterError(ValueError):
    """A raster, band choice or output that cannot be used; the message names the file."""


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


# ----------------------------------------------------------------------------- coordinates


def pixel_to_map(transform, x: float, y: float) -> tuple[float, float]:
    """Raster pixel coordinates (``x`` right, ``y`` down; ``(0, 0)`` is the top-left corner
    of the top-left pixel, ``(0.5, 0.5)`` its centre) → map coordinates in the raster's CRS,
    through the geotransform (an ``affine.Affine``; rotation and shear included)."""
    mx, my = transform @ (float(x), float(y))
    return float(mx), float(my)


def map_to_pixel(transform, mx: float, my: float) -> tuple[float, float]:
    """The inverse of :func:`pixel_to_map`: map coordinates → continuous pixel ``(x, y)``."""
    x, y = ~transform @ (float(mx), float(my))
    return float(x), float(y)


def box_polygon(box: Sequence[float], transform=None):
    """A pixel box ``[x1, y1, x2, y2]`` as a shapely polygon: its four corners mapped through
    ``transform`` (a rotated raster gives a rotated rectangle), or in pixel coordinates when
    ``transform`` is None."""
    from shapely.geometry import Polygon

    x1, y1, x2, y2 = (float(v) for v in box)
    corners = [(x1, y1), (x2, y1), (x2, y2), (x1, y2)]
    if transform is not None:
        corners = [pixel_to_map(transform, x, y) for x, y in corners]
    return Polygon(corners)


# ----------------------------------------------------------------------------- grounding


@dataclass
class Answer:
    """One answer of :func:`ground_raster`: ``box`` in raster pixels, ``score`` (mean
    log-probability of the answer tokens; higher is surer), the window that gave it, how many
    windows gave an overlapping answer (``support``, itself included), and ``rank`` (1 = best)."""

    box: list[float]
    score: float
    tile: Tile
    support: int = 1
    rank: int = 0
    completion: str = ""


@dataclass
class Grounding:
    """What :func:`ground_raster` returns: the sentence, the raster's :class:`RasterInfo`, the
    bands read, the windows planned, those skipped for too little valid data, every window's
    parsed answer (``candidates``) and the kept ``answers`` (best first)."""

    sentence: str
    info: RasterInfo
    bands: tuple[int, ...]
    windows: list[Tile]
    skipped: list[Tile]
    candidates: list[Answer]
    answers: list[Answer]
    unparsed: int = 0
    settings: dict = field(default_factory=dict)


def window_box_to_raster(
    box_model: Sequence[float], tile: Tile, size_model: Sequence[int]
) -> list[float]:
    """A box in the model-input pixels of a window's image → raster pixels: scaled to the
    window (:func:`rsground_lib.boxes.to_original_pixels`), clipped to it, shifted by its
    offset."""
    b = np.asarray(
        boxes.to_original_pixels(box_model, (tile.width, tile.height), tuple(size_model)),
        dtype=float,
    ).ravel()
    b = np.clip(b, [0, 0, 0, 0], [tile.width, tile.height, tile.width, tile.height])
    return [
        float(b[0] + tile.col_off),
        float(b[1] + tile.row_off),
        float(b[2] + tile.col_off),
        float(b[3] + tile.row_off),
    ]


def merge_candidates(
    candidates: Sequence[Answer], iou: float = 0.5, top_k: int = 1
) -> list[Answer]:
    """The best ``top_k`` answers after merging overlaps: candidates sorted by score (ties:
    window order); each is kept unless its box overlaps an already kept one with IoU ≥
    ``iou``, in which case it adds one to that answer's ``support``. Kept answers are ranked
    from 1. Greedy non-maximum suppression, our design."""
    if top_k < 1:
        raise RasterError(f"top_k must be >= 1; got {top_k}")
    order = sorted(range(len(candidates)), key=lambda i: (-candidates[i].score, i))
    kept: list[Answer] = []
    for i in order:
        c = candidates[i]
        hit = next(
            (k for k in kept if float(boxes.iou(np.asarray(k.box), np.asarray(c.box))) >= iou),
            None,
        )
        if hit is not None:
            hit.support += 1
            continue
        kept.append(Answer(list(c.box), c.score, c.tile, 1, 0, c.completion))
    out = kept[:top_k]
    for r, a in enumerate(out, start=1):
        a.rank = r
    return out


def check_settings(
    *,
    tile: int = DEFAULT_TILE,
    overlap: float = DEFAULT_OVERLAP,
    top_k: int = 1,
    merge_iou: float = 0.5,
    min_valid: float = 0.25,
    batch_size: int = 16,
    stretch: str = "auto",
) -> None:
    """The settings of :func:`ground_raster` checked before anything is read or loaded: a
    RasterError names the first that is out of range and the range."""
    checks = [
        ("tile", tile, isinstance(tile, int) and tile >= 1, "an integer >= 1 (pixels)"),
        ("overlap", overlap, 0.0 <= overlap < 1.0, "in [0, 1)"),
        ("top_k", top_k, isinstance(top_k, int) and top_k >= 1, "an integer >= 1"),
        ("merge_iou", merge_iou, 0.0 < merge_iou <= 1.0, "in (0, 1]"),
        ("min_valid", min_valid, 0.0 <= min_valid <= 1.0, "in [0, 1]"),
        (
            "batch_size",
            batch_size,
            isinstance(batch_size, int) and batch_size >= 1,
            "an integer >= 1",
        ),
        (
            "stretch",
            stretch,
            stretch in ("auto", "percentile", "none"),
            "'auto', 'percentile' or 'none'",
        ),
    ]
    for name, value, ok, expected in checks:
        if not ok:
            raise RasterError(f"{name} must be {expected}; got {value!r}")


def check_output(out: str | os.PathLike) -> tuple[Path, str]:
    """``(path, driver)`` for an answers file, checked before any work: the suffix must be one
    :data:`WRITERS` knows, and the folder must exist (or be creatable) and be writable; a
    RasterError names the path otherwise."""
    out = Path(out)
    driver = WRITERS.get(out.suffix.lower())
    if driver is None:
        raise RasterError(
            f"{out}: cannot write {out.suffix or 'a file without suffix'!r}; use one of "
            + ", ".join(sorted(WRITERS))
        )
    if out.is_dir():
        raise RasterError(
            f"{out}: is a folder; give a file name ending in .geojson, .json or .gpkg"
        )
    folder = out.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise RasterError(f"{out}: its folder cannot be created ({err.strerror or err})") from err
    if not os.access(folder, os.W_OK | os.X_OK):
        raise RasterError(f"{out}: its folder {folder} is not writable")
    return out, driver


def model_tile(processor) -> int:
    """The window side that suits a model: the side of its input for a
    :data:`DEFAULT_TILE`-pixel square (the tiny models squash every image to 64 px, so 64),
    at most :data:`DEFAULT_TILE` (Qwen2.5-VL takes 800 px as DIOR-RSVG's images)."""
    w, h = models.model_image_size(processor, DEFAULT_TILE, DEFAULT_TILE)
    return int(min(DEFAULT_TILE, w, h))


def clean_sentence(sentence: str) -> str:
    """The sentence with runs of whitespace collapsed; an empty one is a RasterError."""
    text = " ".join(str(sentence).split())
    if not text:
        raise RasterError("sentence is empty: say what to find, e.g. 'the largest tree'")
    return text


def check_sentence_fits(sentence: str, model, processor, *, max_new_tokens: int) -> int:
    """The sentence's token count, or a RasterError when the sentence alone and the answer
    budget exceed the positions the model reads (``max_position_embeddings`` of its text
    model): a 120 KB sentence would otherwise take minutes before failing deep inside the
    model. Checked before any window is read."""
    n = len(processor.tokenizer(sentence, add_special_tokens=False)["input_ids"])
    config = getattr(model.config, "text_config", None) or model.config
    limit = getattr(config, "max_position_embeddings", None)
    if limit is not None and n + max_new_tokens > limit:
        raise RasterError(
            f"sentence: {n:,} tokens ({len(sentence):,} characters); with an answer budget of "
            f"{max_new_tokens} tokens the model reads at most {limit:,} positions, the image's "
            "included: shorten the sentence"
        )
    return n


def ground_raster(
    path: str | os.PathLike,
    sentence: str,
    model,
    processor,
    *,
    tile: int = DEFAULT_TILE,
    overlap: float = DEFAULT_OVERLAP,
    bands: str | Sequence[int] | None = None,
    stretch: str = "auto",
    top_k: int = 1,
    merge_iou: float = 0.5,
    min_valid: float = 0.25,
    batch_size: int = 16,
    max_new_tokens: int = 768,
    prompt_style: str = "full",
    progress: bool = True,
) -> Grounding:
    """Ground ``sentence`` in the raster at ``path`` with ``model``, window by window.

    The raster is cut into :func:`plan_windows` (``tile``, ``overlap``); each window is read
    alone (:func:`read_window`, bands by :func:`choose_bands`, a percentile stretch for
    non-8-bit data by ``stretch``: ``"auto"``, ``"percentile"`` or ``"none"``); windows with
    less than ``min_valid`` valid pixels (nodata borders) are skipped and counted. At most
    ``batch_size`` window images are held at once; the model answers each with a confidence
    (:func:`rsground_lib.evaluation.generate_scored`, ``prompt_style`` as in training: the
    tiny models use ``"compact"``). Each parsed answer becomes a box in raster pixels
    (:func:`window_box_to_raster`); :func:`merge_candidates` keeps the best ``top_k``.
    A tqdm bar over windows goes to stderr when ``progress``.

    Errors name the file: a missing raster (FileNotFoundError), an unreadable one, a band that
    does not exist, an empty sentence or one longer than the model reads
    (:func:`check_sentence_fits`; :class:`RasterError`)."""
    import rasterio
    from tqdm.auto import tqdm

    sentence = clean_sentence(sentence)
    check_settings(
        tile=tile,
        overlap=overlap,
        top_k=top_k,
        merge_iou=merge_iou,
        min_valid=min_valid,
        batch_size=batch_size,
        stretch=stretch,
    )
    check_sentence_fits(sentence, model, processor, max_new_tokens=max_new_tokens)
    with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB), _open(path) as ds:
        info = _info(ds, path)
        chosen = choose_bands(info, bands)
        limits = stretch_limits(ds, chosen) if _needs_stretch(info, chosen, stretch) else None
        windows = plan_windows(info.width, info.height, tile, overlap)
        skipped: list[Tile] = []
        candidates: list[Answer] = []
        unparsed = 0
        bar = tqdm(
            total=len(windows), desc="windows", unit="window", file=sys.stderr, disable=not progress
        )
        try:
            for start in range(0, len(windows), batch_size):
                batch, recs = [], []
                for t in windows[start : start + batch_size]:
                    image, share = read_window(ds, t, chosen, limits)
                    if share < min_valid:
                        skipped.append(t)
                        continue
                    batch.append(t)
                    recs.append(
                        {
                            "image": image,
                            "width": t.width,
                            "height": t.height,
                            "expression": sentence,
                        }
                    )
                if recs:
                    scored = evaluation.generate_scored(
                        model,
                        processor,
                        recs,
                        batch_size=len(recs),
                        max_new_tokens=max_new_tokens,
                        prompt_style=prompt_style,
                    )
                    for t, (text, score) in zip(batch, scored, strict=True):
                        box_model = prompts.parse_answer(text)
                        if box_model is None:
                            unparsed += 1
                            continue
                        size_model = models.model_image_size(processor, t.width, t.height)
                        candidates.append(
                            Answer(
                                window_box_to_raster(box_model, t, size_model),
                                score,
                                t,
                                completion=text,
                            )
                        )
                bar.update(len(windows[start : start + batch_size]))
        finally:
            bar.close()
    answers = merge_candidates(candidates, merge_iou, top_k) if candidates else []
    settings = {
        "tile": tile,
        "overlap": overlap,
        "stretch": stretch,
        "stretch_limits": limits,
        "top_k": top_k,
        "merge_iou": merge_iou,
        "min_valid": min_valid,
        "prompt_style": prompt_style,
    }
    return Grounding(
        sentence, info, chosen, windows, skipped, candidates, answers, unparsed, settings
    )


# ----------------------------------------------------------------------------- output


def answers_frame(results: Grounding | Sequence[Grounding], model_name: str = ""):
    """The answers of one or several groundings (of rasters in one CRS) as a GeoDataFrame,
    one feature per answer (each grounding's best first): the polygon in the raster's CRS (or
    in pixel coordinates when the raster is not georeferenced: no CRS, and ``coords`` says
    ``"pixel"``), with ``sentence``, ``rank``, ``score``, ``support``, ``model``, ``window``
    (``"col_off,row_off,width,height"``), the box in raster pixels (``px_x1 … px_y2``),
    ``coords`` (``"map"``, ``"map (CRS unknown)"`` for a transform without a CRS, or
    ``"pixel"``) and ``raster`` (the file name). Groundings in
    different CRSs, or georeferenced mixed with pixel ones, are a RasterError."""
    import geopandas as gpd

    results = [results] if isinstance(results, Grounding) else list(results)
    kinds = {(r.info.crs if r.info.georeferenced else None, r.info.georeferenced) for r in results}
    if len(kinds) > 1:
        raise RasterError(
            "answers_frame: the rasters are in different coordinate systems ("
            + ", ".join(
                sorted(
                    str(k[0] if k[1] else "pixel") + ("" if k[0] or not k[1] else " (no CRS)")
                    for k in kinds
                )
            )
            + "); write them to separate files"
        )
    rows, geoms = [], []
    for result in results:
        geo_ref = result.info.georeferenced
        for a in result.answers:
            rows.append(
                {
                    "sentence": result.sentence,
                    "rank": a.rank,
                    "score": a.score,
                    "support": a.support,
                    "model": model_name,
                    "window": a.tile.label(),
                    "px_x1": a.box[0],
                    "px_y1": a.box[1],
                    "px_x2": a.box[2],
                    "px_y2": a.box[3],
                    "coords": ("map" if result.info.crs else "map (CRS unknown)")
                    if geo_ref
                    else "pixel",
                    "raster": Path(result.info.path).name,
                }
            )
            geoms.append(box_polygon(a.box, result.info.transform if geo_ref else None))
    crs = next(iter(kinds))[0] if kinds else None
    return gpd.GeoDataFrame(rows, columns=ANSWER_COLUMNS, geometry=geoms, crs=crs)


def write_answers(
    results: Grounding | Sequence[Grounding], out: str | os.PathLike, model_name: str = ""
) -> Path:
    """Write :func:`answers_frame` of ``results`` to ``out``: GeoJSON (``.geojson``, ``.json``) or GeoPackage
    (``.gpkg``), by suffix (:data:`WRITERS`); another suffix is a RasterError naming the
    ones it can write (:func:`check_output`); a file the driver cannot write is a RasterError
    naming it. An existing file is replaced, once the new content is ready. Returns the path. A raster without
    georeferencing gives pixel boxes: they are written to GeoPackage only (it stores "no
    CRS"; the ``coords`` attribute says ``"pixel"``) — GeoJSON is refused, since its readers
    assume WGS 84 (RFC 7946) and would place them near longitude 0, latitude 0."""
    out, driver = check_output(out)
    frame = answers_frame(results, model_name)  # before the old file goes: it may raise
    if driver == "GeoJSON" and len(frame) and (frame["coords"] == "pixel").any():
        raise RasterError(
            f"{out}: the raster has no georeferencing, so the answers are pixel boxes; a "
            "GeoJSON reader would place them at longitude/latitude (RFC 7946 assumes WGS 84): "
            "write a .gpkg instead, which stores 'no CRS'"
        )
    out.unlink(missing_ok=True)  # the GPKG driver would otherwise add a layer
    with warnings.catch_warnings():
        # no CRS is deliberate for a raster without georeferencing: "coords" says "pixel"
        warnings.filterwarnings("ignore", message="'crs' was not provided", category=UserWarning)
        try:
            frame.to_file(out, driver=driver, engine="pyogrio")
        except (RuntimeError, OSError) as err:  # pyogrio's DataSourceError is a RuntimeError
            raise RasterError(f"{out}: could not be written ({err})") from err
    return out


# ----------------------------------------------------------------------------- the chapter's rasters


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


def read_preview(
    path: str | os.PathLike, bands: str | Sequence[int] | None = None, max_side: int = 1024
):
    """``(image, scale)``: the raster as an 8-bit RGB array read at most ``max_side`` pixels a
    side (one decimated read; bands and stretch as :func:`ground_raster` reads them), and the
    factor from raster pixels to the array's pixels (≤ 1) — for figures."""
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


def score_groundings(results: Sequence[Grounding], targets: Sequence[Sequence[float]]) -> dict:
    """How grounding in whole rasters went, against one known target box per raster (raster
    pixels): ``pr@0.5`` and ``mean_iou`` of the top answer (a raster without an answer is a
    miss; :func:`rsground_lib.metrics.grounding_metrics`, DIOR-RSVG's IoU > 0.5),
    ``candidate_recall`` (share of rasters where ANY window's answer has IoU > 0.5: what a
    perfect choice among the windows would score), ``answered``, and the mean numbers of
    windows, skipped windows and unparsed answers per raster."""
    if len(results) != len(targets):
        raise ValueError(f"score_groundings: {len(results)} results for {len(targets)} targets")
    if not results:
        raise ValueError("score_groundings: no results")
    top = [r.answers[0].box if r.answers else None for r in results]
    m = metrics.grounding_metrics(top, np.asarray(targets, dtype=float), preset="dior_rsvg")
    recall = [
        any(
            float(boxes.iou(np.asarray(c.box), np.asarray(t, dtype=float))) > 0.5
            for c in r.candidates
        )
        for r, t in zip(results, targets, strict=True)
    ]
    return {
        "n": len(results),
        "pr@0.5": float(m["pr@0.5"]),
        "mean_iou": float(m["mean_iou"]),
        "candidate_recall": float(np.mean(recall)),
        "answered": float(np.mean([bool(r.answers) for r in results])),
        "windows": float(np.mean([len(r.windows) for r in results])),
        "skipped": float(np.mean([len(r.skipped) for r in results])),
        "unparsed": float(np.mean([r.unparsed for r in results])),
    }


def score_sentences(results: Sequence[Grounding], records: Sequence[dict]) -> list[dict]:
    """One row per sentence grounded in a labelled raster (``records`` as
    :func:`rsground_lib.data.box_sentences.box_sentences` writes them, boxes in raster
    pixels): ``sentence``, ``iou`` of the top answer with the intended box (0 without an
    answer), ``hit`` (IoU > 0.5), ``best_iou_any`` (the top answer's best IoU with any
    labelled object: did it find *an* object?), ``score`` (its confidence; None without an
    answer) and ``windows`` (windows grounded: planned minus skipped)."""
    if len(results) != len(records):
        raise ValueError(f"score_sentences: {len(results)} results for {len(records)} sentences")
    rows = []
    for res, rec in zip(results, records, strict=True):
        top = res.answers[0] if res.answers else None
        iou = (
            float(boxes.iou(np.asarray(top.box), np.asarray(rec["bbox"], dtype=float)))
            if top
            else 0.0
        )
        others = np.asarray(
            [o["bbox"] for o in rec.get("objects", [])] or [rec["bbox"]], dtype=float
        )
        best = float(np.max(boxes.iou(np.asarray(top.box)[None, :], others))) if top else 0.0
        rows.append(
            {
                "sentence": res.sentence,
                "iou": round(iou, 4),
                "hit": iou > 0.5,
                "best_iou_any": round(best, 4),
                "score": round(top.score, 4) if top else None,
                "windows": len(res.windows) - len(res.skipped),
            }
        )
    return rows


def ground_labelled(
    path: str | os.PathLike | None,
    model,
    processor,
    *,
    noun: str,
    tile: int,
    overlap: float,
    **options,
) -> dict | None:
    """Ground every sentence that :func:`rsground_lib.data.box_sentences.box_sentences`
    writes from the labelled boxes of a raster (a Pascal-VOC XML beside it, same stem), and
    score them (:func:`score_sentences`). Returns ``{"info", "objects", "sentences", "results",
    "rows", "hits", "any_object", "n"}`` (``hits``: sentences whose top answer has IoU > 0.5
    with the intended box; ``any_object``: with some labelled box), or None when ``path`` is
    None or absent (no real data on this machine). ``options`` go to :func:`ground_raster`."""
    if path is None or not Path(path).is_file():
        return None
    xml = Path(path).with_suffix(".xml")
    objects = box_sentences.read_boxes(xml)
    size = box_sentences.read_image_size(xml)
    info = open_raster(path)
    if size != (info.width, info.height):
        raise RasterError(
            f"{xml}: labels for a {size[0]} x {size[1]} image, but {path} is "
            f"{info.width} x {info.height}"
        )
    sentences = box_sentences.box_sentences(objects, *size, noun=noun)
    results = [
        ground_raster(
            path, s["expression"], model, processor, tile=tile, overlap=overlap, **options
        )
        for s in sentences
    ]
    rows = score_sentences(results, sentences)
    return {
        "info": info,
        "objects": objects,
        "sentences": sentences,
        "results": results,
        "rows": rows,
        "n": len(rows),
        "hits": sum(r["hit"] for r in rows),
        "any_object": sum(r["best_iou_any"] > 0.5 for r in rows),
    }


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


MAP_TABLE_COLUMNS: tuple[str, ...] = (
    "sentence", "rank", "score", "min_x", "min_y", "max_x", "max_y",
)  # fmt: skip
"""The columns of :func:`map_table`."""


def map_table(frame, *, rank: int | None = None):
    """The features of an answers frame (:func:`answers_frame`, or one read back from a file)
    as a plain table: ``sentence``, ``rank``, ``score`` and the map bounds ``min_x, min_y,
    max_x, max_y`` of each polygon (in the frame's CRS units); only the answers of ``rank``
    when given. A file without any answer (read back from GeoJSON, it has no attribute
    columns at all) gives an empty table with these columns."""
    import pandas as pd

    if len(frame) == 0:
        return pd.DataFrame({c: [] for c in MAP_TABLE_COLUMNS})
    if rank is not None:
        frame = frame[frame["rank"] == rank]
    bounds = frame.geometry.bounds
    return pd.DataFrame(
        {
            "sentence": frame["sentence"].to_numpy(),
            "rank": frame["rank"].to_numpy(),
            "score": frame["score"].round(3).to_numpy(),
            "min_x": bounds["minx"].round(2).to_numpy(),
            "min_y": bounds["miny"].round(2).to_numpy(),
            "max_x": bounds["maxx"].round(2).to_numpy(),
            "max_y": bounds["maxy"].round(2).to_numpy(),
        }
    )


def panel(path: str | os.PathLike, *, title: str = "", max_side: int = 1024, **boxes_) -> dict:
    """A panel of :func:`rsground_lib.plotting.raster_panels` for the raster at ``path``: its
    :func:`read_preview` and scale, the ``title``, and the box lists given as keywords
    (``windows``, ``skipped``, ``objects``, ``targets``, ``answers``) in raster pixels."""
    image, scale = read_preview(path, max_side=max_side)
    return {"image": image, "scale": scale, "title": title, **boxes_}
