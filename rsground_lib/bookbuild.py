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

Profiles (``params/<P>.yml``) are validated against the chapters' parameters cells before
anything runs: a key that no chapter declares, or a value whose type differs from the
chapter's default, is an error that names the file and the key (papermill itself only warns).

Book chapter: *Overview* ("How to run").
"""

from __future__ import annotations

import ast
import contextlib
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


class ProfileError(ValueError):
    """A parameter profile that does not fit the chapters' parameters cells."""


class ChapterError(RuntimeError):
    """A chapter failed to execute; the message names the chapter, the cell and the error."""


@dataclass(frozen=True)
class Parameter:
    """One entry of a chapter's parameters cell."""

    name: str
    default: Any
    type_name: str
    help: str


@dataclass
class BookResult:
    """What :func:`build_book` produced."""

    stage: Path
    executed: list[Path] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    html_index: Path | None = None


def _say(message: str) -> None:
    print(message, flush=True)


# --------------------------------------------------------------------------- table of contents
def toc_chapters(toc_path: Path) -> list[str]:
    """Every file entry of a Jupyter Book ``_toc.yml`` in reading order (``root`` first),
    as written there (e.g. ``book/00_overview``, extension removed)."""
    try:
        toc = yaml.safe_load(toc_path.read_text())
    except yaml.YAMLError as err:
        raise ValueError(f"{toc_path}: not valid YAML ({err})") from err
    if not isinstance(toc, dict) or "root" not in toc:
        raise ValueError(f"{toc_path}: expected a mapping with a 'root' entry")
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
            raise ValueError(f"_toc.yml entry {entry!r}: both {py.name} and {md.name} exist")
        if py.is_file():
            out[py.stem] = py
        elif not md.is_file():
            raise ValueError(f"_toc.yml entry {entry!r}: neither {entry}.py nor {entry}.md exists")
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


_HELP_TYPE = re.compile(r"\s*(str|int|float|bool|list|dict|tuple)\b[^:]*:")


def chapter_parameters(py_path: Path) -> dict[str, Parameter]:
    """The parameters cell of a chapter, as papermill reads it (name, default, type, the
    trailing comment as help). Raises ``ProfileError`` if the chapter has no parameters cell."""
    import papermill

    with tempfile.TemporaryDirectory() as tmp:
        nb_path = to_ipynb(py_path, Path(tmp) / f"{py_path.stem}.ipynb")
        raw = papermill.inspect_notebook(str(nb_path))
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
        if type_name in (None, "None"):
            # papermill infers a type only from an annotation or a "# type:" comment; ours
            # are documented as "# int: meaning", so take the comment's type, else the
            # default's
            m = _HELP_TYPE.match(help_text)
            if m:
                type_name = m.group(1)
            elif default is not None:
                type_name = type(default).__name__
        params[name] = Parameter(name, default, str(type_name), help_text)
    return params


def load_profile(path: Path) -> dict[str, Any]:
    """Read ``params/<P>.yml``: a mapping of parameter → value, plus the optional reserved key
    ``chapters`` with per-chapter overrides."""
    if not path.is_file():
        available = sorted(p.stem for p in path.parent.glob("*.yml"))
        raise ProfileError(f"{path}: no such profile (available: {', '.join(available) or 'none'})")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ProfileError(f"{path}: not valid YAML ({err})") from err
    if not isinstance(data, dict):
        raise ProfileError(
            f"{path}: expected a mapping of parameter: value, got {type(data).__name__}"
        )
    overrides = data.get(CHAPTER_OVERRIDES_KEY, {}) or {}
    if not isinstance(overrides, dict) or not all(isinstance(v, dict) for v in overrides.values()):
        raise ProfileError(f"{path}: '{CHAPTER_OVERRIDES_KEY}' must map chapter names to mappings")
    return data


_TYPE_OF = {
    "str": (str,),
    "int": (int,),
    "float": (int, float),
    "bool": (bool,),
    "list": (list,),
    "dict": (dict,),
    "tuple": (list,),
}


def _check_type(profile_path: Path, where: str, param: Parameter, value: Any) -> None:
    allowed = _TYPE_OF.get(param.type_name)
    if allowed is None or value is None or param.default is None:
        return  # None / unknown types: nothing to compare against
    ok = isinstance(value, allowed) and not (
        param.type_name in {"int", "float"} and isinstance(value, bool)
    )
    if not ok:
        raise ProfileError(
            f"{profile_path}: {where}{param.name} = {value!r} ({type(value).__name__}); "
            f"the chapter declares {param.type_name} (default {param.default!r})"
        )


def resolve_parameters(
    profile_path: Path, chapters: dict[str, dict[str, Parameter]], profile_name: str | None = None
) -> dict[str, dict[str, Any]]:
    """Validate a profile against the chapters' parameters and return the values to inject
    into each chapter (only the keys that chapter declares).

    A top-level key must be declared by at least one chapter; a per-chapter key by that
    chapter. ``profile`` is injected automatically (the profile's file stem) wherever a chapter
    declares it.
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
            _check_type(profile_path, where, params[name], value)
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
        raise RuntimeError(
            f"jupyter-book build failed (exit {proc.returncode}):\n{proc.stdout[-6000:]}\n{proc.stderr[-6000:]}"
        )
    index = out_dir / "_build" / "html" / "index.html"
    if not index.is_file():
        raise RuntimeError(f"jupyter-book build succeeded but {index} is missing")
    return index


def build_book(
    profile: str = "smoke",
    *,
    root: Path | None = None,
    chapters: list[str] | None = None,
    html: bool = True,
    build_root: Path | None = None,
    log: Callable[[str], None] = _say,
) -> BookResult:
    """Execute the chapters on ``params/<profile>.yml`` and build the HTML book.

    ``chapters`` restricts execution to those stems; chapters executed earlier stay staged.
    Output: ``<build_root>/<profile>/_build/html/index.html`` (``build_root`` defaults to
    ``<root>/_build``).
    """
    root = Path(root) if root else project_root()
    build_root = Path(build_root) if build_root else root / "_build"
    out_dir = build_root / profile
    stage = out_dir / "stage"
    sources = notebook_sources(root)
    if chapters:
        missing = [c for c in chapters if c not in sources]
        if missing:
            raise ValueError(
                f"unknown chapter(s) {', '.join(missing)}; _toc.yml has {', '.join(sources)}"
            )
    params = {stem: chapter_parameters(path) for stem, path in sources.items()}
    injected = resolve_parameters(root / "params" / f"{profile}.yml", params, profile)
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
