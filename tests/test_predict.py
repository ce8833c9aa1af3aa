"""Resumable batched predictions (:func:`rsground_lib.evaluation.predict`) on the committed tiny
base: one JSONL line per record with the boxes in original pixels, the same completions as
``generate_answers``, a run killed with SIGKILL and started again ends with every id once and
the lines of an uninterrupted run, a truncated last line is rewritten, broken files and
duplicate ids are errors. Plus the keys of the ``predict`` benchmark."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from rsground_lib import boxes, evaluation, generation, models, predictions
from rsground_lib.bench import predict as bench_predict
from rsground_lib.data import base_scenes

ROOT = Path(__file__).resolve().parents[1]
CHECKPOINT = ROOT / "checkpoints" / "tiny-base"
KEYS = ["id", "image", "expression", "completion", "box_model", "bbox", "parsed", "iou"]
GEN = {"max_new_tokens": 24, "prompt_style": "compact"}


def make_records(n: int, seed: int = 3, size: tuple[int, int] = (64, 64)) -> list[dict]:
    """``n`` tiny-base scenes with ids ``t/{i}``, resized to ``size`` (width, height) with
    their boxes scaled, so that original and model pixels differ when ``size`` is not 64 ×
    64. The subprocess of the resume test imports this, so both sides make the same ones."""
    w, h = size
    out = []
    for i, r in enumerate(base_scenes.make_records(n, seed=seed, max_objects=3, mode="mixed")):
        sx, sy = w / r["width"], h / r["height"]
        x1, y1, x2, y2 = r["bbox"]
        out.append(
            {
                **r,
                "id": f"t/{i}",
                "image": r["image"].resize((w, h)),
                "width": w,
                "height": h,
                "bbox": [x1 * sx, y1 * sy, x2 * sx, y2 * sy],
            }
        )
    return out


@pytest.fixture(scope="module")
def tiny():
    torch.set_num_threads(1)
    return models.load_model(CHECKPOINT, device="cpu")


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_predict_writes_one_line_per_record_in_original_pixels(tiny, tmp_path):
    model, processor = tiny
    records = make_records(10, size=(96, 80))
    for k in (0, 3):  # two records give their image as a path
        path = tmp_path / f"scene_{k}.png"
        records[k]["image"].save(path)
        records[k] = {**records[k], "image": str(path)}
    out = tmp_path / "preds" / "tiny.jsonl"
    summary = evaluation.predict(
        model, processor, records, out, batch_size=4, model_name="tiny-base", progress=False, **GEN
    )
    lines = _lines(out)
    assert [r["id"] for r in lines] == [f"t/{i}" for i in range(10)]
    assert all(list(r) == KEYS for r in lines)
    assert lines[0]["image"] == str(tmp_path / "scene_0.png")
    assert lines[3]["image"] == str(tmp_path / "scene_3.png")
    assert lines[1]["image"] is None
    assert [r["expression"] for r in lines] == [r["expression"] for r in records]
    assert models.model_image_size(processor, 96, 80) == (64, 64)
    for row, rec in zip(lines, records, strict=True):
        assert row["parsed"] is True  # the tiny base always answers a box on its scenes
        expected = boxes.to_original_pixels(row["box_model"], (96, 80), (64, 64))
        assert row["bbox"] == [float(v) for v in np.asarray(expected).ravel()]
        assert row["bbox"][0] == row["box_model"][0] * 1.5  # 96 / 64
        assert row["bbox"][1] == row["box_model"][1] * 1.25  # 80 / 64
        assert row["iou"] == float(boxes.iou(row["bbox"], rec["bbox"]))
    # the same completions as generate_answers (another batch size, on the same records)
    texts, parsed = generation.generate_answers(model, processor, records, batch_size=3, **GEN)
    assert [r["completion"] for r in lines] == texts
    assert [r["box_model"] for r in lines] == parsed
    # the summary beside it
    assert predictions.summary_path(out) == tmp_path / "preds" / "tiny.summary.json"
    on_disk = json.loads((tmp_path / "preds" / "tiny.summary.json").read_text())
    assert on_disk == summary
    assert (summary["n"], summary["done"], summary["generated"], summary["resumed"]) == (
        10,
        10,
        10,
        0,
    )
    assert summary["parse_rate"] == 1.0
    assert summary["pr@0.5"] == pytest.approx(np.mean([r["iou"] > 0.5 for r in lines]))
    assert summary["mean_iou"] == pytest.approx(np.mean([r["iou"] for r in lines]))
    assert summary["model_name"] == "tiny-base" and summary["samples_per_second"] > 0
    assert not list((tmp_path / "preds").glob("*.tmp"))


def test_predict_again_on_a_complete_file_generates_nothing(tiny, tmp_path, capsys):
    model, processor = tiny
    records = make_records(4)
    out = tmp_path / "p.jsonl"
    evaluation.predict(model, processor, records, out, batch_size=4, progress=True, **GEN)
    assert "4/4" in capsys.readouterr().err  # the progress bar, on stderr
    before = out.read_bytes()
    summary = evaluation.predict(model, processor, records, out, progress=False, **GEN)
    assert capsys.readouterr().err == ""
    assert out.read_bytes() == before
    assert (summary["generated"], summary["resumed"], summary["done"]) == (0, 4, 4)
    assert summary["samples_per_second"] is None


def test_truncated_last_line_is_dropped_and_rewritten(tiny, tmp_path):
    model, processor = tiny
    records = make_records(8)
    out = tmp_path / "p.jsonl"
    evaluation.predict(model, processor, records, out, batch_size=4, progress=False, **GEN)
    full = out.read_bytes()
    cut = full.index(b"\n", full.index(b'"id": "t/5"')) - 20  # inside line 6, before its end
    out.write_bytes(full[:cut])
    assert [r["id"] for r in predictions.read_prediction_lines(out)] == [f"t/{i}" for i in range(5)]
    summary = evaluation.predict(
        model, processor, records, out, batch_size=4, progress=False, **GEN
    )
    assert out.read_bytes() == full
    assert (summary["resumed"], summary["generated"], summary["done"]) == (5, 3, 8)


def test_a_broken_line_before_the_last_is_an_error_naming_it(tiny, tmp_path):
    model, processor = tiny
    records = make_records(4)
    out = tmp_path / "p.jsonl"
    evaluation.predict(model, processor, records, out, batch_size=4, progress=False, **GEN)
    lines = out.read_text().splitlines(keepends=True)
    lines[2] = lines[2][:30] + "\n"  # a broken third line, the fourth intact after it
    out.write_text("".join(lines))
    broken = out.read_bytes()
    with pytest.raises(ValueError, match=rf"{out}:3: not a JSON line"):
        evaluation.predict(model, processor, records, out, progress=False, **GEN)
    assert out.read_bytes() == broken
    out.write_text(lines[0] + "[1, 2]\n")
    with pytest.raises(ValueError, match=rf"{out}:2: not a prediction line"):
        predictions.read_prediction_lines(out)
    out.write_text(lines[0] + lines[1] + lines[0])
    with pytest.raises(ValueError, match=rf"{out}:3: id 't/0' already written on line 1"):
        predictions.read_prediction_lines(out)


def test_ids_given_twice_or_unknown_and_other_backends_are_refused(tiny, tmp_path):
    model, processor = tiny
    records = make_records(4)
    out = tmp_path / "p.jsonl"
    twice = records + [{**records[1]}]
    with pytest.raises(ValueError, match=r"given twice: 't/1' \(records 1 and 4\)"):
        evaluation.predict(model, processor, twice, out, progress=False, **GEN)
    with pytest.raises(ValueError, match="record 2 has no 'id'"):
        evaluation.predict(
            model, processor, records[:2] + [{"image": None}], out, progress=False, **GEN
        )
    with pytest.raises(ValueError, match="backend must be one of transformers; got 'vllm'"):
        evaluation.predict(model, processor, records, out, backend="vllm", progress=False)
    assert not out.exists()
    evaluation.predict(model, processor, records, out, progress=False, **GEN)
    other = [{**r, "id": r["id"].replace("t/", "u/")} for r in records]
    with pytest.raises(ValueError, match=r"4 written id\(s\) are not among the records"):
        evaluation.predict(model, processor, other, out, progress=False, **GEN)


_CHILD = """
import sys, time, torch
torch.set_num_threads(1)
from rsground_lib import evaluation, models
from tests.test_predict import CHECKPOINT, GEN, make_records
model, processor = models.load_model(CHECKPOINT, device="cpu")
generate = model.generate
def slow_generate(**kwargs):  # room for the parent to kill it part way
    time.sleep(0.05)
    return generate(**kwargs)
model.generate = slow_generate
evaluation.predict(model, processor, make_records(64), sys.argv[1], batch_size=4, progress=False, **GEN)
"""


def test_resume_after_sigkill_gives_the_lines_of_an_uninterrupted_run(tiny, tmp_path):
    model, processor = tiny
    records = make_records(64)
    killed = tmp_path / "killed.jsonl"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(killed)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    n_before = 0
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            n_before = killed.read_bytes().count(b"\n") if killed.exists() else 0
            if n_before >= 8:
                proc.send_signal(signal.SIGKILL)
                break
            time.sleep(0.005)
        rc = proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert rc == -signal.SIGKILL, proc.stderr.read().decode()[-2000:]
    proc.stderr.close()
    n_killed = killed.read_bytes().count(b"\n")
    assert 8 <= n_killed < 64, n_killed

    summary = evaluation.predict(
        model, processor, records, killed, batch_size=4, progress=False, **GEN
    )
    assert summary["resumed"] == n_killed and summary["generated"] == 64 - n_killed
    resumed = _lines(killed)
    assert sorted(r["id"] for r in resumed) == sorted(r["id"] for r in records)
    assert len(resumed) == 64

    clean = tmp_path / "clean.jsonl"
    evaluation.predict(model, processor, records, clean, batch_size=4, progress=False, **GEN)
    by_id = {r["id"]: r for r in _lines(clean)}
    assert {r["id"]: (r["completion"], r["box_model"], r["bbox"]) for r in resumed} == {
        k: (r["completion"], r["box_model"], r["bbox"]) for k, r in by_id.items()
    }
    assert {r["id"]: r for r in resumed} == by_id  # every key, iou and image included


def test_bench_predict_reports_both_batch_sizes():
    torch.set_num_threads(1)
    result = bench_predict.run(n=6, batch_size=3, repeats=1, verbose=False)
    assert set(result) >= {
        "n", "batch_size", "rows", "speedup_predict", "speedup_generate", "goal_speedup",
        "same_predictions", "n_differ", "parse_rate",
    }  # fmt: skip
    assert [(r["stage"], r["batch_size"]) for r in result["rows"]] == [
        ("predict", 1), ("predict", 3), ("generate", 1), ("generate", 3)
    ]  # fmt: skip
    assert all(r["samples_per_s"] > 0 for r in result["rows"])
    assert result["same_predictions"] is True and result["n_differ"] == 0
    json.dumps(result)


def test_predict_without_resume_starts_a_fresh_file(tmp_path):
    out = tmp_path / "p.jsonl"
    model, processor = models.load_model(CHECKPOINT)
    recs = base_scenes.make_records(3, seed=5, image_size=64, max_objects=3, mode="mixed")
    stale = [{**recs[0], "id": "stale/0"}]  # an earlier run's file, on other records
    evaluation.predict(model, processor, stale, out, max_new_tokens=24, progress=False)
    for i, r in enumerate(recs):
        r["id"] = f"fresh/{i}"
    with pytest.raises(ValueError, match="not among the records"):
        evaluation.predict(model, processor, recs, out, max_new_tokens=24, progress=False)
    evaluation.predict(model, processor, recs, out, max_new_tokens=24, progress=False, resume=False)
    assert [r["id"] for r in predictions.read_prediction_lines(out)] == [
        "fresh/0",
        "fresh/1",
        "fresh/2",
    ]


def test_matching_resume_continues_the_same_run_and_restarts_another(tiny, tmp_path):
    """``resume="matching"`` (a chapter re-executed by ``make reproduce``): the same checkpoint
    and settings continue the file (nothing generated again); other settings, or a file of
    records that are no longer asked for, start it over instead of failing."""
    model, processor = tiny
    records = make_records(4)
    out = tmp_path / "p.jsonl"
    kw = dict(batch_size=4, progress=False, checkpoint=str(CHECKPOINT), **GEN)
    first = evaluation.predict(model, processor, records[:3], out, resume="matching", **kw)
    assert (first["generated"], first["resumed"]) == (3, 0)
    again = evaluation.predict(model, processor, records, out, resume="matching", **kw)
    assert (again["generated"], again["resumed"], again["done"]) == (1, 3, 4)
    other = evaluation.predict(model, processor, records, out, resume="matching",
                               **{**kw, "max_new_tokens": GEN["max_new_tokens"] + 1})  # fmt: skip
    assert (other["generated"], other["resumed"]) == (4, 0)
    fewer = evaluation.predict(model, processor, records[1:], out, resume="matching",
                               **{**kw, "max_new_tokens": GEN["max_new_tokens"] + 1})  # fmt: skip
    assert (fewer["generated"], fewer["resumed"]) == (3, 0)  # t/0 is no longer asked for
    with pytest.raises(ValueError, match="resume must be True, False or 'matching'"):
        evaluation.predict(model, processor, records, out, resume="yes", **kw)
