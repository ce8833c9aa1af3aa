"""Benchmark readers: tiny hand-made fixtures in each official format (written to tmp_path;
no DIOR-derived file is copied into the repository) and the real files under RSGROUND_DATA."""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import datasets
import numpy as np
import pytest

from rsground_lib.data.benchmarks import (
    BENCHMARKS,
    READERS,
    LoadReport,
    RealData,
    load_available,
    load_benchmark,
)
from rsground_lib.data.readers import common, reader_options
from rsground_lib.data.readers.dior_rsvg import parse_voc_objects, parse_xml, read_split_indices
from rsground_lib.data.readers.rsvg_hr import parse_rsvg_hr_line
from rsground_lib.data.readers.vrsbench import parse_vrsbench_box
from rsground_lib.data.schema import REQUIRED_COLUMNS, RecordError

# --------------------------------------------------------------------------------------------
# VOC fixtures (DIOR-RSVG / OPT-RSVG layout)


def voc_object(name, box, description, *, order="standard") -> str:
    xmin, ymin, xmax, ymax = box
    bnd = f"<xmin>{xmin}</xmin><ymin>{ymin}</ymin><xmax>{xmax}</xmax><ymax>{ymax}</ymax>"
    if order == "shuffled":  # children (and bndbox children) in an unusual order
        bnd = f"<ymax>{ymax}</ymax><xmax>{xmax}</xmax><xmin>{xmin}</xmin><ymin>{ymin}</ymin>"
        desc = f"<description>{description}</description>" if description is not None else ""
        return f"<object>{desc}<bndbox>{bnd}</bndbox><pose>Unspecified</pose><name>{name}</name></object>"
    desc = f"<description>{description}</description>" if description is not None else ""
    return (
        f"<object><name>{name}</name><pose>Unspecified</pose><bndbox>{bnd}</bndbox>{desc}</object>"
    )


def voc_file(filename, objects, size=(800, 800)) -> str:
    size_xml = (
        ""
        if size is None
        else f"<size><width>{size[0]}</width><height>{size[1]}</height><depth>3</depth></size>"
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<annotation>'
        f"<filename>{filename}</filename><source><database>toy</database></source>"
        f"{size_xml}<segmented>0</segmented>{''.join(objects)}</annotation>"
    )


@pytest.fixture
def dior_root(tmp_path: Path) -> Path:
    """Three annotation files (5 objects) written in shuffled order, and a split of them."""
    root = tmp_path / "dior"
    ann = root / "Annotations"
    ann.mkdir(parents=True)
    files = {
        # written first, sorts last: global indices 3, 4
        "00003.xml": voc_file(
            "00003.jpg",
            [
                voc_object("ship", (1, 1, 800, 800), "The largest ship"),
                voc_object(
                    "vehicle", (400, 400, 420, 430), "A small vehicle on the right of the ship"
                ),
            ],
        ),
        # children in unusual order, no <size>: global index 0, 1
        "00001.xml": voc_file(
            "00001.jpg",
            [
                voc_object(
                    "golffield",
                    (133, 237, 684, 672),
                    "A green and brown golf field",
                    order="shuffled",
                ),
                voc_object("dam", (10, 20, 30, 40), "The dam on the upper left"),
            ],
            size=None,
        ),
        # global index 2
        "00002.xml": voc_file(
            "00002.jpg", [voc_object("bridge", (5, 6, 7, 8), "the second bridge from the top")]
        ),
    }
    for name, text in files.items():
        (ann / name).write_text(text)
    (root / "train.txt").write_text("3\n0\n4\n")
    (root / "val.txt").write_text("2\n")
    (root / "test.txt").write_text("1\n\n")
    return root


def test_voc_sorting_and_global_index(dior_root: Path) -> None:
    train = load_benchmark("dior_rsvg", dior_root, "train")
    assert train["id"] == ["dior_rsvg/train/0", "dior_rsvg/train/3", "dior_rsvg/train/4"]
    assert train["category"] == ["golffield", "ship", "vehicle"]
    golf = train[0]
    assert golf["bbox"] == [133.0, 237.0, 684.0, 672.0]  # 1-based integers kept unchanged
    assert (golf["width"], golf["height"]) == (800, 800)  # no <size>: the DIOR default
    assert golf["expression"] == "A green and brown golf field"
    assert golf["cues"] == ["color"]
    assert golf["image"] == os.path.abspath(dior_root / "JPEGImages" / "00001.jpg")
    assert golf["source"] == "Annotations/00001.xml#object0"
    assert train[2]["cues"] == ["relative", "size"]  # DIOR: "small vehicle" is a size cue
    assert load_benchmark("dior_rsvg", dior_root, "val")[0]["cues"] == ["ordinal"]
    assert load_benchmark("dior_rsvg", dior_root, "test")["expression"] == [
        "The dam on the upper left"
    ]
    assert list(train.features)[: len(REQUIRED_COLUMNS)] == list(REQUIRED_COLUMNS)


def test_voc_order_does_not_depend_on_listing_order(dior_root: Path, monkeypatch) -> None:
    expected = load_benchmark("dior_rsvg", dior_root, "train")["id"]
    original = Path.glob
    monkeypatch.setattr(
        Path, "glob", lambda self, pattern: sorted(original(self, pattern), reverse=True)
    )
    listing = [p.name for p in (dior_root / "Annotations").glob("*.xml")]
    assert listing == ["00003.xml", "00002.xml", "00001.xml"]
    assert load_benchmark("dior_rsvg", dior_root, "train")["id"] == expected


def test_voc_parse_by_tag(dior_root: Path) -> None:
    objects = parse_voc_objects(dior_root / "Annotations" / "00001.xml")
    assert [o.name for o in objects] == ["golffield", "dam"]
    assert (objects[0].xmin, objects[0].ymin, objects[0].xmax, objects[0].ymax) == (
        "133",
        "237",
        "684",
        "672",
    )
    assert objects[0].width is None and objects[0].filename == "00001.jpg"


def test_voc_missing_description(dior_root: Path) -> None:
    ann = dior_root / "Annotations"
    (ann / "00004.xml").write_text(
        voc_file(
            "00004.jpg",
            [voc_object("ship", (1, 2, 3, 4), None), voc_object("ship", (5, 6, 7, 8), "a ship")],
        )
    )
    (dior_root / "test.txt").write_text("5\n6\n")
    with pytest.raises(
        RecordError, match=r"00004\.xml object 0 \(global index 5.*missing <description>"
    ):
        load_benchmark("dior_rsvg", dior_root, "test")
    with pytest.warns(UserWarning, match="skipped 1"):
        ds, report = load_benchmark(
            "dior_rsvg", dior_root, "test", on_error="skip", return_report=True
        )
    assert ds["id"] == ["dior_rsvg/test/6"]  # the object without text still counts in the index
    assert report.skipped == {"missing": 1} and report.n_read == 2 and report.n_kept == 1
    assert "missing <description>" in report.examples[0]
    assert json.loads(ds.info.description)["load_report"]["n_skipped"] == 1


def test_voc_malformed_xml_is_fatal(dior_root: Path) -> None:
    (dior_root / "Annotations" / "00000.xml").write_text(
        "<annotation><object><name>ship</name></annotation"
    )
    for on_error in ("raise", "skip"):
        with pytest.raises(ValueError, match=r"00000\.xml: malformed XML"):
            load_benchmark("dior_rsvg", dior_root, "train", on_error=on_error)


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<annotation><filename>x.jpg</filename><object><name>&lol2;</name>
<bndbox><xmin>1</xmin><ymin>1</ymin><xmax>2</xmax><ymax>2</ymax></bndbox>
<description>a ship</description></object></annotation>"""

EXTERNAL_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE a [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<annotation><filename>&xxe;</filename></annotation>"""


@pytest.mark.parametrize("payload", [BILLION_LAUGHS, EXTERNAL_ENTITY], ids=["entities", "external"])
def test_hostile_xml_is_refused(tmp_path: Path, payload: str) -> None:
    path = tmp_path / "evil.xml"
    path.write_text(payload)
    with pytest.raises(ValueError, match=r"evil\.xml: refused XML"):
        parse_xml(path)


def test_hostile_xml_in_utf16_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "evil16.xml"
    path.write_bytes(
        BILLION_LAUGHS.replace('version="1.0"', 'version="1.0" encoding="UTF-16"').encode("utf-16")
    )
    with pytest.raises(ValueError, match=r"evil16\.xml: refused XML"):
        parse_xml(path)


def test_hostile_xml_in_a_benchmark_is_fatal(dior_root: Path) -> None:
    (dior_root / "Annotations" / "00005.xml").write_text(BILLION_LAUGHS)
    for on_error in ("raise", "skip"):
        with pytest.raises(ValueError, match="refused XML"):
            load_benchmark("dior_rsvg", dior_root, "train", on_error=on_error)


def test_parse_xml_reads_plain_xml(dior_root: Path) -> None:
    root = parse_xml(dior_root / "Annotations" / "00002.xml")
    assert root.find("object/name").text == "bridge"


def test_voc_box_outside_the_image(dior_root: Path) -> None:
    (dior_root / "Annotations" / "00004.xml").write_text(
        voc_file("00004.jpg", [voc_object("ship", (700, 10, 850, 40), "a ship")])
    )
    (dior_root / "test.txt").write_text("5\n")
    with pytest.raises(RecordError, match=r"00004\.xml object 0.*outside the 800x800 image"):
        load_benchmark("dior_rsvg", dior_root, "test")
    ds, report = load_benchmark("dior_rsvg", dior_root, "test", outside="keep", return_report=True)
    assert ds.num_rows == 1 and report.kept_flags == {"outside": 1}
    assert load_benchmark("dior_rsvg", dior_root, "test", tolerance_px=60).num_rows == 1
    with pytest.warns(UserWarning, match="outside"):
        assert load_benchmark("dior_rsvg", dior_root, "test", outside="skip").num_rows == 0


def test_voc_indices_beyond_annotations(dior_root: Path) -> None:
    (dior_root / "test.txt").write_text("1\n7\n9\n")
    with pytest.raises(
        ValueError, match=r"2 of 3 indices point beyond the 5 objects of the 3 sorted"
    ):
        load_benchmark("dior_rsvg", dior_root, "test")
    with pytest.warns(UserWarning, match="index_beyond_annotations"):
        ds, report = load_benchmark(
            "dior_rsvg", dior_root, "test", on_error="skip", return_report=True
        )
    assert ds["id"] == ["dior_rsvg/test/1"]
    assert report.skipped == {"index_beyond_annotations": 2}


def test_voc_duplicate_and_bad_split_lines(dior_root: Path) -> None:
    (dior_root / "test.txt").write_text("1\n1\n")
    with pytest.raises(ValueError, match="more than once"):
        load_benchmark("dior_rsvg", dior_root, "test")
    with pytest.warns(UserWarning, match="duplicate_index"):
        assert load_benchmark("dior_rsvg", dior_root, "test", on_error="skip").num_rows == 1
    (dior_root / "test.txt").write_text("1\nabc\n")
    with pytest.raises(ValueError, match=r"test\.txt line 2: expected one non-negative integer"):
        load_benchmark("dior_rsvg", dior_root, "test", on_error="skip")
    with pytest.raises(FileNotFoundError, match="split file"):
        load_benchmark("dior_rsvg", dior_root, "nosuchsplit")


def test_voc_bad_coordinate(dior_root: Path) -> None:
    (dior_root / "Annotations" / "00004.xml").write_text(
        voc_file("00004.jpg", [voc_object("ship", ("1", "two", 3, 4), "a ship")])
    )
    (dior_root / "test.txt").write_text("5\n")
    with pytest.raises(RecordError, match=r"<bndbox><ymin> must be a number, got 'two'"):
        load_benchmark("dior_rsvg", dior_root, "test")


def test_opt_rsvg_floats_sizes_and_zero_width(tmp_path: Path) -> None:
    root = tmp_path / "opt"
    (root / "Annotations").mkdir(parents=True)
    (root / "Annotations" / "b.xml").write_text(
        voc_file(
            "b.jpg",
            [
                voc_object(
                    "T junction", (0.0, 10.5, 8999.5, 20.25), "the T junction in the middle"
                ),
                voc_object("vehicle", (100.0, 10.0, 100.0, 30.0), "a vehicle next to the road"),
            ],
            size=(9000, 7000),
        )
    )
    (root / "Annotations" / "a.xml").write_text(
        voc_file("a.jpg", [voc_object("ship", (1.5, 2, 3, 4), "a ship")], size=None)
    )
    (root / "test.txt").write_text("1\n2\n")
    (root / "train.txt").write_text("0\n")
    ds, report = load_benchmark("opt_rsvg", root, "test", return_report=True)
    assert ds["bbox"] == [[0.0, 10.5, 8999.5, 20.25], [100.0, 10.0, 100.0, 30.0]]
    assert ds["width"] == [9000, 9000] and ds["height"] == [7000, 7000]
    assert ds["category"] == ["T junction", "vehicle"]
    assert report.kept_flags == {"degenerate": 1}
    with pytest.raises(RecordError, match="degenerate"):
        load_benchmark("opt_rsvg", root, "test", degenerate="error")
    with pytest.warns(UserWarning, match="degenerate"):
        _, report = load_benchmark("opt_rsvg", root, "test", degenerate="skip", return_report=True)
    assert report.skipped == {"degenerate": 1} and report.n_kept == 1
    # OPT-RSVG has no default size: a file without <size> is an error unless one is given
    with pytest.raises(RecordError, match=r"a\.xml object 0.*no image size"):
        load_benchmark("opt_rsvg", root, "train")
    assert (
        load_benchmark("opt_rsvg", root, "train", default_image_size=(1024, 768))[0]["width"]
        == 1024
    )


def test_check_images(dior_root: Path) -> None:
    # no image folder at all: annotations still read
    assert load_benchmark("dior_rsvg", dior_root, "train").num_rows == 3
    images = dior_root / "JPEGImages"
    images.mkdir()
    (images / "00001.jpg").write_bytes(b"not really a jpeg: never opened")
    with pytest.raises(FileNotFoundError, match=r"2 of 3 image files are missing.*00003\.jpg"):
        load_benchmark("dior_rsvg", dior_root, "train", check_images=True)
    with pytest.warns(UserWarning, match="missing_image"):
        ds, report = load_benchmark(
            "dior_rsvg", dior_root, "train", check_images=True, on_error="skip", return_report=True
        )
    assert ds["id"] == ["dior_rsvg/train/0"]
    assert report.skipped == {"missing_image": 2} and len(report.missing_images) == 2
    other = dior_root / "elsewhere"
    other.mkdir()
    for name in ("00001.jpg", "00003.jpg"):
        (other / name).write_bytes(b"x")
    assert (
        load_benchmark(
            "dior_rsvg", dior_root, "train", images_dir=other, check_images=True
        ).num_rows
        == 3
    )


def test_image_feature_option(dior_root: Path) -> None:
    ds = load_benchmark("dior_rsvg", dior_root, "train", image="image")
    assert isinstance(ds.features["image"], datasets.Image)


# --------------------------------------------------------------------------------------------
# VRSBench


def vrs_entry(i, image, question, box, unique=True, obj_cls="ship", kind="ref"):
    return {
        "image_id": image,
        "question": question,
        "ground_truth": box,
        "dataset": "RSBench",
        "question_id": i,
        "type": kind,
        "unique": unique,
        "obj_cls": obj_cls,
        "obj_ids": [0],
        "size_group": "",
    }


@pytest.fixture
def vrs_root(tmp_path: Path) -> Path:
    root = tmp_path / "vrs"
    root.mkdir()
    entries = [
        vrs_entry(
            0, "P0003_0004.png", "The small vehicle in the top-left corner.", "{<41><0><54><6>}"
        ),
        vrs_entry(
            1,
            "05864_0000.png",
            "The bridge closer to the left edge.",
            "{<0><15><100><100>}",
            unique=False,
            obj_cls="bridge",
        ),
        vrs_entry(
            2,
            "P0003_0004.png",
            "The bridge on the middle-top part.",
            "{<57><30><57><33>}",
            obj_cls="bridge",
        ),
        vrs_entry(3, "P0003_0004.png", "Is there a ship?", "Yes", kind="vqa"),
    ]
    (root / "VRSBench_EVAL_referring.json").write_text(json.dumps(entries))
    return root


def test_vrsbench_official_format(vrs_root: Path) -> None:
    with pytest.warns(UserWarning, match="not_ref"):
        ds, report = load_benchmark("vrsbench", vrs_root, "val", return_report=True)
    assert ds.num_rows == 3
    assert ds[0]["bbox"] == pytest.approx([41 * 5.12, 0.0, 54 * 5.12, 6 * 5.12])
    assert ds[1]["bbox"] == pytest.approx([0.0, 76.8, 512.0, 512.0])
    assert (ds[0]["width"], ds[0]["height"]) == (512, 512)
    assert ds["unique"] == [True, False, True]
    assert ds.features["unique"] == datasets.Value("bool")
    assert ds["category"] == ["ship", "bridge", "bridge"]
    assert ds[0]["cues"] == ["absolute"]  # "small vehicle" is a DOTA class in VRSBench
    assert ds[0]["source"] == "VRSBench_EVAL_referring.json[0] question_id 0"
    assert report.kept_flags == {"degenerate": 1}
    assert report.skipped == {"not_ref": 1}


def test_vrsbench_malformed_box_names_the_record(vrs_root: Path) -> None:
    path = vrs_root / "VRSBench_EVAL_referring.json"
    entries = json.loads(path.read_text())[:3]
    entries.insert(1, vrs_entry(9, "x.png", "a ship", "{<41><0><54>}"))
    entries.append(vrs_entry(10, "y.png", "a ship", "{<1><1><120><5>}"))
    path.write_text(json.dumps(entries))
    with pytest.raises(
        RecordError, match=r"VRSBench_EVAL_referring\.json record 1: expected a box string"
    ):
        load_benchmark("vrsbench", vrs_root, "val")
    with pytest.warns(UserWarning, match="skipped 2"):
        ds, report = load_benchmark(
            "vrsbench", vrs_root, "val", on_error="skip", return_report=True
        )
    assert ds.num_rows == 3 and report.skipped == {"bbox": 2}
    assert any("leaves the 0-100 grid" in e for e in report.examples)


def test_vrsbench_box_parser() -> None:
    assert parse_vrsbench_box("{<0><0><100><100>}") == [0.0, 0.0, 512.0, 512.0]
    assert parse_vrsbench_box(" { <10> <20> <30> <40> } ", patch_size_px=1000) == [
        100.0,
        200.0,
        300.0,
        400.0,
    ]
    for bad in ("{<1><2><3><4>|<45>}", "<1><2><3><4>", "{<1><2><3><x>}", None, "{<-1><2><3><4>}"):
        with pytest.raises(RecordError, match="rec 3"):
            parse_vrsbench_box(bad, "rec 3")


def test_vrsbench_field_names_are_parameters(tmp_path: Path) -> None:
    path = tmp_path / "mine.json"
    path.write_text(
        json.dumps(
            [
                {
                    "img": "a.png",
                    "sentence": "the leftmost ship",
                    "box": "{<1><2><3><4>}",
                    "is_unique": False,
                }
            ]
        )
    )
    ds = load_benchmark(
        "vrsbench", path, "val", fields={"image": "img", "expression": ("sentence",), "bbox": "box"}
    )
    assert (
        ds[0]["expression"] == "the leftmost ship"
        and ds[0]["unique"] is False
        and ds[0]["category"] is None
    )
    with pytest.raises(RecordError, match=r"no image field \(tried \('image_id', 'image'\)\)"):
        load_benchmark("vrsbench", path, "val")
    with pytest.raises(ValueError, match="unknown role"):
        load_benchmark("vrsbench", path, "val", fields={"colour": "c"})


# --------------------------------------------------------------------------------------------
# RSVG-HR


RSVG_HR_LINES = [
    "a_1024_sport.jpg,740.5,222.5,776.69,258.06,search a pool on the upper right",
    "b_1024_sport.jpg,10,20,30,1028.55,a pool on the far bottom, near a lake, and white",
    "",
    "c.jpg,170.0,774.0,216,00,803.21,find a swimming pool on the lower left",
]


def test_rsvg_hr_commas_blank_lines_and_tolerance(tmp_path: Path) -> None:
    (tmp_path / "rsvg_hr_test.txt").write_text("\n".join(RSVG_HR_LINES[:3]) + "\n")
    ds, report = load_benchmark("rsvg_hr", tmp_path, "test", return_report=True)
    assert ds.num_rows == 2
    assert ds[1]["expression"] == "a pool on the far bottom, near a lake, and white"
    assert ds[1]["cues"] == ["absolute", "relative", "color"]
    assert ds[1]["bbox"] == [10.0, 20.0, 30.0, 1028.55]  # 4.55 px beyond 1024: within the 10 px
    assert ds[0]["id"] == "rsvg_hr/test/0" and ds[1]["source"] == "rsvg_hr_test.txt:2"
    assert report.ignored == {"blank": 1}
    with pytest.raises(RecordError, match="line 2.*outside"):
        load_benchmark("rsvg_hr", tmp_path, "test", tolerance_px=1)


def test_rsvg_hr_header_and_annotations_folder(tmp_path: Path) -> None:
    (tmp_path / "Annotations").mkdir()
    (tmp_path / "Annotations" / "rsvg_hr_val.txt").write_text(
        "image,x1,y1,x2,y2,expression\n" + RSVG_HR_LINES[0] + "\n"
    )
    ds, report = load_benchmark("rsvg_hr", tmp_path, "val", return_report=True)
    assert ds.num_rows == 1 and report.ignored == {"header": 1}


def test_rsvg_hr_decimal_comma(tmp_path: Path) -> None:
    (tmp_path / "rsvg_hr_train.txt").write_text("\n".join(RSVG_HR_LINES) + "\n")
    with pytest.raises(RecordError, match=r"rsvg_hr_train\.txt line 4: 7 fields.*decimal comma"):
        load_benchmark("rsvg_hr", tmp_path, "train")
    with pytest.warns(UserWarning, match="decimal_comma"):
        ds, report = load_benchmark(
            "rsvg_hr", tmp_path, "train", on_error="skip", return_report=True
        )
    assert ds.num_rows == 2 and report.skipped == {"decimal_comma": 1}
    with pytest.warns(UserWarning, match="repaired"):
        ds, report = load_benchmark(
            "rsvg_hr", tmp_path, "train", repair_decimal_comma=True, return_report=True
        )
    assert ds[2]["bbox"] == [170.0, 774.0, 216.0, 803.21]
    assert ds[2]["expression"] == "find a swimming pool on the lower left"
    assert (
        report.repaired == {"decimal_comma": 1} and "read '216,00' as 216.00" in report.examples[0]
    )


def test_rsvg_hr_line_parser() -> None:
    assert parse_rsvg_hr_line("x.jpg,1,2,3,4,a, b,c", "l1") == (
        "x.jpg",
        [1.0, 2.0, 3.0, 4.0],
        "a, b,c",
        None,
    )
    with pytest.raises(RecordError, match="l2: expected 'image,x1,y1,x2,y2,expression'"):
        parse_rsvg_hr_line("x.jpg,1,2,3", "l2")
    with pytest.raises(RecordError, match="l3: coordinate 3 must be a number"):
        parse_rsvg_hr_line("x.jpg,1,2,three,4,ship", "l3")
    with pytest.raises(RecordError, match="no single"):  # two candidate pairs: ambiguous
        parse_rsvg_hr_line("x.jpg,1,2,3,4,5,ship", "l4", repair_decimal_comma=True)
    with pytest.raises(RecordError, match="numeric fields"):
        parse_rsvg_hr_line("x.jpg,1,2,3,4,5,6,ship", "l5", repair_decimal_comma=True)


def test_rsvg_hr_inverted_box(tmp_path: Path) -> None:
    (tmp_path / "rsvg_hr_test.txt").write_text(
        "p.jpg,556.5,461.5,511.1,602.12,a field in the middle\n"
    )
    with pytest.raises(RecordError, match="line 1: bbox .* is inverted"):
        load_benchmark("rsvg_hr", tmp_path, "test")


# --------------------------------------------------------------------------------------------
# JSON records


def test_records_shape(tmp_path: Path) -> None:
    recs = [
        {
            "image": "00006.jpg",
            "bbox": [281.0, 185.0, 360.0, 289.0],
            "expression": "The ship on the top",
        },
        {
            "image": "00006.jpg",
            "bbox": [498, 565, 557, 665],
            "expression": "A ship at the bottom",
            "category": "ship",
        },
    ]
    (tmp_path / "test.json").write_text(json.dumps(recs))
    ds = load_benchmark("records", tmp_path, "test", dataset="dior_rsvg")
    assert ds["id"] == ["dior_rsvg/test/0", "dior_rsvg/test/1"]
    assert ds["category"] == [None, "ship"] and ds["width"] == [800, 800]
    assert ds[1]["bbox"] == [498.0, 565.0, 557.0, 665.0]
    assert ds[0]["image"] == os.path.abspath(tmp_path / "images" / "00006.jpg")
    assert (
        load_benchmark(
            "records", tmp_path / "test.json", "x", dataset="mine", image_size=(1000, 900)
        )[0]["height"]
        == 900
    )
    sized = load_benchmark(
        "records", tmp_path, "test", dataset="mine", image_size={"00006.jpg": (700, 700)}
    )
    assert sized["width"] == [700, 700]
    assert (
        load_benchmark(
            "records", tmp_path, "test", dataset="mine", image_size=lambda name: (1000, 1000)
        )[0]["width"]
        == 1000
    )
    with pytest.raises(RecordError, match="not in the image_size mapping"):
        load_benchmark(
            "records", tmp_path, "test", dataset="mine", image_size={"other.jpg": (1, 1)}
        )
    with pytest.raises(ValueError, match="pass image_size"):
        load_benchmark("records", tmp_path, "test", dataset="mine")
    with pytest.raises(ValueError, match="pass dataset="):
        load_benchmark("records", tmp_path, "test")


def test_records_vrsbench_naming(tmp_path: Path) -> None:
    (tmp_path / "records_val.json").write_text(
        json.dumps(
            [
                {
                    "image": "P0001_0002.png",
                    "bbox": [0, 0, 5.12, 5.12],
                    "expression": "the small vehicle",
                }
            ]
        )
    )
    ds = load_benchmark("records", tmp_path, "val", dataset="vrsbench")
    assert ds[0]["width"] == 512 and ds[0]["cues"] == ["none"]


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ('{"image": "a"}', "expected a JSON list"),
        ('[{"image": "a", "bbox": [1, 2, 3, 4]', "malformed JSON at line 1"),
    ],
)
def test_records_fatal_file_errors(tmp_path: Path, content: str, fragment: str) -> None:
    (tmp_path / "test.json").write_text(content)
    with pytest.raises(ValueError, match=fragment):
        load_benchmark("records", tmp_path, "test", dataset="dior_rsvg", on_error="skip")


@pytest.mark.parametrize(
    ("record", "fragment"),
    [
        ({"image": "a.jpg", "bbox": [1, 2, 3, 4]}, r"missing key\(s\) \['expression'\]"),
        ({"image": "a.jpg", "bbox": [1, 2, 3], "expression": "x"}, "bbox must be"),
        (
            {"image": "a.jpg", "bbox": [1, 2, "b", 4], "expression": "x"},
            r"bbox\[2\] must be a number",
        ),
        (
            {"image": "a.jpg", "bbox": [1, 2, True, 4], "expression": "x"},
            r"bbox\[2\] must be a number",
        ),
        (
            {"image": "a.jpg", "bbox": [1, 2, "3", 4], "expression": "x"},
            r"bbox\[2\] must be a number",
        ),
        (
            {"image": "../../etc/passwd", "bbox": [1, 2, 3, 4], "expression": "x"},
            "relative path inside",
        ),
        ({"image": "/etc/passwd", "bbox": [1, 2, 3, 4], "expression": "x"}, "relative path inside"),
        (
            {"image": "a.jpg", "bbox": [1, 2, 3, 4], "expression": ""},
            "non-empty referring expression",
        ),
        ("just a string", "expected a JSON object"),
    ],
)
def test_records_bad_records(tmp_path: Path, record, fragment: str) -> None:
    good = {"image": "ok.jpg", "bbox": [1, 2, 3, 4], "expression": "a ship"}
    (tmp_path / "test.json").write_text(json.dumps([good, record]))
    with pytest.raises(RecordError, match=r"test\.json record 1: .*" + fragment):
        load_benchmark("records", tmp_path, "test", dataset="dior_rsvg")
    with pytest.warns(UserWarning):
        ds, report = load_benchmark(
            "records", tmp_path, "test", dataset="dior_rsvg", on_error="skip", return_report=True
        )
    assert ds.num_rows == 1 and report.n_skipped == 1 and report.n_read == 2


# --------------------------------------------------------------------------------------------
# Hub ids (tested on a local folder, which load_dataset reads like a Hub repository)


def test_hub_path_with_local_parquet(tmp_path: Path) -> None:
    from PIL import Image

    img_path = tmp_path / "tile.png"
    Image.new("RGB", (64, 48), "white").save(img_path)
    table = datasets.Dataset.from_dict(
        {
            "img": [str(img_path), str(img_path)],
            "question": ["the ship on the left", "a large white tank"],
            "bbox": [[1.0, 2.0, 30.0, 40.0], [5.0, 5.0, 4.0, 9.0]],
            "width": [64, 64],
            "height": [48, 48],
        },
        features=datasets.Features(
            {
                "img": datasets.Image(),
                "question": datasets.Value("string"),
                "bbox": datasets.List(datasets.Value("float64")),
                "width": datasets.Value("int32"),
                "height": datasets.Value("int32"),
            }
        ),
    )
    repo = tmp_path / "owner" / "toy"
    repo.mkdir(parents=True)
    table.to_parquet(str(repo / "test.parquet"))
    with pytest.raises(RecordError, match=r"row 1: .*inverted"):
        load_benchmark(str(repo), split="test", columns={"image": "img", "expression": "question"})
    with pytest.warns(UserWarning, match="inverted"):
        ds, report = load_benchmark(
            str(repo),
            split="test",
            columns={"image": "img", "expression": "question"},
            on_error="skip",
            return_report=True,
        )
    assert ds.num_rows == 1 and report.skipped == {"inverted": 1}
    assert ds[0]["dataset"] == "toy" and ds[0]["cues"] == ["absolute"]
    assert isinstance(ds.features["image"], datasets.Image)
    assert ds[0]["image"].size == (64, 48)  # decoded only on access
    assert list(ds.features)[: len(REQUIRED_COLUMNS)] == list(REQUIRED_COLUMNS)
    with pytest.raises(ValueError, match="check_images"):
        load_benchmark(str(repo), split="test", check_images=True)
    with pytest.raises(ValueError, match="no column 'expression'"):
        load_benchmark(str(repo), split="test", columns={"image": "img"})


def test_hub_offline_error_is_clear(monkeypatch) -> None:
    def offline(*args, **kwargs):
        raise ConnectionError("Couldn't reach 'owner/name' on the Hub (OfflineModeIsEnabled)")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(
        ConnectionError,
        match=r"could not reach the Hugging Face Hub for 'owner/name' \(offline\?\)",
    ):
        load_benchmark("owner/name", split="test")


# --------------------------------------------------------------------------------------------
# Argument errors and the report


def test_argument_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown benchmark 'refcoco'"):
        load_benchmark("refcoco", tmp_path)
    with pytest.raises(TypeError, match=r"unknown option\(s\) \['repair_decimal_comma'\]"):
        load_benchmark("dior_rsvg", tmp_path, repair_decimal_comma=True)
    with pytest.raises(ValueError, match="on_error must be one of"):
        load_benchmark("dior_rsvg", tmp_path, on_error="ignore")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_benchmark("dior_rsvg", tmp_path / "nope")
    with pytest.raises(ValueError, match="pass root"):
        load_benchmark("rsvg_hr")
    with pytest.raises(FileNotFoundError, match="rsvg_hr_test.txt"):
        load_benchmark("rsvg_hr", tmp_path)


def test_report_summary_and_dict() -> None:
    report = LoadReport("toy", "test", "f.json", n_read=3, n_kept=2)
    report.count_skip(RecordError("f.json record 1", "bbox", "bad"))
    text = report.summary()
    assert (
        "kept 2 of 3" in text and "skipped 1 {'bbox': 1}" in text and "f.json record 1: bad" in text
    )
    assert report.as_dict()["n_skipped"] == 1
    for i in range(10):
        report.count_skip(RecordError(f"r{i}", "bbox", "bad"))
    assert len(report.examples) == common.MAX_EXAMPLES and report.skipped == {"bbox": 11}


def test_no_warning_when_nothing_was_dropped(dior_root: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_benchmark("dior_rsvg", dior_root, "train")


# --------------------------------------------------------------------------------------------
# Real files (RSGROUND_DATA)


def test_real_dior_rsvg_official_split(real_data: Path) -> None:
    root = real_data / "dior_rsvg"
    splits = {s: read_split_indices(root / f"{s}.txt") for s in ("train", "val", "test")}
    assert {s: len(v) for s, v in splits.items()} == {"train": 26991, "val": 3829, "test": 7500}
    sets = {s: set(v) for s, v in splits.items()}
    assert all(len(sets[s]) == len(splits[s]) for s in splits)  # no duplicates
    assert not (
        sets["train"] & sets["val"] or sets["train"] & sets["test"] or sets["val"] & sets["test"]
    )
    assert sets["train"] | sets["val"] | sets["test"] == set(range(38320))
    assert 0 in sets["test"]


def test_real_dior_rsvg_00001(real_data: Path) -> None:
    objects = parse_voc_objects(real_data / "dior_rsvg" / "Annotations" / "00001.xml")
    assert len(objects) == 1 and objects[0].name == "golffield"
    root = real_data / "dior_rsvg"
    with pytest.raises(
        ValueError, match=r"7499 of 7500 indices point beyond the 1 objects of the 1 sorted"
    ):
        load_benchmark("dior_rsvg", root, "test")
    with pytest.warns(UserWarning, match="index_beyond_annotations"):
        ds, report = load_benchmark("dior_rsvg", root, "test", on_error="skip", return_report=True)
    assert report.skipped == {"index_beyond_annotations": 7499} and report.n_read == 7500
    golf = ds[0]
    assert golf["id"] == "dior_rsvg/test/0"
    assert golf["bbox"] == [133.0, 237.0, 684.0, 672.0]
    assert (golf["width"], golf["height"], golf["category"]) == (800, 800, "golffield")
    assert golf["expression"] == "A green and brown golf field"
    with pytest.warns(UserWarning):
        assert load_benchmark("dior_rsvg", root, "train", on_error="skip").num_rows == 0


@pytest.mark.parametrize(("split", "count"), [("train", 27133), ("val", 3765), ("test", 7422)])
def test_real_dior_rsvg_records(real_data: Path, split: str, count: int) -> None:
    ds, report = load_benchmark(
        "records",
        real_data / "dior_rsvg" / "records",
        split,
        dataset="dior_rsvg",
        return_report=True,
    )
    assert ds.num_rows == count and report.n_skipped == 0 and not report.kept_flags
    boxes = np.array(ds.data.column("bbox").to_pylist())
    assert boxes.min() >= 1 and boxes.max() <= 800 and (boxes == boxes.round()).all()
    if split == "test":
        assert ds[0]["expression"] == "A green and brown golf field"
        assert ds[0]["bbox"] == [133.0, 237.0, 684.0, 672.0]


def test_real_vrsbench_records(real_data: Path) -> None:
    path = real_data / "vrsbench" / "records_val.json"
    with pytest.raises(
        RecordError, match=r"records_val\.json record 1: .*outside the 512x512 image"
    ):
        load_benchmark("records", path, "val", dataset="vrsbench")
    ds, report = load_benchmark(
        "records", path, "val", dataset="vrsbench", outside="keep", return_report=True
    )
    assert ds.num_rows == 16159
    assert report.kept_flags == {"degenerate": 6, "outside": 4399}
    with pytest.warns(UserWarning, match="degenerate"):
        _, report = load_benchmark(
            "records",
            path,
            "val",
            dataset="vrsbench",
            outside="keep",
            degenerate="skip",
            return_report=True,
        )
    assert report.n_kept == 16153 and report.skipped == {"degenerate": 6}


def test_real_rsvg_hr(real_data: Path) -> None:
    root = real_data / "rsvg_hr"
    test = load_benchmark("rsvg_hr", root, "test")
    assert test.num_rows == 499
    assert max(max(b) for b in test["bbox"]) > 1024  # boxes exceed the image a little
    with pytest.raises(RecordError, match=r"rsvg_hr_train\.txt line 18: 7 fields.*216,00"):
        load_benchmark("rsvg_hr", root, "train")
    with pytest.warns(UserWarning):
        ds, report = load_benchmark("rsvg_hr", root, "train", on_error="skip", return_report=True)
    assert report.n_read == 2151 and report.skipped == {"decimal_comma": 1, "inverted": 1}
    with pytest.warns(UserWarning, match="repaired"):
        ds, report = load_benchmark(
            "rsvg_hr", root, "train", repair_decimal_comma=True, on_error="skip", return_report=True
        )
    assert report.n_read == 2151 and report.repaired == {"decimal_comma": 1}
    assert report.skipped == {"inverted": 1} and "line 450" in report.examples[1]
    line18 = ds[17]
    assert line18["source"] == "rsvg_hr_train.txt:18"
    assert line18["bbox"] == [170.0, 774.0, 216.0, 803.21]
    assert line18["expression"].startswith("find a swimming pool on the lower left")


def test_hub_path_with_image_paths(tmp_path: Path) -> None:
    repo = tmp_path / "owner" / "paths"
    repo.mkdir(parents=True)
    rows = [
        {
            "image": "tiles/a.png",
            "expression": "the leftmost ship",
            "bbox": [1, 2, 3, 4],
            "category": "ship",
        },
        {"image": "tiles/b.png", "expression": "a red car", "bbox": [1, 2, 3, 4], "category": None},
    ]
    (repo / "test.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    ds = load_benchmark(str(repo), split="test", image_size=(100, 100), dataset="mine")
    assert ds["image"] == ["tiles/a.png", "tiles/b.png"]
    assert ds["id"] == ["mine/test/0", "mine/test/1"] and ds["width"] == [100, 100]
    assert ds["category"] == ["ship", None] and ds["cues"] == [["extreme"], ["color"]]
    as_image = load_benchmark(str(repo), split="test", image_size=(100, 100), image="image")
    assert isinstance(as_image.features["image"], datasets.Image)
    with pytest.raises(ValueError, match="pass image_size"):
        load_benchmark(str(repo), split="test")


@pytest.mark.parametrize("repair", [False, True])
@pytest.mark.parametrize("line", ["img.png,216,00,300,400,500", "img.png,1,2,3,4,5\n"])
def test_rsvg_hr_five_numbers_without_expression_is_a_record_error(line, repair):
    """Regression: this used to raise IndexError, which even on_error='skip' did not catch."""
    with pytest.raises(RecordError, match="no expression"):
        parse_rsvg_hr_line(line, "f.txt line 3", repair_decimal_comma=repair)


# ------------------------------------------------------------- regressions from a review


def test_voc_relative_split_file_is_read_from_root(
    dior_root: Path, monkeypatch, tmp_path: Path
) -> None:
    (dior_root / "mysplit.txt").write_text("2\n")
    monkeypatch.chdir(tmp_path)  # elsewhere than root
    ds = load_benchmark("dior_rsvg", dior_root, "test", split_file="mysplit.txt")
    assert [r["bbox"] for r in ds] == [[5.0, 6.0, 7.0, 8.0]]


def test_rsvg_hr_repair_counted_only_when_the_row_is_kept(tmp_path: Path) -> None:
    (tmp_path / "rsvg_hr_train.txt").write_text(
        "01.jpg,10,20,30,40,a ship on the left\n"
        "02.jpg,500.5,216,00,100.5,300.5,a tank on the right\n"  # repaired, then inverted
    )
    with pytest.warns(UserWarning):
        ds, report = load_benchmark(
            "rsvg_hr",
            tmp_path,
            "train",
            repair_decimal_comma=True,
            on_error="skip",
            return_report=True,
        )
    assert ds.num_rows == 1
    assert report.skipped == {"inverted": 1}
    assert not report.repaired


def test_records_image_names_are_stripped_and_sizes_may_be_lists(tmp_path: Path) -> None:
    recs = [
        {"image": "a.png", "bbox": [1, 2, 3, 4], "expression": "the ship"},
        {"image": "b.png ", "bbox": [1, 2, 3, 4], "expression": "the tank"},
    ]
    path = tmp_path / "test.json"
    path.write_text(json.dumps(recs))
    sizes = {"a.png": (800, 800), "b.png": (640, 480)}
    ds = load_benchmark("records", path, "test", dataset="toy", image_size=sizes)
    assert [(r["width"], r["height"]) for r in ds] == [(800, 800), (640, 480)]
    ds = load_benchmark("records", path, "test", dataset="toy", image_size=[512, 512])
    assert [(r["width"], r["height"]) for r in ds] == [(512, 512), (512, 512)]


def test_hub_missing_size_is_a_counted_skip_and_classlabels_become_names(tmp_path: Path) -> None:
    table = datasets.Dataset.from_dict(
        {
            "image": ["a.png", "b.png", "c.png"],
            "expression": ["the ship", "the car", "the tank"],
            "bbox": [[1.0, 2.0, 3.0, 4.0]] * 3,
            "width": [64, None, 64],
            "height": [64, 64, 64],
            "category": [0, 1, 0],
        },
        features=datasets.Features(
            {
                "image": datasets.Value("string"),
                "expression": datasets.Value("string"),
                "bbox": datasets.List(datasets.Value("float64")),
                "width": datasets.Value("int32"),
                "height": datasets.Value("int32"),
                "category": datasets.ClassLabel(names=["ship", "vehicle"]),
            }
        ),
    )
    repo = tmp_path / "owner" / "hub"
    repo.mkdir(parents=True)
    table.to_parquet(str(repo / "test.parquet"))
    with pytest.warns(UserWarning, match="size"):
        ds, report = load_benchmark(str(repo), split="test", on_error="skip", return_report=True)
    assert report.skipped == {"size": 1}
    assert list(ds["category"]) == ["ship", "ship"]


# --------------------------------------------------------------------------------------------
# The registry and load_available


def test_registry_names_every_benchmark_and_its_options() -> None:
    assert list(READERS) == ["dior_rsvg", "opt_rsvg", "vrsbench", "rsvg_hr", "records", "hub"]
    assert set(READERS) - {"hub"} == set(BENCHMARKS)
    options = {name: sorted(reader_options(reader)) for name, reader in READERS.items()}
    assert options == {
        "dior_rsvg": ["annotations_dir", "default_image_size", "split_file"],
        "opt_rsvg": ["annotations_dir", "default_image_size", "split_file"],
        "vrsbench": ["annotation_file", "fields", "grid_size", "patch_size_px"],
        "rsvg_hr": ["annotation_file", "image_size", "repair_decimal_comma"],
        "records": ["annotation_file", "dataset", "image_size"],
        "hub": ["columns", "dataset", "image_size", "revision"],
    }


def test_the_stdlib_xml_option_is_gone(dior_root: Path) -> None:
    with pytest.raises(TypeError, match=r"unknown option\(s\) \['use_defusedxml'\]"):
        load_benchmark("dior_rsvg", dior_root, "train", use_defusedxml=False)


@pytest.fixture
def data_root(tmp_path: Path) -> Path:
    """A data root holding DIOR-RSVG records (train 2, test 1) and RSVG-HR (test 1, train 2
    lines, one with a decimal comma); no VRSBench."""
    root = tmp_path / "data"
    dior = root / "dior_rsvg" / "records"
    dior.mkdir(parents=True)
    rec = {"image": "00001.jpg", "bbox": [133, 237, 684, 672], "expression": "a golf field"}
    (dior / "train.json").write_text(json.dumps([rec, {**rec, "expression": "the left ship"}]))
    (dior / "test.json").write_text(json.dumps([rec]))
    hr = root / "rsvg_hr"
    hr.mkdir()
    (hr / "rsvg_hr_test.txt").write_text("01.jpg,10,20,30,40,a ship on the left\n")
    (hr / "rsvg_hr_train.txt").write_text(
        "01.jpg,10,20,30,40,a ship on the left\n02.jpg,10.5,20.5,216,00,40.5,a tank\n"
    )
    return root


def test_load_available_reads_what_exists_and_names_what_does_not(data_root: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the RSVG-HR train repair is in the report, not warned
        real = load_available(data_root)
    assert isinstance(real, RealData) and real.data_root == data_root
    assert list(real.datasets) == [
        "DIOR-RSVG train",
        "DIOR-RSVG test",
        "RSVG-HR test",
        "RSVG-HR train",
    ]
    assert [len(ds) for ds in real.datasets.values()] == [2, 1, 1, 2]
    assert real.datasets["DIOR-RSVG test"]["id"] == ["dior_rsvg/test/0"]
    assert real.datasets["RSVG-HR train"]["bbox"][1] == [10.5, 20.5, 216.0, 40.5]
    assert real.reports["RSVG-HR train"].repaired == {"decimal_comma": 1}
    assert list(real.missing) == ["VRSBench val"]
    assert real.missing["VRSBench val"].endswith("records_val.json does not exist")
    assert real.missing_note("x is skipped") == (
        f"Not found under {data_root} (x is skipped for them):\n  VRSBench val: "
        f"records: {data_root / 'vrsbench' / 'records_val.json'} does not exist"
    )


def test_load_available_only_the_named_splits(data_root: Path) -> None:
    (data_root / "rsvg_hr" / "rsvg_hr_test.txt").unlink()
    real = load_available(data_root, ["RSVG-HR test", "DIOR-RSVG test"])
    assert list(real.datasets) == ["DIOR-RSVG test"]  # registry order, only those named
    assert list(real.missing) == ["RSVG-HR test"]
    assert "rsvg_hr_test.txt" in real.missing["RSVG-HR test"]
    with pytest.raises(ValueError, match=r"unknown real split\(s\) \['DIOR-RSVG val'\]"):
        load_available(data_root, ["DIOR-RSVG val"])


def test_load_available_without_a_data_root() -> None:
    real = load_available(None, ["DIOR-RSVG test", "VRSBench val"])
    assert real.datasets == {} and real.reports == {}
    assert real.missing == {
        "DIOR-RSVG test": "no data root (RSGROUND_DATA is not set)",
        "VRSBench val": "no data root (RSGROUND_DATA is not set)",
    }
    assert real.missing_note("the comparison is skipped") == (
        "RSGROUND_DATA is not set: the comparison is skipped."
    )


def test_real_splits_of_the_book(real_data: Path) -> None:
    real = load_available(real_data)
    assert real.missing == {}
    assert {k: len(v) for k, v in real.datasets.items()} == {
        "DIOR-RSVG train": 27133,
        "DIOR-RSVG test": 7422,
        "VRSBench val": 16159,
        "RSVG-HR test": 499,
        "RSVG-HR train": 2150,
    }
    assert real.reports["RSVG-HR train"].skipped == {"inverted": 1}
