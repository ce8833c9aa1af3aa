"""Archived results: committed JSON with its source, read and tabled for the chapters."""

from __future__ import annotations

import json

import pytest

from rsground_lib import archive

SOURCE = {"commits": ["abc1234"], "command": "python x.py", "machine": "2 cores", "cpu": "AMD EPYC"}


def test_committed_archives_load_and_name_their_source():
    for name in ("cot_sft_variants", "tiny_base_probes"):
        data = archive.load(name)
        assert data["archived"] is True and data["produced_by"]["commits"]
    probes = archive.load("tiny_base_probes")
    assert archive.value(probes, "dense_probe.r2_after") == 0.31
    assert archive.value(probes, "cue_only_third_run.pr50.3") == 0.227


def test_every_archive_names_its_cpu_and_the_source_line_quotes_it():
    names = sorted(p.stem for p in archive.archive_dir().glob("*.json"))
    assert "rft_probes" in names and len(names) >= 8
    for name in names:
        assert archive.load(name)["produced_by"]["cpu"], name
    assert archive.source_line({"produced_by": SOURCE}) == (
        "archived: commits abc1234; 2 cores; CPU: AMD EPYC"
    )
    same = {**SOURCE, "machine": "AMD EPYC, 2 threads"}
    assert (
        archive.source_line({"produced_by": same})
        == "archived: commits abc1234; AMD EPYC, 2 threads"
    )


def test_values_are_quoted_as_stored():
    assert archive.format_value(12000) == "12,000"
    assert archive.format_value(0.335) == "0.335"
    assert archive.format_value(0.002) == "0.002"


def test_points_lost_against_the_base(tmp_path):
    data = {"title": "t", "archived": True, "produced_by": SOURCE,
            "base_pr50": {"small": 0.5, "paired": 0.4},
            "rows": [{"pr50_small": [0.45, 0.5]}, {"pr50_paired": [0.3]}, {"pr50_small": None}]}  # fmt: skip
    assert archive.points_lost(data, [0, 1]) == [5.0, 0.0, 10.0]
    with pytest.raises(ValueError, match="hold none"):
        archive.points_lost(data, [2])


def test_table_shows_missing_values_as_a_dash():
    data = {"title": "t", "rows": [{"name": "a", "v": [0.5, 0.25]}, {"name": "b", "v": None}]}
    frame = archive.table(data, {"v": "value"}, "name")
    assert frame.to_dict()["value"] == {"a": "0.500, 0.250", "b": "—"}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "expected a UTF-8 JSON object"),
        ("[1]", "expected a JSON object, got list"),
        (json.dumps({"title": "t", "archived": True}), "missing keys \\['produced_by'\\]"),
        (json.dumps({"title": "t", "archived": False, "produced_by": SOURCE}), "must be true"),
        (json.dumps({"title": "t", "archived": True, "produced_by": {"commits": []}}), "must name"),
        (
            json.dumps(
                {
                    "title": "t",
                    "archived": True,
                    "produced_by": {k: v for k, v in SOURCE.items() if k != "cpu"},
                }
            ),
            "must name commits, command, machine, cpu",
        ),
    ],
)
def test_bad_archives_name_the_file(tmp_path, content, message):
    (tmp_path / "experiments").mkdir()
    (tmp_path / "experiments" / "bad.json").write_text(content)
    (tmp_path / "_toc.yml").write_text("root: x\n")
    (tmp_path / "params").mkdir()
    with pytest.raises(ValueError, match=message) as info:
        archive.load("bad", root=tmp_path)
    assert "bad.json" in str(info.value)
    with pytest.raises(ValueError, match="no archived result"):
        archive.load("missing", root=tmp_path)
    with pytest.raises(KeyError, match="'a.b'"):
        archive.value({"title": "t", "a": {}}, "a.b")
