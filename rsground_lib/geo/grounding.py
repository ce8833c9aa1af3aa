"""Grounding a sentence in a raster: its settings, the model's answer in every window, the
answers merged across overlapping windows, and their scores against known targets.

* :class:`GroundingSettings` — the settings of :func:`ground_raster`, stated once: defaults,
  ranges (checked on construction, a :class:`~rsground_lib.geo.raster.RasterError` naming the
  field and its range) and help texts; :meth:`GroundingSettings.add_arguments` /
  :meth:`GroundingSettings.from_args` make them the options of ``rsground ground``;
* :func:`ground_raster` — the sentence grounded in every window (batched,
  :func:`rsground_lib.generation.generate_scored`), each answer scored by the mean
  log-probability of its answer tokens, mapped to raster pixels, merged across overlapping
  windows (:func:`merge_candidates`) and the best ``top_k`` kept;
* :func:`score_groundings` / :func:`score_sentences` / :func:`ground_labelled` — groundings
  scored against known boxes (the chapter's synthetic rasters, a labelled aerial image).

Choosing a window by the answer's own log-probability, and merging overlapping answers, is our
design: the paper grounds whole images of one benchmark size.

Book chapter: "Grounding in a map" (``book/07_geo.py``).
"""

from __future__ import annotations

import argparse
import os
import sys
import types
import typing
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Literal

import numpy as np

from rsground_lib import boxes, generation, metrics, models, prompts
from rsground_lib.config import help_field
from rsground_lib.data import box_sentences
from rsground_lib.geo import coords, raster


@dataclass(frozen=True)
class GroundingSettings:
    """The settings of :func:`ground_raster`, checked on construction (:meth:`check`). Two are
    the model's own when None: ``tile`` (:func:`model_tile`) and ``prompt_style``
    (:func:`rsground_lib.models.checkpoint_prompt_style`); :meth:`for_model` fills them in.
    The options of ``rsground ground`` are made from the fields (:meth:`add_arguments`)."""

    tile: int | None = help_field(
        "window side, raster pixels, an integer >= 1 (default: the model's input side, at "
        f"most {raster.DEFAULT_TILE})",
        default=None,
    )
    overlap: float = help_field(
        "share of a window its neighbour shares, in [0, 1)", default=raster.DEFAULT_OVERLAP
    )
    bands: str | Sequence[int] | None = help_field(
        "1 or 3 band numbers read as RGB, e.g. 1,2,3 or 4 (default: the bands named red, "
        "green and blue, else the first three, else the one band as grey)",
        default=None,
    )
    stretch: Literal["auto", "percentile", "none"] = help_field(
        "8-bit conversion: 'auto' stretches non-uint8 bands between their 2nd and 98th percentiles",
        default="auto",
    )
    top_k: int = help_field("answers kept after merging overlaps, an integer >= 1", default=1)
    merge_iou: float = help_field("IoU at which two answers merge, in (0, 1]", default=0.5)
    min_valid: float = help_field(
        "skip windows with less valid data than this share, in [0, 1]", default=0.25
    )
    batch_size: int = help_field("windows per generation batch, an integer >= 1", default=16)
    max_new_tokens: int = help_field(
        "answer budget in tokens per window (reasoning included), an integer >= 1", default=768
    )
    prompt_style: Literal["compact", "full"] | None = help_field(
        "the prompt the model reads (default: the checkpoint's own: the style it was trained "
        "with, else 'compact' for the tiny models and 'full' otherwise)",
        default=None,
    )

    def __post_init__(self) -> None:
        self.check()

    def check(self) -> None:
        """A RasterError names the first setting out of its range, and the range."""

        def integer(v) -> bool:
            return isinstance(v, int) and not isinstance(v, bool)

        def number(v) -> bool:
            return isinstance(v, int | float) and not isinstance(v, bool)

        stretches, styles = (_choices(self, name) for name in ("stretch", "prompt_style"))
        checks = [
            ("tile", self.tile is None or (integer(self.tile) and self.tile >= 1),
             "an integer >= 1 (pixels)"),
            ("overlap", number(self.overlap) and 0.0 <= self.overlap < 1.0, "in [0, 1)"),
            ("top_k", integer(self.top_k) and self.top_k >= 1, "an integer >= 1"),
            ("merge_iou", number(self.merge_iou) and 0.0 < self.merge_iou <= 1.0, "in (0, 1]"),
            ("min_valid", number(self.min_valid) and 0.0 <= self.min_valid <= 1.0, "in [0, 1]"),
            ("batch_size", integer(self.batch_size) and self.batch_size >= 1, "an integer >= 1"),
            ("stretch", self.stretch in stretches, _one_of(stretches)),
            ("max_new_tokens", integer(self.max_new_tokens) and self.max_new_tokens >= 1,
             "an integer >= 1"),
            ("prompt_style", self.prompt_style is None or self.prompt_style in styles,
             f"{_one_of(styles)}, or None (the checkpoint's own)"),
        ]  # fmt: skip
        for name, ok, expected in checks:
            if not ok:
                raise raster.RasterError(f"{name} must be {expected}; got {getattr(self, name)!r}")
        raster.parse_bands(self.bands)  # a RasterError saying what bands expects

    def for_model(self, model, processor) -> GroundingSettings:
        """These settings with the model's own where None: ``tile`` its input side
        (:func:`model_tile`), ``prompt_style`` the checkpoint's
        (:func:`rsground_lib.models.checkpoint_prompt_style`)."""
        return replace(
            self,
            tile=model_tile(processor) if self.tile is None else self.tile,
            prompt_style=self.prompt_style or models.checkpoint_prompt_style(model),
        )

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        """One option per field on ``parser`` (``--top-k`` for ``top_k``): its type, its
        choices (a ``Literal`` field), its default and its help (the field's, with the default
        when it is not None)."""
        for f in fields(cls):
            kind, choices = _option_type(cls, f.name)
            default = f.default
            text = f.metadata["help"] + ("" if default is None else f" (default: {default})")
            parser.add_argument(
                "--" + f.name.replace("_", "-"),
                type=kind,
                default=default,
                choices=choices,
                help=text.replace("%", "%%"),
            )

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> GroundingSettings:
        """The settings of parsed options (:meth:`add_arguments`), checked."""
        return cls(**{f.name: getattr(args, f.name) for f in fields(cls)})


def _option_type(cls, name: str) -> tuple[type, tuple | None]:
    """``(type, choices)`` of a field as a command-line option: a ``Literal``'s values and
    their type; else the first type of the annotation that is not None (``str`` for
    ``bands``)."""
    hint = typing.get_type_hints(cls)[name]
    options = (
        [a for a in typing.get_args(hint) if a is not type(None)]
        if typing.get_origin(hint) in (typing.Union, types.UnionType)
        else [hint]
    )
    first = options[0]
    if typing.get_origin(first) is Literal:
        values = typing.get_args(first)
        return type(values[0]), values
    return first, None


def _choices(settings, name: str) -> tuple:
    return _option_type(type(settings), name)[1]


def _one_of(values: Sequence[str]) -> str:
    quoted = [repr(v) for v in values]
    return ", ".join(quoted[:-1]) + " or " + quoted[-1]


@dataclass
class Answer:
    """One answer of :func:`ground_raster`: ``box`` in raster pixels, ``score`` (mean
    log-probability of the answer tokens; higher is surer), the window that gave it, how many
    windows gave an overlapping answer (``support``, itself included), and ``rank`` (1 = best)."""

    box: list[float]
    score: float
    tile: raster.Tile
    support: int = 1
    rank: int = 0
    completion: str = ""


@dataclass
class Grounding:
    """What :func:`ground_raster` returns: the sentence, the raster's
    :class:`~rsground_lib.geo.raster.RasterInfo`, the bands read, the windows planned, those
    skipped for too little valid data, every window's parsed answer (``candidates``), the
    kept ``answers`` (best first), the count of unparsed answers and the settings used."""

    sentence: str
    info: raster.RasterInfo
    bands: tuple[int, ...]
    windows: list[raster.Tile]
    skipped: list[raster.Tile]
    candidates: list[Answer]
    answers: list[Answer]
    unparsed: int = 0
    settings: dict = field(default_factory=dict)
    """The settings used: every field of :class:`GroundingSettings` (the model's own filled in)
    and ``stretch_limits`` (per band ``(low, high)``, None without a stretch)."""


def merge_candidates(
    candidates: Sequence[Answer], iou: float = 0.5, top_k: int = 1
) -> list[Answer]:
    """The best ``top_k`` answers after merging overlaps: candidates sorted by score (ties:
    window order); each is kept unless its box overlaps an already kept one with IoU ≥
    ``iou``, in which case it adds one to that answer's ``support``. Kept answers are ranked
    from 1. Greedy non-maximum suppression, our design."""
    if top_k < 1:
        raise raster.RasterError(f"top_k must be >= 1; got {top_k}")
    order = sorted(range(len(candidates)), key=lambda i: (-candidates[i].score, i))
    kept: list[Answer] = []
    for i in order:
        c = candidates[i]
        hit = next(
            (k for k in kept if float(boxes.iou(np.asarray(k.box), np.asarray(c.box))) >= iou),
            None,
        )
        if hit is not None:
            hit.support += 1
            continue
        kept.append(Answer(list(c.box), c.score, c.tile, 1, 0, c.completion))
    out = kept[:top_k]
    for r, a in enumerate(out, start=1):
        a.rank = r
    return out


def model_tile(processor) -> int:
    """The window side that suits a model: the side of its input for a
    :data:`~rsground_lib.geo.raster.DEFAULT_TILE`-pixel square (the tiny models squash every
    image to 64 px, so 64), at most that tile (Qwen2.5-VL takes 800 px as DIOR-RSVG's
    images)."""
    w, h = models.model_image_size(processor, raster.DEFAULT_TILE, raster.DEFAULT_TILE)
    return int(min(raster.DEFAULT_TILE, w, h))


def clean_sentence(sentence: str) -> str:
    """The sentence with runs of whitespace collapsed; an empty one is a RasterError."""
    text = " ".join(str(sentence).split())
    if not text:
        raise raster.RasterError("sentence is empty: say what to find, e.g. 'the largest tree'")
    return text


def check_sentence_fits(sentence: str, model, processor, *, max_new_tokens: int) -> int:
    """The sentence's token count, or a RasterError when the sentence alone and the answer
    budget exceed the positions the model reads (``max_position_embeddings`` of its text
    model): a 120 KB sentence would otherwise take minutes before failing deep inside the
    model. Checked before any window is read."""
    n = len(processor.tokenizer(sentence, add_special_tokens=False)["input_ids"])
    config = getattr(model.config, "text_config", None) or model.config
    limit = getattr(config, "max_position_embeddings", None)
    if limit is not None and n + max_new_tokens > limit:
        raise raster.RasterError(
            f"sentence: {n:,} tokens ({len(sentence):,} characters); with an answer budget of "
            f"{max_new_tokens} tokens the model reads at most {limit:,} positions, the image's "
            "included: shorten the sentence"
        )
    return n


def ground_raster(
    path: str | os.PathLike,
    sentence: str,
    model,
    processor,
    settings: GroundingSettings | None = None,
    *,
    progress: bool = True,
    **options,
) -> Grounding:
    """Ground ``sentence`` in the raster at ``path`` with ``model``, window by window.

    ``settings`` (:class:`GroundingSettings`; None: the defaults), with ``options`` (fields of
    :class:`GroundingSettings` by name, e.g. ``tile=64``) replacing some of them; ``tile`` and
    ``prompt_style`` left None are the model's own (:meth:`GroundingSettings.for_model`).
    The raster is cut into :func:`~rsground_lib.geo.raster.plan_windows` (``tile``,
    ``overlap``); each window is read alone (:func:`~rsground_lib.geo.raster.read_window`,
    bands by :func:`~rsground_lib.geo.raster.choose_bands`, a percentile stretch for non-8-bit
    data by ``stretch``: ``"auto"``, ``"percentile"`` or ``"none"``); windows with less than
    ``min_valid`` valid pixels (nodata borders) are skipped and counted. At most
    ``batch_size`` window images are held at once; the model answers each with a confidence
    (:func:`rsground_lib.generation.generate_scored`, ``prompt_style`` as in training: the
    tiny models use ``"compact"``). Each parsed answer becomes a box in raster pixels
    (:func:`~rsground_lib.geo.coords.window_box_to_raster`); :func:`merge_candidates` keeps
    the best ``top_k``. A tqdm bar over windows goes to stderr when ``progress``. The
    returned :class:`Grounding`'s ``settings`` are the settings used (every field, the
    model's own filled in) and the ``stretch_limits``.

    Errors name the file: a missing raster (FileNotFoundError), an unreadable one, a band that
    does not exist, a setting out of range, an empty sentence or one longer than the model
    reads (:func:`check_sentence_fits`; :class:`~rsground_lib.geo.raster.RasterError`)."""
    import rasterio
    from tqdm.auto import tqdm

    sentence = clean_sentence(sentence)
    s = replace(settings or GroundingSettings(), **options).for_model(model, processor)
    check_sentence_fits(sentence, model, processor, max_new_tokens=s.max_new_tokens)
    with rasterio.Env(GDAL_CACHEMAX=raster.GDAL_CACHE_MB), raster._open(path) as ds:
        info = raster._info(ds, path)
        chosen = raster.choose_bands(info, s.bands)
        limits = (
            raster.stretch_limits(ds, chosen)
            if raster._needs_stretch(info, chosen, s.stretch)
            else None
        )
        windows = raster.plan_windows(info.width, info.height, s.tile, s.overlap)
        skipped: list[raster.Tile] = []
        candidates: list[Answer] = []
        unparsed = 0
        bar = tqdm(
            total=len(windows), desc="windows", unit="window", file=sys.stderr, disable=not progress
        )
        try:
            for start in range(0, len(windows), s.batch_size):
                batch, recs = [], []
                for t in windows[start : start + s.batch_size]:
                    image, share = raster.read_window(ds, t, chosen, limits)
                    if share < s.min_valid:
                        skipped.append(t)
                        continue
                    batch.append(t)
                    recs.append(
                        {
                            "image": image,
                            "width": t.width,
                            "height": t.height,
                            "expression": sentence,
                        }
                    )
                if recs:
                    scored = generation.generate_scored(
                        model,
                        processor,
                        recs,
                        batch_size=len(recs),
                        max_new_tokens=s.max_new_tokens,
                        prompt_style=s.prompt_style,
                    )
                    for t, (text, score) in zip(batch, scored, strict=True):
                        box_model = prompts.parse_answer(text)
                        if box_model is None:
                            unparsed += 1
                            continue
                        size_model = models.model_image_size(processor, t.width, t.height)
                        candidates.append(
                            Answer(
                                coords.window_box_to_raster(box_model, t, size_model),
                                score,
                                t,
                                completion=text,
                            )
                        )
                bar.update(len(windows[start : start + s.batch_size]))
        finally:
            bar.close()
    answers = merge_candidates(candidates, s.merge_iou, s.top_k) if candidates else []
    used = {**asdict(s), "stretch_limits": limits}
    return Grounding(sentence, info, chosen, windows, skipped, candidates, answers, unparsed, used)


def score_groundings(results: Sequence[Grounding], targets: Sequence[Sequence[float]]) -> dict:
    """How grounding in whole rasters went, against one known target box per raster (raster
    pixels): ``pr@0.5`` and ``mean_iou`` of the top answer (a raster without an answer is a
    miss; :func:`rsground_lib.metrics.grounding_metrics`, DIOR-RSVG's IoU > 0.5),
    ``candidate_recall`` (share of rasters where ANY window's answer has IoU > 0.5: what a
    perfect choice among the windows would score), ``answered``, and the mean numbers of
    windows, skipped windows and unparsed answers per raster."""
    if len(results) != len(targets):
        raise ValueError(f"score_groundings: {len(results)} results for {len(targets)} targets")
    if not results:
        raise ValueError("score_groundings: no results")
    top = [r.answers[0].box if r.answers else None for r in results]
    m = metrics.grounding_metrics(top, np.asarray(targets, dtype=float), preset="dior_rsvg")
    recall = [
        any(
            float(boxes.iou(np.asarray(c.box), np.asarray(t, dtype=float))) > 0.5
            for c in r.candidates
        )
        for r, t in zip(results, targets, strict=True)
    ]
    return {
        "n": len(results),
        "pr@0.5": float(m["pr@0.5"]),
        "mean_iou": float(m["mean_iou"]),
        "candidate_recall": float(np.mean(recall)),
        "answered": float(np.mean([bool(r.answers) for r in results])),
        "windows": float(np.mean([len(r.windows) for r in results])),
        "skipped": float(np.mean([len(r.skipped) for r in results])),
        "unparsed": float(np.mean([r.unparsed for r in results])),
    }


def score_sentences(results: Sequence[Grounding], records: Sequence[dict]) -> list[dict]:
    """One row per sentence grounded in a labelled raster (``records`` as
    :func:`rsground_lib.data.box_sentences.box_sentences` writes them, boxes in raster
    pixels): ``sentence``, ``iou`` of the top answer with the intended box (0 without an
    answer), ``hit`` (IoU > 0.5), ``best_iou_any`` (the top answer's best IoU with any
    labelled object: did it find *an* object?), ``score`` (its confidence; None without an
    answer) and ``windows`` (windows grounded: planned minus skipped)."""
    if len(results) != len(records):
        raise ValueError(f"score_sentences: {len(results)} results for {len(records)} sentences")
    rows = []
    for res, rec in zip(results, records, strict=True):
        top = res.answers[0] if res.answers else None
        iou = (
            float(boxes.iou(np.asarray(top.box), np.asarray(rec["bbox"], dtype=float)))
            if top
            else 0.0
        )
        others = np.asarray(
            [o["bbox"] for o in rec.get("objects", [])] or [rec["bbox"]], dtype=float
        )
        best = float(np.max(boxes.iou(np.asarray(top.box)[None, :], others))) if top else 0.0
        rows.append(
            {
                "sentence": res.sentence,
                "iou": round(iou, 4),
                "hit": iou > 0.5,
                "best_iou_any": round(best, 4),
                "score": round(top.score, 4) if top else None,
                "windows": len(res.windows) - len(res.skipped),
            }
        )
    return rows


def distinct_answers(results: Sequence[Grounding]) -> str:
    """How many different boxes the sentences' top answers are, as prose ("4 of 6"; boxes
    equal to the pixel count as one): sentences that name different instances but get the
    same box show that the model did not read what tells them apart (issue 26)."""
    tops = {tuple(round(float(v)) for v in r.answers[0].box) for r in results if r.answers}
    answered = sum(1 for r in results if r.answers)
    return f"{len(tops)} of {answered}"


def ground_labelled(
    path: str | os.PathLike | None,
    model,
    processor,
    settings: GroundingSettings | None = None,
    *,
    noun: str,
    **options,
) -> dict | None:
    """Ground every sentence that :func:`rsground_lib.data.box_sentences.box_sentences`
    writes from the labelled boxes of a raster (a Pascal-VOC XML beside it, same stem), and
    score them (:func:`score_sentences`). Returns ``{"info", "objects", "sentences", "results",
    "rows", "hits", "any_object", "n"}`` (``hits``: sentences whose top answer has IoU > 0.5
    with the intended box; ``any_object``: with some labelled box), or None when ``path`` is
    None or absent (no real data on this machine). ``settings`` and ``options`` (settings by
    name, ``progress``) go to :func:`ground_raster`."""
    if path is None or not Path(path).is_file():
        return None
    xml = Path(path).with_suffix(".xml")
    objects = box_sentences.read_boxes(xml)
    size = box_sentences.read_image_size(xml)
    info = raster.open_raster(path)
    if size != (info.width, info.height):
        raise raster.RasterError(
            f"{xml}: labels for a {size[0]} x {size[1]} image, but {path} is "
            f"{info.width} x {info.height}"
        )
    sentences = box_sentences.box_sentences(objects, *size, noun=noun)
    results = [
        ground_raster(path, s["expression"], model, processor, settings, **options)
        for s in sentences
    ]
    rows = score_sentences(results, sentences)
    return {
        "info": info,
        "objects": objects,
        "sentences": sentences,
        "results": results,
        "rows": rows,
        "n": len(rows),
        "hits": sum(r["hit"] for r in rows),
        "any_object": sum(r["best_iou_any"] > 0.5 for r in rows),
    }
