"""The book pipeline: text chapters → executed notebooks → a staged tree → HTML.

``rsground book --profile P`` (``make smoke`` / ``make book PROFILE=P``) runs, for every
chapter listed in ``_toc.yml``:

1. ``book/<chapter>.py`` (jupytext py:percent) → a temporary ``.ipynb``;
2. papermill executes it with the profile's parameters into a temporary output notebook; only
   when every cell succeeded is it moved into ``_build/<P>/stage/book/`` (papermill writes
   the output notebook even when a cell fails; a failed one is kept under
   ``_build/<P>/failed/`` for inspection and the build stops with the cell's error);
3. ``jupyter-book build`` renders the staged tree with execution off and warnings as errors,
   so the HTML shows the outputs of that very run.

A profile is a name of ``params/`` (``--profile full`` → ``params/full.yml``; letters,
digits, ``-``, ``_``) or the path of an existing ``.yml``/``.yaml`` file; either way the
output folder is ``_build/<name or file stem>/`` (:func:`resolve_profile`). Profiles are
validated against the chapters' parameters cells before anything runs: a key that no chapter
declares, a key given twice, a value whose type differs from the chapter's default, or a value
outside the range the chapter declares is an error that names the file and the key (papermill
itself only warns, and YAML keeps the last of two equal keys).

A parameter's comment declares its type and, optionally, its range
(:func:`parse_constraint`), e.g. ``num_generations = 8  # int ≥ 2: rollouts per prompt``,
``w_min = 0.1  # float in [0, 1]: ...``, ``scenes = "base"  # str in {base, synthetic}: ...``.
``>=`` and ``<=`` cannot be used there: papermill silently drops a parameters line that holds
more than one ``=`` (:func:`chapter_parameters` refuses such a line).

Errors the command line reports as one message (no traceback) derive from :class:`BookError`.

Book chapter: *Overview* ("How to run").
"""

from __future__ import annotations

import ast
import contextlib
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from rsground_lib.paths import project_root

CHAPTER_OVERRIDES_KEY = "chapters"
"""Reserved profile key: per-chapter overrides, ``chapters: {<stem>: {<param>: value}}``."""

STAGED_SUFFIXES = {".md", ".bib", ".png", ".svg", ".jpg", ".css"}
"""Files of ``book/`` copied as they are into the staged tree (narrative pages, assets)."""


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


class ChapterError(BookError, RuntimeError):
    """A chapter failed to execute; the message names the chapter, the cell and the error."""

    exit_code = 1


class RenderError(BookError, RuntimeError):
    """``jupyter-book build`` failed on the staged tree; the message holds its output."""

    exit_code = 1


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


@dataclass
class BookResult:
    """What :func:`build_book` produced."""

    stage: Path
    executed: list[Path] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    html_index: Path | None = None


def _say(message: str) -> None:
    print(message, flush=True)


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


def _read_yaml(path: Path, error: type[BookError]) -> Any:
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


# --------------------------------------------------------------------------- table of contents
def toc_chapters(toc_path: Path) -> list[str]:
    """Every file entry of a Jupyter Book ``_toc.yml`` in reading order (``root`` first),
    as written there (e.g. ``book/00_overview``, extension removed)."""
    toc = _read_yaml(toc_path, ProjectError)
    if not isinstance(toc, dict) or "root" not in toc:
        raise ProjectError(f"{toc_path}: expected a mapping with a 'root' entry")
    files: list[str] = [str(toc["root"])]

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "file" in node:
                files.append(str(node["file"]))
            for key in ("parts", "chapters", "sections"):
                for child in node.get(key, []) or []:
                    walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    walk({k: v for k, v in toc.items() if k != "root"})
    return [
        str(Path(f).with_suffix("")) if Path(f).suffix in {".md", ".py", ".ipynb"} else f
        for f in files
    ]


def notebook_sources(root: Path) -> dict[str, Path]:
    """``stem → book/<stem>.py`` for every executable chapter in ``_toc.yml`` (in order).

    A toc entry must resolve to exactly one of ``<entry>.py`` (a chapter) or ``<entry>.md``
    (a narrative page); anything else is an error naming the entry.
    """
    out: dict[str, Path] = {}
    for entry in toc_chapters(root / "_toc.yml"):
        py, md = root / f"{entry}.py", root / f"{entry}.md"
        if py.is_file() and md.is_file():
            raise ProjectError(f"_toc.yml entry {entry!r}: both {py.name} and {md.name} exist")
        if py.is_file():
            out[py.stem] = py
        elif not md.is_file():
            raise ProjectError(
                f"_toc.yml entry {entry!r}: neither {entry}.py nor {entry}.md exists"
            )
    return out


# ------------------------------------------------------------------------------- parameters
def to_ipynb(py_path: Path, ipynb_path: Path) -> Path:
    """Convert a jupytext py:percent chapter into a notebook file (papermill reads only .ipynb)."""
    import jupytext

    nb = jupytext.read(py_path, fmt="py:percent")
    nb.metadata.setdefault(
        "kernelspec", {"name": "python3", "display_name": "Python 3", "language": "python"}
    )
    jupytext.write(nb, ipynb_path, fmt="ipynb")
    return ipynb_path


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


def load_profile(path: Path) -> dict[str, Any]:
    """Read a profile: a mapping of parameter → value, plus the optional reserved key
    ``chapters`` with per-chapter overrides. A key given twice (at any level), bytes that are
    not UTF-8, or invalid YAML are a ``ProfileError`` naming the file (and the line)."""
    if not path.is_file():
        available = sorted(p.stem for p in path.parent.glob("*.yml"))
        raise ProfileError(f"{path}: no such profile (available: {', '.join(available) or 'none'})")
    data = _read_yaml(path, ProfileError) or {}
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
    """The value's type is the parameter's, and the value lies in the declared range."""
    if value is None:
        return  # None: nothing to compare against
    allowed = _TYPE_OF.get(param.type_name)
    if allowed is not None and param.default is not None:
        ok = isinstance(value, allowed) and not (
            param.type_name in {"int", "float"} and isinstance(value, bool)
        )
        if not ok:
            raise ProfileError(
                f"{profile_path}: {where}{param.name} = {value!r} ({type(value).__name__}); "
                f"the chapter declares {param.type_name} (default {param.default!r})"
            )
    if param.constraint is not None and not param.constraint.admits(value):
        raise ProfileError(
            f"{profile_path}: {where}{param.name} = {value!r} is out of range: chapter {stem} "
            f"declares {param.type_name} {param.constraint} (default {param.default!r})"
        )


def resolve_parameters(
    profile_path: Path, chapters: dict[str, dict[str, Parameter]], profile_name: str | None = None
) -> dict[str, dict[str, Any]]:
    """Validate a profile against the chapters' parameters and return the values to inject
    into each chapter (only the keys that chapter declares).

    A top-level key must be declared by at least one chapter; a per-chapter key by that
    chapter; every value must have the declared type and lie in the declared range
    (:func:`parse_constraint`). ``profile`` is injected automatically (the profile's file
    stem) wherever a chapter declares it. Everything is checked here, before any chapter
    runs.
    """
    data = load_profile(profile_path)
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


# -------------------------------------------------------------------------------- execution
KERNEL_ENV: dict[str, str] = {"TQDM_DISABLE": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1"}
"""Environment of the kernels that execute chapters: no progress bars from the Hugging Face
libraries (transformers, datasets, hub) nor from plain tqdm. In a notebook a bar is a Jupyter
widget, and one widget output makes the rendered page load require.js from a CDN — the book
must need nothing external. ``tqdm.auto`` bars ignore ``TQDM_DISABLE``; :func:`strip_widgets`
removes what is left."""

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


def strip_widgets(nb_path: Path) -> int:
    """Remove widget outputs (progress bars, interactive controls) and the widget state from
    an executed notebook, in place; returns how many outputs were removed. A static book
    cannot run widgets, and rendering one pulls require.js from a CDN."""
    import json

    nb = json.loads(nb_path.read_text())
    removed = 0
    for cell in nb.get("cells", []):
        outputs = cell.get("outputs")
        if not outputs:
            continue
        kept = [o for o in outputs if WIDGET_MIME not in o.get("data", {})]
        removed += len(outputs) - len(kept)
        cell["outputs"] = kept
    had_state = nb.get("metadata", {}).pop("widgets", None) is not None
    if removed or had_state:
        nb_path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
    return removed


@contextlib.contextmanager
def _environment(values: dict[str, str]):
    """``os.environ`` updated by ``values`` inside the block (the kernel inherits it), restored
    after."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def execute_chapter(
    py_path: Path, out_path: Path, parameters: dict[str, Any], *, cwd: Path, failed_dir: Path
) -> Path:
    """Execute one chapter with papermill; move the result to ``out_path`` only on success.

    On failure the executed notebook goes to ``failed_dir`` and ``ChapterError`` names the
    chapter, the failing cell and the exception.
    """
    import papermill
    from papermill.exceptions import PapermillExecutionError

    out_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"rsground-{py_path.stem}-") as tmp:
        src = to_ipynb(py_path, Path(tmp) / f"{py_path.stem}.in.ipynb")
        tmp_out = Path(tmp) / f"{py_path.stem}.ipynb"
        try:
            with _environment(KERNEL_ENV):
                papermill.execute_notebook(
                    str(src),
                    str(tmp_out),
                    parameters=parameters,
                    cwd=str(cwd),
                    kernel_name="python3",
                    progress_bar=False,
                    language="python",
                )
            strip_widgets(tmp_out)
        except PapermillExecutionError as err:
            failed_dir.mkdir(parents=True, exist_ok=True)
            kept = failed_dir / tmp_out.name
            if tmp_out.exists():
                shutil.move(str(tmp_out), kept)
            first_line = next((ln for ln in (err.source or "").splitlines() if ln.strip()), "")
            raise ChapterError(
                f"chapter {py_path.name} failed in the cell starting `{first_line[:80]}` "
                f"(cell {err.cell_index} of the executed notebook): {err.ename}: {err.evalue}; "
                f"the executed notebook is kept at {kept}"
            ) from err
        shutil.move(str(tmp_out), out_path)
    return out_path


def stage_static(root: Path, stage: Path) -> None:
    """Copy the book's configuration and narrative files into the staged tree."""
    stage.mkdir(parents=True, exist_ok=True)
    for name in ("_config.yml", "_toc.yml", "references.bib"):
        if (root / name).is_file():
            shutil.copy2(root / name, stage / name)
    for path in sorted((root / "book").rglob("*")):
        if path.is_file() and path.suffix in STAGED_SUFFIXES:
            target = stage / path.relative_to(root)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)


def jupyter_book_build(stage: Path, out_dir: Path) -> Path:
    """Render the staged tree with Jupyter Book 1.x, execution off, warnings as errors.
    Returns the HTML ``index.html``."""
    exe = Path(sys.executable).parent / "jupyter-book"
    cmd = [
        str(exe),
        "build",
        str(stage),
        "--path-output",
        str(out_dir),
        "--builder",
        "html",
        "-W",
        "--keep-going",
        "--quiet",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RenderError(
            f"jupyter-book build failed (exit {proc.returncode}):\n{proc.stdout[-6000:]}\n{proc.stderr[-6000:]}"
        )
    index = out_dir / "_build" / "html" / "index.html"
    if not index.is_file():
        raise RenderError(f"jupyter-book build succeeded but {index} is missing")
    return index


def build_book(
    profile: str | os.PathLike = "smoke",
    *,
    root: Path | None = None,
    chapters: list[str] | None = None,
    html: bool = True,
    build_root: Path | None = None,
    log: Callable[[str], None] = _say,
) -> BookResult:
    """Execute the chapters on a profile and build the HTML book.

    ``profile``: a name of ``params/`` or the path of a ``.yml``/``.yaml`` file
    (:func:`resolve_profile`). ``chapters`` restricts execution to those stems; chapters
    executed earlier stay staged. Output: ``<build_root>/<name>/_build/html/index.html``
    (``build_root`` defaults to ``<root>/_build``). The profile is validated against every
    chapter's parameters before anything runs; errors derive from :class:`BookError`.
    """
    if root:
        root = Path(root)
    else:
        try:
            root = project_root()
        except FileNotFoundError as err:
            raise ProjectError(str(err)) from err
    profile, profile_file = resolve_profile(profile, root)
    build_root = Path(build_root) if build_root else root / "_build"
    out_dir = build_root / profile
    stage = out_dir / "stage"
    sources = notebook_sources(root)
    if chapters:
        missing = [c for c in chapters if c not in sources]
        if missing:
            raise ProjectError(
                f"unknown chapter(s) {', '.join(missing)}; _toc.yml has {', '.join(sources)}"
            )
    params = {stem: chapter_parameters(path) for stem, path in sources.items()}
    injected = resolve_parameters(profile_file, params, profile)
    stage_static(root, stage)
    result = BookResult(stage=stage)
    for stem, py_path in sources.items():
        if chapters and stem not in chapters:
            continue
        log(f"[{profile}] executing {py_path.relative_to(root)} ...")
        t0 = time.perf_counter()
        out = execute_chapter(
            py_path,
            stage / py_path.relative_to(root).with_suffix(".ipynb"),
            injected[stem],
            cwd=py_path.parent,
            failed_dir=out_dir / "failed",
        )
        result.seconds[stem] = time.perf_counter() - t0
        result.executed.append(out)
        log(f"[{profile}] {stem}: done in {result.seconds[stem]:.1f} s")
    if html:
        missing = [
            s
            for s, p in sources.items()
            if not (stage / p.relative_to(root).with_suffix(".ipynb")).is_file()
        ]
        if missing:
            raise ChapterError(
                f"not executed yet for profile {profile!r}: {', '.join(missing)}; run without --chapters"
            )
        result.html_index = jupyter_book_build(stage, out_dir)
    return result
