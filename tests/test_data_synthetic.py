"""Synthetic scenes, glyphs, rendering and the dataset (rsground_lib.data.synthetic and the
scene_model, glyphs, placement and render modules it is built from)."""

from __future__ import annotations

import io
import json
from collections import Counter

import numpy as np
import pytest
import shapely
from PIL import Image

from rsground_lib.data import glyphs, placement, render, scene_model
from rsground_lib.data import synthetic as sy
from rsground_lib.data.resolver import resolve
from rsground_lib.vocabulary import COLOR_NAMES, CUE_TAGS, SYNTHETIC_CLASSES


def _scenes(n, size, seed=0, **kwargs):
    out = []
    for i in range(n):
        rng = np.random.default_rng(np.random.SeedSequence([seed, i]))
        try:
            out.append(placement.make_scene(rng, size, **kwargs))
        except placement.PlacementError:
            continue
    return out


@pytest.fixture(scope="module")
def scenes():
    return _scenes(160, 224) + _scenes(40, 112, seed=1)


def test_scene_invariants(scenes):
    """Objects lie inside the image, never overlap, and stand on plausible ground."""
    assert len(scenes) >= 190
    seen = Counter()
    for sc in scenes:
        W, H = sc.width, sc.height
        lc = sc.landcover
        bodies = []
        for o in sc.objects:
            seen[o.category] += 1
            x1, y1, x2, y2 = o.bbox
            assert 0 <= x1 < x2 <= W and 0 <= y1 < y2 <= H
            body = shapely.box(*o.bbox)
            bodies.append(o.footprint)
            outline = shapely.unary_union([g for g, _ in o.parts[:1]])
            if o.category == "ship":
                assert lc["water"].contains(outline.buffer(-0.01)), "ship off the water"
            elif o.category == "vehicle":
                assert lc["roads"].contains(outline.buffer(-0.01)), "vehicle off the road"
            elif o.category == "airplane":
                assert lc["apron"].contains(outline.buffer(-0.01)), "airplane off the apron"
            elif o.category == "bridge":
                assert outline.intersects(lc["water"]) and outline.difference(lc["water"]).area > 0
            else:
                for kind in ("water", "roads", "urban", "apron"):
                    assert not outline.intersects(lc[kind]), f"{o.category} on {kind}"
            assert o.area_px > 0 and body.area >= o.area_px * 0.99
        for i in range(len(bodies)):
            for j in range(i + 1, len(bodies)):
                assert not bodies[i].intersects(bodies[j])
    assert set(seen) == set(scene_model.CATEGORIES), seen  # all eleven classes appear


def test_instance_counts(scenes):
    for sc in scenes:
        n = sum(o.category == sc.target_category for o in sc.objects)
        spec = scene_model.CLASS_SPECS[sc.target_category]
        assert min(2, spec.max_per_scene) <= n <= min(5, spec.max_per_scene)
    rng = np.random.default_rng(5)
    sc = placement.make_scene(rng, 224, target_category="storagetank", n_target=4)
    assert sum(o.category == "storagetank" for o in sc.objects) == 4


def test_every_class_can_be_a_target():
    for k, cat in enumerate(scene_model.CATEGORIES):
        rng = np.random.default_rng(k)
        sc = placement.make_scene(rng, 224, target_category=cat, n_target=2)
        assert sum(o.category == cat for o in sc.objects) == 2
        assert sc.object_records()[0]["category"] in scene_model.CATEGORIES


def test_single_instance_scenes():
    for sc in _scenes(30, 224, seed=3, single_instance=True):
        counts = Counter(o.category for o in sc.objects)
        assert max(counts.values()) == 1


def test_contrast_plans():
    for i in range(20):
        rng = np.random.default_rng(i)
        sc = placement.make_scene(
            rng, 224, target_category="storagetank", n_target=3, contrast="size"
        )
        areas = sorted(o.area_px for o in sc.objects if o.category == "storagetank")
        assert areas[-1] >= 1.6 * areas[-2] or areas[1] >= 1.6 * areas[0]
        rng = np.random.default_rng(100 + i)
        sc = placement.make_scene(rng, 224, target_category="vehicle", n_target=4, contrast="color")
        colors = Counter(o.color for o in sc.objects if o.category == "vehicle")
        assert min(colors.values()) == 1


def test_scene_model_follows_the_vocabulary():
    """The classes, their order and the colour names are the vocabulary's; every colour a
    class can take has a palette entry."""
    assert scene_model.CATEGORIES == SYNTHETIC_CLASSES
    assert tuple(scene_model.PALETTE) == COLOR_NAMES
    for spec in scene_model.CLASS_SPECS.values():
        assert {name for name, _ in spec.colors} <= set(COLOR_NAMES)


def test_glyph_builders_cover_every_class():
    """One builder per class; each gives a non-empty outline whose parts start with it."""
    assert set(glyphs.GLYPH_BUILDERS) == set(scene_model.CATEGORIES)
    rng = np.random.default_rng(0)
    for cat, spec in scene_model.CLASS_SPECS.items():
        g = glyphs.make_glyph(cat, 40.0, spec.colors[0][0], rng)
        assert g.body.is_valid and g.body.area > 0
        parts = g.parts()
        assert parts and all(len(rgba) == 4 for _, rgba in parts)
    with pytest.raises(ValueError, match="unknown category"):
        glyphs.make_glyph("house", 40.0, "white", rng)


def test_render_scene(scenes):
    sc = scenes[0]
    a = render.render_scene(sc)
    b = render.render_scene(sc)
    assert a.size == (sc.width, sc.height) and a.mode == "RGB"
    assert a.tobytes() == b.tobytes()
    arr = np.asarray(a, dtype=np.float32)
    assert arr.std() > 10  # not flat
    # a white storage tank or any object differs from its surroundings
    o = sc.objects[0]
    x1, y1, x2, y2 = (int(round(v)) for v in o.bbox)
    inside = arr[y1:y2, x1:x2].mean(axis=(0, 1))
    assert inside.shape == (3,)


def test_make_dataset_columns_and_types():
    ds = sy.make_dataset(6, seed=11, image_size=112)
    assert len(ds) == 6
    for col in (
        "id",
        "dataset",
        "split",
        "image",
        "width",
        "height",
        "expression",
        "bbox",
        "category",
        "cues",
        "objects",
        "cue_type",
        "target_index",
        "resolver_steps",
    ):
        assert col in ds.column_names
    row = ds[0]
    assert row["dataset"] == "synthetic" and row["split"] == "train"
    assert row["id"] == "synthetic/train/11-0"
    assert isinstance(row["image"], Image.Image) and row["image"].size == (112, 112)
    assert row["width"] == row["height"] == 112
    assert row["objects"][row["target_index"]]["bbox"] == row["bbox"]
    assert row["category"] == row["objects"][row["target_index"]]["category"]
    assert row["cue_type"] in CUE_TAGS
    assert set(row["objects"][0]) == set(scene_model.OBJECTS_FEATURE_FIELDS)
    info = json.loads(ds.info.description)
    assert sum(info["stats"]["kept"].values()) == 6
    for r in ds:
        assert resolve(r["expression"], r["objects"], (r["width"], r["height"])) == [
            r["target_index"]
        ]


def test_deterministic_per_seed_and_index():
    """The same (seed, index) gives byte-identical records whatever n or start."""
    import datasets

    a = sy.make_dataset(3, seed=21, image_size=112).cast_column(
        "image", datasets.Image(decode=False)
    )
    b = sy.make_dataset(1, seed=21, image_size=112, start=2)
    b = b.cast_column("image", datasets.Image(decode=False))
    ra, rb = a[2], b[0]
    assert ra == rb
    assert ra["image"]["bytes"] == rb["image"]["bytes"]
    assert Image.open(io.BytesIO(ra["image"]["bytes"])).format == "PNG"
    c = sy.make_dataset(1, seed=22, image_size=112, start=2)
    assert c[0]["expression"] != ra["expression"] or c[0]["bbox"] != ra["bbox"]


def test_single_instance_dataset():
    recs, stats = sy.make_records(12, seed=4, image_size=160, single_instance=True, render=False)
    for r in recs:
        cats = Counter(o["category"] for o in r["objects"])
        assert max(cats.values()) == 1
        assert r["cue_type"] == "none"
    assert stats.kept["none"] == 12
    recs, _ = sy.make_records(
        6, seed=4, image_size=160, single_instance=True, cue_mix={"absolute": 1}, render=False
    )
    assert {r["cue_type"] for r in recs} <= {"absolute", "none"}


def test_classes_restriction():
    recs, _ = sy.make_records(
        8, seed=2, image_size=160, classes=["storagetank", "ship"], render=False
    )
    for r in recs:
        assert {o["category"] for o in r["objects"]} <= {"storagetank", "ship"}


def test_bad_inputs():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="image_size"):
        placement.make_scene(rng, 32)
    with pytest.raises(ValueError, match="image_size"):
        sy.make_dataset(1, seed=0, image_size="big")
    with pytest.raises(ValueError, match="classes"):
        sy.make_records(1, seed=0, classes=["tank"])
    with pytest.raises(ValueError, match="min_instances"):
        placement.make_scene(rng, 224, min_instances=3, max_instances=2)
    with pytest.raises(ValueError, match="n_target"):
        placement.make_scene(rng, 224, target_category="groundtrackfield", n_target=5)
    with pytest.raises(ValueError, match="single_instance"):
        sy.make_records(1, seed=0, single_instance=True, cue_mix={"ordinal": 1})
    with pytest.raises(ValueError, match="cue_mix"):
        sy.make_records(1, seed=0, cue_mix={"where": 1})
    with pytest.raises(ValueError, match="n"):
        sy.make_records(-1, seed=0)
    with pytest.raises(ValueError, match="seed"):
        sy.make_example(-1, 0)
    with pytest.raises(ValueError, match="contrast"):
        placement.make_scene(rng, 224, contrast="shape")


def test_full_size_scene_renders():
    rec, _, scene = sy.make_example(0, 0, image_size=800)
    im = Image.open(io.BytesIO(rec["image"]["bytes"]))
    assert im.size == (800, 800)
    assert rec["width"] == 800
    assert all(0 <= v <= 800 for v in rec["bbox"])
