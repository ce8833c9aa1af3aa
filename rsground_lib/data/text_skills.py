"""Text skills of the tiny base: synthetic text-only sequences that teach the text model the
steps an executable reasoning trace is made of, before it ever sees a trace.

A reasoning the model cannot execute is noise to it (issue 22: the smoke CoT-SFT model copied
the cue word of its prompt at chance and answered its own reasoning's box in 11-16 % of the
scenes). The steps of :func:`rsground_lib.data.cot.steps_trace` are each one of four skills,
after a plain copy,
and each skill has its own generator here, in the trace's own notation (boxes written by
:func:`rsground_lib.prompts.format_box`, candidates labelled ``first`` … ``fifth``, one token
each in the tiny tokenizer):

* ``repeat`` — repeat a listing of labelled boxes token for token (every token after the
  first is a copy of the token that followed the previous one there: the plain induction
  copy the other skills build on);
* ``copy_word`` — repeat the position word of a short phrase ("the red leftmost ship" →
  "leftmost"): the trace's cue step;
* ``copy_box`` — repeat a label and the box listed after it ("first [8, 40, 20, 48]; second
  [28, 12, 40, 20]. second" → "second [28, 12, 40, 20]"; induction): the trace's chosen box;
* ``arg_extreme`` — the label and value of the smallest or largest of a labelled list of
  number tokens ("smallest: first 28, second 8" → "second 8"): the trace's choice;
* ``extreme_box`` — for a cue word, the edge it names read off each listed box, then the
  label and box of the extreme ("first [..]; second [..]. leftmost" → "leftmost x1: first
  8, second 28. so first [8, 40, 20, 48]"): the trace's whole symbolic part.

Every example is a prompt (one user turn, text only) and a completion; the extremes are
strict (no ties), so each target is the one right answer. :func:`make_examples` draws them,
:func:`chat_example` makes one a TRL prompt-completion example without images (the tiny
base's chat template renders it), and :func:`score_completions` scores greedy outputs by exact
match per skill. Deterministic in ``seed``. Our design for the CPU miniature (issue 22).

Book chapter: "CoT-SFT" (``book/03_cot_sft.py``, the tiny base checkpoint).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from rsground_lib import prompts, vocabulary

SKILLS: tuple[str, ...] = ("repeat", "copy_word", "copy_box", "arg_extreme", "extreme_box")
"""The text skills (module docstring): the plain copy first, then in the order a trace uses
them."""

LABELS: tuple[str, ...] = ("first", "second", "third", "fourth", "fifth")
"""Candidate labels of the executable trace and the text skills (single tokens of the tiny
tokenizer); a list holds at most this many items."""

POSITION_WORDS: tuple[str, ...] = (
    *vocabulary.EXTREME_EDGES,
    "largest", "smallest", "biggest", "first", "second", "third", "last", "upper", "lower",
    "middle", "central", "closest", "farthest",
)  # fmt: skip
"""Words the ``copy_word`` skill copies: the four extreme cue words and other position and
size words (the copy must work by attention, not by a lookup of four words)."""

FILLER_WORDS: tuple[str, ...] = (
    "the", "ship", "storage", "tank", "vehicle", "airplane", "building", "tennis", "court",
    "red", "white", "blue", "green", "yellow", "small", "large", "near", "of", "in", "image",
)  # fmt: skip
"""Words around the position word in a ``copy_word`` phrase (none of them is one)."""


def _box(rng: np.random.Generator, size: int, step: int) -> list[int]:
    """A random box on the ``step`` grid inside ``[0, size]²``, 1-5 steps wide and high."""
    w, h = (int(v) * step for v in rng.integers(1, 6, size=2))
    x1 = int(rng.integers(0, (size - w) // step + 1)) * step
    y1 = int(rng.integers(0, (size - h) // step + 1)) * step
    return [x1, y1, x1 + w, y1 + h]


def _listing(boxes_: Sequence[Sequence[int]]) -> str:
    return "; ".join(f"{LABELS[j]} {prompts.format_box(b)}" for j, b in enumerate(boxes_)) + "."


def _distinct_boxes(rng, k: int, size: int, step: int, edge: int | None = None) -> list:
    """``k`` different boxes; with ``edge``, their values at that index are all different."""
    while True:
        bs = [_box(rng, size, step) for _ in range(k)]
        keys = [tuple(b) for b in bs] if edge is None else [b[edge] for b in bs]
        if len(set(keys)) == k:
            return bs


def repeat(rng: np.random.Generator, *, size: int = 64, step: int = 4) -> tuple[str, str]:
    """2-5 labelled boxes → the same listing."""
    k = int(rng.integers(2, len(LABELS) + 1))
    listing = _listing(_distinct_boxes(rng, k, size, step))
    return listing, listing


def copy_word(rng: np.random.Generator) -> tuple[str, str]:
    """A phrase of 1-4 filler words with one position word inserted → that word."""
    word = POSITION_WORDS[int(rng.integers(len(POSITION_WORDS)))]
    fill = [FILLER_WORDS[int(i)] for i in rng.integers(len(FILLER_WORDS), size=rng.integers(1, 5))]
    fill.insert(int(rng.integers(len(fill) + 1)), word)
    return " ".join(fill), word


def copy_box(rng: np.random.Generator, *, size: int = 64, step: int = 4) -> tuple[str, str]:
    """2-5 labelled boxes and one label → that label and its box (the label first, as the
    trace writes ``so first [..]``: the label is what the copy looks back for)."""
    k = int(rng.integers(2, len(LABELS) + 1))
    bs = _distinct_boxes(rng, k, size, step)
    j = int(rng.integers(k))
    return f"{_listing(bs)} {LABELS[j]}", f"{LABELS[j]} {prompts.format_box(bs[j])}"


def arg_extreme(rng: np.random.Generator, *, size: int = 64, step: int = 4) -> tuple[str, str]:
    """``smallest:`` or ``largest:`` and 2-5 labelled numbers (distinct) → the label and value
    of the extreme."""
    k = int(rng.integers(2, len(LABELS) + 1))
    values = [int(v) * step for v in rng.choice(size // step + 1, size=k, replace=False)]
    op = "smallest" if rng.random() < 0.5 else "largest"
    j = int(np.argmin(values) if op == "smallest" else np.argmax(values))
    listed = ", ".join(f"{LABELS[i]} {v}" for i, v in enumerate(values))
    return f"{op}: {listed}", f"{LABELS[j]} {values[j]}"


def extreme_steps(boxes_: Sequence[Sequence[int]], cue: str, chosen: int) -> str:
    """The symbolic steps of an executable trace for listed ``boxes_`` and a cue word of
    :data:`rsground_lib.vocabulary.EXTREME_EDGES`: the cue, the edge it names, each box's value
    of that edge, and the ``chosen`` candidate's label and box: ``"leftmost x1: first 8,
    second 28. so first [8, 40, 20, 48]"``. Shared by :func:`extreme_box` and
    :func:`rsground_lib.data.cot.steps_trace`."""
    edge_name, edge, _ = vocabulary.EXTREME_EDGES[cue]
    values = ", ".join(f"{LABELS[j]} {int(b[edge])}" for j, b in enumerate(boxes_))
    return f"{cue} {edge_name}: {values}. so {LABELS[chosen]} {prompts.format_box(boxes_[chosen])}"


def extreme_box(rng: np.random.Generator, *, size: int = 64, step: int = 4) -> tuple[str, str]:
    """2-5 labelled boxes whose edges named by a cue word differ, and the cue word → the
    steps of :func:`extreme_steps`."""
    cue = list(vocabulary.EXTREME_EDGES)[int(rng.integers(len(vocabulary.EXTREME_EDGES)))]
    _, edge, side = vocabulary.EXTREME_EDGES[cue]
    k = int(rng.integers(2, len(LABELS) + 1))
    bs = _distinct_boxes(rng, k, size, step, edge=edge)
    vals = [b[edge] for b in bs]
    j = int(np.argmin(vals) if side == "min" else np.argmax(vals))
    return f"{_listing(bs)} {cue}", extreme_steps(bs, cue, j)


_MAKERS = {
    "repeat": lambda rng, size, step: repeat(rng, size=size, step=step),
    "copy_word": lambda rng, size, step: copy_word(rng),
    "copy_box": lambda rng, size, step: copy_box(rng, size=size, step=step),
    "arg_extreme": lambda rng, size, step: arg_extreme(rng, size=size, step=step),
    "extreme_box": lambda rng, size, step: extreme_box(rng, size=size, step=step),
}


def make_examples(
    n: int,
    *,
    seed: int,
    skills: Sequence[str] = SKILLS,
    weights: Sequence[float] | None = None,
    size: int = 64,
    step: int = 4,
) -> list[dict]:
    """``n`` examples ``{"skill", "prompt", "completion"}`` (texts), each skill drawn with
    probability ``weights`` (default: equal) from ``skills``; boxes and numbers on a grid of
    ``step`` in ``[0, size]`` (the tiny base's 4-px grid of a 64-px input by default).
    Deterministic in ``seed``; an unknown skill or a bad argument is a ValueError."""
    unknown = [s for s in skills if s not in _MAKERS]
    if unknown or not skills:
        raise ValueError(f"text_skills: expected skills from {SKILLS}; got {list(skills)!r}")
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"text_skills.make_examples: n must be an integer >= 0; got {n!r}")
    if step < 1 or size < 5 * step:
        raise ValueError(
            f"text_skills: expected step >= 1 and size >= 5 * step; got {size}, {step}"
        )
    p = None
    if weights is not None:
        w = np.asarray(weights, dtype=float)
        if w.shape != (len(skills),) or not np.all(np.isfinite(w)) or (w < 0).any() or w.sum() <= 0:
            raise ValueError(
                f"text_skills: weights must be {len(skills)} finite non-negative numbers with a "
                f"positive sum; got {list(weights)!r}"
            )
        p = w / w.sum()
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x7E57]))
    out = []
    for _ in range(n):
        skill = skills[int(rng.choice(len(skills), p=p))]
        prompt, completion = _MAKERS[skill](rng, size, step)
        out.append({"skill": skill, "prompt": prompt, "completion": completion})
    return out


def chat_example(example: dict) -> dict:
    """One text skill example as a TRL prompt-completion example without images: ``{"images":
    [], "prompt": [user turn], "completion": [assistant turn]}`` (the collator of the tiny
    base's trainer mixes such examples with grounding ones)."""
    return {
        "images": [],
        "prompt": [{"role": "user", "content": [{"type": "text", "text": example["prompt"]}]}],
        "completion": [
            {"role": "assistant", "content": [{"type": "text", "text": example["completion"]}]}
        ],
    }


def score_completions(examples: Sequence[dict], outputs: Sequence[str]) -> dict[str, float]:
    """Exact-match accuracy of greedy ``outputs`` (decoded completions, surrounding whitespace
    ignored) against ``examples`` per skill (the share of that skill's examples), plus ``all``
    over every example; a skill with no example is left out."""
    if len(outputs) != len(examples):
        raise ValueError(f"text_skills: {len(outputs)} outputs for {len(examples)} examples")
    hits: dict[str, list[float]] = {}
    for ex, out in zip(examples, outputs, strict=True):
        hits.setdefault(ex["skill"], []).append(float(out.strip() == ex["completion"].strip()))
    result = {s: float(np.mean(hits[s])) for s in SKILLS if s in hits}
    result["all"] = float(np.mean([h for v in hits.values() for h in v])) if hits else float("nan")
    return result
