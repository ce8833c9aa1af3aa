"""Benchmark readers on hostile bytes (issue 11, findings 4 and 8): encodings, numbers beyond
the float range, JSON nested too deeply, empty inputs, digits that are not ASCII.

Every bad input is written literally into a tiny fixture in ``tmp_path``. Each test asserts the
exact error type (``ValueError`` for a fatal file error, :class:`RecordError` for one bad
record), that the message names the file and the line / record / object, and how
``on_error="skip"`` behaves: a fatal file error is fatal in both modes, a bad record is
dropped and counted.
"""

from __future__ import annotations

import json
import math
import re
import warnings
from pathlib import Path

import datasets
import pytest

from rsground_lib.data.benchmarks import READERS, load_benchmark
from rsground_lib.data.readers import common
from rsground_lib.data.readers.dior_rsvg import read_split_indices
from rsground_lib.data.schema import MAX_IMAGE_SIDE_PX, RecordError, validate_record


def raises_exactly(kind: type[Exception], pattern: str, call) -> Exception:
    """``call()`` raises exactly ``kind`` (not a subclass) with a message matching ``pattern``."""
    with pytest.raises(kind, match=pattern) as info:
        call()
    assert type(info.value) is kind, f"expected {kind.__name__}, got {type(info.value).__name__}"
    return info.value


def fatal_in_both_modes(pattern: str, load) -> None:
    """A whole-file error: the same ``ValueError`` with ``on_error="raise"`` and ``"skip"``."""
    for mode in ("raise", "skip"):
        raises_exactly(ValueError, pattern, lambda mode=mode: load(mode))


def one_bad_record(pattern: str, kind: str, load, kept: int) -> None:
    """A bad record: :class:`RecordError` of ``kind`` when raising; dropped, counted and warned
    about with ``on_error="skip"``, which keeps ``kept`` rows."""
    err = raises_exactly(RecordError, pattern, lambda: load("raise"))
    assert err.kind == kind
    with pytest.warns(UserWarning, match=kind):
        ds, report = load("skip")
    assert ds.num_rows == kept and report.skipped == {kind: 1}


# --------------------------------------------------------------------------------------------
# Fixtures: one VOC benchmark (DIOR-RSVG layout), RSVG-HR, JSON records, VRSBench


def voc_xml(objects: list[tuple[str, str, str, str]], size: tuple[str, str] = ("800", "800")):
    boxes = "".join(
        "<object><name>ship</name><bndbox>"
        f"<xmin>{x1}</xmin><ymin>{y1}</ymin><xmax>{x2}</xmax><ymax>{y2}</ymax>"
        "</bndbox><description>a ship</description></object>"
        for x1, y1, x2, y2 in objects
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<annotation><filename>00001.jpg</filename>'
        f"<size><width>{size[0]}</width><height>{size[1]}</height></size>{boxes}</annotation>"
    )


def dior(tmp_path: Path, split: bytes, objects=None, size=("800", "800")) -> Path:
    root = tmp_path / "dior"
    (root / "Annotations").mkdir(parents=True)
    objects = objects or [("1", "1", "5", "5"), ("10", "10", "50", "50")]
    (root / "Annotations" / "00001.xml").write_text(voc_xml(objects, size), encoding="utf-8")
    (root / "test.txt").write_bytes(split)
    return root


def load_dior(root: Path):
    return lambda mode: load_benchmark("dior_rsvg", root, "test", on_error=mode, return_report=True)


def rsvg_hr(tmp_path: Path, data: bytes) -> Path:
    (tmp_path / "rsvg_hr_test.txt").write_bytes(data)
    return tmp_path


def load_hr(root: Path):
    return lambda mode: load_benchmark("rsvg_hr", root, "test", on_error=mode, return_report=True)


GOOD_HR = b"a.jpg,1,2,30,40,the ship on the left\n"
GOOD_RECORD = '{"image": "a.jpg", "bbox": [1, 2, 30, 40], "expression": "a ship"}'
GOOD_VRS = (
    '{"image_id": "a.png", "question": "the ship", "ground_truth": "{<1><2><3><4>}", "type": "ref"}'
)
VRS_FILE = "VRSBench_EVAL_referring.json"


def records(tmp_path: Path, data: bytes) -> Path:
    (tmp_path / "test.json").write_bytes(data)
    return tmp_path


def load_records(root: Path):
    return lambda mode: load_benchmark(
        "records", root, "test", dataset="dior_rsvg", on_error=mode, return_report=True
    )


def vrsbench(tmp_path: Path, data: bytes) -> Path:
    (tmp_path / VRS_FILE).write_bytes(data)
    return tmp_path


def load_vrs(root: Path):
    return lambda mode: load_benchmark("vrsbench", root, "val", on_error=mode, return_report=True)


def named(path: Path) -> str:
    """``path`` as a regular expression (error messages name the file by its path)."""
    return re.escape(str(path))


# --------------------------------------------------------------------------------------------
# Finding 4: encodings


def test_split_file_with_a_latin1_byte_is_fatal_naming_the_line(tmp_path: Path) -> None:
    root = dior(tmp_path, b"0\n1\xe9\n")
    pattern = named(root / "test.txt") + r" line 2: byte 0xe9 at column 2 is not UTF-8"
    fatal_in_both_modes(pattern, load_dior(root))
    raises_exactly(ValueError, pattern, lambda: read_split_indices(root / "test.txt"))


def test_split_file_in_utf16_is_fatal_and_says_utf16(tmp_path: Path) -> None:
    root = dior(tmp_path, "0\n1\n".encode("utf-16"))  # with its byte-order mark
    fatal_in_both_modes(
        named(root / "test.txt") + r": starts with a UTF-16 byte-order mark.*in UTF-8",
        load_dior(root),
    )


def test_split_file_in_utf16_without_a_mark_is_fatal_at_its_first_nul(tmp_path: Path) -> None:
    root = dior(tmp_path, "0\n1\n".encode("utf-16-le"))
    fatal_in_both_modes(
        named(root / "test.txt") + r" line 1: NUL byte at byte offset 1 \(a UTF-16",
        load_dior(root),
    )


def test_split_file_with_a_utf8_byte_order_mark_is_read(tmp_path: Path) -> None:
    root = dior(tmp_path, b"\xef\xbb\xbf0\n1\n")
    assert read_split_indices(root / "test.txt") == [0, 1]
    assert load_benchmark("dior_rsvg", root, "test").num_rows == 2


def test_rsvg_hr_line_with_a_latin1_byte_is_one_bad_record(tmp_path: Path) -> None:
    root = rsvg_hr(tmp_path, GOOD_HR + b"b.jpg,1,2,30,40,the caf\xe9 roof\n")
    one_bad_record(
        r"^rsvg_hr_test\.txt line 2: byte 0xe9 at column 24 is not UTF-8; expected UTF-8 text$",
        "encoding",
        load_hr(root),
        kept=1,
    )


def test_rsvg_hr_in_utf16_is_fatal(tmp_path: Path) -> None:
    root = rsvg_hr(tmp_path, (GOOD_HR * 2).decode().encode("utf-16"))
    fatal_in_both_modes(
        named(root / "rsvg_hr_test.txt") + r": starts with a UTF-16 byte-order mark",
        load_hr(root),
    )


def test_rsvg_hr_utf8_byte_order_mark_stays_out_of_the_image_name(tmp_path: Path) -> None:
    root = rsvg_hr(tmp_path, b"\xef\xbb\xbf" + GOOD_HR)  # was read as "\ufeffa.jpg"
    ds = load_benchmark("rsvg_hr", root, "test")
    assert ds[0]["image"] == str((tmp_path / "images" / "a.jpg").absolute())
    header = b"\xef\xbb\xbfimage,x1,y1,x2,y2,expression\n" + GOOD_HR  # header still recognised
    ds, report = load_benchmark("rsvg_hr", rsvg_hr(tmp_path, header), "test", return_report=True)
    assert ds.num_rows == 1 and report.ignored == {"header": 1}


@pytest.mark.parametrize(
    ("make", "load", "name", "field"),
    [
        (records, load_records, "test.json", "expression"),
        (vrsbench, load_vrs, VRS_FILE, "question"),
    ],
)
def test_json_record_with_a_latin1_byte_is_one_bad_record(
    tmp_path: Path, make, load, name: str, field: str
) -> None:
    good = GOOD_RECORD if make is records else GOOD_VRS
    bad = good.replace('"a ship"' if make is records else '"the ship"', '"the caf\xe9 roof"')
    root = make(tmp_path, b"[" + good.encode() + b",\n" + bad.encode("latin-1") + b"]")
    one_bad_record(
        rf"^{re.escape(name)} record 1: byte 0xe9 is not UTF-8 .* in record\['{field}'\]",
        "encoding",
        load(root),
        kept=1,
    )


def test_json_lone_surrogate_escape_is_one_bad_record(tmp_path: Path) -> None:
    # valid UTF-8, but "\ud800" cannot be stored by Arrow (was a UnicodeEncodeError)
    bad = GOOD_RECORD.replace('"a ship"', '"a ship \\ud800"')
    root = records(tmp_path, f"[{GOOD_RECORD}, {bad}]".encode())
    one_bad_record(
        r"^test\.json record 1: lone surrogate \\ud800 .* in record\['expression'\]",
        "encoding",
        load_records(root),
        kept=1,
    )


def test_json_byte_outside_a_string_is_malformed_json(tmp_path: Path) -> None:
    root = records(tmp_path, b"[" + GOOD_RECORD.encode() + b", \xff]")
    fatal_in_both_modes(
        named(root / "test.json")
        + r": malformed JSON at line 1 column \d+ \(byte 0xff is not UTF-8",
        load_records(root),
    )


@pytest.mark.parametrize(
    ("make", "load", "name"),
    [(records, load_records, "test.json"), (vrsbench, load_vrs, VRS_FILE)],
)
@pytest.mark.parametrize("encoding", ["utf-16", "utf-32"])
def test_json_in_utf16_or_utf32_is_fatal(
    tmp_path: Path, make, load, name: str, encoding: str
) -> None:
    good = GOOD_RECORD if make is records else GOOD_VRS
    root = make(tmp_path, f"[{good}]".encode(encoding))
    fatal_in_both_modes(
        named(root / name) + rf": starts with a {encoding.upper()} byte-order mark",
        load(root),
    )


def test_json_utf8_byte_order_mark_is_read(tmp_path: Path) -> None:
    root = records(tmp_path, b"\xef\xbb\xbf[" + GOOD_RECORD.encode() + b"]")
    assert load_benchmark("records", root, "test", dataset="dior_rsvg").num_rows == 1


# --------------------------------------------------------------------------------------------
# Finding 4: numbers beyond the float range, JSON nested too deeply


@pytest.mark.parametrize("digits", [400, 5000])  # 5000: beyond int()'s own limit of 4300
def test_json_integer_beyond_the_float_range_is_one_bad_record(tmp_path: Path, digits: int):
    bad = GOOD_RECORD.replace("30, 40", "9" * digits + ", 40")
    root = records(tmp_path, f"[{GOOD_RECORD}, {bad}]".encode())
    one_bad_record(
        rf"^test\.json record 1: bbox\[2\] is a {digits}-digit integer, beyond the float range$",
        "bbox",
        load_records(root),
        kept=1,
    )


def test_vrsbench_numbers_beyond_the_float_range(tmp_path: Path) -> None:
    huge = "9" * 5000
    as_box = GOOD_VRS.replace('"{<1><2><3><4>}"', huge)  # a number where the box string goes
    in_box = GOOD_VRS.replace("<1>", f"<{'9' * 400}>")
    as_id = GOOD_VRS.replace('"type"', f'"question_id": {huge}, "type"')  # metadata only: kept
    root = vrsbench(tmp_path, f"[{GOOD_VRS}, {as_box}, {in_box}, {as_id}]".encode())
    err = raises_exactly(
        RecordError,
        r"^VRSBench_EVAL_referring\.json record 1: expected a box string .*"
        r"got <a 5000-digit integer>$",
        lambda: load_benchmark("vrsbench", root, "val"),
    )
    assert len(str(err)) < 300
    with pytest.warns(UserWarning, match="bbox"):
        ds, report = load_benchmark("vrsbench", root, "val", on_error="skip", return_report=True)
    assert ds.num_rows == 2 and report.skipped == {"bbox": 2}
    assert (
        "record 2: box '{<999" in report.examples[1]
        and "leaves the 0-100 grid" in (report.examples[1])
    )
    assert ds[1]["source"] == f"{VRS_FILE}[3] question_id <a 5000-digit integer>"


@pytest.mark.parametrize(
    ("make", "load", "name"),
    [(records, load_records, "test.json"), (vrsbench, load_vrs, VRS_FILE)],
)
def test_json_nested_too_deeply_is_fatal(tmp_path: Path, make, load, name: str) -> None:
    root = make(tmp_path, b"[" * 100_000 + b"]" * 100_000)
    fatal_in_both_modes(named(root / name) + r": JSON nested too deeply to parse", load(root))


def test_json_record_nested_deep_is_one_bad_record_with_a_short_message(tmp_path: Path):
    bad = GOOD_RECORD.replace("[1, 2, 30, 40]", "[" * 200 + "]" * 200)
    root = records(tmp_path, f"[{GOOD_RECORD}, {bad}]".encode())
    err = raises_exactly(
        RecordError,
        r"^test\.json record 1: bbox must be \[x1, y1, x2, y2\] pixels, got \[\[\[\[\.\.\.\]\]\]\]$",
        lambda: load_records(root)("raise"),
    )
    assert err.kind == "bbox"
    with pytest.warns(UserWarning, match="bbox"):
        assert load_records(root)("skip")[0].num_rows == 1


@pytest.mark.parametrize("width", ["999999999999", "9" * 400])
def test_voc_size_beyond_int32_is_one_bad_object(tmp_path: Path, width: str) -> None:
    # was ArrowInvalid (12 digits) or OverflowError (400 digits), naming nothing
    root = dior(tmp_path, b"0\n1\n", size=(width, "800"))
    err = raises_exactly(
        RecordError,
        r"^Annotations/00001\.xml object 0 \(global index 0 of test\.txt\): <size><width> must "
        rf"be a positive integer written with ASCII digits 0-9, at most {MAX_IMAGE_SIDE_PX}",
        lambda: load_dior(root)("raise"),
    )
    assert err.kind == "size" and len(str(err)) < 400
    with pytest.warns(UserWarning, match="size"):
        ds, report = load_dior(root)("skip")
    assert ds.num_rows == 0 and report.skipped == {"size": 2}


def test_record_sizes_beyond_int32_or_not_whole_are_record_errors(tmp_path: Path) -> None:
    root = records(tmp_path, f"[{GOOD_RECORD}]".encode())
    raises_exactly(
        RecordError,
        r"^test\.json record 0: image width/height must be positive numbers, whole pixels at "
        rf"most {MAX_IMAGE_SIDE_PX}, got \(1099511627776, 800\)$",
        lambda: load_benchmark(
            "records", root, "test", dataset="x", image_size=(2**40, 800), outside="keep"
        ),
    )
    for size in [(math.inf, 800.0), (800.5, 800.0)]:  # inf was an OverflowError
        raises_exactly(
            RecordError,
            r"^here: image width/height must be positive numbers, whole pixels",
            lambda size=size: common.make_record(
                dataset="x",
                split="test",
                index=0,
                image="a.jpg",
                size=size,
                expression="a ship",
                bbox=[1, 2, 3, 4],
                category=None,
                source="s",
                where="here",
            ),
        )


def test_validate_record_refuses_a_width_beyond_int32() -> None:
    rec = {
        "id": "x/test/0",
        "dataset": "x",
        "split": "test",
        "image": "a.jpg",
        "width": 10**400,
        "height": 800,
        "expression": "a ship",
        "bbox": [1.0, 2.0, 3.0, 4.0],
        "category": None,
        "cues": [],
    }
    err = raises_exactly(
        RecordError,
        r"^rec: width must be at most .* got a 1329-bit integer$",
        lambda: validate_record(rec, "rec"),
    )
    assert err.kind == "size"


def hub_repo(tmp_path: Path, name: str, columns: dict, features: dict) -> str:
    repo = tmp_path / "owner" / name
    repo.mkdir(parents=True)
    table = datasets.Dataset.from_dict(columns, features=datasets.Features(features))
    table.to_parquet(str(repo / "test.parquet"))
    return str(repo)


def test_hub_infinite_width_and_non_ascii_box_text_are_bad_rows(tmp_path: Path) -> None:
    text = datasets.Value("string")
    repo = hub_repo(
        tmp_path,
        "toy",
        {
            "image": ["a.png", "b.png", "c.png"],
            "expression": ["the ship", "the car", "the tank"],
            "bbox": [["1", "2", "3", "4"], ["\u0663", "2", "3", "4"], ["1", "2", "3", "4"]],
            "width": [8.0, 8.0, math.inf],
            "height": [8.0, 8.0, 8.0],
        },
        {
            "image": text,
            "expression": text,
            "bbox": datasets.List(text),
            "width": datasets.Value("float64"),
            "height": datasets.Value("float64"),
        },
    )
    raises_exactly(
        RecordError,
        rf"^{re.escape(repo)} split test row 1: bbox value must be a number written with ASCII "
        r"digits 0-9 .* got '\u0663'$",
        lambda: load_benchmark(repo, split="test"),
    )
    with pytest.warns(UserWarning):
        ds, report = load_benchmark(repo, split="test", on_error="skip", return_report=True)
    assert ds.num_rows == 1 and report.skipped == {"bbox": 1, "size": 1}
    assert "row 2: image width/height must be positive numbers" in report.examples[1]


# --------------------------------------------------------------------------------------------
# Finding 8: empty inputs are errors naming the file (no benchmark split is empty)


@pytest.mark.parametrize("content", [b"", b"\n  \n", b"\xef\xbb\xbf"])
def test_empty_split_file_is_fatal(tmp_path: Path, content: bytes) -> None:
    root = dior(tmp_path, content)
    pattern = named(root / "test.txt") + r": empty split file \(no index\)"
    fatal_in_both_modes(pattern, load_dior(root))
    raises_exactly(ValueError, pattern, lambda: read_split_indices(root / "test.txt"))


@pytest.mark.parametrize(
    ("make", "load", "name"),
    [(records, load_records, "test.json"), (vrsbench, load_vrs, VRS_FILE)],
)
@pytest.mark.parametrize("content", [b"[]", b" [ ]\n"])
def test_empty_json_list_is_fatal(tmp_path: Path, make, load, name: str, content: bytes):
    root = make(tmp_path, content)
    fatal_in_both_modes(named(root / name) + r": empty JSON list", load(root))


@pytest.mark.parametrize(
    ("content", "lines"),
    [(b"", 0), (b"\n\n", 2), (b"image,x1,y1,x2,y2,expression\n", 1)],
)
def test_rsvg_hr_without_a_data_line_is_fatal(tmp_path: Path, content: bytes, lines: int):
    root = rsvg_hr(tmp_path, content)
    fatal_in_both_modes(
        named(root / "rsvg_hr_test.txt") + rf": no annotation line \({lines} line\(s\)",
        load_hr(root),
    )


def test_hub_split_without_rows_is_fatal(tmp_path: Path, monkeypatch) -> None:
    empty = datasets.Dataset.from_dict(
        {"image": [], "expression": [], "bbox": [], "width": [], "height": []}
    )
    monkeypatch.setattr(datasets, "load_dataset", lambda *args, **kwargs: empty)
    fatal_in_both_modes(
        r"^owner/empty split test: no rows; expected at least one record$",
        lambda mode: load_benchmark("owner/empty", split="test", on_error=mode),
    )


def test_hub_empty_parquet_error_names_the_dataset(tmp_path: Path) -> None:
    text = datasets.Value("string")
    repo = hub_repo(
        tmp_path,
        "empty",
        {"image": [], "expression": [], "bbox": []},
        {"image": text, "expression": text, "bbox": datasets.List(datasets.Value("float64"))},
    )
    raises_exactly(
        ValueError, rf"^{re.escape(repo)} split test: ", lambda: load_benchmark(repo, split="test")
    )


def test_a_reader_that_reads_nothing_is_an_error(tmp_path: Path, monkeypatch) -> None:
    def reads_nothing(req, *, dataset: str):
        req.report.source = str(req.root)
        return common.rows_to_dataset(req)

    monkeypatch.setitem(READERS, "records", reads_nothing)
    raises_exactly(
        ValueError,
        named(tmp_path) + r": no records in records split 'test'",
        lambda: load_benchmark("records", tmp_path, "test", dataset="x"),
    )


# --------------------------------------------------------------------------------------------
# Finding 8: only ASCII digits (int() and float() also read "٣" and "1_00")


@pytest.mark.parametrize("line", ["\u0663", "1_0", "\uff11", "\u0661\u0660"])
def test_split_file_refuses_digits_that_are_not_ascii(tmp_path: Path, line: str) -> None:
    root = dior(tmp_path, f"0\n{line}\n".encode())
    fatal_in_both_modes(
        named(root / "test.txt") + r" line 2: expected one non-negative integer \(a global object "
        r"index\) written with ASCII digits 0-9, got " + re.escape(repr(line)),
        load_dior(root),
    )


def test_split_file_index_with_too_many_digits_is_refused(tmp_path: Path) -> None:
    # 5000 digits: int() itself raised "Exceeds the limit (4300 digits)", naming no file
    root = dior(tmp_path, b"0\n" + b"9" * 5000 + b"\n")
    fatal_in_both_modes(named(root / "test.txt") + r" line 2: expected one", load_dior(root))


@pytest.mark.parametrize("value", ["\u0663", "1_0", "\u0661.\u0665", "\uff11"])
@pytest.mark.parametrize("tag", ["xmin", "ymax"])
def test_voc_box_refuses_digits_that_are_not_ascii(tmp_path: Path, value: str, tag: str):
    box = {"xmin": "1", "ymin": "1", "xmax": "50", "ymax": "50", tag: value}
    root = dior(tmp_path, b"0\n1\n", objects=[("1", "1", "5", "5"), tuple(box.values())])
    one_bad_record(
        r"^Annotations/00001\.xml object 1 \(global index 1 of test\.txt\): "
        rf"<bndbox><{tag}> must be a number written with ASCII digits 0-9 .* got "
        + re.escape(repr(value)),
        "bbox",
        load_dior(root),
        kept=1,
    )


@pytest.mark.parametrize("value", ["\u0668\u0660\u0660", "8_00", "\uff18\uff10\uff10"])
def test_voc_size_refuses_digits_that_are_not_ascii(tmp_path: Path, value: str) -> None:
    root = dior(tmp_path, b"0\n", size=("800", value))
    err = raises_exactly(
        RecordError,
        r"^Annotations/00001\.xml object 0 \(global index 0 of test\.txt\): <size><height> must "
        r"be a positive integer written with ASCII digits 0-9, .* got " + re.escape(repr(value)),
        lambda: load_dior(root)("raise"),
    )
    assert err.kind == "size"


@pytest.mark.parametrize("value", ["\u0663", "1_0", "\u0661.5"])
def test_rsvg_hr_refuses_coordinates_that_are_not_ascii(tmp_path: Path, value: str) -> None:
    root = rsvg_hr(tmp_path, GOOD_HR + f"b.jpg,{value},2,30,40,the car\n".encode())
    one_bad_record(
        r"^rsvg_hr_test\.txt line 2: coordinate 1 must be a number, got " + re.escape(repr(value)),
        "bbox",
        load_hr(root),
        kept=1,
    )


def test_vrsbench_box_refuses_digits_that_are_not_ascii(tmp_path: Path) -> None:
    bad = GOOD_VRS.replace("<1>", "<\u0663>")
    root = vrsbench(tmp_path, f"[{GOOD_VRS}, {bad}]".encode())
    one_bad_record(
        r"^VRSBench_EVAL_referring\.json record 1: expected a box string .*\(ASCII digits\)",
        "bbox",
        load_vrs(root),
        kept=1,
    )


@pytest.mark.parametrize(
    ("text", "value"),
    [(" 12.5 ", 12.5), ("-3e2", -300.0), (".5", 0.5), ("5.", 5.0), ("+7", 7.0), (800, 800.0)],
)
def test_number_reads_ascii_numbers(text, value: float) -> None:
    assert common.number(text, "x", "here") == value


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1_00", "must be a number written with ASCII digits"),
        ("\u0663", "must be a number written with ASCII digits"),
        ("\u0661\u0662.\u0665", "must be a number written with ASCII digits"),
        ("\uff11\uff12", "must be a number written with ASCII digits"),
        ("two", r"must be a number, got 'two'"),
        ("inf", "must be finite"),
        ("9" * 400, "must be finite"),
        (10**400, "must be finite"),  # was an OverflowError from float(int)
        (True, "must be a number"),
    ],
)
def test_number_refuses_what_is_not_an_ascii_finite_number(text, message: str) -> None:
    err = raises_exactly(
        RecordError, r"^here: x " + message, lambda: common.number(text, "x", "here")
    )
    assert err.kind == "bbox" and len(str(err)) < 400


def test_good_files_load_without_warnings(tmp_path: Path) -> None:
    """The hardening changes nothing on good input, line endings included."""
    root = rsvg_hr(
        tmp_path, b"a.jpg,1,2,30,40,the ship\r\nb.jpg,5,6,70,80,the car\rc.jpg,1,1,2,2,x\n"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ds = load_benchmark("rsvg_hr", root, "test")
        assert ds["source"] == [
            "rsvg_hr_test.txt:1",
            "rsvg_hr_test.txt:2",
            "rsvg_hr_test.txt:3",
        ]
        assert ds["expression"] == ["the ship", "the car", "x"]
        # a NEL or LINE SEPARATOR inside an expression does not split the line
        rsvg_hr(tmp_path, "a.jpg,1,2,30,40,the\u2028ship\x85here\n".encode())
        assert load_benchmark("rsvg_hr", root, "test").num_rows == 1
        recs = records(tmp_path, json.dumps([json.loads(GOOD_RECORD)] * 2).encode())
        assert load_benchmark("records", recs, "test", dataset="dior_rsvg").num_rows == 2
