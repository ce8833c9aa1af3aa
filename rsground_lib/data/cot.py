"""Chain-of-thought traces for stage 1 (CoT-SFT): templates and a teacher.

RSGround-R1's first stage fine-tunes the model on "synthetic RSVG reasoning data that
establishes explicit position awareness": each answer first reasons about the candidates and
their positions, then gives the box. This module writes those answers, in the project's
contract ``<think>…</think><answer>[x1, y1, x2, y2]</answer>``
(:func:`rsground_lib.prompts.format_answer`), with every coordinate in the pixels of the image
*as the model sees it* (:func:`rsground_lib.boxes.model_size`; design page, "Coordinates").

Two sources (book chapter "Data", ``book/02_data.py``):

(a) **Templates** (:func:`template_trace`): derived from the scene's objects and the
    resolver's steps (``resolver_steps`` of a synthetic record): the candidates of the target
    class with their boxes, the cue applied ("sorted by centre x the tanks are …"), the
    choice; several wordings, chosen by a seed. Exact by construction.
(b) **A teacher** (:func:`rsground_lib.data.teacher.teacher_traces`): a stronger model is shown the image, the
    expression AND the ground-truth box (a hint) and asked to explain how to find the object;
    its final box is parsed (:func:`rsground_lib.prompts.parse_answer`) and the trace kept
    only when the box reaches ``IoU ≥ iou_threshold`` with the target (rejection sampling).
    Teachers: :class:`rsground_lib.data.teacher.EndpointTeacher` (any OpenAI-compatible chat-completions server, e.g.
    vLLM; standard library only) and :class:`rsground_lib.teachers.CheckpointTeacher` (a local
    transformers checkpoint). The image is sent resized to the model-input size, so "pixels of
    this image" and the hint's box share one frame (our design).

The SFT stage turns records and traces into TRL's conversations
(:func:`rsground_lib.training.sft.sft_examples`).

About 640 lines, over the project's ~600: the trace styles (prose, compact, steps) share
their candidate ordering and wording helpers, and the teachers' hint and rejection sampling
check the same traces.

Book chapter: "Data" (``book/02_data.py``).
"""

from __future__ import annotations

import io
import json
import math
import zlib
from collections.abc import Mapping, Sequence

import numpy as np

from rsground_lib import boxes, prompts, vocabulary
from rsground_lib.data import text_skills
from rsground_lib.vocabulary import CLASS_NOUNS

# --------------------------------------------------------------------------- helpers


def record_image(record: Mapping):
    """The record's image as a ``PIL.Image`` (RGB): a PIL image, ``{"bytes", "path"}`` or a path."""
    from PIL import Image

    value = record.get("image")
    if isinstance(value, Image.Image):
        return value.convert("RGB")
    if isinstance(value, Mapping):
        if value.get("bytes"):
            return Image.open(io.BytesIO(value["bytes"])).convert("RGB")
        if value.get("path"):
            return Image.open(value["path"]).convert("RGB")
    if isinstance(value, str) and value:
        return Image.open(value).convert("RGB")
    raise ValueError(
        f"record {record.get('id')!r}: expected an image (PIL image, {{'bytes'|'path'}} or a "
        f"path); got {type(value).__name__}"
    )


def record_model_size(record: Mapping, model_size_fn=None, **resize) -> tuple[int, int]:
    """The model-input size ``(width, height)`` of a record's image: Qwen2.5-VL's resize
    (:func:`rsground_lib.boxes.model_size`; ``resize`` = ``min_pixels``/``max_pixels``), or
    ``model_size_fn(width, height)`` when given (e.g. ``functools.partial(
    rsground_lib.models.model_image_size, processor)`` for another processor)."""
    try:
        w, h = int(record["width"]), int(record["height"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(
            f"record {record.get('id')!r}: expected integer 'width' and 'height'"
        ) from exc
    if model_size_fn is not None:
        mw, mh = model_size_fn(w, h)
        return int(mw), int(mh)
    return boxes.model_size((w, h), **resize)


def record_box_model(bbox, record: Mapping, model_wh) -> list[float]:
    """``bbox`` (original pixels of the record's image) in the pixels of a ``model_wh`` input."""
    out = boxes.to_model_pixels(bbox, (int(record["width"]), int(record["height"])), model_wh)
    return [float(v) for v in np.asarray(out).ravel()]


def _ibox(box_model) -> str:
    return prompts.format_box(box_model)


def _rng_for(record: Mapping, seed, rng) -> np.random.Generator:
    if rng is not None:
        return rng
    if seed is None:
        seed = zlib.crc32(str(record.get("id", "")).encode("utf-8"))
    return np.random.default_rng(np.random.SeedSequence([int(seed), 0xC07]))


def _pick(rng: np.random.Generator, options: Sequence[str]) -> str:
    return options[int(rng.integers(len(options)))]


def _plural(category: str) -> str:
    """The plural noun of a synthetic class id (:data:`rsground_lib.vocabulary.CLASS_NOUNS`);
    another category (e.g. the tiny base scenes' "storage tank") is its own singular, plural
    with an "s"."""
    pairs = CLASS_NOUNS.get(category)
    return pairs[0][1] if pairs else f"{category}s"


def _singular(category: str) -> str:
    pairs = CLASS_NOUNS.get(category)
    return pairs[0][0] if pairs else str(category)


_RANK_WORDS = {1: "first", 2: "second", 3: "third", 4: "fourth", 5: "fifth"}
_SIDE_ORDER = {
    "left": "from left to right",
    "right": "from right to left",
    "top": "from top to bottom",
    "bottom": "from bottom to top",
}
_CELL_WORDS = {
    (0, 0): "upper-left",
    (0, 1): "top-middle",
    (0, 2): "upper-right",
    (1, 0): "middle-left",
    (1, 1): "central",
    (1, 2): "middle-right",
    (2, 0): "lower-left",
    (2, 1): "bottom-middle",
    (2, 2): "lower-right",
}


# --------------------------------------------------------------------------- templates


class _Writer:
    """Writes the reasoning for one record in model pixels, with seeded wording."""

    def __init__(self, record: Mapping, rng: np.random.Generator, resize: dict, size_fn=None):
        self.record = record
        self.rng = rng
        self.model_wh = record_model_size(record, size_fn, **resize)
        self.objects = list(record["objects"])
        self.mbox = [record_box_model(o["bbox"], record, self.model_wh) for o in self.objects]
        sx = self.model_wh[0] / float(record["width"])
        sy = self.model_wh[1] / float(record["height"])
        self.area_scale = sx * sy
        self.labels: dict[int, str] = {}

    def centre(self, i: int) -> tuple[int, int]:
        b = self.mbox[i]
        return int(round((b[0] + b[2]) / 2)), int(round((b[1] + b[3]) / 2))

    def name(self, i: int) -> str:
        return self.labels.get(i, f"the {_singular(self.objects[i]['category'])}")

    def where(self, i: int) -> str:
        return f"{self.name(i)} at {_ibox(self.mbox[i])}"

    def label(self, members: Sequence[int]) -> None:
        for k, i in enumerate(members, start=1):
            self.labels[i] = f"#{k}"

    def candidates(self, step: dict, intro: bool) -> str:
        members = step["candidates"]
        cat = step["category"]
        noun = step.get("noun") or _singular(cat)
        if not members:
            return f"I find no {noun} here."
        if len(members) == 1:
            self.labels[members[0]] = f"the {noun}"
            return _pick(
                self.rng,
                (
                    f"There is only one {noun} in the image, at {_ibox(self.mbox[members[0]])}.",
                    f"I see a single {noun}: {_ibox(self.mbox[members[0]])}.",
                ),
            )
        self.label(members)
        listing = "; ".join(f"{self.labels[i]} {_ibox(self.mbox[i])}" for i in members)
        head = _pick(
            self.rng,
            (
                f"I can see {len(members)} {_plural(cat)}: {listing}.",
                f"There are {len(members)} {_plural(cat)} in the image: {listing}.",
                f"Candidates ({_plural(cat)}): {listing}.",
            ),
        )
        return head if intro or len(members) > 1 else listing

    def color(self, step: dict) -> str:
        colors = ", ".join(f"{self.name(i)} {c}" for i, c in step["colors"])
        kept = step["possible"]
        if len(kept) == 1:
            tail = f"only {self.name(kept[0])} is {step['color']}"
        else:
            tail = f"{len(kept)} of them are {step['color']}"
        return _pick(
            self.rng,
            (
                f"The description says '{step['phrase']}'. Their colours: {colors}; {tail}.",
                f"Colour is the cue ('{step['phrase']}'): {colors}. So {tail}.",
            ),
        )

    def cell(self, step: dict) -> str:
        mw, mh = self.model_wh
        cell = tuple(step["cell"])
        r, c = cell
        xs = [0, round(mw / 3), round(2 * mw / 3), mw]
        ys = [0, round(mh / 3), round(2 * mh / 3), mh]
        region = f"x {xs[c]}–{xs[c + 1]}, y {ys[r]}–{ys[r + 1]}"
        grid = _pick(
            self.rng,
            (
                f"The image is {mw}×{mh}; a 3×3 grid cuts x at {xs[1]} and {xs[2]} and y at "
                f"{ys[1]} and {ys[2]}.",
                f"Splitting the {mw}×{mh} image into thirds: columns end at x={xs[1]}, "
                f"{xs[2]}, {mw}; rows end at y={ys[1]}, {ys[2]}, {mh}.",
            ),
        )
        centres = "; ".join(
            f"{self.name(i)} centre {self.centre(i)} → {_CELL_WORDS[(rr, cc)]}"
            for i, rr, cc in step["cells"]
        )
        kept = step["possible"]
        tail = (
            f"Only {self.name(kept[0])} lies in the {_CELL_WORDS[cell]} cell ({region})."
            if len(kept) == 1
            else f"{len(kept)} lie in the {_CELL_WORDS[cell]} cell ({region})."
        )
        return (
            f"'{step['phrase']}' points to the {_CELL_WORDS[cell]} part. {grid} {centres}. {tail}"
        )

    def size(self, step: dict) -> str:
        areas = ", ".join(
            f"{self.name(i)} ≈{int(round(a * self.area_scale))} px²" for i, a in step["areas"]
        )
        kept = step["possible"]
        word = "larger" if step["size"] == "large" else "smaller"
        tail = (
            f"{self.name(kept[0])} is clearly {word} than the others"
            if len(kept) == 1
            else "the sizes are too close to tell"
        )
        return f"The description says '{step['phrase']}'. Their areas: {areas}; {tail}."

    def ranking(self, step: dict) -> str:
        side, rank = step["side"], step["rank"]
        order = step["sorted"]
        kept = step["possible"]
        if step["by"] == "area":
            sorted_txt = ", ".join(
                f"{self.name(i)} (≈{int(round(float(self.area_of(i))))} px²)" for i in order
            )
            how = "by area, largest first" if side == "largest" else "by area, smallest first"
        else:
            axis = 0 if step["by"] == "cx" else 1
            sorted_txt = ", ".join(
                f"{self.name(i)} ({'x' if axis == 0 else 'y'}={self.centre(i)[axis]})"
                for i in order
            )
            how = f"by centre {'x' if axis == 0 else 'y'} {_SIDE_ORDER[side]}"
        if step["op"] == "ordinal":
            what = f"the {_RANK_WORDS.get(rank, str(rank))} from the {side}"
            quoted = f"{_RANK_WORDS.get(rank, str(rank))} from the {side}"
        elif side in ("largest", "smallest"):
            what = f"the {side}"
            quoted = step["phrase"]
        else:
            small = side in ("left", "top")
            what = (
                f"the {side}most one ({'smallest' if small else 'largest'} centre "
                f"{'x' if side in ('left', 'right') else 'y'})"
            )
            quoted = step["phrase"]
        chosen = (
            f"{what} is {self.name(kept[0])}"
            if len(kept) == 1
            else f"{what} is ambiguous between {', '.join(self.name(i) for i in kept)}"
        )
        return _pick(
            self.rng,
            (
                f"The description says '{quoted}'. Sorted {how}: {sorted_txt}. So {chosen}.",
                f"'{quoted}' asks for {what}. Ordering them {how}: {sorted_txt}; {chosen}.",
            ),
        )

    def area_of(self, i: int) -> float:
        return float(self.objects[i].get("area_px") or 0.0) * self.area_scale

    def anchor(self, steps: list[dict]) -> str:
        """Describe how an anchor (reference object) is found, from its own steps."""
        first = steps[0]
        members = first["candidates"]
        noun = first.get("noun") or _singular(first["category"])
        last = steps[-1]
        found = last.get("possible", members)
        if len(steps) == 1:
            if len(found) == 1:
                return f"there is one {noun}, at {_ibox(self.mbox[found[0]])}"
            return f"there are {len(found)} {_plural(first['category'])}"
        phrase = last.get("phrase", "")
        if len(found) == 1:
            return (
                f"of the {len(members)} {_plural(first['category'])}, the one '{phrase}' is at "
                f"{_ibox(self.mbox[found[0]])}"
            )
        return f"'{phrase}' matches {len(found)} {_plural(first['category'])}"

    def relation(self, step: dict) -> str:
        rel = step["relation"]
        anchors = step["anchors"]
        for a in anchors:
            self.labels.setdefault(a, f"the {_singular(self.objects[a]['category'])}")
        if len(step["anchor_steps"]) == 1 and len(anchors) == 2:
            ref = f"the reference objects: {self.anchor(step['anchor_steps'][0])}: " + " and ".join(
                _ibox(self.mbox[a]) for a in anchors
            )
        else:
            ref = "the reference: " + "; ".join(self.anchor(s) for s in step["anchor_steps"])
        kept = step["possible"]
        pieces = []
        if rel in ("left", "right", "above", "below"):
            a = anchors[0]
            ac = self.centre(a)
            for i in step["candidates"]:
                c = self.centre(i)
                pieces.append(
                    f"{self.name(i)} centre {c} (dx {c[0] - ac[0]:+d}, dy {c[1] - ac[1]:+d})"
                )
            rule = {
                "left": "to its left (dx < 0, mostly horizontal)",
                "right": "to its right (dx > 0, mostly horizontal)",
                "above": "above it (dy < 0, mostly vertical)",
                "below": "below it (dy > 0, mostly vertical)",
            }[rel]
            intro = f"Its centre is {ac}. I need the {_singular(self.objects[kept[0]]['category']) if kept else 'object'} {rule}."
        elif rel == "near":
            scale = math.sqrt(self.area_scale)
            for i, g in step.get("gaps", []):
                pieces.append(f"{self.name(i)} gap ≈{int(round(g * scale))} px")
            intro = "I need the candidate closest to it."
        else:
            for i, t, off in step.get("projections", []):
                pieces.append(f"{self.name(i)} at {t:.2f} along the line (offset {off:.2f})")
            intro = "I need the candidate on the line between them."
        measured = "; ".join(pieces)
        tail = (
            f"Only {self.name(kept[0])} fits."
            if len(kept) == 1
            else f"{len(kept)} candidates fit, which is ambiguous."
        )
        return f"First {ref}. {intro} {measured}. {tail}"


def template_trace(
    record: Mapping,
    *,
    seed: int | None = None,
    rng: np.random.Generator | None = None,
    min_pixels: int = boxes.QWEN2VL_MIN_PIXELS,
    max_pixels: int = boxes.QWEN2VL_MAX_PIXELS,
    model_size_fn=None,
    style: str = "prose",
    coord_step: int = 1,
) -> str:
    """The SFT target for one synthetic record: reasoning from the resolver's steps, then the
    box, as ``<think>…</think><answer>[x1, y1, x2, y2]</answer>``.

    ``style="prose"`` writes sentences (below); ``style="compact"`` the same content in a
    terse notation for a tiny model's capacity (:func:`compact_trace`: candidates and the
    sorted coordinate of the cue, ~15–50 tokens instead of ~100–400); ``style="steps"`` an
    executable trace, every step a copy or a comparison of numbers already written
    (:func:`steps_trace`). The boxes of the last two are on a grid of ``coord_step`` model
    pixels (the tiny base answers in multiples of 4).

    The reasoning names the candidates of the target class with their boxes in MODEL pixels
    (the image after Qwen2.5-VL's resize to multiples of 28, :func:`record_model_size`), the
    cue applied (grid cells, sorted coordinates, areas, colours, offsets to the anchor) and
    the choice; wording is picked from several templates by ``rng``, or by a generator seeded
    with ``seed`` (default: a hash of the record's ``id``, so it is stable). Needs the
    synthetic columns ``objects``, ``resolver_steps`` and ``target_index``; ValueError
    otherwise. The paper's position-aware CoT data (stage 1), the
    templates are our design.
    """
    missing = [k for k in ("objects", "resolver_steps", "expression", "bbox") if k not in record]
    if missing:
        raise ValueError(
            f"record {record.get('id')!r}: template traces need the synthetic columns "
            f"{missing} (made by rsground_lib.data.synthetic.make_dataset)"
        )
    try:
        steps = json.loads(record["resolver_steps"])
    except (TypeError, ValueError) as exc:
        raise ValueError(f"record {record.get('id')!r}: resolver_steps is not JSON text") from exc
    r = _rng_for(record, seed, rng)
    w = _Writer(record, r, {"min_pixels": min_pixels, "max_pixels": max_pixels}, model_size_fn)
    if style == "compact":
        return compact_trace(record, steps, w, coord_step=coord_step)
    if style == "steps":
        return steps_trace(record, steps, w, coord_step=coord_step)
    if style != "prose":
        raise ValueError(f"style: expected one of {TRACE_STYLES}; got {style!r}")
    expression = str(record["expression"])
    sentences = [
        _pick(
            r,
            (
                f'The description is "{expression}".',
                f'I need to find: "{expression}".',
                f'Target: "{expression}".',
            ),
        )
    ]
    intro = True
    for step in steps:
        op = step["op"]
        if op == "category":
            sentences.append(w.candidates(step, intro))
            intro = False
        elif op == "color":
            sentences.append(w.color(step))
        elif op == "cell":
            sentences.append(w.cell(step))
        elif op == "size":
            sentences.append(w.size(step))
        elif op in ("ordinal", "extreme"):
            sentences.append(w.ranking(step))
        elif op == "relation":
            sentences.append(w.relation(step))
    target = int(record["target_index"]) if "target_index" in record else None
    box_model = record_box_model(record["bbox"], record, w.model_wh)
    who = w.name(target) if target is not None else "the object"
    sentences.append(
        _pick(
            r,
            (
                f"So the answer is {who} at {_ibox(box_model)}.",
                f"Therefore the target is {who}, box {_ibox(box_model)}.",
                f"The described object is {who} at {_ibox(box_model)}.",
            ),
        )
    )
    think = " ".join(s for s in sentences if s)
    return prompts.format_answer(think, box_model)


TRACE_STYLES: tuple[str, ...] = ("prose", "compact", "steps")
"""Styles of :func:`template_trace`: sentences (Qwen2.5-VL on the full profile), the compact
notation, and the executable steps (the tiny model on the smoke profile)."""

_COMPACT_OPS = ("category", "extreme", "ordinal")


def compact_trace(
    record: Mapping, steps: Sequence[Mapping], writer: _Writer, coord_step: int = 1
) -> str:
    """The terse trace of :func:`template_trace` ``style="compact"``: the boxes of the
    candidates (the instances of the named class, in the order of the ``category`` step), then
    for a ranking cue the cue word, the candidates' centre coordinates along its axis in
    sorted order (rounded from the unquantised boxes, so they are monotone), and the pick::

        <think>[4, 8, 16, 20]; [32, 12, 44, 28]. rightmost: x 38, 10 → [32, 12, 44, 28]</think>
        <answer>[32, 12, 44, 28]</answer>

    Boxes are on a grid of ``coord_step`` model pixels. The class is not repeated: it is the
    prompt's, and copying a multi-token noun is a skill of its own for a tiny model. Supports
    ``category``, ``extreme`` and ``ordinal`` steps (the tiny base scenes' cues); another step
    is a ValueError naming the record (use ``style="prose"``). Our design, for the tiny CPU
    model."""
    other = [s["op"] for s in steps if s["op"] not in _COMPACT_OPS]
    if other:
        raise ValueError(
            f"record {record.get('id')!r}: compact traces support {_COMPACT_OPS} steps, not "
            f"{sorted(set(other))}; use style='prose'"
        )
    step_px = int(coord_step)
    qbox = [boxes.quantize_box(b, step_px, writer.model_wh) for b in writer.mbox]

    def centre(i: int, k: int) -> int:
        # From the unquantised box: the resolver sorted by these, so the printed values are
        # in order (centres of grid boxes can tie or swap).
        return writer.centre(i)[k]

    parts = []
    for step in steps:
        if step["op"] == "category":
            parts.append("; ".join(_ibox(qbox[i]) for i in step["candidates"]) + ".")
        else:
            if step["by"] == "area":
                values = [int(round(writer.area_of(i))) for i in step["sorted"]]
                axis = "area"
            else:
                k = 0 if step["by"] == "cx" else 1
                values = [centre(i, k) for i in step["sorted"]]
                axis = "x" if k == 0 else "y"
            cue = step.get("phrase") or f"{step['side']}most"
            kept = step["possible"]
            pick = _ibox(qbox[kept[0]]) if len(kept) == 1 else "ambiguous"
            parts.append(f"{cue}: {axis} " + ", ".join(str(v) for v in values) + f" → {pick}")
    target = record.get("target_index")
    box = (
        qbox[int(target)]
        if target is not None
        else boxes.quantize_box(
            record_box_model(record["bbox"], record, writer.model_wh), step_px, writer.model_wh
        )
    )
    return prompts.format_answer(" ".join(parts), box)


def _reading_order(writer: _Writer, members: Sequence[int]) -> list[int]:
    """``members`` left to right by their box centre's x, then y (model pixels, unquantised):
    the fixed order in which a steps trace lists candidates."""
    return sorted(
        members,
        key=lambda i: (
            writer.mbox[i][0] + writer.mbox[i][2],
            writer.mbox[i][1] + writer.mbox[i][3],
        ),
    )


def steps_trace(
    record: Mapping, steps: Sequence[Mapping], writer: _Writer, coord_step: int = 4
) -> str:
    """The executable trace of :func:`template_trace` ``style="steps"``: every step after the
    listing is a copy or a comparison of numbers already written, the skills of
    :mod:`rsground_lib.data.text_skills`::

        <think>first [8, 40, 20, 48]; second [28, 12, 40, 20]; third [52, 40, 64, 48].
        leftmost x1: first 8, second 28, third 52. so first [8, 40, 20, 48]</think>
        <answer>[8, 40, 20, 48]</answer>

    (one line in the trace). The candidates — the instances of the named class — are listed
    left to right (:func:`_reading_order`), each as a whole box on the ``coord_step`` grid and
    labelled ``first`` … ``fifth``; then the cue word copied from the expression, the edge it
    names (:data:`rsground_lib.vocabulary.EXTREME_EDGES`: ``leftmost`` → x1) and each
    candidate's value of that edge *read off its listed box* (no arithmetic, where the compact
    trace wrote centres), then the chosen candidate's label and box copied; the answer copies
    that box. A lone candidate gets no comparison step, only the choice
    (``<think>first [..]. so first [..]</think>``).

    The chosen candidate is the resolver's target (ranked by centres). On the 4-px grid the
    named edge does not always single it out: two candidates can share the value (a tie, which
    the trace resolves to the target) and, rarely, another candidate's edge is more extreme
    although its centre is not (:func:`edge_agreement` counts both). Supports ``category`` and
    ``extreme`` steps whose cue is a word of :data:`rsground_lib.vocabulary.EXTREME_EDGES` (the
    tiny base scenes); anything else, or more than five candidates, is a ValueError naming the
    record (use ``style="prose"``). Our reading of the paper's "explicit position awareness",
    made executable for the CPU miniature (issue 22)."""
    other = [s["op"] for s in steps if s["op"] not in ("category", "extreme")]
    if other:
        raise ValueError(
            f"record {record.get('id')!r}: steps traces support category and extreme steps, "
            f"not {sorted(set(other))}; use style='prose'"
        )
    cats = [s for s in steps if s["op"] == "category"]
    if len(cats) != 1:
        raise ValueError(f"record {record.get('id')!r}: steps traces need one category step")
    members = _reading_order(writer, cats[0]["candidates"])
    if not 1 <= len(members) <= len(text_skills.LABELS):
        raise ValueError(
            f"record {record.get('id')!r}: steps traces list 1 to {len(text_skills.LABELS)} "
            f"candidates; this scene has {len(members)}"
        )
    qbox = {
        i: boxes.quantize_box(writer.mbox[i], int(coord_step), writer.model_wh) for i in members
    }
    target = int(record["target_index"])
    if target not in qbox:
        raise ValueError(f"record {record.get('id')!r}: its target is not a candidate")
    listed = [qbox[i] for i in members]
    think = "; ".join(f"{text_skills.LABELS[j]} {_ibox(b)}" for j, b in enumerate(listed)) + "."
    ext = [s for s in steps if s["op"] == "extreme"]
    if ext:
        cue = str(ext[-1].get("phrase") or vocabulary.SIDE_WORDS.get(ext[-1].get("side"), ""))
        if cue not in vocabulary.EXTREME_EDGES or ext[-1].get("by") not in ("cx", "cy"):
            raise ValueError(
                f"record {record.get('id')!r}: steps traces compare by the edges of "
                f"{list(vocabulary.EXTREME_EDGES)}; got the cue {cue!r}"
            )
        think += " " + text_skills.extreme_steps(listed, cue, members.index(target))
    else:
        # no comparison, but the same choice step: the answer then copies the box just
        # before it, as after a comparison (without it the tiny model re-read the lone box's
        # coordinates from the image in 5 % of the answers, issue 22)
        think += f" so {text_skills.LABELS[0]} {_ibox(listed[0])}"
    return prompts.format_answer(think, qbox[target])


def edge_agreement(
    records: Sequence[Mapping], *, coord_step: int = 4, model_size_fn=None
) -> dict[str, int]:
    """On records with an extreme cue (``resolver_steps`` with an ``extreme`` step whose word is
    in :data:`rsground_lib.vocabulary.EXTREME_EDGES`), how often the edge the cue names, read
    off the candidates' boxes on the ``coord_step`` grid of the model input, singles out the
    target the resolver chose by centres: ``{"n", "agree", "tie", "contradict"}`` — ``tie``:
    the target shares the extreme value with another candidate; ``contradict``: another
    candidate alone holds it. Why the steps trace compares edges (:func:`steps_trace`): a
    value read off a listed box needs no arithmetic, and these counts say what that costs."""
    out = {"n": 0, "agree": 0, "tie": 0, "contradict": 0}
    for rec in records:
        steps = (
            json.loads(rec["resolver_steps"])
            if isinstance(rec.get("resolver_steps"), str)
            else rec.get("resolver_steps") or []
        )
        ext = [s for s in steps if s.get("op") == "extreme"]
        cats = [s for s in steps if s.get("op") == "category"]
        if not ext or not cats:
            continue
        cue = str(ext[-1].get("phrase") or vocabulary.SIDE_WORDS.get(ext[-1].get("side"), ""))
        if cue not in vocabulary.EXTREME_EDGES:
            continue
        _, edge, side = vocabulary.EXTREME_EDGES[cue]
        wh = record_model_size(rec, model_size_fn)
        val = {
            i: boxes.quantize_box(
                record_box_model(rec["objects"][i]["bbox"], rec, wh), coord_step, wh
            )[edge]
            for i in cats[0]["candidates"]
        }
        best = (min if side == "min" else max)(val.values())
        holders = [i for i, v in val.items() if v == best]
        target = int(rec["target_index"])
        out["n"] += 1
        if holders == [target]:
            out["agree"] += 1
        elif target in holders:
            out["tie"] += 1
        else:
            out["contradict"] += 1
    return out
