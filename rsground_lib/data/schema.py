"""The record: the one row format every dataset — synthetic or real — is turned into.

Book chapter: "Data" (``book/02_data.py``). Columns (:data:`REQUIRED_COLUMNS`):

========== ==================================================================================
``id``         stable string id, ``"{dataset}/{split}/{index}"`` for the real benchmarks
``dataset``    e.g. ``"dior_rsvg"``; ``split``: e.g. ``"test"``
``image``      the image file's path as a string (opened lazily by whoever needs pixels), or a
               ``datasets.Image`` feature (``image="image"`` in :func:`record_features`), which
               also stores only the path until a row is read
``width``      original image width in pixels (int, 0 < width <= :data:`MAX_IMAGE_SIDE_PX`);
               ``height`` likewise
``expression`` the referring sentence (non-empty str)
``bbox``       ``[x1, y1, x2, y2]`` float, absolute pixels of the ORIGINAL image, continuous
               convention (width ``x2 - x1``, see :mod:`rsground_lib.boxes`)
``category``   object class where known, else ``None``
``cues``       positional-cue tags of the expression (:func:`rsground_lib.data.cues.tag_cues`)
========== ==================================================================================

Optional columns: ``objects`` (synthetic scenes only: every object of the scene; absent from
real benchmarks), ``source`` (where the row came from: file and line / object, for error
messages and audits) and per-benchmark extras such as VRSBench's ``unique`` flag. Their
features are given by the caller or inferred from the values.

Validation (:func:`validate_record`) checks types and box geometry and says what it expected.
Two geometric oddities exist in the real data and get an explicit policy rather than a silent
fix:

* **degenerate boxes** (``x1 == x2`` or ``y1 == y2``): OPT-RSVG has 42 zero-width boxes,
  VRSBench 6 degenerate ones. ``degenerate="keep"`` (default: benchmarks score them, and an
  IoU of 0 against them is part of the published numbers), ``"skip"`` or ``"error"``.
* **boxes outside the image**: a box may stick out of the image by at most ``tolerance_px``
  pixels (default :data:`DEFAULT_TOLERANCE_PX` = 1). RSVG-HR boxes exceed its 1,024-px images
  by up to ~8 px, so its reader uses 10 px. Beyond the tolerance, ``outside="error"``
  (default), ``"skip"`` or ``"keep"``.

An inverted box (``x1 > x2`` or ``y1 > y2``), a non-finite coordinate, a wrong type or a
non-positive image size is always an error (:class:`RecordError`).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping
from typing import Any

REQUIRED_COLUMNS: tuple[str, ...] = (
    "id",
    "dataset",
    "split",
    "image",
    "width",
    "height",
    "expression",
    "bbox",
    "category",
    "cues",
)
"""The columns every record has, in this order."""

DEFAULT_TOLERANCE_PX = 1.0
"""How far (pixels) a box may stick out of its image before it counts as *outside*."""

MAX_IMAGE_SIDE_PX = 2**31 - 1
"""The largest image width / height a record holds: ``width`` and ``height`` are int32
features (a larger value would fail inside Arrow, without naming the record)."""

DEGENERATE_POLICIES: tuple[str, ...] = ("keep", "skip", "error")
OUTSIDE_POLICIES: tuple[str, ...] = ("error", "skip", "keep")
IMAGE_KINDS: tuple[str, ...] = ("path", "image")


class RecordError(ValueError):
    """A record that does not match the schema.

    ``where`` names the file and line / record index, ``kind`` is a short machine-readable
    reason (``"type"``, ``"missing"``, ``"bbox"``, ``"inverted"``, ``"degenerate"``,
    ``"outside"``, ``"size"``, or a reader's own kinds such as ``"parse"``).
    """

    def __init__(self, where: str, kind: str, message: str):
        self.where = where
        self.kind = kind
        self.detail = message
        super().__init__(f"{where}: {message}")


class SkipRecord(RecordError):
    """Raised by :func:`validate_record` when the caller's policy says *skip* this record.

    Readers count it (it is never silent) even with ``on_error="raise"``, because the caller
    asked for it explicitly (``degenerate="skip"`` / ``outside="skip"``).
    """


def _check_policy(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {allowed}, got {value!r}")


def record_features(
    *,
    image: str = "path",
    objects: Any | None = None,
    extra: Mapping[str, Any] | None = None,
):
    """The ``datasets.Features`` of the record (book chapter "Data", ``book/02_data.py``).

    ``image="path"`` stores the image as a path string; ``image="image"`` as a
    ``datasets.Image()`` feature (still lazy: only the path is stored, pixels are decoded when
    a row is read). ``objects`` is the feature of the optional ``objects`` column (synthetic
    data); ``extra`` maps further column names to their features. ``bbox`` is a fixed-length
    list of 4 float64, ``cues`` a list of strings, ``category`` a nullable string.
    """
    import datasets

    _check_policy("image", image, IMAGE_KINDS)
    features = {
        "id": datasets.Value("string"),
        "dataset": datasets.Value("string"),
        "split": datasets.Value("string"),
        "image": datasets.Value("string") if image == "path" else datasets.Image(),
        "width": datasets.Value("int32"),
        "height": datasets.Value("int32"),
        "expression": datasets.Value("string"),
        "bbox": datasets.List(datasets.Value("float64"), length=4),
        "category": datasets.Value("string"),
        "cues": datasets.List(datasets.Value("string")),
    }
    if objects is not None:
        features["objects"] = objects
    for name, feature in (extra or {}).items():
        if name in features:
            raise ValueError(f"extra feature {name!r} clashes with a record column")
        features[name] = feature
    return datasets.Features(features)


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def validate_record(
    rec: Mapping[str, Any],
    where: str,
    *,
    tolerance_px: float = DEFAULT_TOLERANCE_PX,
    degenerate: str = "keep",
    outside: str = "error",
) -> tuple[str, ...]:
    """Check one record against the schema; say what was expected when it does not match.

    Used by every reader in :mod:`rsground_lib.data.benchmarks` and by
    :func:`records_to_dataset` (book chapter "Data", ``book/02_data.py``). ``where`` names the
    record for the message (e.g. ``"rsvg_hr_train.txt line 18"``).

    Checks: every required column is present; ``id``/``dataset``/``split``/``expression`` are
    non-empty strings; ``image`` is a non-empty path string (or an already-encoded
    ``datasets.Image`` dict); ``width``/``height`` are positive ints at most
    :data:`MAX_IMAGE_SIDE_PX`; ``bbox`` holds 4 finite
    numbers with ``x1 <= x2`` and ``y1 <= y2``; ``category`` is a string or ``None``; ``cues``
    a list of strings. Then the two policies of the module docstring: a degenerate box
    (``degenerate``) and a box more than ``tolerance_px`` outside ``[0, width] × [0, height]``
    (``outside``).

    Returns the flags of oddities that were *kept* (``"degenerate"``, ``"outside"``) so that
    readers can count them. Raises :class:`SkipRecord` when a policy says skip, and
    :class:`RecordError` for everything else that is wrong.
    """
    _check_policy("degenerate", degenerate, DEGENERATE_POLICIES)
    _check_policy("outside", outside, OUTSIDE_POLICIES)
    if not _is_real(tolerance_px) or not tolerance_px >= 0 or math.isinf(tolerance_px):
        raise ValueError(f"tolerance_px must be a finite number >= 0, got {tolerance_px!r}")
    if not isinstance(rec, Mapping):
        raise RecordError(where, "type", f"expected a record (a mapping), got {type(rec).__name__}")
    missing = [c for c in REQUIRED_COLUMNS if c not in rec]
    if missing:
        raise RecordError(
            where, "missing", f"missing column(s) {missing}; a record has {list(REQUIRED_COLUMNS)}"
        )
    for name in ("id", "dataset", "split", "expression"):
        value = rec[name]
        if not isinstance(value, str) or not value.strip():
            raise RecordError(where, "type", f"{name} must be a non-empty string, got {value!r}")
    image = rec["image"]
    if isinstance(image, Mapping):
        if not (image.get("path") or image.get("bytes")):
            raise RecordError(
                where, "type", f"image dict must hold a path or bytes, got keys {sorted(image)}"
            )
    elif not isinstance(image, str) or not image:
        raise RecordError(where, "type", f"image must be a non-empty path string, got {image!r}")
    width, height = rec["width"], rec["height"]
    for name, value in (("width", width), ("height", height)):
        if not _is_int(value) or value <= 0:
            raise RecordError(
                where, "size", f"{name} must be a positive int (pixels), got {value!r}"
            )
        if value > MAX_IMAGE_SIDE_PX:
            raise RecordError(
                where,
                "size",
                f"{name} must be at most {MAX_IMAGE_SIDE_PX} pixels (an int32), got "
                + (str(value) if value < 10**20 else f"a {value.bit_length()}-bit integer"),
            )
    category = rec["category"]
    if category is not None and not isinstance(category, str):
        raise RecordError(where, "type", f"category must be a string or None, got {category!r}")
    cues = rec["cues"]
    if not isinstance(cues, (list, tuple)) or not all(isinstance(c, str) for c in cues):
        raise RecordError(where, "type", f"cues must be a list of strings, got {cues!r}")

    bbox = rec["bbox"]
    if not isinstance(bbox, (list, tuple)) or len(bbox) != 4 or not all(_is_real(v) for v in bbox):
        raise RecordError(where, "bbox", f"bbox must be [x1, y1, x2, y2] (4 numbers), got {bbox!r}")
    x1, y1, x2, y2 = (float(v) for v in bbox)
    if not all(math.isfinite(v) for v in (x1, y1, x2, y2)):
        raise RecordError(where, "bbox", f"bbox must be finite, got {list(bbox)}")
    if x1 > x2 or y1 > y2:
        raise RecordError(
            where, "inverted", f"bbox {list(bbox)} is inverted: expected x1 <= x2 and y1 <= y2"
        )

    flags: list[str] = []
    if x1 == x2 or y1 == y2:
        message = f"bbox {list(bbox)} is degenerate (zero width or height)"
        if degenerate == "error":
            raise RecordError(where, "degenerate", message + "; pass degenerate='keep' or 'skip'")
        if degenerate == "skip":
            raise SkipRecord(where, "degenerate", message + " (skipped: degenerate='skip')")
        flags.append("degenerate")

    tol = float(tolerance_px)
    if x1 < -tol or y1 < -tol or x2 > width + tol or y2 > height + tol:
        message = (
            f"bbox {list(bbox)} lies outside the {width}x{height} image by more than "
            f"{tol:g} px (expected -{tol:g} <= x1, y1 and x2 <= width + {tol:g}, "
            f"y2 <= height + {tol:g})"
        )
        if outside == "error":
            raise RecordError(
                where, "outside", message + "; pass tolerance_px or outside='keep'/'skip'"
            )
        if outside == "skip":
            raise SkipRecord(where, "outside", message + " (skipped: outside='skip')")
        flags.append("outside")
    return tuple(flags)


def _infer_feature(name: str, values: list[Any]):
    import datasets

    inferred = datasets.Dataset.from_dict({name: values}).features[name]
    return inferred


def records_to_dataset(
    records: Iterable[Mapping[str, Any]],
    *,
    image: str = "path",
    objects_feature: Any | None = None,
    extra_features: Mapping[str, Any] | None = None,
    validate: bool = True,
    tolerance_px: float = DEFAULT_TOLERANCE_PX,
    degenerate: str = "keep",
    outside: str = "error",
    info_description: str | None = None,
):
    """Build a ``datasets.Dataset`` of records with the schema's features.

    The one way real readers and the synthetic generator produce datasets (book chapter
    "Data", ``book/02_data.py``). ``image`` chooses the image feature (``"path"`` string or
    ``"image"`` = ``datasets.Image()``, both lazy). Columns beyond :data:`REQUIRED_COLUMNS`
    (``objects``, ``source``, extras) take their feature from ``objects_feature`` /
    ``extra_features`` or are inferred from the values; every record must have the same
    columns. With ``validate=True`` each record goes through :func:`validate_record` with the
    given policies, and any record it would skip raises instead (this function never drops
    rows; readers skip and count before calling it). Raises :class:`RecordError` naming the
    record's position (and ``id``).
    """
    import datasets

    rows = list(records)
    if not rows:
        features = record_features(image=image, objects=objects_feature, extra=extra_features)
        return datasets.Dataset.from_dict({name: [] for name in features}, features=features)
    columns = list(rows[0])
    for position, row in enumerate(rows):
        if set(row) != set(columns):
            raise RecordError(
                f"record {position} (id {row.get('id')!r})",
                "missing",
                f"has columns {sorted(row)} but record 0 has {sorted(columns)}; "
                "every record needs the same columns",
            )
        if validate:
            where = f"record {position} (id {row.get('id')!r})"
            try:
                validate_record(
                    row, where, tolerance_px=tolerance_px, degenerate=degenerate, outside=outside
                )
            except SkipRecord as skip:
                raise RecordError(
                    skip.where,
                    skip.kind,
                    f"{skip.detail}; records_to_dataset never drops rows: filter them first",
                ) from skip
    extras = {}
    for name in columns:
        if name in REQUIRED_COLUMNS or name == "objects":
            continue
        if extra_features and name in extra_features:
            extras[name] = extra_features[name]
        else:
            extras[name] = _infer_feature(name, [row[name] for row in rows])
    objects = None
    if "objects" in columns:
        objects = objects_feature or _infer_feature("objects", [row["objects"] for row in rows])
    features = record_features(image=image, objects=objects, extra=extras)
    ordered = [c for c in features]
    data = {name: [row[name] for row in rows] for name in ordered}
    dataset = datasets.Dataset.from_dict(data, features=features)
    if info_description:
        # (a DatasetInfo passed to from_dict without features is rejected by datasets 5.x:
        # "Features specified in `features` and `info.features` can't be different")
        dataset.info.description = info_description
    return dataset
