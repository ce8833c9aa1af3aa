"""The JSON-records shape: a list of ``{"image", "bbox", "expression"}`` (optional ``"category"``).

``bbox`` is ``[x1, y1, x2, y2]`` in pixels — the shape of the shared DIOR-RSVG and VRSBench
records. The file says neither the dataset nor the image size, so the caller does:
``load_benchmark("records", folder, "test", dataset="dior_rsvg")`` (image size defaults per
dataset: DIOR-RSVG 800×800, VRSBench 512×512, RSVG-HR 1024×1024; or pass ``image_size`` as a
``(w, h)`` tuple, a mapping image name → ``(w, h)``, or a callable). The file is ``root``
itself, ``root/{split}.json`` or ``root/records_{split}.json``.

Fatal in both ``on_error`` modes, naming the file
(:func:`~rsground_lib.data.readers.common.read_json_list`): malformed JSON, a file that is
not UTF-8 (line and column of the first bad byte; a UTF-16 file is named as such), JSON
nested too deeply to parse, an empty list (an empty split is a wrong or truncated file). A
bbox number beyond the float range (a 400-digit integer) is one bad record (file and record
named; skipped with ``on_error="skip"``).

Note: 4,399 of the 16,159 shared VRSBench records have boxes beyond the 512-px patch (up to
962.56 px), which the official file (clamped to the 0–100 grid) cannot hold; they are
refused by default (``outside="keep"`` keeps and counts them). Those on DIOR-derived images
(names like ``05864_0000.png``) reach 798.72 px, as if those images were 800×800 rather than
512×512 patches; the DOTA-derived ones (``P0003_0004.png``) reach 962.56 px. Unverified
without the images: check the image sizes before trusting these boxes.

Book chapter: "Data".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from rsground_lib import boxes
from rsground_lib.data.readers.common import (
    DEFAULT_IMAGE_SIZE,
    ReadRequest,
    annotation_path,
    check_json_record,
    image_path,
    json_number,
    make_record,
    read_json_list,
    rows_to_dataset,
    shown,
)
from rsground_lib.data.schema import RecordError

ImageSize = tuple[int, int] | Mapping[str, tuple[int, int]] | Callable[[str], tuple[int, int]]


def size_lookup(
    image_size: ImageSize | None, dataset: str
) -> Callable[[str, str], tuple[int, int]]:
    """A function ``(image name, where) → (width, height)`` from ``image_size`` (a fixed
    size, a mapping or a callable; ``None``: the dataset's default). Sizes that are not two
    positive ints raise :class:`RecordError` naming ``where``."""
    if image_size is None:
        if dataset not in DEFAULT_IMAGE_SIZE:
            raise ValueError(
                f"records of dataset {dataset!r}: pass image_size=(width, height), a mapping "
                f"image name -> (width, height) or a callable (defaults exist for "
                f"{sorted(DEFAULT_IMAGE_SIZE)})"
            )
        image_size = DEFAULT_IMAGE_SIZE[dataset]
    if isinstance(image_size, (tuple, list)):
        fixed = tuple(image_size)

        def lookup(name: str, where: str) -> tuple[int, int]:
            return fixed

    elif isinstance(image_size, Mapping):
        table = image_size

        def lookup(name: str, where: str) -> tuple[int, int]:
            if name not in table:
                raise RecordError(
                    where, "size", f"image {shown(name)} not in the image_size mapping"
                )
            return table[name]

    elif callable(image_size):
        func = image_size

        def lookup(name: str, where: str) -> tuple[int, int]:
            return func(name)

    else:
        raise TypeError(
            f"image_size must be a (w, h) tuple, a mapping or a callable, got {type(image_size).__name__}"
        )

    def checked(name: str, where: str) -> tuple[int, int]:
        size = lookup(name, where)
        try:
            return boxes.as_size(size)
        except ValueError:
            raise RecordError(
                where,
                "size",
                f"image size for {shown(name)} must be (width, height) positive ints, got "
                f"{shown(size)}",
            ) from None

    return checked


def read_records(
    req: ReadRequest,
    *,
    dataset: str,
    image_size: ImageSize | None = None,
    annotation_file: str | Path | None = None,
):
    """The ``records`` reader; ``dataset`` (required) labels the records and picks the
    default image size. Images default to ``images/`` beside the file."""
    assert req.root is not None
    split, col = req.split, req.collector
    path = annotation_path(
        req.root, annotation_file, [f"{split}.json", f"records_{split}.json"], req.name
    )
    req.report.source = str(path)
    images_dir = req.images("images")
    size_of = size_lookup(image_size, dataset)
    entries = read_json_list(path)
    for index, entry in enumerate(entries):
        where = f"{path.name} record {index}"

        def build(entry: Any = entry, index: int = index, where: str = where) -> dict[str, Any]:
            check_json_record(entry, where)
            missing = [k for k in ("image", "bbox", "expression") if k not in entry]
            if missing:
                raise RecordError(
                    where,
                    "missing",
                    f"missing key(s) {missing}; expected {{'image', 'bbox', 'expression'}}",
                )
            bbox = entry["bbox"]
            if not isinstance(bbox, list) or len(bbox) != 4:
                raise RecordError(
                    where, "bbox", f"bbox must be [x1, y1, x2, y2] pixels, got {shown(bbox)}"
                )
            coords = [json_number(v, f"bbox[{k}]", where) for k, v in enumerate(bbox)]
            category = entry.get("category")
            if category is not None and not isinstance(category, str):
                raise RecordError(
                    where, "type", f"category must be a string, got {shown(category)}"
                )
            return make_record(
                dataset=dataset,
                split=split,
                index=index,
                image=image_path(images_dir, entry["image"], where),
                size=size_of(entry["image"].strip(), where),
                expression=entry["expression"],
                bbox=coords,
                category=category,
                source=f"{path.name}[{index}]",
                where=where,
            )

        col.add(build, where)
    return rows_to_dataset(req)
