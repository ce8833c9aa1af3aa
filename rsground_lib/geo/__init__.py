"""Grounding a sentence in a raster of any size: windows, map coordinates, GeoJSON.

A grounding model sees one image of a few hundred pixels; a remote-sensing scene is a GeoTIFF
of thousands, in a map projection. This package closes the gap, window by window, never
reading the raster whole. Its modules, by concern (every public name is also importable from
the package: ``geo.ground_raster``):

* :mod:`~rsground_lib.geo.raster` — :func:`open_raster` / :class:`RasterInfo`: what the file
  is (size, bands, dtype, nodata, CRS, geotransform, whether it is georeferenced at all);
  :func:`choose_bands`: which three bands make the RGB image (RGB, RGBN → RGB, one band →
  grey, or the user's choice); :func:`stretch_limits`: the percentile stretch of uint16 /
  float bands, computed once on full-resolution samples spread over the raster;
  :func:`plan_windows`: overlapping windows of ``tile`` pixels that cover the raster and never
  reach outside it; :func:`read_window`: one window as an 8-bit RGB image, nodata masked,
  with its share of valid pixels;
* :mod:`~rsground_lib.geo.coords` — :func:`pixel_to_map` / :func:`map_to_pixel` /
  :func:`box_polygon`: raster pixels (x right, y down, (0, 0) the top-left corner of the
  top-left pixel) to the raster's CRS through its geotransform, rotation included, and back;
* :mod:`~rsground_lib.geo.grounding` — :class:`GroundingSettings`: the settings of a
  grounding, stated once (defaults, ranges, help; the options of ``rsground ground``);
  :func:`ground_raster`: the sentence grounded in every window (batched,
  :func:`rsground_lib.generation.generate_scored`), each answer scored by the mean
  log-probability of its answer tokens, mapped to raster pixels, merged across overlapping
  windows (:func:`merge_candidates`) and the best ``top_k`` kept;
* :mod:`~rsground_lib.geo.writers` — :func:`answers_frame` / :func:`write_answers`: a
  GeoDataFrame of the answers and a GeoJSON / GeoPackage file for QGIS. A raster without
  georeferencing still works: the geometries are in pixel coordinates, the frame has no CRS
  and every feature says so (``coords`` = ``"pixel"``).

The chapter's synthetic rasters, whose targets are known, are made by
:mod:`rsground_lib.data.scene_raster` (which also defines :class:`RasterError`).

Choosing a window by the answer's own log-probability, and merging overlapping answers, is our
design: the paper grounds whole images of one benchmark size.

Book chapter: "Grounding in a map" (``book/07_geo.py``).
"""

from __future__ import annotations

from rsground_lib.geo import coords, grounding, raster, writers
from rsground_lib.geo.coords import box_polygon, map_to_pixel, pixel_to_map, window_box_to_raster
from rsground_lib.geo.grounding import (
    Answer,
    Grounding,
    GroundingSettings,
    check_sentence_fits,
    clean_sentence,
    distinct_answers,
    ground_labelled,
    ground_raster,
    merge_candidates,
    model_tile,
    score_groundings,
    score_sentences,
)
from rsground_lib.geo.raster import (
    DEFAULT_OVERLAP,
    DEFAULT_TILE,
    GDAL_CACHE_MB,
    RasterError,
    RasterInfo,
    Tile,
    choose_bands,
    describe,
    open_raster,
    parse_bands,
    plan_windows,
    read_preview,
    read_window,
    stretch_limits,
    valid_share,
)
from rsground_lib.geo.writers import (
    ANSWER_COLUMNS,
    MAP_TABLE_COLUMNS,
    WRITERS,
    answers_frame,
    check_output,
    map_table,
    panel,
    write_answers,
)

__all__ = [
    "ANSWER_COLUMNS",
    "DEFAULT_OVERLAP",
    "DEFAULT_TILE",
    "GDAL_CACHE_MB",
    "MAP_TABLE_COLUMNS",
    "WRITERS",
    "Answer",
    "Grounding",
    "GroundingSettings",
    "RasterError",
    "RasterInfo",
    "Tile",
    "answers_frame",
    "box_polygon",
    "check_output",
    "check_sentence_fits",
    "choose_bands",
    "clean_sentence",
    "coords",
    "describe",
    "ground_labelled",
    "ground_raster",
    "grounding",
    "map_table",
    "map_to_pixel",
    "merge_candidates",
    "model_tile",
    "open_raster",
    "panel",
    "parse_bands",
    "pixel_to_map",
    "plan_windows",
    "raster",
    "read_preview",
    "read_window",
    "score_groundings",
    "score_sentences",
    "distinct_answers",
    "stretch_limits",
    "valid_share",
    "window_box_to_raster",
    "write_answers",
    "writers",
]
