"""One reader per benchmark format, behind the :data:`READERS` registry.

A reader is a function ``reader(req, **options) -> datasets.Dataset``: ``req`` is the
:class:`~rsground_lib.data.readers.common.ReadRequest` that
:func:`rsground_lib.data.benchmarks.load_benchmark` builds (name, root, split, images folder,
the collector that validates and counts), and its keyword-only parameters are the options
that benchmark accepts (``load_benchmark`` refuses any other). Modules: :mod:`.common`
(report, skip counting, the record), :mod:`.dior_rsvg` (VOC XML + official split files),
:mod:`.opt_rsvg`, :mod:`.vrsbench`, :mod:`.rsvg_hr`, :mod:`.records_json`, :mod:`.hub`.

Book chapter: "Data".
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

from rsground_lib.data.readers.dior_rsvg import read_dior_rsvg
from rsground_lib.data.readers.hub import read_hub
from rsground_lib.data.readers.opt_rsvg import read_opt_rsvg
from rsground_lib.data.readers.records_json import read_records
from rsground_lib.data.readers.rsvg_hr import read_rsvg_hr
from rsground_lib.data.readers.vrsbench import read_vrsbench

HUB = "hub"
"""The registry name of the Hub reader; ``load_benchmark`` uses it for any name with ``/``."""

READERS: dict[str, Callable] = {
    "dior_rsvg": read_dior_rsvg,
    "opt_rsvg": read_opt_rsvg,
    "vrsbench": read_vrsbench,
    "rsvg_hr": read_rsvg_hr,
    "records": read_records,
    HUB: read_hub,
}
"""Benchmark name → reader. The names besides ``"hub"`` are
:data:`~rsground_lib.data.readers.common.BENCHMARKS`."""


def reader_options(reader: Callable) -> dict[str, inspect.Parameter]:
    """The options a reader accepts: its keyword-only parameters, by name."""
    return {
        name: p
        for name, p in inspect.signature(reader).parameters.items()
        if p.kind is inspect.Parameter.KEYWORD_ONLY
    }
