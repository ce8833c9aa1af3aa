"""The ``geo`` benchmark's machinery on small cases: the raster writer (tiled, compressed,
georeferenced uint16, its pixels those of :func:`content` at hand-checked places) and
:func:`run` with tiny rasters (one subprocess each; windows as planned, growth a number)."""

from __future__ import annotations

import dataclasses
import json
import tempfile

import numpy as np
import pytest
import rasterio

from rsground_lib import geo
from rsground_lib.bench import BENCHMARKS
from rsground_lib.bench import geo as bench_geo


def test_content_at_hand_checked_pixels():
    # (col, row) -> (band 1, band 2, band 3): 1000 + col % 1000, 1000 + row % 1000,
    # 1500 + ((col + row) % 1000) // 2; inside a drawn rectangle all three take its value
    expected = {
        (0, 0): (1000, 1000, 1500),
        (30, 10): (1030, 1010, 1520),
        (210, 149): (1210, 1149, 1679),  # one row above the bright square
        (210, 160): (4000, 4000, 4000),  # bright square, cell (0, 0)
        (500, 400): (500, 500, 500),  # dark rectangle, cell (0, 0)
        (599, 499): (1599, 1499, 1549),
        (1234, 5): (1234, 1005, 1619),  # next cell along x: the ramps start again
        (1210, 1160): (4000, 4000, 4000),  # bright square, cell (1, 1)
    }
    for (col, row), values in expected.items():
        px = bench_geo.content(np.array([col]), np.array([row]))
        assert px.dtype == np.uint16 and px.shape == (3, 1, 1)
        assert tuple(int(v) for v in px[:, 0, 0]) == values, (col, row)


def test_writer_makes_a_tiled_compressed_georeferenced_uint16_geotiff(tmp_path):
    path = bench_geo.write_raster(tmp_path / "r.tif", 600, 500)
    with rasterio.open(path) as ds:
        assert (ds.width, ds.height, ds.count) == (600, 500, 3)
        assert ds.dtypes == ("uint16", "uint16", "uint16")
        assert ds.profile["tiled"] and ds.block_shapes == [(256, 256)] * 3
        assert ds.compression.name.lower() == "deflate"
        assert ds.crs.to_string() == "EPSG:32617"
        assert tuple(ds.transform)[:6] == (0.5, 0.0, 400_000.0, 0.0, -0.5, 3_285_000.0)
        data = ds.read()  # 1.8 MB: this small one may be read whole
    assert tuple(data[:, 160, 210]) == (4000, 4000, 4000)
    assert tuple(data[:, 149, 210]) == (1210, 1149, 1679)
    assert tuple(data[:, 400, 500]) == (500, 500, 500)
    assert tuple(data[:, 499, 599]) == (1599, 1499, 1549)  # in the last, partial block row
    np.testing.assert_array_equal(data, bench_geo.content(np.arange(600), np.arange(500)))
    info = geo.open_raster(path)
    assert info.georeferenced
    # the bottom-right corner of the raster: 300 m east, 250 m south of the origin
    assert geo.pixel_to_map(info.transform, 600, 500) == (400_300.0, 3_284_750.0)
    assert path.stat().st_size < 600 * 500 * 3 * 2 / 10  # cheap to compress


def test_the_subprocess_gets_the_settings_through_the_grounding_options():
    """The settings reach :func:`bench_geo.measure` in the subprocess unchanged, as the
    options of ``rsground ground`` (:meth:`geo.GroundingSettings.add_arguments`)."""
    assert (bench_geo.SETTINGS.tile, bench_geo.SETTINGS.overlap) == (800, 0.2)
    assert (bench_geo.SETTINGS.batch_size, bench_geo.SETTINGS.max_new_tokens) == (16, 24)
    assert bench_geo.SETTINGS.prompt_style == "compact"
    other = geo.GroundingSettings(tile=640, overlap=0.35, bands=(3, 2, 1), stretch="percentile")
    for settings, threads in ((bench_geo.SETTINGS, None), (other, 2)):
        argv = ["r.tif", "ckpt", *bench_geo._options(settings, threads)]
        args = bench_geo._parser().parse_args(argv)
        assert args.torch_threads == threads
        back = geo.GroundingSettings.from_args(args)
        assert back == (settings if settings.bands is None else
                        dataclasses.replace(settings, bands="3,2,1"))  # fmt: skip
    defaults = bench_geo._parser().parse_args(["r.tif", "ckpt"])
    assert geo.GroundingSettings.from_args(defaults) == geo.GroundingSettings()


def test_geo_is_a_registered_benchmark():
    assert BENCHMARKS["geo"] == "rsground_lib.bench.geo:run"


def test_run_on_small_rasters_reports_windows_and_memory(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where run() writes its rasters
    result = bench_geo.run(sizes=((1200, 900), (300, 300)), torch_threads=1, verbose=False)
    json.dumps(result)
    assert list(tmp_path.iterdir()) == []  # the rasters' folder is removed
    big, small = result["rows"]
    # tile 800, overlap 0.2 (stride 640): columns 0, 400 x rows 0, 100; one 300 x 300 window
    assert (big["windows"], small["windows"]) == (4, 1)
    assert big["windows"] == len(geo.plan_windows(1200, 900, 800, 0.2))
    assert small["windows"] == len(geo.plan_windows(300, 300, 800, 0.2))
    assert (big["batch_windows"], small["batch_windows"]) == (4, 1)
    assert (big["raster_bytes"], small["raster_bytes"]) == (6_480_000, 540_000)
    for row in (big, small):
        assert (row["bands"], row["dtype"], row["skipped"]) == (3, "uint16", 0)
        assert isinstance(row["growth_kib"], int)
        assert row["growth_kib"] == row["maxrss_after_kib"] - row["maxrss_before_kib"]
        assert row["maxrss_before_kib"] > 0 and row["seconds"] > 0 and row["file_bytes"] > 0
        assert row["growth_over_raster_bytes"] == pytest.approx(
            row["growth_kib"] * 1024 / row["raster_bytes"], abs=1e-4
        )
    assert (result["largest"], result["smallest"]) == ("1200x900", "300x300")
    assert result["largest_growth_over_raster_bytes"] == big["growth_over_raster_bytes"]
    assert result["largest_minus_smallest_growth_kib"] == big["growth_kib"] - small["growth_kib"]
    assert result["torch_threads"] == 1 and result["sentence"] == "the storage tank"


def test_a_failed_subprocess_is_an_error_with_its_stderr(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with pytest.raises(RuntimeError, match=r"raster_300x300\.tif failed(.|\n)*no_such_checkpoint"):
        bench_geo.run(sizes=((300, 300),), checkpoint=tmp_path / "no_such_checkpoint")
