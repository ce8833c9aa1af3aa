"""The tiny base's text skills (rsground_lib.data.text_skills): every generated target is the
one right answer of its prompt (recomputed here from the prompt's own numbers), the draws are
seeded, the scorer counts exact matches, and bad arguments are named."""

from __future__ import annotations

import math
import re

import pytest

from rsground_lib import prompts, vocabulary
from rsground_lib.data import text_skills

BOX = re.compile(r"(\w+) (\[[^\]]+\])")


def _labelled_boxes(prompt: str) -> dict[str, list[float]]:
    return {label: prompts.boxes_in(b)[0] for label, b in BOX.findall(prompt)}


def test_targets_are_the_right_answers_of_their_prompts():
    examples = text_skills.make_examples(800, seed=3)
    assert {e["skill"] for e in examples} == set(text_skills.SKILLS)
    for e in examples:
        p, c = e["prompt"], e["completion"]
        if e["skill"] == "repeat":
            assert c == p and len(_labelled_boxes(p)) >= 2
        elif e["skill"] == "copy_word":
            words = p.split()
            assert [w for w in words if w in text_skills.POSITION_WORDS] == [c]
        elif e["skill"] == "copy_box":
            listing, label = p.rsplit(" ", 1)
            assert c.split()[0] == label
            assert prompts.boxes_in(c)[0] == _labelled_boxes(listing)[label]
        elif e["skill"] == "arg_extreme":
            op, listed = p.split(": ")
            pairs = [(lab, int(v)) for lab, v in (item.split() for item in listed.split(", "))]
            values = [v for _, v in pairs]
            assert len(set(values)) == len(values)  # a strict extreme
            best = (
                min(pairs, key=lambda t: t[1])
                if op == "smallest"
                else max(pairs, key=lambda t: t[1])
            )
            assert c == f"{best[0]} {best[1]}"
        else:
            listing, cue = p.rsplit(" ", 1)
            boxes_ = _labelled_boxes(listing)
            edge_name, edge, side = vocabulary.EXTREME_EDGES[cue]
            values = {lab: int(b[edge]) for lab, b in boxes_.items()}
            assert len(set(values.values())) == len(values)
            best = (min if side == "min" else max)(values, key=values.get)
            listed_values = ", ".join(f"{lab} {v}" for lab, v in values.items())
            assert (
                c
                == f"{cue} {edge_name}: {listed_values}. so {best} {prompts.format_box(boxes_[best])}"
            )


def test_literal_extreme_steps_and_grid():
    assert text_skills.extreme_steps([[8, 40, 20, 48], [28, 12, 40, 20]], "bottommost", 0) == (
        "bottommost y2: first 48, second 20. so first [8, 40, 20, 48]"
    )
    for e in text_skills.make_examples(200, seed=1, skills=["copy_box"], size=40, step=8):
        assert all(v % 8 == 0 and 0 <= v <= 40 for v in prompts.boxes_in(e["completion"])[0])


def test_seeded_and_weighted():
    a = text_skills.make_examples(50, seed=7)
    assert a == text_skills.make_examples(50, seed=7) and a != text_skills.make_examples(50, seed=8)
    only = text_skills.make_examples(
        100, seed=1, skills=["copy_word", "arg_extreme"], weights=[0, 1]
    )
    assert {e["skill"] for e in only} == {"arg_extreme"}
    assert text_skills.make_examples(0, seed=1) == []


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"skills": ["copy"]}, "expected skills"),
        ({"skills": []}, "expected skills"),
        ({"weights": [1, 1]}, "weights must be 5"),
        ({"weights": [0, 0, 0, 0, 0]}, "positive sum"),
        ({"weights": [1, -1, 1, 1, 1]}, "non-negative"),
        ({"step": 20}, "size >= 5 \\* step"),
    ],
)
def test_bad_arguments_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        text_skills.make_examples(3, seed=0, **kwargs)
    with pytest.raises(ValueError, match="n must be an integer"):
        text_skills.make_examples(-1, seed=0)


def test_chat_example_and_scoring():
    ex = text_skills.make_examples(4, seed=0)
    chat = text_skills.chat_example(ex[0])
    assert chat["images"] == []
    assert chat["prompt"][0]["content"] == [{"type": "text", "text": ex[0]["prompt"]}]
    assert chat["completion"][0]["content"][0]["text"] == ex[0]["completion"]
    two = [
        {"skill": "copy_word", "completion": "leftmost"},
        {"skill": "copy_box", "completion": "first [1, 2, 3, 4]"},
    ]
    scored = text_skills.score_completions(two, [" leftmost ", "first [1, 2, 3, 5]"])
    assert scored == {"copy_word": 1.0, "copy_box": 0.0, "all": 0.5}
    assert math.isnan(text_skills.score_completions([], [])["all"])
    with pytest.raises(ValueError, match="1 outputs for 2 examples"):
        text_skills.score_completions(two, ["x"])


def test_every_label_and_cue_word_is_one_token_of_the_tiny_tokenizer():
    from rsground_lib import models

    tok = models.build_tokenizer()
    for word in (*text_skills.LABELS, *vocabulary.EXTREME_EDGES, "so", "smallest", "largest"):
        assert len(tok.encode(f" {word}", add_special_tokens=False)) == 1, word
