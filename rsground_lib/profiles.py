"""Profiles and chapter parameters: a chapter's parameters cell read as papermill reads it,
with each parameter's type and declared range (``# int ≥ 2: …``, ``# float in [0, 1]: …``,
``# str in {a, b}: …``, :func:`parse_constraint`); a parameter profile read safely (UTF-8,
no duplicate keys) and resolved against the chapters before anything runs
(:func:`resolve_parameters`); a profile named in ``params/`` or given as a ``.yml`` file
(:func:`resolve_profile`). ``>=`` and ``<=`` cannot be used in a range: papermill silently
drops a parameters line that holds more than one ``=`` (:func:`chapter_parameters` refuses
such a line). The errors the command line reports as one message derive from
:class:`BookError`.

Book chapter: *Overview* ("How to run").
"""

from __future__ import annotations

import ast
import json
import math
import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from rsground_lib import paths, rewards
from rsground_lib.config import YAML_HINT
from rsground_lib.data import benchmarks

REGISTRY_PARAMETERS: dict[str, tuple[Any, str]] = {
    "reward_funcs": (rewards.REWARDS, "rsground_lib.rewards.REWARDS"),
    "real_splits": (benchmarks.REAL_SPLITS, "rsground_lib.data.benchmarks.REAL_SPLITS"),
}
"""Chapter parameters that name entries of a registry: checked when the profile is read,
not when the chapter that uses them runs (after the chapters before it)."""

CHAPTER_OVERRIDES_KEY = "chapters"
"""Reserved profile key: per-chapter overrides, ``chapters: {<stem>: {<param>: value}}``."""


PROFILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
"""A profile name: ``params/<name>.yml`` and the folders ``_build/<name>/``, ``runs/<name>/``."""


class BookError(Exception):
    """An error of the book pipeline whose message says everything (file, key, value, cell):
    ``rsground book`` prints it without a traceback and exits with ``exit_code``."""

    exit_code = 2


class ProfileError(BookError, ValueError):
    """A parameter profile that does not fit the chapters' parameters cells."""


class ProjectError(BookError, ValueError):
    """The project does not fit the pipeline: no project folder, a bad ``_toc.yml`` entry, an
    unknown chapter asked for."""


@dataclass(frozen=True)
class Constraint:
    """The range a chapter declares for a parameter (:func:`parse_constraint`): numbers
    between ``low`` and ``high`` (each end open or closed; ``±inf`` for none), or one of
    ``choices``. NaN is in no range."""

    text: str
    low: float = -math.inf
    high: float = math.inf
    low_open: bool = False
    high_open: bool = False
    choices: tuple | None = None

    def admits(self, value: Any) -> bool:
        if self.choices is not None:
            return not isinstance(value, bool) and any(
                value == c and isinstance(value, str) == isinstance(c, str) for c in self.choices
            )
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        above = value > self.low if self.low_open else value >= self.low
        below = value < self.high if self.high_open else value <= self.high
        return bool(above and below)

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class Parameter:
    """One entry of a chapter's parameters cell."""

    name: str
    default: Any
    type_name: str
    help: str
    constraint: Constraint | None = None


# ---------------------------------------------------------------------------------- YAML
class _DuplicateKey(yaml.YAMLError):
    def __init__(self, key: Any, first: yaml.Mark, again: yaml.Mark):
        super().__init__(f"duplicate key {key!r}")
        self.key, self.first, self.again = key, first, again


class _UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a mapping with the same key twice (plain YAML keeps
    the last value silently). A key merged in by ``<<`` may still be overridden."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, yaml.Mark] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.setdefault(key, key_node.start_mark)
                except TypeError:
                    continue  # an unhashable key: SafeLoader reports it
                if first is not key_node.start_mark:
                    raise _DuplicateKey(key, first, key_node.start_mark)
        return super().construct_mapping(node, deep=deep)


def read_yaml(path: Path, error: type[BookError]) -> Any:
    """The YAML document of ``path`` (UTF-8, no duplicate keys); ``error`` names the file and
    the problem (the line of a duplicate key, the byte that is not UTF-8)."""
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as err:
        raise error(
            f"{path}: not UTF-8 text (byte {err.object[err.start]:#04x} at offset {err.start})"
        ) from err
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader subclass: safe
    except _DuplicateKey as err:
        raise error(
            f"{path}: line {err.again.line + 1}: duplicate key {err.key!r} (first on line "
            f"{err.first.line + 1}); YAML would silently keep only the last value"
        ) from err
    except yaml.YAMLError as err:
        raise error(f"{path}: not valid YAML ({err})") from err


_HELP_TYPE = re.compile(r"\s*(str|int|float|bool|list|dict|tuple)\b([^:]*):")

_NUMBER = r"[-+]?(?:inf|(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)"
_BOUND = re.compile(rf"(>|<|≥|≤)\s*({_NUMBER})")
_INTERVAL = re.compile(rf"in\s*([\[(])\s*({_NUMBER})\s*,\s*({_NUMBER})\s*([\])])")
_CHOICES = re.compile(r"in\s*\{([^{}]*)\}")

RANGE_SYNTAX = (
    "'> x', '< x', '≥ x', '≤ x', 'in [a, b]' (a round bracket for an open end, inf for "
    "none) or 'in {a, b, ...}'"
)
"""The range forms a parameter comment may carry between its type and its colon."""


def parse_constraint(type_name: str, text: str) -> Constraint | None:
    """The range declared between a parameter comment's type and its colon, or ``None``
    when there is none (``# int: ...``).

    Numbers (``int``, ``float``): ``> x``, ``< x``, ``≥ x``, ``≤ x`` (one bound) or an
    interval ``in [a, b]`` / ``in (a, b]`` / ``in [a, inf)`` (round bracket: open end).
    Choices (``str``, ``int``, ``float``): ``in {a, b, ...}``, items bare or quoted.
    ``>=`` / ``<=`` are not accepted: papermill drops a line with more than one ``=``.
    Anything else is a ``ValueError`` (a typo must not silently switch the check off).
    """
    text = text.strip()
    if not text:
        return None
    numeric = type_name in ("int", "float")
    if m := _CHOICES.fullmatch(text):
        if type_name not in ("str", "int", "float"):
            raise ValueError(f"a {type_name} parameter cannot declare choices ({text!r})")
        items = [item.strip() for item in m.group(1).split(",") if item.strip()]
        if not items:
            raise ValueError(f"empty choices {text!r}")
        choices = []
        for item in items:
            if item[0] in "\"'":
                if len(item) < 2 or item[-1] != item[0]:
                    raise ValueError(f"choice {item!r} of {text!r}: unbalanced quotes")
                choices.append(item[1:-1])
            elif numeric:
                try:
                    choices.append(ast.literal_eval(item))
                except (ValueError, SyntaxError) as err:
                    raise ValueError(f"choice {item!r} of {text!r} is not a number") from err
            else:
                choices.append(item)
        return Constraint(text, choices=tuple(choices))
    if not numeric:
        raise ValueError(f"a {type_name} parameter cannot declare a numeric range ({text!r})")
    if m := _BOUND.fullmatch(text):
        op, x = m.group(1), float(m.group(2))
        if op in (">", "≥"):
            return Constraint(text, low=x, low_open=op == ">")
        return Constraint(text, high=x, high_open=op == "<")
    if m := _INTERVAL.fullmatch(text):
        low, high = float(m.group(2)), float(m.group(3))
        if low > high:
            raise ValueError(f"empty interval {text!r}")
        return Constraint(
            text, low=low, high=high, low_open=m.group(1) == "(", high_open=m.group(4) == ")"
        )
    raise ValueError(f"unreadable range {text!r}; write {RANGE_SYNTAX}")


def _parameters_cell_lines(nb_path: Path) -> list[str]:
    nb = json.loads(nb_path.read_text())
    for cell in nb.get("cells", []):
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            source = cell.get("source", "")
            return ("".join(source) if isinstance(source, list) else source).splitlines()
    return []


def chapter_parameters(py_path: Path) -> dict[str, Parameter]:
    """The parameters cell of a chapter, as papermill reads it (name, default, type, the
    trailing comment as help, the range the comment declares — :func:`parse_constraint`).

    Raises ``ProfileError`` naming the chapter if it has no parameters cell, if a line of the
    cell holds more than one ``=`` (papermill would silently drop that parameter), if a
    range is unreadable, or if a default lies outside its own range."""
    import papermill

    with tempfile.TemporaryDirectory() as tmp:
        nb_path = to_ipynb(py_path, Path(tmp) / f"{py_path.stem}.ipynb")
        raw = papermill.inspect_notebook(str(nb_path))
        lines = _parameters_cell_lines(nb_path)
    for line in lines:
        if line.strip() and not line.lstrip().startswith("#") and line.count("=") > 1:
            raise ProfileError(
                f"{py_path}: parameters cell line `{line.strip()}` holds more than one '=': "
                f"papermill silently drops such a line (ranges are written {RANGE_SYNTAX}, "
                "never '>=' or '<=')"
            )
    if not raw:
        raise ProfileError(f"{py_path}: no cell tagged 'parameters' (or it assigns nothing)")
    params = {}
    for name, info in raw.items():
        default_src = info["default"]
        try:
            default = ast.literal_eval(default_src)
        except (ValueError, SyntaxError):
            default = default_src  # an expression: kept as its source text
        help_text = info["help"] or ""
        type_name = info["inferred_type_name"]
        m = _HELP_TYPE.match(help_text)
        if type_name in (None, "None"):
            # papermill infers a type only from an annotation or a "# type:" comment; ours
            # are documented as "# int: meaning", so take the comment's type, else the
            # default's
            if m:
                type_name = m.group(1)
            elif default is not None:
                type_name = type(default).__name__
        constraint = None
        if m:
            try:
                constraint = parse_constraint(str(type_name), m.group(2))
            except ValueError as err:
                raise ProfileError(f"{py_path}: parameter {name}: {err}") from err
        param = Parameter(name, default, str(type_name), help_text, constraint)
        if constraint is not None and default is not None and not constraint.admits(default):
            raise ProfileError(
                f"{py_path}: parameter {name} = {default!r} lies outside its own declared "
                f"range {param.type_name} {constraint}"
            )
        params[name] = param
    return params


def parameter_values(chapter: str, namespace: Mapping[str, Any]) -> dict[str, Any]:
    """The values of ``chapter``'s parameters (the names its parameters cell declares,
    :func:`chapter_parameters` of ``book/<chapter>.py``) as they stand in ``namespace`` — a
    chapter's ``globals()`` after papermill injected the profile's. What a chapter hands to
    :func:`rsground_lib.config.field_values` to build a trainer's config from its parameters
    without restating them. A declared parameter missing from ``namespace`` is a KeyError
    naming it."""
    declared = chapter_parameters(paths.project_root() / "book" / f"{chapter}.py")
    missing = [name for name in declared if name not in namespace]
    if missing:
        raise KeyError(f"{chapter}: parameters {missing} are not defined in the namespace given")
    return {name: namespace[name] for name in declared}


def load_profile(path: Path) -> dict[str, Any]:
    """Read a profile: a mapping of parameter → value, plus the optional reserved key
    ``chapters`` with per-chapter overrides. A key given twice (at any level), bytes that are
    not UTF-8, or invalid YAML are a ``ProfileError`` naming the file (and the line)."""
    if not path.is_file():
        available = sorted(p.stem for p in path.parent.glob("*.yml"))
        raise ProfileError(f"{path}: no such profile (available: {', '.join(available) or 'none'})")
    data = read_yaml(path, ProfileError) or {}
    if not isinstance(data, dict):
        raise ProfileError(
            f"{path}: expected a mapping of parameter: value, got {type(data).__name__}"
        )
    overrides = data.get(CHAPTER_OVERRIDES_KEY, {}) or {}
    if not isinstance(overrides, dict) or not all(isinstance(v, dict) for v in overrides.values()):
        raise ProfileError(f"{path}: '{CHAPTER_OVERRIDES_KEY}' must map chapter names to mappings")
    return data


def resolve_profile(profile: str | os.PathLike, root: Path) -> tuple[str, Path]:
    """``(name, file)`` of a ``--profile`` argument: a name of ``params/`` (letters, digits,
    ``-``, ``_``: ``full`` → ``<root>/params/full.yml``) or the path of an existing
    ``.yml``/``.yaml`` file (name: the file's stem, which must be such a name too). The name
    is the output folder ``_build/<name>/`` and the ``profile`` the chapters receive, so it
    never leads outside ``_build/``. Anything else is a ``ProfileError``."""
    text = str(profile)
    params_dir = root / "params"
    available = ", ".join(sorted(p.stem for p in params_dir.glob("*.yml"))) or "none"
    if PROFILE_NAME.fullmatch(text):
        return text, params_dir / f"{text}.yml"
    path = Path(text).expanduser()
    if path.suffix in (".yml", ".yaml"):
        if not path.is_file():
            hint = (
                f" (did you mean --profile {path.stem}, {params_dir / path.name}?)"
                if (params_dir / path.name).is_file() and PROFILE_NAME.fullmatch(path.stem)
                else ""
            )
            raise ProfileError(f"profile {text!r}: no such file {path.absolute()}{hint}")
        if not PROFILE_NAME.fullmatch(path.stem):
            raise ProfileError(
                f"profile {text!r}: the file's stem {path.stem!r} names the output folder "
                "_build/<stem>/ and must be letters, digits, '-' and '_'"
            )
        return path.stem, path
    raise ProfileError(
        f"profile {text!r}: expected a profile name of {params_dir} (letters, digits, '-', "
        f"'_'; available: {available}) or the path of an existing .yml/.yaml file"
    )


_TYPE_OF = {
    "str": (str,),
    "int": (int,),
    "float": (int, float),
    "bool": (bool,),
    "list": (list,),
    "dict": (dict,),
    "tuple": (list,),
}


def _check_value(profile_path: Path, where: str, stem: str, param: Parameter, value: Any) -> None:
    """The value's type is the parameter's (null only where the chapter's default is None),
    the value lies in the declared range, and a registry parameter
    (:data:`REGISTRY_PARAMETERS`) names only registered entries."""
    if value is None:
        if param.default is None:
            return  # the chapter's own default is None: nothing to compare against
        raise ProfileError(
            f"{profile_path}: {where}{param.name} is null (an empty value in YAML); the chapter "
            f"declares {param.type_name} (default {param.default!r})"
        )
    allowed = _TYPE_OF.get(param.type_name)
    if allowed is not None and param.default is not None:
        ok = isinstance(value, allowed) and not (
            param.type_name in {"int", "float"} and isinstance(value, bool)
        )
        if not ok:
            hint = (
                f"; {YAML_HINT}"
                if isinstance(value, str) and param.type_name in {"int", "float"}
                else ""
            )
            raise ProfileError(
                f"{profile_path}: {where}{param.name} = {value!r} ({type(value).__name__}); "
                f"the chapter declares {param.type_name} (default {param.default!r}){hint}"
            )
    registry = REGISTRY_PARAMETERS.get(param.name)
    if registry is not None:
        known, where_known = registry
        names = value if isinstance(value, list) else [value]
        unknown = [v for v in names if not isinstance(v, str) or v not in known]
        if unknown:
            raise ProfileError(
                f"{profile_path}: {where}{param.name}: unknown name(s) "
                f"{', '.join(repr(u) for u in unknown)}; {where_known} has "
                f"{', '.join(sorted(known))}"
            )
    if param.constraint is not None and not param.constraint.admits(value):
        raise ProfileError(
            f"{profile_path}: {where}{param.name} = {value!r} is out of range: chapter {stem} "
            f"declares {param.type_name} {param.constraint} (default {param.default!r})"
        )


def resolve_parameters(
    profile_path: Path,
    chapters: dict[str, dict[str, Parameter]],
    profile_name: str | None = None,
    *,
    overrides: dict[str, Any] | None = None,
) -> dict[str, dict[str, Any]]:
    """Validate a profile against the chapters' parameters and return the values to inject
    into each chapter (only the keys that chapter declares).

    A top-level key must be declared by at least one chapter; a per-chapter key by that
    chapter; every value must have the declared type and lie in the declared range
    (:func:`parse_constraint`). ``profile`` is injected automatically (the profile's file
    stem) wherever a chapter declares it. ``overrides`` (same shape as a profile, e.g. a
    path known only at run time: :func:`rsground_lib.dryrun.model_overrides`) win over the
    file's values and are checked like them. Everything is checked here, before any chapter
    runs.
    """
    data = load_profile(profile_path)
    for key, value in (overrides or {}).items():
        if key == CHAPTER_OVERRIDES_KEY:
            merged = dict(data.get(key) or {})
            for stem, values in value.items():
                merged[stem] = {**(merged.get(stem) or {}), **values}
            data[key] = merged
        else:
            data[key] = value
    profile_name = profile_name or profile_path.stem
    overrides = data.pop(CHAPTER_OVERRIDES_KEY, {}) or {}
    if "profile" in data and data["profile"] != profile_name:
        raise ProfileError(
            f"{profile_path}: profile: {data['profile']!r} differs from the file name {profile_name!r}"
        )
    data["profile"] = profile_name
    declared = {name for params in chapters.values() for name in params}
    unknown = sorted(set(data) - declared - {"profile"})
    if unknown:
        raise ProfileError(
            f"{profile_path}: unknown parameter(s) {', '.join(unknown)}: no chapter declares "
            f"them (chapters: {', '.join(chapters)})"
        )
    for stem in overrides:
        if stem not in chapters:
            raise ProfileError(
                f"{profile_path}: chapters.{stem}: no such chapter (known: {', '.join(chapters)})"
            )
    resolved: dict[str, dict[str, Any]] = {}
    for stem, params in chapters.items():
        values = {k: v for k, v in data.items() if k in params}
        chapter_over = overrides.get(stem, {})
        bad = sorted(set(chapter_over) - set(params))
        if bad:
            raise ProfileError(
                f"{profile_path}: chapters.{stem}: unknown parameter(s) {', '.join(bad)}"
            )
        values.update(chapter_over)
        for name, value in values.items():
            where = f"chapters.{stem}." if name in chapter_over else ""
            _check_value(profile_path, where, stem, params[name], value)
        resolved[stem] = values
    return resolved


def to_ipynb(py_path: Path, ipynb_path: Path) -> Path:
    """Convert a jupytext py:percent chapter into a notebook file (papermill reads only .ipynb)."""
    import jupytext

    nb = jupytext.read(py_path, fmt="py:percent")
    nb.metadata.setdefault(
        "kernelspec", {"name": "python3", "display_name": "Python 3", "language": "python"}
    )
    jupytext.write(nb, ipynb_path, fmt="ipynb")
    return ipynb_path
