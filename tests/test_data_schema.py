"""The common record: features, validation (types, geometry, the degenerate / outside
policies) and the conversion to a ``datasets.Dataset``."""

from __future__ import annotations

import math

import datasets
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rsground_lib.data.schema import (
    REQUIRED_COLUMNS,
    RecordError,
    SkipRecord,
    record_features,
    records_to_dataset,
    validate_record,
)


def make(**overrides):
    rec = {
        "id": "toy/test/0",
        "dataset": "toy",
        "split": "test",
        "image": "/images/00001.jpg",
        "width": 800,
        "height": 600,
        "expression": "the ship on the left",
        "bbox": [10.0, 20.0, 110.0, 220.0],
        "category": "ship",
        "cues": ["absolute"],
    }
    rec.update(overrides)
    return rec


def test_features_columns_and_types() -> None:
    features = record_features()
    assert list(features) == list(REQUIRED_COLUMNS)
    assert features["image"] == datasets.Value("string")
    assert features["bbox"] == datasets.List(datasets.Value("float64"), length=4)
    assert features["width"] == datasets.Value("int32")
    assert features["cues"] == datasets.List(datasets.Value("string"))
    assert isinstance(record_features(image="image")["image"], datasets.Image)
    extra = record_features(extra={"unique": datasets.Value("bool")})
    assert list(extra)[-1] == "unique"


def test_features_errors() -> None:
    with pytest.raises(ValueError, match="image must be one of"):
        record_features(image="pixels")
    with pytest.raises(ValueError, match="clashes"):
        record_features(extra={"bbox": datasets.Value("string")})


def test_valid_record_has_no_flags() -> None:
    assert validate_record(make(), "rec 0") == ()
    assert validate_record(make(category=None, cues=[]), "rec 0") == ()
    assert validate_record(make(image={"path": "/x.png", "bytes": None}), "rec 0") == ()


@pytest.mark.parametrize(
    ("overrides", "kind", "fragment"),
    [
        ({"id": ""}, "type", "id must be a non-empty string"),
        ({"expression": "   "}, "type", "expression must be a non-empty string"),
        ({"image": ""}, "type", "image must be a non-empty path"),
        ({"image": {"path": None, "bytes": None}}, "type", "path or bytes"),
        ({"width": 800.0}, "size", "width must be a positive int"),
        ({"height": 0}, "size", "height must be a positive int"),
        ({"width": True}, "size", "width must be a positive int"),
        ({"category": 3}, "type", "category must be a string or None"),
        ({"cues": "absolute"}, "type", "cues must be a list of strings"),
        ({"bbox": [1, 2, 3]}, "bbox", "4 numbers"),
        ({"bbox": [1, 2, 3, "4"]}, "bbox", "4 numbers"),
        ({"bbox": [1, 2, 3, True]}, "bbox", "4 numbers"),
        ({"bbox": [1, 2, math.nan, 4]}, "bbox", "finite"),
        ({"bbox": [1, 2, math.inf, 4]}, "bbox", "finite"),
        ({"bbox": [50, 2, 10, 4]}, "inverted", "x1 <= x2"),
        ({"bbox": [5, 40, 10, 4]}, "inverted", "y1 <= y2"),
    ],
)
def test_bad_records_say_where_and_what(overrides, kind, fragment) -> None:
    with pytest.raises(RecordError) as info:
        validate_record(make(**overrides), "file.json record 7")
    assert info.value.kind == kind
    assert str(info.value).startswith("file.json record 7: ")
    assert fragment in str(info.value)
    assert not isinstance(info.value, SkipRecord)


def test_missing_column_and_non_mapping() -> None:
    rec = make()
    del rec["cues"]
    with pytest.raises(RecordError, match=r"missing column\(s\) \['cues'\]"):
        validate_record(rec, "r")
    with pytest.raises(RecordError, match="expected a record"):
        validate_record([1, 2], "r")  # type: ignore[arg-type]


def test_degenerate_policies() -> None:
    zero_width = make(bbox=[10.0, 20.0, 10.0, 220.0])
    assert validate_record(zero_width, "r") == ("degenerate",)
    assert validate_record(make(bbox=[10, 20, 30, 20]), "r", degenerate="keep") == ("degenerate",)
    with pytest.raises(SkipRecord, match="degenerate"):
        validate_record(zero_width, "r", degenerate="skip")
    with pytest.raises(RecordError, match="degenerate") as info:
        validate_record(zero_width, "r", degenerate="error")
    assert not isinstance(info.value, SkipRecord)
    with pytest.raises(ValueError, match="degenerate must be one of"):
        validate_record(zero_width, "r", degenerate="fix")


def test_outside_policies_and_tolerance() -> None:
    # the image is 800 x 600: x2 = 800.5 is within the default 1 px, 805 is not
    assert validate_record(make(bbox=[0, 0, 800.5, 600]), "r") == ()
    assert validate_record(make(bbox=[-0.9, 0, 10, 10]), "r") == ()
    beyond = make(bbox=[700, 500, 805, 600])
    with pytest.raises(RecordError, match="outside the 800x600 image by more than 1 px") as info:
        validate_record(beyond, "r")
    assert info.value.kind == "outside"
    assert validate_record(beyond, "r", tolerance_px=10) == ()
    assert validate_record(beyond, "r", outside="keep") == ("outside",)
    with pytest.raises(SkipRecord):
        validate_record(beyond, "r", outside="skip")
    with pytest.raises(RecordError, match="outside"):
        validate_record(make(bbox=[10, 10, 20, 603]), "r")
    with pytest.raises(ValueError, match="tolerance_px"):
        validate_record(beyond, "r", tolerance_px=-1)
    with pytest.raises(ValueError, match="outside must be one of"):
        validate_record(beyond, "r", outside="clip")


def test_both_flags_are_reported() -> None:
    rec = make(bbox=[900.0, 10.0, 900.0, 20.0])
    assert validate_record(rec, "r", outside="keep") == ("degenerate", "outside")


coord = st.floats(min_value=0, max_value=1000, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(coord, coord, coord, coord, st.integers(1, 5000), st.integers(1, 5000))
def test_property_ordered_boxes_inside_are_valid(a, b, c, d, w, h) -> None:
    x1, x2 = sorted((a * w / 1000, c * w / 1000))
    y1, y2 = sorted((b * h / 1000, d * h / 1000))
    flags = validate_record(make(width=w, height=h, bbox=[x1, y1, x2, y2]), "r")
    assert flags in ((), ("degenerate",))
    assert (flags == ("degenerate",)) == (x1 == x2 or y1 == y2)


@settings(max_examples=200, deadline=None)
@given(coord, coord, coord, coord)
def test_property_inverted_always_raises(a, b, c, d) -> None:
    if a == c and b == d:
        return
    x1, x2 = sorted((a, c), reverse=True)
    y1, y2 = sorted((b, d), reverse=True)
    if x1 == x2 and y1 == y2:
        return
    with pytest.raises(RecordError) as info:
        validate_record(make(width=2000, height=2000, bbox=[x1, y1, x2, y2]), "r")
    assert info.value.kind == "inverted"


def test_records_to_dataset_features_and_values() -> None:
    rows = [make(id=f"toy/test/{i}", source=f"f.json[{i}]") for i in range(3)]
    ds = records_to_dataset(rows)
    assert ds.num_rows == 3
    assert list(ds.features)[: len(REQUIRED_COLUMNS)] == list(REQUIRED_COLUMNS)
    assert ds.features["source"] == datasets.Value("string")
    assert ds[1]["id"] == "toy/test/1"
    assert ds[0]["bbox"] == [10.0, 20.0, 110.0, 220.0]


def test_records_to_dataset_image_feature_is_lazy(tmp_path) -> None:
    missing = str(tmp_path / "not-there.png")
    ds = records_to_dataset([make(image=missing)], image="image")
    assert isinstance(ds.features["image"], datasets.Image)
    raw = ds.cast_column("image", datasets.Image(decode=False))[0]["image"]
    assert raw["path"] == missing and raw["bytes"] is None


def test_records_to_dataset_objects_and_extras() -> None:
    objects = [{"category": "ship", "bbox": [1.0, 2.0, 3.0, 4.0]}]
    ds = records_to_dataset(
        [make(objects=objects, unique=True)], extra_features={"unique": datasets.Value("bool")}
    )
    assert ds[0]["objects"] == objects
    assert ds.features["unique"] == datasets.Value("bool")
    explicit = datasets.List(
        {
            "category": datasets.Value("string"),
            "bbox": datasets.List(datasets.Value("float32"), length=4),
        }
    )
    ds = records_to_dataset([make(objects=objects)], objects_feature=explicit)
    assert ds.features["objects"] == explicit


def test_records_to_dataset_validates_and_never_drops() -> None:
    rows = [make(), make(id="toy/test/1", bbox=[5, 5, 1, 1])]
    with pytest.raises(RecordError, match=r"record 1 \(id 'toy/test/1'\).*inverted"):
        records_to_dataset(rows)
    with pytest.raises(RecordError, match="never drops rows"):
        records_to_dataset([make(bbox=[5, 5, 5, 9])], degenerate="skip")
    assert records_to_dataset([make(bbox=[5, 5, 5, 9])]).num_rows == 1
    with pytest.raises(RecordError, match="same columns"):
        records_to_dataset([make(), make(extra=1)])


def test_records_to_dataset_empty() -> None:
    ds = records_to_dataset([])
    assert ds.num_rows == 0
    assert list(ds.features) == list(REQUIRED_COLUMNS)


def test_info_description_is_kept_on_the_dataset():
    from rsground_lib.data.schema import records_to_dataset

    rec = {
        "id": "x/0",
        "dataset": "x",
        "split": "test",
        "image": "a.png",
        "width": 10,
        "height": 10,
        "expression": "the car",
        "bbox": [1.0, 1.0, 5.0, 5.0],
        "category": None,
        "cues": ["none"],
    }
    ds = records_to_dataset([rec], image="path", info_description='{"note": "kept"}')
    assert ds.info.description == '{"note": "kept"}'
    assert ds[0]["bbox"] == [1.0, 1.0, 5.0, 5.0]
