"""Prompts: the conversation the model sees, the answer contract, and the robust parser of
what it writes back.

The contract (design page, "Rewards and the consistency weight")::

    <think> … reasoning … </think><answer>[x1, y1, x2, y2]</answer>

with the box in *model-input* pixels — the image as Qwen2.5-VL sees it after its resize to
multiples of 28 (:func:`rsground_lib.boxes.model_size`). The user turn states that size so
the model knows the coordinate frame.

Model output never raises here: :func:`parse_answer` returns ``None`` for anything it cannot
read, and :func:`check_format` returns ``False``. Bad input from *our* side (a target box
that is not four finite numbers, a think text holding the contract's tags) is a ValueError.

Book chapter: "Rewards and spatial consistency" (``book/01_rewards.py``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from rsground_lib.boxes import MAX_ABS_COORD

SYSTEM_PROMPT = (
    "You are an expert in remote-sensing image interpretation. Given an aerial or satellite "
    "image and a referring expression, find the one object the expression describes. "
    "First reason step by step about the objects in the image and their positions, inside "
    "<think> </think> tags. Then give the object's bounding box as absolute pixel "
    "coordinates [x1, y1, x2, y2] of the image as you see it (x to the right, y downwards, "
    "(x1, y1) the top-left corner), inside <answer> </answer> tags, e.g. "
    "<think>...</think><answer>[x1, y1, x2, y2]</answer>."
)
"""The system prompt: task, reasoning-then-answer contract, coordinate frame."""

USER_TEMPLATE = (
    'The image is {width}x{height} pixels. Locate the object described by: "{expression}". '
    "Answer with <think>...</think><answer>[x1, y1, x2, y2]</answer>."
)
"""The user turn's text, after the image; filled by :func:`user_text`."""


_THINK_OPEN, _THINK_CLOSE = "<think>", "</think>"
_ANSWER_OPEN, _ANSWER_CLOSE = "<answer>", "</answer>"
_TAGS = (_THINK_OPEN, _THINK_CLOSE, _ANSWER_OPEN, _ANSWER_CLOSE)

# A number as models write it: optional sign, digits with an optional fraction (or a bare
# fraction), optional exponent. ASCII digits only; not glued to a letter, digit, "_" or "."
# on the left (so the "1" of "x1" is not a number) nor, on the right, to a letter, digit,
# "_", "%" (a percentage is not a pixel) or a "." followed by a digit ("200.5.6" is not
# 200.5).
_NUM = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_NUM_RE = re.compile(rf"(?<![\w.]){_NUM}(?![\w%]|\.\d)", re.ASCII)
_BBOX_KEY_RE = re.compile(r"""bbox(?:_2d)?["']?\s*[:=]\s*\[([^\[\]]*)\]""", re.ASCII)
# Every optional separator below starts with a required character, so no two ``\s*`` can
# share a run of spaces: the patterns stay linear on adversarial input (no backtracking
# blow-up on "(1,2)" followed by 10^5 spaces).
_PAIRS_RE = re.compile(
    rf"\(\s*({_NUM})\s*,\s*({_NUM})\s*\)\s*(?:[,-]\s*|to\s+)?\(\s*({_NUM})\s*,\s*({_NUM})\s*\)",
    re.ASCII,
)
_BRACKET_RE = re.compile(r"\[([^\[\]]*)\]")
# A bracket group is a box candidate when, its numbers removed, only separators remain.
_SEPARATORS_RE = re.compile(r"[\s,;]*")
_THINK_BLOCK_RE = re.compile(r"<think>.*?(?:</think>|\Z)", re.DOTALL)
_FORMAT_RE = re.compile(r"\s*<think>(.*?)</think>\s*<answer>(.*?)</answer>\s*", re.DOTALL)


# ----------------------------------------------------------------------------- building


def user_text(expression: str, image_size_model: Sequence[int]) -> str:
    """The user turn's text: the image size in model pixels and the referring expression.

    Stating ``width x height`` tells the model the frame its coordinates live in (design page,
    "Coordinates"; our reading of the paper, whose prompt is not public).
    """
    if not isinstance(expression, str) or not expression.strip():
        raise ValueError(f"expression: expected a non-empty string; got {expression!r}")
    try:
        width, height = (int(v) for v in image_size_model)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"image_size_model: expected (width, height) in model pixels; got {image_size_model!r}"
        ) from exc
    if width <= 0 or height <= 0:
        raise ValueError(f"image_size_model: expected positive sizes; got {image_size_model!r}")
    return USER_TEMPLATE.format(width=width, height=height, expression=expression.strip())


def build_messages(
    expression: str,
    image_size_model: Sequence[int],
    *,
    answer: str | None = None,
    system_prompt: str = SYSTEM_PROMPT,
) -> list[dict]:
    """The conversation for one sample, in the chat-messages format that the Qwen2.5-VL
    processor's chat template and TRL accept::

        [{"role": "system", "content": [{"type": "text", "text": SYSTEM_PROMPT}]},
         {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": ...}]}]

    The image itself travels in the dataset's ``image`` column (the ``{"type": "image"}``
    part marks where it goes). With ``answer`` (e.g. from :func:`format_answer`) an
    assistant turn is appended — the SFT target. The paper's prompt is not public; this one
    is our reading of the paper (design page, "Coordinates").
    """
    messages: list[dict] = [
        {"role": "system", "content": [{"type": "text", "text": system_prompt}]},
        {
            "role": "user",
            "content": [
                {"type": "image"},
                {"type": "text", "text": user_text(expression, image_size_model)},
            ],
        },
    ]
    if answer is not None:
        if not isinstance(answer, str):
            raise ValueError(f"answer: expected a string; got {type(answer).__name__}")
        messages.append({"role": "assistant", "content": [{"type": "text", "text": answer}]})
    return messages


def format_box(bbox_model: Sequence[float]) -> str:
    """A box as the contract writes it: ``[x1, y1, x2, y2]`` with integer coordinates
    (Python's ``round``, ties to even). ValueError unless four finite numbers. Qwen2.5-VL's
    integer absolute-pixel boxes; the contract is our reading of the paper.
    """
    try:
        values = [float(v) for v in bbox_model]
    except (TypeError, ValueError) as exc:
        raise ValueError(f"bbox_model: expected four numbers; got {bbox_model!r}") from exc
    if len(values) != 4 or not all(math.isfinite(v) for v in values):
        raise ValueError(f"bbox_model: expected four finite numbers; got {bbox_model!r}")
    return "[" + ", ".join(str(int(round(v))) for v in values) + "]"


def format_answer(think: str, bbox_model: Sequence[float]) -> str:
    """The SFT target text ``<think>{think}</think><answer>[x1, y1, x2, y2]</answer>``, box in
    model pixels rounded to integers (:func:`format_box`).

    ValueError if ``think`` contains one of the contract's tags (the result would not pass
    :func:`check_format`). The DeepSeek-R1-style contract of the design page (our reading of the
    paper).
    """
    if not isinstance(think, str):
        raise ValueError(f"think: expected a string; got {type(think).__name__}")
    bad = [t for t in _TAGS if t in think]
    if bad:
        raise ValueError(f"think: must not contain the contract's tags; found {', '.join(bad)}")
    return (
        f"{_THINK_OPEN}{think}{_THINK_CLOSE}{_ANSWER_OPEN}{format_box(bbox_model)}{_ANSWER_CLOSE}"
    )


PROMPT_STYLES: tuple[str, ...] = ("compact", "full")
"""Prompt styles of :func:`conversation`: ``"full"`` — the project's system prompt and user
text (:func:`build_messages`), what Qwen2.5-VL gets; ``"compact"`` — one user turn holding the
image and the expression only, a pretrained grounding model's native prompt and ~4× fewer
tokens (what the tiny base was pretrained with)."""


def compact_messages(expression: str) -> list[dict]:
    """The compact conversation: one user turn, the image then the expression (stripped)."""
    return [
        {
            "role": "user",
            "content": [{"type": "image"}, {"type": "text", "text": str(expression).strip()}],
        }
    ]


def conversation(expression: str, image_size_model: Sequence[int], prompt_style: str) -> list[dict]:
    """The prompt turns for one sample in ``prompt_style`` (one of :data:`PROMPT_STYLES`):
    :func:`build_messages` for ``"full"``, :func:`compact_messages` for ``"compact"``."""
    if prompt_style == "full":
        return build_messages(expression, image_size_model)
    if prompt_style == "compact":
        return compact_messages(expression)
    raise ValueError(f"prompt_style: expected one of {PROMPT_STYLES}; got {prompt_style!r}")


def box_answer(bbox_model: Sequence[float]) -> str:
    """The box-only answer ``<answer>[x1, y1, x2, y2]</answer>`` (no reasoning): the target
    of the tiny base's pretraining and of the plain-SFT control (:func:`format_box`)."""
    return f"{_ANSWER_OPEN}{format_box(bbox_model)}{_ANSWER_CLOSE}"


# ----------------------------------------------------------------------------- reading


def completion_text(completion) -> str:
    """The text of one completion as TRL hands it to a reward function.

    A plain string is returned as is. A conversational completion — a list of messages
    ``{"role": ..., "content": ...}`` whose content is a string or a list of parts
    ``{"type": "text", "text": ...}`` — gives the text of its assistant messages (of all
    messages if none says ``assistant``) joined by newlines; non-text parts are skipped.
    A single message dict is accepted too. Malformed message structures contribute no text
    (model output never raises); a completion that is neither a string, a dict nor a list
    is a ValueError — that is a caller's bug, not model output. (TRL's completion formats;
    no formula of the paper.)
    """
    if isinstance(completion, str):
        return completion
    if isinstance(completion, bytes):
        return completion.decode("utf-8", errors="replace")
    if isinstance(completion, dict):
        completion = [completion]
    if not isinstance(completion, (list, tuple)):
        raise ValueError(
            "completion: expected a string or a list of chat messages "
            f"({{'role': ..., 'content': ...}}); got {type(completion).__name__}"
        )
    messages = [m for m in completion if isinstance(m, dict)]
    assistant = [m for m in messages if m.get("role") == "assistant"]
    chosen = assistant or messages
    return "\n".join(_content_text(m.get("content")) for m in chosen)


def _content_text(content) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, (list, tuple)):
        parts = []
        for part in content:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, dict) and isinstance(part.get("text"), str):
                if part.get("type", "text") == "text":
                    parts.append(part["text"])
        return "".join(parts)
    return ""


def answer_span(text: str) -> tuple[int, int] | None:
    """Character offsets ``(start, end)`` of the answer block that :func:`parse_answer` reads:
    the first complete ``<answer>…</answer>`` (tags included), else from the last
    ``<answer>`` of an unclosed tag to the end; None when the text has no ``<answer>`` tag.
    What the answer's confidence is computed over (``generation.generate_scored``)."""
    start = text.find(_ANSWER_OPEN)
    if start < 0:
        return None
    end = text.find(_ANSWER_CLOSE, start + len(_ANSWER_OPEN))
    if end >= 0:
        return start, end + len(_ANSWER_CLOSE)
    return text.rfind(_ANSWER_OPEN), len(text)


def _answer_region(text: str) -> str:
    """Where the box is looked for: the first complete ``<answer>…</answer>`` block; else the
    text after the last ``<answer>`` (an unclosed tag); else the text with its ``<think>``
    blocks removed (numbers in the reasoning are not the answer)."""
    start = text.find(_ANSWER_OPEN)
    if start >= 0:
        body_start = start + len(_ANSWER_OPEN)
        end = text.find(_ANSWER_CLOSE, body_start)
        if end >= 0:
            return text[body_start:end]
        return text[text.rfind(_ANSWER_OPEN) + len(_ANSWER_OPEN) :]
    return _THINK_BLOCK_RE.sub(" ", text)


def _to_box(strings: Sequence[str] | None) -> list[float] | None:
    if strings is None or len(strings) != 4:
        return None
    try:
        values = [float(s) for s in strings]
    except ValueError:
        return None
    if not all(math.isfinite(v) and abs(v) <= MAX_ABS_COORD for v in values):
        return None
    x1, y1, x2, y2 = values
    return [min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2)]


def _candidates(region: str) -> tuple[str, list[list[str]]]:
    """``(notation, candidates)``: the box candidates of a region, as lists of number
    strings, from the first notation that occurs (in this order): ``"json"`` —
    ``"bbox_2d": [...]`` keys (Qwen2.5-VL's JSON); ``"pairs"`` — two corner pairs
    ``(x1,y1),(x2,y2)`` (Qwen2-VL's ``<|box_start|>…<|box_end|>``); ``"list"`` — bracketed
    lists of numbers ``[x1, y1, x2, y2]``; finally ``"bare"`` — all bare numbers of the
    region as one candidate."""
    found = [_clean_numbers(m.group(1)) for m in _BBOX_KEY_RE.finditer(region)]
    if found:
        return "json", found
    found = [list(m.groups()) for m in _PAIRS_RE.finditer(region)]
    if found:
        return "pairs", found
    lists, malformed = [], False
    for m in _BRACKET_RE.finditer(region):
        numbers = _clean_numbers(m.group(1))
        if numbers:
            lists.append(numbers)
        elif numbers is None and re.search(r"\d", m.group(1), re.ASCII):
            malformed = True
    if lists:
        return "list", lists
    if malformed:
        # a bracketed list with something other than numbers and separators in it (a word,
        # "x30", "10%", "200.5.6"): the answer is malformed, not a bare-number answer
        return "list", [None]
    numbers = _NUM_RE.findall(region)
    return "bare", [numbers] if numbers else []


def _clean_numbers(inner: str) -> list[str] | None:
    """The numbers of a bracket's content when, the numbers removed, only separators
    (spaces, commas, semicolons) remain; ``None`` when anything else is in it, so that a
    malformed list (``[100, 100, "car", 200, 200]``) is never read as the box of its
    numbers."""
    numbers = _NUM_RE.findall(inner)
    if _SEPARATORS_RE.fullmatch(_NUM_RE.sub("", inner)):
        return numbers
    return None


def parse_answer(text) -> list[float] | None:
    """The box ``[x1, y1, x2, y2]`` (floats, model pixels) that a completion answers, or
    ``None``. Never raises on model output.

    ``text`` is a string or a conversational completion (see :func:`completion_text`). The
    box is looked for in the first ``<answer>…</answer>`` block if there is one, else in the
    whole text minus its ``<think>`` blocks. Accepted notations, first match wins:
    ``{"bbox_2d": [x1, y1, x2, y2]}`` or a list of such dicts (the first is taken);
    ``(x1,y1),(x2,y2)`` with or without Qwen2-VL's ``<|box_start|>``/``<|box_end|>``;
    ``[x1, y1, x2, y2]`` (the first bracketed list of numbers); else exactly four bare
    numbers in the region. Numbers may be signed, have fractions and exponents; spaces and
    surrounding text are ignored. Swapped corners are put in order. ``None`` when the
    chosen candidate does not have exactly four numbers, a number is not finite or exceeds
    :data:`MAX_ABS_COORD` in magnitude, a ``bbox_2d`` list or every bracketed list holds
    anything but numbers and separators (``"car"``, ``x30``, ``10%``, ``200.5.6``), or
    nothing box-like is found: a malformed answer is unparsable on every path, so no reward
    can be collected for it.
    Our reading of the paper (its parser is not public);
    """
    try:
        text = completion_text(text)
    except ValueError:
        return None
    _, candidates = _candidates(_answer_region(text))
    if not candidates:
        return None
    return _to_box(candidates[0])


def check_format(text) -> bool:
    """Whether a completion follows the contract: exactly one ``<think>…</think>`` block
    followed by exactly one ``<answer>…</answer>`` block (only whitespace around and between
    them), the answer holding exactly one box that :func:`parse_answer` can read, written as
    a list ``[x1, y1, x2, y2]`` (alone or as ``{"bbox_2d": [...]}``) or as corner pairs —
    four bare numbers without brackets parse, but do not satisfy the contract.

    The ``format`` reward (design page, "Rewards and the consistency weight"). Never raises on
    model output.
    """
    try:
        text = completion_text(text)
    except ValueError:
        return False
    if any(text.count(tag) != 1 for tag in _TAGS):
        return False
    m = _FORMAT_RE.fullmatch(text)
    if m is None:
        return False
    notation, candidates = _candidates(m.group(2))
    return notation != "bare" and len(candidates) == 1 and _to_box(candidates[0]) is not None


def reasoning_text(text) -> str | None:
    """The content of the first complete ``<think>…</think>`` block of a completion, or None
    when it has none. Never raises on model output."""
    text = completion_text(text)
    start = text.find(_THINK_OPEN)
    end = text.find(_THINK_CLOSE, start + len(_THINK_OPEN)) if start >= 0 else -1
    if end < 0:  # str.find, not a lazy regex: linear even with many unclosed tags
        return None
    return text[start + len(_THINK_OPEN) : end]


def boxes_in(fragment: str) -> list[list[float]]:
    """Every ``[x1, y1, x2, y2]`` written in a piece of text, in order (bracketed lists that
    are not four finite numbers are skipped). Never raises on model output."""
    out = []
    for inner in _BRACKET_RE.findall(fragment):
        box = _to_box(_NUM_RE.findall(inner))
        if box is not None:
            out.append(box)
    return out


def reasoning_boxes(text) -> list[list[float]]:
    """Every ``[x1, y1, x2, y2]`` written inside the first complete ``<think>…</think>`` block,
    in order (lists that are not four finite numbers are skipped); ``[]`` without such a block.
    Used to check that an answer is the box its reasoning chose (the last one). Never raises
    on model output."""
    think = reasoning_text(text)
    return [] if think is None else boxes_in(think)


def answer_follows_reasoning(text, answer_box: Sequence[float] | None = None) -> bool | None:
    """Whether the completion's answer box is the last box of its reasoning
    (:func:`reasoning_boxes`): ``None`` when there is nothing to compare — no reasoning box, or
    no answer box (``answer_box``, when given, is the already-parsed answer; else
    :func:`parse_answer`). The CoT-SFT chapter's "answer follows reasoning", per completion.
    Never raises on model output."""
    answer = parse_answer(text) if answer_box is None else list(answer_box)
    reasoning = reasoning_boxes(text)
    if answer is None or not reasoning:
        return None
    return all(math.isclose(a, b, abs_tol=1e-9) for a, b in zip(reasoning[-1], answer, strict=True))
