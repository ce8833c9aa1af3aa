"""Generation: every ``model.generate`` of the library, greedy, scored and sampled, behind one
eval-mode context.

* :func:`eval_mode` — the model in eval mode for the block, its training mode restored after
  (also when the block raises);
* :func:`new_token_ids` — ``model.generate`` without gradients on prepared inputs, the prompt
  stripped: the one call every other function here (and the checkpoint teacher, the
  benchmarks) goes through;
* :func:`greedy_batch` / :func:`generate_answers` — batched greedy completions of grounding
  prompts (left padding, the KV cache), each answer parsed by
  :func:`rsground_lib.prompts.parse_answer` (boxes in model-input pixels);
  :data:`BACKENDS` / :data:`BATCH_GENERATORS` — the backends of
  :func:`rsground_lib.evaluation.predict`;
* :func:`generate_scored` — greedy completions with a confidence each (the mean
  log-probability of the answer block's tokens): how the grounding of a raster chooses among
  windows (our design);
* :func:`generate_text` — greedy completions of text-only prompts (the tiny base's text
  skills);
* :func:`sample_groups` — ``num_generations`` sampled completions per prompt: the rollout
  groups GRPO scores, drawn outside the trainer (the RFT chapter's probes).

torch is imported inside the generating functions only, so that the modules that import this
one (evaluation, for scoring files) need no deep-learning stack to import.

Book chapter: "Evaluation" (``book/05_evaluation.py``); the RFT and geo chapters use it.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence

import numpy as np

from rsground_lib import conversation, models, prompts


@contextlib.contextmanager
def eval_mode(model) -> Iterator:
    """``model`` in eval mode (dropout off) for the block; its training mode is restored
    afterwards, also when the block raises."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        if was_training:
            model.train()


def new_token_ids(model, inputs, **generate_kwargs):
    """The ids ``(batch · num_return_sequences, steps)`` that ``model.generate`` adds to
    ``inputs`` (a processor's batch, on the model's device), without gradients; the generation
    arguments are ``model.generate``'s. Every generation of the library goes through here (a
    test keeps it so)."""
    import torch  # the deep-learning stack stays optional for scoring (module docstring)

    with torch.no_grad():
        out = model.generate(**inputs, **generate_kwargs)
    return out[:, inputs["input_ids"].shape[1] :]


def generate_answers(
    model,
    processor,
    records: Sequence[dict],
    *,
    batch_size: int = 32,
    max_new_tokens: int = 24,
    prompt_style: str | None = None,
) -> tuple[list[str], list[list[float] | None]]:
    """Greedy completions of ``model`` for ``records`` (the prompt of
    :func:`rsground_lib.conversation.grounding_example` in ``prompt_style``; None: the
    checkpoint's own, :func:`rsground_lib.models.checkpoint_prompt_style`), ``batch_size`` at
    a time with left padding, and their parsed boxes in model pixels (``None`` when
    unparsable). The model's training mode is restored afterwards."""
    texts = _in_batches(
        greedy_batch, "generate_answers", model, processor, records,
        batch_size=batch_size, max_new_tokens=max_new_tokens, prompt_style=prompt_style,
    )  # fmt: skip
    return texts, [prompts.parse_answer(text) for text in texts]


def _in_batches(
    batch_fn, caller: str, model, processor, records, *, batch_size, max_new_tokens, prompt_style
) -> list:
    """``batch_fn``'s results for ``records``, ``batch_size`` at a time, in eval mode, in the
    prompt style given or the checkpoint's own: the loop of :func:`generate_answers` and
    :func:`generate_scored`, so that their batching — hence their texts — is the same."""
    if batch_size < 1:
        raise ValueError(f"{caller}: batch_size must be >= 1; got {batch_size}")
    prompt_style = prompt_style or models.checkpoint_prompt_style(model)
    out: list = []
    with eval_mode(model):
        for i in range(0, len(records), batch_size):
            chunk = records[i : i + batch_size]
            out.extend(
                batch_fn(
                    model,
                    processor,
                    chunk,
                    max_new_tokens=max_new_tokens,
                    prompt_style=prompt_style,
                )
            )
    return out


def greedy_new_tokens(
    model,
    processor,
    records: Sequence[dict],
    *,
    max_new_tokens: int,
    prompt_style: str,
    logits_processor=None,
):
    """The new token ids ``(batch, steps)`` of greedy generation for one batch of records (the
    model already in eval mode): the prompts of :func:`rsground_lib.conversation.
    grounding_example` left-padded together (:func:`rsground_lib.conversation.prompt_inputs`),
    ``model.generate`` with the KV cache and the optional ``logits_processor`` list."""
    examples = [
        conversation.grounding_example(r, processor, prompt_style=prompt_style) for r in records
    ]
    enc = conversation.prompt_inputs(processor, examples).to(model.device)
    return new_token_ids(
        model,
        enc,
        max_new_tokens=max_new_tokens,
        do_sample=False,
        use_cache=True,
        logits_processor=logits_processor,
    )


def greedy_batch(
    model, processor, records: Sequence[dict], *, max_new_tokens: int, prompt_style: str
) -> list[str]:
    """The greedy completions of one batch of records (:func:`greedy_new_tokens`), decoded
    without special tokens. The ``"transformers"`` backend of :func:`predict` and the loop of
    :func:`generate_answers`."""
    new = greedy_new_tokens(
        model, processor, records, max_new_tokens=max_new_tokens, prompt_style=prompt_style
    )
    tok = processor.tokenizer
    return [tok.decode(row, skip_special_tokens=True) for row in new]


def generate_text(
    model,
    processor,
    user_texts: Sequence[str],
    *,
    batch_size: int = 64,
    max_new_tokens: int = 48,
) -> list[str]:
    """Greedy completions of ``model`` for text-only prompts (one user turn each, no image,
    through the processor's chat template with the generation prompt), ``batch_size`` at a
    time with left padding, decoded without special tokens. The held-out check of the tiny
    base's text skills (:mod:`rsground_lib.data.text_skills`). The model's training mode is
    restored afterwards."""
    if batch_size < 1:
        raise ValueError(f"generate_text: batch_size must be >= 1; got {batch_size}")
    tok = processor.tokenizer
    out: list[str] = []
    with eval_mode(model):
        for i in range(0, len(user_texts), batch_size):
            texts = [
                processor.apply_chat_template(
                    [{"role": "user", "content": [{"type": "text", "text": str(t)}]}],
                    add_generation_prompt=True,
                    tokenize=False,
                )
                for t in user_texts[i : i + batch_size]
            ]
            enc = tok(
                texts, return_tensors="pt", padding=True, padding_side="left",
                add_special_tokens=False,
            ).to(model.device)  # fmt: skip
            new = new_token_ids(
                model, enc, max_new_tokens=max_new_tokens, do_sample=False, use_cache=True
            )
            out.extend(tok.decode(row, skip_special_tokens=True) for row in new)
    return out


def _token_at(tok, ids: Sequence[int], char_pos: int) -> int:
    """The index of the token of ``ids`` that holds character ``char_pos`` of their decoded
    text: the first token whose decoded prefix is longer than ``char_pos`` (binary search over
    prefix decodes, which grow with the prefix); the last token when none is."""
    lo, hi = 0, len(ids)
    while lo < hi:
        mid = (lo + hi) // 2
        if len(tok.decode(ids[: mid + 1], skip_special_tokens=True)) > char_pos:
            hi = mid
        else:
            lo = mid + 1
    return min(lo, max(len(ids) - 1, 0))


def answer_token_range(tok, ids: Sequence[int]) -> tuple[int, int]:
    """``(first, stop)``: the tokens of ``ids`` (a completion) that make up its answer block
    (:func:`rsground_lib.prompts.answer_span` of the decoded text), from the token that holds
    the ``<`` of ``<answer>`` to the one that holds the ``>`` of ``</answer>``; all of ``ids``
    when the text has no answer tag. What :func:`generate_scored` averages over."""
    text = tok.decode(list(ids), skip_special_tokens=True)
    span = prompts.answer_span(text)
    if span is None:
        return 0, len(ids)
    return _token_at(tok, ids, span[0]), _token_at(tok, ids, span[1] - 1) + 1


class _ChosenLogProbs:
    """A logits processor run last in greedy generation: at each step it records the
    log-probability of the token greedy decoding then picks (the maximum of the log-softmax of
    the final scores) — ``(batch,)`` per step, where ``output_scores=True`` would keep every
    step's vocabulary-sized logits (gigabytes for a 150k-token vocabulary and long
    reasoning)."""

    def __init__(self):
        self.steps = []

    def __call__(self, input_ids, scores):
        import torch

        self.steps.append(torch.log_softmax(scores.float(), dim=-1).max(dim=-1).values)
        return scores


def _generate_scored_batch(
    model, processor, records: Sequence[dict], *, max_new_tokens: int, prompt_style: str
) -> list[tuple[str, float]]:
    """:func:`greedy_batch` with each completion's confidence: the mean log-probability of
    the tokens of its answer block (:func:`rsground_lib.prompts.answer_span`: from the token
    that opens ``<answer>`` to the one that closes ``</answer>``, both included), or of all
    its tokens up to the end of sequence when it has no answer tag. The probabilities are those
    greedy decoding chose from: the model's, after the generation config's logits processors
    (none for the tiny models; Qwen2.5-VL's configs set a repetition penalty). Greedy, so the
    texts are :func:`greedy_batch`'s."""
    import torch
    from transformers import LogitsProcessorList

    chosen = _ChosenLogProbs()
    new = greedy_new_tokens(
        model,
        processor,
        records,
        max_new_tokens=max_new_tokens,
        prompt_style=prompt_style,
        logits_processor=LogitsProcessorList([chosen]),
    )
    logp = torch.stack(chosen.steps, dim=1)[:, : new.shape[1]] if chosen.steps else None
    tok = processor.tokenizer
    eos = model.generation_config.eos_token_id
    eos_ids = set(eos if isinstance(eos, (list, tuple)) else [eos]) - {None}
    results = []
    for r, row in enumerate(new.tolist()):
        n = len(row)
        for k, t in enumerate(row):  # up to and including the first end-of-sequence token
            if t in eos_ids:
                n = k + 1
                break
        ids, lp = row[:n], (logp[r, :n].cpu().tolist() if logp is not None else [])
        text = tok.decode(ids, skip_special_tokens=True)
        first, last = answer_token_range(tok, ids)
        scored = [v for v in lp[first:last] if math.isfinite(v)]
        results.append((text, float(np.mean(scored)) if scored else float("-inf")))
    return results


def generate_scored(
    model,
    processor,
    records: Sequence[dict],
    *,
    batch_size: int = 32,
    max_new_tokens: int = 24,
    prompt_style: str | None = None,
) -> list[tuple[str, float]]:
    """Greedy completions of ``model`` for ``records`` with a confidence each, ``(text,
    mean log-probability of the answer block's tokens)`` (:func:`_generate_scored_batch`), ``batch_size`` at a time (the batching of
    :func:`generate_answers`, which gives the same texts). Records need ``image``, ``width``,
    ``height`` and ``expression`` (no ``bbox``: nothing is scored against a target). Used to
    choose among the windows of a large raster (:mod:`rsground_lib.geo`). Our design: the
    paper grounds whole images. ``prompt_style`` None: the checkpoint's own
    (:func:`rsground_lib.models.checkpoint_prompt_style`). The model's training mode is
    restored afterwards."""
    return _in_batches(
        _generate_scored_batch, "generate_scored", model, processor, records,
        batch_size=batch_size, max_new_tokens=max_new_tokens, prompt_style=prompt_style,
    )  # fmt: skip


def sample_groups(
    model,
    processor,
    records: Sequence[dict],
    *,
    num_generations: int = 8,
    temperature: float = 0.9,
    max_new_tokens: int = 96,
    prompt_style: str | None = None,
    batch_size: int = 8,
    seed: int = 0,
) -> dict:
    """``num_generations`` sampled completions of ``model`` per record — the rollout groups
    GRPO would score, outside the trainer — with their parsed boxes in model pixels:
    ``{"texts": [[str] * G] * B, "boxes": (B, G, 4) with NaN rows for unparsable,
    "bbox_model": (B, 4), "image_size_model": (B, 2)}``. Seeded (``torch`` RNG forked)."""
    if num_generations < 2:
        raise ValueError(f"num_generations: expected >= 2; got {num_generations}")
    prompt_style = prompt_style or models.checkpoint_prompt_style(model)
    import torch

    texts: list[list[str]] = []
    boxes = np.full((len(records), num_generations, 4), np.nan)
    targets, sizes = [], []
    tok = processor.tokenizer
    with eval_mode(model), torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for start in range(0, len(records), batch_size):
            chunk = [
                conversation.grounding_example(r, processor, prompt_style=prompt_style)
                for r in records[start : start + batch_size]
            ]
            for rec in records[start : start + batch_size]:
                box, size = conversation.target_box_model(rec, processor)
                targets.append(box)
                sizes.append(list(size))
            enc = conversation.prompt_inputs(processor, chunk).to(model.device)
            new = new_token_ids(
                model,
                enc,
                do_sample=True,
                temperature=temperature,
                top_k=0,
                top_p=1.0,
                num_return_sequences=num_generations,
                max_new_tokens=max_new_tokens,
            )
            decoded = tok.batch_decode(new, skip_special_tokens=True)
            for j in range(len(chunk)):
                group = decoded[j * num_generations : (j + 1) * num_generations]
                texts.append(group)
                for k, text in enumerate(group):
                    box = prompts.parse_answer(text)
                    if box is not None:
                        boxes[start + j, k] = box
    return {
        "texts": texts,
        "boxes": boxes,
        "bbox_model": np.asarray(targets, dtype=np.float64),
        "image_size_model": np.asarray(sizes, dtype=np.float64),
    }


BACKENDS = ("transformers",)
"""Generation backends of :func:`rsground_lib.evaluation.predict`. Only ``"transformers"``
(``model.generate``) is built; another one (vLLM) would be one more entry of
:data:`BATCH_GENERATORS`: a function ``(model, processor, records, *, max_new_tokens,
prompt_style) -> list[str]`` of raw completions, greedy, one per record."""

BATCH_GENERATORS = {"transformers": greedy_batch}
