"""Referring sentences from labelled boxes (:mod:`rsground_lib.data.box_sentences`): the box
reader on tiny hand-made VOC / CSV files (written to tmp_path) and on the real OSBS_029 files
under RSGROUND_DATA, and the sentence rules on hand-made boxes whose answers were worked out
by hand (the arithmetic is in the comments)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from rsground_lib.data.box_sentences import box_sentences, read_boxes, read_image_size
from rsground_lib.evaluation import score_grounding


def picks(records):
    """``(expression, target_index)`` of each record, in order."""
    return [(r["expression"], r["target_index"]) for r in records]


def box(x1, y1, x2, y2, category="Tree"):
    return {"category": category, "bbox": [float(x1), float(y1), float(x2), float(y2)]}


# --------------------------------------------------------------------------------------------
# Sentence rules on hand-made boxes


def test_three_boxes_by_hand():
    # 100×100 image. Centres: A (15, 15), B (50, 50), C (80, 85); areas 100, 400, 400.
    # Mean side (10 + 20 + 20) / 3 = 16.67, so extremes and corners need a gap of 2.5 px.
    objs = [box(10, 10, 20, 20), box(40, 40, 60, 60), box(70, 75, 90, 95)]
    out = box_sentences(objs, 100, 100)
    assert picks(out) == [
        ("the leftmost tree", 0),  # x 15 vs 50: gap 35
        ("the rightmost tree", 2),  # x 80 vs 50
        ("the topmost tree", 0),  # y 15 vs 50
        ("the bottommost tree", 2),  # y 85 vs 50
        # largest: B and C tie at 400 -> dropped
        ("the smallest tree", 0),  # 400 / 100 = 4 >= 1.3
        ("the tree in the upper left corner", 0),  # 21.2 px from (0, 0); B is 70.7
        # upper right: nearest (100, 0) is B (70.7; A 86.3, C 87.3), centre not right of
        # x = 50 -> dropped; lower left: nearest (0, 100) is B again (70.7; C 81.4) -> dropped
        ("the tree in the lower right corner", 2),  # 25 px from (100, 100); B is 70.7
    ]
    assert [r["rule"] for r in out] == ["extreme"] * 4 + ["size", "corner", "corner"]
    assert [r["cues"] for r in out] == [["extreme"]] * 5 + [["absolute"]] * 2


def test_horizontal_tie_gives_no_leftmost_or_rightmost():
    # Centres (20, 20) and (20, 70): same x, so neither is left of the other; equal areas.
    objs = [box(10, 10, 30, 30), box(10, 60, 30, 80)]
    assert picks(box_sentences(objs, 100, 100)) == [
        ("the topmost tree", 0),
        ("the bottommost tree", 1),
        ("the tree in the upper left corner", 0),  # 28.3 px vs 72.8
        # upper right: nearest is box 0, on the left half -> dropped
        ("the tree in the lower left corner", 1),  # 36.1 px vs 82.5
        # lower right: nearest is box 1, on the left half -> dropped
    ]


def test_extreme_margin_is_inclusive_and_ties_never_pass():
    # Boxes 8×8, mean side 8; margin 0.25 -> the first must lead the second by >= 2 px.
    # Corners and sizes stay out: equal areas, and both centres in the left half of a 100-wide
    # image far apart vertically (the corner sentences are checked elsewhere).
    kept = [box(0, 0, 8, 8), box(2, 40, 10, 48)]  # centres x 4 and 6: gap exactly 2
    dropped = [box(0, 0, 8, 8), box(1.5, 40, 9.5, 48)]  # gap 1.5
    extremes = {"the leftmost tree", "the rightmost tree"}
    assert extremes <= {r["expression"] for r in box_sentences(kept, 100, 100, margin=0.25)}
    assert not extremes & {r["expression"] for r in box_sentences(dropped, 100, 100, margin=0.25)}
    # margin 0 still refuses an exact tie
    tie = [box(0, 0, 8, 8), box(0, 40, 8, 48)]
    assert not extremes & {r["expression"] for r in box_sentences(tie, 100, 100, margin=0)}


def test_size_ratio_is_one_plus_twice_the_margin():
    # margin 0.25 -> ratio 1.5. Areas 100 (10×10) and 150 (10×15): ratio 1.5, kept both ways;
    # 100 and 149 (10×14.9): ratio 1.49, dropped both ways.
    def sizes(objs):
        out = box_sentences(objs, 200, 200, margin=0.25)
        return [(r["expression"], r["target_index"]) for r in out if r["rule"] == "size"]

    assert sizes([box(10, 10, 20, 20), box(100, 100, 110, 115)]) == [
        ("the largest tree", 1),
        ("the smallest tree", 0),
    ]
    assert sizes([box(10, 10, 20, 20), box(100, 100, 110, 114.9)]) == []
    # the default margin 0.15 -> 1.3: 130 / 100 is kept, 129 / 100 is not
    default = box_sentences([box(0, 0, 10, 10), box(50, 50, 60, 63)], 100, 100)
    assert ("the largest tree", 1) in picks(default)
    default = box_sentences([box(0, 0, 10, 10), box(50, 50, 60, 62.9)], 100, 100)
    assert not any(r["rule"] == "size" for r in default)


def test_corner_needs_the_second_nearest_clearly_farther():
    # Two 10×10 boxes near (0, 0) of a 100×100 image; mean side 10, margin 0.15 -> 1.5 px.
    # Centres (10, 10) and (11.5, 10): distances 14.142 and 15.207, gap 1.065 < 1.5 -> dropped.
    close = [box(5, 5, 15, 15), box(6.5, 5, 16.5, 15)]
    assert "the tree in the upper left corner" not in {
        r["expression"] for r in box_sentences(close, 100, 100)
    }
    # Centres (10, 10) and (13, 10): distances 14.142 and 16.401, gap 2.26 >= 1.5 -> kept.
    apart = [box(5, 5, 15, 15), box(8, 5, 18, 15)]
    assert ("the tree in the upper left corner", 0) in picks(box_sentences(apart, 100, 100))
    assert math.dist((13, 10), (0, 0)) - math.dist((10, 10), (0, 0)) > 1.5


def test_record_shape_for_scoring():
    objs = [box(10, 10, 20, 20), box(40, 40, 60, 60), box(70, 75, 90, 95)]
    out = box_sentences(objs, 100, 100)
    first = out[0]
    assert set(first) == {
        "expression",
        "bbox",
        "category",
        "target_index",
        "objects",
        "width",
        "height",
        "n_objects",
        "n_same",
        "cues",
        "rule",
    }
    assert first["bbox"] == [10.0, 10.0, 20.0, 20.0]
    assert (first["category"], first["width"], first["height"]) == ("Tree", 100, 100)
    assert (first["n_same"], first["n_objects"]) == (3, 3)
    assert first["objects"] == objs and first["objects"] is not objs
    objs[0]["bbox"][0] = 99.0  # the records hold copies
    assert out[0]["bbox"][0] == 10.0 and out[0]["objects"][0]["bbox"][0] == 10.0
    # the project's scorer takes the records as they are: the targets themselves score 1
    scores = score_grounding(out, [r["bbox"] for r in out])
    assert scores["pick_acc"] == 1.0 and scores["centre_pick_acc"] == 1.0
    assert scores["chance_pick"] == pytest.approx(1 / 3)


def test_one_object_zero_objects_and_the_noun():
    (only,) = box_sentences([box(1, 2, 3, 4)], 10, 10)
    assert (only["expression"], only["target_index"], only["cues"], only["rule"]) == (
        "the tree",
        0,
        ["none"],
        "none",
    )
    with pytest.raises(ValueError, match="no objects"):
        box_sentences([], 10, 10)
    mixed = [box(0, 0, 10, 10, "Tree"), box(50, 50, 60, 60, "Snag")]
    with pytest.raises(ValueError, match="2 categories.*noun="):
        box_sentences(mixed, 100, 100)
    out = box_sentences(mixed, 100, 100, noun="  dead   or living tree ")
    assert out[0]["expression"] == "the leftmost dead or living tree"
    assert out[0]["category"] == "dead or living tree" and out[0]["n_same"] == 2
    assert box_sentences([box(0, 0, 5, 5)], 10, 10, noun="crown")[0]["expression"] == "the crown"


@pytest.mark.parametrize(
    ("width", "height", "margin", "message"),
    [
        (0, 10, 0.15, "width and height must be positive"),
        (10, -1, 0.15, "width and height must be positive"),
        (float("nan"), 10, 0.15, "width and height must be positive"),
        (10, 10, -0.1, "margin must be a finite number >= 0"),
        (10, 10, float("inf"), "margin must be a finite number >= 0"),
    ],
)
def test_bad_size_or_margin(width, height, margin, message):
    with pytest.raises(ValueError, match=message):
        box_sentences([box(0, 0, 1, 1)], width, height, margin=margin)


def test_bad_objects_are_named():
    with pytest.raises(ValueError, match=r"objects\[1\]: expected xmax > xmin"):
        box_sentences([box(0, 0, 1, 1), box(5, 0, 5, 1)], 10, 10)
    with pytest.raises(ValueError, match=r"objects\[0\]: bbox must be 4 finite numbers"):
        box_sentences([{"category": "Tree", "bbox": [0, 0, 1]}], 10, 10)
    with pytest.raises(ValueError, match=r"objects\[0\]: category must be a non-empty string"):
        box_sentences([{"category": "", "bbox": [0, 0, 1, 1]}], 10, 10)


# --------------------------------------------------------------------------------------------
# The reader on hand-made files


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def voc(objects: str, size: str = "<size><width>50</width><height>40</height></size>") -> str:
    return f"<annotation><filename>a.tif</filename>{size}{objects}</annotation>"


def voc_object(name, x1, y1, x2, y2) -> str:
    return (
        f"<object><name>{name}</name><bndbox><xmin>{x1}</xmin><ymin>{y1}</ymin>"
        f"<xmax>{x2}</xmax><ymax>{y2}</ymax></bndbox></object>"
    )


HEADER = "image_path,xmin,ymin,xmax,ymax,label\n"


def test_csv_and_xml_readers(tmp_path):
    csv_path = write(tmp_path, "a.csv", HEADER + "a.tif,1,2,3,4,Tree\na.tif,5.5,6,7,8,Snag\n\n")
    # children in an unusual order: read by tag, not position
    shuffled = (
        "<object><bndbox><ymax>8</ymax><xmax>7</xmax><xmin>5.5</xmin><ymin>6</ymin></bndbox>"
        "<pose>Unspecified</pose><name>Snag</name></object>"
    )
    xml_path = write(tmp_path, "a.xml", voc(voc_object("Tree", 1, 2, 3, 4) + shuffled))
    expected = [
        {"category": "Tree", "bbox": [1.0, 2.0, 3.0, 4.0]},
        {"category": "Snag", "bbox": [5.5, 6.0, 7.0, 8.0]},
    ]
    assert read_boxes(csv_path) == expected
    assert read_boxes(str(xml_path)) == expected
    assert read_boxes(xml_path, image="a.tif") == expected
    assert read_image_size(xml_path) == (50, 40)


def test_csv_bad_number_names_the_line(tmp_path):
    path = write(tmp_path, "bad.csv", HEADER + "a.tif,1,2,3,4,Tree\na.tif,1,two,3,4,Tree\n")
    with pytest.raises(ValueError, match="line 3") as err:
        read_boxes(path)
    assert str(path) in str(err.value) and "ymin must be a number" in str(err.value)
    # blank lines count: the bad row is on line 4
    path = write(tmp_path, "blank.csv", HEADER + "\na.tif,1,2,3,4,Tree\na.tif,1,2,3,x,Tree\n")
    with pytest.raises(ValueError, match=r"blank\.csv line 4: ymax must be a number"):
        read_boxes(path)


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ("a.tif,1,2,nan,4,Tree\n", r"line 2: xmax must be finite"),
        ("a.tif,1,2,inf,4,Tree\n", r"line 2: xmax must be finite"),
        ("a.tif,3,2,3,4,Tree\n", r"line 2: expected xmax > xmin and ymax > ymin"),
        ("a.tif,1,5,3,4,Tree\n", r"line 2: expected xmax > xmin and ymax > ymin"),
        ("a.tif,1,2,3,4, \n", r"line 2: empty label"),
        ("a.tif,1,2,3,4\n", r"line 2: 5 fields, expected 6"),
        ("", r"a header but no rows"),
    ],
)
def test_csv_bad_rows(tmp_path, rows, message):
    path = write(tmp_path, "b.csv", HEADER + rows)
    with pytest.raises(ValueError, match=message):
        read_boxes(path)


def test_csv_file_level_errors(tmp_path):
    with pytest.raises(ValueError, match="empty file"):
        read_boxes(write(tmp_path, "empty.csv", ""))
    with pytest.raises(ValueError, match="line 1: header .* lacks column.*label"):
        read_boxes(write(tmp_path, "nolabel.csv", "image_path,xmin,ymin,xmax,ymax\na,1,2,3,4\n"))


def test_csv_with_two_images_needs_image(tmp_path):
    path = write(
        tmp_path,
        "two.csv",
        HEADER + "a.tif,1,2,3,4,Tree\nb.tif,5,6,7,8,Tree\na.tif,9,9,10,10,Tree\n",
    )
    with pytest.raises(ValueError, match=r"2 image\(s\): 'a.tif', 'b.tif'; pass image="):
        read_boxes(path)
    assert [b["bbox"] for b in read_boxes(path, image="a.tif")] == [
        [1.0, 2.0, 3.0, 4.0],
        [9.0, 9.0, 10.0, 10.0],
    ]
    assert read_boxes(path, image="b.tif") == [{"category": "Tree", "bbox": [5.0, 6.0, 7.0, 8.0]}]
    with pytest.raises(ValueError, match="no rows with image_path 'c.tif'"):
        read_boxes(path, image="c.tif")


def test_xml_errors_name_the_object(tmp_path):
    good = voc_object("Tree", 1, 2, 3, 4)
    path = write(tmp_path, "inv.xml", voc(good + voc_object("Tree", 5, 2, 5, 4)))
    with pytest.raises(ValueError, match=r"inv\.xml object 1: expected xmax > xmin") as err:
        read_boxes(path)
    assert str(path) in str(err.value)
    no_ymax = "<object><name>Tree</name><bndbox><xmin>1</xmin><ymin>2</ymin><xmax>3</xmax></bndbox></object>"
    with pytest.raises(ValueError, match=r"object 0: missing or empty <bndbox><ymax>"):
        read_boxes(write(tmp_path, "noy.xml", voc(no_ymax)))
    with pytest.raises(ValueError, match=r"object 1: <xmin> must be a number"):
        read_boxes(write(tmp_path, "num.xml", voc(good + voc_object("Tree", "a", 2, 3, 4))))
    with pytest.raises(ValueError, match=r"object 0: missing or empty <name>"):
        read_boxes(write(tmp_path, "noname.xml", voc(voc_object("", 1, 2, 3, 4))))
    with pytest.raises(ValueError, match="no <object> elements"):
        read_boxes(write(tmp_path, "none.xml", voc("")))
    with pytest.raises(ValueError, match="empty file"):
        read_boxes(write(tmp_path, "empty.xml", ""))
    with pytest.raises(ValueError, match="<filename> is 'a.tif'"):
        read_boxes(write(tmp_path, "ok.xml", voc(good)), image="b.tif")


def test_image_size_errors(tmp_path):
    with pytest.raises(ValueError, match="no <size> tag"):
        read_image_size(write(tmp_path, "nosize.xml", voc(voc_object("T", 1, 2, 3, 4), size="")))
    bad = "<size><width>0</width><height>40</height></size>"
    with pytest.raises(ValueError, match="<size><width> must be a positive whole number"):
        read_image_size(write(tmp_path, "zero.xml", voc("", size=bad)))
    missing = "<size><width>50</width></size>"
    with pytest.raises(ValueError, match="<size> has no <height>"):
        read_image_size(write(tmp_path, "noh.xml", voc("", size=missing)))


def test_unknown_suffix(tmp_path):
    path = write(tmp_path, "boxes.json", "[]")
    with pytest.raises(ValueError, match=r"unknown box file suffix '\.json'.*\.xml, \.csv") as err:
        read_boxes(path)
    assert str(path) in str(err.value)


# --------------------------------------------------------------------------------------------
# Real files (RSGROUND_DATA): DeepForest's OSBS_029, 400×400, 61 trees


def test_real_osbs_029_boxes(real_data: Path) -> None:
    folder = real_data / "aerial_boxes"
    from_csv = read_boxes(folder / "OSBS_029.csv")
    from_xml = read_boxes(folder / "OSBS_029.xml")
    assert from_csv == from_xml
    assert len(from_csv) == 61
    assert from_csv[0] == {"category": "Tree", "bbox": [203.0, 67.0, 227.0, 90.0]}
    assert {b["category"] for b in from_csv} == {"Tree"}
    assert read_image_size(folder / "OSBS_029.xml") == (400, 400)
    assert read_boxes(folder / "OSBS_029.csv", image="OSBS_029.tif") == from_csv


def test_real_osbs_029_sentences(real_data: Path) -> None:
    objs = read_boxes(real_data / "aerial_boxes" / "OSBS_029.xml")
    out = box_sentences(objs, 400, 400)
    # Mean side 37.24 px -> extremes and corners need 5.59 px. The crowns are dense at the
    # edges: leftmost centres x 16 / 20 (gap 4), topmost y 14.5 / 19 and bottommost 388.5 / 384
    # (4.5) are dropped, rightmost 391 / 384 (7) is kept. Smallest areas 340 / 456 (1.34 >=
    # 1.3) kept, largest 3410 / 3328 (1.02) dropped. Every corner has a crown near it and the
    # next one 23-39 px farther.
    assert picks(out) == [
        ("the rightmost tree", 31),
        ("the smallest tree", 58),
        ("the tree in the upper left corner", 25),
        ("the tree in the upper right corner", 3),
        ("the tree in the lower left corner", 53),
        ("the tree in the lower right corner", 24),
    ]
    assert [r["bbox"] for r in out] == [
        [382.0, 260.0, 400.0, 305.0],
        [236.0, 132.0, 253.0, 152.0],
        [1.0, 13.0, 39.0, 62.0],
        [365.0, 2.0, 400.0, 27.0],
        [19.0, 368.0, 52.0, 400.0],
        [333.0, 336.0, 374.0, 384.0],
    ]
    assert all(r["n_same"] == 61 and r["category"] == "Tree" for r in out)
