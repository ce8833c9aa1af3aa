"""Coordinates: raster pixels (x right, y down, ``(0, 0)`` the top-left corner of the top-left
pixel) to the raster's CRS through its geotransform, rotation included, and back; a box found
in a window's model input back to raster pixels.

* :func:`pixel_to_map` / :func:`map_to_pixel` — one point, through an ``affine.Affine``;
* :func:`box_polygon` — a pixel box as a shapely polygon in map (or pixel) coordinates;
* :func:`window_box_to_raster` — a box in a window image's model-input pixels → raster
  pixels.

shapely is imported inside :func:`box_polygon` (the ``geo`` extra).

Book chapter: "Grounding in a map" (``book/07_geo.py``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from rsground_lib import boxes
from rsground_lib.geo import raster


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


def window_box_to_raster(
    box_model: Sequence[float], tile: raster.Tile, size_model: Sequence[int]
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
