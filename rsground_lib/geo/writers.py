"""What leaves the package: the answers as a GeoDataFrame and a GeoJSON / GeoPackage file for
QGIS, a plain table of their map bounds, and a figure panel of a raster.

* :func:`check_output` — an answers file's path and driver, checked before any work;
* :func:`answers_frame` / :func:`write_answers` — a GeoDataFrame of the answers and a
  GeoJSON / GeoPackage file. A raster without georeferencing still works: the geometries are
  in pixel coordinates, the frame has no CRS and every feature says so (``coords`` =
  ``"pixel"``);
* :func:`map_table` — the features as a table of map bounds (the chapter's tables);
* :func:`panel` — a raster's preview and boxes for :func:`rsground_lib.plotting.raster_panels`.

geopandas and pandas are imported inside the functions (the ``geo`` extra).

Book chapter: "Grounding in a map" (``book/07_geo.py``).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path

from rsground_lib.geo import coords, grounding, raster

WRITERS: dict[str, str] = {".geojson": "GeoJSON", ".json": "GeoJSON", ".gpkg": "GPKG"}
"""Output suffix → the OGR driver :func:`write_answers` uses."""

ANSWER_COLUMNS: tuple[str, ...] = (
    "sentence", "rank", "score", "support", "model", "window",
    "px_x1", "px_y1", "px_x2", "px_y2", "coords", "raster",
)  # fmt: skip
"""The attributes of each feature :func:`answers_frame` makes (besides its geometry)."""


def check_output(out: str | os.PathLike) -> tuple[Path, str]:
    """``(path, driver)`` for an answers file, checked before any work: the suffix must be one
    :data:`WRITERS` knows, and the folder must exist (or be creatable) and be writable; a
    RasterError names the path otherwise."""
    out = Path(out)
    driver = WRITERS.get(out.suffix.lower())
    if driver is None:
        raise raster.RasterError(
            f"{out}: cannot write {out.suffix or 'a file without suffix'!r}; use one of "
            + ", ".join(sorted(WRITERS))
        )
    if out.is_dir():
        raise raster.RasterError(
            f"{out}: is a folder; give a file name ending in .geojson, .json or .gpkg"
        )
    folder = out.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise raster.RasterError(
            f"{out}: its folder cannot be created ({err.strerror or err})"
        ) from err
    if not os.access(folder, os.W_OK | os.X_OK):
        raise raster.RasterError(f"{out}: its folder {folder} is not writable")
    return out, driver


def answers_frame(
    results: grounding.Grounding | Sequence[grounding.Grounding], model_name: str = ""
):
    """The answers of one or several groundings (of rasters in one CRS) as a GeoDataFrame,
    one feature per answer (each grounding's best first): the polygon in the raster's CRS (or
    in pixel coordinates when the raster is not georeferenced: no CRS, and ``coords`` says
    ``"pixel"``), with ``sentence``, ``rank``, ``score``, ``support``, ``model``, ``window``
    (``"col_off,row_off,width,height"``), the box in raster pixels (``px_x1 … px_y2``),
    ``coords`` (``"map"``, ``"map (CRS unknown)"`` for a transform without a CRS, or
    ``"pixel"``) and ``raster`` (the file name). Groundings in
    different CRSs, or georeferenced mixed with pixel ones, are a RasterError."""
    import geopandas as gpd

    results = [results] if isinstance(results, grounding.Grounding) else list(results)
    kinds = {(r.info.crs if r.info.georeferenced else None, r.info.georeferenced) for r in results}
    if len(kinds) > 1:
        raise raster.RasterError(
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
            geoms.append(coords.box_polygon(a.box, result.info.transform if geo_ref else None))
    crs = next(iter(kinds))[0] if kinds else None
    return gpd.GeoDataFrame(rows, columns=ANSWER_COLUMNS, geometry=geoms, crs=crs)


def write_answers(
    results: grounding.Grounding | Sequence[grounding.Grounding],
    out: str | os.PathLike,
    model_name: str = "",
) -> Path:
    """Write :func:`answers_frame` of ``results`` to ``out``: GeoJSON (``.geojson``,
    ``.json``) or GeoPackage (``.gpkg``), by suffix (:data:`WRITERS`); another suffix is a
    RasterError naming the ones it can write (:func:`check_output`); a file the driver cannot
    write is a RasterError naming it. An existing file is replaced, once the new content is
    ready. Returns the path. A raster without georeferencing gives pixel boxes: they are
    written to GeoPackage only (it stores "no CRS"; the ``coords`` attribute says
    ``"pixel"``) — GeoJSON is refused, since its readers assume WGS 84 (RFC 7946) and would
    place them near longitude 0, latitude 0."""
    out, driver = check_output(out)
    frame = answers_frame(results, model_name)  # before the old file goes: it may raise
    if driver == "GeoJSON" and len(frame) and (frame["coords"] == "pixel").any():
        raise raster.RasterError(
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
            raise raster.RasterError(f"{out}: could not be written ({err})") from err
    return out


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
    :func:`~rsground_lib.geo.raster.read_preview` and scale, the ``title``, and the box lists
    given as keywords (``windows``, ``skipped``, ``objects``, ``targets``, ``answers``) in
    raster pixels."""
    image, scale = raster.read_preview(path, max_side=max_side)
    return {"image": image, "scale": scale, "title": title, **boxes_}
