from __future__ import annotations

import pytest

from rsground_lib import paths


def test_project_root_found_from_book_folder(project_root, monkeypatch):
    monkeypatch.chdir(project_root / "book")
    assert paths.project_root() == project_root


def test_project_root_missing_names_the_start(tmp_path):
    with pytest.raises(FileNotFoundError, match=str(tmp_path)):
        paths.project_root(tmp_path)


def test_run_dir_layout_and_env_override(tmp_path, monkeypatch):
    monkeypatch.setenv(paths.RUNS_ENV, str(tmp_path / "r"))
    d = paths.run_dir("smoke", "00_overview")
    assert d == tmp_path / "r" / "smoke" / "00_overview" and d.is_dir()
    explicit = paths.run_dir("full", "01_x", tmp_path / "elsewhere")
    assert explicit == tmp_path / "elsewhere" / "full" / "01_x"


@pytest.mark.parametrize("bad", ["", "..", "a/b"])
def test_run_dir_rejects_non_names(bad, tmp_path):
    with pytest.raises(ValueError, match="plain folder name"):
        paths.run_dir(bad, "ch", tmp_path)


def test_data_root_unset_is_none_unless_required(monkeypatch):
    monkeypatch.delenv(paths.DATA_ENV, raising=False)
    assert paths.data_root() is None
    with pytest.raises(FileNotFoundError, match="RSGROUND_DATA"):
        paths.data_root(required=True)


def test_data_root_pointing_nowhere_is_an_error(monkeypatch, tmp_path):
    monkeypatch.setenv(paths.DATA_ENV, str(tmp_path / "typo"))
    with pytest.raises(FileNotFoundError, match="typo"):
        paths.data_root()
    assert paths.data_root(tmp_path) == tmp_path


def test_the_run_layout_names_every_folder_and_reading_creates_none(tmp_path):
    layout = paths.layout("smoke", tmp_path)
    assert layout.root == tmp_path / "smoke"
    assert layout.model("plain SFT") == tmp_path / "smoke" / "03_cot_sft" / "plain_sft"
    assert layout.model("CoT-SFT") == tmp_path / "smoke" / "03_cot_sft" / "cot_sft"
    assert layout.model("RFT") == tmp_path / "smoke" / "04_rft" / "rft"
    assert layout.predictions("plain SFT") == (
        tmp_path / "smoke" / "05_evaluation" / "predictions" / "plain_sft.jsonl"
    )
    assert layout.read_json("03_cot_sft") is None  # the chapter has not run
    assert list(tmp_path.iterdir()) == []  # asking created nothing
    out = layout.output("03_cot_sft")
    assert out.is_dir() and out == layout.chapter("03_cot_sft")
    (out / "metrics.json").write_text('{"base": {"class_only": {"pr@0.5": 0.5}}}')
    assert layout.read_json("03_cot_sft")["base"]["class_only"]["pr@0.5"] == 0.5
    (out / "paired.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"paired\.json: not JSON"):
        layout.read_json("03_cot_sft", "paired.json")
    with pytest.raises(ValueError, match="model 'DPO': expected one of"):
        layout.model("DPO")
    with pytest.raises(ValueError, match="plain folder name"):
        layout.chapter("../03")
    assert paths.folder_name("CoT-SFT") == "cot_sft" and paths.folder_name("RFT") == "rft"
