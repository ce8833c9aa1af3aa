"""A record as the model's conversation: the prompt, the target box in model-input pixels,
the answer, and the TRL prompt-completion vision example that the trainers and the evaluator
share.

The record keeps its box in ORIGINAL pixels (``bbox``); the model reads and writes boxes in
the pixels of the image as it sees it (``bbox_model``, :func:`rsground_lib.models.
model_image_size`). This module is where one becomes the other for training and inference
(the coordinate rules of the design page).

Book chapter: "Design and our reading of the paper" (``book/design.md``).
"""

from __future__ import annotations

from collections.abc import Sequence

from rsground_lib import boxes, models, prompts


def target_box_model(record: dict, processor) -> tuple[list[float], tuple[int, int]]:
    """``(bbox_model, size_model)``: the record's ``bbox`` (original pixels of a ``width`` ×
    ``height`` image) in the pixels of the model input that ``processor`` makes, and that
    input's ``(width, height)``."""
    wh = (int(record["width"]), int(record["height"]))
    size_model = models.model_image_size(processor, *wh)
    bbox_model = [float(v) for v in boxes.to_model_pixels(record["bbox"], wh, size_model)]
    return bbox_model, size_model


def answer_box(bbox_model: Sequence[float], size_model: Sequence[int], coord_step: int) -> list:
    """The box an answer writes: ``bbox_model`` on a grid of ``coord_step`` model pixels
    (:func:`rsground_lib.boxes.quantize_box`; the tiny base's grid is 4) when ``coord_step`` >
    1, else unchanged (:func:`rsground_lib.prompts.format_box` rounds it to integers)."""
    if coord_step > 1:
        return boxes.quantize_box(bbox_model, coord_step, size_model)
    return list(bbox_model)


def grounding_example(
    record: dict,
    processor,
    *,
    answer: str | None = None,
    coord_step: int = 4,
    prompt_style: str,
) -> dict:
    """One TRL prompt-completion vision example from a record (``image``, ``width``,
    ``height``, ``expression``, ``bbox`` in original pixels): ``{"images", "prompt",
    "completion", "bbox_model"}``. The prompt is :func:`rsground_lib.prompts.conversation` in
    ``prompt_style``; without ``answer`` the completion is the box-only answer
    (:func:`rsground_lib.prompts.box_answer`) of the target on the ``coord_step`` grid. A
    record without ``bbox`` (new imagery, nothing to train on) gets ``bbox_model`` None and,
    without ``answer``, an empty completion: only its prompt is of use."""
    image = record["image"]
    if hasattr(image, "convert"):
        image = image.convert("RGB")
    if record.get("bbox") is None:
        size_model = models.model_image_size(processor, int(record["width"]), int(record["height"]))
        bbox_model = None
        if answer is None:
            answer = ""
    else:
        bbox_model, size_model = target_box_model(record, processor)
    messages = prompts.conversation(record["expression"], size_model, prompt_style)
    if answer is None:
        answer = prompts.box_answer(answer_box(bbox_model, size_model, coord_step))
    return {
        "images": [image],
        "prompt": messages,
        "completion": [{"role": "assistant", "content": [{"type": "text", "text": answer}]}],
        "bbox_model": bbox_model,
    }


def rft_example(record: dict, processor, *, prompt_style: str) -> dict:
    """One TRL prompt-only vision example for GRPO from a record: ``{"images", "prompt",
    "bbox_model", "image_size_model", "cues"}`` — the prompt of :func:`grounding_example`
    and what the rewards and the consistency weight read: the target in model pixels, the
    model input's ``[width, height]`` and the record's cue tags (``[]`` when it has none).
    The completions come from the policy."""
    ex = grounding_example(record, processor, prompt_style=prompt_style)
    _, size_model = target_box_model(record, processor)
    return {
        "images": ex["images"],
        "prompt": ex["prompt"],
        "bbox_model": ex["bbox_model"],
        "image_size_model": [int(size_model[0]), int(size_model[1])],
        "cues": [str(c) for c in record.get("cues") or []],
    }


def prompt_inputs(processor, examples: list[dict]):
    """The model inputs of the prompts of ``examples`` (made by :func:`grounding_example`),
    ready for generation: the chat template with the generation prompt, images, left
    padding, and the keywords the processor's family needs
    (:func:`rsground_lib.models.processor_call_kwargs`)."""
    texts = [
        processor.apply_chat_template(ex["prompt"], add_generation_prompt=True, tokenize=False)
        for ex in examples
    ]
    return processor(
        images=[ex["images"] for ex in examples],
        text=texts,
        return_tensors="pt",
        padding=True,
        padding_side="left",
        add_special_tokens=False,
        **models.processor_call_kwargs(processor),
    )
