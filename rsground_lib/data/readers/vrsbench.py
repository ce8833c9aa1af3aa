"""VRSBench: the official grounding evaluation JSON (``VRSBench_EVAL_referring.json``).

A JSON list of ``{"image_id", "question", "ground_truth": "{<x1><y1><x2><y2>}", "unique",
"obj_cls", "question_id", "type": "ref", ...}``. The box is on a 0–100 grid over the 512×512
patch (VRSBench truncates ``int(100 * x / 512)``); pixels = grid × 512 / 100, no ``+1``
(VRSBench's own metric is inclusive on the grid: see :mod:`rsground_lib.boxes`). ``unique``
becomes a column. Entries whose ``type`` is not ``"ref"`` are skipped and counted. Field
names are a parameter (:data:`VRSBENCH_FIELDS`). Box numbers are ASCII digits (``"<٣>"`` is a
bad box). Fatal in both ``on_error`` modes, naming the file: malformed JSON, a file that is
not UTF-8 (line and column of the first bad byte; a UTF-16 file is named as such), JSON
nested too deeply to parse, an empty list (there is no empty VRSBench split) — see
:func:`~rsground_lib.data.readers.common.read_json_list`. A number too large for a float is
one bad record.

Book chapter: "Data".
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rsground_lib.data.readers.common import (
    ReadRequest,
    annotation_path,
    check_json_record,
    image_path,
    make_record,
    read_json_list,
    rows_to_dataset,
    shown,
)
from rsground_lib.data.schema import RecordError, SkipRecord

VRSBENCH_FIELDS: dict[str, tuple[str, ...]] = {
    "image": ("image_id", "image"),
    "expression": ("question", "referring_sentence", "expression"),
    "bbox": ("ground_truth", "bbox"),
    "unique": ("unique", "is_unique"),
    "category": ("obj_cls", "category"),
    "question_id": ("question_id",),
    "type": ("type",),
}
"""For each role, the VRSBench field names tried in order (the first present wins)."""

_VRS_BOX = re.compile(
    r"^\s*\{\s*" + r"\s*".join([r"<\s*([-+]?[0-9]+(?:\.[0-9]+)?)\s*>"] * 4) + r"\s*\}\s*$"
)


def parse_vrsbench_box(
    text: Any, where: str = "box", *, grid_size: float = 100.0, patch_size_px: float = 512.0
) -> list[float]:
    """``"{<x1><y1><x2><y2>}"`` on VRSBench's 0–``grid_size`` grid → pixels of the patch.

    Pixels are ``grid × patch_size_px / grid_size`` (×5.12 by default), no ``+1``. Raises
    :class:`RecordError` (kind ``"bbox"``) naming ``where`` for anything else — an oriented
    box (``|<angle>``), fewer numbers, values off the grid.
    """
    if not isinstance(text, str):
        raise RecordError(
            where, "bbox", f"expected a box string '{{<x1><y1><x2><y2>}}', got {shown(text)}"
        )
    match = _VRS_BOX.match(text)
    if match is None:
        raise RecordError(
            where,
            "bbox",
            f"expected a box string '{{<x1><y1><x2><y2>}}' (ASCII digits) on the "
            f"0-{grid_size:g} grid, got {shown(text)}",
        )
    grid = [float(v) for v in match.groups()]
    if any(v < 0 or v > grid_size for v in grid):
        raise RecordError(where, "bbox", f"box {shown(text)} leaves the 0-{grid_size:g} grid")
    scale = patch_size_px / grid_size
    return [v * scale for v in grid]


def _field(entry: Mapping[str, Any], names: tuple[str, ...]) -> tuple[str | None, Any]:
    for name in names:
        if name in entry:
            return name, entry[name]
    return None, None


def read_vrsbench(
    req: ReadRequest,
    *,
    annotation_file: str | Path | None = None,
    fields: Mapping[str, str | tuple[str, ...]] | None = None,
    patch_size_px: int = 512,
    grid_size: float = 100.0,
):
    """The ``vrsbench`` reader. The file is ``annotation_file``, else
    ``VRSBench_EVAL_referring.json`` or ``vrsbench_{split}.json`` in ``req.root`` (or
    ``req.root`` itself); images default to ``images/`` beside it. ``fields`` overrides the
    names of some roles of :data:`VRSBENCH_FIELDS`."""
    assert req.root is not None
    split, col = req.split, req.collector
    path = annotation_path(
        req.root,
        annotation_file,
        ["VRSBench_EVAL_referring.json", f"vrsbench_{split}.json"],
        req.name,
    )
    req.report.source = str(path)
    images_dir = req.images("images")
    patch_size_px = int(patch_size_px)
    grid_size = float(grid_size)
    fields = fields or {}
    entries = read_json_list(path)
    unknown_roles = set(fields) - set(VRSBENCH_FIELDS)
    if unknown_roles:
        raise ValueError(
            f"fields has unknown role(s) {sorted(unknown_roles)}; roles: {sorted(VRSBENCH_FIELDS)}"
        )
    roles = {
        **VRSBENCH_FIELDS,
        **{k: (v,) if isinstance(v, str) else tuple(v) for k, v in fields.items()},
    }
    for index, entry in enumerate(entries):
        where = f"{path.name} record {index}"

        def build(entry: Any = entry, index: int = index, where: str = where) -> dict[str, Any]:
            check_json_record(entry, where)
            _, kind = _field(entry, roles["type"])
            if kind is not None and kind != "ref":
                raise SkipRecord(
                    where, "not_ref", f"type is {shown(kind)}, not a referring ('ref') entry"
                )
            image_key, image = _field(entry, roles["image"])
            if image_key is None:
                raise RecordError(where, "missing", f"no image field (tried {roles['image']})")
            expr_key, expression = _field(entry, roles["expression"])
            if expr_key is None:
                raise RecordError(
                    where, "missing", f"no expression field (tried {roles['expression']})"
                )
            box_key, box_text = _field(entry, roles["bbox"])
            if box_key is None:
                raise RecordError(where, "missing", f"no box field (tried {roles['bbox']})")
            bbox = parse_vrsbench_box(
                box_text, where, grid_size=grid_size, patch_size_px=patch_size_px
            )
            _, unique = _field(entry, roles["unique"])
            if unique is not None and not isinstance(unique, bool):
                raise RecordError(where, "type", f"unique must be true/false, got {shown(unique)}")
            _, category = _field(entry, roles["category"])
            if category is not None and not isinstance(category, str):
                raise RecordError(
                    where, "type", f"category must be a string, got {shown(category)}"
                )
            _, question_id = _field(entry, roles["question_id"])
            rec = make_record(
                dataset="vrsbench",
                split=split,
                index=index,
                image=image_path(images_dir, image, where),
                size=(patch_size_px, patch_size_px),
                expression=expression,
                bbox=bbox,
                category=category,
                source=f"{path.name}[{index}]"
                + (f" question_id {shown(question_id)}" if question_id is not None else ""),
                where=where,
            )
            rec["unique"] = unique
            return rec

        col.add(build, where)
    return rows_to_dataset(req)
