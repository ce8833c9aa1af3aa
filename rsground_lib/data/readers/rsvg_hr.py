"""RSVG-HR: ``rsvg_hr_{split}.txt``, one ``image,x1,y1,x2,y2,expression`` a line.

The file may also be under ``Annotations/``. No header (a first line ``image,x1,y1,x2,y2``
is ignored and counted), float pixels on 1024×1024 images. Only the first five commas
separate fields, so an expression may contain commas (the official loader keeps only the
last comma-separated field). A coordinate written with a decimal comma (train line 18:
``216,00``) adds a field: it is rejected, naming file and line, unless
``repair_decimal_comma=True``, which reads it as ``216.00`` and counts the repair. Boxes
exceed 1,024 px by up to ~8 px, so the default tolerance is 10 px. One train box is
inverted (``x1 > x2``): always an error (skip it with ``on_error="skip"``).

Coordinates are written with ASCII digits (``"٣"`` or ``"1_00"`` is a bad line). The file
must be UTF-8 (a UTF-8 byte-order mark is dropped, not read into the first image name): a
line holding bytes that are not UTF-8 is one bad record (kind ``"encoding"``, skipped and
counted with ``on_error="skip"``), since every line stands alone; a UTF-16 / UTF-32 file or
a NUL byte is fatal in both modes. So is a file without any data line (empty, or only blank
lines and the header): there is no empty RSVG-HR split.

Book chapter: "Data".
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from rsground_lib import boxes
from rsground_lib.data.readers.common import (
    DEFAULT_IMAGE_SIZE,
    ReadRequest,
    annotation_path,
    image_path,
    make_record,
    number,
    read_text,
    rows_to_dataset,
    text_lines,
    undecodable,
)
from rsground_lib.data.schema import RecordError

_NUMERIC_FIELD = re.compile(r"^\s*[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?\s*$")
_DIGITS = re.compile(r"^\s*[0-9]+\s*$")


def parse_rsvg_hr_line(
    line: str, where: str, *, repair_decimal_comma: bool = False
) -> tuple[str, list[float], str, str | None]:
    """Split one RSVG-HR line ``image,x1,y1,x2,y2,expression`` into its parts.

    Returns ``(image, [x1, y1, x2, y2], expression, repair)`` where ``repair`` describes a
    decimal-comma repair or is ``None``. Only the first five commas separate fields; the
    expression keeps any later comma. Five numeric fields after the image name mean one
    coordinate was written with a decimal comma (``216,00``): that raises
    :class:`RecordError` (kind ``"decimal_comma"``) unless ``repair_decimal_comma=True`` and
    exactly one adjacent pair ``<digits>,<digits>`` explains it, in which case the pair is
    read as ``<digits>.<digits>``. Digits are ASCII ``0-9``; a line holding bytes that were
    not UTF-8 (lone surrogates from :func:`~rsground_lib.data.readers.common.read_text`)
    raises :class:`RecordError` of kind ``"encoding"``.
    """
    bad = undecodable(line)
    if bad is not None:
        raise RecordError(where, "encoding", f"{bad}; expected UTF-8 text")
    parts = line.rstrip("\r\n").split(",")
    if len(parts) < 6:
        raise RecordError(
            where,
            "fields",
            f"expected 'image,x1,y1,x2,y2,expression' (at least 6 comma-separated fields), got {len(parts)}",
        )
    numeric = 0
    for part in parts[1:]:
        if not _NUMERIC_FIELD.match(part):
            break
        numeric += 1
    repair = None
    if numeric == 4:
        coords_text, rest = parts[1:5], parts[5:]
    elif numeric == 5 and len(parts) >= 7:
        tokens = parts[1:6]
        pairs = [i for i in range(4) if _DIGITS.match(tokens[i]) and _DIGITS.match(tokens[i + 1])]
        shown = ",".join(tokens)
        if not repair_decimal_comma:
            raise RecordError(
                where,
                "decimal_comma",
                f"{len(parts)} fields and five numbers ({shown}) where four coordinates are "
                "expected: a coordinate written with a decimal comma? Expected "
                "'image,x1,y1,x2,y2,expression'; pass repair_decimal_comma=True to repair it "
                "or on_error='skip' to drop the line",
            )
        if len(pairs) != 1:
            raise RecordError(
                where,
                "decimal_comma",
                f"five numbers ({shown}) where four are expected and no single "
                "'<digits>,<digits>' pair to repair unambiguously",
            )
        i = pairs[0]
        merged = f"{tokens[i].strip()}.{tokens[i + 1].strip()}"
        coords_text = tokens[:i] + [merged] + tokens[i + 2 :]
        rest = parts[6:]
        repair = f"{where}: read '{tokens[i].strip()},{tokens[i + 1].strip()}' as {merged}"
    elif numeric > 5:
        raise RecordError(
            where, "decimal_comma", f"{numeric} numeric fields where four coordinates are expected"
        )
    elif 1 + numeric >= len(parts):
        raise RecordError(
            where,
            "fields",
            f"{numeric} numbers and no expression after them: expected "
            "'image,x1,y1,x2,y2,expression' (a decimal-comma coordinate on a line without "
            "expression?)",
        )
    else:
        bad = parts[1 + numeric]
        raise RecordError(where, "bbox", f"coordinate {numeric + 1} must be a number, got {bad!r}")
    coords = [number(t, f"coordinate {k + 1}", where) for k, t in enumerate(coords_text)]
    image = parts[0].strip()
    expression = ",".join(rest).strip()
    return image, coords, expression, repair


def read_rsvg_hr(
    req: ReadRequest,
    *,
    annotation_file: str | Path | None = None,
    image_size: tuple[int, int] = DEFAULT_IMAGE_SIZE["rsvg_hr"],
    repair_decimal_comma: bool = False,
):
    """The ``rsvg_hr`` reader. The file is ``annotation_file``, else ``rsvg_hr_{split}.txt``
    or ``Annotations/rsvg_hr_{split}.txt`` in ``req.root`` (or ``req.root`` itself); images
    default to ``images/`` beside it. Blank lines and a header line are ignored and counted;
    a repair is counted only when its row is kept. A file without any other line is an error
    (``ValueError`` naming it)."""
    assert req.root is not None
    split, col = req.split, req.collector
    path = annotation_path(
        req.root,
        annotation_file,
        [f"rsvg_hr_{split}.txt", f"Annotations/rsvg_hr_{split}.txt"],
        req.name,
    )
    req.report.source = str(path)
    images_dir = req.images("images")
    image_size = boxes.as_size(image_size)
    repair_decimal_comma = bool(repair_decimal_comma)
    lines = text_lines(read_text(path, "'image,x1,y1,x2,y2,expression' lines"))
    index = 0
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            col.report.ignored["blank"] += 1
            continue
        first = [p.strip().lower() for p in line.split(",")[:5]]
        if lineno == 1 and first == ["image", "x1", "y1", "x2", "y2"]:
            col.report.ignored["header"] += 1
            continue
        where = f"{path.name} line {lineno}"
        row_index = index
        index += 1

        repair_note: list[str | None] = [None]  # set by build(); counted once the row is kept

        def build(
            line: str = line,
            where: str = where,
            row_index: int = row_index,
            repair_note: list[str | None] = repair_note,
        ) -> dict[str, Any]:
            image, coords, expression, repair = parse_rsvg_hr_line(
                line, where, repair_decimal_comma=repair_decimal_comma
            )
            repair_note[0] = repair
            return make_record(
                dataset="rsvg_hr",
                split=split,
                index=row_index,
                image=image_path(images_dir, image, where),
                size=image_size,
                expression=expression,
                bbox=coords,
                category=None,
                source=f"{path.name}:{where.rsplit(' ', 1)[-1]}",
                where=where,
            )

        before = len(col.rows)
        col.add(build, where)
        if repair_note[0] is not None and len(col.rows) > before:
            col.report.count_repair("decimal_comma", repair_note[0])
    if index == 0:
        raise ValueError(
            f"{path}: no annotation line ({len(lines)} line(s), all blank or the header); "
            "expected 'image,x1,y1,x2,y2,expression' lines"
        )
    return rows_to_dataset(req)
