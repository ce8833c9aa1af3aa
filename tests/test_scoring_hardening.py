"""Issue 11, the scoring core: the literal bad inputs found by the fuzzing review, each with
its regression test — paired McNemar test at any size, an answer parser that cannot be gamed
(a malformed answer is unparsable on every path, for every reward), linear readers of model
output, and no silent wrong numbers in metrics, advantages and consistency — plus a property
test of the parser and every reward on arbitrary strings with a per-example time limit."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rsground_lib import advantages, consistency, metrics, prompts, rewards

TARGET = [[100.0, 100.0, 200.0, 200.0]]
SIZE = [[400, 400]]


def _all_rewards(text: str) -> dict[str, float]:
    out = {}
    for name, fn in rewards.REWARDS.items():
        (value,) = fn([text], bbox_model=TARGET, image_size_model=SIZE)
        out[name] = value
    return out


# ----------------------------------------------------------------------------- finding 1


def test_paired_hits_with_thousands_of_discordant_pairs():
    """2,200 discordant pairs (1,100 each way) overflowed ``2.0**m``; now p = 1 exactly."""
    a = [0.9] * 1100 + [0.1] * 1100
    b = [0.1] * 1100 + [0.9] * 1100
    res = metrics.paired_hits(a, b)
    assert (res["only_a"], res["only_b"], res["p_value"]) == (1100, 1100, 1.0)
    # 1,100 vs 0: p = 2 · 2^-1100, below the smallest double: 0.0, no error
    assert metrics.paired_hits([0.9] * 1100, [0.1] * 1100)["p_value"] == 0.0


@pytest.mark.parametrize(
    ("k", "m", "expected"),
    [(0, 1, 0.5), (1, 2, 0.75), (3, 10, 176 / 1024), (0, 1024, 2.0**-1024)],
)
def test_binomial_tail_is_exact(k, m, expected):
    assert metrics.binomial_half_cdf(k, m) == expected


def test_binomial_tail_in_log_space_agrees_with_the_exact_sum(monkeypatch):
    exact = metrics.binomial_half_cdf(500, 1100)
    monkeypatch.setattr(metrics, "EXACT_BINOMIAL_MAX_M", 0)
    assert metrics.binomial_half_cdf(500, 1100) == pytest.approx(exact, rel=1e-10)
    with pytest.raises(ValueError, match="0 <= k <= m"):
        metrics.binomial_half_cdf(3, 2)


# ----------------------------------------------------------------------------- finding 2

GAMED = [
    '<think>t</think><answer>{"bbox_2d": [100, 100, "car", 200, 200]}</answer>',
    '<think>t</think><answer>{"bbox_2d": [100, 100, x30, 200, 200]}</answer>',
    "<think>t</think><answer>[100, 100, x30, 200, 200]</answer>",
    "<think>t</think><answer>[100, 100, 200.5.6, 200]</answer>",
    "<think>t</think><answer>[10%, 10%, 20%, 20%]</answer>",
    "<think>t</think><answer>10% 10% 20% 20%</answer>",
]


@pytest.mark.parametrize("text", GAMED, ids=range(len(GAMED)))
def test_a_malformed_answer_is_unparsable_and_earns_nothing(text):
    assert prompts.parse_answer(text) is None
    assert prompts.check_format(text) is False
    assert _all_rewards(text) == dict.fromkeys(rewards.REWARDS, 0.0)


def test_well_formed_answers_still_read():
    for text in (
        "<think>t</think><answer>[100, 100, 200, 200]</answer>",
        '<think>t</think><answer>{"bbox_2d": [100, 100, 200, 200]}</answer>',
        "<think>t</think><answer>[100, 100, 200, 200].</answer>",
        "<think>t</think><answer>[100.5, 100, 2e2, 200]</answer>",
    ):
        assert prompts.parse_answer(text) in ([100, 100, 200, 200], [100.5, 100, 200, 200])
        assert prompts.check_format(text) is True
    # a bracket without digits is not a malformed box: bare numbers still read
    assert prompts.parse_answer("<answer>[left] 1 2 3 4</answer>") == [1, 2, 3, 4]


# ----------------------------------------------------------------------------- finding 3

MEGABYTE = 1_000_000
HOSTILE_1MB = {
    "unclosed think tags": "<think>" * (MEGABYTE // 7),
    "unclosed think then boxes": "<think>" + "[1, 2, 3, 4] " * (MEGABYTE // 13),
    "unclosed answer with pairs": "<answer>" + "(1,2) " * (MEGABYTE // 6),
    "unclosed lists": ("[1, 2, 3" + " " * 50) * (MEGABYTE // 58),
    "digits then a letter": "1" * MEGABYTE + "a",
}


@pytest.mark.parametrize("name", list(HOSTILE_1MB))
def test_readers_of_model_output_stay_linear_on_a_megabyte(name):
    """Quadratic readers took minutes on 1 MB (reasoning_boxes: 7.9 s at 112 KB); linear ones
    take milliseconds. The 5-second bound is a guard with a wide margin, not a benchmark
    (``make bench``, ``parsers``, measures the growth)."""
    text = HOSTILE_1MB[name]
    t0 = time.perf_counter()
    prompts.parse_answer(text)
    prompts.check_format(text)
    prompts.reasoning_boxes(text)
    assert time.perf_counter() - t0 < 5.0


def test_reasoning_boxes_reads_the_first_complete_block_only():
    assert prompts.reasoning_boxes("<think><think>[1, 2, 3, 4]</think>[5, 6, 7, 8]") == [
        [1.0, 2.0, 3.0, 4.0]
    ]
    assert prompts.reasoning_boxes("<think>" * 1000 + "[1, 2, 3, 4]") == []


# ----------------------------------------------------------------------------- finding 8


def test_inverted_target_boxes_are_an_error_not_iou_zero():
    with pytest.raises(ValueError, match=r"targets\[1\]: expected x1 <= x2 and y1 <= y2"):
        metrics.grounding_metrics([[0, 0, 10, 10]] * 2, [[0, 0, 10, 10], [10, 0, 0, 10]])


def test_huge_predicted_boxes_are_unparsable_not_nan():
    m = metrics.grounding_metrics(
        [[0, 0, 1e308, 1e308], [0, 0, 10, 10]], [[0, 0, 10, 10], [0, 0, 10, 10]]
    )
    assert (m["mean_iou"], m["parse_rate"], m["pr@0.5"], m["cum_iou"]) == (0.5, 0.5, 0.5, 0.5)


def test_an_infinite_reward_is_an_error():
    with pytest.raises(ValueError, match=r"rewards\[0\]\[1\] = inf: a reward must be finite"):
        advantages.group_advantages([[1.0, math.inf, 0.0]])
    # NaN stays "unscorable": left out, advantage 0
    assert advantages.group_advantages([[1.0, math.nan, 0.0]])[0, 1] == 0.0


@pytest.mark.parametrize("weight", [math.nan, math.inf, -0.5])
def test_a_bad_consistency_weight_is_an_error(weight):
    with pytest.raises(ValueError, match=r"weights\[1\] = .*: a consistency weight"):
        advantages.apply_group_weights(
            np.array([1.0, -1.0, 1.0, -1.0]), [1.0, weight], num_generations=2
        )


def test_identical_zero_area_boxes_are_coherent():
    point = [5.0, 5.0, 5.0, 5.0]
    assert consistency.mean_pairwise_iou([[point, point, point]]).tolist() == [0.0]
    assert consistency.center_dispersion([[point, point]], (64, 64)).tolist() == [0.0]
    # two different points still share nothing
    assert consistency.mean_pairwise_iou([[point, [9.0, 9.0, 9.0, 9.0]]]).tolist() == [1.0]


# ----------------------------------------------------------------------------- property


@settings(max_examples=300, deadline=500)
@given(st.text(max_size=2000))
def test_parser_and_every_reward_on_arbitrary_text(text):
    """Any string: the parser returns a valid box or None, every reward a finite number in
    [0, 1], within hypothesis's per-example deadline (500 ms)."""
    box = prompts.parse_answer(text)
    assert box is None or (len(box) == 4 and box[0] <= box[2] and box[1] <= box[3])
    for name, value in _all_rewards(text).items():
        assert math.isfinite(value) and 0.0 <= value <= 1.0, (name, value)


TOKENS = ["<think>", "</think>", "<answer>", "</answer>", "[", "]", "(", ")", ",", " ",
          '{"bbox_2d": ', "}", "100", "200", "1e9", "-3", ".", "%", "x", "car", "\n"]  # fmt: skip


@settings(max_examples=300, deadline=500)
@given(st.lists(st.sampled_from(TOKENS), max_size=80).map("".join))
def test_parser_and_every_reward_on_answer_like_text(text):
    """Strings built from the contract's pieces: a box is parsed only when every bracketed
    list it could come from is clean, and rewards stay in [0, 1]."""
    box = prompts.parse_answer(text)
    if prompts.check_format(text):
        assert box is not None
    values = _all_rewards(text)
    assert all(0.0 <= v <= 1.0 for v in values.values()), values
    if box is None:
        assert values["iou"] == values["positional"] == 0.0
    assert np.isfinite(list(values.values())).all()
