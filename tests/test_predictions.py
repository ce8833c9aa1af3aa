"""Scoring anyone's predictions (``rsground_lib.predictions``, ``rsground eval``) on a tiny
hand-made benchmark in the ``records`` format: six 100 × 50 images' samples, predictions in
every coordinate frame, a missing sample, an unparsable completion, both ways of naming a
sample; every number below is computed by hand in the comments."""

from __future__ import annotations

import json
import math

import pytest

from rsground_lib import predictions
from rsground_lib.cli import main
from rsground_lib.data.benchmarks import load_benchmark
from rsground_lib.predictions import PredictionsError

W, H = 100, 50
ROWS = [  # (image, expression, target box in original pixels) — area in the comment
    ("a.png", "the red car", [0, 0, 50, 25]),  # 1250
    ("a.png", "the white plane", [50, 25, 100, 50]),  # 1250
    ("b.png", "the large ship", [25, 0, 75, 50]),  # 2500
    ("b.png", "the small tank", [0, 25, 25, 50]),  # 625
    ("c.png", "the round tank", [0, 0, 100, 50]),  # 5000
    ("c.png", "the small pool", [75, 0, 100, 25]),  # 625
]


def _write_benchmark(root, dataset="custom"):
    root.mkdir(parents=True, exist_ok=True)
    rows = [{"image": i, "expression": e, "bbox": b} for i, e, b in ROWS]
    (root / "test.json").write_text(json.dumps(rows))
    return root


def _records(tmp_path, dataset="custom"):
    root = _write_benchmark(tmp_path / "bench")
    return load_benchmark("records", root, "test", dataset=dataset, image_size=(W, H))


# The predictions, in original pixels, and what each scores (continuous convention):
#   0  by id, bbox [0, 0, 50, 25]           = the target: IoU 1; inter 1250, union 1250
#   1  by image + expression, a bbox_2d completion [50, 25, 100, 43.75]:
#      inter 50 × 18.75 = 937.5, union 1250 → IoU 0.75
#   2  by id, an <answer> completion [25, 0, 68.75, 50]: inter 43.75 × 50 = 2187.5,
#      union 2500 → IoU 0.875
#   3  no prediction (missing): IoU 0; inter 0, its target's 625 joins the union
#   4  by "images/c.png" (base name) + expression with extra spaces, a completion without a
#      box: unparsable, IoU 0; inter 0, union 5000
#   5  by image + expression, bbox [0, 25, 25, 50], disjoint from [75, 0, 100, 25]: IoU 0;
#      inter 0, union 625 + 625 = 1250
# n = 6. Pr@0.5 = Pr@0.6 = Pr@0.7 = 3/6 (1, 0.75, 0.875); Pr@0.8 = 2/6 (1, 0.875);
# Pr@0.9 = 1/6; meanIoU = (1 + 0.75 + 0.875) / 6 = 0.4375;
# cumIoU = (1250 + 937.5 + 2187.5) / (1250 + 1250 + 2500 + 625 + 5000 + 1250)
#        = 4375 / 11875 = 7/19; parse rate = 4 parsed of the 5 given = 0.8; missing 1.
EXPECTED = {
    "pr@0.5": 0.5,
    "pr@0.6": 0.5,
    "pr@0.7": 0.5,
    "pr@0.8": 2 / 6,
    "pr@0.9": 1 / 6,
    "mean_iou": 0.4375,
    "cum_iou": 7 / 19,
    "parse_rate": 0.8,
    "n": 6,
    "missing": 1,
}

# The same four boxes in each frame. qwen2.5-vl: a 100 × 50 image becomes 112 × 56
# (100/28 = 3.57 → 4 × 28, 50/28 = 1.79 → 2 × 28), so x and y scale by 1.12.
# norm1000: x × 10, y × 20; norm100: x × 1, y × 2.
BOXES = {
    "original": [[0, 0, 50, 25], [50, 25, 100, 43.75], [25, 0, 68.75, 50], [0, 25, 25, 50]],
    "qwen2.5-vl": [[0, 0, 56, 28], [56, 28, 112, 49], [28, 0, 77, 56], [0, 28, 28, 56]],
    "norm1000": [
        [0, 0, 500, 500],
        [500, 500, 1000, 875],
        [250, 0, 687.5, 1000],
        [0, 500, 250, 1000],
    ],
    "norm100": [[0, 0, 50, 50], [50, 50, 100, 87.5], [25, 0, 68.75, 100], [0, 50, 25, 100]],
}


def _items(coords):
    b0, b1, b2, b5 = BOXES[coords]
    return [
        {"id": "custom/test/0", "bbox": b0},
        {
            "image": "a.png",
            "expression": "the white plane",
            "completion": f'```json\n[{{"bbox_2d": {json.dumps(b1)}, "label": "plane"}}]\n```',
        },
        {"id": "custom/test/2", "completion": f"<think>the ship</think><answer>{b2}</answer>"},
        {
            "image": "images/c.png",
            "expression": "  the round   tank ",
            "completion": "I cannot find it.",
        },
        {"image": "c.png", "expression": "the small pool", "bbox": b5},
    ]


def _jsonl(path, items):
    path.write_text("".join(json.dumps(item) + "\n" for item in items))
    return path


@pytest.mark.parametrize("coords", predictions.COORDS)
def test_every_frame_scores_the_hand_computed_numbers(tmp_path, coords):
    records = _records(tmp_path)
    path = _jsonl(tmp_path / "preds.jsonl", _items(coords))
    result = predictions.score_file(path, records, coords=coords)
    assert result == {
        **{k: pytest.approx(v, abs=1e-12) for k, v in EXPECTED.items()},
        "skipped": 0,
        "outside_frame": 0,
        "preset": "dior_rsvg",
        "coords": coords,
    }


def test_a_json_list_reads_as_json_lines_do(tmp_path):
    records = _records(tmp_path)
    path = tmp_path / "preds.json"
    path.write_text(json.dumps(_items("original"), indent=2))
    result = predictions.score_file(path, records)
    assert {k: result[k] for k in EXPECTED} == pytest.approx(EXPECTED)


def test_the_lines_evaluation_predict_writes_score_by_their_bbox(tmp_path):
    """``evaluation.predict`` writes the completion (model pixels) beside ``bbox`` (original
    pixels, null when unparsable) and the image's full path: ``bbox`` is the answer."""
    records = _records(tmp_path)
    lines = [
        {"id": "custom/test/0", "image": "/data/images/a.png", "expression": "the red car",
         "completion": "<answer>[0, 0, 56, 28]</answer>", "box_model": [0, 0, 56, 28],
         "bbox": [0, 0, 50, 25], "parsed": True, "iou": 1.0},
        {"id": "custom/test/1", "image": "/data/images/a.png",
         "expression": "the white plane", "completion": "somewhere", "box_model": None,
         "bbox": None, "parsed": False, "iou": 0.0},
    ]  # fmt: skip
    result = predictions.score_file(_jsonl(tmp_path / "p.jsonl", lines), records)
    # sample 0 hits with the original-pixel bbox (the completion's model box would not);
    # sample 1 is an answer without a box; four samples missing. Pr 1/6, parse rate 1/2
    assert (result["pr@0.9"], result["parse_rate"], result["missing"]) == (1 / 6, 0.5, 4)


def test_to_original_by_hand():
    assert predictions.to_original([0, 0, 56, 28], "qwen2.5-vl", W, H) == pytest.approx(
        [0, 0, 50, 25]
    )
    assert predictions.to_original([500, 500, 1000, 1000], "norm1000", W, H) == [50, 25, 100, 50]
    assert predictions.to_original([10, 20, 30, 40], "norm100", W, H) == [10, 10, 30, 20]
    assert predictions.to_original([1, 2, 3, 4], "original", W, H) == [1, 2, 3, 4]
    # 4000 × 3000: the processor class's max_pixels gives 1148 × 840, the checkpoints'
    # 12,845,056 gives 4004 × 2996 (design page, "Coordinates")
    assert predictions.to_original([0, 0, 1148, 840], "qwen2.5-vl", 4000, 3000) == pytest.approx(
        [0, 0, 4000, 3000]
    )
    big = predictions.to_original([0, 0, 4004, 2996], "qwen2.5-vl", 4000, 3000, max_pixels=12845056)
    assert big == pytest.approx([0, 0, 4000, 3000])
    with pytest.raises(ValueError, match="unknown coords 'pixels'; expected one of original"):
        predictions.to_original([0, 0, 1, 1], "pixels", W, H)


def test_vrsbench_preset_leaves_box_less_samples_out_of_cum_iou(tmp_path):
    """Labelled vrsbench, the split gets VRSBench's protocol by default: inclusive pixels,
    IoU >= t, unparsable and missing samples outside cumIoU."""
    records = _records(tmp_path, dataset="vrsbench")
    items = [predictions.Prediction("p, line 1", id="vrsbench/test/0", bbox=(0, 0, 50, 25))]
    result = predictions.score_predictions(items, records)
    # sample 0: IoU 1 (inclusive area 51 × 26 = 1326 both); five samples missing.
    # cumIoU = 1326 / 1326 (the missing ones are left out); meanIoU = 1/6; parse rate 1/1
    assert result["preset"] == "vrsbench"
    assert result["cum_iou"] == 1.0
    assert result["mean_iou"] == pytest.approx(1 / 6)
    assert (result["parse_rate"], result["missing"], result["n"]) == (1.0, 5, 6)
    # the same under dior_rsvg: every missing target area joins the union sum
    # cumIoU = 1250 / (1250 + 1250 + 2500 + 625 + 5000 + 625) = 1250 / 11250 = 1/9
    dior = predictions.score_predictions(items, records, preset="dior_rsvg")
    assert dior["cum_iou"] == pytest.approx(1 / 9)


def test_no_prediction_at_all_given_scores_nothing_parsed(tmp_path):
    records = _records(tmp_path)
    items = [predictions.Prediction("p, line 1", id="custom/test/3", completion="no idea")]
    result = predictions.score_predictions(items, records)
    # one given, none parsed: parse rate 0/1; every sample a miss
    assert (result["parse_rate"], result["mean_iou"], result["cum_iou"]) == (0.0, 0.0, 0.0)
    assert result["missing"] == 5


# ----------------------------------------------------------------------------- bad input

GOOD = {"id": "custom/test/0", "bbox": [0, 0, 50, 25]}


@pytest.mark.parametrize(
    "line, message",
    [
        ('{"id": "custom/test/1", "bbox": [0, 0, 1', "not valid JSON"),
        ('{"id": "custom/test/1", "bbox": [0, NaN, 1, 1]}', "four finite numbers; got [0, NaN"),
        ('{"id": "custom/test/1", "bbox": [0, 0, 1]}', "four finite numbers"),
        ('{"id": "custom/test/1", "bbox": [9, 0, 1, 1]}', "x1 <= x2 and y1 <= y2"),
        ('{"id": "custom/test/1", "bbox": [0, 0, 1e300, 1e300]}', "at most 1e+06 in magnitude"),
        ('{"id": "custom/test/1", "bbox": null}', "give its text as 'completion'"),
        ('{"id": "custom/test/1", "box": [0, 0, 1, 1]}', "give 'bbox'"),
        ('{"id": "custom/test/1", "completion": 5}', "'completion' must be text"),
        ('{"image": "a.png", "bbox": [0, 0, 1, 1]}', "'image' and 'expression'"),
        ('{"id": "custom/test/99", "bbox": [0, 0, 1, 1]}', "unknown id 'custom/test/99'"),
        (
            '{"image": "a.png", "expression": "the blue car", "bbox": [0, 0, 1, 1]}',
            "no record has image 'a.png' with expression 'the blue car'",
        ),
        ('{"id": "custom/test/0", "bbox": [0, 0, 1, 1]}', "a second prediction for custom/test/0"),
        (
            '{"id": "custom/test/1", "image": "b.png", "bbox": [0, 0, 1, 1]}',
            "is the record with image 'a.png'",
        ),
    ],
)
def test_a_bad_line_names_the_file_and_the_line(tmp_path, line, message):
    records = _records(tmp_path)
    path = tmp_path / "preds.jsonl"
    path.write_text(json.dumps(GOOD) + "\n\n" + line + "\n")
    with pytest.raises(PredictionsError, match=r"preds\.jsonl, line 3: ") as err:
        predictions.score_file(path, records)
    assert message in str(err.value)


def test_an_ambiguous_image_and_expression_asks_for_the_id(tmp_path):
    records = [
        {
            "id": f"x/test/{i}",
            "image": f"/imgs/{name}",
            "expression": "the car",
            "bbox": [0, 0, 10, 10],
            "width": W,
            "height": H,
        }
        for i, name in enumerate(["a.png", "a.png", "b.png"])
    ]
    path = _jsonl(
        tmp_path / "p.jsonl",
        [
            {"image": "b.png", "expression": "the car", "bbox": [0, 0, 10, 10]},
            {"image": "a.png", "expression": "the car", "bbox": [0, 0, 10, 10]},
        ],
    )
    with pytest.raises(
        PredictionsError,
        match=r"p\.jsonl, line 2: image 'a.png' with "
        r"expression 'the car' matches 2 records; name the sample by 'id'",
    ):
        predictions.score_file(path, records)
    with pytest.warns(UserWarning, match="1 prediction line"):
        result = predictions.score_file(path, records, on_error="skip")
    # only b.png's sample is matched (IoU 1): Pr 1/3, two samples missing, one line skipped
    assert (result["pr@0.9"], result["missing"], result["skipped"]) == (1 / 3, 2, 1)


def test_json_list_errors_name_the_item_line(tmp_path):
    records = _records(tmp_path)
    path = tmp_path / "p.json"
    path.write_text(
        '[\n  {"id": "custom/test/0", "bbox": [0, 0, 50, 25]},\n'
        '  {"id": "custom/test/1", "bbox": [0, 0, 1, NaN]}\n]\n'
    )
    with pytest.raises(PredictionsError, match=r"p\.json, line 3: bbox must be"):
        predictions.score_file(path, records)
    path.write_text('[\n  {"id": "custom/test/0", "bbox": [0, 0, 50, 25]}\n  {"id": 1}\n]\n')
    with pytest.raises(
        PredictionsError, match=r"p\.json, line 3: not a valid JSON list \(expected ',' or '\]'\)"
    ):
        predictions.score_file(path, records, on_error="skip")  # fatal in both modes


def test_unusable_files_are_errors_in_both_modes(tmp_path):
    records = _records(tmp_path)
    for body, message in [
        (b"", "no predictions"),
        (b"\n  \n", "no predictions"),
        (b'{"id": "custom/test/0", "bbox": [0, 0, 1, 1]}\n\xff\n', r"p\.jsonl, line 2: not UTF-8"),
    ]:
        path = tmp_path / "p.jsonl"
        path.write_bytes(body)
        with pytest.raises(PredictionsError, match=message):
            predictions.score_file(path, records, on_error="skip")
    with pytest.raises(PredictionsError, match="cannot read the predictions file"):
        predictions.read_predictions(tmp_path / "absent.jsonl")


def test_skip_bad_counts_every_skipped_line(tmp_path):
    records = _records(tmp_path)
    path = tmp_path / "preds.jsonl"
    lines = [
        json.dumps(GOOD),  # sample 0: IoU 1
        '{"id": "custom/test/1", "bbox": [0, 0, 1',  # broken JSON → sample 1 missing
        '{"id": "custom/test/2", "bbox": [0, 0, NaN, 1]}',  # NaN → sample 2 missing
        '{"id": "custom/test/99", "bbox": [0, 0, 1, 1]}',  # unknown id
        '{"id": "custom/test/0", "bbox": [0, 0, 1, 1]}',  # duplicate: the first line stays
        '{"image": "c.png", "expression": "the small pool", "bbox": [75, 0, 100, 25]}',
    ]
    path.write_text("\n".join(lines) + "\n")
    with pytest.warns(UserWarning, match=r"4 prediction line\(s\) skipped: .*line 2: not valid"):
        result = predictions.score_file(path, records, on_error="skip")
    # samples 0 and 5 hit (IoU 1), samples 1–4 missing: Pr = 2/6; parse rate 2/2;
    # cumIoU = (1250 + 625) / (1250 + 1250 + 2500 + 625 + 5000 + 625) = 1875 / 11250 = 1/6
    assert (result["skipped"], result["missing"], result["n"]) == (4, 4, 6)
    assert result["pr@0.9"] == pytest.approx(2 / 6)
    assert result["cum_iou"] == pytest.approx(1 / 6)
    assert result["parse_rate"] == 1.0


def test_tables_show_every_number():
    result = {**EXPECTED, "skipped": 2, "preset": "dior_rsvg", "coords": "norm1000"}
    table = predictions.format_table(result)
    lines = table.splitlines()
    assert lines[0].startswith("preset dior_rsvg, coords norm1000")
    assert lines[1].split() == [
        "Pr@0.5",
        "Pr@0.6",
        "Pr@0.7",
        "Pr@0.8",
        "Pr@0.9",
        "meanIoU",
        "cumIoU",
        "parse",
        "rate",
        "n",
        "missing",
        "skipped",
    ]
    assert lines[2].split() == [
        "0.5000",
        "0.5000",
        "0.5000",
        "0.3333",
        "0.1667",
        "0.4375",
        "0.3684",
        "0.8000",
        "6",
        "1",
        "2",
    ]
    md = predictions.markdown_table({**result, "cum_iou": math.nan})
    assert "| Pr@0.5 | Pr@0.6 |" in md
    assert "| 0.5000 | 0.5000 | 0.5000 | 0.3333 | 0.1667 | 0.4375 | — | 0.8000 | 6 | 1 | 2 |" in md


# ----------------------------------------------------------------------------- the CLI


def _cli(tmp_path, preds, *extra):
    root = _write_benchmark(tmp_path / "bench")
    return main(
        [
            "eval",
            str(preds),
            "--benchmark",
            "records",
            "--data-root",
            str(root),
            "--split",
            "test",
            "--dataset",
            "custom",
            "--image-size",
            str(W),
            str(H),
            *extra,
        ]
    )


def test_cli_eval_prints_and_writes_the_metrics(tmp_path, capsys):
    preds = _jsonl(tmp_path / "preds.jsonl", _items("norm100"))
    out_json, out_md = tmp_path / "m.json", tmp_path / "m.md"
    code = _cli(
        tmp_path, preds, "--coords", "norm100", "--json", str(out_json), "--markdown", str(out_md)
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "0.4375" in captured.out and "meanIoU" in captured.out
    body = json.loads(out_json.read_text())
    assert list(body) == [
        "pr@0.5",
        "pr@0.6",
        "pr@0.7",
        "pr@0.8",
        "pr@0.9",
        "mean_iou",
        "cum_iou",
        "parse_rate",
        "n",
        "missing",
        "outside_frame",
        "preset",
        "coords",
    ]
    assert body["cum_iou"] == pytest.approx(7 / 19)
    assert (body["n"], body["missing"], body["preset"], body["coords"]) == (
        6,
        1,
        "dior_rsvg",
        "norm100",
    )
    assert "| 0.5000 |" in out_md.read_text()
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_cli_eval_bad_file_is_one_error_line_and_status_2(tmp_path, capsys):
    preds = tmp_path / "preds.jsonl"
    preds.write_text(json.dumps(GOOD) + "\n{broken\n")
    assert _cli(tmp_path, preds) == 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    assert captured.err.startswith("rsground eval: error: ")
    assert "preds.jsonl, line 2: not valid JSON" in captured.err
    assert len(captured.err.strip().splitlines()) == 1

    out_json = tmp_path / "m.json"
    assert _cli(tmp_path, preds, "--skip-bad", "--json", str(out_json)) == 0
    captured = capsys.readouterr()
    assert captured.err.startswith("rsground eval: warning: 1 prediction line(s) skipped")
    body = json.loads(out_json.read_text())
    assert (body["skipped"], body["missing"]) == (1, 5)
    assert list(body)[-1] == "skipped"


def test_real_dior_rsvg_ground_truth_scores_perfectly(real_data, tmp_path):
    """The shared DIOR-RSVG test records, their own boxes given back by image + expression
    (no pair repeats in that split): every sample a hit."""
    records = load_benchmark(
        "records", real_data / "dior_rsvg/records", "test", dataset="dior_rsvg"
    )
    items = [
        {"image": image.rsplit("/", 1)[-1], "expression": expr, "bbox": box}
        for image, expr, box in zip(
            records["image"], records["expression"], records["bbox"], strict=True
        )
    ]
    result = predictions.score_file(_jsonl(tmp_path / "gt.jsonl", items), records)
    assert (result["pr@0.9"], result["cum_iou"], result["parse_rate"]) == (1.0, 1.0, 1.0)
    assert (result["n"], result["missing"], result["preset"]) == (7422, 0, "dior_rsvg")


def test_pixel_boxes_declared_norm100_are_counted_outside_the_frame_with_a_warning(tmp_path):
    """The classic convention mistake: the boxes are pixels, ``coords`` says norm100. Every
    metric drops, and the count of boxes outside the frame says why (in the JSON too)."""
    root = tmp_path / "big"
    root.mkdir()
    rows = [{"image": i, "expression": e, "bbox": [8 * v for v in b]} for i, e, b in ROWS]
    (root / "test.json").write_text(json.dumps(rows))  # 800 x 800 images, pixel boxes
    records = load_benchmark("records", root, "test", dataset="custom", image_size=(800, 800))
    path = tmp_path / "preds.jsonl"
    lines = [{"id": f"custom/test/{i}", "bbox": r["bbox"]} for i, r in enumerate(rows)]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert predictions.score_file(path, records)["outside_frame"] == 0
    with pytest.warns(
        UserWarning, match=r"^6 of 6 boxes lie outside the norm100 frame: is --coords right\?"
    ):
        result = predictions.score_file(path, records, coords="norm100")
    assert result["outside_frame"] == 6
    assert predictions.result_json(result)["outside_frame"] == 6
