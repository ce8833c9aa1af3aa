"""Synthetic aerial scenes for stage 1 (CoT-SFT): the dataset of rendered scenes with one
verified referring expression each.

RSGround-R1's first stage fine-tunes on "synthetic RSVG reasoning data that establishes
explicit position awareness". This module draws that data, one record per (seed, index):
a scene (:func:`~rsground_lib.data.placement.make_scene`) of objects of eleven DIOR-RSVG
classes placed on plausible land cover, rendered with Pillow
(:func:`~rsground_lib.data.render.render_scene`), and a referring expression for one target
object (:mod:`rsground_lib.data.expressions`), verified by the resolver
(:mod:`rsground_lib.data.resolver`). The pieces:

* :mod:`rsground_lib.data.scene_model`: the classes and their look, the scene and its objects;
* :mod:`rsground_lib.data.shapes`: shapely shapes and colour helpers;
* :mod:`rsground_lib.data.glyphs`: one glyph builder per class;
* :mod:`rsground_lib.data.landcover`: water, apron, urban blocks, roads, vegetation;
* :mod:`rsground_lib.data.placement`: objects without overlaps on plausible ground, the scene;
* :mod:`rsground_lib.data.render`: the scene as an image and PNG bytes;
* this module: records, generation statistics and the ``datasets.Dataset``.

Decisions (our design; the paper's generator is not public):

* **Several instances of the target class** (``min_instances``–``max_instances``, default
  2–5, capped per class by :attr:`~rsground_lib.data.scene_model.ClassSpec.max_per_scene`)
  plus 1–3 distractor classes, so that the class alone rarely identifies the target and
  position is needed. The ``none`` cue uses a scene with a single target instance;
  ``single_instance=True`` makes every class unique (for the model's pre-training, where
  position words are not needed).
* **Sizes are compressed**, **plausible ground**, **one sun per scene**: see
  :mod:`~rsground_lib.data.scene_model` and :mod:`~rsground_lib.data.placement`.
* **Determinism**: scene ``index`` of seed ``seed`` is drawn from
  ``numpy.random.default_rng(numpy.random.SeedSequence([seed, index]))`` only, so the same
  (seed, index) gives a byte-identical PNG and record whatever ``n`` or the other scenes.

Book chapter: "Data".
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from rsground_lib.data.cues import tag_cues
from rsground_lib.data.expressions import check_cue_mix, generate_expression
from rsground_lib.data.placement import PlacementError, make_scene
from rsground_lib.data.render import png_bytes, render_scene
from rsground_lib.data.resolver import DEFAULT_RULES, GeometryRules
from rsground_lib.data.scene_model import (
    CLASS_SPECS,
    SMOKE_IMAGE_SIZE,
    Scene,
    check_classes,
    image_wh,
    objects_feature,
)
from rsground_lib.data.schema import records_to_dataset
from rsground_lib.vocabulary import CUE_TAGS


@dataclass
class GenerationStats:
    """Counts of the generator, summed over records (JSON-able via :meth:`as_dict`):
    the cue intended per record and kept per record, sentences tried and rejected per cue,
    scene layouts redrawn, records whose cue fell back to ``none``, distractors dropped."""

    intended: dict = field(default_factory=lambda: dict.fromkeys(CUE_TAGS, 0))
    kept: dict = field(default_factory=lambda: dict.fromkeys(CUE_TAGS, 0))
    tried: dict = field(default_factory=lambda: dict.fromkeys(CUE_TAGS, 0))
    rejected: dict = field(default_factory=lambda: dict.fromkeys(CUE_TAGS, 0))
    scenes: int = 0
    scenes_without_expression: int = 0
    placement_failures: int = 0
    fallbacks: int = 0
    dropped_objects: int = 0

    def add(self, other: GenerationStats) -> None:
        """Accumulate another stats object into this one."""
        for name in ("intended", "kept", "tried", "rejected"):
            mine, theirs = getattr(self, name), getattr(other, name)
            for k, v in theirs.items():
                mine[k] = mine.get(k, 0) + v
        for name in (
            "scenes",
            "scenes_without_expression",
            "placement_failures",
            "fallbacks",
            "dropped_objects",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def as_dict(self) -> dict:
        """Plain dict, with the per-cue rejection rate (rejected / tried)."""
        out = {
            "intended": dict(self.intended),
            "kept": dict(self.kept),
            "tried": dict(self.tried),
            "rejected": dict(self.rejected),
            "rejection_rate": {
                k: (self.rejected[k] / self.tried[k] if self.tried.get(k) else 0.0)
                for k in CUE_TAGS
            },
            "scenes": self.scenes,
            "scenes_without_expression": self.scenes_without_expression,
            "placement_failures": self.placement_failures,
            "fallbacks": self.fallbacks,
            "dropped_objects": self.dropped_objects,
        }
        return out


_NEEDS_SEVERAL = ("ordinal", "extreme", "size")


def _eligible_targets(cue: str, classes: Sequence[str], single_instance: bool, max_instances: int):
    out = []
    for c in classes:
        spec = CLASS_SPECS[c]
        if cue == "color" and len(spec.colors) < 2 and not single_instance:
            continue
        if cue in _NEEDS_SEVERAL and (min(max_instances, spec.max_per_scene) < 2):
            continue
        out.append(c)
    return out


def make_example(
    seed: int,
    index: int,
    *,
    image_size=SMOKE_IMAGE_SIZE,
    cue_mix: Mapping[str, float] | None = None,
    classes: Sequence[str] | None = None,
    min_instances: int = 2,
    max_instances: int = 5,
    single_instance: bool = False,
    split: str = "train",
    render: bool = True,
    max_scenes: int = 12,
    rules: GeometryRules = DEFAULT_RULES,
) -> tuple[dict, GenerationStats, Scene]:
    """One synthetic record, drawn from ``SeedSequence([seed, index])`` alone.

    Samples the intended cue from ``cue_mix``, a target class that can carry it, a scene
    (:func:`~rsground_lib.data.placement.make_scene`) and an expression for one of the target
    instances (:func:`~rsground_lib.data.expressions.generate_expression`, verified by the
    resolver). A scene where no instance can be described with that cue is replaced by a new
    one (up to ``max_scenes``);
    after that the record falls back to the ``none`` cue with a single-instance scene
    (counted in ``fallbacks``). With ``render=False`` the ``image`` field is ``None``
    (geometry and text only, for fast tests). Returns ``(record, stats, scene)``.
    The paper's position-aware synthetic data; our design.
    """
    for name, v in (("seed", seed), ("index", index)):
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 0:
            raise ValueError(f"{name}: expected a non-negative integer; got {v!r}")
    W, H = image_wh(image_size)
    classes = check_classes(classes)
    mix = check_cue_mix(
        cue_mix if cue_mix is not None else ({"none": 1.0} if single_instance else None)
    )
    if single_instance:
        bad = [c for c in mix if c in _NEEDS_SEVERAL]
        if bad:
            raise ValueError(
                f"cue_mix: {bad} need several instances of a class; single_instance=True "
                "allows only 'none', 'absolute', 'relative' and 'color'"
            )
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), int(index)]))
    cues = list(mix)
    cue = cues[int(rng.choice(len(cues), p=np.array([mix[c] for c in cues])))]
    stats = GenerationStats()
    stats.intended[cue] += 1
    chosen = None
    attempt_cue = cue
    for attempt in range(max_scenes + 1):
        if attempt == max_scenes:
            attempt_cue = "none"
            stats.fallbacks += 1
        eligible = _eligible_targets(attempt_cue, classes, single_instance, max_instances)
        if not eligible:
            attempt_cue = "none"
            stats.fallbacks += 1
            eligible = list(classes)
        target_category = eligible[int(rng.integers(len(eligible)))]
        n_target = 1 if (attempt_cue == "none" or single_instance) else None
        try:
            scene = make_scene(
                rng,
                (W, H),
                target_category=target_category,
                n_target=n_target,
                classes=classes,
                min_instances=min_instances,
                max_instances=max_instances,
                single_instance=single_instance,
                contrast=attempt_cue if attempt_cue in ("size", "color") else None,
            )
        except PlacementError:
            stats.placement_failures += 1
            continue
        stats.scenes += 1
        stats.dropped_objects += scene.dropped
        objects = scene.object_records()
        targets = [i for i, o in enumerate(objects) if o["category"] == target_category]
        for t in (targets[k] for k in rng.permutation(len(targets))):
            g = generate_expression(objects, t, attempt_cue, (W, H), rng, rules=rules)
            stats.tried[attempt_cue] += g.tried
            stats.rejected[attempt_cue] += g.rejected
            if g.expression is not None:
                chosen = (scene, objects, t, g)
                break
        if chosen is not None:
            break
        stats.scenes_without_expression += 1
    if chosen is None:
        raise RuntimeError(
            f"synthetic record (seed {seed}, index {index}): no expression after {max_scenes + 1} "
            "scenes, fallback included; check classes / instance counts"
        )
    scene, objects, t, g = chosen
    stats.kept[attempt_cue] += 1
    image = None
    if render:
        image = {"bytes": png_bytes(render_scene(scene)), "path": None}
    record = {
        "id": f"synthetic/{split}/{int(seed)}-{int(index)}",
        "dataset": "synthetic",
        "split": split,
        "image": image,
        "width": W,
        "height": H,
        "expression": g.expression,
        "bbox": [float(v) for v in objects[t]["bbox"]],
        "category": objects[t]["category"],
        "cues": tag_cues(g.expression),
        "objects": objects,
        "cue_type": attempt_cue,
        "target_index": int(t),
        "resolver_steps": json.dumps(g.resolution.steps, separators=(",", ":")),
    }
    return record, stats, scene


def make_records(
    n: int,
    *,
    seed: int,
    start: int = 0,
    **kwargs,
) -> tuple[list[dict], GenerationStats]:
    """Records for indices ``start … start + n − 1`` of seed ``seed`` (see
    :func:`make_example` for the keyword arguments) and the summed generation statistics."""
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 0:
        raise ValueError(f"n: expected a non-negative integer; got {n!r}")
    if not isinstance(start, (int, np.integer)) or isinstance(start, bool) or start < 0:
        raise ValueError(f"start: expected a non-negative integer; got {start!r}")
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed: expected a non-negative integer; got {seed!r}")
    image_wh(kwargs.get("image_size", SMOKE_IMAGE_SIZE))  # checked even when n is 0
    total = GenerationStats()
    records = []
    for index in range(int(start), int(start) + int(n)):
        rec, stats, _ = make_example(seed, index, **kwargs)
        records.append(rec)
        total.add(stats)
    return records, total


EXTRA_COLUMNS = ("cue_type", "target_index", "resolver_steps")
"""Columns of the synthetic record beyond the common record and ``objects``."""


def make_dataset(
    n: int,
    *,
    seed: int,
    image_size=SMOKE_IMAGE_SIZE,
    cue_mix: Mapping[str, float] | None = None,
    min_instances: int = 2,
    max_instances: int = 5,
    classes: Sequence[str] | None = None,
    single_instance: bool = False,
    split: str = "train",
    start: int = 0,
    rules: GeometryRules = DEFAULT_RULES,
):
    """The synthetic RSVG reasoning dataset: ``n`` rendered scenes with one verified
    referring expression each, as a ``datasets.Dataset`` with the common record's columns.

    Columns: ``id`` (``synthetic/{split}/{seed}-{index}``), ``dataset`` (``"synthetic"``),
    ``split``, ``image`` (``datasets.Image``, PNG bytes), ``width``, ``height``,
    ``expression``, ``bbox`` (target, original pixels, continuous), ``category`` (DIOR-RSVG
    class name), ``cues`` (:func:`rsground_lib.data.cues.tag_cues` of the expression),
    ``objects`` (every object: category, bbox, color, size, area_px, angle_deg, ground),
    ``cue_type`` (the cue the generator intended), ``target_index`` (the target's position in
    ``objects``) and ``resolver_steps`` (JSON of the resolver's trace, for the CoT module).
    Record ``i`` is drawn from ``SeedSequence([seed, start + i])`` alone: the same
    (seed, index) gives the same bytes whatever ``n``. The generation statistics
    (:class:`GenerationStats`) are in ``dataset.info.description`` as JSON.
    ``single_instance=True`` puts one instance per class (default cue ``none``).
    The paper's "synthetic RSVG reasoning data that establishes
    explicit position awareness" (stage 1), our design of the generator.
    """
    import datasets  # heavy; imported when a dataset is built

    records, stats = make_records(
        n,
        seed=seed,
        start=start,
        image_size=image_size,
        cue_mix=cue_mix,
        classes=classes,
        min_instances=min_instances,
        max_instances=max_instances,
        single_instance=single_instance,
        split=split,
        render=True,
        rules=rules,
    )
    dataset = records_to_dataset(
        records,
        image="image",
        objects_feature=objects_feature(),
        extra_features={
            "cue_type": datasets.Value("string"),
            "target_index": datasets.Value("int32"),
            "resolver_steps": datasets.Value("string"),
        },
    )
    # (set here rather than through records_to_dataset's info_description, which builds a
    # DatasetInfo without features that datasets rejects)
    dataset.info.description = json.dumps(
        {"generator": "rsground_lib.data.synthetic", "stats": stats.as_dict()}
    )
    return dataset
