"""Where things live: the project root, the layout of run artefacts, and the real-data root.

:class:`RunLayout` is the one place that knows where a profile's runs put things — a
chapter's folder, the models the chapters train (:data:`CHAPTER_MODELS`), the artefacts one
chapter reads of another, the evaluation chapter's prediction files. Reading never creates a
folder; only :meth:`RunLayout.output` (a chapter's own folder, :func:`run_dir`) does.

Book chapter: *Overview* ("How to run"). Nothing here touches the network or creates folders
on import.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
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


CHAPTER_MODELS: dict[str, str] = {
    "plain SFT": "03_cot_sft",
    "CoT-SFT": "03_cot_sft",
    "RFT": "04_rft",
}
"""The models the chapters train, in training order: name → the chapter that trains it (its
folder is :meth:`RunLayout.model`)."""

TINY_BASE = Path("checkpoints") / "tiny-base"
"""The tiny CPU base checkpoint, relative to the project root (:func:`tiny_base`)."""


def folder_name(name: str) -> str:
    """The folder (or file stem) of a run or model named ``name``: lower case, spaces and
    hyphens as underscores (``"CoT-SFT"`` → ``"cot_sft"``, ``"plain SFT"`` → ``"plain_sft"``)."""
    return name.lower().replace(" ", "_").replace("-", "_")


def tiny_base() -> Path:
    """The tiny CPU base checkpoint of this project (``<project>/checkpoints/tiny-base``)."""
    return project_root() / TINY_BASE


def _plain(name: str, value: str) -> None:
    if not value or "/" in value or "\\" in value or value in {".", ".."}:
        raise ValueError(f"{name} must be a plain folder name, got {value!r}")


@dataclass(frozen=True)
class RunLayout:
    """Where one profile's runs put things, under ``<runs_root>/<profile>/``."""

    profile: str
    runs_root: Path

    def __post_init__(self):
        _plain("profile", self.profile)

    @property
    def root(self) -> Path:
        """``<runs_root>/<profile>``."""
        return self.runs_root / self.profile

    def chapter(self, chapter: str) -> Path:
        """A chapter's folder (``<root>/<chapter>``), not created: for reading another
        chapter's artefacts."""
        _plain("chapter", chapter)
        return self.root / chapter

    def output(self, chapter: str) -> Path:
        """A chapter's folder, created if missing: every artefact of the chapter's run
        (metrics JSON, predictions, figures, trained models) lands here."""
        path = self.chapter(chapter)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def run(self, chapter: str, name: str) -> Path:
        """The folder of a run named ``name`` in ``chapter`` (:func:`folder_name`)."""
        return self.chapter(chapter) / folder_name(name)

    def model(self, name: str) -> Path:
        """The folder of a model the chapters train (:data:`CHAPTER_MODELS`: ``"plain SFT"``,
        ``"CoT-SFT"``, ``"RFT"``); a ValueError names the known ones otherwise."""
        if name not in CHAPTER_MODELS:
            raise ValueError(f"model {name!r}: expected one of {list(CHAPTER_MODELS)}")
        return self.run(CHAPTER_MODELS[name], name)

    def predictions(self, name: str) -> Path:
        """The evaluation chapter's prediction file of the checkpoint ``name``
        (``05_evaluation/predictions/<folder_name>.jsonl``)."""
        return self.chapter("05_evaluation") / "predictions" / f"{folder_name(name)}.jsonl"

    def read_json(self, chapter: str, name: str = "metrics.json"):
        """The JSON artefact ``name`` of another ``chapter``'s run, or None when that chapter
        has not written it (not run on this profile); a file that is not JSON is a ValueError
        naming it."""
        path = self.chapter(chapter) / name
        if not path.is_file():
            return None
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ValueError(f"{path}: not JSON ({exc}); re-run its chapter") from exc


def layout(profile: str, runs_root_: str | Path | None = None) -> RunLayout:
    """The :class:`RunLayout` of ``profile`` under :func:`runs_root` (``runs_root_``, else
    ``$RSGROUND_RUNS``, else ``<project>/runs``)."""
    return RunLayout(profile, runs_root(runs_root_))


def run_dir(profile: str, chapter: str, runs_root_: str | Path | None = None) -> Path:
    """``<runs_root>/<profile>/<chapter>/``, created if missing: the chapter's own folder
    (:meth:`RunLayout.output`)."""
    _plain("profile", profile)
    return layout(profile, runs_root_).output(chapter)


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
