from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from rsground_lib import __version__
from rsground_lib.cli import main


def test_version_flag(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"rsground {__version__}"


def test_help_lists_the_subcommands(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for sub in ("book", "bench", "setup-jupyter"):
        assert sub in out


def test_installed_entry_point_runs():
    exe = Path(sys.executable).parent / "rsground"
    proc = subprocess.run([str(exe), "--version"], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == f"rsground {__version__}"


def test_unknown_subcommand_is_an_error(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["train-everything"])
    assert exc.value.code == 2
    assert "invalid choice" in capsys.readouterr().err
