"""OPT-RSVG: the DIOR-RSVG scheme (VOC XML + split files of global object indices).

Boxes are float and 0-based, images of any size (up to ~9,000 px) whose size must be in
``<size>``: there is no default. It has 42 zero-width boxes, kept by default (the
``degenerate`` policy of :func:`rsground_lib.data.schema.validate_record`). The XML and split
handling is :func:`rsground_lib.data.readers.dior_rsvg.read_voc_benchmark`.

Book chapter: "Data".
"""

from __future__ import annotations

from pathlib import Path

from rsground_lib.data.readers.common import ReadRequest
from rsground_lib.data.readers.dior_rsvg import read_voc_benchmark


def read_opt_rsvg(
    req: ReadRequest,
    *,
    annotations_dir: str | Path = "Annotations",
    split_file: str | Path | None = None,
    default_image_size: tuple[int, int] | None = None,
):
    """The ``opt_rsvg`` reader: :func:`read_voc_benchmark`, no default image size."""
    return read_voc_benchmark(
        req,
        dataset="opt_rsvg",
        annotations_dir=annotations_dir,
        split_file=split_file,
        default_image_size=default_image_size,
    )
