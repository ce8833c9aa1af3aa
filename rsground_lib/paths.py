"""Where things live: the project root, run artefacts, and the real-data root.

Book chapter: *Overview* ("How to run"). Nothing here touches the network or creates folders
on import; folders are created only by :func:`run_dir` when a chapter asks for one.
"""

from __future__ import annotations

import os
from pathlib import Path

DATA_ENV = "RSGROUND_DATA"
"""Environment variable naming the folder that holds the real benchmarks (see README)."""

RUNS_ENV = "RSGROUND_RUNS"
"""Environment variable overriding where run artefacts go (default: ``<project>/runs``)."""


def project_root(start: str | Path | None = None) -> Path:
    """The project folder: the nearest ancestor of ``start`` (default: cwd) holding ``_toc.yml``
    and ``params/``.

    Chapters run with their working directory in ``book/`` (JupyterLab, papermill), so the
    search walks upwards. Raises ``FileNotFoundError`` naming ``start`` when nothing matches.
    """
    here = Path(start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / "_toc.yml").is_file() and (candidate / "params").is_dir():
            return candidate
    raise FileNotFoundError(
        f"no rsground project (a folder with _toc.yml and params/) at or above {here}; "
        f"run from inside the project or pass an explicit runs_root"
    )


def runs_root(runs_root: str | Path | None = None) -> Path:
    """Root of run artefacts: the argument if given, else ``$RSGROUND_RUNS``, else
    ``<project>/runs``."""
    if runs_root:
        return Path(runs_root).expanduser().resolve()
    env = os.environ.get(RUNS_ENV)
    if env:
        return Path(env).expanduser().resolve()
    return project_root() / "runs"


def run_dir(profile: str, chapter: str, runs_root_: str | Path | None = None) -> Path:
    """``<runs_root>/<profile>/<chapter>/``, created if missing: every artefact of a chapter's
    run (config, metrics JSON, predictions, figures, checkpoints) lands here."""
    for name, value in (("profile", profile), ("chapter", chapter)):
        if not value or "/" in value or value in {".", ".."}:
            raise ValueError(f"{name} must be a plain folder name, got {value!r}")
    path = runs_root(runs_root_) / profile / chapter
    path.mkdir(parents=True, exist_ok=True)
    return path


def data_root(data_root: str | Path | None = None, *, required: bool = False) -> Path | None:
    """The real-data folder: the argument if given, else ``$RSGROUND_DATA``; ``None`` when
    neither is set (or ``FileNotFoundError`` when ``required``).

    A folder that is named but does not exist is always an error: a typo should not silently
    turn into "no real data".
    """
    value = data_root or os.environ.get(DATA_ENV)
    if not value:
        if required:
            raise FileNotFoundError(
                f"no real-data folder: pass data_root or set {DATA_ENV} to the folder that "
                f"holds dior_rsvg/, vrsbench/, ... (README, 'Real benchmarks')"
            )
        return None
    path = Path(value).expanduser().resolve()
    if not path.is_dir():
        source = "data_root" if data_root else f"${DATA_ENV}"
        raise FileNotFoundError(f"{source} points at {path}, which is not a folder")
    return path
