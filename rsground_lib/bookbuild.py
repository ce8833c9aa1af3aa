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

Profiles and the chapters' parameters (types, ranges, the rules of a profile name) are read
and checked before anything runs by :mod:`rsground_lib.profiles`. Errors the command line
reports as one message (no traceback) derive from :class:`rsground_lib.profiles.BookError`.

Book chapter: *Overview* ("How to run").
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rsground_lib import gpus
from rsground_lib.paths import project_root
from rsground_lib.profiles import (
    BookError,
    ProjectError,
    chapter_parameters,
    read_yaml,
    resolve_parameters,
    resolve_profile,
    to_ipynb,
)

STAGED_SUFFIXES = {".md", ".bib", ".png", ".svg", ".jpg", ".css"}
"""Files of ``book/`` copied as they are into the staged tree (narrative pages, assets)."""


class ChapterError(BookError, RuntimeError):
    """A chapter failed to execute; the message names the chapter, the cell and the error."""

    exit_code = 1


class RenderError(BookError, RuntimeError):
    """``jupyter-book build`` failed on the staged tree; the message holds its output."""

    exit_code = 1


@dataclass
class BookResult:
    """What :func:`build_book` produced."""

    stage: Path
    executed: list[Path] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    html_index: Path | None = None


def say(message: str) -> None:
    """The book pipeline's progress line, flushed (the default ``log`` of :func:`build_book`)."""
    print(message, flush=True)


# --------------------------------------------------------------------------- table of contents
def toc_chapters(toc_path: Path) -> list[str]:
    """Every file entry of a Jupyter Book ``_toc.yml`` in reading order (``root`` first),
    as written there (e.g. ``book/00_overview``, extension removed)."""
    toc = read_yaml(toc_path, ProjectError)
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


INJECTED_TAG = "injected-parameters"
"""papermill's tag on the cell it inserts after the parameters cell with the profile's values."""


def fold_injected_parameters(nb_path: Path) -> bool:
    """Fold papermill's injected ``# Parameters`` cell (tag ``hide-input``: a "this run's
    parameters" toggle) so that a page does not show a second copy of the parameters cell
    open; the chapter's own parameters cell, which documents every knob, stays open. Returns
    whether a cell was folded."""
    nb = json.loads(nb_path.read_text())
    folded = False
    for cell in nb.get("cells", []):
        tags = cell.setdefault("metadata", {}).setdefault("tags", [])
        if INJECTED_TAG in tags and "hide-input" not in tags:
            tags.append("hide-input")
            folded = True
    if folded:
        nb_path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
    return folded


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


@functools.cache
def _ipc_kernel_manager():
    """A jupyter_client kernel manager whose kernel talks over local unix sockets (under the
    temporary folder) instead of TCP: ipykernel warns "running over TCP without encryption"
    once per chapter otherwise, four times per ``make smoke``. Imported lazily: jupyter_client
    comes with the book extra."""
    from jupyter_client.manager import AsyncKernelManager

    class IPCKernelManager(AsyncKernelManager):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.transport = "ipc"
            self.ip = str(Path(tempfile.gettempdir()) / f"rsground-kernel-{os.getpid()}")

    return IPCKernelManager


def execute_chapter(
    py_path: Path,
    out_path: Path,
    parameters: dict[str, Any],
    *,
    cwd: Path,
    failed_dir: Path,
    env: dict[str, str] | None = None,
) -> Path:
    """Execute one chapter with papermill; move the result to ``out_path`` only on success.

    The kernel's environment is :data:`KERNEL_ENV` plus ``env``. On failure the executed
    notebook goes to ``failed_dir`` and ``ChapterError`` names the chapter, the failing cell
    and the exception.
    """
    import papermill
    from papermill.exceptions import PapermillExecutionError

    out_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"rsground-{py_path.stem}-") as tmp:
        src = to_ipynb(py_path, Path(tmp) / f"{py_path.stem}.in.ipynb")
        tmp_out = Path(tmp) / f"{py_path.stem}.ipynb"
        try:
            with _environment({**KERNEL_ENV, **(env or {})}):
                papermill.execute_notebook(
                    str(src),
                    str(tmp_out),
                    parameters=parameters,
                    cwd=str(cwd),
                    kernel_name="python3",
                    progress_bar=False,
                    language="python",
                    kernel_manager_class=_ipc_kernel_manager(),
                )
            strip_widgets(tmp_out)
            fold_injected_parameters(tmp_out)
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
    if (root / "_static").is_dir():  # the book's own CSS (wide tables scroll, cell padding)
        shutil.copytree(root / "_static", stage / "_static", dirs_exist_ok=True)
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
    overrides: dict[str, Any] | None = None,
    log: Callable[[str], None] = say,
) -> BookResult:
    """Execute the chapters on a profile and build the HTML book.

    ``profile``: a name of ``params/`` or the path of a ``.yml``/``.yaml`` file
    (:func:`resolve_profile`). ``chapters`` restricts execution to those stems; chapters
    executed earlier stay staged. Output: ``<build_root>/<name>/_build/html/index.html``
    (``build_root`` defaults to ``<root>/_build``). ``overrides`` win over the profile's
    values (:func:`rsground_lib.profiles.resolve_parameters`). The profile is validated against every
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
    injected = resolve_parameters(profile_file, params, profile, overrides=overrides)
    stage_static(root, stage)
    result = BookResult(stage=stage)
    listed = ((gpus.nvidia_smi() or {}).get("gpus")) or []
    pin = gpus.single_gpu_env(os.environ, len(listed))
    if pin:
        log(
            f"[{profile}] {len(listed)} GPUs visible: the chapters run in one process on GPU "
            f"{pin['CUDA_VISIBLE_DEVICES']} (CUDA_VISIBLE_DEVICES={pin['CUDA_VISIBLE_DEVICES']}; "
            "several GPUs in one process would split Qwen2.5-VL's images wrongly)"
        )
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
            env=pin,
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
