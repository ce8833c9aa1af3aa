"""The links of a reasoning: which candidates a completion's reasoning listed, which cue word
it named, which box it chose, whether that choice follows from the listed numbers, and
whether the listing matches the scene — so that a score says *which* link of the reasoning
breaks, not only that the final box missed.

RSGround-R1's reasoning lists the candidates of the named class, compares their positions
and chooses (the paper's "explicit position awareness"). A trace is read as (our design):

* the **reasoning** — the first complete ``<think>…</think>`` block
  (:func:`rsground_lib.prompts.reasoning_text`);
* the **choice marker** — the last ``→`` or the word ``so`` in it; the **chosen** box is the
  first box written after it, the **listed candidates** are the boxes written before it.
  Without a marker every box is listed and the last one is chosen (a lone candidate; a prose
  trace's closing "… at [x1, y1, x2, y2]" when it repeats a listed box is not listed twice).

Per record with ``objects`` (:func:`link_rows`; boxes compared in original pixels):

============================ ==========================================================
``cue_copied``               the reasoning names the expression's extreme cue word and
                             no other of :data:`rsground_lib.vocabulary.EXTREME_EDGES`
``choice_listed``            the chosen box is one of the listed candidates
``choice_consistent``        it is, and it is the extreme of the listed candidates along
                             the edge the cue names (``leftmost`` → the smallest x1),
                             computed from the listed numbers; a tie counts for each tied
                             candidate
``candidates_recall``        listed boxes matched one to one (greedily by IoU) to the
                             instances of the target's class at IoU ≥ 0.5: matched /
                             instances (summed over records)
``candidates_precision``     matched / listed (summed over records)
``candidates_count_exact``   as many candidates listed as the class has instances
``reasoning_rate``           the completion has a complete reasoning block at all
============================ ==========================================================

A completion without a reasoning block breaks every link (it counts as 0), unless no
completion of the set has one — a box-only model — when every link is NaN ("not a reasoning
model"). ``cue_copied`` and ``choice_consistent`` exist only on records whose expression is an
extreme cue (``resolver_steps`` with an ``extreme`` step whose phrase is a word of
:data:`rsground_lib.vocabulary.EXTREME_EDGES`); elsewhere they are NaN. ``answer_follows_
reasoning`` — the answer is the reasoning's last box — is
:func:`rsground_lib.prompts.answer_follows_reasoning`.

Book chapter: "CoT-SFT" (``book/03_cot_sft.py``, "Which link of the reasoning breaks").
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from rsground_lib import boxes, prompts, vocabulary

LINK_KEYS: tuple[str, ...] = (
    "cue_copied",
    "choice_listed",
    "choice_consistent",
    "candidates_recall",
    "candidates_precision",
    "candidates_count_exact",
    "reasoning_rate",
)
"""The link measures :func:`link_scores` returns (module docstring)."""

MATCH_IOU = 0.5
"""A listed candidate matches an instance of the class at IoU ≥ this."""

_MARKER_RE = re.compile(r"→|\bso\b", re.IGNORECASE)
_CUE_RE = re.compile(r"\b(" + "|".join(vocabulary.EXTREME_EDGES) + r")\b", re.IGNORECASE)


@dataclass(frozen=True)
class Reasoning:
    """What a completion's reasoning says (:func:`parse_reasoning`): the ``listed`` candidate
    boxes, the ``chosen`` box (None when the reasoning chose none) and the ``cue_words`` it
    names (extreme cue words, lower case, in order). Boxes in the frame the completion wrote
    them in (model pixels) until :meth:`mapped`."""

    listed: tuple[tuple[float, ...], ...]
    chosen: tuple[float, ...] | None
    cue_words: tuple[str, ...]

    def mapped(self, to_frame: Callable[[Sequence[float]], Sequence[float]]) -> Reasoning:
        """The same reasoning with every box passed through ``to_frame`` (e.g. model →
        original pixels)."""

        def f(b):
            return tuple(float(v) for v in to_frame(list(b)))

        return Reasoning(
            tuple(f(b) for b in self.listed),
            None if self.chosen is None else f(self.chosen),
            self.cue_words,
        )


def parse_reasoning(text) -> Reasoning | None:
    """The :class:`Reasoning` of a completion (a string or a conversational completion), or
    None when it has no complete ``<think>…</think>`` block. Never raises on model output;
    linear in its length."""
    think = prompts.reasoning_text(text)
    if think is None:
        return None
    markers = list(_MARKER_RE.finditer(think))
    if markers:
        cut = markers[-1]
        listed = prompts.boxes_in(think[: cut.start()])
        after = prompts.boxes_in(think[cut.end() :])
        chosen = after[0] if after else None
    else:
        listed = prompts.boxes_in(think)
        chosen = listed[-1] if listed else None
        if len(listed) > 1 and any(_same(listed[-1], b) for b in listed[:-1]):
            listed = listed[:-1]
    return Reasoning(
        tuple(tuple(b) for b in listed),
        None if chosen is None else tuple(chosen),
        tuple(m.group(1).lower() for m in _CUE_RE.finditer(think)),
    )


def _same(a, b) -> bool:
    return all(math.isclose(x, y, abs_tol=1e-6) for x, y in zip(a, b, strict=True))


def ranking_step(record: Mapping, i: int = 0) -> dict | None:
    """The last positional ranking step ("the leftmost …", "the second from the top …") of a
    record's ``resolver_steps`` — an ``extreme`` or ``ordinal`` step by ``cx`` or ``cy`` —
    or None. ``resolver_steps`` that is not JSON is a ValueError naming record ``i``."""
    raw = record.get("resolver_steps")
    if not raw:
        return None
    try:
        steps = json.loads(raw) if isinstance(raw, str) else raw
    except json.JSONDecodeError as exc:
        raise ValueError(f"record {i}: resolver_steps is not JSON ({exc})") from exc
    ranked = [
        st
        for st in steps
        if st.get("op") in ("extreme", "ordinal") and st.get("by") in ("cx", "cy")
    ]
    return ranked[-1] if ranked else None


def extreme_cue(record: Mapping, i: int = 0) -> str | None:
    """The extreme cue word of a record's expression (a key of
    :data:`rsground_lib.vocabulary.EXTREME_EDGES`) per its ranking step, or None."""
    step = ranking_step(record, i)
    if step is None or step.get("op") != "extreme":
        return None
    word = str(step.get("phrase") or vocabulary.SIDE_WORDS.get(step.get("side"), "")).lower()
    return word if word in vocabulary.EXTREME_EDGES else None


def is_consistent(listed: Sequence[Sequence[float]], chosen: Sequence[float], cue: str) -> bool:
    """Whether ``chosen`` is one of ``listed`` and holds the extreme (with ties) of the edge
    that ``cue`` names among them (:data:`rsground_lib.vocabulary.EXTREME_EDGES`)."""
    _, edge, side = vocabulary.EXTREME_EDGES[cue]
    if not any(_same(chosen, b) for b in listed):
        return False
    values = [b[edge] for b in listed]
    best = min(values) if side == "min" else max(values)
    return math.isclose(chosen[edge], best, abs_tol=1e-6)


def match_count(listed: Sequence[Sequence[float]], instances: Sequence[Sequence[float]]) -> int:
    """How many ``listed`` boxes match ``instances`` one to one at IoU ≥ :data:`MATCH_IOU`
    (greedy, highest IoU first)."""
    if not listed or not instances:
        return 0
    iou = np.array(
        [
            np.atleast_1d(boxes.iou(np.asarray(b, float), np.asarray(instances, float)))
            for b in listed
        ]
    )
    pairs = sorted(
        ((iou[a, b], a, b) for a in range(len(listed)) for b in range(len(instances))),
        reverse=True,
    )
    used_a, used_b, n = set(), set(), 0
    for v, a, b in pairs:
        if v < MATCH_IOU:
            break
        if a not in used_a and b not in used_b:
            used_a.add(a)
            used_b.add(b)
            n += 1
    return n


def link_rows(records: Sequence[Mapping], reasonings: Sequence[Reasoning | None]) -> list[dict]:
    """Per record with ``objects``, the links of its completion's reasoning (module
    docstring), boxes in the records' frame (original pixels): ``{"reasoning", "cue_copied",
    "choice_listed", "choice_consistent", "listed", "instances", "matched"}`` with None where
    a link does not apply. Records without ``objects`` give None."""
    if len(reasonings) != len(records):
        raise ValueError(
            f"reasoning.link_rows: {len(reasonings)} reasonings for {len(records)} records"
        )
    rows: list[dict | None] = []
    for i, (rec, rz) in enumerate(zip(records, reasonings, strict=True)):
        objs = rec.get("objects") or []
        if not objs:
            rows.append(None)
            continue
        cat = rec.get("category")
        instances = [o["bbox"] for o in objs if o.get("category", o.get("class")) == cat]
        cue = extreme_cue(rec, i)
        if rz is None:
            rows.append(
                {"reasoning": False, "cue_copied": None if cue is None else False,
                 "choice_listed": False, "choice_consistent": None if cue is None else False,
                 "listed": 0, "instances": len(instances), "matched": 0}
            )  # fmt: skip
            continue
        listed = [list(b) for b in rz.listed]
        chosen = None if rz.chosen is None else list(rz.chosen)
        in_list = chosen is not None and any(_same(chosen, b) for b in listed)
        rows.append(
            {
                "reasoning": True,
                "cue_copied": None if cue is None else set(rz.cue_words) == {cue},
                "choice_listed": in_list,
                "choice_consistent": (
                    None if cue is None else bool(in_list and is_consistent(listed, chosen, cue))
                ),
                "listed": len(listed),
                "instances": len(instances),
                "matched": match_count(listed, instances),
            }
        )
    return rows


def link_scores(records: Sequence[Mapping], reasonings: Sequence[Reasoning | None]) -> dict:
    """The link measures :data:`LINK_KEYS` over ``records`` (:func:`link_rows`; module
    docstring for each and for the NaN rules)."""
    rows = [r for r in link_rows(records, reasonings) if r is not None]
    nan = float("nan")
    if not rows or not any(r["reasoning"] for r in rows):
        return dict.fromkeys(LINK_KEYS, nan)

    def share(key):
        vals = [float(r[key]) for r in rows if r[key] is not None]
        return float(np.mean(vals)) if vals else nan

    instances = sum(r["instances"] for r in rows)
    listed = sum(r["listed"] for r in rows)
    matched = sum(r["matched"] for r in rows)
    return {
        "cue_copied": share("cue_copied"),
        "choice_listed": share("choice_listed"),
        "choice_consistent": share("choice_consistent"),
        "candidates_recall": matched / instances if instances else nan,
        "candidates_precision": matched / listed if listed else nan,
        "candidates_count_exact": float(
            np.mean([r["reasoning"] and r["listed"] == r["instances"] for r in rows])
        ),
        "reasoning_rate": float(np.mean([r["reasoning"] for r in rows])),
    }
