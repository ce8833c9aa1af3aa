"""Score anyone's grounding predictions against a benchmark's annotations.

A predictions file comes from any model or pipeline, not only this project's: JSON Lines
(one object a line) or one JSON list of objects. Each object names its sample and gives its
answer:

* the sample: ``"id"`` (the record id that :func:`rsground_lib.data.benchmarks.load_benchmark`
  gives, ``"{dataset}/{split}/{index}"``), or ``"image"`` (the image's file name; only the
  base name is compared, so ``"JPEGImages/00001.jpg"`` and ``"00001.jpg"`` are the same) with
  ``"expression"`` (compared after stripping and collapsing runs of whitespace, as the
  record stores it). Given both, ``id`` decides and the image and expression must agree
  with that record (a guard against ids of another version of the split).
* the answer: ``"bbox"`` ``[x1, y1, x2, y2]``, four finite numbers with ``x1 <= x2`` and
  ``y1 <= y2``; or ``"completion"``, the model's raw text (or chat messages), read with
  :func:`rsground_lib.prompts.parse_answer` (``<answer>`` tags, Qwen2.5-VL's ``bbox_2d``
  JSON, corner pairs, plain lists). When a line has both, ``bbox`` is the answer and the
  completion only a record of the text (our choice: it is the shape
  :func:`rsground_lib.evaluation.predict` writes, ``bbox`` in original pixels or ``null``
  beside the raw completion in model pixels); ``"bbox": null`` beside a completion is an
  answer without a box. Other keys (``box_model``, ``parsed``, ``iou``, …) are ignored.

Every box is in one frame, :data:`COORDS`, named by the caller (:func:`to_original`):
``"original"`` pixels of the benchmark image (default), ``"qwen2.5-vl"`` pixels of
Qwen2.5-VL's resized input, ``"norm1000"`` (Qwen2-VL's 0–1000 of width and height) or
``"norm100"``; boxes are mapped back to original pixels with the record's ``width`` and
``height`` and scored there by :func:`rsground_lib.metrics.grounding_metrics` with a preset
of :data:`rsground_lib.metrics.PRESETS` (design page, "Coordinates").

Conventions chosen here (ours): an unparsable completion is an answer that misses (IoU 0)
and lowers the parse rate; a sample of the split without a prediction is a miss too, scored
exactly as an unparsable answer (in cumIoU its target's area joins the union under the
``dior_rsvg`` preset; the ``vrsbench`` preset leaves box-less samples out of cumIoU, as
VRSBench's code does), counted as ``missing``, and outside the parse rate, which is the share
of the *given* predictions that yield a box. Bad input — a broken JSON line, a bbox that is
not four finite ordered numbers, an unknown, ambiguous or doubly predicted sample — is a
:class:`PredictionsError` naming the file and the line; with ``on_error="skip"`` the line is
left out, counted as ``skipped`` and warned about, never dropped silently (design page,
"Errors"). A file that cannot be read as a whole (missing, not UTF-8, a JSON list that does
not parse, no prediction at all) is an error in both modes.

The format of the file :func:`rsground_lib.evaluation.predict` writes is kept here too, both
ways (:data:`PREDICTION_KEYS`, :func:`prediction_row`, :func:`prediction_line`,
:func:`scan_predictions`, the summary and run-record paths): one module owns one file format,
which is why it is about 830 lines, over the project's ~600.

Book chapter: "Evaluation" (``book/05_evaluation.py``).
"""

from __future__ import annotations

import json
import math
import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, NamedTuple

from rsground_lib import boxes, checkpoints, metrics, prompts

COORDS: tuple[str, ...] = ("original", "qwen2.5-vl", "norm1000", "norm100")
"""Frames a predicted box can be in: original pixels; Qwen2.5-VL's model-input pixels
(:func:`rsground_lib.boxes.model_size`); 0–1000 and 0–100 of the image's width and height."""

ON_ERROR: tuple[str, ...] = ("raise", "skip")

_NORM_SCALE = {"norm1000": 1000.0, "norm100": 100.0}

_SHOWN_SKIPS = 3
"""How many skip reasons the warning quotes."""


class PredictionsError(ValueError):
    """A predictions file that cannot be scored as given; ``where`` names the file and line
    (``"preds.jsonl, line 3"``), or the file alone when the whole file is unusable."""

    def __init__(self, where: str, message: str):
        self.where = where
        self.detail = message
        super().__init__(f"{where}: {message}")


@dataclass(frozen=True)
class Prediction:
    """One line of a predictions file: where it is (``"preds.jsonl, line 3"``), the sample it
    names (``id``, or ``image`` + ``expression``) and its answer: ``answer`` says which
    field holds it — ``"bbox"`` (four floats in the caller's frame, or ``None`` for a line
    whose ``bbox`` is null beside a completion: no box) or ``"completion"`` (raw model
    output, parsed when matched)."""

    where: str
    id: str | None = None
    image: str | None = None
    expression: str | None = None
    bbox: tuple[float, float, float, float] | None = None
    completion: Any = None
    answer: str = "bbox"


class Matched(NamedTuple):
    """What :func:`match_predictions` found, per record of the split in its order: ``boxes``
    (original pixels, ``None`` for an unparsable answer or no prediction), ``answered``
    (whether a prediction named the record); ``missing`` (records without a prediction) and
    ``skipped`` (the reasons of the lines left out with ``on_error="skip"``)."""

    boxes: list[list[float] | None]
    answered: list[bool]
    missing: int
    skipped: list[str]


# --------------------------------------------------------------------------- reading


def _check_on_error(on_error: str) -> None:
    if on_error not in ON_ERROR:
        raise ValueError(f"on_error: expected one of {ON_ERROR}; got {on_error!r}")


def _fail(where: str, message: str, on_error: str, skipped: list[str]) -> None:
    """Raise :class:`PredictionsError`, or (``on_error="skip"``) record the reason."""
    if on_error == "raise":
        raise PredictionsError(where, message)
    skipped.append(f"{where}: {message}")


def _shown(value: Any, limit: int = 80) -> str:
    text = json.dumps(value, allow_nan=True, default=repr) if value is not None else "null"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _box_of(value: Any) -> tuple[float, float, float, float] | str:
    """The bbox as four floats, or the reason it is not one."""
    expected = "bbox must be [x1, y1, x2, y2], four finite numbers"
    if not isinstance(value, list) or len(value) != 4:
        hint = " (an answer without a box: give its text as 'completion')" if value is None else ""
        return f"{expected}; got {_shown(value)}{hint}"
    coords = []
    for v in value:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            return f"{expected}; got {_shown(value)}"
        try:
            f = float(v)
        except OverflowError:
            return f"{expected}; got a number beyond the float range"
        if not math.isfinite(f):
            return f"{expected}; got {_shown(value)}"
        if abs(f) > boxes.MAX_ABS_COORD:
            return (
                f"bbox coordinates must be at most {boxes.MAX_ABS_COORD:g} in magnitude; got "
                f"{_shown(value)}"
            )
        coords.append(f)
    x1, y1, x2, y2 = coords
    if x2 < x1 or y2 < y1:
        return (
            f"bbox must have x1 <= x2 and y1 <= y2 (corners, not [x, y, width, height]); "
            f"got {_shown(value)}"
        )
    return x1, y1, x2, y2


def _prediction(obj: Any, where: str) -> Prediction | str:
    """One parsed JSON value as a :class:`Prediction`, or the reason it is not one."""
    if not isinstance(obj, dict):
        return f"expected a JSON object with 'id' or 'image' + 'expression'; got {_shown(obj)}"
    fields: dict[str, Any] = {}
    for key in ("id", "image", "expression"):
        value = obj.get(key)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            return f"{key!r} must be a non-empty string; got {_shown(value)}"
        fields[key] = value
    if fields["id"] is None and (fields["image"] is None or fields["expression"] is None):
        return "name the sample with 'id', or with 'image' and 'expression'"
    has_box, has_text = "bbox" in obj, "completion" in obj
    if not has_box and not has_text:
        return "give 'bbox' ([x1, y1, x2, y2]) or 'completion' (the model's text)"
    completion = obj.get("completion")
    if has_text and not isinstance(completion, (str, list, dict)):
        return f"'completion' must be text or a list of chat messages; got {_shown(completion)}"
    if not has_box:
        return Prediction(where, completion=completion, answer="completion", **fields)
    if obj["bbox"] is None and has_text:  # the writer found no box in its completion
        return Prediction(where, completion=completion, answer="bbox", **fields)
    box = _box_of(obj["bbox"])
    if isinstance(box, str):
        return box
    return Prediction(where, bbox=box, completion=completion, answer="bbox", **fields)


def _json_list_items(text: str, name: str):
    """``(line, value)`` for every item of a JSON list, located by scanning it item by item
    (``json.JSONDecoder.raw_decode``). A list that does not parse is an error for the whole
    file: past a broken item its boundaries are lost."""
    decoder = json.JSONDecoder()
    pos = text.index("[") + 1

    def skip_ws(i: int) -> int:
        while i < len(text) and text[i] in " \t\r\n":
            i += 1
        return i

    def broken(i: int, what: str) -> PredictionsError:
        line = text.count("\n", 0, i) + 1
        return PredictionsError(f"{name}, line {line}", f"not a valid JSON list ({what})")

    pos = skip_ws(pos)
    if pos < len(text) and text[pos] == "]":
        return
    while True:
        line = text.count("\n", 0, pos) + 1
        try:
            value, end = decoder.raw_decode(text, pos)
        except (json.JSONDecodeError, RecursionError) as err:
            raise broken(pos, getattr(err, "msg", "nested too deeply")) from err
        yield line, value
        pos = skip_ws(end)
        if pos < len(text) and text[pos] == ",":
            pos = skip_ws(pos + 1)
            continue
        if pos < len(text) and text[pos] == "]":
            if skip_ws(pos + 1) != len(text):
                raise broken(pos + 1, "text after the closing ']'")
            return
        raise broken(pos, "expected ',' or ']'")


def read_predictions(
    path: str | Path, *, on_error: str = "raise"
) -> tuple[list[Prediction], list[str]]:
    """Read a predictions file (JSON Lines, or a JSON list when its first character is
    ``[``) into :class:`Prediction` items, checking each line: a broken JSON line, an item
    that is not an object, names no sample, has neither ``bbox`` nor ``completion``, or a
    ``bbox`` that is not four finite numbers with ``x1 <= x2``, ``y1 <= y2`` (NaN included;
    ``null`` is accepted only beside a completion, as an answer without a box) is a :class:`PredictionsError` naming the file and the line;
    with ``on_error="skip"`` it is left out and its reason returned. Blank lines are ignored.

    Returns ``(items, skipped)``, ``skipped`` the reasons of the lines left out. The file is
    unusable in both modes (an error) when it cannot be read, is not UTF-8, is a JSON list
    that does not parse, or holds no item at all. Matching the items to samples is
    :func:`match_predictions`.
    """
    _check_on_error(on_error)
    name = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as err:
        raise PredictionsError(name, f"cannot read the predictions file ({err.strerror})") from err
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw.count(b"\n", 0, err.start) + 1
        raise PredictionsError(
            f"{name}, line {line}", f"not UTF-8 (byte {err.start}); expected UTF-8 JSON"
        ) from err
    items: list[Prediction] = []
    skipped: list[str] = []
    n_seen = 0
    if text.lstrip().startswith("["):
        for line, value in _json_list_items(text, name):
            n_seen += 1
            where = f"{name}, line {line}"
            item = _prediction(value, where)
            if isinstance(item, str):
                _fail(where, item, on_error, skipped)
            else:
                items.append(item)
    else:
        for number, line_text in enumerate(text.splitlines(), start=1):
            if not line_text.strip():
                continue
            n_seen += 1
            where = f"{name}, line {number}"
            try:
                value = json.loads(line_text)
            except json.JSONDecodeError as err:
                _fail(where, f"not valid JSON ({err.msg}, column {err.colno})", on_error, skipped)
                continue
            except RecursionError:
                _fail(where, "not valid JSON (nested too deeply)", on_error, skipped)
                continue
            item = _prediction(value, where)
            if isinstance(item, str):
                _fail(where, item, on_error, skipped)
            else:
                items.append(item)
    if n_seen == 0:
        raise PredictionsError(
            name, "no predictions; expected JSON Lines (one object a line) or a JSON list"
        )
    return items, skipped


# --------------------------------------------------------------------------- frames


def to_original(
    box: Sequence[float],
    coords: str,
    width: int,
    height: int,
    *,
    max_pixels: int = boxes.QWEN2VL_MAX_PIXELS,
) -> list[float]:
    """``box`` ``[x1, y1, x2, y2]`` from the frame ``coords`` (:data:`COORDS`) to original
    pixels of a ``width`` × ``height`` image, in the continuous convention, without rounding.

    ``"original"`` is returned as is; ``"qwen2.5-vl"`` is rescaled from
    :func:`rsground_lib.boxes.model_size` ``((width, height), max_pixels=max_pixels)`` with
    :func:`rsground_lib.boxes.to_original_pixels` (``max_pixels`` defaults to the processor
    class's 1,003,520, the project's default; the Qwen2.5-VL checkpoints ship 12,845,056,
    which differs for images above about a megapixel — pass the value the model ran with);
    ``"norm1000"`` / ``"norm100"`` multiply x by ``width / 1000`` (``/ 100``) and y by
    ``height / 1000`` (``/ 100``). An unknown frame is a ValueError listing the known ones.
    """
    if coords not in COORDS:
        raise ValueError(f"unknown coords {coords!r}; expected one of {', '.join(COORDS)}")
    w, h = int(width), int(height)
    if coords == "original":
        return [float(v) for v in box]
    if coords == "qwen2.5-vl":
        size = boxes.model_size((w, h), max_pixels=max_pixels)
        return [float(v) for v in boxes.to_original_pixels(list(box), (w, h), size)]
    scale = _NORM_SCALE[coords]
    x1, y1, x2, y2 = (float(v) for v in box)
    return [x1 * w / scale, y1 * h / scale, x2 * w / scale, y2 * h / scale]


# --------------------------------------------------------------------------- matching


def _columns(records, names: Sequence[str]) -> dict[str, list]:
    """The columns ``names`` of a ``datasets.Dataset`` or a sequence of mappings."""
    if hasattr(records, "column_names"):
        absent = [c for c in names if c not in records.column_names]
        if absent:
            raise ValueError(f"records: missing column(s) {absent}")
        feature = getattr(records, "features", {}).get("image")
        if "image" in names and getattr(feature, "decode", False):
            # a datasets.Image column: read the paths, never decode every image
            records = records.cast_column("image", type(feature)(decode=False))
        return {c: list(records[c]) for c in names}
    rows = list(records)
    out: dict[str, list] = {c: [] for c in names}
    for i, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise ValueError(f"records[{i}]: expected a mapping; got {type(row).__name__}")
        for c in names:
            if c not in row:
                raise ValueError(f"records[{i}]: missing key {c!r}")
            out[c].append(row[c])
    return out


def _basename(image: Any) -> str:
    """The file name of an image path as the annotations or a prediction give it."""
    if isinstance(image, Mapping):  # a datasets.Image value read without decoding
        image = image.get("path") or ""
    return PurePosixPath(str(image).strip().replace("\\", "/")).name


def _expression_key(text: str) -> str:
    """An expression as the record stores it: stripped, runs of whitespace collapsed."""
    return " ".join(str(text).split())


def match_predictions(
    items: Sequence[Prediction],
    records,
    *,
    coords: str = "original",
    on_error: str = "raise",
    max_pixels: int = boxes.QWEN2VL_MAX_PIXELS,
) -> Matched:
    """Attach each prediction to its record and map its box to original pixels.

    ``records`` (a ``datasets.Dataset`` or a sequence of mappings) needs ``id``, ``image``,
    ``expression``, ``width`` and ``height``. A prediction is matched by ``id``, else by the
    image's base name plus the whitespace-normalised expression. An unknown id, an image and
    expression matching no record or several (use ``id`` there), an id whose record has
    another image or expression than the prediction states, and a second prediction for a
    sample already predicted are :class:`PredictionsError` naming the file and the line;
    with ``on_error="skip"`` that line is left out (for a duplicate: the later line; the
    first stays) and its reason is in ``skipped``. A completion is parsed with
    :func:`rsground_lib.prompts.parse_answer` in the frame ``coords``; an unparsable one
    gives ``None``. Boxes go through :func:`to_original`.
    """
    _check_on_error(on_error)
    if coords not in COORDS:
        raise ValueError(f"unknown coords {coords!r}; expected one of {', '.join(COORDS)}")
    cols = _columns(records, ("id", "image", "expression", "width", "height"))
    n = len(cols["id"])
    by_id = {str(rid): i for i, rid in enumerate(cols["id"])}
    by_pair: dict[tuple[str, str], list[int]] = {}
    names = [_basename(img) for img in cols["image"]]
    exprs = [_expression_key(e) for e in cols["expression"]]
    for i, key in enumerate(zip(names, exprs, strict=True)):
        by_pair.setdefault(key, []).append(i)

    out: list[list[float] | None] = [None] * n
    first_line: dict[int, str] = {}
    skipped: list[str] = []
    for item in items:
        index = _record_index(item, by_id, by_pair, names, exprs, on_error, skipped)
        if index is None:
            continue
        if index in first_line:
            _fail(
                item.where,
                f"a second prediction for {cols['id'][index]} (first: {first_line[index]})",
                on_error,
                skipped,
            )
            continue
        first_line[index] = item.where
        box = item.bbox if item.answer == "bbox" else prompts.parse_answer(item.completion)
        if box is not None:
            out[index] = to_original(
                box, coords, cols["width"][index], cols["height"][index], max_pixels=max_pixels
            )
    answered = [i in first_line for i in range(n)]
    return Matched(out, answered, n - len(first_line), skipped)


def _record_index(item, by_id, by_pair, names, exprs, on_error, skipped) -> int | None:
    """The record a prediction names, or ``None`` after raising or recording the reason."""
    if item.id is not None:
        index = by_id.get(item.id.strip())
        if index is None:
            message = f"unknown id {item.id!r}: no record of the split has it"
            _fail(item.where, message, on_error, skipped)
            return None
        clash = []
        if item.image is not None and _basename(item.image) != names[index]:
            clash.append(f"image {names[index]!r}")
        if item.expression is not None and _expression_key(item.expression) != exprs[index]:
            clash.append(f"expression {exprs[index]!r}")
        if clash:
            _fail(
                item.where,
                f"id {item.id!r} is the record with {' and '.join(clash)}, not what this line "
                "states (ids of another version of the split?)",
                on_error,
                skipped,
            )
            return None
        return index
    key = (_basename(item.image), _expression_key(item.expression))
    found = by_pair.get(key, [])
    if len(found) == 1:
        return found[0]
    if not found:
        message = f"no record has image {key[0]!r} with expression {key[1]!r}"
    else:
        message = (
            f"image {key[0]!r} with expression {key[1]!r} matches {len(found)} records; "
            "name the sample by 'id'"
        )
    _fail(item.where, message, on_error, skipped)
    return None


# --------------------------------------------------------------------------- scoring


def default_preset(records) -> str:
    """The metrics preset for a split: the records' ``dataset`` label when it names one of
    :data:`rsground_lib.metrics.PRESETS` (``vrsbench`` → VRSBench's protocol), else
    ``dior_rsvg`` (RSVG-pytorch's, which OPT-RSVG and RSVG-HR share). Records without a
    ``dataset`` column, or with several labels, get ``dior_rsvg``."""
    try:
        labels = set(_columns(records, ("dataset",))["dataset"])
    except ValueError:
        return "dior_rsvg"
    if len(labels) == 1:
        (label,) = labels
        if label in metrics.PRESETS:
            return str(label)
    return "dior_rsvg"


def _scorable(box: Sequence[float]) -> bool:
    """Whether the metrics score ``box`` as a box: finite, every coordinate of magnitude at
    most :data:`rsground_lib.boxes.MAX_ABS_COORD` (else it counts as unparsable there)."""
    return all(math.isfinite(v) and abs(v) <= boxes.MAX_ABS_COORD for v in box)


OUTSIDE_TOLERANCE_PX = 1.0
"""How far (original pixels) a box may reach past the image before it counts as outside the
frame: boxes rounded outwards stay in."""


def _outside_image(box: Sequence[float], width: float, height: float) -> bool:
    tol = OUTSIDE_TOLERANCE_PX
    x1, y1, x2, y2 = box
    return x1 < -tol or y1 < -tol or x2 > float(width) + tol or y2 > float(height) + tol


def score_predictions(
    items: Sequence[Prediction],
    records,
    *,
    coords: str = "original",
    preset: str | None = None,
    on_error: str = "raise",
    max_pixels: int = boxes.QWEN2VL_MAX_PIXELS,
    skipped: Sequence[str] = (),
) -> dict[str, Any]:
    """The grounding metrics of ``items`` on every record of the split.

    Matches with :func:`match_predictions`, then scores the boxes in original pixels with
    :func:`rsground_lib.metrics.grounding_metrics` under ``preset`` (default
    :func:`default_preset`). A record without a prediction is scored as an unparsable
    answer. Keys: ``pr@0.5`` … ``pr@0.9``, ``mean_iou``, ``cum_iou`` (fractions in
    [0, 1]; NaN when undefined), ``parse_rate`` (parsed boxes over the *given* predictions —
    our choice, since ``missing`` reports the absent ones; NaN when none was given), ``n``
    (records of the split), ``missing``, ``skipped`` (``skipped``, the reasons of lines left
    out while reading, plus those left out while matching; a warning quotes the first few),
    ``outside_frame`` (scored boxes reaching more than :data:`OUTSIDE_TOLERANCE_PX` past their
    image once read in the ``coords`` frame — pixel boxes declared ``norm100`` land far
    outside; a warning asks whether ``coords`` is right), ``preset`` and ``coords``.
    """
    preset = default_preset(records) if preset is None else preset
    metrics.resolve_protocol(preset)  # an unknown preset fails before any work
    match = match_predictions(
        items, records, coords=coords, on_error=on_error, max_pixels=max_pixels
    )
    targets = _columns(records, ("bbox",))["bbox"]
    result: dict[str, Any] = metrics.grounding_metrics(match.boxes, targets, preset=preset)
    given = sum(match.answered)
    parsed = sum(1 for box in match.boxes if box is not None and _scorable(box))
    result["parse_rate"] = parsed / given if given else float("nan")
    sizes = _columns(records, ("width", "height"))
    outside = sum(
        1
        for box, w, h in zip(match.boxes, sizes["width"], sizes["height"], strict=True)
        if box is not None and _scorable(box) and _outside_image(box, w, h)
    )
    result["outside_frame"] = outside
    if outside:
        warnings.warn(
            f"{outside} of {parsed} boxes lie outside the {coords} frame: is --coords right?",
            UserWarning,
            stacklevel=2,
        )
    result["n"] = int(result["n"])
    result["missing"] = match.missing
    reasons = [*skipped, *match.skipped]
    result["skipped"] = len(reasons)
    result["preset"] = preset
    result["coords"] = coords
    if reasons:
        shown = "; ".join(reasons[:_SHOWN_SKIPS])
        more = f" (and {len(reasons) - _SHOWN_SKIPS} more)" if len(reasons) > _SHOWN_SKIPS else ""
        warnings.warn(
            f"{len(reasons)} prediction line(s) skipped: {shown}{more}", UserWarning, stacklevel=2
        )
    return result


def score_file(
    path: str | Path,
    records,
    *,
    coords: str = "original",
    preset: str | None = None,
    on_error: str = "raise",
    max_pixels: int = boxes.QWEN2VL_MAX_PIXELS,
) -> dict[str, Any]:
    """:func:`read_predictions` then :func:`score_predictions`: the metrics of a predictions
    file on a split (what ``rsground eval`` prints)."""
    items, skipped = read_predictions(path, on_error=on_error)
    return score_predictions(
        items,
        records,
        coords=coords,
        preset=preset,
        on_error=on_error,
        max_pixels=max_pixels,
        skipped=skipped,
    )


# --------------------------------------------------------------------------- output

_COLUMNS: tuple[tuple[str, str], ...] = (
    *((name, name.replace("pr@", "Pr@")) for name in metrics.metric_names()[:5]),
    ("mean_iou", "meanIoU"),
    ("cum_iou", "cumIoU"),
    ("parse_rate", "parse rate"),
    ("n", "n"),
    ("missing", "missing"),
    ("skipped", "skipped"),
)

JSON_KEYS: tuple[str, ...] = (
    *metrics.metric_names(),
    "missing",
    "outside_frame",
    "preset",
    "coords",
)
"""The keys of :func:`result_json` (``skipped`` is added when lines were allowed to be
skipped)."""


def _cell(key: str, value: Any) -> str:
    if key in ("n", "missing", "skipped"):
        return str(int(value))
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{float(value):.4f}"


def _caption(result: Mapping[str, Any]) -> str:
    return f"preset {result['preset']}, coords {result['coords']} (rates are fractions in [0, 1])"


def format_table(result: Mapping[str, Any]) -> str:
    """The result of :func:`score_predictions` as a plain-text table: a caption line
    (preset, coords), then Pr@0.5 … Pr@0.9, meanIoU, cumIoU, parse rate (4 decimals, "—"
    when undefined), n, missing and skipped, in aligned columns."""
    heads = [head for _, head in _COLUMNS]
    cells = [_cell(key, result.get(key, 0)) for key, _ in _COLUMNS]
    widths = [max(len(h), len(c)) for h, c in zip(heads, cells, strict=True)]
    head_line = "  ".join(h.rjust(w) for h, w in zip(heads, widths, strict=True))
    cell_line = "  ".join(c.rjust(w) for c, w in zip(cells, widths, strict=True))
    return f"{_caption(result)}\n{head_line}\n{cell_line}"


def markdown_table(result: Mapping[str, Any]) -> str:
    """The same table as Markdown: the caption as a paragraph, then a one-row table."""
    heads = [head for _, head in _COLUMNS]
    cells = [_cell(key, result.get(key, 0)) for key, _ in _COLUMNS]
    return (
        f"{_caption(result)}\n\n"
        f"| {' | '.join(heads)} |\n"
        f"|{'|'.join('---:' for _ in heads)}|\n"
        f"| {' | '.join(cells)} |\n"
    )


def result_json(result: Mapping[str, Any], *, with_skipped: bool = False) -> dict[str, Any]:
    """The result as strict JSON values: exactly :data:`JSON_KEYS` (plus ``skipped`` when
    ``with_skipped``), NaN written as ``None`` (``null``)."""
    keys = [*JSON_KEYS, "skipped"] if with_skipped else list(JSON_KEYS)
    out: dict[str, Any] = {}
    for key in keys:
        value = result[key]
        if isinstance(value, float) and not math.isfinite(value):
            value = None
        out[key] = value
    return out


def check_outputs(inputs: dict[str, str | Path | None], outputs: dict[str, str | Path | None]):
    """Refuse an output path that is one of the inputs, or two outputs at one path: ``rsground
    eval PRED --json PRED`` would replace the predictions by their metrics (issue 24). Keys
    name the arguments in the message; ``None`` values are skipped."""
    taken = {Path(p).resolve(): name for name, p in inputs.items() if p is not None}
    for name, out in outputs.items():
        if out is None:
            continue
        where = Path(out).resolve()
        if where in taken:
            raise ValueError(
                f"{name} {out}: is the same file as {taken[where]}; writing it would replace "
                "it: choose another path"
            )
        taken[where] = name


# ----------------------------------------------------------------------------- the file rsground predict writes

PREDICTION_KEYS = (
    "id",
    "image",
    "expression",
    "completion",
    "box_model",
    "bbox",
    "parsed",
    "iou",
)
"""The keys of one line of a predictions file (:func:`rsground_lib.evaluation.predict`), in the order written:
``id``; ``image`` (the record's image path as the record gives it, null for an in-memory
image); ``expression``; ``completion`` (the raw decoded text); ``box_model`` (the parsed box
in model-input pixels, null when unparsable); ``bbox`` (the same box in ORIGINAL pixels, or
null — named ``bbox`` so that the file scores with original coordinates); ``parsed``;
``iou`` (with the record's ``bbox``, continuous convention; 0.0 when unparsed)."""


def summary_path(out_path: str | os.PathLike) -> Path:
    """Where :func:`rsground_lib.evaluation.predict` writes the summary of ``out_path``: ``preds.jsonl`` →
    ``preds.summary.json``."""
    return Path(out_path).with_suffix(".summary.json")


def run_record_path(out_path: str | os.PathLike) -> Path:
    """Where :func:`rsground_lib.evaluation.predict` records what writes ``out_path``: ``preds.jsonl`` →
    ``preds.run.json``."""
    return Path(out_path).with_suffix(".run.json")


def prediction_settings(
    checkpoint: str | os.PathLike | None, *, prompt_style: str, max_new_tokens: int, backend: str
) -> dict:
    """What decides a predictions file's answers: the checkpoint as given (a hub id or a
    folder, or None when the caller did not say), the sha256 of a local folder's weights
    (:func:`rsground_lib.checkpoints.weights_sha256`), the prompt style, the token budget and
    the backend. The batch size is left out (it does not change greedy answers' meaning)."""
    folder = checkpoints.checkpoint_folder(checkpoint) if checkpoint is not None else None
    return {
        "checkpoint": None if checkpoint is None else str(checkpoint),
        "weights_sha256": (
            checkpoints.weights_sha256(folder) if folder is not None and folder.is_dir() else None
        ),
        "prompt_style": prompt_style,
        "max_new_tokens": max_new_tokens,
        "backend": backend,
    }


def settings_differences(out_path: Path, settings: dict) -> str | None:
    """Why the predictions in ``out_path`` cannot be continued with ``settings`` — its
    :func:`run_record_path` is missing, broken, or records other settings (each difference
    named) — or None when they can."""
    record = run_record_path(out_path)
    if not record.is_file():
        return f"no record of what wrote them ({record.name} is missing)"
    try:
        before = json.loads(record.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return f"{record.name} is not JSON ({exc})"
    differ = [
        f"{key} {before.get(key)!r} → now {value!r}"
        for key, value in settings.items()
        if before.get(key) != value
    ]
    return f"written by another run ({'; '.join(differ)})" if differ else None


_LINE_START = b'{"id": '
"""How every line :func:`rsground_lib.evaluation.predict` writes begins (``json.dumps`` of a row whose first key is
``id``)."""


def scan_predictions(path: Path, *, strict: bool = False) -> tuple[list[dict], int, bool]:
    """``(rows, valid_bytes, truncated)`` of an existing predictions file: every complete
    line parsed; a last line without its newline that begins as :func:`rsground_lib.evaluation.predict`'s lines do
    (a crash mid-write) is left out, and ``valid_bytes`` is where it starts. Any other line
    that is not a JSON object with an ``id`` (a last line that does not begin like one
    included: the file is someone else's), an id written twice, a UTF-16 file, or with
    ``strict`` a line without every key of :data:`PREDICTION_KEYS`, is a ValueError naming
    the file and the line."""
    data = path.read_bytes()
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ValueError(f"{path}: UTF-16 text; a predictions file is UTF-8 JSON lines")
    lines = data.split(b"\n")
    tail = lines.pop()  # b"" when the file ends with a newline (or is empty)
    truncated = bool(tail)
    n = min(len(tail), len(_LINE_START))
    if truncated and tail[:n] != _LINE_START[:n]:
        # a line cut mid-write starts as every line predict writes; anything else is not a
        # predictions file, and must not be cut (issue 24: a notes file lost its only line)
        raise ValueError(
            f"{path}:{len(lines) + 1}: not a prediction line (a JSON object with an 'id') and "
            "no newline at its end: this is not a predictions file; choose another -o"
        )
    rows: list[dict] = []
    first_line: dict = {}
    for k, raw in enumerate(lines, start=1):
        try:
            row = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise ValueError(f"{path}:{k}: not a JSON line ({err})") from None
        if not isinstance(row, dict) or "id" not in row:
            raise ValueError(f"{path}:{k}: not a prediction line (a JSON object with an 'id')")
        if strict and not set(PREDICTION_KEYS) <= set(row):
            missing = [key for key in PREDICTION_KEYS if key not in row]
            raise ValueError(
                f"{path}:{k}: not a line of rsground predict (missing {', '.join(missing)}); "
                "this file was written by something else: choose another -o"
            )
        rid = row["id"]
        if isinstance(rid, list | dict):
            raise ValueError(f"{path}:{k}: the id must be a string or an integer; got {rid!r}")
        if rid in first_line:
            raise ValueError(f"{path}:{k}: id {rid!r} already written on line {first_line[rid]}")
        first_line[rid] = k
        rows.append(row)
    return rows, len(data) - len(tail), truncated


def read_prediction_lines(path: str | os.PathLike) -> list[dict]:
    """The lines of a predictions file written by :func:`rsground_lib.evaluation.predict`, in file order. A truncated
    last line (a run killed mid-write) is left out; any other broken line, or an id written
    twice, is a ValueError naming the file and the line. The file is not changed."""
    return scan_predictions(Path(path))[0]


def prediction_row(
    record: Mapping, image_name: str | None, completion: str, box_model, box
) -> dict:
    """One line of a predictions file (:data:`PREDICTION_KEYS`, in that order) for ``record``
    answered with ``completion``: ``box_model`` its parsed box in model-input pixels and
    ``box`` the same box in original pixels (both None when unparsable); ``iou`` with the
    record's ``bbox``, continuous convention."""
    target = [float(v) for v in record["bbox"]]
    return {
        "id": record["id"],
        "image": image_name,
        "expression": record["expression"],
        "completion": completion,
        "box_model": None if box_model is None else [float(v) for v in box_model],
        "bbox": box,
        "parsed": box is not None,
        "iou": float(boxes.iou(box, target)) if box is not None else 0.0,
    }


def prediction_line(row: Mapping) -> str:
    """``row`` as the line :func:`scan_predictions` reads back: compact JSON, non-ASCII kept,
    ``id`` first (:data:`_LINE_START`), a final newline."""
    return json.dumps(row, ensure_ascii=False) + "\n"
