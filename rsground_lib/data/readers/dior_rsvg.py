"""DIOR-RSVG: VOC XML annotations and the official split files of global object indices.

Layout: ``root/Annotations/*.xml`` (VOC style: ``<filename>``, ``<size>``, one ``<object>``
per target with ``<name>``, ``<bndbox>`` and ``<description>``) and
``root/{train,val,test}.txt`` holding one integer a line: a *global object index* over all
``<object>`` elements of the **sorted** XML files. The official loader (RSVG-pytorch) walks
the folder in file-system order and reads children by position; we sort the paths and read
children by tag. Boxes are integers, 1-based, in 800×800 images; they are kept **unchanged
as floats** in the continuous convention, exactly as RSVG-pytorch's evaluation uses them
(``[133, 237, 684, 672]`` stays ``[133.0, 237.0, 684.0, 672.0]``; no ``-1``, no ``+1``). The
image size comes from ``<size>`` (800×800 when absent or zero). Rows come in ascending global
index, the official loader's order. Images: ``root/JPEGImages/<filename>``. OPT-RSVG uses
the same scheme (:mod:`rsground_lib.data.readers.opt_rsvg`).

Untrusted XML goes through ``defusedxml`` (:func:`parse_xml`): DTDs, entities and external
references are refused. A malformed or hostile XML file, or an unreadable split file, is
fatal whatever ``on_error`` says: it would shift every later global object index. So is an
empty split file (no index at all: a truncated or wrong file, never a usable split), and a
split file that is not UTF-8 (:func:`read_split_indices`). Numbers are written with ASCII
digits: an index or a ``<size>`` value such as ``"٣"`` or ``"1_00"`` is refused, in the split
file fatally (line named), in the XML as a bad object (file and object named).

Book chapter: "Data".
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import defusedxml
import defusedxml.ElementTree as safe_et

from rsground_lib.data.readers.common import (
    DEFAULT_IMAGE_SIZE,
    ReadRequest,
    image_path,
    make_record,
    number,
    read_text,
    rows_to_dataset,
    shown,
    text_lines,
    undecodable,
)
from rsground_lib.data.schema import MAX_IMAGE_SIDE_PX, RecordError

_INDEX = re.compile(r"[0-9]{1,18}")
"""A global object index: ASCII digits only (``int()`` would also read ``"٣"`` and ``"1_00"``);
18 digits at most, far beyond any annotation folder (and within ``int()``'s digit limit)."""

_SIDE = re.compile(r"[0-9]{1,10}")
"""A ``<size>`` value: ASCII digits, at most 10 (see :data:`MAX_IMAGE_SIDE_PX`)."""


def read_split_indices(path: str | Path) -> list[int]:
    """The global object indices of a DIOR-RSVG / OPT-RSVG split file, in file order.

    Used by the ``dior_rsvg`` / ``opt_rsvg`` readers and by the chapter "Data" to check the
    split (sizes, disjointness, coverage). One non-negative integer a line, written with
    ASCII digits ``0-9`` (at most 18); blank lines are ignored. Anything else raises
    ``ValueError`` naming the file and line: other scripts' digits (``"٣"``), ``"1_00"``, a
    sign, bytes that are not UTF-8 (a UTF-16 file is named as such; a UTF-8 byte-order mark
    is accepted). A file without any index is an error too: a split is never empty, so an
    empty file is a truncated or wrong one. Duplicates are returned as they are (the reader
    decides).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"split file {path} not found (expected one integer a line)")
    expected = "one non-negative integer (a global object index) a line"
    indices: list[int] = []
    for lineno, line in enumerate(text_lines(read_text(path, expected)), start=1):
        bad = undecodable(line)
        if bad is not None:
            raise ValueError(f"{path} line {lineno}: {bad}; expected UTF-8 text, {expected}")
        text = line.strip()
        if not text:
            continue
        if not _INDEX.fullmatch(text):
            raise ValueError(
                f"{path} line {lineno}: expected one non-negative integer (a global object "
                f"index) written with ASCII digits 0-9, got {shown(text)}"
            )
        indices.append(int(text))
    if not indices:
        raise ValueError(f"{path}: empty split file (no index); expected {expected}")
    return indices


def parse_xml(path: str | Path):
    """Parse an untrusted XML file with ``defusedxml`` and return its root element.

    DTDs, entity declarations and external references are refused whatever the file's
    encoding, so nothing is expanded or fetched. Every failure raises ``ValueError`` naming
    the file and what was wrong.
    """
    path = Path(path)
    data = path.read_bytes()
    try:
        return safe_et.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except defusedxml.DefusedXmlException as err:
        raise ValueError(
            f"{path}: refused XML with a DTD / entity / external reference ({type(err).__name__}); "
            "annotation files must be plain XML"
        ) from err
    except safe_et.ParseError as err:
        raise ValueError(f"{path}: malformed XML ({err}); expected a VOC annotation") from err


@dataclass(frozen=True)
class VocObject:
    """One ``<object>`` of a VOC annotation, read by tag. Fields are raw strings or ``None``."""

    xml_name: str
    position: int
    filename: str | None
    width: str | None
    height: str | None
    name: str | None
    xmin: str | None
    ymin: str | None
    xmax: str | None
    ymax: str | None
    description: str | None


def _text(element, tag: str) -> str | None:
    child = element.find(tag) if element is not None else None
    if child is None or child.text is None:
        return None
    return child.text.strip()


def parse_voc_objects(path: str | Path) -> list[VocObject]:
    """Every ``<object>`` of a VOC-style annotation file, children read by tag, in file order.

    Used by the ``dior_rsvg`` / ``opt_rsvg`` readers. Values stay raw strings (``None`` when a
    tag is missing) so the reader can say exactly what is wrong with which object. Malformed
    or hostile XML raises ``ValueError`` (see :func:`parse_xml`).
    """
    path = Path(path)
    root = parse_xml(path)
    if root.tag != "annotation":
        raise ValueError(f"{path}: root element is <{root.tag}>, expected <annotation> (VOC)")
    size = root.find("size")
    objects = []
    for position, obj in enumerate(root.findall("object")):
        box = obj.find("bndbox")
        objects.append(
            VocObject(
                xml_name=path.name,
                position=position,
                filename=_text(root, "filename"),
                width=_text(size, "width"),
                height=_text(size, "height"),
                name=_text(obj, "name"),
                xmin=_text(box, "xmin"),
                ymin=_text(box, "ymin"),
                xmax=_text(box, "xmax"),
                ymax=_text(box, "ymax"),
                description=_text(obj, "description"),
            )
        )
    return objects


def _voc_size(obj: VocObject, default: tuple[int, int] | None, where: str) -> tuple[int, int]:
    sizes = []
    for what, text in (("width", obj.width), ("height", obj.height)):
        if text is None or not text.strip():
            sizes.append(None)
            continue
        if not _SIDE.fullmatch(text) or int(text) > MAX_IMAGE_SIDE_PX:
            raise RecordError(
                where,
                "size",
                f"<size><{what}> must be a positive integer written with ASCII digits 0-9, "
                f"at most {MAX_IMAGE_SIDE_PX}, got {shown(text)}",
            )
        sizes.append(int(text) or None)  # VOC tools sometimes write 0 for "unknown"
    if sizes[0] is not None and sizes[1] is not None:
        return sizes[0], sizes[1]
    if default is not None:
        return default
    raise RecordError(
        where,
        "size",
        "no image size: <size><width>/<height> missing or zero and no default_image_size "
        "given (OPT-RSVG images vary in size, so there is no default)",
    )


def read_voc_benchmark(
    req: ReadRequest,
    *,
    dataset: str,
    annotations_dir: str | Path,
    split_file: str | Path | None,
    default_image_size: tuple[int, int] | None,
):
    """Read a VOC-style benchmark (DIOR-RSVG, OPT-RSVG) folder into a ``datasets.Dataset``.

    ``req.root`` is the folder holding ``annotations_dir`` and ``{split}.txt`` (or
    ``split_file``, relative to the root unless absolute). Duplicate indices and indices
    beyond the annotations are errors, or counted skips with ``on_error="skip"``.
    """
    root, split, col = req.root, req.split, req.collector
    if root is None or not root.is_dir():
        raise NotADirectoryError(
            f"{req.name}: root {root} must be the folder holding Annotations/ and {split}.txt"
        )
    images_dir = req.images("JPEGImages")
    ann_dir = root / annotations_dir
    if split_file is None:
        split_path = root / f"{split}.txt"
    else:
        split_path = Path(split_file)
        if not split_path.is_absolute():
            split_path = root / split_path
    indices = read_split_indices(split_path)
    if not ann_dir.is_dir():
        raise FileNotFoundError(
            f"{dataset}: annotation folder {ann_dir} not found (expected Annotations/*.xml)"
        )
    xml_paths = sorted(ann_dir.glob("*.xml"), key=lambda p: p.name)
    objects: list[VocObject] = []
    for xml_path in xml_paths:
        objects.extend(parse_voc_objects(xml_path))

    counts = Counter(indices)
    duplicates = sorted(i for i, n in counts.items() if n > 1)
    missing = sorted(i for i in counts if i >= len(objects))
    if col.on_error == "raise" and duplicates:
        raise ValueError(
            f"{split_path}: {len(duplicates)} global index(es) appear more than once "
            f"(first: {duplicates[:5]}); expected each object once"
        )
    if col.on_error == "raise" and missing:
        raise ValueError(
            f"{split_path}: {len(missing)} of {len(counts)} indices point beyond the "
            f"{len(objects)} objects of the {len(xml_paths)} sorted {ann_dir}/*.xml files "
            f"(first missing: {missing[:5]}); the annotation folder is incomplete "
            f"(pass on_error='skip' to read the {len(counts) - len(missing)} that exist)"
        )
    for index in duplicates:
        for _ in range(counts[index] - 1):
            col.report.n_read += 1
            col.fail(
                RecordError(
                    f"{split_path.name} index {index}",
                    "duplicate_index",
                    "index listed more than once; kept once",
                )
            )
    for index in missing:
        col.report.n_read += 1
        col.fail(
            RecordError(
                f"{split_path.name} index {index}",
                "index_beyond_annotations",
                f"no such object: the {len(xml_paths)} annotation files hold {len(objects)} objects",
            )
        )

    for index in sorted(i for i in counts if i < len(objects)):
        obj = objects[index]
        where = f"{ann_dir.name}/{obj.xml_name} object {obj.position} (global index {index} of {split_path.name})"

        def build(obj: VocObject = obj, index: int = index, where: str = where) -> dict[str, Any]:
            if obj.filename is None:
                raise RecordError(where, "missing", "missing <filename> (the image file name)")
            coords = [
                number(getattr(obj, tag), f"<bndbox><{tag}>", where)
                for tag in ("xmin", "ymin", "xmax", "ymax")
            ]
            if obj.description is None:
                raise RecordError(
                    where, "missing", "missing <description> (the referring expression)"
                )
            return make_record(
                dataset=dataset,
                split=split,
                index=index,
                image=image_path(images_dir, obj.filename, where),
                size=_voc_size(obj, default_image_size, where),
                expression=obj.description,
                bbox=coords,
                category=obj.name,
                source=f"{ann_dir.name}/{obj.xml_name}#object{obj.position}",
                where=where,
            )

        col.add(build, where)
    req.report.source = str(root)
    return rows_to_dataset(req)


def read_dior_rsvg(
    req: ReadRequest,
    *,
    annotations_dir: str | Path = "Annotations",
    split_file: str | Path | None = None,
    default_image_size: tuple[int, int] | None = DEFAULT_IMAGE_SIZE["dior_rsvg"],
):
    """The ``dior_rsvg`` reader: :func:`read_voc_benchmark` with 800×800 as the default size."""
    return read_voc_benchmark(
        req,
        dataset="dior_rsvg",
        annotations_dir=annotations_dir,
        split_file=split_file,
        default_image_size=default_image_size,
    )
