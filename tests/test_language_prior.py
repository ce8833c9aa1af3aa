from __future__ import annotations

import numpy as np
import pytest

from rsground_lib import language_prior as lp
from rsground_lib.language_prior import PriorFeatures


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("A vehicle on the lower left", PriorFeatures("vehicle", "bottom", "left", None)),
        ("The golf field in the middle", PriorFeatures("golf field", "middle", "center", None)),
        ("A tiny vehicle on the upper left", PriorFeatures("vehicle", "top", "left", "small")),
        ("A large ground track field", PriorFeatures("ground track field", None, None, "large")),
        # the subject is the first class named; the anchor's position words are ignored
        (
            "The airplane is on the left of the vehicle on the lower right",
            PriorFeatures("airplane", None, None, None),
        ),
        (
            "A vehicle is above the large green ground track field in the middle",
            PriorFeatures("vehicle", None, None, None),
        ),
        (
            "The vehicle positioned on the middle right side within the image.",
            PriorFeatures("vehicle", "middle", "right", None),
        ),
        ("The oil tanks at the top", PriorFeatures("storage tank", "top", None, None)),
        ("something unnamed", PriorFeatures(None, None, None, None)),
    ],
)
def test_expression_features(expression, expected):
    assert lp.expression_features(expression) == expected


def _toy():
    # four "vehicle on the left" boxes near x 0.1, four "vehicle on the right" near x 0.9,
    # all 10x10 px in 100x100 images
    exprs = ["a vehicle on the left"] * 4 + ["a vehicle on the right"] * 4
    xs = [5, 6, 7, 8, 85, 86, 87, 88]
    boxes = np.array([[x, 40, x + 10, 50] for x in xs], dtype=float)
    return exprs, boxes, np.full((8, 2), 100.0)


def test_position_words_move_the_predicted_centre():
    exprs, boxes, sizes = _toy()
    prior = lp.fit(exprs, boxes, sizes, min_count=2)
    pred = lp.predict(
        prior, ["the vehicle on the left", "the vehicle on the right"], np.full((2, 2), 100.0)
    )
    # centres: left 10, 11, 12, 13 -> median 11.5; right 90..93 -> 91.5; y 45; size 10
    assert pred == pytest.approx(np.array([[6.5, 40.0, 16.5, 50.0], [86.5, 40.0, 96.5, 50.0]]))
    blind = lp.fit(exprs, boxes, sizes, use=(), min_count=2)
    # without words: median centre x of all eight = (13 + 90) / 2 = 51.5
    assert lp.predict(blind, ["the vehicle on the left"], [[100.0, 100.0]])[0] == pytest.approx(
        [46.5, 40.0, 56.5, 50.0]
    )


def test_backs_off_when_a_key_has_too_few_examples():
    exprs, boxes, sizes = _toy()
    prior = lp.fit(exprs, boxes, sizes, min_count=5)  # 4 per side: too few, back off to class
    pred = lp.predict(prior, ["the vehicle on the left"], [[100.0, 100.0]])
    assert pred[0] == pytest.approx([46.5, 40.0, 56.5, 50.0])


def test_bad_input_is_an_error():
    exprs, boxes, sizes = _toy()
    with pytest.raises(ValueError, match="unknown feature"):
        lp.fit(exprs, boxes, sizes, use=("colour",))
    with pytest.raises(ValueError, match=r"image_sizes \(N, 2\)"):
        lp.fit(exprs, boxes, sizes[:3])
    with pytest.raises(ValueError, match="expressions"):
        lp.fit(exprs[:5], boxes, sizes)


def test_real_dior_rsvg_position_words_beat_class_words(real_data):
    from rsground_lib import metrics
    from rsground_lib.data.benchmarks import load_benchmark

    root = real_data / "dior_rsvg" / "records"
    train = load_benchmark("records", root, "train", dataset="dior_rsvg")
    test = load_benchmark("records", root, "test", dataset="dior_rsvg")
    s_tr = np.stack([train["width"], train["height"]], axis=1)
    s_te = np.stack([test["width"], test["height"]], axis=1)
    scores = {}
    for name, use in {"blind": (), "class": ("category",), "all": lp.FEATURES}.items():
        prior = lp.fit(train["expression"], train["bbox"], s_tr, use=use)
        pred = lp.predict(prior, test["expression"], s_te)
        scores[name] = metrics.grounding_metrics(pred, np.asarray(test["bbox"]), preset="dior_rsvg")
    assert scores["blind"]["mean_iou"] < scores["class"]["mean_iou"] < scores["all"]["mean_iou"]
    assert scores["all"]["pr@0.5"] > scores["class"]["pr@0.5"] + 0.02


def test_ablation_labels_in_table_order():
    assert list(lp.ABLATIONS) == [
        "no words (global median box)",
        "class words",
        "class + size words",
        "class + position words",
        "class + position + size words",
    ]
    assert lp.ABLATIONS["class + position + size words"] == ("category", "position", "size")


def test_ablation_fits_on_train_and_scores_on_test():
    exprs, boxes, _ = _toy()
    train = {"expression": exprs, "bbox": boxes.tolist(), "width": [100] * 8, "height": [100] * 8}
    # the left prediction is [6.5, 40, 16.5, 50] (see above): against [11.5, 40, 21.5, 50] it
    # overlaps 5 x 10 = 50 px of a 150-px union, IoU 1/3; the right one hits exactly, IoU 1
    test = {
        "expression": ["the vehicle on the left", "the vehicle on the right"],
        "bbox": [[11.5, 40.0, 21.5, 50.0], [86.5, 40.0, 96.5, 50.0]],
        "width": [100, 100],
        "height": [100, 100],
    }
    ablations = {"blind": (), "position": ("category", "position")}
    rows = lp.ablation(train, test, min_count=2, ablations=ablations)
    assert list(rows) == ["blind", "position"]
    # position words: IoUs 1/3 and 1; cumIoU = (50 + 100) / (150 + 100)
    assert rows["position"]["mean_iou"] == pytest.approx(2 / 3)
    assert rows["position"]["pr@0.5"] == 0.5 and rows["position"]["pr@0.9"] == 0.5
    assert rows["position"]["cum_iou"] == pytest.approx(0.6)
    # no words: both predictions are [46.5, 40, 56.5, 50], missing both targets
    assert rows["blind"]["mean_iou"] == 0.0 and rows["blind"]["pr@0.5"] == 0.0
    assert rows["blind"]["n"] == 2
