"""Jupyter configuration written inside the project's environment (never the home folder).

Two facts measured on the reference machine: Jupyter Server refuses to start as root without
``allow_root`` (this machine and CI run as root), and JupyterLab opens ``.py`` files in the
text editor until the default viewer for Python files is set to Jupytext's notebook. Both
settings live under ``sys.prefix`` so they travel with ``.venv`` and touch nothing else.

Book chapter: "Overview" (``book/00_overview.py``, how to run).
"""

from __future__ import annotations

import json
from pathlib import Path

SERVER_CONFIG = {"ServerApp": {"allow_root": True}}
LAB_OVERRIDES = {
    "@jupyterlab/docmanager-extension:plugin": {"defaultViewers": {"python": "Jupytext Notebook"}},
    # no news fetched from the internet (and no pop-up asking for it)
    "@jupyterlab/apputils-extension:notification": {"fetchNews": "false"},
}


def configure_jupyter(prefix: str | Path) -> list[Path]:
    """Write the server config and the JupyterLab settings overrides under ``prefix``.

    Returns the files written. Existing keys in those files are kept; ours are merged in.
    """
    prefix = Path(prefix)
    targets = [
        (prefix / "etc" / "jupyter" / "jupyter_server_config.json", SERVER_CONFIG),
        (prefix / "share" / "jupyter" / "lab" / "settings" / "overrides.json", LAB_OVERRIDES),
    ]
    written = []
    for path, content in targets:
        path.parent.mkdir(parents=True, exist_ok=True)
        merged: dict = {}
        if path.exists():
            try:
                merged = json.loads(path.read_text())
            except json.JSONDecodeError as err:
                raise ValueError(f"{path}: not valid JSON ({err}); fix or remove it") from err
        for key, value in content.items():
            if isinstance(value, dict) and isinstance(merged.get(key), dict):
                merged[key] = {**merged[key], **value}
            else:
                merged[key] = value
        path.write_text(json.dumps(merged, indent=2) + "\n")
        written.append(path)
    return written
