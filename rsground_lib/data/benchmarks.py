"""Read the real remote-sensing visual-grounding benchmarks, each in its official format.

One entry point, :func:`load_benchmark`, turns DIOR-RSVG, OPT-RSVG, VRSBench, RSVG-HR, the
JSON-records shape and Hugging Face Hub datasets into a ``datasets.Dataset`` of the common
record (:mod:`rsground_lib.data.schema`), with the positional-cue tags of
:func:`rsground_lib.data.cues.tag_cues` in ``cues`` and a stable
``id = "{dataset}/{split}/{index}"``. It looks the format's reader up in
:data:`~rsground_lib.data.readers.READERS` (one module per format in
:mod:`rsground_lib.data.readers`, where each format and the choices made for it are
described). Images are never opened: the record stores their path (``check_images=True``
only checks that the files exist). :func:`load_available` reads the benchmark splits the
book uses from the data root, and says which were not found.

Bad input: every problem names the file, the line / record / object and what was expected.
``on_error="raise"`` (default) stops at the first bad record; ``on_error="skip"`` drops it,
counts it in a :class:`LoadReport` (kinds, counts, the first few reasons), and warns. Problems
that make the rest of the file meaningless are fatal in both modes (``ValueError`` naming the
file): an unreadable split file, a malformed or hostile XML file (it would shift every later
global object index), malformed JSON, JSON nested too deeply to parse, a JSON or split file
that is not UTF-8, any UTF-16 / UTF-32 file, and an empty input (an empty split file, an empty
JSON list, an RSVG-HR file without a data line, a Hub split without rows: no benchmark split
is empty, so that is a truncated or wrong file, never a result). Single bad records, skipped
with ``on_error="skip"``: a line of RSVG-HR that is not UTF-8, a number beyond the float range,
a number not written with ASCII digits (``"٣"``, ``"1_00"``: the split files refuse those
fatally). Untrusted XML goes through ``defusedxml``. Nothing is unpickled.

Book chapter: "Data".
"""

from __future__ import annotations

import inspect
import json
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rsground_lib.data.readers import HUB, READERS, reader_options
from rsground_lib.data.readers.common import (
    BENCHMARKS,
    CUE_IGNORE_PHRASES,
    DEFAULT_IMAGE_SIZE,
    DEFAULT_TOLERANCE,
    ON_ERROR,
    Collector,
    LoadReport,
    ReadRequest,
)
from rsground_lib.data.readers.hub import HUB_COLUMNS
from rsground_lib.data.readers.vrsbench import VRSBENCH_FIELDS
from rsground_lib.data.schema import DEFAULT_TOLERANCE_PX

__all__ = [
    "BENCHMARKS",
    "CUE_IGNORE_PHRASES",
    "DEFAULT_IMAGE_SIZE",
    "DEFAULT_TOLERANCE",
    "HUB_COLUMNS",
    "READERS",
    "REAL_SPLITS",
    "VRSBENCH_FIELDS",
    "LoadReport",
    "RealData",
    "RealSplit",
    "load_available",
    "load_benchmark",
]


def _check_choice(name: str, value: Any, allowed: Iterable[Any]) -> None:
    allowed = tuple(allowed)
    if value not in allowed:
        raise ValueError(f"{name} must be one of {allowed}, got {value!r}")


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

    The entry point of the chapter "Data" and of every evaluation on real data. ``name`` is
    one of :data:`BENCHMARKS` or a Hugging Face Hub id / dataset path (anything containing
    ``/``); ``root`` is the benchmark's folder (or its annotation file); formats and
    conventions are in the reader modules of :mod:`rsground_lib.data.readers`.

    Common arguments:

    * ``on_error``: ``"raise"`` (default) stops at the first bad record with an error naming
      file, line / record and what was expected; ``"skip"`` drops it, counts it in the report
      and warns. Errors about a whole file (module docstring) are fatal in both modes, and an
      input without any record is an error.
    * ``image``: ``"path"`` (a path string) or ``"image"`` (``datasets.Image``; still lazy).
    * ``images_dir``: where the image files are (default: ``root/JPEGImages`` for DIOR-RSVG and
      OPT-RSVG, ``root/images`` otherwise). It need not exist unless ``check_images=True``,
      which checks every file and raises (or, with ``on_error="skip"``, drops and counts) the
      records whose image is missing.
    * ``tolerance_px`` (default :data:`DEFAULT_TOLERANCE`, else 1 px), ``degenerate``
      (``"keep"``/``"skip"``/``"error"``), ``outside`` (``"error"``/``"skip"``/``"keep"``):
      the box policies of :func:`rsground_lib.data.schema.validate_record`.
    * ``return_report``: also return the :class:`LoadReport` (``(dataset, report)``).

    Options per benchmark (the keyword-only parameters of its reader; any other is refused):

    * ``dior_rsvg`` / ``opt_rsvg``: ``annotations_dir`` (``"Annotations"``), ``split_file``
      (``root/{split}.txt``), ``default_image_size`` (DIOR-RSVG 800×800, OPT-RSVG none).
    * ``vrsbench``: ``annotation_file`` (default ``VRSBench_EVAL_referring.json`` or
      ``vrsbench_{split}.json``), ``fields`` (role → field name(s), see
      :data:`VRSBENCH_FIELDS`), ``patch_size_px`` (512), ``grid_size`` (100).
    * ``rsvg_hr``: ``annotation_file``, ``image_size`` (1024×1024),
      ``repair_decimal_comma`` (False).
    * ``records``: ``dataset`` (required: the label, e.g. ``"dior_rsvg"``), ``image_size``
      (tuple, mapping or callable; default per dataset), ``annotation_file``.
    * Hub ids: ``datasets.load_dataset(name, split=split, revision=revision)``; ``columns``
      maps the record's names to the dataset's (e.g. ``{"expression": "question"}``),
      ``dataset`` sets the label (default: the last part of ``name``), ``image_size`` when
      the dataset has no ``width`` / ``height`` columns. See
      :mod:`rsground_lib.data.readers.hub`.
    """
    _check_choice("on_error", on_error, ON_ERROR)
    _check_choice("image", image, ("path", "image"))
    kind = HUB if "/" in name else name
    if kind not in READERS:
        raise ValueError(
            f"unknown benchmark {name!r}; expected one of {BENCHMARKS} or a Hub id 'owner/name'"
        )
    reader = READERS[kind]
    allowed = reader_options(reader)
    unknown = set(options) - set(allowed)
    if unknown:
        raise TypeError(
            f"load_benchmark({name!r}): unknown option(s) {sorted(unknown)}; allowed: {sorted(allowed)}"
        )
    if "dataset" in allowed:  # the file does not say which dataset it is: the caller does
        dataset_label = options.get("dataset")
        if not dataset_label and allowed["dataset"].default is inspect.Parameter.empty:
            raise ValueError(
                f"load_benchmark({name!r}, ...): pass dataset='<name>' (e.g. 'dior_rsvg'); the file does not say"
            )
    else:
        dataset_label = kind
    if tolerance_px is None:
        tolerance_px = DEFAULT_TOLERANCE.get(dataset_label or "", DEFAULT_TOLERANCE_PX)
    policy = {"tolerance_px": tolerance_px, "degenerate": degenerate, "outside": outside}
    report = LoadReport(benchmark=dataset_label or name, split=split, source=str(root or name))
    if kind != HUB:
        if root is None:
            raise ValueError(f"load_benchmark({name!r}): pass root, the benchmark's folder")
        root = Path(root).expanduser()
        if not root.exists():
            raise FileNotFoundError(f"{name}: {root} does not exist")
    request = ReadRequest(
        name=name,
        root=None if kind == HUB else root,
        split=split,
        images_dir=Path(images_dir).expanduser() if images_dir is not None else None,
        image=image,
        check_images=check_images,
        collector=Collector(report, on_error, policy),
    )
    ds = reader(request, **options)
    if report.n_read == 0:  # each reader names its empty file first; this is the backstop
        raise ValueError(
            f"{report.source}: no records in {name} split {split!r}; expected at least one"
        )
    report.n_kept = ds.num_rows
    return _finish_report(ds, report, return_report)


def _finish_report(ds, report: LoadReport, return_report: bool):
    ds.info.description = json.dumps({"load_report": report.as_dict()})
    if report.skipped or report.repaired:
        warnings.warn(report.summary(), stacklevel=3)
    return (ds, report) if return_report else ds


# --------------------------------------------------------------------------------------------
# The splits the book reads from the data root


@dataclass(frozen=True)
class RealSplit:
    """Where one benchmark split lives under the data root and how :func:`load_benchmark`
    reads it (``name``, ``split`` and ``options`` are its arguments)."""

    name: str
    path: str
    split: str
    options: Mapping[str, Any] = field(default_factory=dict)


REAL_SPLITS: dict[str, RealSplit] = {
    "DIOR-RSVG train": RealSplit("records", "dior_rsvg/records", "train", {"dataset": "dior_rsvg"}),
    "DIOR-RSVG test": RealSplit("records", "dior_rsvg/records", "test", {"dataset": "dior_rsvg"}),
    "VRSBench val": RealSplit(
        "records", "vrsbench/records_val.json", "val", {"dataset": "vrsbench", "outside": "keep"}
    ),
    "RSVG-HR test": RealSplit("rsvg_hr", "rsvg_hr", "test"),
    "RSVG-HR train": RealSplit(
        "rsvg_hr", "rsvg_hr", "train", {"repair_decimal_comma": True, "on_error": "skip"}
    ),
}
"""The real splits the book uses, by the label its tables show, in table order. VRSBench
keeps (and counts) its boxes beyond the 512-px patch; RSVG-HR train repairs its one
decimal comma and skips (and counts) its one inverted box (chapter "Data")."""


@dataclass
class RealData:
    """What :func:`load_available` found: datasets and load reports by label, and for each
    split not found, why (``data_root`` is ``None`` when no data root is set)."""

    data_root: Path | None
    datasets: dict[str, Any]
    reports: dict[str, LoadReport]
    missing: dict[str, str]

    def missing_note(self, consequence: str) -> str:
        """What a chapter prints when splits are missing, ending with ``consequence`` (e.g.
        ``"the real-data comparison is skipped"``): one line when no data root is set, else
        one line per missing split with the reason."""
        if self.data_root is None:
            return f"RSGROUND_DATA is not set: {consequence}."
        lines = [f"{label}: {why}" for label, why in self.missing.items()]
        return f"Not found under {self.data_root} ({consequence} for them):\n  " + "\n  ".join(
            lines
        )


def load_available(data_root: str | Path | None, labels: Sequence[str] | None = None) -> RealData:
    """Read the splits of :data:`REAL_SPLITS` (all, or those named in ``labels``, in
    registry order) that exist under ``data_root``.

    Used by the chapters "Rewards" and "Data". A split whose folder or file is absent is
    listed in ``missing`` with the reason instead of raising; with ``data_root=None`` every
    requested split is missing. Any other problem raises as :func:`load_benchmark` does. The
    readers' warnings about counted skips and repairs are silenced: the returned reports
    hold them (``report.summary()``).
    """
    unknown = [label for label in labels or () if label not in REAL_SPLITS]
    if unknown:
        raise ValueError(f"unknown real split(s) {unknown}; known: {list(REAL_SPLITS)}")
    wanted = [label for label in REAL_SPLITS if labels is None or label in labels]
    root = Path(data_root).expanduser() if data_root is not None else None
    found = RealData(root, {}, {}, {})
    for label in wanted:
        spec = REAL_SPLITS[label]
        if root is None:
            found.missing[label] = "no data root (RSGROUND_DATA is not set)"
            continue
        try:
            with warnings.catch_warnings():  # skips and repairs are in the report
                warnings.simplefilter("ignore", UserWarning)
                ds, report = load_benchmark(
                    spec.name, root / spec.path, spec.split, return_report=True, **spec.options
                )
        except FileNotFoundError as err:
            found.missing[label] = str(err)
            continue
        found.datasets[label] = ds
        found.reports[label] = report
    return found
