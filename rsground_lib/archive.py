"""Archived results: numbers from earlier experiments that a chapter quotes but does not
re-run, committed under ``experiments/`` as JSON with the commits, command and machine that
produced them. A chapter reads them here and labels them *archived* beside its live numbers,
so that no number is typed into the prose.

Book chapter: "Design and our reading of the paper" (``book/design.md``, "Profiles and the book").
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from rsground_lib.paths import project_root

REQUIRED_KEYS = ("title", "archived", "produced_by")
"""Keys every archived file holds; ``produced_by`` names ``commits``, ``command``,
``machine`` and ``cpu`` (the CPU model, or why it is not recorded: training numbers differ
between CPUs at the float level, so an archived number is read with the CPU that made it)."""

SOURCE_KEYS = ("commits", "command", "machine", "cpu")


def archive_dir(root: str | Path | None = None) -> Path:
    """``<project>/experiments``: where archived results are committed."""
    return project_root(root) / "experiments"


def load(name: str, root: str | Path | None = None) -> dict:
    """The archived result ``experiments/<name>.json``; a ValueError naming the file when it
    is missing, not JSON, or lacks :data:`REQUIRED_KEYS` (or ``archived`` is not true)."""
    path = archive_dir(root) / f"{name}.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ValueError(f"{path}: no archived result of that name") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: expected a UTF-8 JSON object ({exc})") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object, got {type(data).__name__}")
    missing = [k for k in REQUIRED_KEYS if k not in data]
    if missing:
        raise ValueError(f"{path}: missing keys {missing} (every archived result names its source)")
    if data["archived"] is not True:
        raise ValueError(f"{path}: 'archived' must be true")
    source = data["produced_by"]
    if not isinstance(source, dict) or not set(SOURCE_KEYS) <= set(source):
        raise ValueError(f"{path}: 'produced_by' must name {', '.join(SOURCE_KEYS)}")
    return data


def _cell(values) -> str:
    """One table cell: a list of per-seed values joined by commas, ``—`` when absent."""
    if values is None:
        return "—"
    if isinstance(values, list):
        if not values:
            return "—"
        return ", ".join(_cell(v) for v in values)
    if isinstance(values, dict):
        return ", ".join(f"{k} {v}" for k, v in values.items())
    if isinstance(values, float):
        return f"{values:.3f}"
    return str(values).replace("_", "_\u200b")  # may break after an underscore (issue 26)


def table(data: dict, columns: dict[str, str], index: str) -> pd.DataFrame:
    """The ``rows`` of an archived result as a table: ``columns`` maps a row key to its
    column title, ``index`` names the key that labels the rows; missing values show ``—``."""
    rows = data.get("rows")
    if not isinstance(rows, list):
        raise ValueError(f"archived result {data.get('title')!r}: no list of rows")
    frame = pd.DataFrame(
        [{title: _cell(row.get(key)) for key, title in columns.items()} for row in rows],
        index=[str(row[index]) for row in rows],
    )
    frame.index.name = index
    return frame


def source_line(data: dict) -> str:
    """One line that says where an archived result comes from (commits, machine and CPU)."""
    src = data["produced_by"]
    machine = src["machine"]
    if src["cpu"] not in machine:
        machine = f"{machine}; CPU: {src['cpu']}"
    return f"archived: commits {', '.join(src['commits'])}; {machine}"


def value(data: dict, path: str):
    """The value at a dotted ``path`` of an archived result (``"dense_probe.r2_after"``);
    integers in the path index lists. A KeyError names the path when it is absent."""
    node = data
    for part in path.split("."):
        try:
            node = node[int(part)] if isinstance(node, list) else node[part]
        except (KeyError, IndexError, ValueError, TypeError) as exc:
            raise KeyError(f"archived result {data.get('title')!r}: no value at {path!r}") from exc
    return node


def points_lost(
    data: dict, rows: list[int], columns: tuple[str, ...] = ("pr50_small", "pr50_paired")
) -> list[float]:
    """Percentage points of Pr@0.5 that the given ``rows`` lost against the base
    (``base_pr50[<scenes>] − value``, every seed, for each ``pr50_<scenes>`` column present)."""
    out = []
    for i in rows:
        row = data["rows"][i]
        for column in columns:
            base = data["base_pr50"][column.removeprefix("pr50_")]
            out += [round(100 * (base - v), 1) for v in row.get(column) or []]
    if not out:
        raise ValueError(
            f"archived result {data.get('title')!r}: rows {rows} hold none of {columns}"
        )
    return out


def format_value(v) -> str:
    """An archived value as prose quotes it: integers with thousands separators, other
    numbers as they are stored (``0.335``, not a re-rounded ``0.34``)."""
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v:,}"
    return str(v)


def glue_values(data: dict, keys: dict[str, str], prefix: str = "archived_") -> None:
    """Glue (myst_nb) the values at ``keys`` (glue name → dotted path, :func:`value`) as
    text (:func:`format_value`), each name prefixed by ``prefix``. Returns nothing, so that a
    chapter cell ending with it prints nothing."""
    from myst_nb import glue  # the book extra; archived values are read without it

    for name, path in keys.items():
        glue(prefix + name, format_value(value(data, path)), display=False)
