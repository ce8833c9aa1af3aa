"""Evaluation: greedy answers of a model, scored by the scoring core with the chance levels
beside them, and scene-by-scene comparisons of models.

* :func:`score_grounding` — boxes in ORIGINAL pixels against the records: the metrics of
  :func:`rsground_lib.metrics.grounding_metrics` (``pr@0.5`` …, ``mean_iou``, ``cum_iou``,
  ``parse_rate``) plus quadrant and pick accuracy and their chance levels;
* :func:`evaluate` — a model's greedy answers (:func:`rsground_lib.generation.generate_answers`)
  scored so, plus whether the answer follows the model's own reasoning;
* :func:`evaluate_splits` and :func:`paired_comparisons` — every model on every split, and
  each model against a reference on the same scenes (exact McNemar test);
* :func:`predict` — the same batched greedy generation written to a JSONL file line by line
  (one line per sample), resumable after a crash, with a summary JSON and a run record
  beside it; the file's format, both ways, is :mod:`rsground_lib.predictions`' (which also
  scores such a file against a benchmark).

torch (and tqdm) are imported inside the generating functions only (here and in
:mod:`rsground_lib.generation`), so scoring predictions needs no deep-learning stack.

About 770 lines, over the project's ~600: scoring a model's answers, its chance levels, the
paired comparisons, the resumable prediction loop and the tiny base's benchmark all score
the same records the same way (:func:`score_grounding`, :func:`_box_original`); the parts
with their own concept already left (generation, the predictions file's format, the splits).

Book chapter: "Evaluation" (``book/05_evaluation.py``); the CoT-SFT and RFT chapters use it.
"""

from __future__ import annotations

import io
import math
import os
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from rsground_lib import (
    boxes,
    files,
    generation,
    language_prior,
    metrics,
    models,
    paths,
    predictions,
    prompts,
    reasoning,
)
from rsground_lib.data import base_scenes, benchmarks, splits

CHANCE_QUADRANT = 0.25
"""The chance level of the quadrant accuracy: a centre drawn uniformly at random."""


def _box_original(box_model, record: Mapping, processor) -> list[float] | None:
    """A parsed box in model pixels back to the record's original pixels (None stays None)."""
    if box_model is None:
        return None
    wh = (int(record["width"]), int(record["height"]))
    size = models.model_image_size(processor, *wh)
    return [float(v) for v in np.asarray(boxes.to_original_pixels(box_model, wh, size)).ravel()]


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


def _centre_pick(rec: Mapping, objs: Sequence, target_index: int, box) -> float:
    """1.0 when the predicted box's centre is nearer the target's centre than any other object
    of the target's class (ties to the first), else 0.0."""
    cat = rec.get("category")
    kinds = [o.get("category", o.get("class")) for o in rec.get("objects") or []]
    same = [k for k, c in enumerate(kinds) if c == cat] or list(range(len(objs)))
    if target_index not in same:
        same.append(target_index)
    centres = np.asarray(boxes.centers(np.asarray([objs[k] for k in same], dtype=float)))
    d = np.hypot(*(centres - np.asarray(boxes.centers(np.asarray(box, dtype=float)))).T)
    return float(same[int(np.argmin(d))] == target_index)


def _interval_pick(box, objs: Sequence, candidates: Sequence[int], axis: int) -> int | None:
    """The candidate whose extent along ``axis`` (0: x, 1: y) overlaps ``box``'s most (None
    when the box overlaps none of them along that axis)."""
    lo, hi = float(box[axis]), float(box[axis + 2])
    ov = [max(0.0, min(hi, objs[k][axis + 2]) - max(lo, objs[k][axis])) for k in candidates]
    return candidates[int(np.argmax(ov))] if max(ov) > 0 else None


def score_grounding(
    records: Sequence[dict],
    preds: Sequence[Sequence[float] | None],
    *,
    preset: str = "dior_rsvg",
    reasonings: Sequence[reasoning.Reasoning | None] | None = None,
) -> dict:
    """Score predicted boxes (ORIGINAL pixels, ``None`` = unparsable) against ``records``:
    :func:`rsground_lib.metrics.grounding_metrics` with ``preset`` (``pr@0.5`` … ``pr@0.9``,
    ``mean_iou``, ``cum_iou``, ``parse_rate``, ``n``), plus ``quadrant_acc`` (predicted
    centre in the target's quadrant; unparsed counts as wrong) and ``pick_acc`` (the
    predicted box overlaps the target more than any other object of the scene; needs
    ``objects``, else NaN), ``centre_pick_acc`` (the predicted centre is nearer the target's
    than any other instance of its class: which instance the model chose, however rough its
    box — the measure of the issue's plain-PyTorch reference; an unparsed answer is wrong),
    ``hit_rate`` (the predicted box overlaps some object of the scene at all; unparsed is a
    miss) and ``pick_given_class_hit`` (among answers whose best-overlapping object is of the
    target's class, the share for which it is the target: which instance the model chose when
    it landed on one — NaN when none did), ``axis_pick`` and ``cross_pick`` (on records
    whose expression ranks instances along an axis — "the leftmost …" — per the ``ranking``
    step of their ``resolver_steps``: the predicted box's extent overlaps the target's more
    than any other ranked instance's along the cue's axis, and across it; a model that chose
    the instance but did not bind its other coordinates to it scores high on the first only;
    NaN without such records), with the chance levels beside them: ``chance_quadrant`` 0.25,
    ``chance_pick`` (a random pick among the objects of the target's class,
    :func:`chance_pick`) and ``chance_pick_any`` (a random pick among all objects). With
    ``reasonings`` (one :class:`rsground_lib.reasoning.Reasoning` or None per record, boxes in
    ORIGINAL pixels), the links of the reasoning too: :data:`rsground_lib.reasoning.LINK_KEYS`
    (:func:`rsground_lib.reasoning.link_scores`: cue copied, choice listed and consistent,
    candidates' recall and precision)."""
    if len(preds) != len(records):
        raise ValueError(f"score_grounding: {len(preds)} predictions for {len(records)} records")
    targets, quad, pick, any_pick, centre_pick = [], [], [], [], []
    hit, class_hit_pick, axis_pick, cross_pick = [], [], [], []
    for i, (rec, box) in enumerate(zip(records, preds, strict=True)):
        wh = (int(rec["width"]), int(rec["height"]))
        target = [float(v) for v in rec["bbox"]]
        targets.append(target)
        quad.append(float(box is not None and quadrant(box, wh) == quadrant(target, wh)))
        objs = [o["bbox"] for o in rec.get("objects") or []]
        if not objs:
            continue
        any_pick.append(1.0 / len(objs))
        ti = rec.get("target_index")
        if ti is None:
            matches = [k for k, o in enumerate(objs) if np.allclose(o, target)]
            if not matches:
                raise ValueError(f"record {i}: its bbox is none of its objects' boxes")
            ti = matches[0]
        ti = int(ti)
        step = reasoning.ranking_step(rec, i)
        if step is not None:
            ranked = [int(k) for k in step["sorted"]]
            if any(not 0 <= k < len(objs) for k in ranked):
                raise ValueError(f"record {i}: its resolver_steps rank objects it does not have")
            axis = 0 if step["by"] == "cx" else 1
            axis_pick.append(
                float(box is not None and _interval_pick(box, objs, ranked, axis) == ti)
            )
            cross_pick.append(
                float(box is not None and _interval_pick(box, objs, ranked, 1 - axis) == ti)
            )
        if box is None:
            pick.append(0.0)
            centre_pick.append(0.0)
            hit.append(0.0)
            continue
        ious = np.atleast_1d(boxes.iou(np.asarray(box, float), np.asarray(objs, dtype=float)))
        best = int(np.argmax(ious))
        pick.append(float(best == ti and ious[best] > 0))
        hit.append(float(ious[best] > 0))
        kinds = [o.get("category", o.get("class")) for o in rec["objects"]]
        if ious[best] > 0 and kinds[best] == kinds[ti]:
            class_hit_pick.append(float(best == ti))
        centre_pick.append(_centre_pick(rec, objs, ti, box))
    result = metrics.grounding_metrics(list(preds), np.asarray(targets), preset=preset)
    result.update(
        quadrant_acc=float(np.mean(quad)) if quad else float("nan"),
        chance_quadrant=CHANCE_QUADRANT,
        pick_acc=float(np.mean(pick)) if pick else float("nan"),
        centre_pick_acc=float(np.mean(centre_pick)) if centre_pick else float("nan"),
        hit_rate=float(np.mean(hit)) if hit else float("nan"),
        pick_given_class_hit=float(np.mean(class_hit_pick)) if class_hit_pick else float("nan"),
        axis_pick=float(np.mean(axis_pick)) if axis_pick else float("nan"),
        cross_pick=float(np.mean(cross_pick)) if cross_pick else float("nan"),
        chance_pick=_nanmean_or_nan([chance_pick(r) for r in records]),
        chance_pick_any=float(np.mean(any_pick)) if any_pick else float("nan"),
    )
    if reasonings is not None:
        result.update(reasoning.link_scores(records, reasonings))
    return result


def evaluate(
    model,
    processor,
    records: Sequence[dict],
    *,
    prompt_style: str | None = None,
    max_new_tokens: int = 256,
    batch_size: int = 32,
    preset: str = "dior_rsvg",
) -> tuple[dict, list[dict]]:
    """Greedy grounding on ``records`` (:func:`rsground_lib.generation.generate_answers`), answers mapped back to
    original pixels and scored by :func:`score_grounding`, plus ``answer_follows_reasoning``:
    among answers whose text has a reasoning block with a box
    (:func:`rsground_lib.prompts.reasoning_boxes`), the share whose answer is the last box of
    the reasoning (NaN when no answer has one — e.g. box-only models), and the links of each
    completion's reasoning (:func:`rsground_lib.reasoning.parse_reasoning`, its boxes mapped to
    original pixels; :data:`rsground_lib.reasoning.LINK_KEYS`, NaN for box-only models).
    Returns ``(metrics, rows)``, one row per record: ``text``, ``box`` (original pixels or
    None), ``target``, ``iou``."""
    texts, _ = generation.generate_answers(
        model,
        processor,
        records,
        batch_size=batch_size,
        max_new_tokens=max_new_tokens,
        prompt_style=prompt_style,
    )
    return score_texts(records, texts, processor, preset=preset)


def score_texts(
    records: Sequence[dict], texts: Sequence[str], processor, *, preset: str = "dior_rsvg"
) -> tuple[dict, list[dict]]:
    """Score completion ``texts`` (one per record, boxes in the model pixels of
    ``processor``) as :func:`evaluate` scores a model's: the answers and the links of the
    reasoning mapped to original pixels, :func:`score_grounding`, ``answer_follows_reasoning``.
    ``(metrics, rows)`` as :func:`evaluate` returns them. Also scores texts that no model
    wrote — e.g. the training targets themselves, the ceiling of a trace style."""
    if len(texts) != len(records):
        raise ValueError(f"score_texts: {len(texts)} texts for {len(records)} records")
    parsed = [prompts.parse_answer(t) for t in texts]
    preds, rows, follows, thoughts = [], [], [], []
    for rec, text, box_m in zip(records, texts, parsed, strict=True):
        agrees = prompts.answer_follows_reasoning(text, box_m) if box_m is not None else None
        if agrees is not None:
            follows.append(float(agrees))
        box = _box_original(box_m, rec, processor)
        preds.append(box)
        thought = reasoning.parse_reasoning(text)
        thoughts.append(
            None
            if thought is None
            else thought.mapped(lambda b, rec=rec: _box_original(b, rec, processor))
        )
        target = [float(v) for v in rec["bbox"]]
        rows.append(
            {
                "text": text,
                "box": box,
                "target": target,
                "iou": float(boxes.iou(box, target)) if box is not None else 0.0,
            }
        )
    result = score_grounding(records, preds, preset=preset, reasonings=thoughts)
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


# ----------------------------------------------------------------------------- predictions


def _record_ids(records) -> list:
    """The ``id`` of every record (a ``datasets.Dataset`` is read by column, without decoding
    its images); a missing or non-string, non-integer id, or an id given twice, is a
    ValueError."""
    if hasattr(records, "column_names"):
        if "id" not in records.column_names:
            raise ValueError("predict: the records have no 'id' column")
        ids = list(records["id"])
    else:
        ids = []
        for i, rec in enumerate(records):
            if "id" not in rec:
                raise ValueError(f"predict: record {i} has no 'id'")
            ids.append(rec["id"])
    seen: dict = {}
    twice = []
    for i, rid in enumerate(ids):
        if isinstance(rid, bool) or not isinstance(rid, str | int):
            raise ValueError(f"predict: record {i}: id must be a string or an integer; got {rid!r}")
        if rid in seen:
            twice.append(f"{rid!r} (records {seen[rid]} and {i})")
        else:
            seen[rid] = i
    if twice:
        shown = ", ".join(twice[:5]) + (f" and {len(twice) - 5} more" if len(twice) > 5 else "")
        raise ValueError(f"predict: record ids must be unique; given twice: {shown}")
    return ids


def _open_image(record: Mapping) -> tuple[dict, str | None]:
    """``(record with a PIL image, image name)``: a path (string or ``PathLike``) or a
    ``datasets.Image`` dict (``{"bytes", "path"}``) is opened with PIL and converted to RGB;
    the name is the path as given (None for an in-memory image)."""
    image = record["image"]
    if isinstance(image, str | os.PathLike):
        with Image.open(image) as im:
            return {**record, "image": im.convert("RGB")}, str(image)
    if isinstance(image, Mapping):
        name = image.get("path")
        if image.get("bytes") is not None:
            with Image.open(io.BytesIO(image["bytes"])) as im:
                return {**record, "image": im.convert("RGB")}, name
        if name:
            with Image.open(name) as im:
                return {**record, "image": im.convert("RGB")}, str(name)
        raise ValueError(f"record {record.get('id')!r}: an image dict with neither bytes nor path")
    return dict(record), None


def _prediction_row(record: Mapping, image_name, text: str, processor) -> dict:
    box_model = prompts.parse_answer(text)
    box = _box_original(box_model, record, processor)
    return predictions.prediction_row(record, image_name, text, box_model, box)


def predict(
    model,
    processor,
    records: Sequence[dict],
    out_path: str | os.PathLike,
    *,
    batch_size: int = 32,
    max_new_tokens: int = 256,
    prompt_style: str | None = None,
    model_name: str = "",
    progress: bool = True,
    backend: str = "transformers",
    resume: bool | str = True,
    checkpoint: str | os.PathLike | None = None,
) -> dict:
    """Greedy predictions of ``model`` for ``records``, written to the JSONL file ``out_path``
    as they are made, resumable; returns the summary it writes beside it.

    Records carry ``id`` (unique: an id given twice is a ValueError), ``image`` (PIL, or a
    path opened with PIL), ``width``, ``height``, ``expression`` and ``bbox`` (original
    pixels). Generation is :func:`rsground_lib.generation.generate_answers`' (``batch_size`` prompts left-padded
    together, ``model.generate`` with the KV cache, ``prompt_style``: None is the
    checkpoint's own, :func:`rsground_lib.models.checkpoint_prompt_style`), so the completions are
    the same. Each batch's lines (:data:`rsground_lib.predictions.PREDICTION_KEYS`) are appended, flushed and
    fsync'd before the next batch starts.

    **Resume** (``resume=True``; ``False`` starts a fresh file). When ``out_path`` exists, the
    ids already written are skipped: a run killed
    part way and started again with the same arguments writes only what is missing. A
    truncated last line (a crash mid-write) is cut off and that record generated again; any
    other broken line, an id written twice, or an id that is not among ``records`` is a
    ValueError naming the file (and line). What wrote the file is recorded beside it before
    the first line (:func:`rsground_lib.predictions.run_record_path`, :func:`rsground_lib.predictions.prediction_settings`: ``checkpoint``
    with the sha256 of its weights when it is a local folder, the prompt style, the token
    budget, the backend); resuming with other settings is a ValueError that says what
    differs (``resume=False`` starts over; ``resume="matching"`` continues a file of the
    same run and starts over otherwise — a chapter re-executed by ``make reproduce`` keeps
    hours of predictions of an unchanged checkpoint). A file that is not a predictions file — a line
    that is not one of :data:`rsground_lib.predictions.PREDICTION_KEYS`'s lines — is refused in both modes and left
    as it is.

    **Summary.** At the end, :func:`rsground_lib.predictions.summary_path` (``preds.jsonl`` → ``preds.summary.json``)
    is written atomically (temporary file + ``os.replace``): ``n`` (records), ``done`` (lines
    written for them), ``generated`` (by this call), ``resumed`` (found in the file),
    ``parse_rate``, ``pr@0.5`` and ``mean_iou`` over the written lines
    (:func:`rsground_lib.metrics.grounding_metrics`, preset ``dior_rsvg``), ``model_name``,
    ``backend``, ``batch_size``, ``max_new_tokens``, ``prompt_style``, ``seconds`` (this
    call's wall time) and ``samples_per_second`` (``generated / seconds``; null when nothing
    was generated). A tqdm progress bar over samples goes to stderr when ``progress``.

    ``backend``: one of :data:`BACKENDS` (only ``"transformers"``; the extension point for
    vLLM). The model's training mode is restored afterwards."""
    from tqdm.auto import tqdm  # comes with the deep-learning stack, as torch

    if backend not in generation.BATCH_GENERATORS:
        raise ValueError(
            f"predict: backend must be one of {', '.join(generation.BACKENDS)}; got {backend!r}"
        )
    if batch_size < 1:
        raise ValueError(f"predict: batch_size must be >= 1; got {batch_size}")
    if resume not in (True, False, "matching"):
        raise ValueError(f"predict: resume must be True, False or 'matching'; got {resume!r}")
    generate_batch = generation.BATCH_GENERATORS[backend]
    prompt_style = prompt_style or models.checkpoint_prompt_style(model)
    t0 = time.perf_counter()
    out_path = Path(out_path)
    if out_path.parent.exists() and not out_path.parent.is_dir():
        raise ValueError(f"{out_path}: its parent {out_path.parent} is a file, not a folder")
    if out_path.is_dir():
        raise ValueError(f"{out_path}: a folder; give the predictions file's path")
    ids = _record_ids(records)
    index = {rid: i for i, rid in enumerate(ids)}
    settings = predictions.prediction_settings(
        checkpoint, prompt_style=prompt_style, max_new_tokens=max_new_tokens, backend=backend
    )
    rows, valid_bytes, truncated = [], 0, False
    if out_path.exists():  # whatever the mode: a file that is not ours is refused, untouched
        rows, valid_bytes, truncated = predictions.scan_predictions(out_path, strict=True)
    why_not = predictions.settings_differences(out_path, settings) if rows and resume else None
    if resume == "matching":  # the same run on a superset of its records, else start over
        resume = bool(rows) and why_not is None and all(r["id"] in index for r in rows)
    if resume and rows:
        if why_not is not None:
            raise ValueError(
                f"{out_path}: {why_not}; continuing could mix two models' answers: start over "
                "(--fresh) or choose another -o"
            )
        unknown = [r["id"] for r in rows if r["id"] not in index]
        if unknown:
            shown = ", ".join(repr(u) for u in unknown[:5])
            raise ValueError(
                f"{out_path}: {len(unknown)} written id(s) are not among the records "
                f"(e.g. {shown}); another run's file?"
            )
    if not resume:  # a fresh file: an earlier run's lines (maybe of another model) are dropped
        out_path.unlink(missing_ok=True)
        predictions.summary_path(out_path).unlink(missing_ok=True)
        rows, truncated = [], False
    out_path.parent.mkdir(parents=True, exist_ok=True)
    files.write_json(predictions.run_record_path(out_path), settings)
    if truncated:
        with open(out_path, "r+b") as f:
            f.truncate(valid_bytes)
            f.flush()
            os.fsync(f.fileno())
    rows_by_id: dict = {r["id"]: r for r in rows}
    resumed = len(rows_by_id)
    todo = [i for i, rid in enumerate(ids) if rid not in rows_by_id]

    bar = tqdm(
        total=len(ids),
        initial=resumed,
        desc="predict",
        unit="sample",
        file=sys.stderr,
        disable=not progress,
    )
    try:
        with generation.eval_mode(model), open(out_path, "a", encoding="utf-8") as f:
            for start in range(0, len(todo), batch_size):
                opened = [_open_image(records[i]) for i in todo[start : start + batch_size]]
                batch = [rec for rec, _ in opened]
                texts = generate_batch(
                    model,
                    processor,
                    batch,
                    max_new_tokens=max_new_tokens,
                    prompt_style=prompt_style,
                )
                if len(texts) != len(batch):
                    raise RuntimeError(
                        f"predict: backend {backend!r} gave {len(texts)} completions for "
                        f"{len(batch)} records"
                    )
                lines = []
                for (rec, name), text in zip(opened, texts, strict=True):
                    row = _prediction_row(rec, name, text, processor)
                    rows_by_id[row["id"]] = row
                    lines.append(predictions.prediction_line(row))
                f.write("".join(lines))
                f.flush()
                os.fsync(f.fileno())
                bar.update(len(batch))
    finally:
        bar.close()

    seconds = time.perf_counter() - t0
    done = [i for i, rid in enumerate(ids) if rid in rows_by_id]
    scored = (
        metrics.grounding_metrics(
            [rows_by_id[ids[i]]["bbox"] for i in done],
            np.asarray([[float(v) for v in records[i]["bbox"]] for i in done], dtype=float),
            preset="dior_rsvg",
        )
        if done
        else {"parse_rate": None, "pr@0.5": None, "mean_iou": None}  # JSON has no NaN
    )
    generated = len(todo)
    summary = {
        "predictions": out_path.name,
        "n": len(ids),
        "done": len(done),
        "generated": generated,
        "resumed": resumed,
        "parse_rate": scored["parse_rate"],
        "pr@0.5": scored["pr@0.5"],
        "mean_iou": scored["mean_iou"],
        "model_name": model_name,
        "backend": backend,
        "batch_size": batch_size,
        "max_new_tokens": max_new_tokens,
        "prompt_style": prompt_style,
        "seconds": round(seconds, 4),
        "samples_per_second": round(generated / seconds, 3) if generated and seconds > 0 else None,
    }
    files.write_json(predictions.summary_path(out_path), summary)
    return summary


def split_records(
    benchmark: str,
    data_root: str | os.PathLike | None = None,
    split: str = "test",
    *,
    limit: int | None = None,
    num: int = 512,
    image_size: int = 800,
    seed: int = 0,
) -> list[dict]:
    """The records of one split to predict on: a real benchmark read by
    :func:`rsground_lib.data.benchmarks.load_benchmark` (``data_root`` its folder), or a
    generated one (:data:`rsground_lib.data.splits.GENERATED_SPLITS`: ``num`` scenes of ``image_size`` px from
    ``seed``, the split name seeding them apart); the first ``limit`` records when given."""
    if limit is not None and limit < 1:
        raise ValueError(f"limit: expected a positive number of records; got {limit}")
    if benchmark in splits.GENERATED_SPLITS:
        records = splits.generated_split(
            benchmark, split, num=num, image_size=image_size, seed=seed
        )
    else:
        if data_root is None:
            raise ValueError(f"benchmark {benchmark!r}: give its folder (--data-root)")
        ds = benchmarks.load_benchmark(benchmark, data_root, split)
        records = [ds[i] for i in range(len(ds))]
    return records[:limit] if limit is not None else records


def run_checkpoints(
    start: str | os.PathLike, layout: paths.RunLayout
) -> tuple[dict[str, str], list[str]]:
    """``(present, absent)``: the checkpoints one run of the book produced, in training order —
    ``"start"`` (the model the CoT-SFT chapter started from: the tiny base, or Qwen2.5-VL
    zero-shot), then the models the chapters train (:data:`rsground_lib.paths.CHAPTER_MODELS`:
    ``"plain SFT"``, ``"CoT-SFT"``, ``"RFT"``, in ``layout``'s folders) — name → folder or
    hub id for those whose folder holds a ``config.json``, and the names of those this run
    has not trained. Nothing is created."""
    candidates = {"start": str(start)}
    candidates.update({name: str(layout.model(name)) for name in paths.CHAPTER_MODELS})
    present, absent = {}, []
    for name, where in candidates.items():
        folder = Path(where)
        is_folder = folder.is_dir() or name != "start"
        if is_folder and not (folder / "config.json").is_file():
            absent.append(name)
        else:
            present[name] = where
    return present, absent


def choose_checkpoint(
    name: str, present: Mapping[str, str], absent: Sequence[str], default: str
) -> str:
    """The model a chapter parameter names: ``""`` → ``default``; the name of one of the run's
    checkpoints (:func:`run_checkpoints`: ``"start"``, ``"plain SFT"``, ``"CoT-SFT"``,
    ``"RFT"``) → its folder, a ValueError when this run has not trained it; anything else →
    itself (a folder or hub id)."""
    if not name:
        return default
    if name in absent:
        raise ValueError(
            f"checkpoint {name!r}: this profile's run has not trained it yet; run its chapter "
            "first, or name a folder or hub id"
        )
    return present.get(name, name)


def size_bin(bbox: Sequence[float], width: float, height: float) -> str:
    """``"small"``, ``"medium"`` or ``"large"``: the target's area as a share of the image —
    below 1 %, 1–5 %, above 5 % (our bins for the size breakdown, not a benchmark's)."""
    share = (bbox[2] - bbox[0]) * (bbox[3] - bbox[1]) / (float(width) * float(height))
    return "small" if share < 0.01 else "medium" if share <= 0.05 else "large"


def breakdown_table(
    records: Sequence[dict], lines: Sequence[dict], by: str, *, preset: str = "dior_rsvg"
):
    """:func:`rsground_lib.metrics.metrics_by` of one model's predictions (``lines`` of a
    :func:`predict` file, in the records' order) per ``by``: ``"cue"`` (the record's cue tags,
    ``"class only"`` without one or with the tagger's ``"none"``), ``"size"`` (:func:`size_bin`) or ``"class"`` (the
    record's ``category``). A line that does not match its record's id is a ValueError."""
    rows = []
    for rec, line in zip(records, lines, strict=True):
        if line["id"] != rec["id"]:
            raise ValueError(
                f"breakdown_table: line id {line['id']!r} is not record id {rec['id']!r}"
            )
        key = {
            "cue": [c for c in rec.get("cues") or [] if c != "none"] or ["class only"],
            "size": size_bin(rec["bbox"], rec["width"], rec["height"]),
            "class": rec.get("category") or "(none)",
        }
        if by not in key:
            raise ValueError(f"by: expected one of {list(key)}; got {by!r}")
        rows.append({"pred": line["bbox"], "target": rec["bbox"], by: key[by]})
    return metrics.metrics_by(rows, by, preset=preset)


def gallery_picks(lines: Sequence[dict], k: int) -> tuple[list[int], list[int]]:
    """``(successes, failures)``: the indices of the ``k`` predictions with the highest IoU
    and of the ``k`` with the lowest (unparsed first), in file order within each — what a
    gallery of successes and failures draws."""
    order = sorted(range(len(lines)), key=lambda i: (lines[i]["iou"], i))
    failures = sorted(order[:k])
    successes = sorted(order[::-1][:k])
    return successes, failures


# ----------------------------------------------------------------------------- the tiny base's benchmark

PRIOR_KEYS: tuple[str, ...] = (
    "pr@0.5",
    "mean_iou",
    "pick_acc",
    "centre_pick_acc",
    "hit_rate",
    "pick_given_class_hit",
    "axis_pick",
    "cross_pick",
)
"""The scores of the language-only prior that :func:`evaluate_base` reports beside a model's."""


def base_language_prior(
    records: Sequence[dict], *, n_fit: int = 4096, seed: int, data: dict
) -> dict:
    """What the words alone score on ``records``: :mod:`rsground_lib.language_prior` (class and
    position words, no pixels) fitted on ``n_fit`` fresh scenes of the same keywords ``data``
    (seed ``seed``), its boxes scored like a model's (:func:`score_grounding`): :data:`PRIOR_KEYS`. On extreme-cue scenes the prior's *centre* pick is
    high (the leftmost instance tends to lie left), so a model's centre pick means something
    only above it; the overlap pick (``pick_acc``) needs the instance itself."""
    fit_recs = base_scenes.make_records(n_fit, seed=seed, **data)
    prior = language_prior.fit(
        [r["expression"] for r in fit_recs],
        [r["bbox"] for r in fit_recs],
        [(r["width"], r["height"]) for r in fit_recs],
        use=("category", "position"),
    )
    boxes_ = language_prior.predict(
        prior, [r["expression"] for r in records], [(r["width"], r["height"]) for r in records]
    )
    scored = score_grounding(records, [list(map(float, b)) for b in boxes_])
    return {k: scored[k] for k in PRIOR_KEYS}


def evaluate_base(model, processor, n: int = 512, prompt_style: str | None = None) -> dict:
    """The tiny base's benchmark: :func:`evaluate` on ``n`` fresh base scenes of each of
    :data:`rsground_lib.data.splits.BASE_EVAL_SPLITS` (fixed seeds, disjoint from training), with the chance levels
    and, under ``language_prior``, what the words alone score (:func:`base_language_prior`).
    ``rsground tiny-base eval``."""
    out = {}
    for split, (seed, data) in splits.BASE_EVAL_SPLITS.items():
        recs = splits.base_eval_split(split, n)
        out[split], _ = evaluate(
            model, processor, recs, prompt_style=prompt_style, max_new_tokens=24
        )
        out[split]["language_prior"] = base_language_prior(recs, seed=seed + 1, data=data)
    return out


def score_real_splits(
    checkpoint: str | os.PathLike,
    data_root: str | os.PathLike | None,
    labels: Sequence[str],
    out_dir: str | os.PathLike,
    *,
    limit: int = 0,
    resume: bool | str = False,
    **predict_kwargs,
) -> tuple[dict[str, dict], list[str]]:
    """``(scores, notes)``: ``checkpoint``'s predictions on each real split named in
    ``labels`` (:data:`rsground_lib.data.benchmarks.REAL_SPLITS`, read from ``data_root``;
    the first ``limit`` records when ``limit`` > 0), written to ``out_dir/<label>.jsonl`` by
    :func:`predict` (``resume`` as there; fresh files by default) and scored by :func:`rsground_lib.predictions.score_file`
    in original pixels with the split's preset; ``notes`` says which splits were not found,
    and which were found without any of their images (annotations only, as in the test
    data of this project: not scored). Some images present and others missing is an error
    naming the first missing file and the count."""
    if not labels:
        return {}, []
    found = benchmarks.load_available(data_root, labels=list(labels))
    notes = [f"{label}: {why}" for label, why in found.missing.items()]
    scores = {}
    chosen = {}
    for label, ds in found.datasets.items():
        n = len(ds) if limit <= 0 else min(limit, len(ds))
        records = [ds[i] for i in range(n)]
        absent = [
            r["image"]
            for r in records
            if isinstance(r["image"], str) and not Path(r["image"]).is_file()
        ]
        if absent and len(absent) == len(records):
            notes.append(f"{label}: none of its images is there (first: {absent[0]}); not scored")
        elif absent:
            raise FileNotFoundError(
                f"{label}: {len(absent)} of {len(records)} images are missing, the first "
                f"{absent[0]}; complete the images folder or set a limit"
            )
        else:
            chosen[label] = records
    if not chosen:
        return scores, notes
    model, processor = models.load_model(checkpoint)
    for label, records in chosen.items():
        path = Path(out_dir) / f"{paths.folder_name(label)}.jsonl"
        predict(
            model,
            processor,
            records,
            path,
            resume=resume,
            progress=False,
            checkpoint=checkpoint,
            **predict_kwargs,
        )
        scores[label] = predictions.score_file(path, records)
    return scores, notes
