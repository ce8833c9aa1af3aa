"""Grounding in a raster (:mod:`rsground_lib.geo`): windows, bands, nodata, coordinates,
the answer's place in the full raster, and the GeoJSON / GeoPackage written."""

from __future__ import annotations

import dataclasses
import math

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import torch
from affine import Affine
from rasterio.transform import from_origin, rowcol, xy

from rsground_lib import generation, geo, models, prompts
from rsground_lib.data import base_scenes, scene_raster

REAL_RASTERS = ("geotiff/RGB.byte.tif", "geotiff/rgbn_suba.tif", "aerial_boxes/OSBS_029.tif")


def _write(path, data, *, crs="EPSG:32631", transform=None, nodata=None, colorinterp=None):
    data = np.asarray(data)
    profile = {
        "driver": "GTiff",
        "width": data.shape[2],
        "height": data.shape[1],
        "count": data.shape[0],
        "dtype": str(data.dtype),
    }
    if crs is not None:
        profile["crs"] = crs
        profile["transform"] = transform or from_origin(500000.0, 4000000.0, 0.5, 0.5)
    if nodata is not None:
        profile["nodata"] = nodata
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(data)
        if colorinterp is not None:
            ds.colorinterp = colorinterp
    return path


@pytest.fixture(scope="module")
def tiny():
    torch.set_num_threads(1)
    return models.load_model("checkpoints/tiny-base")


# ----------------------------------------------------------------------------- coordinates


@pytest.mark.parametrize("name", REAL_RASTERS)
def test_pixel_map_pixel_round_trip_on_real_rasters(real_data, name):
    info = geo.open_raster(real_data / name)
    t, w, h = info.transform, info.width, info.height
    assert info.georeferenced and info.georef_source == "geotransform"
    rng = np.random.default_rng(0)
    for col, row in zip(rng.integers(0, w, 50), rng.integers(0, h, 50), strict=True):
        # the centre of pixel (row, col) goes to the map and back to the same pixel ...
        mx, my = geo.pixel_to_map(t, col + 0.5, row + 0.5)
        assert (mx, my) == pytest.approx(xy(t, row, col))  # rasterio's own pixel centre
        assert rowcol(t, mx, my) == (row, col)
        # ... and the continuous inverse is within half a pixel (here: to rounding error)
        x, y = geo.map_to_pixel(t, mx, my)
        assert abs(x - (col + 0.5)) < 0.5 and abs(y - (row + 0.5)) < 0.5
        assert (x, y) == pytest.approx((col + 0.5, row + 0.5), abs=1e-6)


def test_corner_of_the_landsat_scene_is_its_geotransform_origin(real_data):
    with rasterio.open(real_data / "geotiff/RGB.byte.tif") as ds:
        t = ds.transform
    assert geo.pixel_to_map(t, 0, 0) == pytest.approx((101985.0, 2826915.0))
    # one pixel right and one down: +300.0379 m east, -300.0417 m north (the file's pixel size)
    assert geo.pixel_to_map(t, 1, 1) == pytest.approx((101985.0 + t.a, 2826915.0 + t.e))


def test_box_polygon_maps_corners_through_a_rotated_transform():
    t = Affine.translation(1000.0, 2000.0) @ Affine.rotation(90.0) @ Affine.scale(2.0, 2.0)
    poly = geo.box_polygon([0, 0, 10, 5], t)
    # x (columns) turns to map +y, y (rows) to map -x: the corners by hand
    corners = np.asarray(poly.exterior.coords)[:4]
    np.testing.assert_allclose(
        corners, [[1000, 2000], [1000, 2020], [990, 2020], [990, 2000]], atol=1e-9
    )
    assert poly.area == pytest.approx(10 * 5 * 4)
    assert list(geo.box_polygon([1, 2, 3, 4]).exterior.coords)[:4] == [
        (1, 2),
        (3, 2),
        (3, 4),
        (1, 4),
    ]


# ----------------------------------------------------------------------------- windows


def test_plan_windows_literal():
    wins = geo.plan_windows(2000, 1000, tile=800, overlap=0.2)
    # stride floor(800 * 0.8) = 640: columns 0, 640, then 1200 (flush with the edge); rows 0, 200
    assert [(w.col_off, w.row_off) for w in wins] == [
        (0, 0), (640, 0), (1200, 0), (0, 200), (640, 200), (1200, 200)
    ]  # fmt: skip
    assert {(w.width, w.height) for w in wins} == {(800, 800)}
    assert geo.plan_windows(300, 200, tile=800) == [geo.Tile(0, 0, 300, 200)]
    assert geo.plan_windows(800, 800, tile=800) == [geo.Tile(0, 0, 800, 800)]


@pytest.mark.parametrize("seed", range(20))
def test_windows_cover_the_raster_with_the_overlap_and_stay_inside(seed):
    rng = np.random.default_rng(seed)
    w, h = (int(v) for v in rng.integers(1, 3000, 2))
    tile = int(rng.integers(16, 900))
    overlap = float(rng.choice([0.0, 0.1, 0.2, 0.5, 0.9]))
    wins = geo.plan_windows(w, h, tile, overlap)
    covered = np.zeros((h, w), dtype=bool)
    for t in wins:
        assert t.col_off >= 0 and t.row_off >= 0
        assert t.col_off + t.width <= w and t.row_off + t.height <= h
        assert (t.width, t.height) == (min(tile, w), min(tile, h))
        covered[t.row_off : t.row_off + t.height, t.col_off : t.col_off + t.width] = True
    assert covered.all()
    for offs, size in (
        (sorted({t.col_off for t in wins}), min(tile, w)),
        (sorted({t.row_off for t in wins}), min(tile, h)),
    ):
        for a, b in zip(offs, offs[1:], strict=False):
            assert a + size - b >= overlap * tile - 1e-9  # shared pixels between neighbours


def test_plan_windows_refuses_bad_arguments():
    with pytest.raises(geo.RasterError, match="overlap"):
        geo.plan_windows(100, 100, 64, 1.0)
    with pytest.raises(geo.RasterError, match="tile"):
        geo.plan_windows(100, 100, 0)


# ----------------------------------------------------------------------------- bands, nodata


def test_band_choice(real_data, tmp_path):
    rgbn = geo.open_raster(real_data / "geotiff/rgbn_suba.tif")
    assert rgbn.count == 4 and geo.choose_bands(rgbn) == (1, 2, 3)
    assert geo.choose_bands(rgbn, "4") == (4, 4, 4)
    assert geo.choose_bands(rgbn, "4,3,2") == (4, 3, 2)
    with pytest.raises(
        geo.RasterError, match=r"rgbn_suba.tif: band 5 does not exist \(the raster has 4 bands\)"
    ):
        geo.choose_bands(rgbn, [1, 2, 5])
    with pytest.raises(geo.RasterError, match="1 band .* or 3 bands"):
        geo.choose_bands(rgbn, "1,2")
    with pytest.raises(geo.RasterError, match="band numbers"):
        geo.choose_bands(rgbn, "red")
    from rasterio.enums import ColorInterp as CI

    bgr = _write(
        tmp_path / "bgr.tif", np.zeros((3, 8, 8), np.uint8), colorinterp=[CI.blue, CI.green, CI.red]
    )
    assert geo.choose_bands(geo.open_raster(bgr)) == (3, 2, 1)
    grey = _write(tmp_path / "grey.tif", np.zeros((1, 8, 8), np.uint8))
    assert geo.choose_bands(geo.open_raster(grey)) == (1, 1, 1)
    two = _write(tmp_path / "two.tif", np.zeros((2, 8, 8), np.uint8))
    with pytest.raises(geo.RasterError, match="two.tif: 2 bands"):
        geo.choose_bands(geo.open_raster(two))


def test_nodata_border_is_masked_and_counted(real_data):
    path = real_data / "geotiff/RGB.byte.tif"
    with rasterio.open(path) as ds:
        corner, share = geo.read_window(ds, geo.Tile(0, 0, 64, 64), (1, 2, 3))
        assert share == 0.0 and np.asarray(corner).max() == 0  # the nodata border
        centre, share = geo.read_window(ds, geo.Tile(360, 330, 64, 64), (1, 2, 3))
        assert share == 1.0
        ref = ds.read([1, 2, 3], window=rasterio.windows.Window(360, 330, 64, 64))
    assert centre.size == (64, 64) and centre.mode == "RGB"
    np.testing.assert_array_equal(np.moveaxis(np.asarray(centre), -1, 0), ref)


def test_uint16_is_stretched_between_percentiles(tmp_path):
    data = np.tile(np.arange(0, 1000, dtype=np.uint16).reshape(1, 10, 100), (3, 1, 1))
    path = _write(tmp_path / "u16.tif", data, nodata=0)
    info = geo.open_raster(path)
    assert info.dtypes == ("uint16",) * 3
    with rasterio.open(path) as ds:
        (lo, hi), *_ = geo.stretch_limits(ds, (1, 2, 3), percentiles=(0, 100))
        # valid values 1..999 (0 is nodata): 1 -> 0 and 999 -> 255
        assert (lo, hi) == (1.0, 999.0)
        image, share = geo.read_window(ds, geo.Tile(0, 0, 100, 10), (1, 2, 3), [(lo, hi)] * 3)
    arr = np.asarray(image)[..., 0]
    assert share == pytest.approx(999 / 1000)
    assert arr[0, 0] == 0 and arr[0, 1] == 0 and arr[9, 99] == 255
    assert arr[5, 50] == round((550 - 1) / 998 * 255)  # value 550, linear in between


# ----------------------------------------------------------------------------- answers


def test_window_box_to_raster_literal():
    t = geo.Tile(100, 200, 128, 128)
    # a 64-px model input of a 128-px window: x2 scale, then the window's offset
    assert geo.window_box_to_raster([8, 8, 16, 24], t, (64, 64)) == [116.0, 216.0, 132.0, 248.0]
    # clipped to the window
    assert geo.window_box_to_raster([-4, 60, 70, 64], t, (64, 64)) == [100.0, 320.0, 228.0, 328.0]


def test_merge_candidates_keeps_the_best_and_counts_support():
    t = geo.Tile(0, 0, 10, 10)
    cands = [
        geo.Answer([0, 0, 10, 10], -0.5, t),
        geo.Answer([1, 0, 11, 10], -0.1, t),  # IoU 9/11 with the first: merged into it
        geo.Answer([50, 50, 60, 60], -0.3, t),
    ]
    kept = geo.merge_candidates(cands, iou=0.5, top_k=5)
    assert [(a.box, a.score, a.support, a.rank) for a in kept] == [
        ([1, 0, 11, 10], -0.1, 2, 1),
        ([50, 50, 60, 60], -0.3, 1, 2),
    ]
    assert [a.rank for a in geo.merge_candidates(cands, top_k=1)] == [1]
    assert len(geo.merge_candidates(cands, iou=0.95, top_k=5)) == 3


def test_answer_span():
    assert prompts.answer_span("<think>a</think><answer>[1, 2, 3, 4]</answer>") == (16, 45)
    assert prompts.answer_span("x <answer>[1, 2") == (2, 15)
    assert prompts.answer_span("[1, 2, 3, 4]") is None


def test_generate_scored_is_greedy_and_its_score_is_the_answers_log_probability(tiny):
    model, proc = tiny
    recs = base_scenes.make_records(3, seed=5, max_objects=3, mode="mixed")
    for r in recs:
        r.pop("bbox")  # inference records: no target
    scored = generation.generate_scored(
        model, proc, recs, batch_size=2, max_new_tokens=24, prompt_style="compact"
    )
    texts, _ = generation.generate_answers(
        model, proc, recs, batch_size=3, max_new_tokens=24, prompt_style="compact"
    )
    assert [s[0] for s in scored] == texts
    # teacher-forced check of the first: the mean log-probability of the answer's tokens
    from rsground_lib import conversation

    ex = conversation.grounding_example(recs[0], proc, prompt_style="compact")
    enc = conversation.prompt_inputs(proc, [ex])
    tok = proc.tokenizer
    ans = tok(texts[0], add_special_tokens=False)["input_ids"] + [
        model.generation_config.eos_token_id
    ]
    ids = torch.cat([enc["input_ids"], torch.tensor([ans])], dim=1)
    mask = torch.ones_like(ids)
    with torch.no_grad():
        logits = model(**{**enc, "input_ids": ids, "attention_mask": mask}).logits[0]
    n = enc["input_ids"].shape[1]
    lp = torch.log_softmax(logits[n - 1 : -1].float(), -1)[
        torch.arange(len(ans)), torch.tensor(ans)
    ]
    # the text is " <answer>[x1, y1, x2, y2]</answer>": a space token, the answer block's
    # tokens (the ones scored), then the end-of-sequence token
    assert texts[0].startswith(" <answer>") and tok.decode(ans[:1]) == " "
    assert scored[0][1] == pytest.approx(lp[1:-1].mean().item(), abs=1e-4)
    assert scored[0][1] != pytest.approx(lp.mean().item(), abs=1e-4)


def test_answer_token_range(tiny):
    tok = tiny[1].tokenizer
    ids = tok(" <answer>[1, 2, 3, 4]</answer> and more", add_special_tokens=False)["input_ids"]
    pieces = [tok.decode([i]) for i in ids]
    assert pieces[:2] == [" ", "<answer>"] and pieces[11] == "</answer>"
    assert generation.answer_token_range(tok, ids) == (1, 12)  # not the space, not " and more"
    ids = tok("<think>at [1, 2]</think>[5, 6, 7, 8]", add_special_tokens=False)["input_ids"]
    assert generation.answer_token_range(tok, ids) == (0, len(ids))  # no tag: every token
    ids = tok("x <answer>[5, 6", add_special_tokens=False)["input_ids"]  # unclosed: to the end
    assert generation.answer_token_range(tok, ids) == (2, len(ids))


def test_a_box_found_in_a_window_lands_at_its_place_in_the_raster(tiny, tmp_path):
    model, proc = tiny
    rec = base_scenes.make_records(1, seed=3, max_objects=1)[0]
    canvas = np.full((3, 192, 256), 90, np.uint8)
    canvas[:, 64:128, 128:192] = np.moveaxis(np.asarray(rec["image"]), -1, 0)  # window (128, 64)
    path = _write(tmp_path / "scene.tif", canvas)
    res = geo.ground_raster(path, rec["expression"], model, proc, tile=64, overlap=0.5,
                            top_k=3, prompt_style="compact", max_new_tokens=24, progress=False)  # fmt: skip
    # Every window is read and answered; an answer on a blank window may not parse (the tiny
    # base has no "nothing here" answer) and is counted, not dropped silently.
    assert len(res.windows) == 5 * 7 and res.skipped == []
    assert res.unparsed + len(res.candidates) == 5 * 7
    alone = generation.generate_scored(model, proc, [{k: rec[k] for k in ("image", "width", "height", "expression")}],
                                       max_new_tokens=24, prompt_style="compact")  # fmt: skip
    box_alone = prompts.parse_answer(alone[0][0])
    cand = next(c for c in res.candidates if (c.tile.col_off, c.tile.row_off) == (128, 64))
    assert cand.box == [
        box_alone[0] + 128,
        box_alone[1] + 64,
        box_alone[2] + 128,
        box_alone[3] + 64,
    ]
    assert cand.score == pytest.approx(alone[0][1], abs=1e-5)
    # the tiny base finds the lone ship in the window that holds the scene
    target = [rec["bbox"][0] + 128, rec["bbox"][1] + 64, rec["bbox"][2] + 128, rec["bbox"][3] + 64]
    from rsground_lib import boxes

    # (IoU 0.34 here: the ship is 8 x 4 px and the answers are on a 4-px grid)
    assert boxes.iou(np.asarray(cand.box), np.asarray(target)) > 0.3
    # the kept answer is the most confident window's (here another window, whose crop shows
    # part of the scene: the tiny base's confidence is not a reliable judge of windows)
    assert res.answers[0].score == max(c.score for c in res.candidates)


def test_geojson_and_geopackage_open_with_the_crs_and_one_feature_per_answer(tiny, tmp_path):
    model, proc = tiny
    rec = base_scenes.make_records(1, seed=3, max_objects=1)[0]
    t = from_origin(600000.0, 5000000.0, 2.0, 2.0)
    path = _write(
        tmp_path / "s.tif",
        np.moveaxis(np.asarray(rec["image"]), -1, 0),
        crs="EPSG:32632",
        transform=t,
    )
    res = geo.ground_raster(path, "the ship", model, proc, tile=32, overlap=0.0, top_k=3,
                            prompt_style="compact", max_new_tokens=24, progress=False)  # fmt: skip
    n = len(res.answers)  # four 32-px windows; the best three distinct answers are kept
    assert 1 <= n <= 3
    for suffix in (".geojson", ".gpkg"):
        out = geo.write_answers(res, tmp_path / f"a{suffix}", "tiny-base")
        g = gpd.read_file(out)
        assert g.crs.to_epsg() == 32632 and len(g) == n
        assert list(g["rank"]) == list(range(1, n + 1)) and set(g["coords"]) == {"map"}
        a = res.answers[0]
        minx, miny, maxx, maxy = g.geometry.iloc[0].bounds
        assert (minx, maxy) == pytest.approx((600000.0 + 2 * a.box[0], 5000000.0 - 2 * a.box[1]))
        assert (maxx, miny) == pytest.approx((600000.0 + 2 * a.box[2], 5000000.0 - 2 * a.box[3]))
        assert g["window"].iloc[0] == a.tile.label() and g["model"].iloc[0] == "tiny-base"
    with pytest.raises(
        geo.RasterError, match=r"a\.shp: cannot write '.shp'; use one of .geojson, .gpkg, .json"
    ):
        geo.write_answers(res, tmp_path / "a.shp")


def test_a_raster_without_georeferencing_answers_in_pixels(tiny, tmp_path):
    model, proc = tiny
    rec = base_scenes.make_records(1, seed=3, max_objects=1)[0]
    path = tmp_path / "plain.png"
    rec["image"].save(path)
    info = geo.open_raster(path)
    assert info.georeferenced is False and info.crs is None
    res = geo.ground_raster(path, "the ship", model, proc, tile=64, prompt_style="compact",
                            max_new_tokens=24, progress=False)  # fmt: skip
    g = gpd.read_file(geo.write_answers(res, tmp_path / "plain.gpkg"))
    assert g.crs is None and list(g["coords"]) == ["pixel"]
    assert g.geometry.iloc[0].bounds == pytest.approx(
        (res.answers[0].box[0], res.answers[0].box[1], res.answers[0].box[2], res.answers[0].box[3])
    )
    # GeoJSON has no "no CRS" (RFC 7946 means WGS 84): its readers would put the pixel boxes
    # near longitude 0, latitude 0, so it is refused with the fix, and nothing is written
    with pytest.raises(
        geo.RasterError,
        match=r"plain.geojson: the raster has no georeferencing.*write a .gpkg instead",
    ):
        geo.write_answers(res, tmp_path / "plain.geojson")
    assert not (tmp_path / "plain.geojson").exists()


def test_bad_input_names_the_file(tiny, tmp_path):
    model, proc = tiny
    with pytest.raises(FileNotFoundError, match="nothere.tif: no such raster file"):
        geo.ground_raster(tmp_path / "nothere.tif", "the ship", model, proc)
    bad = tmp_path / "bad.tif"
    bad.write_text("not a raster")
    with pytest.raises(geo.RasterError, match="bad.tif: not a raster"):
        geo.ground_raster(bad, "the ship", model, proc)
    good = _write(tmp_path / "g.tif", np.zeros((3, 8, 8), np.uint8))
    with pytest.raises(geo.RasterError, match="sentence is empty"):
        geo.ground_raster(good, "  ", model, proc)
    with pytest.raises(geo.RasterError, match="band 4 does not exist"):
        geo.ground_raster(good, "the ship", model, proc, bands="4", progress=False)


def test_all_nodata_raster_gives_no_answer_and_says_why(tiny, tmp_path):
    model, proc = tiny
    path = _write(tmp_path / "empty.tif", np.zeros((3, 40, 40), np.uint8), nodata=0)
    res = geo.ground_raster(path, "the ship", model, proc, tile=20, overlap=0.0, progress=False)
    assert res.answers == [] and len(res.skipped) == len(res.windows) == 4
    assert math.isclose(res.settings["min_valid"], 0.25)


# ----------------------------------------------------------------------------- settings


def test_a_setting_out_of_range_names_the_field_and_the_range():
    for kwargs, message in [
        ({"tile": 0}, "tile must be an integer >= 1 (pixels); got 0"),
        ({"overlap": 1.0}, "overlap must be in [0, 1); got 1.0"),
        ({"top_k": 0}, "top_k must be an integer >= 1; got 0"),
        ({"merge_iou": 0.0}, "merge_iou must be in (0, 1]; got 0.0"),
        ({"min_valid": 1.5}, "min_valid must be in [0, 1]; got 1.5"),
        ({"batch_size": 2.0}, "batch_size must be an integer >= 1; got 2.0"),
        ({"stretch": "linear"}, "stretch must be 'auto', 'percentile' or 'none'; got 'linear'"),
        ({"max_new_tokens": 0}, "max_new_tokens must be an integer >= 1; got 0"),
        ({"prompt_style": "short"},
         "prompt_style must be 'compact' or 'full', or None (the checkpoint's own); got 'short'"),
        ({"bands": "1,2"}, "bands '1,2': expected 1 band (grey) or 3 bands"),
    ]:  # fmt: skip
        with pytest.raises(geo.RasterError) as err:
            geo.GroundingSettings(**kwargs)
        assert message in str(err.value), (kwargs, str(err.value))
    # frozen, and replacing a field checks it again
    s = geo.GroundingSettings(tile=64)
    with pytest.raises(AttributeError):
        s.tile = 32
    with pytest.raises(geo.RasterError, match=r"overlap must be in \[0, 1\)"):
        dataclasses.replace(s, overlap=-0.1)
    # the prompt styles are those the prompts know
    assert geo.grounding._option_type(geo.GroundingSettings, "prompt_style") == (
        str,
        prompts.PROMPT_STYLES,
    )


def test_settings_defaults_and_the_models_own(tiny):
    s = geo.GroundingSettings()
    assert (s.tile, s.overlap, s.bands, s.stretch, s.top_k, s.merge_iou, s.min_valid,
            s.batch_size, s.max_new_tokens, s.prompt_style) == (
        None, 0.2, None, "auto", 1, 0.5, 0.25, 16, 768, None)  # fmt: skip
    model, proc = tiny
    own = s.for_model(model, proc)
    assert (own.tile, own.prompt_style) == (64, "compact")  # the tiny base's input side and style
    assert geo.GroundingSettings(tile=32, prompt_style="full").for_model(model, proc) == (
        geo.GroundingSettings(tile=32, prompt_style="full")
    )


def test_grounding_settings_record_every_field_and_the_stretch(tiny, tmp_path):
    model, proc = tiny
    path = _write(tmp_path / "g.tif", np.full((3, 32, 32), 90, np.uint8))
    settings = geo.GroundingSettings(top_k=2, max_new_tokens=24)
    res = geo.ground_raster(path, "the ship", model, proc, settings, overlap=0.0, progress=False)
    assert res.settings == {
        "tile": 64,  # the model's own
        "overlap": 0.0,  # the keyword replaces the setting
        "bands": None,
        "stretch": "auto",
        "top_k": 2,
        "merge_iou": 0.5,
        "min_valid": 0.25,
        "batch_size": 16,
        "max_new_tokens": 24,
        "prompt_style": "compact",  # the checkpoint's own
        "stretch_limits": None,  # uint8: no stretch
    }
    with pytest.raises(TypeError, match="tiles"):
        geo.ground_raster(path, "the ship", model, proc, tiles=64)


# ----------------------------------------------------------------------------- the chapter's helpers


def test_scene_raster_puts_the_scene_and_its_boxes_at_the_offset(tmp_path):
    rec = base_scenes.make_records(1, seed=4, max_objects=3)[0]
    out = scene_raster.scene_raster(tmp_path / "r.tif", rec, size=100, offset=(30, 20),
                                    pixel_size=2.0, origin=(1000.0, 5000.0), crs="EPSG:32633")  # fmt: skip
    assert out["bbox"] == [
        rec["bbox"][0] + 30,
        rec["bbox"][1] + 20,
        rec["bbox"][2] + 30,
        rec["bbox"][3] + 20,
    ]
    assert out["scene_box"] == [30, 20, 94, 84] and len(out["objects"]) == len(rec["objects"])
    with rasterio.open(out["path"]) as ds:
        assert ds.crs.to_epsg() == 32633 and (ds.width, ds.height) == (100, 100)
        assert ds.transform * (0, 0) == (1000.0, 5000.0) and ds.res == (2.0, 2.0)
        inside = ds.read(window=rasterio.windows.Window(30, 20, 64, 64))
    np.testing.assert_array_equal(np.moveaxis(inside, 0, -1), np.asarray(rec["image"]))
    with pytest.raises(geo.RasterError, match="does not fit"):
        scene_raster.scene_raster(tmp_path / "x.tif", rec, size=100, offset=(40, 0))


def test_synthetic_rasters_are_deterministic_and_inside(tmp_path):
    a = scene_raster.synthetic_rasters(tmp_path / "a", 5, seed=7, size=96)
    b = scene_raster.synthetic_rasters(tmp_path / "b", 5, seed=7, size=96)
    assert [r["bbox"] for r in a] == [r["bbox"] for r in b]
    assert [r["expression"] for r in a] == [r["expression"] for r in b]
    for r in a:
        ox, oy, x2, y2 = r["scene_box"]
        assert 0 <= ox and 0 <= oy and x2 <= 96 and y2 <= 96
        assert ox <= r["bbox"][0] < r["bbox"][2] <= x2


def _grounding(answers, candidates, windows=4, skipped=0, unparsed=0):
    info = geo.RasterInfo(
        "r.tif", 100, 100, 3, ("uint8",) * 3, None, None, Affine.identity(), (), False
    )
    tiles = [geo.Tile(0, 0, 50, 50)] * windows
    ans = [geo.Answer(b, s, tiles[0], rank=i + 1) for i, (b, s) in enumerate(answers)]
    cands = [geo.Answer(b, s, tiles[0]) for b, s in candidates]
    return geo.Grounding("the ship", info, (1, 2, 3), tiles, tiles[:skipped], cands, ans, unparsed)


def test_score_groundings_literal():
    target = [10, 10, 20, 20]
    results = [
        _grounding([([10, 10, 20, 20], -0.1)], [([10, 10, 20, 20], -0.1)]),  # right
        _grounding(
            [([50, 50, 60, 60], -0.1)], [([50, 50, 60, 60], -0.1), ([11, 10, 21, 20], -0.3)]
        ),
        _grounding([], [], skipped=4, unparsed=0),  # every window skipped: a miss
        _grounding([([12, 10, 22, 20], -0.2)], [([12, 10, 22, 20], -0.2)], unparsed=2),  # IoU 8/12
    ]
    s = geo.score_groundings(results, [target] * 4)
    # top answers: hit, miss, none, hit (IoU 0.667); some window right: 1, 2 (IoU 9/11), -, 4
    assert s["pr@0.5"] == 0.5 and s["candidate_recall"] == 0.75 and s["answered"] == 0.75
    assert s["mean_iou"] == pytest.approx((1 + 0 + 0 + 8 / 12) / 4)
    assert (s["windows"], s["skipped"], s["unparsed"]) == (4.0, 1.0, 0.5)


def test_score_sentences_literal():
    objs = [
        {"category": "Tree", "bbox": [0.0, 0.0, 10.0, 10.0]},
        {"category": "Tree", "bbox": [20.0, 0.0, 30.0, 10.0]},
    ]
    recs = [
        {"expression": "the leftmost tree", "bbox": objs[0]["bbox"], "objects": objs},
        {"expression": "the rightmost tree", "bbox": objs[1]["bbox"], "objects": objs},
    ]
    results = [_grounding([([20, 0, 30, 10], -0.25)], []), _grounding([], [], skipped=1)]
    rows = geo.score_sentences(results, recs)
    # the first answered the other tree: no hit, but it found a tree; the second had no answer
    assert rows == [
        {
            "sentence": "the ship",
            "iou": 0.0,
            "hit": False,
            "best_iou_any": 1.0,
            "score": -0.25,
            "windows": 4,
        },
        {
            "sentence": "the ship",
            "iou": 0.0,
            "hit": False,
            "best_iou_any": 0.0,
            "score": None,
            "windows": 3,
        },
    ]


def test_ground_labelled_without_data_is_none(tiny, tmp_path):
    model, proc = tiny
    assert geo.ground_labelled(None, model, proc, noun="tree", tile=64, overlap=0.0) is None
    assert (
        geo.ground_labelled(tmp_path / "absent.tif", model, proc, noun="tree", tile=64, overlap=0.0)
        is None
    )


def test_map_table_reads_the_bounds_of_each_feature():
    gdf = gpd.GeoDataFrame(
        {"sentence": ["a", "b"], "rank": [1, 1], "score": [-0.12345, -0.5]},
        geometry=[
            geo.box_polygon([0, 0, 2, 1], from_origin(100.0, 200.0, 10.0, 10.0)),
            geo.box_polygon([1, 1, 2, 2]),
        ],
    )
    t = geo.map_table(gdf)
    assert t.to_dict(orient="records") == [
        {
            "sentence": "a",
            "rank": 1,
            "score": -0.123,
            "min_x": 100.0,
            "min_y": 190.0,
            "max_x": 120.0,
            "max_y": 200.0,
        },
        {
            "sentence": "b",
            "rank": 1,
            "score": -0.5,
            "min_x": 1.0,
            "min_y": 1.0,
            "max_x": 2.0,
            "max_y": 2.0,
        },
    ]
    gdf.loc[1, "rank"] = 2
    assert geo.map_table(gdf, rank=2)["sentence"].tolist() == ["b"]


def test_map_table_of_a_file_without_answers_is_empty_with_its_columns(tmp_path):
    """A GeoJSON with no feature reads back without attribute columns (a random model's
    answers, the dry run): the table is empty, with its columns, not a KeyError."""
    path = geo.write_answers([], tmp_path / "none.geojson")
    back = gpd.read_file(path)
    assert "rank" not in back.columns
    table = geo.map_table(back, rank=1)
    assert len(table) == 0 and tuple(table.columns) == geo.MAP_TABLE_COLUMNS


def test_answers_of_several_rasters_in_one_file_need_one_crs(tiny, tmp_path):
    model, proc = tiny
    rec = base_scenes.make_records(1, seed=3, max_objects=1)[0]
    data = np.moveaxis(np.asarray(rec["image"]), -1, 0)
    a = _write(tmp_path / "a.tif", data, crs="EPSG:32631")
    b = _write(tmp_path / "b.tif", data, crs="EPSG:32632")
    opts = {"tile": 64, "prompt_style": "compact", "max_new_tokens": 24, "progress": False}
    ra, ra2, rb = (
        geo.ground_raster(p, s, model, proc, **opts)
        for p, s in ((a, "the ship"), (a, "the plane"), (b, "the ship"))
    )
    frame = geo.answers_frame([ra, ra2])
    assert (
        len(frame) == 2
        and frame.crs.to_epsg() == 32631
        and list(frame["sentence"]) == ["the ship", "the plane"]
    )
    with pytest.raises(geo.RasterError, match="different coordinate systems"):
        geo.answers_frame([ra, rb])
    out = geo.write_answers([ra, ra2], tmp_path / "both.gpkg")
    with pytest.raises(geo.RasterError, match="different coordinate systems"):
        geo.write_answers([ra, rb], out)
    assert len(gpd.read_file(out)) == 2  # the failed write left the earlier file alone


def test_stretch_limits_of_a_large_raster_come_from_spread_samples(tmp_path):
    cols = np.tile(np.arange(1000, dtype=np.uint16), (1000, 1))  # value = column
    path = _write(tmp_path / "big.tif", np.stack([cols, cols, 999 - cols]))
    with rasterio.open(path) as ds:
        # 4 samples of 128 px (2 x 2 grid): columns 0-127 and 872-999
        assert geo.stretch_limits(ds, (1, 3), percentiles=(0, 100), max_pixels=4 * 128**2) == [
            (0.0, 999.0),
            (0.0, 999.0),
        ]
        ((median, _),) = geo.stretch_limits(ds, (1,), percentiles=(50, 100), max_pixels=4 * 128**2)
    assert median == (127 + 872) / 2


def test_float_band_with_nan_nodata_and_a_single_band_raster_are_grounded(tiny, tmp_path):
    model, proc = tiny
    rec = base_scenes.make_records(1, seed=3, max_objects=1)[0]
    grey = np.asarray(rec["image"].convert("L"), dtype=np.float32)[None] / 255.0  # reflectance-like
    grey[:, :8, :] = np.nan  # a nodata strip
    path = _write(tmp_path / "f32.tif", grey, nodata=float("nan"))
    info = geo.open_raster(path)
    assert info.dtypes == ("float32",) and geo.choose_bands(info) == (1, 1, 1)
    with rasterio.open(path) as ds:
        (lo, hi), *_ = geo.stretch_limits(ds, (1,))
        image, share = geo.read_window(ds, geo.Tile(0, 0, 64, 64), (1, 1, 1), [(lo, hi)] * 3)
    arr = np.asarray(image)
    assert 0.0 < lo < hi < 1.0 and share == pytest.approx(56 / 64)
    assert (arr[:8] == 0).all() and arr[8:].max() == 255  # the strip is black, the rest stretched
    assert (arr[..., 0] == arr[..., 1]).all() and (arr[..., 1] == arr[..., 2]).all()  # grey
    res = geo.ground_raster(path, "the ship", model, proc, tile=64, prompt_style="compact",
                            max_new_tokens=24, progress=False)  # fmt: skip
    assert res.settings["stretch_limits"] == [(lo, hi)] * 3 and len(res.answers) == 1


def test_ground_control_points_and_a_transform_without_crs_still_give_map_coordinates(tmp_path):
    from rasterio.control import GroundControlPoint
    from rasterio.crs import CRS

    data = np.zeros((3, 20, 40), np.uint8)
    # GCPs of a north-up raster: x = 1000 + 2 col, y = 500 - 2 row
    gcps = [
        GroundControlPoint(row=r, col=c, x=1000 + 2 * c, y=500 - 2 * r)
        for r, c in ((0, 0), (0, 40), (20, 0), (20, 40))
    ]
    path = tmp_path / "gcps.tif"
    with rasterio.open(
        path, "w", driver="GTiff", width=40, height=20, count=3, dtype="uint8"
    ) as ds:
        ds.write(data)
        ds.gcps = (gcps, CRS.from_epsg(32630))
    info = geo.open_raster(path)
    assert info.georeferenced and info.crs == "EPSG:32630"
    assert info.georef_source == "4 ground control points (affine fit)"
    assert geo.pixel_to_map(info.transform, 10, 5) == pytest.approx((1020.0, 490.0))
    # a transform and no CRS (a world file, say): map coordinates in an unknown CRS
    bare = _write(tmp_path / "bare.tif", data, crs=None)
    with rasterio.open(bare, "r+") as ds:
        ds.transform = from_origin(10.0, 20.0, 1.0, 1.0)
    info = geo.open_raster(bare)
    assert info.georeferenced and info.crs is None and info.georef_source == "geotransform"
    assert geo.pixel_to_map(info.transform, 1, 1) == (11.0, 19.0)


def test_a_pixel_is_valid_only_where_every_band_read_holds_data(tmp_path):
    data = np.full((3, 4, 4), 100.0, np.float32)
    data[0, 0, :] = -9999.0  # band 1's nodata on the first row, bands 2-3 valid there
    data[2, 1, :2] = np.nan  # NaN, with -9999 declared as nodata: still not data
    path = _write(tmp_path / "v.tif", data, nodata=-9999.0)
    with rasterio.open(path) as ds:
        image, share = geo.read_window(ds, geo.Tile(0, 0, 4, 4), (1, 2, 3), [(0.0, 200.0)] * 3)
        _, share_23 = geo.read_window(ds, geo.Tile(0, 0, 4, 4), (2, 2, 2), [(0.0, 200.0)] * 3)
    arr = np.asarray(image)
    assert share == (16 - 4 - 2) / 16 and share_23 == 1.0  # band 2 alone is everywhere valid
    assert (arr[0] == 0).all() and (arr[1, :2] == 0).all() and (arr[2:] == 128).all()


def test_ground_raster_reads_window_by_window_inside_the_raster(tiny, tmp_path, monkeypatch):
    """Every pixel read of ground_raster goes through a window no larger than a tile (or a
    128-px stretch sample), inside the raster: the raster is never read whole."""
    model, proc = tiny
    values = np.tile(np.arange(1100, dtype=np.uint16), (1000, 1))
    path = _write(tmp_path / "big.tif", np.stack([values] * 3))  # 1.1 M pixels: sampled stretch
    calls = []
    real_read, real_masks = rasterio.io.DatasetReader.read, rasterio.io.DatasetReader.read_masks

    def spy(real):
        def wrapper(self, *args, **kwargs):
            calls.append(kwargs.get("window"))
            return real(self, *args, **kwargs)

        return wrapper

    monkeypatch.setattr(rasterio.io.DatasetReader, "read", spy(real_read))
    monkeypatch.setattr(rasterio.io.DatasetReader, "read_masks", spy(real_masks))
    res = geo.ground_raster(path, "the ship", model, proc, tile=256, overlap=0.2, prompt_style="compact",
                            max_new_tokens=24, batch_size=8, progress=False)  # fmt: skip
    # columns 0, 204, 408, 612, 816, 844 (flush); rows 0, 204, 408, 612, 744 (flush)
    assert res.settings["stretch_limits"] is not None and len(res.windows) == 6 * 5
    assert calls and None not in calls  # no read without a window
    for w in calls:
        assert w.width <= 256 and w.height <= 256
        assert (
            w.col_off >= 0
            and w.row_off >= 0
            and w.col_off + w.width <= 1100
            and w.row_off + w.height <= 1000
        )
    # each window read once (pixels and masks), plus the stretch's 8 x 8 samples
    assert len(calls) == 2 * 30 + 64


def test_model_tile_is_the_models_input_side(tiny):
    assert geo.model_tile(tiny[1]) == 64


def test_distinct_answers_counts_different_top_boxes():
    left = _grounding([([10, 10, 20, 20], -0.1)], [])
    right = _grounding([([10.2, 10, 20, 19.9], -0.2)], [])  # the same box to the pixel
    other = _grounding([([60, 60, 70, 70], -0.3)], [])
    none = _grounding([], [])
    assert geo.distinct_answers([left, right, other, none]) == "2 of 3"
