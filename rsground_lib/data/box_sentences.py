"""Referring sentences generated from a raster's labelled boxes.

Real aerial images often come with object boxes (a Pascal-VOC XML file, a DeepForest CSV) but
no referring expressions. :func:`read_boxes` reads the boxes of one image;
:func:`box_sentences` writes, for some of them, a sentence that picks exactly one box by a
clear margin ("the leftmost tree", "the largest tree", "the tree in the upper left corner"),
as records shaped like :mod:`rsground_lib.data.base_scenes`'s, so that a grounding model's
answer on a real raster can be scored (:func:`rsground_lib.evaluation.score_grounding`).

The sentence rules are our design: the paper's datasets come with human-written expressions,
and a handful of templates over one class is a much narrower test than those.

Book chapter: "Grounding in a map" (``book/07_geo.py``).
"""

from __future__ import annotations

import csv
import io
import math
import numbers
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rsground_lib.data.cues import tag_cues
from rsground_lib.data.readers.common import number, read_text, shown, undecodable
from rsground_lib.data.readers.dior_rsvg import parse_xml

SUFFIXES = (".xml", ".csv")
"""The box files :func:`read_boxes` reads: Pascal-VOC XML and DeepForest-style CSV."""

CSV_COLUMNS = ("image_path", "xmin", "ymin", "xmax", "ymax", "label")
"""The columns a DeepForest-style CSV must have (others are ignored)."""

_COORDS = ("xmin", "ymin", "xmax", "ymax")

_MAX_NAMED = 5
"""How many image names an error message lists."""


def read_boxes(path: str | Path, *, image: str | None = None) -> list[dict]:
    """The labelled boxes of one image, read from ``path``, in file order.

    Used to turn a real raster's box annotations into the ``objects`` of
    :func:`box_sentences`. The format is chosen by the suffix: ``.xml`` is Pascal VOC
    (``<annotation>``, one ``<object>`` per box with ``<name>`` and ``<bndbox>`` holding
    ``<xmin>``/``<ymin>``/``<xmax>``/``<ymax>``; children read by tag, not position; parsed
    with :func:`rsground_lib.data.readers.dior_rsvg.parse_xml`, an ``ElementTree`` parser that
    refuses DTDs and entities), ``.csv`` is DeepForest's ``image_path,xmin,ymin,xmax,ymax,
    label`` with a header line (other columns are ignored, blank lines skipped).

    Returns ``[{"category": label, "bbox": [x1, y1, x2, y2]}]`` (floats, pixels as written).
    A CSV may hold rows of several images: ``image`` selects the rows whose ``image_path``
    equals it; without it, rows of more than one image are an error (images are never mixed
    silently). For an XML file, ``image`` must equal its ``<filename>`` when given.

    Raises ``ValueError`` naming the file and the CSV line (1-based) or the XML object (its
    0-based position among the ``<object>`` elements, as in the returned list) and what was
    expected: an unknown suffix, an empty file, a missing column or tag, a value that is not
    a number (ASCII digits, :func:`~rsground_lib.data.readers.common.number`) or not finite,
    ``x2 <= x1`` or ``y2 <= y1``, an empty label, no boxes at all.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".xml":
        return _read_voc(path, image)
    if suffix == ".csv":
        return _read_csv(path, image)
    raise ValueError(
        f"{path}: unknown box file suffix {path.suffix or '(none)'!r}; expected one of "
        f"{', '.join(SUFFIXES)} (Pascal-VOC XML or DeepForest CSV)"
    )


def read_image_size(xml_path: str | Path) -> tuple[int, int]:
    """``(width, height)`` in pixels from a Pascal-VOC file's ``<size>`` tag, for the
    ``width``/``height`` of :func:`box_sentences`. ``ValueError`` naming the file when the tag
    or one of its children is missing or not a positive whole number."""
    path = Path(xml_path)
    root = _voc_root(path)
    size = root.find("size")
    if size is None:
        raise ValueError(f"{path}: no <size> tag; expected <size><width>..<height>..</size>")
    sides = []
    for tag in ("width", "height"):
        text = _child_text(size, tag)
        if text is None:
            raise ValueError(f"{path}: <size> has no <{tag}>; expected a positive whole number")
        value = number(text, f"<size><{tag}>", str(path))
        if value <= 0 or not value.is_integer():
            raise ValueError(
                f"{path}: <size><{tag}> must be a positive whole number of pixels, "
                f"got {shown(text)}"
            )
        sides.append(int(value))
    return sides[0], sides[1]


def _voc_root(path: Path):
    root = parse_xml(path)
    if root.tag != "annotation":
        raise ValueError(f"{path}: root element is <{root.tag}>, expected <annotation> (VOC)")
    return root


def _child_text(element, tag: str) -> str | None:
    child = element.find(tag)
    if child is None or child.text is None or not child.text.strip():
        return None
    return child.text.strip()


def _box(values: Sequence[float], where: str) -> list[float]:
    x1, y1, x2, y2 = values
    if x2 <= x1 or y2 <= y1:
        raise ValueError(
            f"{where}: expected xmax > xmin and ymax > ymin, got "
            f"xmin={x1:g}, ymin={y1:g}, xmax={x2:g}, ymax={y2:g}"
        )
    return [float(v) for v in values]


def _read_voc(path: Path, image: str | None) -> list[dict]:
    if path.is_file() and path.stat().st_size == 0:
        raise ValueError(f"{path}: empty file; expected a Pascal-VOC <annotation>")
    root = _voc_root(path)
    if image is not None:
        filename = _child_text(root, "filename")
        if filename != image:
            raise ValueError(
                f"{path}: image={image!r} asked for, but the file's <filename> is "
                f"{shown(filename)}; a VOC file holds the boxes of one image"
            )
    out = []
    for position, obj in enumerate(root.findall("object")):
        where = f"{path} object {position}"
        name = _child_text(obj, "name")
        if name is None:
            raise ValueError(f"{where}: missing or empty <name>; expected the object's label")
        bndbox = obj.find("bndbox")
        if bndbox is None:
            raise ValueError(f"{where}: missing <bndbox>; expected <xmin>, <ymin>, <xmax>, <ymax>")
        values = []
        for tag in _COORDS:
            text = _child_text(bndbox, tag)
            if text is None:
                raise ValueError(f"{where}: missing or empty <bndbox><{tag}>; expected a number")
            values.append(number(text, f"<{tag}>", where))
        out.append({"category": name, "bbox": _box(values, where)})
    if not out:
        raise ValueError(f"{path}: no <object> elements; expected at least one labelled box")
    return out


def _read_csv(path: Path, image: str | None) -> list[dict]:
    text = read_text(path, "a DeepForest CSV (image_path,xmin,ymin,xmax,ymax,label)")
    if not text.strip():
        raise ValueError(f"{path}: empty file; expected a header line {','.join(CSV_COLUMNS)}")
    reader = csv.reader(io.StringIO(text, newline=""))
    header = [h.strip() for h in next(reader)]
    bad = undecodable(",".join(header))
    if bad is not None:
        raise ValueError(f"{path} line 1: {bad}; expected UTF-8 text")
    missing = [c for c in CSV_COLUMNS if c not in header]
    if missing:
        raise ValueError(
            f"{path} line 1: header {shown(header)} lacks column(s) {', '.join(missing)}; "
            f"expected {','.join(CSV_COLUMNS)}"
        )
    col = {c: header.index(c) for c in CSV_COLUMNS}
    rows: list[tuple[str, dict]] = []
    for fields in reader:
        where = f"{path} line {reader.line_num}"
        if not any(f.strip() for f in fields):
            continue  # a blank line (a trailing newline, a spacer)
        bad = undecodable(",".join(fields))
        if bad is not None:
            raise ValueError(f"{where}: {bad}; expected UTF-8 text")
        if len(fields) != len(header):
            raise ValueError(
                f"{where}: {len(fields)} fields, expected {len(header)} as in the header "
                f"({','.join(header)})"
            )
        label = fields[col["label"]].strip()
        if not label:
            raise ValueError(f"{where}: empty label; expected the object's class name")
        values = [number(fields[col[c]], c, where) for c in _COORDS]
        rows.append(
            (fields[col["image_path"]].strip(), {"category": label, "bbox": _box(values, where)})
        )
    if not rows:
        raise ValueError(f"{path}: a header but no rows; expected at least one labelled box")
    names = list(dict.fromkeys(name for name, _ in rows))
    if image is not None:
        chosen = [box for name, box in rows if name == image]
        if not chosen:
            raise ValueError(
                f"{path}: no rows with image_path {image!r}; the file has {_named(names)}"
            )
        return chosen
    if len(names) > 1:
        raise ValueError(
            f"{path}: rows of {_named(names)}; pass image= to read the boxes of one of them "
            "(images are not mixed)"
        )
    return [box for _, box in rows]


def _named(names: Sequence[str]) -> str:
    listed = ", ".join(repr(n) for n in names[:_MAX_NAMED])
    more = f" and {len(names) - _MAX_NAMED} more" if len(names) > _MAX_NAMED else ""
    return f"{len(names)} image(s): {listed}{more}"


_EXTREMES = (  # word, axis (0 = x, 1 = y), larger centre first?
    ("leftmost", 0, False),
    ("rightmost", 0, True),
    ("topmost", 1, False),
    ("bottommost", 1, True),
)
_SIZES = (("largest", True), ("smallest", False))
_CORNERS = (  # phrase, corner as fractions of (width, height)
    ("upper left", 0, 0),
    ("upper right", 1, 0),
    ("lower left", 0, 1),
    ("lower right", 1, 1),
)


def box_sentences(
    objects: Sequence[Mapping[str, Any]],
    width: float,
    height: float,
    *,
    noun: str | None = None,
    margin: float = 0.15,
) -> list[dict]:
    """Referring sentences that each pick exactly one of ``objects`` by a clear margin.

    Used to score a grounding model on a real raster whose boxes are labelled but have no
    expressions (``objects`` from :func:`read_boxes`, ``width``/``height`` the image's size
    in pixels). The sentences name every object with ``noun`` (default: the objects' category
    lower-cased; an error when their categories differ and no ``noun`` is given). The rules
    are our design, not the paper's (its datasets come with human-written expressions); with
    ``s`` the mean box side (mean over the objects of (box width + box height) / 2) and
    centres the box centres:

    * **extreme** — "the leftmost / rightmost / topmost / bottommost {noun}": the object whose
      centre is first along that axis, kept when the second's centre is at least
      ``margin`` × ``s`` behind it (so the cue is visibly decidable; a tie is never kept);
    * **size** — "the largest / smallest {noun}" by box area, kept when the first's area is
      at least ``1 + 2 × margin`` times the second's (largest), or the second's at least that
      many times the first's (smallest): 1.3 with the default margin;
    * **corner** — "the {noun} in the upper left / upper right / lower left / lower right
      corner": the object whose centre is nearest that image corner, kept when its centre lies
      in that quadrant of the image (strictly, so "upper left" is never a box on the right
      half) and the second-nearest centre is farther from the corner by at least ``margin`` ×
      ``s``.

    The sentences come in this fixed order (leftmost, rightmost, topmost, bottommost, largest,
    smallest, upper left, upper right, lower left, lower right), each only when kept; one
    object may be the target of several. With exactly one object the only sentence is
    "the {noun}"; with none, ``ValueError``.

    Each sentence is a record shaped like :mod:`rsground_lib.data.base_scenes`'s:
    ``expression``, ``bbox`` (the target's box, floats), ``category`` (the objects' category
    when they share one, else ``noun``), ``target_index`` (into ``objects``), ``objects``
    (a copy of the input, ``category`` and ``bbox`` only), ``width``, ``height``,
    ``n_objects`` and ``n_same`` (both ``len(objects)``: every object is a candidate),
    ``cues`` (:func:`rsground_lib.data.cues.tag_cues` of the expression, as every record of
    the project carries: ``extreme`` for the extremes *and* for largest/smallest — the
    tagger's rule "one word, one tag" — ``absolute`` for the corners, ``none`` for
    "the {noun}") and ``rule`` (which rule above made it: ``"extreme"``, ``"size"``,
    ``"corner"`` or ``"none"``). No ``image``: the caller adds the raster.
    """
    if not (_finite(width) and _finite(height) and width > 0 and height > 0):
        raise ValueError(
            f"box_sentences: width and height must be positive numbers of pixels, got "
            f"width={shown(width)}, height={shown(height)}"
        )
    if not _finite(margin) or margin < 0:
        raise ValueError(f"box_sentences: margin must be a finite number >= 0, got {shown(margin)}")
    objs = [_checked_object(o, k) for k, o in enumerate(objects)]
    if not objs:
        raise ValueError("box_sentences: no objects; expected at least one labelled box")
    categories = list(dict.fromkeys(o["category"] for o in objs))
    if noun is None:
        if len(categories) > 1:
            raise ValueError(
                f"box_sentences: the objects have {len(categories)} categories "
                f"({shown(categories)}); pass noun= to name them all with one word"
            )
        noun = categories[0].lower()
    if not isinstance(noun, str) or not noun.strip():
        raise ValueError(f"box_sentences: noun must be a non-empty string, got {shown(noun)}")
    noun = " ".join(noun.split())
    category = categories[0] if len(categories) == 1 else noun

    def record(expression: str, target: int, rule: str) -> dict:
        return {
            "expression": expression,
            "bbox": list(objs[target]["bbox"]),
            "category": category,
            "target_index": target,
            "objects": [{"category": o["category"], "bbox": list(o["bbox"])} for o in objs],
            "width": width,
            "height": height,
            "n_objects": len(objs),
            "n_same": len(objs),
            "cues": tag_cues(expression, ignore_phrases=(noun,)),
            "rule": rule,
        }

    if len(objs) == 1:
        return [record(f"the {noun}", 0, "none")]

    boxes = [o["bbox"] for o in objs]
    centres = [((b[0] + b[2]) / 2, (b[1] + b[3]) / 2) for b in boxes]
    areas = [(b[2] - b[0]) * (b[3] - b[1]) for b in boxes]
    side = sum((b[2] - b[0] + b[3] - b[1]) / 2 for b in boxes) / len(boxes)
    gap_needed = margin * side
    out = []

    for word, axis, descending in _EXTREMES:
        order = sorted(range(len(objs)), key=lambda k: centres[k][axis], reverse=descending)
        gap = abs(centres[order[0]][axis] - centres[order[1]][axis])
        if gap > 0 and gap >= gap_needed:
            out.append(record(f"the {word} {noun}", order[0], "extreme"))

    ratio_needed = 1 + 2 * margin
    for word, descending in _SIZES:
        order = sorted(range(len(objs)), key=lambda k: areas[k], reverse=descending)
        big, small = sorted((areas[order[0]], areas[order[1]]), reverse=True)
        if big > small and big >= ratio_needed * small:
            out.append(record(f"the {word} {noun}", order[0], "size"))

    for phrase, fx, fy in _CORNERS:
        corner = (fx * width, fy * height)
        dist = [math.dist(c, corner) for c in centres]
        order = sorted(range(len(objs)), key=lambda k: dist[k])
        cx, cy = centres[order[0]]
        inside = (cx < width / 2 if fx == 0 else cx > width / 2) and (
            cy < height / 2 if fy == 0 else cy > height / 2
        )
        gap = dist[order[1]] - dist[order[0]]
        if inside and gap > 0 and gap >= gap_needed:
            out.append(record(f"the {noun} in the {phrase} corner", order[0], "corner"))
    return out


def _finite(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def _checked_object(obj: Any, k: int) -> dict:
    """``{"category", "bbox"}`` of one input object, checked: ``ValueError`` naming
    ``objects[k]`` when the category is not a non-empty string or the box is not four finite
    numbers with x2 > x1 and y2 > y1."""
    where = f"box_sentences: objects[{k}]"
    if not isinstance(obj, Mapping):
        raise ValueError(f"{where}: expected a dict with category and bbox, got {shown(obj)}")
    cat = obj.get("category")
    if not isinstance(cat, str) or not cat.strip():
        raise ValueError(f"{where}: category must be a non-empty string, got {shown(cat)}")
    bbox = obj.get("bbox")
    if (
        not isinstance(bbox, Sequence)
        or isinstance(bbox, str)
        or len(bbox) != 4
        or not all(_finite(v) for v in bbox)
    ):
        raise ValueError(
            f"{where}: bbox must be 4 finite numbers [x1, y1, x2, y2], got {shown(bbox)}"
        )
    return {"category": cat, "bbox": _box(bbox, where)}
