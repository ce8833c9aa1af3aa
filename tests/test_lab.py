"""`make lab` (slow): JupyterLab starts as root from the venv's own config and serves the
`.py` chapters as notebooks, with Jupytext's notebook as their default viewer."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str):
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.loads(resp.read())


@pytest.fixture()
def lab(project_root):
    port, token = _free_port(), "rsground-test"
    exe = Path(sys.executable).parent / "jupyter"
    proc = subprocess.Popen(
        [
            str(exe),
            "lab",
            "--no-browser",
            f"--port={port}",
            "--ServerApp.ip=127.0.0.1",
            f"--IdentityProvider.token={token}",
            f"--notebook-dir={project_root}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"jupyter lab exited with {proc.returncode}:\n{proc.stdout.read()[-3000:]}")
        try:
            _get(f"{base}/api/status?token={token}")
            break
        except OSError:
            time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail("jupyter lab did not answer within 60 s")
    yield base, token
    proc.terminate()
    proc.wait(timeout=20)


def test_py_chapter_is_served_as_a_notebook(lab):
    base, token = lab
    model = _get(f"{base}/api/contents/book/00_overview.py?type=notebook&content=1&token={token}")
    assert model["type"] == "notebook"
    cells = model["content"]["cells"]
    tagged = [c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1 and "profile = " in "".join(tagged[0]["source"])


def test_jupytext_notebook_is_the_default_viewer_for_python(lab):
    base, token = lab
    settings = _get(
        f"{base}/lab/api/settings/@jupyterlab/docmanager-extension:plugin?token={token}"
    )
    # the venv's overrides.json changes the schema default (user settings stay empty)
    default = settings["schema"]["properties"]["defaultViewers"]["default"]
    assert default["python"] == "Jupytext Notebook"
