"""What every benchmark reader shares: the load report, skip counting, the request, the record.

A reader (one module per format in this package) turns one split of a benchmark into
candidate records. Each candidate goes through :meth:`Collector.add`, which builds it,
validates it with :func:`rsground_lib.data.schema.validate_record` under the box policies,
and either keeps it or — by ``on_error`` — raises or drops it and counts the drop in the
:class:`LoadReport` (kinds, counts, the first :data:`MAX_EXAMPLES` reasons). Every error
names the file and the line / record / object (``where``) and what was expected.

:func:`make_record` builds the common record (:mod:`rsground_lib.data.schema`): expressions
are stripped and runs of whitespace collapsed to one space (RSVG-HR has double spaces),
cue tags come from :func:`rsground_lib.data.cues.tag_cues`, ``id`` is
``"{dataset}/{split}/{index}"``. Images are never opened: the record stores their path
(:func:`image_path`), and :func:`check_images` only checks that the files exist.

Book chapter: "Data".
"""

from __future__ import annotations

import json
import math
import os
import re
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rsground_lib.data.cues import tag_cues
from rsground_lib.data.schema import RecordError, SkipRecord, records_to_dataset, validate_record
from rsground_lib.vocabulary import DOTA_CLASS_PHRASES

BENCHMARKS: tuple[str, ...] = ("dior_rsvg", "opt_rsvg", "vrsbench", "rsvg_hr", "records")
"""Benchmark names :func:`rsground_lib.data.benchmarks.load_benchmark` understands (plus Hub
ids / dataset paths containing ``/``); each has a reader in
:data:`rsground_lib.data.readers.READERS`."""

ON_ERROR: tuple[str, ...] = ("raise", "skip")

DEFAULT_IMAGE_SIZE: dict[str, tuple[int, int]] = {
    "dior_rsvg": (800, 800),
    "vrsbench": (512, 512),
    "rsvg_hr": (1024, 1024),
}
"""(width, height) in pixels used when the annotation does not say (OPT-RSVG has none)."""

DEFAULT_TOLERANCE: dict[str, float] = {"rsvg_hr": 10.0}
"""Per-benchmark tolerance (px) for boxes sticking out of the image; others use 1 px."""

CUE_IGNORE_PHRASES: dict[str, tuple[str, ...]] = {"vrsbench": DOTA_CLASS_PHRASES}
"""Per dataset, the phrases :func:`~rsground_lib.data.cues.tag_cues` must not read as size
cues: VRSBench uses DOTA's class names "small vehicle" / "large vehicle"; the other
benchmarks have none (in DIOR-RSVG "a small vehicle" is a size cue), so they get ``()``."""

MAX_EXAMPLES = 5
"""How many skip / repair reasons a :class:`LoadReport` keeps verbatim."""


# --------------------------------------------------------------------------------------------
# The report and the collector


@dataclass
class LoadReport:
    """What a reader did: records read, kept, skipped (by kind), repaired, and kept oddities.

    Returned by ``load_benchmark(..., return_report=True)`` and summarised in the dataset's
    ``info.description``; the chapter "Data" prints it.
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


class Collector:
    """Validates candidate records, applies ``on_error`` and the box policies, fills a report."""

    def __init__(self, report: LoadReport, on_error: str, policy: Mapping[str, Any]):
        self.report = report
        self.on_error = on_error
        self.policy = dict(policy)
        self.rows: list[dict[str, Any]] = []

    def fail(self, err: RecordError) -> None:
        """Raise ``err`` (``on_error="raise"``) or count it as a skip; a
        :class:`~rsground_lib.data.schema.SkipRecord` is always counted."""
        if isinstance(err, SkipRecord):
            self.report.count_skip(err)
        elif self.on_error == "raise":
            raise err
        else:
            self.report.count_skip(err)

    def add(self, build: Callable[[], dict[str, Any]], where: str) -> None:
        """Count one record read; build and validate it, then keep it or :meth:`fail`."""
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


@dataclass
class ReadRequest:
    """One call of ``load_benchmark`` as a reader sees it (the reader's own options come as
    keyword arguments beside it).

    ``root`` exists (it is ``None`` only for Hub ids); ``images_dir`` is the caller's, or
    ``None`` for the reader's default (:meth:`images`); ``image`` is ``"path"`` or
    ``"image"``.
    """

    name: str
    root: Path | None
    split: str
    images_dir: Path | None
    image: str
    check_images: bool
    collector: Collector

    @property
    def report(self) -> LoadReport:
        """The collector's report."""
        return self.collector.report

    def images(self, default_subdir: str) -> Path:
        """Where the image files are: the caller's ``images_dir``, else ``default_subdir`` of
        the folder holding the annotations."""
        if self.images_dir is not None:
            return self.images_dir
        assert self.root is not None
        folder = self.root if self.root.is_dir() else self.root.parent
        return folder / default_subdir


def rows_to_dataset(req: ReadRequest):
    """The collected rows as a ``datasets.Dataset`` (after :func:`check_images` when asked)."""
    rows = req.collector.rows
    if req.check_images:
        rows = check_images(rows, req.report, req.collector.on_error)
    extra = _extra_features(rows)
    return records_to_dataset(rows, image=req.image, extra_features=extra, validate=False)


def _extra_features(rows: list[dict[str, Any]]) -> dict[str, Any]:
    import datasets

    extra = {"source": datasets.Value("string")}
    if rows and "unique" in rows[0]:
        extra["unique"] = datasets.Value("bool")
    return extra


def check_images(
    rows: list[dict[str, Any]], report: LoadReport, on_error: str
) -> list[dict[str, Any]]:
    """The rows whose image file exists; the others raise ``FileNotFoundError`` (naming the
    first few) or, with ``on_error="skip"``, are dropped and counted as ``missing_image``."""
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


# --------------------------------------------------------------------------------------------
# Small pure helpers


def make_record(
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
    """One common record; raises :class:`RecordError` for an empty expression or a bad size."""
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


def image_path(images_dir: Path, name: Any, where: str) -> str:
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


def number(text: Any, what: str, where: str) -> float:
    """A finite number read from text (``" 12.5 "``); :class:`RecordError` otherwise."""
    if text is None:
        raise RecordError(where, "missing", f"missing {what}")
    try:
        value = float(str(text).strip())
    except ValueError:
        raise RecordError(where, "bbox", f"{what} must be a number, got {text!r}") from None
    if not math.isfinite(value):
        raise RecordError(where, "bbox", f"{what} must be finite, got {text!r}")
    return value


def json_number(value: Any, what: str, where: str) -> float:
    """A JSON number (int or float, not bool, not a numeric string), finite."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RecordError(where, "bbox", f"{what} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise RecordError(where, "bbox", f"{what} must be finite, got {value!r}")
    return float(value)


def read_json_list(path: Path) -> list[Any]:
    """The JSON list in ``path``; malformed JSON or another top-level type is fatal
    (``ValueError`` naming the file, and the line and column of a syntax error)."""
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


def find_file(root: Path, candidates: list[str], what: str) -> Path:
    """``root`` itself when it is a file, else the first of ``candidates`` inside it."""
    if root.is_file():
        return root
    for name in candidates:
        path = root / name
        if path.is_file():
            return path
    raise FileNotFoundError(f"{what}: none of {candidates} found in {root}")


def annotation_path(root: Path, given: str | Path | None, candidates: list[str], name: str) -> Path:
    """The annotation file: ``given`` (relative to ``root`` unless absolute or ``root`` is
    itself a file), else :func:`find_file` over ``candidates``."""
    if given is not None:
        path = Path(given)
        path = path if path.is_absolute() or root.is_file() else root / path
        if not path.is_file():
            raise FileNotFoundError(f"{name}: annotation file {path} not found")
        return path
    return find_file(root, candidates, name)
