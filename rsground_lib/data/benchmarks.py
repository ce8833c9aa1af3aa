"""Readers for the real remote-sensing visual-grounding benchmarks, each in its official format.

Book chapter: "Data" (``book/02_data.py``). One entry point, :func:`load_benchmark`, turns
DIOR-RSVG, OPT-RSVG, VRSBench, RSVG-HR, the JSON-records shape and Hugging Face Hub datasets
into a ``datasets.Dataset`` of the common record (:mod:`rsground_lib.data.schema`), with the
positional-cue tags of :func:`rsground_lib.data.cues.tag_cues` in ``cues`` and a stable
``id = "{dataset}/{split}/{index}"``. Images are never opened: the record stores their path
(``check_images=True`` only checks that the files exist). Expressions are stripped and runs of
whitespace collapsed to one space (RSVG-HR has double spaces); nothing else in them changes.

Bad input: every problem names the file, the line / record / object and what was expected.
``on_error="raise"`` (default) stops at the first bad record; ``on_error="skip"`` drops it,
counts it in a :class:`LoadReport` (kinds, counts, the first few reasons), and warns. Problems
that make the rest of the file meaningless are fatal in both modes: an unreadable split file,
a malformed or hostile XML file (it would shift every later global object index), malformed
JSON. Untrusted XML goes through ``defusedxml`` when installed, otherwise through the standard
library's expat parser with handlers that refuse any DOCTYPE / ENTITY declaration (see
:func:`parse_xml`). Nothing is unpickled.

Formats and the choices made for each (the chapter explains them):

``dior_rsvg`` — ``root/Annotations/*.xml`` (VOC style: ``<filename>``, ``<size>``, one
    ``<object>`` per target with ``<name>``, ``<bndbox>`` and ``<description>``) and
    ``root/{train,val,test}.txt`` holding one integer a line: a *global object index* over all
    ``<object>`` elements of the **sorted** XML files. The official loader (RSVG-pytorch) walks
    the folder in file-system order and reads children by position; we sort the paths and read
    children by tag. Boxes are integers, 1-based, in 800×800 images; they are kept **unchanged
    as floats** in the continuous convention, exactly as RSVG-pytorch's evaluation uses them
    (``[133, 237, 684, 672]`` stays ``[133.0, 237.0, 684.0, 672.0]``; no ``-1``, no ``+1``).
    The image size comes from ``<size>`` (800×800 when absent or zero). Rows come in ascending
    global index, the official loader's order. Images: ``root/JPEGImages/<filename>``.
``opt_rsvg`` — the same scheme, float 0-based boxes, images of any size (up to ~9,000 px)
    whose size must be in ``<size>`` (no default). It has 42 zero-width boxes: see
    ``degenerate``.
``vrsbench`` — the official grounding evaluation JSON (``VRSBench_EVAL_referring.json``): a
    list of ``{"image_id", "question", "ground_truth": "{<x1><y1><x2><y2>}", "unique",
    "obj_cls", "question_id", "type": "ref", ...}``. The box is on a 0–100 grid over the 512×512
    patch (VRSBench truncates ``int(100 * x / 512)``); pixels = grid × 512 / 100, no ``+1``
    (VRSBench's own metric is inclusive on the grid: see :mod:`rsground_lib.boxes`). ``unique``
    becomes a column. Field names are a parameter (:data:`VRSBENCH_FIELDS`).
``rsvg_hr`` — ``rsvg_hr_{split}.txt`` (also under ``Annotations/``): ``image,x1,y1,x2,y2,
    expression`` a line, no header, float pixels on 1024×1024 images. Only the first five
    commas separate fields, so an expression may contain commas (the official loader keeps
    only the last comma-separated field). A coordinate written with a decimal comma
    (train line 18: ``216,00``) adds a field: it is rejected, naming file and line, unless
    ``repair_decimal_comma=True``, which reads it as ``216.00`` and counts the repair. Boxes
    exceed 1,024 px by up to ~8 px, so the default tolerance is 10 px. One train box is
    inverted (``x1 > x2``): always an error (skip it with ``on_error="skip"``).
``records`` — a JSON list of ``{"image", "bbox": [x1, y1, x2, y2] pixels, "expression"}``
    (optional ``"category"``), the shape of the shared DIOR-RSVG and VRSBench records. The file
    says neither the dataset nor the image size, so the caller does:
    ``load_benchmark("records", folder, "test", dataset="dior_rsvg")`` (image size defaults per
    dataset: DIOR-RSVG 800×800, VRSBench 512×512, RSVG-HR 1024×1024; or pass ``image_size`` as
    a ``(w, h)`` tuple, a mapping image name → ``(w, h)``, or a callable). The file is
    ``root`` itself, ``root/{split}.json`` or ``root/records_{split}.json``. Note: 4,399 of the
    16,159 shared VRSBench records have boxes beyond the 512-px patch (up to 962.56 px), which
    the official file (clamped to the 0–100 grid) cannot hold; they are refused by default
    (``outside="keep"`` keeps and counts them). Those on DIOR-derived images (names like
    ``05864_0000.png``) reach 798.72 px, as if those images were 800×800 rather than 512×512
    patches; the DOTA-derived ones (``P0003_0004.png``) reach 962.56 px. Unverified without
    the images: check the image sizes before trusting these boxes.
Hub ids (any ``name`` containing ``/``) — ``datasets.load_dataset(name, split=split)``; see
    :func:`load_benchmark`.
"""

from __future__ import annotations

import json
import math
import os
import re
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rsground_lib.data.cues import DOTA_CLASS_PHRASES, tag_cues
from rsground_lib.data.schema import (
    DEFAULT_TOLERANCE_PX,
    RecordError,
    SkipRecord,
    records_to_dataset,
    validate_record,
)

BENCHMARKS: tuple[str, ...] = ("dior_rsvg", "opt_rsvg", "vrsbench", "rsvg_hr", "records")
"""Names :func:`load_benchmark` understands (plus Hub ids / dataset paths containing ``/``)."""

ON_ERROR: tuple[str, ...] = ("raise", "skip")

DEFAULT_IMAGE_SIZE: dict[str, tuple[int, int]] = {
    "dior_rsvg": (800, 800),
    "vrsbench": (512, 512),
    "rsvg_hr": (1024, 1024),
}
"""(width, height) in pixels used when the annotation does not say (OPT-RSVG has none)."""

DEFAULT_TOLERANCE: dict[str, float] = {"rsvg_hr": 10.0}
"""Per-benchmark tolerance (px) for boxes sticking out of the image; others use 1 px."""

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

CUE_IGNORE_PHRASES: dict[str, tuple[str, ...]] = {"vrsbench": DOTA_CLASS_PHRASES}
"""Per dataset, the phrases :func:`~rsground_lib.data.cues.tag_cues` must not read as size
cues: VRSBench uses DOTA's class names "small vehicle" / "large vehicle"; the other
benchmarks have none (in DIOR-RSVG "a small vehicle" is a size cue), so they get ``()``."""

MAX_EXAMPLES = 5
"""How many skip / repair reasons a :class:`LoadReport` keeps verbatim."""


# --------------------------------------------------------------------------------------------
# The report


@dataclass
class LoadReport:
    """What a reader did: records read, kept, skipped (by kind), repaired, and kept oddities.

    Returned by ``load_benchmark(..., return_report=True)`` and summarised in the dataset's
    ``info.description``; book chapter "Data" (``book/02_data.py``) prints it.
    """

    benchmark: str
    split: str
    source: str
    n_read: int = 0
    n_kept: int = 0
    skipped: Counter = field(default_factory=Counter)
    repaired: Counter = field(default_factory=Counter)
    kept_flags: Counter = field(default_factory=Counter)
    ignored: Counter = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)
    missing_images: list[str] = field(default_factory=list)

    @property
    def n_skipped(self) -> int:
        """Total number of records dropped."""
        return sum(self.skipped.values())

    def _example(self, text: str) -> None:
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append(text)

    def count_skip(self, err: RecordError) -> None:
        """Count one dropped record under its error kind and keep its reason if among the first."""
        self.skipped[err.kind] += 1
        self._example(f"skipped: {err}")

    def count_repair(self, kind: str, message: str) -> None:
        """Count one repaired record."""
        self.repaired[kind] += 1
        self._example(f"repaired: {message}")

    def as_dict(self) -> dict[str, Any]:
        """The report as plain JSON-able data."""
        return {
            "benchmark": self.benchmark,
            "split": self.split,
            "source": self.source,
            "n_read": self.n_read,
            "n_kept": self.n_kept,
            "n_skipped": self.n_skipped,
            "skipped": dict(self.skipped),
            "repaired": dict(self.repaired),
            "kept_flags": dict(self.kept_flags),
            "ignored": dict(self.ignored),
            "examples": list(self.examples),
            "missing_images": len(self.missing_images),
        }

    def summary(self) -> str:
        """One human-readable paragraph."""
        parts = [
            f"{self.benchmark}/{self.split} from {self.source}: kept {self.n_kept} of {self.n_read}"
        ]
        if self.skipped:
            parts.append(f"skipped {self.n_skipped} {dict(self.skipped)}")
        if self.repaired:
            parts.append(f"repaired {dict(self.repaired)}")
        if self.kept_flags:
            parts.append(f"kept with flags {dict(self.kept_flags)}")
        if self.ignored:
            parts.append(f"ignored lines {dict(self.ignored)}")
        text = "; ".join(parts)
        if self.examples:
            text += "\n  " + "\n  ".join(self.examples)
        return text


class _Collector:
    """Validates candidate records, applies ``on_error`` and the box policies, fills a report."""

    def __init__(self, report: LoadReport, on_error: str, policy: Mapping[str, Any]):
        self.report = report
        self.on_error = on_error
        self.policy = dict(policy)
        self.rows: list[dict[str, Any]] = []

    def fail(self, err: RecordError) -> None:
        if isinstance(err, SkipRecord):
            self.report.count_skip(err)
        elif self.on_error == "raise":
            raise err
        else:
            self.report.count_skip(err)

    def add(self, build: Callable[[], dict[str, Any]], where: str) -> None:
        self.report.n_read += 1
        try:
            rec = build()
            flags = validate_record(rec, where, **self.policy)
        except RecordError as err:
            self.fail(err)
            return
        for flag in flags:
            self.report.kept_flags[flag] += 1
        self.rows.append(rec)


# --------------------------------------------------------------------------------------------
# Small pure helpers


def _record(
    *,
    dataset: str,
    split: str,
    index: int | str,
    image: str,
    size: tuple[int, int],
    expression: Any,
    bbox: list[float],
    category: str | None,
    source: str,
    where: str,
) -> dict[str, Any]:
    if not isinstance(expression, str) or not expression.strip():
        raise RecordError(
            where, "missing", f"expected a non-empty referring expression, got {expression!r}"
        )
    expression = " ".join(expression.split())
    try:
        width, height = size
        ok = all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0
            for v in (width, height)
        )
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise RecordError(
            where, "size", f"image width/height must be positive numbers, got {size!r}"
        )
    return {
        "id": f"{dataset}/{split}/{index}",
        "dataset": dataset,
        "split": split,
        "image": image,
        "width": int(size[0]),
        "height": int(size[1]),
        "expression": expression,
        "bbox": [float(v) for v in bbox],
        "category": category,
        "cues": tag_cues(expression, ignore_phrases=CUE_IGNORE_PHRASES.get(dataset, ())),
        "source": source,
    }


def _image_path(images_dir: Path, name: Any, where: str) -> str:
    """``images_dir / name`` as an absolute path string; refuses names that leave the folder."""
    if not isinstance(name, str) or not name.strip():
        raise RecordError(where, "missing", f"expected an image file name, got {name!r}")
    name = name.strip()
    pure = Path(name)
    if pure.is_absolute() or ".." in pure.parts or "\\" in name or re.match(r"^[A-Za-z]:", name):
        raise RecordError(
            where, "image", f"image name {name!r} must be a relative path inside the images folder"
        )
    return os.path.abspath(os.path.join(images_dir, name))


def _number(text: Any, what: str, where: str) -> float:
    if text is None:
        raise RecordError(where, "missing", f"missing {what}")
    try:
        value = float(str(text).strip())
    except ValueError:
        raise RecordError(where, "bbox", f"{what} must be a number, got {text!r}") from None
    if not math.isfinite(value):
        raise RecordError(where, "bbox", f"{what} must be finite, got {text!r}")
    return value


def _check_choice(name: str, value: Any, allowed: Iterable[Any]) -> None:
    allowed = tuple(allowed)
    if value not in allowed:
        raise ValueError(f"{name} must be one of {allowed}, got {value!r}")


def read_split_indices(path: str | Path) -> list[int]:
    """The global object indices of a DIOR-RSVG / OPT-RSVG split file, in file order.

    Used by the ``dior_rsvg`` / ``opt_rsvg`` readers and by the chapter "Data"
    (``book/02_data.py``) to check the split (sizes, disjointness, coverage). One non-negative
    integer a line; blank lines are ignored. Anything else raises ``ValueError`` naming the
    file and line. Duplicates are returned as they are (the reader decides).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"split file {path} not found (expected one integer a line)")
    indices: list[int] = []
    with path.open(encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, start=1):
            text = line.strip()
            if not text:
                continue
            if not re.fullmatch(r"\d+", text):
                raise ValueError(
                    f"{path} line {lineno}: expected one non-negative integer (a global object "
                    f"index), got {text!r}"
                )
            indices.append(int(text))
    return indices


# --------------------------------------------------------------------------------------------
# Hardened XML


_DTD_OR_ENTITY = re.compile(rb"<!\s*(?:DOCTYPE|ENTITY)", re.IGNORECASE)


def _defusedxml_available() -> bool:
    try:
        import defusedxml.ElementTree  # noqa: F401
    except ImportError:
        return False
    return True


def parse_xml(path: str | Path, *, use_defusedxml: bool | None = None):
    """Parse an untrusted XML file safely and return its root element.

    Used for the VOC annotations of DIOR-RSVG and OPT-RSVG (book chapter "Data",
    ``book/02_data.py``). With ``defusedxml`` (default when installed) DTDs, entities and
    external references are forbidden; without it (``use_defusedxml=False`` or not installed)
    the standard library's expat parser is given handlers that refuse any DOCTYPE, entity
    declaration or external entity reference (after a quick byte check for ``<!DOCTYPE`` /
    ``<!ENTITY``), so nothing is expanded or fetched whatever the file's encoding. Every failure raises
    ``ValueError`` naming the file and what was wrong.
    """
    path = Path(path)
    data = path.read_bytes()
    if use_defusedxml is None:
        use_defusedxml = _defusedxml_available()
    if use_defusedxml:
        import defusedxml
        import defusedxml.ElementTree as safe_et

        try:
            return safe_et.fromstring(
                data, forbid_dtd=True, forbid_entities=True, forbid_external=True
            )
        except defusedxml.DefusedXmlException as err:
            raise ValueError(
                f"{path}: refused XML with a DTD / entity / external reference ({type(err).__name__}); "
                "annotation files must be plain XML"
            ) from err
        except safe_et.ParseError as err:
            raise ValueError(f"{path}: malformed XML ({err}); expected a VOC annotation") from err
    import xml.etree.ElementTree as std_et
    from xml.parsers import expat

    refusal = (
        f"{path}: refused XML with a DOCTYPE / ENTITY declaration; annotation files must be "
        "plain XML"
    )
    if _DTD_OR_ENTITY.search(data):  # fast path for ASCII-compatible encodings
        raise ValueError(refusal)

    def refuse(*_args: Any) -> None:  # any encoding: expat reports the declaration itself
        raise ValueError(refusal)

    builder = std_et.TreeBuilder()
    parser = expat.ParserCreate()
    parser.buffer_text = True
    parser.StartElementHandler = builder.start
    parser.EndElementHandler = builder.end
    parser.CharacterDataHandler = builder.data
    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.UnparsedEntityDeclHandler = refuse
    parser.ExternalEntityRefHandler = refuse
    try:
        parser.Parse(data, True)
        return builder.close()
    except expat.ExpatError as err:
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


def parse_voc_objects(path: str | Path, *, use_defusedxml: bool | None = None) -> list[VocObject]:
    """Every ``<object>`` of a VOC-style annotation file, children read by tag, in file order.

    Used by the ``dior_rsvg`` / ``opt_rsvg`` readers (book chapter "Data",
    ``book/02_data.py``). Values stay raw strings (``None`` when a tag is missing) so the
    reader can say exactly what is wrong with which object. Malformed or hostile XML raises
    ``ValueError`` (see :func:`parse_xml`).
    """
    path = Path(path)
    root = parse_xml(path, use_defusedxml=use_defusedxml)
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
        if not re.fullmatch(r"\d+", text):
            raise RecordError(
                where, "size", f"<size><{what}> must be a positive integer, got {text!r}"
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


def _read_voc_benchmark(
    col: _Collector,
    *,
    dataset: str,
    root: Path,
    split: str,
    images_dir: Path,
    annotations_dir: str | Path,
    split_file: str | Path | None,
    default_image_size: tuple[int, int] | None,
    use_defusedxml: bool | None,
) -> None:
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
        objects.extend(parse_voc_objects(xml_path, use_defusedxml=use_defusedxml))

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
                _number(getattr(obj, tag), f"<bndbox><{tag}>", where)
                for tag in ("xmin", "ymin", "xmax", "ymax")
            ]
            if obj.description is None:
                raise RecordError(
                    where, "missing", "missing <description> (the referring expression)"
                )
            return _record(
                dataset=dataset,
                split=split,
                index=index,
                image=_image_path(images_dir, obj.filename, where),
                size=_voc_size(obj, default_image_size, where),
                expression=obj.description,
                bbox=coords,
                category=obj.name,
                source=f"{ann_dir.name}/{obj.xml_name}#object{obj.position}",
                where=where,
            )

        col.add(build, where)


# --------------------------------------------------------------------------------------------
# VRSBench


_VRS_BOX = re.compile(
    r"^\s*\{\s*" + r"\s*".join([r"<\s*([-+]?\d+(?:\.\d+)?)\s*>"] * 4) + r"\s*\}\s*$"
)


def parse_vrsbench_box(
    text: Any, where: str = "box", *, grid_size: float = 100.0, patch_size_px: float = 512.0
) -> list[float]:
    """``"{<x1><y1><x2><y2>}"`` on VRSBench's 0–``grid_size`` grid → pixels of the patch.

    Used by the ``vrsbench`` reader (book chapter "Data", ``book/02_data.py``). Pixels are
    ``grid × patch_size_px / grid_size`` (×5.12 by default), no ``+1``. Raises
    :class:`RecordError` (kind ``"bbox"``) naming ``where`` for anything else — an oriented
    box (``|<angle>``), fewer numbers, values off the grid.
    """
    if not isinstance(text, str):
        raise RecordError(
            where, "bbox", f"expected a box string '{{<x1><y1><x2><y2>}}', got {text!r}"
        )
    match = _VRS_BOX.match(text)
    if match is None:
        raise RecordError(
            where,
            "bbox",
            f"expected a box string '{{<x1><y1><x2><y2>}}' on the 0-{grid_size:g} grid, got {text!r}",
        )
    grid = [float(v) for v in match.groups()]
    if any(v < 0 or v > grid_size for v in grid):
        raise RecordError(where, "bbox", f"box {text!r} leaves the 0-{grid_size:g} grid")
    scale = patch_size_px / grid_size
    return [v * scale for v in grid]


def _field(entry: Mapping[str, Any], names: tuple[str, ...]) -> tuple[str | None, Any]:
    for name in names:
        if name in entry:
            return name, entry[name]
    return None, None


def _read_vrsbench(
    col: _Collector,
    *,
    path: Path,
    split: str,
    images_dir: Path,
    fields: Mapping[str, tuple[str, ...]],
    patch_size_px: int,
    grid_size: float,
) -> None:
    entries = _read_json_list(path)
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
            if not isinstance(entry, Mapping):
                raise RecordError(
                    where, "type", f"expected a JSON object, got {type(entry).__name__}"
                )
            _, kind = _field(entry, roles["type"])
            if kind is not None and kind != "ref":
                raise SkipRecord(
                    where, "not_ref", f"type is {kind!r}, not a referring ('ref') entry"
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
                raise RecordError(where, "type", f"unique must be true/false, got {unique!r}")
            _, category = _field(entry, roles["category"])
            if category is not None and not isinstance(category, str):
                raise RecordError(where, "type", f"category must be a string, got {category!r}")
            _, question_id = _field(entry, roles["question_id"])
            rec = _record(
                dataset="vrsbench",
                split=split,
                index=index,
                image=_image_path(images_dir, image, where),
                size=(patch_size_px, patch_size_px),
                expression=expression,
                bbox=bbox,
                category=category,
                source=f"{path.name}[{index}]"
                + (f" question_id {question_id}" if question_id is not None else ""),
                where=where,
            )
            rec["unique"] = unique
            return rec

        col.add(build, where)


# --------------------------------------------------------------------------------------------
# RSVG-HR


_NUMERIC_FIELD = re.compile(r"^\s*[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?\s*$")
_DIGITS = re.compile(r"^\s*\d+\s*$")


def parse_rsvg_hr_line(
    line: str, where: str, *, repair_decimal_comma: bool = False
) -> tuple[str, list[float], str, str | None]:
    """Split one RSVG-HR line ``image,x1,y1,x2,y2,expression`` into its parts.

    Used by the ``rsvg_hr`` reader (book chapter "Data", ``book/02_data.py``). Returns
    ``(image, [x1, y1, x2, y2], expression, repair)`` where ``repair`` describes a decimal-comma
    repair or is ``None``. Only the first five commas separate fields; the expression keeps
    any later comma. Five numeric fields after the image name mean one coordinate was written
    with a decimal comma (``216,00``): that raises :class:`RecordError` (kind
    ``"decimal_comma"``) unless ``repair_decimal_comma=True`` and exactly one adjacent pair
    ``<digits>,<digits>`` explains it, in which case the pair is read as ``<digits>.<digits>``.
    """
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
    coords = [_number(t, f"coordinate {k + 1}", where) for k, t in enumerate(coords_text)]
    image = parts[0].strip()
    expression = ",".join(rest).strip()
    return image, coords, expression, repair


def _read_rsvg_hr(
    col: _Collector,
    *,
    path: Path,
    split: str,
    images_dir: Path,
    image_size: tuple[int, int],
    repair_decimal_comma: bool,
) -> None:
    with path.open(encoding="utf-8") as handle:
        lines = handle.readlines()
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
            rec = _record(
                dataset="rsvg_hr",
                split=split,
                index=row_index,
                image=_image_path(images_dir, image, where),
                size=image_size,
                expression=expression,
                bbox=coords,
                category=None,
                source=f"{path.name}:{where.rsplit(' ', 1)[-1]}",
                where=where,
            )
            return rec

        before = len(col.rows)
        col.add(build, where)
        if repair_note[0] is not None and len(col.rows) > before:
            col.report.count_repair("decimal_comma", repair_note[0])


# --------------------------------------------------------------------------------------------
# JSON records


def _read_json_list(path: Path) -> list[Any]:
    try:
        with path.open(encoding="utf-8") as handle:
            data = json.load(handle)
    except json.JSONDecodeError as err:
        raise ValueError(
            f"{path}: malformed JSON at line {err.lineno} column {err.colno} ({err.msg})"
        ) from err
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a JSON list of records, got a {type(data).__name__}")
    return data


def _size_lookup(
    image_size: tuple[int, int]
    | Mapping[str, tuple[int, int]]
    | Callable[[str], tuple[int, int]]
    | None,
    dataset: str,
) -> Callable[[str, str], tuple[int, int]]:
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
                raise RecordError(where, "size", f"image {name!r} not in the image_size mapping")
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
        if (
            not isinstance(size, (tuple, list))
            or len(size) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in size)
        ):
            raise RecordError(
                where,
                "size",
                f"image size for {name!r} must be (width, height) positive ints, got {size!r}",
            )
        return int(size[0]), int(size[1])

    return checked


def _read_records(
    col: _Collector,
    *,
    path: Path,
    dataset: str,
    split: str,
    images_dir: Path,
    image_size: Any,
) -> None:
    size_of = _size_lookup(image_size, dataset)
    entries = _read_json_list(path)
    for index, entry in enumerate(entries):
        where = f"{path.name} record {index}"

        def build(entry: Any = entry, index: int = index, where: str = where) -> dict[str, Any]:
            if not isinstance(entry, Mapping):
                raise RecordError(
                    where, "type", f"expected a JSON object, got {type(entry).__name__}"
                )
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
                    where, "bbox", f"bbox must be [x1, y1, x2, y2] pixels, got {bbox!r}"
                )
            coords = [_json_number(v, f"bbox[{k}]", where) for k, v in enumerate(bbox)]
            category = entry.get("category")
            if category is not None and not isinstance(category, str):
                raise RecordError(where, "type", f"category must be a string, got {category!r}")
            return _record(
                dataset=dataset,
                split=split,
                index=index,
                image=_image_path(images_dir, entry["image"], where),
                size=size_of(entry["image"].strip(), where),
                expression=entry["expression"],
                bbox=coords,
                category=category,
                source=f"{path.name}[{index}]",
                where=where,
            )

        col.add(build, where)


def _json_number(value: Any, what: str, where: str) -> float:
    """A JSON number (int or float, not bool, not a numeric string), finite."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RecordError(where, "bbox", f"{what} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise RecordError(where, "bbox", f"{what} must be finite, got {value!r}")
    return float(value)


# --------------------------------------------------------------------------------------------
# Hugging Face Hub


HUB_COLUMNS: dict[str, str] = {
    "image": "image",
    "expression": "expression",
    "bbox": "bbox",
    "width": "width",
    "height": "height",
    "category": "category",
}
"""Default mapping record column → Hub dataset column for :func:`load_benchmark` Hub ids."""


def _load_hub(
    name: str,
    split: str,
    *,
    on_error: str,
    policy: Mapping[str, Any],
    dataset: str | None,
    columns: Mapping[str, str] | None,
    image_size: tuple[int, int] | None,
    revision: str | None,
    image: str,
    report: LoadReport,
):
    import datasets

    try:
        raw = datasets.load_dataset(name, split=split, revision=revision)
    except ConnectionError as err:
        raise ConnectionError(
            f"could not reach the Hugging Face Hub for {name!r} (offline?): {err}. Download it "
            "once with network access (it is then cached), or pass a local folder / one of "
            f"{BENCHMARKS}"
        ) from err
    except FileNotFoundError as err:
        raise FileNotFoundError(
            f"no dataset {name!r} (split {split!r}) on the Hub or on disk: {err}"
        ) from err
    mapping = {**HUB_COLUMNS, **(columns or {})}
    for role in ("image", "expression", "bbox"):
        if mapping[role] not in raw.column_names:
            raise ValueError(
                f"{name} split {split}: no column {mapping[role]!r} for the record's {role!r} "
                f"(columns: {raw.column_names}); pass columns={{'{role}': '<name>'}}"
            )
    has_size = mapping["width"] in raw.column_names and mapping["height"] in raw.column_names
    if not has_size and image_size is None:
        raise ValueError(
            f"{name} split {split}: no {mapping['width']!r}/{mapping['height']!r} columns; pass "
            "image_size=(width, height) (images are not opened to measure them)"
        )
    image_col = mapping["image"]
    image_feature = raw.features[image_col]
    is_image_feature = isinstance(image_feature, datasets.Image)
    if is_image_feature:
        raw = raw.cast_column(image_col, datasets.Image(decode=False))
    label = dataset or name.rstrip("/").split("/")[-1]
    meta_cols = [mapping[r] for r in ("expression", "bbox") if mapping[r] in raw.column_names]
    meta_cols += [
        mapping[r] for r in ("width", "height", "category") if mapping[r] in raw.column_names
    ]
    meta = raw.select_columns(sorted(set(meta_cols))).to_dict()
    cat_feature = raw.features.get(mapping["category"])
    if isinstance(cat_feature, datasets.ClassLabel):  # integer codes -> class names
        meta[mapping["category"]] = [
            None if v is None or v < 0 else cat_feature.int2str(v)
            for v in meta[mapping["category"]]
        ]
    col = _Collector(report, on_error, policy)
    keep: list[int] = []
    placeholder = "<hub image>"
    for index in range(raw.num_rows):
        where = f"{name} split {split} row {index}"

        def build(index: int = index, where: str = where) -> dict[str, Any]:
            bbox = meta[mapping["bbox"]][index]
            if not isinstance(bbox, (list, tuple)) or len(bbox) != 4:
                raise RecordError(
                    where, "bbox", f"bbox must be [x1, y1, x2, y2] pixels, got {bbox!r}"
                )
            size = (
                (meta[mapping["width"]][index], meta[mapping["height"]][index])
                if has_size
                else image_size
            )
            category = meta[mapping["category"]][index] if mapping["category"] in meta else None
            return _record(
                dataset=label,
                split=split,
                index=index,
                image=placeholder,
                size=size,
                expression=meta[mapping["expression"]][index],
                bbox=[_number(v, "bbox value", where) for v in bbox],
                category=category,
                source=f"{name}:{split}[{index}]",
                where=where,
            )

        before = len(col.rows)
        col.add(build, where)
        if len(col.rows) > before:
            keep.append(index)
    images = raw.select_columns([image_col])
    if len(keep) < raw.num_rows:
        images = images.select(keep).flatten_indices()
    if image_col != "image":
        images = images.rename_column(image_col, "image")
    meta_ds = records_to_dataset(col.rows, validate=False).remove_columns("image")
    built = datasets.concatenate_datasets([meta_ds, images], axis=1)  # Arrow columns, no decode
    if is_image_feature or image == "image":
        # A Hub image column stays a (lazily decoded) datasets.Image even with image="path":
        # Hub images are often embedded bytes without a file path, so a path column would
        # lose them.
        built = built.cast_column("image", datasets.Image())
    order = list(meta_ds.column_names)
    return built.select_columns(order[:3] + ["image"] + order[3:])


# --------------------------------------------------------------------------------------------
# The entry point


def _find_file(root: Path, candidates: list[str], what: str) -> Path:
    if root.is_file():
        return root
    for name in candidates:
        path = root / name
        if path.is_file():
            return path
    raise FileNotFoundError(f"{what}: none of {candidates} found in {root}")


_OPTIONS = {
    "dior_rsvg": {"annotations_dir", "split_file", "default_image_size", "use_defusedxml"},
    "opt_rsvg": {"annotations_dir", "split_file", "default_image_size", "use_defusedxml"},
    "vrsbench": {"annotation_file", "fields", "patch_size_px", "grid_size"},
    "rsvg_hr": {"annotation_file", "image_size", "repair_decimal_comma"},
    "records": {"annotation_file", "dataset", "image_size"},
    "hub": {"dataset", "columns", "image_size", "revision"},
}


def load_benchmark(
    name: str,
    root: str | Path | None = None,
    split: str = "test",
    *,
    on_error: str = "raise",
    image: str = "path",
    images_dir: str | Path | None = None,
    check_images: bool = False,
    tolerance_px: float | None = None,
    degenerate: str = "keep",
    outside: str = "error",
    return_report: bool = False,
    **options: Any,
):
    """Read one split of a real grounding benchmark into a ``datasets.Dataset`` of records.

    The entry point of the book chapter "Data" (``book/02_data.py``) and of every evaluation on
    real data. ``name`` is one of :data:`BENCHMARKS` or a Hugging Face Hub id / dataset path
    (anything containing ``/``); ``root`` is the benchmark's folder (or its annotation file);
    formats and conventions are in this module's docstring.

    Common arguments:

    * ``on_error``: ``"raise"`` (default) stops at the first bad record with an error naming
      file, line / record and what was expected; ``"skip"`` drops it, counts it in the report
      and warns.
    * ``image``: ``"path"`` (a path string) or ``"image"`` (``datasets.Image``; still lazy).
    * ``images_dir``: where the image files are (default: ``root/JPEGImages`` for DIOR-RSVG and
      OPT-RSVG, ``root/images`` otherwise). It need not exist unless ``check_images=True``,
      which checks every file and raises (or, with ``on_error="skip"``, drops and counts) the
      records whose image is missing.
    * ``tolerance_px`` (default :data:`DEFAULT_TOLERANCE`, else 1 px), ``degenerate``
      (``"keep"``/``"skip"``/``"error"``), ``outside`` (``"error"``/``"skip"``/``"keep"``):
      the box policies of :func:`rsground_lib.data.schema.validate_record`.
    * ``return_report``: also return the :class:`LoadReport` (``(dataset, report)``).

    Options per benchmark:

    * ``dior_rsvg`` / ``opt_rsvg``: ``annotations_dir`` (``"Annotations"``), ``split_file``
      (``root/{split}.txt``), ``default_image_size`` (DIOR-RSVG 800×800, OPT-RSVG none),
      ``use_defusedxml`` (default: when installed).
    * ``vrsbench``: ``annotation_file`` (default ``VRSBench_EVAL_referring.json`` or
      ``vrsbench_{split}.json``), ``fields`` (role → field name(s), see
      :data:`VRSBENCH_FIELDS`), ``patch_size_px`` (512), ``grid_size`` (100).
    * ``rsvg_hr``: ``annotation_file``, ``image_size`` (1024×1024),
      ``repair_decimal_comma`` (False).
    * ``records``: ``dataset`` (required: the label, e.g. ``"dior_rsvg"``), ``image_size``
      (tuple, mapping or callable; default per dataset), ``annotation_file``.
    * Hub ids: ``datasets.load_dataset(name, split=split, revision=revision)``. Expected
      columns: ``image`` (``datasets.Image`` or a path string), ``expression`` (str), ``bbox``
      (``[x1, y1, x2, y2]`` in original-image pixels, continuous convention), ``width`` and
      ``height`` (ints; or pass ``image_size``), optional ``category``. ``columns`` maps the
      record's names to the dataset's (e.g. ``{"expression": "question"}``), ``dataset`` sets
      the label (default: the last part of ``name``). Images are neither decoded nor copied
      out of Arrow. Offline, an unknown id raises ``ConnectionError`` saying so. Only local
      folders are tested here: no Hub dataset in this exact schema could be reached.
    """
    _check_choice("on_error", on_error, ON_ERROR)
    _check_choice("image", image, ("path", "image"))
    kind = "hub" if "/" in name else name
    if kind not in _OPTIONS:
        raise ValueError(
            f"unknown benchmark {name!r}; expected one of {BENCHMARKS} or a Hub id 'owner/name'"
        )
    unknown = set(options) - _OPTIONS[kind]
    if unknown:
        raise TypeError(
            f"load_benchmark({name!r}): unknown option(s) {sorted(unknown)}; allowed: {sorted(_OPTIONS[kind])}"
        )
    dataset_label = options.get("dataset") if kind in ("records", "hub") else kind
    if kind == "records" and not dataset_label:
        raise ValueError(
            "load_benchmark('records', ...): pass dataset='<name>' (e.g. 'dior_rsvg'); the file does not say"
        )
    if tolerance_px is None:
        tolerance_px = DEFAULT_TOLERANCE.get(dataset_label or "", DEFAULT_TOLERANCE_PX)
    policy = {"tolerance_px": tolerance_px, "degenerate": degenerate, "outside": outside}
    report = LoadReport(benchmark=dataset_label or name, split=split, source=str(root or name))

    if kind == "hub":
        if check_images or images_dir is not None:
            raise ValueError(
                f"load_benchmark({name!r}): check_images and images_dir apply to benchmarks read "
                "from disk; a Hub dataset's images live in its own files"
            )
        ds = _load_hub(
            name,
            split,
            on_error=on_error,
            policy=policy,
            dataset=options.get("dataset"),
            columns=options.get("columns"),
            image_size=options.get("image_size"),
            revision=options.get("revision"),
            image=image,
            report=report,
        )
        report.n_kept = ds.num_rows
        return _finish_report(ds, report, return_report)

    if root is None:
        raise ValueError(f"load_benchmark({name!r}): pass root, the benchmark's folder")
    root = Path(root).expanduser()
    if not root.exists():
        raise FileNotFoundError(f"{name}: {root} does not exist")
    folder = root if root.is_dir() else root.parent
    default_images = "JPEGImages" if kind in ("dior_rsvg", "opt_rsvg") else "images"
    images = Path(images_dir).expanduser() if images_dir is not None else folder / default_images
    col = _Collector(report, on_error, policy)

    if kind in ("dior_rsvg", "opt_rsvg"):
        if not root.is_dir():
            raise NotADirectoryError(
                f"{name}: root {root} must be the folder holding Annotations/ and {split}.txt"
            )
        default_size = options.get("default_image_size", DEFAULT_IMAGE_SIZE.get(kind))
        _read_voc_benchmark(
            col,
            dataset=kind,
            root=root,
            split=split,
            images_dir=images,
            annotations_dir=options.get("annotations_dir", "Annotations"),
            split_file=options.get("split_file"),
            default_image_size=default_size,
            use_defusedxml=options.get("use_defusedxml"),
        )
        report.source = str(root)
    elif kind == "vrsbench":
        path = _annotation_path(
            root, options, ["VRSBench_EVAL_referring.json", f"vrsbench_{split}.json"], name
        )
        report.source = str(path)
        _read_vrsbench(
            col,
            path=path,
            split=split,
            images_dir=images,
            fields=options.get("fields", {}),
            patch_size_px=int(options.get("patch_size_px", 512)),
            grid_size=float(options.get("grid_size", 100.0)),
        )
    elif kind == "rsvg_hr":
        path = _annotation_path(
            root, options, [f"rsvg_hr_{split}.txt", f"Annotations/rsvg_hr_{split}.txt"], name
        )
        report.source = str(path)
        _read_rsvg_hr(
            col,
            path=path,
            split=split,
            images_dir=images,
            image_size=tuple(options.get("image_size", DEFAULT_IMAGE_SIZE["rsvg_hr"])),
            repair_decimal_comma=bool(options.get("repair_decimal_comma", False)),
        )
    else:  # records
        path = _annotation_path(root, options, [f"{split}.json", f"records_{split}.json"], name)
        report.source = str(path)
        _read_records(
            col,
            path=path,
            dataset=dataset_label,
            split=split,
            images_dir=images,
            image_size=options.get("image_size"),
        )

    rows = col.rows
    if check_images:
        rows = _check_images(rows, report, on_error)
    extra = _extra_features(rows)
    ds = records_to_dataset(rows, image=image, extra_features=extra, validate=False)
    report.n_kept = ds.num_rows
    return _finish_report(ds, report, return_report)


def _annotation_path(
    root: Path, options: Mapping[str, Any], candidates: list[str], name: str
) -> Path:
    given = options.get("annotation_file")
    if given is not None:
        path = Path(given)
        path = path if path.is_absolute() or root.is_file() else root / path
        if not path.is_file():
            raise FileNotFoundError(f"{name}: annotation file {path} not found")
        return path
    return _find_file(root, candidates, name)


def _extra_features(rows: list[dict[str, Any]]) -> dict[str, Any]:
    import datasets

    extra = {"source": datasets.Value("string")}
    if rows and "unique" in rows[0]:
        extra["unique"] = datasets.Value("bool")
    return extra


def _check_images(
    rows: list[dict[str, Any]], report: LoadReport, on_error: str
) -> list[dict[str, Any]]:
    missing = [row for row in rows if not os.path.isfile(row["image"])]
    report.missing_images = [row["image"] for row in missing]
    if not missing:
        return rows
    if on_error == "raise":
        shown = ", ".join(row["image"] for row in missing[:MAX_EXAMPLES])
        raise FileNotFoundError(
            f"{report.benchmark}/{report.split}: {len(missing)} of {len(rows)} image files are "
            f"missing (first: {shown}); fix images_dir, or pass on_error='skip' to drop them"
        )
    gone = {id(row) for row in missing}
    for row in missing:
        report.count_skip(
            RecordError(row["source"], "missing_image", f"image file {row['image']} not found")
        )
    return [row for row in rows if id(row) not in gone]


def _finish_report(ds, report: LoadReport, return_report: bool):
    ds.info.description = json.dumps({"load_report": report.as_dict()})
    if report.skipped or report.repaired:
        warnings.warn(report.summary(), stacklevel=3)
    return (ds, report) if return_report else ds
