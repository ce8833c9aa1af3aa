"""Writing the library's files: one atomic writer, and strict JSON.

* :func:`write_text_atomic` — text through a temporary file in the same folder, flushed to
  disk, then ``os.replace``: a reader (or a run killed mid-write) never sees half a file;
* :func:`json_ready` / :func:`write_json` — an artefact as strict JSON (NaN and infinities
  become ``null``: bare ``NaN`` is not JSON for any reader but Python's), indented, written
  atomically.

Every JSON file the library writes for a reader — a chapter's artefacts, a run's
``train.json``, a predictions file's summary and run record — goes through here.

Book chapter: "Evaluation" (``book/05_evaluation.py``), where files are written that a run
continues from.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` through a temporary file in the same folder, synced
    to disk, and ``os.replace``, so an existing file is replaced whole or not at all. An
    OSError names the file."""
    target = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    except OSError as err:
        raise OSError(f"cannot write {target} ({err.strerror})") from err
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException as err:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(err, OSError):
            raise OSError(f"cannot write {target} ({err.strerror})") from err
        raise


def json_ready(value):
    """``value`` with every NaN or infinite float replaced by ``None`` (JSON ``null``), through
    dicts, lists and tuples: bare ``NaN`` is not JSON for any reader but Python's."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    return value


def write_json(path: str | os.PathLike, value, *, default=None) -> None:
    """Write ``value`` to ``path`` as strict JSON (:func:`json_ready`; ``allow_nan=False``),
    indented by 2, with a final newline, atomically (:func:`write_text_atomic`). ``default``
    as ``json.dumps``'s (e.g. ``str`` for paths)."""
    text = json.dumps(json_ready(value), indent=2, allow_nan=False, default=default)
    write_text_atomic(path, text + "\n")
