"""The tree passes the project's linter (ruff, settings in pyproject.toml)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_ruff_check_is_clean(project_root):
    ruff = Path(sys.executable).parent / "ruff"
    proc = subprocess.run(
        [str(ruff), "check", "--no-cache", str(project_root)], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
