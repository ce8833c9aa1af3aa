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

Text and encodings (:func:`read_text`): annotation files must be UTF-8 (a leading UTF-8
byte-order mark is accepted and dropped). A UTF-16 / UTF-32 file (byte-order mark) or a NUL
byte is fatal, naming the file (and the line of the NUL); bytes that are not UTF-8 are kept
as lone surrogates so that the reader can say which line or record holds them: in a line of a
line-per-record file (:func:`undecodable`) or inside a string of a JSON record
(:func:`json_undecodable`) such a byte makes that one record bad; outside a JSON string it
makes the file malformed (:func:`read_json_list`). Numbers read from text (:func:`number`)
are written with ASCII digits ``0-9`` only: Python's ``float`` would also read ``"1_00"`` and
other scripts' digits (``"٣"``), which are refused. Values shown in messages go through
:func:`shown` (bounded length and depth).

About 610 lines, over the project's ~600: every reader's shared checks (files, encodings,
numbers, boxes, sizes, records) in one place, so that every benchmark's bad input is named
the same way.

Book chapter: "Data".
"""

from __future__ import annotations

import codecs
import io
import json
import math
import numbers
import os
import re
import reprlib
import sys
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rsground_lib import boxes
from rsground_lib.data.cues import tag_cues
from rsground_lib.data.schema import (
    MAX_IMAGE_SIDE_PX,
    RecordError,
    SkipRecord,
    records_to_dataset,
    validate_record,
)
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
            where, "missing", f"expected a non-empty referring expression, got {shown(expression)}"
        )
    expression = " ".join(expression.split())
    try:
        width, height = boxes.as_size(size, max_side=MAX_IMAGE_SIDE_PX)
    except ValueError:
        raise RecordError(
            where,
            "size",
            "image width/height must be positive numbers, whole pixels at most "
            f"{MAX_IMAGE_SIDE_PX}, got {shown(size)}",
        ) from None
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
        raise RecordError(where, "missing", f"expected an image file name, got {shown(name)}")
    name = name.strip()
    pure = Path(name)
    if pure.is_absolute() or ".." in pure.parts or "\\" in name or re.match(r"^[A-Za-z]:", name):
        raise RecordError(
            where,
            "image",
            f"image name {shown(name)} must be a relative path inside the images folder",
        )
    return os.path.abspath(os.path.join(images_dir, name))


_ASCII_NUMBER = re.compile(r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")
"""A decimal number written with ASCII digits: optional sign, point and exponent."""

_NON_FINITE = re.compile(r"[-+]?(?:inf|infinity|nan)", re.IGNORECASE)

_SHOWN = reprlib.Repr()
_SHOWN.maxstring = _SHOWN.maxother = 120
_SHOWN.maxlong = 40
_SHOWN.maxlist = _SHOWN.maxtuple = _SHOWN.maxdict = 8
_SHOWN.maxlevel = 3


def shown(value: Any) -> str:
    """``repr(value)`` for an error message, shortened: long strings, long integers, long or
    deeply nested lists and dicts are elided with ``...`` (a fuzzed file can hold a 1 MB
    string or a list nested 900 deep, which a message must neither copy nor recurse into)."""
    try:
        return _SHOWN.repr(value)
    except ValueError:  # an int with more digits than repr() converts (4,300 by default)
        return f"<a {type(value).__name__} too large to show>"


def number(text: Any, what: str, where: str) -> float:
    """A finite number read from text (``" 12.5 "``) or given as a number;
    :class:`RecordError` otherwise.

    Text must be a decimal number written with ASCII digits (optional sign, ``.`` and
    exponent): ``"1_00"`` and other scripts' digits (``"٣"``), which Python's ``float``
    accepts, are refused. A value beyond the float range (a 400-digit number) is refused as
    not finite.
    """
    if text is None:
        raise RecordError(where, "missing", f"missing {what}")
    if isinstance(text, bool):
        raise RecordError(where, "bbox", f"{what} must be a number, got {text!r}")
    if isinstance(text, numbers.Real):
        try:
            value = float(text)
        except OverflowError:  # an int beyond the float range
            value = math.inf
    else:
        raw = str(text).strip()
        if _NON_FINITE.fullmatch(raw):
            raise RecordError(where, "bbox", f"{what} must be finite, got {shown(text)}")
        if not _ASCII_NUMBER.fullmatch(raw):
            try:
                float(raw)
            except ValueError:
                raise RecordError(
                    where, "bbox", f"{what} must be a number, got {shown(text)}"
                ) from None
            raise RecordError(
                where,
                "bbox",
                f"{what} must be a number written with ASCII digits 0-9 (optional sign, '.' "
                f"and exponent; no '_' separators, no other scripts' digits), got {shown(text)}",
            )
        value = float(raw)
    if not math.isfinite(value):
        raise RecordError(where, "bbox", f"{what} must be finite, got {shown(text)}")
    return value


class OversizedInteger:
    """A JSON integer literal with more digits than Python's ``int()`` converts (4,300 by
    default): :func:`read_json_list` puts one in its place, so that the record holding it is
    one bad record rather than an unreadable file."""

    def __init__(self, literal: str):
        self.digits = len(literal.lstrip("-"))

    def __repr__(self) -> str:
        return f"<a {self.digits}-digit integer>"


def _json_int(literal: str) -> int | OversizedInteger:
    try:
        return int(literal)
    except ValueError:  # only "exceeds the limit on digits": the JSON grammar checked the rest
        return OversizedInteger(literal)


_FLOAT_MAX_INT = int(sys.float_info.max)


def json_number(value: Any, what: str, where: str) -> float:
    """A JSON number (int or float, not bool, not a numeric string), finite and within the
    float range: a 400-digit integer is refused (kind ``"bbox"``) naming ``where``."""
    if isinstance(value, OversizedInteger) or (
        isinstance(value, int) and not isinstance(value, bool) and abs(value) > _FLOAT_MAX_INT
    ):
        digits = value.digits if isinstance(value, OversizedInteger) else len(str(abs(value)))
        raise RecordError(
            where, "bbox", f"{what} is a {digits}-digit integer, beyond the float range"
        )
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RecordError(where, "bbox", f"{what} must be a number, got {shown(value)}")
    if not math.isfinite(value):
        raise RecordError(where, "bbox", f"{what} must be finite, got {value!r}")
    return float(value)


_WIDE_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "UTF-32"),  # before UTF-16 LE: it starts with the same two bytes
    (codecs.BOM_UTF32_BE, "UTF-32"),
    (codecs.BOM_UTF16_LE, "UTF-16"),
    (codecs.BOM_UTF16_BE, "UTF-16"),
)

_ESCAPED_BYTE = re.compile("[\udc80-\udcff]")
"""A byte that was not UTF-8, as ``surrogateescape`` keeps it."""


def read_text(path: Path, expected: str) -> str:
    """The text of a UTF-8 annotation file, newlines translated as ``open()`` does
    (``\\r\\n`` and ``\\r`` become ``\\n``); ``expected`` says what the file should hold, for
    the messages.

    A leading UTF-8 byte-order mark is dropped. Fatal (``ValueError`` naming the file): a
    UTF-16 / UTF-32 byte-order mark, and any NUL byte (named by line: a UTF-16 file without
    a mark, or a binary file). Other bytes that are not UTF-8 are kept as lone surrogates
    (``surrogateescape``): :func:`undecodable` finds them, so that the caller names the line
    or record and decides whether that is one bad record or a bad file.
    """
    data = path.read_bytes()
    for bom, encoding in _WIDE_BOMS:
        if data.startswith(bom):
            raise ValueError(
                f"{path}: starts with a {encoding} byte-order mark, so it is {encoding}-encoded; "
                f"expected {expected} in UTF-8 (re-save the file as UTF-8)"
            )
    nul = data.find(b"\x00")
    if nul >= 0:
        line = data.count(b"\n", 0, nul) + 1
        raise ValueError(
            f"{path} line {line}: NUL byte at byte offset {nul} (a UTF-16 / UTF-32 or binary "
            f"file?); expected {expected} in UTF-8"
        )
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    text = data.decode("utf-8", errors="surrogateescape")
    return io.StringIO(text, newline=None).getvalue()


def text_lines(text: str) -> list[str]:
    """``text`` (from :func:`read_text`) split into lines as a text file's ``readlines()``
    does: at ``\\n`` only, keeping it (``str.splitlines`` would also split at ``\\x85`` or
    ``\\u2028`` inside an expression)."""
    return io.StringIO(text, newline="\n").readlines()


def undecodable(text: str) -> str | None:
    """The first byte of ``text`` (a line from :func:`read_text`) that was not UTF-8, as
    ``"byte 0xe9 at column 38 is not UTF-8"`` (the column counts from the last newline before
    it), or ``None`` when every byte was UTF-8."""
    match = _ESCAPED_BYTE.search(text)
    if match is None:
        return None
    column = match.start() - text.rfind("\n", 0, match.start())
    return f"byte 0x{ord(match.group()) - 0xDC00:02x} at column {column} is not UTF-8"


_SURROGATE = re.compile("[\ud800-\udfff]")


def _describe_surrogate(char: str) -> str:
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:
        return f"byte 0x{code - 0xDC00:02x} is not UTF-8 (or a lone surrogate \\u{code:04x})"
    return f"lone surrogate \\u{code:04x} (not encodable as UTF-8)"


def check_json_record(entry: Any, where: str) -> None:
    """A record of a JSON list must be an object whose strings are UTF-8 text: a
    :class:`~rsground_lib.data.schema.RecordError` naming ``where`` otherwise (kind ``type``
    or ``encoding``), so that ``on_error="skip"`` drops just that record."""
    if not isinstance(entry, Mapping):
        raise RecordError(where, "type", f"expected a JSON object, got {type(entry).__name__}")
    bad = json_undecodable(entry)
    if bad is not None:
        raise RecordError(where, "encoding", f"{bad}; expected UTF-8 text")


def json_undecodable(value: Any) -> str | None:
    """Where a record parsed by :func:`read_json_list` holds text that is not UTF-8 — a byte
    the file did not encode as UTF-8, or a ``"\\ud800"``-style lone surrogate escape, which
    Arrow cannot store — as ``"byte 0xe9 is not UTF-8 (...) in record['question']"``; ``None``
    when all its strings (keys included) are clean. Walks the record without recursion."""
    stack: list[tuple[Any, str]] = [(value, "record")]
    while stack:
        item, at = stack.pop()
        if isinstance(item, str):
            found = _SURROGATE.search(item)
            if found is not None:
                return f"{_describe_surrogate(found.group())} in {at}"
        elif isinstance(item, dict):
            for key, child in reversed(list(item.items())):
                stack.append((child, f"{at}[{shown(key)}]"))
                stack.append((key, f"a key of {at}"))
        elif isinstance(item, list):
            stack.extend((child, f"{at}[{k}]") for k, child in reversed(list(enumerate(item))))
    return None


class _DuplicateKey(Exception):
    def __init__(self, key: str, pairs: list):
        super().__init__(key)
        self.key, self.pairs = key, dict(pairs)


def _unique_keys(pairs: list) -> dict:
    """``object_pairs_hook`` of :func:`read_json_list`: a key given twice in one object is an
    error (``json`` keeps the last silently: a record with two ``"bbox"`` keys would be read
    with the second)."""
    seen: dict = {}
    for key, value in pairs:
        if key in seen:
            raise _DuplicateKey(key, pairs)
        seen[key] = value
    return seen


def read_json_list(path: Path) -> list[Any]:
    """The JSON list in ``path``, which must hold at least one record.

    Fatal in both ``on_error`` modes (``ValueError`` naming the file): a UTF-16 / UTF-32 file
    or a NUL byte (:func:`read_text`), malformed JSON (line and column; a byte that is not
    UTF-8 outside a string is named as such), nesting too deep to parse, another top-level
    type, an empty list. Not fatal: bytes that are not UTF-8 inside a string are kept as lone
    surrogates, and the reader refuses the record holding them (:func:`json_undecodable`,
    kind ``"encoding"``) — every record stands alone, as every line of RSVG-HR does; an
    integer literal too long to convert becomes an :class:`OversizedInteger`, which the
    record's checks refuse. So ``on_error="skip"`` drops just those records.
    """
    text = read_text(path, "a JSON list of records")
    try:
        data = json.loads(text, parse_int=_json_int, object_pairs_hook=_unique_keys)
    except _DuplicateKey as dup:
        raise ValueError(
            f"{path}: an object holds the key {dup.key!r} twice ({shown(dup.pairs)}); JSON keeps "
            "only the last one, so the record would be read wrong: remove one"
        ) from None
    except json.JSONDecodeError as err:
        found = _SURROGATE.match(err.doc, err.pos) if isinstance(err.doc, str) else None
        cause = _describe_surrogate(found.group()) if found is not None else err.msg
        raise ValueError(
            f"{path}: malformed JSON at line {err.lineno} column {err.colno} ({cause})"
        ) from err
    except RecursionError as err:
        raise ValueError(
            f"{path}: JSON nested too deeply to parse (more levels than Python's recursion "
            f"limit of {sys.getrecursionlimit()}); expected a list of flat records"
        ) from err
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a JSON list of records, got a {type(data).__name__}")
    if not data:
        raise ValueError(f"{path}: empty JSON list; expected at least one record")
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
