"""Tests of rsground_lib.boxes: hand-checked literals, properties, and smart_resize against
transformers' own Qwen2-VL image processor."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rsground_lib import boxes as B

# A real DIOR-RSVG vehicle (39 x 26 px).
TARGET = [107, 236, 146, 262]


def shifted(box, d):
    return [v + d for v in box]


# ----------------------------------------------------------------------------- literals


@pytest.mark.parametrize(
    ("shift", "continuous", "inclusive"),
    [
        # +4 px: continuous inter 35*22 = 770, union 2*1014 - 770 = 1258 -> 0.6121;
        #        inclusive inter 36*23 = 828, union 2*1080 - 828 = 1332 -> 0.6216
        (4, 0.6121, 0.6216),
        # +8 px: continuous 31*18 = 558 / (2028 - 558) = 0.3796;
        #        inclusive 32*19 = 608 / (2160 - 608) = 0.3918
        (8, 0.3796, 0.3918),
    ],
)
def test_iou_dior_vehicle_literals(shift, continuous, inclusive):
    pred = shifted(TARGET, shift)
    assert round(B.iou(pred, TARGET), 4) == continuous
    assert round(B.iou(pred, TARGET, convention="inclusive"), 4) == inclusive
    assert round(B.iou(pred, TARGET, "continuous"), 4) == continuous


def test_iou_vrsbench_grid_literals():
    # 8x20 vs 7x20 (continuous): 140 / 160 = 0.875; inclusive 9x21 vs 8x21: 168 / 189
    assert B.iou([25, 40, 33, 60], [26, 40, 33, 60]) == pytest.approx(0.875)
    assert round(B.iou([25, 40, 33, 60], [26, 40, 33, 60], "inclusive"), 4) == 0.8889
    # a 1x4 box shifted by one unit: touching (0) vs sharing one column of 5 cells (5 / 15)
    assert B.iou([10, 10, 11, 14], [11, 10, 12, 14]) == 0.0
    assert round(B.iou([10, 10, 11, 14], [11, 10, 12, 14], "inclusive"), 4) == 0.3333


def test_giou_diou_literals():
    pred = shifted(TARGET, 4)
    # enclosing box [107, 236, 150, 266] = 43 x 30 = 1290, union 1258:
    # GIoU = 770/1258 - (1290 - 1258)/1290 = 0.612083 - 0.024806 = 0.587276
    assert B.giou(pred, TARGET) == pytest.approx(770 / 1258 - 32 / 1290, abs=1e-12)
    assert round(B.giou(pred, TARGET), 4) == 0.5873
    # rho^2 = 4^2 + 4^2 = 32, c^2 = 43^2 + 30^2 = 2749: DIoU = 0.612083 - 0.011641 = 0.600442
    assert B.diou(pred, TARGET) == pytest.approx(770 / 1258 - 32 / 2749, abs=1e-12)
    assert round(B.diou(pred, TARGET), 4) == 0.6004
    # inclusive: enclosing 44 x 31 = 1364, union 1332, c^2 = 44^2 + 31^2 = 2897
    assert B.giou(pred, TARGET, "inclusive") == pytest.approx(828 / 1332 - 32 / 1364, abs=1e-12)
    assert B.diou(pred, TARGET, "inclusive") == pytest.approx(828 / 1332 - 32 / 2897, abs=1e-12)
    # disjoint 10x10 boxes 10 px apart: C = 30 x 10 = 300, U = 200 -> GIoU = -100/300;
    # rho = 20, c^2 = 30^2 + 10^2 = 1000 -> DIoU = -400/1000
    a, b = [0, 0, 10, 10], [20, 0, 30, 10]
    assert B.giou(a, b) == pytest.approx(-1 / 3)
    assert B.diou(a, b) == pytest.approx(-0.4)
    assert B.center_distance(a, b) == pytest.approx(20.0)
    assert B.enclosing_diagonal(a, b) == pytest.approx(math.sqrt(1000))
    assert B.enclosing_diagonal(a, b, "inclusive") == pytest.approx(math.hypot(31, 11))


def test_identical_boxes():
    assert B.iou(TARGET, TARGET) == 1.0
    assert B.giou(TARGET, TARGET) == 1.0
    assert B.diou(TARGET, TARGET) == 1.0
    assert B.center_distance(TARGET, TARGET) == 0.0


def test_area_and_intersection_union():
    assert B.area(TARGET) == 39 * 26
    assert B.area(TARGET, "inclusive") == 40 * 27
    np.testing.assert_array_equal(B.area([[0, 0, 2, 3], [5, 5, 4, 9]]), [6.0, 0.0])
    inter, union = B.intersection_union(shifted(TARGET, 4), TARGET)
    assert (inter, union) == (770.0, 1258.0)


# ----------------------------------------------------------------------------- degenerate


def test_degenerate_boxes_never_divide_by_zero():
    point = [5, 5, 5, 5]
    line = [1, 1, 1, 5]
    with np.errstate(all="raise"):
        # continuous: zero area -> IoU 0, even with itself (documented choice)
        assert B.iou(point, point) == 0.0
        assert B.iou(line, line) == 0.0
        assert B.iou(line, [0, 0, 10, 10]) == 0.0
        assert B.giou(point, point) == 0.0
        assert B.diou(point, point) == 0.0
        # inclusive: x1 == x2 is one pixel wide, so identical boxes match
        assert B.iou(point, point, "inclusive") == 1.0
        assert B.iou(line, line, "inclusive") == 1.0
        # swapped corners are empty boxes
        assert B.iou([10, 10, 0, 0], [0, 0, 10, 10]) == 0.0
        assert B.iou([10, 10, 0, 0], [10, 10, 0, 0], "inclusive") == 0.0
    for f in (B.iou, B.giou, B.diou):
        v = f([3, 3, 1, 1], [0, 0, 0, 0])
        assert math.isfinite(v) and -1.0 <= v <= 1.0


def test_nan_propagates():
    assert math.isnan(B.iou([np.nan, 0, 1, 1], [0, 0, 1, 1]))
    out = B.iou([[np.nan, 0, 1, 1], [0, 0, 1, 1]], [0, 0, 1, 1])
    assert math.isnan(out[0]) and out[1] == 1.0


# ----------------------------------------------------------------------------- shapes


def test_shapes_and_broadcasting():
    preds = np.array([TARGET, shifted(TARGET, 4), shifted(TARGET, 8)], dtype=float)
    out = B.iou(preds, TARGET)
    assert isinstance(out, np.ndarray) and out.shape == (3,)
    np.testing.assert_allclose(out, [1.0, 770 / 1258, 558 / 1470])
    np.testing.assert_allclose(B.iou(TARGET, preds), out)
    assert isinstance(B.iou(TARGET, TARGET), float)
    assert B.iou(preds[:, None, :], preds[None, :, :]).shape == (3, 3)
    assert B.iou([TARGET], [TARGET]).shape == (1,)
    assert B.iou(np.zeros((0, 4)), TARGET).shape == (0,)
    assert B.centers(preds).shape == (3, 2)


def test_chunked_path_matches_small_path():
    rng = np.random.default_rng(3)
    n = B.CHUNK_ROWS * 2 + 17
    a = rng.uniform(0, 100, (n, 4))
    b = rng.uniform(0, 100, (n, 4))
    for f in (B.iou, B.giou, B.diou, B.center_distance):
        big = f(a, b)
        small = np.array([f(x, y) for x, y in zip(a[:50], b[:50], strict=True)])
        np.testing.assert_allclose(big[:50], small)
        np.testing.assert_allclose(big[-5:], [f(x, y) for x, y in zip(a[-5:], b[-5:], strict=True)])


@pytest.mark.parametrize(
    "bad", [[1, 2, 3], [[1, 2, 3, 4, 5]], "abcd", [[1, 2], [3, 4]], 5.0, [["a", 1, 2, 3]]]
)
def test_bad_shapes_are_value_errors(bad):
    with pytest.raises(ValueError, match="expected"):
        B.iou(bad, TARGET)


def test_shapes_that_do_not_broadcast():
    with pytest.raises(ValueError, match="broadcast"):
        B.iou(np.zeros((3, 4)), np.zeros((2, 4)))


def test_unknown_convention():
    with pytest.raises(ValueError, match="continuous.*inclusive"):
        B.iou(TARGET, TARGET, convention="pixel")
    with pytest.raises(ValueError, match="convention"):
        B.area(TARGET, "voc")


# ----------------------------------------------------------------------------- validity


def test_validity_checks():
    b = [[0, 0, 10, 10], [5, 5, 2, 9], [0, 0, np.inf, 1], [-1, 0, 5, 5], [0, 0, 100, 50]]
    np.testing.assert_array_equal(B.is_finite(b), [True, True, False, True, True])
    np.testing.assert_array_equal(B.is_ordered(b), [True, False, False, True, True])
    np.testing.assert_array_equal(B.is_valid(b), [True, False, False, True, True])
    np.testing.assert_array_equal(B.is_valid(b, (100, 50)), [True, False, False, False, True])
    # inclusive pixels of a 100x50 image run 0..99, 0..49
    np.testing.assert_array_equal(
        B.is_valid(b, (100, 50), "inclusive"), [True, False, False, False, False]
    )
    assert B.is_valid([0, 0, 1, 1]) is True
    assert B.finite_rows(np.asfortranarray(np.array(b, dtype=float))).tolist() == [
        True,
        True,
        False,
        True,
        True,
    ]


def test_clip_and_normalize():
    b = [[-5, -5, 120, 40], [10, 60, 20, 70]]
    np.testing.assert_array_equal(
        B.clip_to_image(b, (100, 50)), [[0, 0, 100, 40], [10, 50, 20, 50]]
    )
    np.testing.assert_array_equal(
        B.clip_to_image(b, (100, 50), "inclusive"), [[0, 0, 99, 40], [10, 49, 20, 49]]
    )
    np.testing.assert_array_equal(B.normalize_corners([30, 40, 10, 5]), [10, 5, 30, 40])
    with pytest.raises(ValueError, match="width, height"):
        B.clip_to_image(b, (0, 50))


# ----------------------------------------------------------------------------- properties

coord = st.floats(-1e4, 1e4, allow_nan=False, allow_infinity=False)
side = st.floats(0.5, 1e3, allow_nan=False, allow_infinity=False)


@st.composite
def valid_box(draw):
    x, y, w, h = draw(coord), draw(coord), draw(side), draw(side)
    return [x, y, x + w, y + h]


any_box = st.lists(coord, min_size=4, max_size=4)


@settings(max_examples=300, deadline=None)
@given(any_box, any_box, st.sampled_from(B.CONVENTIONS))
def test_iou_symmetric_and_bounded(a, b, convention):
    ab, ba = B.iou(a, b, convention), B.iou(b, a, convention)
    assert ab == pytest.approx(ba, abs=1e-12)
    assert 0.0 <= ab <= 1.0
    for f in (B.giou, B.diou):
        v = f(a, b, convention)
        assert math.isfinite(v) and -1.0 <= v <= 1.0
        assert v <= B.iou(a, b, convention) + 1e-12


@settings(max_examples=300, deadline=None)
@given(valid_box(), valid_box())
def test_iou_one_only_for_equal_boxes(a, b):
    assert B.iou(a, a) == 1.0
    # IoU == 1 only when the boxes are equal (up to floating-point rounding of the corners)
    if B.iou(a, b) == 1.0:
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-9 * (1 + max(map(abs, a + b))))


@settings(max_examples=200, deadline=None)
@given(valid_box(), valid_box())
def test_vectorised_equals_scalar(a, b):
    many = B.iou(np.array([a, b, a]), np.array([b, b, a]))
    assert many.tolist() == pytest.approx([B.iou(a, b), 1.0, 1.0])


# ----------------------------------------------------------------------------- model pixels


def test_smart_resize_rule_by_hand():
    # 70 / 28 = 2.5 rounds to even (2): 56 x 56 = 3136 = min_pixels, so no upscale
    assert B.smart_resize(70, 70) == (56, 56)
    assert B.smart_resize(50, 50) == (56, 56)
    # 800 / 28 = 28.57 -> 29 * 28 = 812, 812^2 = 659344 < 1003520
    assert B.smart_resize(800, 800) == (812, 812)
    # above max_pixels: beta = sqrt(9000*7000 / 1003520), floor each side to 28
    assert B.smart_resize(7000, 9000) == (868, 1120)
    assert B.smart_resize(7000, 9000, max_pixels=B.QWEN25VL_MAX_PIXELS) == (3136, 4060)
    assert B.model_size((9000, 7000)) == (1120, 868)
    with pytest.raises(ValueError, match="aspect ratio"):
        B.smart_resize(10, 3000)
    with pytest.raises(ValueError, match="positive integer"):
        B.smart_resize(0, 10)
    with pytest.raises(ValueError, match="min_pixels"):
        B.smart_resize(100, 100, min_pixels=10, max_pixels=5)


SIZES = [
    (50, 50),
    (70, 70),
    (112, 224),
    (224, 112),
    (800, 800),
    (1024, 768),
    (30, 4000),
    (2000, 1500),
    (801, 599),
]


def _processor(min_pixels, max_pixels):
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import (
        Qwen2VLImageProcessorPil,
    )

    return Qwen2VLImageProcessorPil(min_pixels=min_pixels, max_pixels=max_pixels)


def _grid_hw(processor, width, height):
    from PIL import Image

    out = processor(images=Image.new("RGB", (width, height)), return_tensors="np")
    _, gh, gw = (int(v) for v in out["image_grid_thw"][0])
    return gh * 14, gw * 14


@pytest.mark.parametrize(
    ("min_pixels", "max_pixels"),
    [
        (B.QWEN2VL_MIN_PIXELS, B.QWEN2VL_MAX_PIXELS),
        (56 * 56, 256 * 28 * 28),
        (128 * 28 * 28, 512 * 28 * 28),
    ],
)
def test_smart_resize_matches_transformers(min_pixels, max_pixels):
    processor = _processor(min_pixels, max_pixels)
    for width, height in SIZES:
        ours = B.smart_resize(height, width, min_pixels=min_pixels, max_pixels=max_pixels)
        assert ours == _grid_hw(processor, width, height), (width, height)


@pytest.mark.slow
def test_smart_resize_matches_transformers_large_images():
    for max_pixels in (B.QWEN2VL_MAX_PIXELS, B.QWEN25VL_MAX_PIXELS):
        processor = _processor(B.QWEN2VL_MIN_PIXELS, max_pixels)
        for width, height in [(9000, 7000), (4000, 3500)]:
            ours = B.smart_resize(height, width, max_pixels=max_pixels)
            assert ours == _grid_hw(processor, width, height), (width, height, max_pixels)


def test_model_pixel_round_trip():
    rng = np.random.default_rng(0)
    for orig in [(800, 800), (1024, 768), (9000, 7000), (30, 4000), (512, 512)]:
        model = B.model_size(orig)
        xy = rng.uniform(0, 1, (50, 2)) * orig
        wh = rng.uniform(0, 0.3, (50, 2)) * orig
        bbox = np.concatenate([xy, np.minimum(xy + wh, orig)], axis=1)
        bbox_model = B.to_model_pixels(bbox, orig, model)
        assert np.all(bbox_model[:, 2] <= model[0] + 1e-9)
        back = B.to_original_pixels(bbox_model, orig, model)
        np.testing.assert_allclose(back, bbox, atol=1e-9)
        # integer model pixels (what the model writes) come back within one original pixel
        # wherever a model pixel is at most one original pixel wide (upscaled or ~same size)
        back_int = B.to_original_pixels(np.round(bbox_model), orig, model)
        scale = max(orig[0] / model[0], orig[1] / model[1])
        assert np.abs(back_int - bbox).max() <= 0.5 * scale + 1e-9
        if scale <= 2:
            assert np.abs(back_int - bbox).max() <= 1.0


def test_rescale_literal_and_per_row_sizes():
    # 1024x768 -> 1036x756: x * 1036/1024, y * 756/768
    np.testing.assert_allclose(
        B.to_model_pixels([1024, 768, 1024, 768], (1024, 768), (1036, 756)), [1036, 756, 1036, 756]
    )
    bb = np.array([[10, 10, 20, 20], [10, 10, 20, 20]], dtype=float)
    out = B.to_model_pixels(bb, [(100, 100), (200, 100)], [(200, 200), (200, 200)])
    np.testing.assert_allclose(out, [[20, 20, 40, 40], [10, 20, 20, 40]])
    with pytest.raises(ValueError, match="width, height"):
        B.to_model_pixels(bb, (100, -1), (200, 200))


def test_as_size_is_the_one_whole_pixel_size_check():
    assert B.as_size((800, 600)) == (800, 600)
    assert B.as_size([np.int64(64), 48.0]) == (64, 48)  # whole floats and numpy ints
    for bad in [(224.9, 224), (0, 5), (-1, 5), (True, 5), (5,), (1, 2, 3), 5, "64x64",
                (float("nan"), 5), (float("inf"), 5), ("64", 64)]:  # fmt: skip
        with pytest.raises(ValueError, match=r"^size: expected \(width, height\), two positive"):
            B.as_size(bad, "size")
    assert B.as_size((4096, 1), max_side=4096) == (4096, 1)
    with pytest.raises(ValueError, match=r"at most 4,096; got \(4097, 1\)"):
        B.as_size((4097, 1), max_side=4096)
    # the model-input size refuses a fractional original size instead of truncating it
    with pytest.raises(ValueError, match="orig_size: expected"):
        B.model_size((812.5, 812))
