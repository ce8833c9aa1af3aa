"""Scene splits and their seeds: which generated scenes each stage trains, validates and is
tested on, drawn apart by seed.

* :func:`scene_seed` — the one seed scheme, ``seed · 7919 + k`` for the ``k``-th draw of a run
  with seed ``seed`` (7919 is prime, so runs of different seeds do not share draws);
* :func:`train_and_val` — the training scenes and the two validation splits (``class_only``,
  ``with_position``) of the CoT-SFT and RFT chapters;
* :func:`generated_split` — a generated test split (:data:`GENERATED_SPLITS`) of the
  evaluation chapter and ``rsground predict``;
* :data:`BASE_EVAL_SPLITS` / :func:`base_eval_split` — the tiny base's own benchmark splits.

Book chapter: "CoT-SFT" (``book/03_cot_sft.py``), where the two validation splits are
introduced; the RFT and evaluation chapters draw theirs here too.
"""

from __future__ import annotations

from rsground_lib.data import base_scenes, cues, synthetic


def scene_seed(seed: int, k: int) -> int:
    """The seed of the ``k``-th scene draw of a run with seed ``seed``: ``seed · 7919 + k``
    (our scheme; a prime stride keeps the draws of runs with nearby seeds apart)."""
    return seed * 7919 + k


SCENE_SOURCES: tuple[str, ...] = ("base", "synthetic")
"""Where :func:`train_and_val` draws scenes: the tiny base's 64-px scenes
(:mod:`rsground_lib.data.base_scenes`) or the rich synthetic scenes
(:mod:`rsground_lib.data.synthetic`)."""


def train_and_val(
    scenes: str, *, num_train: int, num_val: int, seed: int = 0, image_size: int = 64
) -> tuple[list[dict], dict[str, list[dict]]]:
    """``(train_records, {split: val_records})`` for the CoT-SFT and RFT stages, disjoint by
    seed (:func:`scene_seed`).

    Two validation splits separate the two skills: ``class_only`` (the class names the
    target) and ``with_position`` (a positional cue is needed too). ``scenes="base"``:
    training scenes mix one instance per class (the expression is the class) and 2–3
    instances of the target class named by an extreme cue, 1–3 objects; ``class_only`` has
    one instance per class, ``with_position`` 2–3 of the target's class.
    ``scenes="synthetic"``: :func:`rsground_lib.data.synthetic.make_dataset` scenes (train /
    val seeds ``seed`` / ``seed + 1``); the val scenes are split by their cue tags (absolute,
    relative, ordinal or extreme → ``with_position``)."""
    if scenes == "base":
        draws = {"train": (1, "mixed"), "class_only": (2, "single"), "with_position": (3, "multi")}
        drawn = {
            name: base_scenes.make_records(
                num_train if name == "train" else num_val,
                seed=scene_seed(seed, k),
                image_size=image_size,
                max_objects=3,
                mode=mode,
            )
            for name, (k, mode) in draws.items()
        }
        return drawn.pop("train"), drawn
    if scenes == "synthetic":

        def rows(n, s, split):
            ds = synthetic.make_dataset(n, seed=s, image_size=image_size, split=split)
            return [ds[i] for i in range(len(ds))]

        val = rows(num_val, seed + 1, "val")
        positional = [bool(set(r["cues"]) & set(cues.POSITIONAL_TAGS)) for r in val]
        splits = {
            "class_only": [r for r, p in zip(val, positional, strict=True) if not p],
            "with_position": [r for r, p in zip(val, positional, strict=True) if p],
        }
        empty = [name for name, recs in splits.items() if not recs]
        if empty:  # the paired tests and every rate of an empty split would fail later
            raise ValueError(
                f"train_and_val: num_val={num_val} synthetic scenes leave the {' and '.join(empty)} "
                f"split empty ({sum(positional)} of {num_val} have a positional cue); raise num_val"
            )
        return rows(num_train, seed, "train"), splits
    raise ValueError(f"scenes: expected one of {SCENE_SOURCES}; got {scenes!r}")


def scenes_label(scenes: str, image_size: int) -> str:
    """The scenes a chapter trained or tested on, named for a reader: ``"base"`` or
    ``"base_scenes"`` → "the tiny base's 64-px scenes", ``"synthetic"`` → "the Data chapter's
    synthetic scenes (800 px)" — never the raw parameter value (issue 26)."""
    if scenes in ("base", "base_scenes"):
        return f"the tiny base's {image_size}-px scenes"
    if scenes == "synthetic":
        return f"the Data chapter's synthetic scenes ({image_size} px)"
    raise ValueError(
        f"scenes: expected one of {SCENE_SOURCES} or {tuple(GENERATED_SPLITS)}; got {scenes!r}"
    )


GENERATED_SPLITS: dict[str, str] = {
    "synthetic": "the rich synthetic scenes of the Data chapter (rsground_lib.data.synthetic)",
    "base_scenes": "the tiny base's 64-px scenes, one instance per class or 2-3 named by an "
    "extreme cue (rsground_lib.data.base_scenes, mode 'mixed')",
}
"""Benchmark names :func:`generated_split` makes instead of reading (``--benchmark`` of
``rsground predict``, :func:`rsground_lib.evaluation.split_records`)."""


def generated_split(
    benchmark: str, split: str, *, num: int, image_size: int, seed: int = 0
) -> list[dict]:
    """``num`` generated scenes of ``image_size`` px of a :data:`GENERATED_SPLITS` benchmark,
    from ``seed``, the split's name seeding them apart (``"synthetic"``: its own split
    argument; ``"base_scenes"``: :func:`scene_seed` with the sum of the name's character
    codes, ids ``base_scenes/<split>/<i>``)."""
    if benchmark == "synthetic":
        ds = synthetic.make_dataset(num, seed=seed, image_size=image_size, split=split)
        return [ds[i] for i in range(len(ds))]
    if benchmark == "base_scenes":
        offset = sum(map(ord, split))  # different splits, different scenes
        records = base_scenes.make_records(
            num, seed=scene_seed(seed, offset), image_size=image_size, max_objects=3, mode="mixed"
        )
        for i, rec in enumerate(records):
            rec.setdefault("id", f"base_scenes/{split}/{i}")
        return records
    raise ValueError(f"benchmark: expected one of {list(GENERATED_SPLITS)}; got {benchmark!r}")


BASE_EVAL_SPLITS: dict[str, tuple[int, dict]] = {
    "one_object": (454_545, {"max_objects": 1, "mode": "single"}),
    "class_only": (424_242, {"max_objects": 3, "mode": "single"}),
    "with_position": (434_343, {"max_objects": 3, "mode": "multi"}),
}
"""The tiny base's benchmark splits: (seed, base-scene keywords). ``class_only``: 1–3 objects,
one per class, the expression is the class; ``with_position``: 2–3 of the target's class
named by an extreme cue."""


def base_eval_split(name: str, n: int) -> list[dict]:
    """``n`` scenes of the tiny base's benchmark split ``name`` (:data:`BASE_EVAL_SPLITS`: its
    fixed seed and keywords)."""
    if name not in BASE_EVAL_SPLITS:
        raise ValueError(f"split: expected one of {list(BASE_EVAL_SPLITS)}; got {name!r}")
    seed, data = BASE_EVAL_SPLITS[name]
    return base_scenes.make_records(n, seed=seed, **data)
