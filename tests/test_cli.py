from __future__ import annotations

import json
import shutil
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
    for sub in ("book", "bench", "setup-jupyter", "eval", "predict", "ground"):
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


# ------------------------------------------- issue 11, finding 6: `rsground book` errors
# Every error of the book pipeline is one message on stderr (no traceback), exit 2 for bad
# input, 1 for a failed chapter.
def _project(tmp_path, monkeypatch, body="x = 1\n", profile="profile: smoke\n"):
    from tests.test_bookbuild import write_project

    root = write_project(
        tmp_path / "proj",
        {
            "00_a": '# %% tags=["parameters"]\nprofile = "smoke"  # str: p\n'
            "kappa = 5.0  # float in [0, inf): consistency strength\n"
            "num_generations = 8  # int ≥ 2: rollouts per prompt\n\n# %%\n" + body
        },
    )
    (root / "params" / "smoke.yml").write_text(profile)
    monkeypatch.chdir(root)
    return root


def _book_error(capsys, argv, code):
    assert main(argv) == code
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    assert captured.err.startswith("rsground book: error: ")
    return captured.err


@pytest.mark.parametrize(
    "profile, message",
    [
        ("kappa: -5\n", "kappa = -5 is out of range: chapter 00_a declares float in [0, inf)"),
        (
            "num_generations: 0\n",
            "num_generations = 0 is out of range: chapter 00_a declares int ≥ 2",
        ),
        ("kappa: 1.0\nkappa: 2.0\n", "line 2: duplicate key 'kappa' (first on line 1)"),
        ("kappa: [1\n", "not valid YAML"),
        ("num_generation: 8\n", "unknown parameter(s) num_generation"),
    ],
)
def test_book_profile_errors_are_one_message(tmp_path, monkeypatch, capsys, profile, message):
    root = _project(tmp_path, monkeypatch, profile=profile)
    err = _book_error(capsys, ["book", "--profile", "smoke", "--no-html"], 2)
    assert err.startswith(f"rsground book: error: {root / 'params' / 'smoke.yml'}: ")
    assert message in err
    assert not (root / "_build").exists()


def test_book_profile_outside_params_is_refused(tmp_path, monkeypatch, capsys):
    root = _project(tmp_path, monkeypatch)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "x.yml").write_text("kappa: 1.0\n")
    err = _book_error(capsys, ["book", "--profile", "../other/x", "--no-html"], 2)
    assert "profile '../other/x': expected a profile name" in err and "available: smoke" in err
    assert not (root / "_build").exists() and not (tmp_path / "_build").exists()
    err = _book_error(capsys, ["book", "--profile", "nope", "--no-html"], 2)
    assert "nope.yml: no such profile (available: smoke)" in err
    err = _book_error(capsys, ["book", "--chapters", "99_z", "--no-html"], 2)
    assert "unknown chapter(s) 99_z" in err


def test_book_outside_a_project_is_one_message(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    err = _book_error(capsys, ["book", "--no-html"], 2)
    assert f"no rsground project (a folder with _toc.yml and params/) at or above {tmp_path}" in err


def test_book_failed_chapter_is_one_message_exit_1(tmp_path, monkeypatch, capsys):
    root = _project(tmp_path, monkeypatch, body='raise ValueError("bad kappa " + str(kappa))\n')
    err = _book_error(capsys, ["book", "--no-html"], 1)
    assert "chapter 00_a.py failed in the cell starting `raise ValueError" in err
    assert "ValueError: bad kappa 5.0" in err
    assert str(root / "_build" / "smoke" / "failed" / "00_a.ipynb") in err


def test_book_error_through_the_entry_point(tmp_path, monkeypatch):
    root = _project(tmp_path, monkeypatch, profile="kappa: -5\n")
    exe = Path(sys.executable).parent / "rsground"
    proc = subprocess.run(
        [str(exe), "book", "--profile", "smoke", "--no-html"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.splitlines() == [
        f"rsground book: error: {root / 'params' / 'smoke.yml'}: kappa = -5 is out of range: "
        "chapter 00_a declares float in [0, inf) (default 5.0)"
    ]


def test_no_subcommand_is_a_usage_error(capsys):
    assert main([]) == 2
    assert "usage: rsground" in capsys.readouterr().err


def test_bench_help_lists_the_benchmarks(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["bench", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for name in ("scoring", "synthetic", "parsers", "tiny_model"):
        assert name in out


def test_predict_writes_one_line_per_sample_and_refuses_bad_input(tmp_path, capsys):
    out = tmp_path / "p.jsonl"
    argv = ["predict", "--checkpoint", "checkpoints/tiny-base", "--benchmark", "base_scenes",
            "--split", "test", "--num", "6", "--image-size", "64", "--prompt-style", "compact",
            "--max-new-tokens", "24", "-o", str(out)]  # fmt: skip
    assert main(argv) == 0
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in lines] == [f"base_scenes/test/{i}" for i in range(6)]
    assert all(set(r) >= {"completion", "bbox", "parsed", "iou"} for r in lines)
    assert "6 of 6 samples" in capsys.readouterr().out
    # without --prompt-style a tiny checkpoint is prompted in the compact style
    default = tmp_path / "default.jsonl"
    assert (
        main([a for a in argv[:-1] if a not in ("--prompt-style", "compact")] + [str(default)]) == 0
    )
    assert [json.loads(x)["completion"] for x in default.read_text().splitlines()] == [
        r["completion"] for r in lines
    ]
    capsys.readouterr()
    assert main(argv[:2] + ["missing-folder/"] + argv[3:]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rsground predict: error:") and "missing-folder" in err
    assert main(["predict", "--checkpoint", "x", "--benchmark", "dior_rsvg", "-o", str(out)]) == 2
    assert "give its folder (--data-root)" in capsys.readouterr().err


def test_ground_writes_geojson_in_the_rasters_crs_and_refuses_bad_input(tmp_path, capsys):
    import geopandas as gpd
    import numpy as np
    import rasterio
    from rasterio.transform import from_origin

    from rsground_lib.data import base_scenes

    rec = base_scenes.make_records(1, seed=3, max_objects=1)[0]
    raster = tmp_path / "scene.tif"
    with rasterio.open(raster, "w", driver="GTiff", width=64, height=64, count=3, dtype="uint8",
                       crs="EPSG:32631", transform=from_origin(500000, 4000000, 0.5, 0.5)) as ds:  # fmt: skip
        ds.write(np.moveaxis(np.asarray(rec["image"]), -1, 0))
    out = tmp_path / "answers.geojson"
    argv = ["ground", str(raster), "the ship", "--checkpoint", "checkpoints/tiny-base",
            "--tile", "32", "--overlap", "0", "--top-k", "2", "--max-new-tokens", "24", "-q", "-o", str(out)]  # fmt: skip
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert (
        "4 window(s) of 32 x 32 px (0 skipped" in printed
        and "map coordinates (EPSG:32631)" in printed
    )
    g = gpd.read_file(out)
    assert len(g) == 2 and g.crs.to_epsg() == 32631 and list(g["rank"]) == [1, 2]
    assert list(g["sentence"]) == ["the ship", "the ship"]
    folder = tmp_path / "dir.geojson"
    folder.mkdir()
    cases = [
        ([str(raster), "  "], "sentence is empty"),
        ([str(raster), "the ship", "--bands", "1,2,7"], "band 7 does not exist (the raster has 3 bands)"),
        ([str(raster), "the ship", "-o", str(tmp_path / "a.shp")], "cannot write '.shp'; use one of .geojson, .gpkg, .json"),
        ([str(tmp_path / "none.tif"), "the ship"], "none.tif: no such raster file"),
        ([str(Path(__file__)), "the ship"], "test_cli.py: not a raster"),
        ([str(raster), "the ship", "--tile", "0"], "tile must be an integer >= 1 (pixels); got 0"),
        ([str(raster), "the ship", "--merge-iou", "-1"], "merge_iou must be in (0, 1]; got -1.0"),
        ([str(raster), "the ship", "--overlap", "1"], "overlap must be in [0, 1); got 1.0"),
        ([str(raster), "the ship", "-o", "/proc/no/answers.geojson"], "answers.geojson: its folder cannot be created"),
        ([str(raster), "the ship", "-o", str(tmp_path)], "cannot write 'a file without suffix'"),
        ([str(raster), "the ship", "-o", str(folder)], "dir.geojson: is a folder"),
    ]  # fmt: skip
    for args, message in cases:
        assert main(["ground", *args, "--checkpoint", "checkpoints/tiny-base", "-q"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("rsground ground: error:") and message in err[0]
    # without --tile, the window is the model's input side: 64 px for the tiny base
    assert (
        main(
            [
                "ground",
                str(raster),
                "the ship",
                "--checkpoint",
                "checkpoints/tiny-base",
                "-q",
                "--max-new-tokens",
                "24",
            ]
        )
        == 0
    )
    assert "1 window(s) of 64 x 64 px" in capsys.readouterr().out


def test_ground_options_are_made_from_the_grounding_settings(capsys):
    """``rsground ground``'s grounding options are the fields of geo.GroundingSettings, each
    with the dataclass's default, choices and help; the parsed options build the settings."""
    import dataclasses

    from rsground_lib import geo
    from rsground_lib.cli import build_parser

    with pytest.raises(SystemExit) as exc:
        main(["ground", "--help"])
    assert exc.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    for f in dataclasses.fields(geo.GroundingSettings):
        assert f"--{f.name.replace('_', '-')} " in out, f.name
    defaults = geo.GroundingSettings()
    assert (
        f"--merge-iou MERGE_IOU IoU at which two answers merge, in (0, 1] (default: "
        f"{defaults.merge_iou})" in out
    )
    assert "--stretch {auto,percentile,none}" in out and "--prompt-style {compact,full}" in out
    assert "(default: the model's input side, at most 800)" in out  # --tile: None
    args = build_parser().parse_args(["ground", "x.tif", "the ship", "--merge-iou", "0.7"])
    assert geo.GroundingSettings.from_args(args) == dataclasses.replace(defaults, merge_iou=0.7)


def test_predict_and_eval_never_replace_a_file_they_did_not_write(tmp_path, capsys):
    """Issue 24, data loss: ``predict -o`` on a notes file (one line, no final newline) or on
    someone else's JSON lines, with or without ``--fresh``, is refused and the file is left
    byte for byte; resuming with another prompt style or checkpoint is refused naming what
    differs (``--fresh`` starts over); ``eval --json`` onto the predictions is refused."""
    base = ["predict", "--benchmark", "base_scenes", "--split", "test", "--num", "4",
            "--image-size", "64", "--max-new-tokens", "16", "--checkpoint", "checkpoints/tiny-base"]  # fmt: skip
    notes = tmp_path / "notes.txt"
    notes.write_bytes(b"my notes, no newline")
    foreign = tmp_path / "theirs.jsonl"
    foreign.write_bytes(b'{"id": "base_scenes/test/0", "bbox": [1, 2, 3, 4]}\n')
    utf16 = tmp_path / "u16.jsonl"
    utf16.write_bytes('{"id": 1}\n'.encode("utf-16"))
    for path, message in ((notes, "notes.txt:1: not a prediction line"),
                          (foreign, "theirs.jsonl:1: not a line of rsground predict (missing image"),
                          (utf16, "u16.jsonl: UTF-16 text")):  # fmt: skip
        before = path.read_bytes()
        for extra in ([], ["--fresh"]):
            assert main(base + extra + ["-o", str(path)]) == 2
            assert message in capsys.readouterr().err
            assert path.read_bytes() == before
    out = tmp_path / "p.jsonl"
    assert main(base + ["-o", str(out)]) == 0
    record = json.loads((tmp_path / "p.run.json").read_text())
    assert record["checkpoint"] == "checkpoints/tiny-base" and record["prompt_style"] == "compact"
    assert len(record["weights_sha256"]) == 64
    written = out.read_bytes()
    capsys.readouterr()
    assert main(base + ["--prompt-style", "full", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "prompt_style 'compact' → now 'full'" in err and "start over (--fresh)" in err
    copy = tmp_path / "copy"
    shutil.copytree("checkpoints/tiny-base", copy)
    assert main(base[:-1] + [str(copy), "-o", str(out)]) == 2
    assert "checkpoint 'checkpoints/tiny-base' → now" in capsys.readouterr().err
    assert out.read_bytes() == written
    assert main(base + ["--prompt-style", "full", "--fresh", "-o", str(out)]) == 0
    assert json.loads((tmp_path / "p.run.json").read_text())["prompt_style"] == "full"
    capsys.readouterr()
    assert main(base[:5] + ["--num", "0"] + base[7:] + ["-o", str(tmp_path / "z.jsonl")]) == 2
    assert "--num: expected at least 1 generated scene; got 0" in capsys.readouterr().err
    assert main(base + ["-o", str(notes / "p.jsonl")]) == 2
    assert "its parent" in capsys.readouterr().err and notes.read_bytes() == b"my notes, no newline"
    written = out.read_bytes()
    for flag in ("--json", "--markdown"):
        argv = ["eval", str(out), "--benchmark", "base_scenes", "--data-root", str(tmp_path),
                "--split", "test", flag, str(out)]  # fmt: skip
        assert main(argv) == 2
        assert f"{flag} {out}: is the same file as PREDICTIONS" in capsys.readouterr().err
        assert out.read_bytes() == written
