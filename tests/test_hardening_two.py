"""Hardening, second round (issue 24): each bad input with its literal message — wrong
numbers refused rather than computed, huge or complex input refused before any work."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rsground_lib import consistency, geo, metrics, models
from rsground_lib.cli import main
from rsground_lib.data import synthetic

ROOT = Path(__file__).resolve().parents[1]


def test_paired_hits_refuses_nan_naming_its_position():
    with pytest.raises(ValueError, match=r"^paired_hits: ious_b\[2\] is NaN \(1 NaN in all\)"):
        metrics.paired_hits([0.6, 0.1, 0.9], [0.7, 0.2, float("nan")])
    assert metrics.paired_hits([0.6, 0.1], [0.7, 0.6])["only_b"] == 1


def test_a_negative_coherence_score_is_an_error():
    with pytest.raises(ValueError, match=r"^score: coherence scores are >= 0 .*got -5"):
        consistency.update_weight(-5, 5.0, 0.1)
    with pytest.raises(ValueError, match="got array"):
        consistency.update_weight(np.array([0.1, -0.2]), 5.0, 0.1)
    assert consistency.update_weight(0.0, 5.0, 0.1) == 1.0


def test_synthetic_scenes_refuse_fractional_sizes_and_bad_seeds_even_for_zero_scenes():
    with pytest.raises(
        ValueError, match=r"image_size: expected a side in whole pixels .*\(224\.9, 224\)"
    ):
        synthetic.make_dataset(1, seed=0, image_size=(224.9, 224))
    with pytest.raises(ValueError, match="image_size: expected a side in whole pixels"):
        synthetic.make_dataset(0, seed=0, image_size=99.5)
    with pytest.raises(ValueError, match=r"^seed: expected a non-negative integer; got -1"):
        synthetic.make_dataset(0, seed=-1)
    records, _ = synthetic.make_records(1, seed=0, image_size=(224.0, 224), render=False)
    assert (records[0]["width"], records[0]["height"]) == (224, 224)


def test_a_complex_band_is_refused_naming_it(tmp_path, capsys):
    import rasterio
    from rasterio.transform import from_origin

    path = tmp_path / "sar.tif"
    with rasterio.open(path, "w", driver="GTiff", width=64, height=64, count=1, dtype="complex64",
                       crs="EPSG:32631", transform=from_origin(0, 64, 1, 1)) as ds:  # fmt: skip
        ds.write((np.ones((1, 64, 64)) + 1j * np.ones((1, 64, 64))).astype(np.complex64))
    info = geo.open_raster(path)
    with pytest.raises(
        geo.RasterError, match=r"sar.tif: band 1 is complex \(complex64\); write its magnitude"
    ):
        geo.choose_bands(info)
    argv = [
        "ground",
        str(path),
        "the ship",
        "--tile",
        "64",
        "-q",
        "-o",
        str(tmp_path / "a.geojson"),
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "band 1 is complex (complex64)" in err and "RuntimeWarning" not in err
    assert not (tmp_path / "a.geojson").exists()


def test_a_sentence_longer_than_the_model_reads_is_refused_before_any_window(tmp_path):
    model, processor = models.load_model(ROOT / "checkpoints" / "tiny-base", device="cpu")
    sentence = "the ship " * 20_000  # 180 KB
    with pytest.raises(
        geo.RasterError,
        match=r"^sentence: 40,000 tokens \(179,999 characters\); with an answer budget of 24 tokens the model reads at most 1,024 positions",
    ):
        geo.ground_raster(tmp_path / "missing.tif", geo.clean_sentence(sentence), model,
                          processor, max_new_tokens=24, progress=False)  # fmt: skip
    assert geo.check_sentence_fits("the ship", model, processor, max_new_tokens=24) == 2


def test_smaller_ones_each_with_its_message(tmp_path, capsys):
    import json

    from rsground_lib import rewards
    from rsground_lib.data.benchmarks import load_benchmark

    root = tmp_path / "rsvg_hr"
    root.mkdir()
    (root / "rsvg_hr_test.txt").write_text("a.png,1,2,30,40,the ship\n")
    with pytest.raises(
        ValueError,
        match=r"image_size: expected \(width, height\), two positive whole numbers of pixels; got 5",
    ):
        load_benchmark("rsvg_hr", root, "test", image_size=5)
    records = tmp_path / "records"
    records.mkdir()
    (records / "test.json").write_text(
        '[{"image": "a.png", "expression": "the ship", "bbox": [9, 9, 1, 1], "bbox": [1, 1, 9, 9]}]'
    )
    with pytest.raises(ValueError, match=r"test.json: an object holds the key 'bbox' twice"):
        load_benchmark("records", records, "test", dataset="custom", image_size=(64, 64))
    scores, weights = consistency.group_weights(
        np.array([[[0, 0, 1e300, 1e300], [0, 0, 1, 1], [0, 0, 1, 1]]]),
        (100, 100),
        kappa=5.0,
        w_min=0.1,
    )
    assert (float(scores[0]), float(weights[0])) == (0.0, 1.0)  # the 1e300 box counts as unparsed
    with pytest.raises(ValueError, match=r"^num_generations: expected a positive integer; got 2.5"):
        consistency.groups_from_flat([[0, 0, 1, 1]] * 4, 2.5)
    assert rewards.reasoning_agreement_reward([5, None]) == [0.0, 0.0]
    (records / "test.json").write_text(
        json.dumps([{"image": "a.png", "expression": "the ship", "bbox": [1, 1, 9, 9]}])
    )
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "custom/test/0", "bbox": [9, 9, 1]}\n{"idx": 3}\n')
    argv = ["eval", str(bad), "--benchmark", "records", "--dataset", "custom", "--image-size",
            "64", "64", "--data-root", str(records), "--split", "test", "--skip-bad"]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "bad.jsonl: every line was skipped (2 skipped, none of the 1 records predicted)" in err
