from __future__ import annotations

import json

import pytest

from rsground_lib.jupyter_setup import configure_jupyter


def test_writes_root_permission_and_jupytext_default_viewer(tmp_path):
    written = configure_jupyter(tmp_path)
    server = json.loads((tmp_path / "etc/jupyter/jupyter_server_config.json").read_text())
    lab = json.loads((tmp_path / "share/jupyter/lab/settings/overrides.json").read_text())
    assert server == {"ServerApp": {"allow_root": True}}
    viewers = lab["@jupyterlab/docmanager-extension:plugin"]["defaultViewers"]
    assert viewers == {"python": "Jupytext Notebook"}
    assert lab["@jupyterlab/apputils-extension:notification"] == {"fetchNews": "false"}
    assert len(written) == 2


def test_keeps_existing_settings(tmp_path):
    overrides = tmp_path / "share/jupyter/lab/settings/overrides.json"
    overrides.parent.mkdir(parents=True)
    overrides.write_text(
        json.dumps({"@jupyterlab/apputils-extension:themes": {"theme": "JupyterLab Dark"}})
    )
    configure_jupyter(tmp_path)
    lab = json.loads(overrides.read_text())
    assert lab["@jupyterlab/apputils-extension:themes"] == {"theme": "JupyterLab Dark"}
    assert "@jupyterlab/docmanager-extension:plugin" in lab


def test_invalid_existing_json_is_an_error_naming_the_file(tmp_path):
    overrides = tmp_path / "share/jupyter/lab/settings/overrides.json"
    overrides.parent.mkdir(parents=True)
    overrides.write_text("{not json")
    with pytest.raises(ValueError, match="overrides.json"):
        configure_jupyter(tmp_path)


def test_this_environment_is_configured():
    """`make setup` ran `rsground setup-jupyter` in the venv that runs these tests."""
    import sys
    from pathlib import Path

    from jupyter_core.paths import jupyter_config_path

    assert str(Path(sys.prefix) / "etc" / "jupyter") in jupyter_config_path()
    cfg = Path(sys.prefix) / "etc/jupyter/jupyter_server_config.json"
    assert json.loads(cfg.read_text())["ServerApp"]["allow_root"] is True
