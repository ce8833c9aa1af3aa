"""Tests of rsground_lib.prompts: the conversation, the answer contract, the robust parser."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rsground_lib import prompts as P

# ----------------------------------------------------------------------------- building


def test_build_messages_shape():
    msgs = P.build_messages("the storage tank on the upper left", (812, 812))
    assert [m["role"] for m in msgs] == ["system", "user"]
    assert msgs[0]["content"] == [{"type": "text", "text": P.SYSTEM_PROMPT}]
    user = msgs[1]["content"]
    assert user[0] == {"type": "image"}
    assert user[1]["type"] == "text"
    assert "812x812 pixels" in user[1]["text"]
    assert "the storage tank on the upper left" in user[1]["text"]
    assert "<think>" in P.SYSTEM_PROMPT and "<answer>" in P.SYSTEM_PROMPT


def test_build_messages_with_answer_and_validation():
    answer = P.format_answer("one tank", [1, 2, 3, 4])
    msgs = P.build_messages("a tank", (56, 84), answer=answer)
    assert msgs[-1] == {"role": "assistant", "content": [{"type": "text", "text": answer}]}
    with pytest.raises(ValueError, match="expression"):
        P.build_messages("  ", (56, 56))
    with pytest.raises(ValueError, match="image_size_model"):
        P.build_messages("x", (56,))
    with pytest.raises(ValueError, match="positive"):
        P.build_messages("x", (0, 56))


def test_messages_render_with_a_qwen_chat_template():
    """The messages go through a Qwen2.5-VL-style chat template (the one Qwen ships, in
    short) and give one vision placeholder and the expression."""
    import jinja2

    template = (
        "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
        "{% if message['content'] is string %}{{ message['content'] }}"
        "{% else %}{% for content in message['content'] %}"
        "{% if content['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
        "{% elif content['type'] == 'text' %}{{ content['text'] }}{% endif %}"
        "{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    )
    text = jinja2.Template(template).render(messages=P.build_messages("the red car", (224, 112)))
    assert text.count("<|image_pad|>") == 1
    assert "the red car" in text and "224x112" in text


def test_format_answer():
    # Python's round: 2.5 -> 2 (ties to even), 3.6 -> 4
    assert P.format_answer("reason", [10.4, 2.5, 3.6, 40]) == (
        "<think>reason</think><answer>[10, 2, 4, 40]</answer>"
    )
    with pytest.raises(ValueError, match="tags"):
        P.format_answer("a </think> b", [1, 2, 3, 4])
    with pytest.raises(ValueError, match="four finite"):
        P.format_answer("x", [1, 2, 3, float("nan")])
    with pytest.raises(ValueError, match="four"):
        P.format_answer("x", [1, 2, 3])


def test_format_answer_round_trips_through_parser():
    text = P.format_answer("three tanks; the upper-left one", [12, 30, 55.2, 80.7])
    assert P.check_format(text)
    assert P.parse_answer(text) == [12.0, 30.0, 55.0, 81.0]


# ----------------------------------------------------------------------------- parsing

PARSE_CASES = [
    ("<think>x</think><answer>[10, 20, 30, 40]</answer>", [10, 20, 30, 40]),
    ("<answer>[10.5,20.25,30,40]</answer>", [10.5, 20.25, 30, 40]),
    ("<answer>  [ 10 ,20 , 30,40 ]  </answer>", [10, 20, 30, 40]),
    ('<answer>{"bbox_2d": [1, 2, 3, 4], "label": "car"}</answer>', [1, 2, 3, 4]),
    (
        '```json\n[{"bbox_2d": [5, 6, 7, 8], "label": "a"}, {"bbox_2d": [1, 1, 2, 2]}]\n```',
        [5, 6, 7, 8],
    ),
    ("{'bbox_2d': [1, 2, 3, 4]}", [1, 2, 3, 4]),
    ("<|box_start|>(10,20),(30,40)<|box_end|>", [10, 20, 30, 40]),
    ("The car is at (10, 20), (30, 40).", [10, 20, 30, 40]),
    ("[30, 40, 10, 20]", [10, 20, 30, 40]),  # swapped corners are put in order
    ("[-3, -1.5, 4e1, 5E+1]", [-3, -1.5, 40, 50]),
    ("The box is [12, 34, 56, 78].", [12, 34, 56, 78]),
    ("the box [x1, y1, x2, y2] is [1, 2, 3, 4]", [1, 2, 3, 4]),
    ("x1=10, y1=20, x2=30, y2=40", [10, 20, 30, 40]),
    ("10 20 30 40", [10, 20, 30, 40]),
    ("[[1, 2, 3, 4]]", [1, 2, 3, 4]),
    # numbers in the reasoning are not the answer
    ("<think>tanks at [1,1,2,2] and [3,3,4,4]</think> [5, 6, 7, 8]", [5, 6, 7, 8]),
    ("<think>tanks at [1,1,2,2]</think><answer>[5, 6, 7, 8]", [5, 6, 7, 8]),  # unclosed
    ("<answer>[1,2,3,4]</answer><answer>[5,6,7,8]</answer>", [1, 2, 3, 4]),  # first block
    ("[1, 2, 3, 4][5, 6, 7, 8]", [1, 2, 3, 4]),  # first list
    ("<answer>[1, 2, 3, 999999]</answer>", [1, 2, 3, 999999]),
]


@pytest.mark.parametrize(("text", "expected"), PARSE_CASES)
def test_parse_answer_accepts(text, expected):
    got = P.parse_answer(text)
    assert got == [float(v) for v in expected]
    assert all(isinstance(v, float) for v in got)


NONE_CASES = [
    "",
    "no box here",
    "<answer></answer>",
    "<answer>[1, 2, 3]</answer>",
    "<answer>[1, 2, 3, 4, 5]</answer>",
    "<answer>[1e400, 2, 3, 4]</answer>",  # not finite
    "<answer>[1e7, 2, 3, 4]</answer>",  # beyond MAX_ABS_COORD
    "<answer>[nan, 1, 2, 3]</answer>",
    "<answer>[inf, 1, 2, 3]</answer>",
    "[x1, y1, x2, y2]",
    "<think>[1, 2, 3, 4]</think>",  # only in the reasoning
    "١٢, ٣٤, ٥٦, ٧٨",  # non-ASCII digits are not numbers here
    "{'bbox_2d': [1, 2]}",
    "<|box_start|>(10,20)<|box_end|>",
    "1 2 3 4 5",
    None,
    12345,
    [{"role": "assistant", "content": 7}],
]


@pytest.mark.parametrize("text", NONE_CASES)
def test_parse_answer_rejects(text):
    assert P.parse_answer(text) is None


def test_completion_text_and_chat_completions():
    conv = [{"role": "assistant", "content": "<think>a</think><answer>[1,2,3,4]</answer>"}]
    assert P.completion_text(conv) == conv[0]["content"]
    parts = [
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "[1, 2, "},
                {"type": "image"},
                {"type": "text", "text": "3, 4]"},
            ],
        }
    ]
    assert P.completion_text(parts) == "[1, 2, 3, 4]"
    assert P.parse_answer(parts) == [1.0, 2.0, 3.0, 4.0]
    assert P.check_format(conv)
    both = [{"role": "user", "content": "[9,9,9,9]"}, {"role": "assistant", "content": "[1,2,3,4]"}]
    assert P.parse_answer(both) == [1.0, 2.0, 3.0, 4.0]
    assert P.completion_text({"content": "hi"}) == "hi"
    assert P.completion_text(b"[1,2,3,4]") == "[1,2,3,4]"
    with pytest.raises(ValueError, match="chat messages"):
        P.completion_text(3.5)


# ----------------------------------------------------------------------------- format

FORMAT_CASES = [
    ("<think>r</think><answer>[1, 2, 3, 4]</answer>", True),
    ("  <think>\nr\n</think>\n<answer> [1, 2, 3, 4] </answer>\n", True),
    ('<think>r</think><answer>{"bbox_2d": [1, 2, 3, 4]}</answer>', True),
    ("<think>r</think><answer>[1, 2, 3, 4]</answer> trailing text", False),
    ("preamble <think>r</think><answer>[1, 2, 3, 4]</answer>", False),
    ("<answer>[1, 2, 3, 4]</answer>", False),
    ("<think>r</think>", False),
    ("<answer>[1, 2, 3, 4]</answer><think>r</think>", False),
    ("<think>r</think><answer>[1, 2, 3]</answer>", False),
    ("<think>r</think><answer>[1, 2, 3, 4] or [5, 6, 7, 8]</answer>", False),
    ("<think>r</think><answer>[1, 2, 3, 4]</answer><answer>[1, 2, 3, 4]</answer>", False),
    ("<think>a</think><think>b</think><answer>[1, 2, 3, 4]</answer>", False),
    ("<think>r <answer></think><answer>[1, 2, 3, 4]</answer>", False),
    ("<think>r</think><answer>no box</answer>", False),
    ("<think>r</think><answer>(1, 2), (3, 4)</answer>", True),
    ("<think>r</think><answer>1, 2, 3, 4</answer>", False),  # parses, but not the contract
    ("", False),
]


@pytest.mark.parametrize(("text", "ok"), FORMAT_CASES)
def test_check_format(text, ok):
    assert P.check_format(text) is ok


PATHOLOGICAL = [
    "(1,2)" + " " * 100_000 + "x",
    "(1, 2)" + " " * 50_000 + ", " + " " * 50_000 + "(x",
    "(" * 100_000,
    "[" * 100_000,
    "1," * 100_000,
    "1" * 100_000 + "a",
    "<think>" * 20_000,
    "<answer>" + "(1,2) " * 20_000,
    '{"bbox_2d"' + " " * 100_000 + ":",
    ("[1, 2, 3" + " " * 50) * 2_000,
]


@pytest.mark.parametrize("text", PATHOLOGICAL, ids=range(len(PATHOLOGICAL)))
def test_parser_reads_pathological_input(text):
    """Pathological output parses to a valid result or None, and never passes the format
    check. How the time grows with the length is measured by `make bench` (``parsers``)."""
    _check_result(P.parse_answer(text))
    assert P.check_format(text) is False


# ----------------------------------------------------------------------------- properties

ALPHABET = list("0123456789.,-+eE [](){}:;\"' \n") + [
    "<think>",
    "</think>",
    "<answer>",
    "</answer>",
    "<|box_start|>",
    "<|box_end|>",
    "bbox_2d",
    "x1",
    "nan",
    "inf",
    "٣",
    "é",
    "\u200b",
    "𝟙",
    "1e308",
    "99999999",
]


def _check_result(box):
    assert box is None or (
        isinstance(box, list)
        and len(box) == 4
        and all(isinstance(v, float) and math.isfinite(v) for v in box)
        and box[0] <= box[2]
        and box[1] <= box[3]
    )


@settings(max_examples=400, deadline=None)
@given(st.text())
def test_parser_never_raises_on_any_text(text):
    _check_result(P.parse_answer(text))
    assert P.check_format(text) in (True, False)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(ALPHABET), max_size=60).map("".join))
def test_parser_never_raises_on_boxlike_text(text):
    box = P.parse_answer(text)
    _check_result(box)
    if P.check_format(text):
        assert box is not None


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.floats(-1e5, 1e5, allow_nan=False), min_size=4, max_size=4),
    st.sampled_from(["[{}, {}, {}, {}]", '{{"bbox_2d": [{}, {}, {}, {}]}}', "({}, {}), ({}, {})"]),
)
def test_parser_reads_written_boxes(values, template):
    text = "<think>t</think><answer>" + template.format(*map(repr, values)) + "</answer>"
    x1, y1, x2, y2 = values
    assert P.parse_answer(text) == [min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2)]
    assert P.check_format(text)


def _noise(rng: random.Random) -> str:
    pieces = []
    for _ in range(rng.randint(0, 40)):
        r = rng.random()
        if r < 0.45:
            pieces.append(rng.choice(ALPHABET))
        elif r < 0.7:
            pieces.append(
                str(
                    rng.choice(
                        [rng.randint(-(10**9), 10**9), rng.uniform(-1e7, 1e7), rng.randint(0, 1000)]
                    )
                )
            )
        elif r < 0.85:
            pieces.append(chr(rng.randint(0, 0x2FFFF)))
        else:
            pieces.append(
                rng.choice(["[", "]", "(", ")", ",", " ", "<answer>", "</answer>"])
                * rng.randint(1, 30)
            )
    return "".join(pieces)


def _adversarial(rng: random.Random) -> str:
    """Random noise, or a well-formed answer mutated by a few random edits (near misses)."""
    if rng.random() < 0.5:
        return _noise(rng)
    box = [rng.uniform(-50, 2000) for _ in range(4)]
    text = list(P.format_answer(_noise(rng).replace("<", "("), box))
    for _ in range(rng.randint(0, 4)):
        i = rng.randrange(len(text) + 1)
        op = rng.random()
        if op < 0.4:
            text.insert(i, rng.choice(ALPHABET))
        elif op < 0.7 and i < len(text):
            del text[i]
        elif i < len(text):
            text[i] = chr(rng.randint(0, 0x2FFFF))
    return "".join(text)


@pytest.mark.slow
def test_parser_fuzz_100k_strings():
    rng = random.Random(20260121)
    parsed = formatted = 0
    for _ in range(10**5):
        text = _adversarial(rng)
        box = P.parse_answer(text)
        _check_result(box)
        parsed += box is not None
        formatted += P.check_format(text)
    # both outcomes were exercised
    assert parsed > 10**4 and formatted > 10**4
    assert parsed < 10**5
