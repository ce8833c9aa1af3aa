"""Evaluation: greedy answers of a model, scored by the scoring core with the chance levels
beside them, and scene-by-scene comparisons of models.

* :func:`generate_answers` — batched greedy generation (left padding), each answer parsed
  by :func:`rsground_lib.prompts.parse_answer` (boxes in model-input pixels);
* :func:`score_grounding` — boxes in ORIGINAL pixels against the records: the metrics of
  :func:`rsground_lib.metrics.grounding_metrics` (``pr@0.5`` …, ``mean_iou``, ``cum_iou``,
  ``parse_rate``) plus quadrant and pick accuracy and their chance levels;
* :func:`evaluate` — both, plus whether the answer follows the model's own reasoning;
* :func:`evaluate_splits` and :func:`paired_comparisons` — every model on every split, and
  each model against a reference on the same scenes (exact McNemar test).

torch is imported inside :func:`generate_answers` only, so scoring predictions needs no
deep-learning stack.

Book chapter: "CoT-SFT" (``book/03_cot_sft.py``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from rsground_lib import boxes, conversation, metrics, models, prompts

CHANCE_QUADRANT = 0.25
"""The chance level of the quadrant accuracy: a centre drawn uniformly at random."""


def generate_answers(
    model,
    processor,
    records: Sequence[dict],
    *,
    batch_size: int = 32,
    max_new_tokens: int = 24,
    prompt_style: str = "full",
) -> tuple[list[str], list[list[float] | None]]:
    """Greedy completions of ``model`` for ``records`` (the prompt of
    :func:`rsground_lib.conversation.grounding_example` in ``prompt_style``), ``batch_size``
    at a time with left padding, and their parsed boxes in model pixels (``None`` when
    unparsable). The model's training mode is restored afterwards."""
    import torch  # the deep-learning stack stays optional for scoring (module docstring)

    texts_out: list[str] = []
    parsed: list[list[float] | None] = []
    tok = processor.tokenizer
    was_training = model.training
    model.eval()
    for i in range(0, len(records), batch_size):
        chunk = [
            conversation.grounding_example(r, processor, prompt_style=prompt_style)
            for r in records[i : i + batch_size]
        ]
        enc = conversation.prompt_inputs(processor, chunk).to(model.device)
        with torch.no_grad():
            out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False)
        for row in out[:, enc["input_ids"].shape[1] :]:
            text = tok.decode(row, skip_special_tokens=True)
            texts_out.append(text)
            parsed.append(prompts.parse_answer(text))
    if was_training:
        model.train()
    return texts_out, parsed


def quadrant(bbox: Sequence[float], size: Sequence[float]) -> int:
    """Which quadrant (0 upper left, 1 upper right, 2 lower left, 3 lower right) holds the
    box centre."""
    cx = (bbox[0] + bbox[2]) / 2
    cy = (bbox[1] + bbox[3]) / 2
    return int(cx >= size[0] / 2) + 2 * int(cy >= size[1] / 2)


def chance_pick(record: Mapping) -> float:
    """The chance of picking the target by a random pick among the objects of its class:
    ``1 / n_same`` when the record carries ``n_same``, else from its ``objects`` and
    ``category``; NaN when neither tells."""
    if "n_same" in record and record["n_same"]:
        return 1.0 / int(record["n_same"])
    objs = record.get("objects")
    if objs:
        cat = record.get("category")
        same = [o for o in objs if isinstance(o, dict) and o.get("category", o.get("class")) == cat]
        if same:
            return 1.0 / len(same)
    return float("nan")


def _nanmean_or_nan(values: Sequence[float]) -> float:
    if not values or all(math.isnan(v) for v in values):
        return float("nan")
    return float(np.nanmean(values))


def score_grounding(
    records: Sequence[dict], preds: Sequence[Sequence[float] | None], *, preset: str = "dior_rsvg"
) -> dict:
    """Score predicted boxes (ORIGINAL pixels, ``None`` = unparsable) against ``records``:
    :func:`rsground_lib.metrics.grounding_metrics` with ``preset`` (``pr@0.5`` … ``pr@0.9``,
    ``mean_iou``, ``cum_iou``, ``parse_rate``, ``n``), plus ``quadrant_acc`` (predicted
    centre in the target's quadrant; unparsed counts as wrong) and ``pick_acc`` (the
    predicted box overlaps the target more than any other object of the scene; needs
    ``objects``, else NaN), with the chance levels beside them: ``chance_quadrant`` 0.25,
    ``chance_pick`` (a random pick among the objects of the target's class,
    :func:`chance_pick`) and ``chance_pick_any`` (a random pick among all objects)."""
    if len(preds) != len(records):
        raise ValueError(f"score_grounding: {len(preds)} predictions for {len(records)} records")
    targets, quad, pick, any_pick = [], [], [], []
    for i, (rec, box) in enumerate(zip(records, preds, strict=True)):
        wh = (int(rec["width"]), int(rec["height"]))
        target = [float(v) for v in rec["bbox"]]
        targets.append(target)
        quad.append(float(box is not None and quadrant(box, wh) == quadrant(target, wh)))
        objs = [o["bbox"] for o in rec.get("objects") or []]
        if not objs:
            continue
        any_pick.append(1.0 / len(objs))
        if box is None:
            pick.append(0.0)
            continue
        ious = np.atleast_1d(boxes.iou(np.asarray(box, float), np.asarray(objs, dtype=float)))
        best = int(np.argmax(ious))
        ti = rec.get("target_index")
        if ti is None:
            matches = [k for k, o in enumerate(objs) if np.allclose(o, target)]
            if not matches:
                raise ValueError(f"record {i}: its bbox is none of its objects' boxes")
            ti = matches[0]
        pick.append(float(best == int(ti) and ious[best] > 0))
    result = metrics.grounding_metrics(list(preds), np.asarray(targets), preset=preset)
    result.update(
        quadrant_acc=float(np.mean(quad)) if quad else float("nan"),
        chance_quadrant=CHANCE_QUADRANT,
        pick_acc=float(np.mean(pick)) if pick else float("nan"),
        chance_pick=_nanmean_or_nan([chance_pick(r) for r in records]),
        chance_pick_any=float(np.mean(any_pick)) if any_pick else float("nan"),
    )
    return result


def evaluate(
    model,
    processor,
    records: Sequence[dict],
    *,
    prompt_style: str = "compact",
    max_new_tokens: int = 256,
    batch_size: int = 32,
    preset: str = "dior_rsvg",
) -> tuple[dict, list[dict]]:
    """Greedy grounding on ``records`` (:func:`generate_answers`), answers mapped back to
    original pixels and scored by :func:`score_grounding`, plus ``answer_follows_reasoning``:
    among answers whose text has a reasoning block with a box
    (:func:`rsground_lib.prompts.reasoning_boxes`), the share whose answer is the last box of
    the reasoning (NaN when no answer has one — e.g. box-only models). Returns ``(metrics,
    rows)``, one row per record: ``text``, ``box`` (original pixels or None), ``target``,
    ``iou``."""
    texts, parsed = generate_answers(
        model,
        processor,
        records,
        batch_size=batch_size,
        max_new_tokens=max_new_tokens,
        prompt_style=prompt_style,
    )
    preds, rows, follows = [], [], []
    for rec, text, box_m in zip(records, texts, parsed, strict=True):
        agrees = prompts.answer_follows_reasoning(text, box_m) if box_m is not None else None
        if agrees is not None:
            follows.append(float(agrees))
        wh = (int(rec["width"]), int(rec["height"]))
        box = None
        if box_m is not None:
            size = models.model_image_size(processor, *wh)
            box = [float(v) for v in np.asarray(boxes.to_original_pixels(box_m, wh, size)).ravel()]
        preds.append(box)
        target = [float(v) for v in rec["bbox"]]
        rows.append(
            {
                "text": text,
                "box": box,
                "target": target,
                "iou": float(boxes.iou(box, target)) if box is not None else 0.0,
            }
        )
    result = score_grounding(records, preds, preset=preset)
    result["answer_follows_reasoning"] = float(np.mean(follows)) if follows else float("nan")
    return result, rows


def evaluate_splits(
    model, processor, splits: Mapping[str, Sequence[dict]], **kwargs
) -> tuple[dict[str, dict], dict[str, list[dict]]]:
    """:func:`evaluate` on every split of ``splits`` (name → records), ``kwargs`` passed on:
    ``({split: metrics}, {split: rows})``."""
    results, rows = {}, {}
    for split, records in splits.items():
        results[split], rows[split] = evaluate(model, processor, records, **kwargs)
    return results, rows


def evaluate_checkpoints(
    checkpoints: Mapping[str, str], splits: Mapping[str, Sequence[dict]], **kwargs
) -> tuple[dict[str, dict], dict[str, dict]]:
    """Every checkpoint folder of ``checkpoints`` (name → folder,
    :func:`rsground_lib.models.load_model`) on every split (:func:`evaluate_splits`):
    ``({model: {split: metrics}}, {model: {split: rows}})``."""
    results, rows = {}, {}
    for name, folder in checkpoints.items():
        model, processor = models.load_model(folder)
        results[name], rows[name] = evaluate_splits(model, processor, splits, **kwargs)
    return results, rows


def paired_comparisons(
    rows: Mapping[str, Mapping[str, Sequence[dict]]], reference: str, threshold: float = 0.5
) -> dict[tuple[str, str], dict]:
    """Each model of ``rows`` (model → split → rows with ``iou``, as :func:`evaluate_splits`
    gives) against ``reference`` on the same scenes of every split:
    :func:`rsground_lib.metrics.paired_hits` (``only_a``: the reference right, the model
    wrong; exact McNemar p-value). Keys ``(model, split)``; the reference itself is left
    out."""
    if reference not in rows:
        raise ValueError(f"paired_comparisons: no rows for the reference {reference!r}")
    out = {}
    for name, by_split in rows.items():
        if name == reference:
            continue
        for split, model_rows in by_split.items():
            ref_rows = rows[reference][split]
            out[name, split] = metrics.paired_hits(
                [r["iou"] for r in ref_rows], [r["iou"] for r in model_rows], threshold=threshold
            )
    return out
