"""Generation (:mod:`rsground_lib.generation`): one eval-mode context, every ``model.generate``
through :func:`new_token_ids`, sampled groups seeded — on the tiny base checkpoint."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rsground_lib import conversation, generation, models, prompts
from rsground_lib.data import base_scenes


@pytest.fixture(scope="module")
def tiny():
    torch.set_num_threads(1)
    return models.load_model("checkpoints/tiny-base")


def test_eval_mode_restores_training_mode_also_after_an_error(tiny):
    model, _ = tiny
    model.train()
    with pytest.raises(RuntimeError, match="boom"), generation.eval_mode(model):
        assert not model.training
        raise RuntimeError("boom")
    assert model.training
    model.eval()
    with generation.eval_mode(model):
        pass
    assert not model.training  # an eval-mode model stays in eval mode


def test_new_token_ids_are_the_generated_tokens_without_the_prompt(tiny):
    model, proc = tiny
    recs = base_scenes.make_records(2, seed=1, max_objects=2)
    examples = [conversation.grounding_example(r, proc, prompt_style="compact") for r in recs]
    enc = conversation.prompt_inputs(proc, examples)
    new = generation.new_token_ids(model, enc, max_new_tokens=5, min_new_tokens=5, do_sample=False)
    assert tuple(new.shape) == (2, 5)
    with torch.no_grad():
        whole = model.generate(**enc, max_new_tokens=5, min_new_tokens=5, do_sample=False)
    assert torch.equal(whole[:, enc["input_ids"].shape[1] :], new)


def test_sample_groups_is_seeded_and_parses_each_completion(tiny):
    model, proc = tiny
    recs = base_scenes.make_records(3, seed=2, max_objects=3, mode="mixed")
    model.train()
    kw = {"num_generations": 4, "temperature": 1.0, "max_new_tokens": 24,
          "prompt_style": "compact", "batch_size": 2}  # fmt: skip
    a = generation.sample_groups(model, proc, recs, seed=7, **kw)
    assert model.training  # restored
    b = generation.sample_groups(model, proc, recs, seed=7, **kw)
    c = generation.sample_groups(model, proc, recs, seed=8, **kw)
    assert a["texts"] == b["texts"] and np.array_equal(a["boxes"], b["boxes"], equal_nan=True)
    assert a["texts"] != c["texts"]
    assert [len(g) for g in a["texts"]] == [4, 4, 4] and a["boxes"].shape == (3, 4, 4)
    assert a["bbox_model"].shape == (3, 4) and a["image_size_model"].tolist() == [[64, 64]] * 3
    # a parsed row is the answer's box; an unparsable completion is a NaN row
    for group, rows in zip(a["texts"], a["boxes"], strict=True):
        for text, row in zip(group, rows, strict=True):
            box = prompts.parse_answer(text)
            assert (box is None and np.isnan(row).all()) or row.tolist() == box
    with pytest.raises(ValueError, match="num_generations: expected >= 2"):
        generation.sample_groups(model, proc, recs, num_generations=1)
    model.eval()


def test_batch_sizes_below_one_are_refused(tiny):
    model, proc = tiny
    recs = base_scenes.make_records(1, seed=1)
    for fn in (generation.generate_answers, generation.generate_scored):
        with pytest.raises(ValueError, match="batch_size must be >= 1; got 0"):
            fn(model, proc, recs, batch_size=0)
    with pytest.raises(ValueError, match="batch_size must be >= 1; got 0"):
        generation.generate_text(model, proc, ["hi"], batch_size=0)
