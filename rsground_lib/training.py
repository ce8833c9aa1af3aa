"""Training stages: thin builders around TRL's ``SFTTrainer``.

Stage (a), for the tiny model only: **base-grounding pretraining** (:func:`pretrain_base`).
The tiny model plays the role that a pretrained Qwen2.5-VL plays on a GPU, so it first has
to *localise*: it is trained on synthetic grounding scenes to answer ``<answer>[x1, y1, x2,
y2]</answer>`` without reasoning, with a curriculum from one object to many. Every log line
carries the *image-blind floor* beside the training loss — the per-token loss of a model
that knows only the marginal statistics of the answers (:func:`image_blind_floor`) — so a run
shows whether the model uses the image at all (a loss at the floor means it does not).

The same builder (:func:`build_sft_trainer`) trains the tiny model on CPU and Qwen2.5-VL on
a GPU; nothing here is model-specific.

Book chapter: "CoT-SFT" (``book/0x_cot_sft.py``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from . import strict

PROMPT_STYLES: tuple[str, ...] = ("compact", "full")
"""Prompt styles of :func:`grounding_example`: the project's full prompt, or image + expression."""

BASE_COORD_STEP = 4
"""Base-pretraining targets are quantised to multiples of this many model pixels."""


# ----------------------------------------------------------------------------- config


@dataclass
class BasePretrainConfig:
    """Every knob of the base-grounding pretraining (defaults: the committed recipe).

    ``stages`` is the curriculum: a list of ``{"steps": int, "data": {...}}``; each stage
    draws fresh scenes from the dataset factory with ``data`` as keyword arguments.
    ``data_factory`` names the factory as ``"FILE.py:FUNCTION"`` or ``"package.module:FUNCTION"`` (called
    ``FUNCTION(n, seed=..., image_size=image_size_px, **data)``); ``None`` means
    :func:`rsground_lib.data.synthetic.make_dataset`. The default stages' ``data`` are the
    keywords of the base-scene generator :mod:`rsground_lib.data.base_scenes` (the default)
    (``max_objects``: 1–k objects per scene; ``mode``: ``"single"`` one instance per class,
    ``"multi"`` 2–3 of the target class named by an extreme cue, ``"mixed"`` half each). ``chunk_size`` scenes
    are generated at a time. ``learning_rate`` peaks after ``warmup_steps`` and decays by
    cosine to ``min_lr_ratio`` of the peak over all stages. ``eval_steps``: every so many
    steps, greedy answers on ``n_eval`` held-out scenes (seed ``seed + 10_000``) are scored and
    logged. ``model`` overrides :class:`rsground_lib.models.TinyModelSpec` fields.
    ``aux_warmup_steps`` > 0 runs :func:`aux_warm_start` with ``target=aux_target``
    (``"vision"``: one box from the mean image token; ``"vision_per_class"``: every class's
    presence and box, class-conditional) on scenes drawn with ``aux_data`` (``None``: the
    first stage's ``data``) before the SFT; ``aux_per_class_steps`` > 0 first runs the
    ``"vision_per_class"`` warm start for that many steps on ``aux_per_class_data`` scenes; then ``aux_lm_steps`` > 0 runs it with ``target="lm"`` on the scenes of stage
    ``aux_lm_stage``. The final weights are stored in ``save_dtype`` (float16 halves the
    file; loading upcasts to float32 on CPU); the intermediate trainer checkpoints under
    ``<out>/trainer`` (for ``resume``) are deleted after a successful run unless
    ``keep_trainer_checkpoints``. ``prompt_style``: ``"compact"`` (the user turn is the image and the expression only —
    a pretrained grounding model's native prompt, and ~4× fewer tokens per step than
    ``"full"``, the project's system prompt and user text of :mod:`rsground_lib.prompts`).
    ``init_from``: a saved checkpoint folder to continue from instead of building the model from
    ``seed`` (the warm starts are then skipped: the committed base is made in two such runs,
    see ``checkpoints/tiny-base/README.md``). Unknown keys are a ValueError (:meth:`from_dict`).
    """

    seed: int = 0
    out: str = "checkpoints/tiny-base"
    family: str = "idefics3"
    model: dict = field(default_factory=lambda: {"coord_init_scale": 1.0})
    image_size_px: int = 64
    data_factory: str | None = "rsground_lib.data.base_scenes:make_records"
    stages: list = field(
        default_factory=lambda: [
            {"steps": 2500, "data": {"max_objects": 1}},
            {"steps": 4500, "data": {"max_objects": 3}},
            {"steps": 5000, "data": {"max_objects": 3, "mode": "mixed"}},
        ]
    )
    batch_size: int = 16
    learning_rate: float = 3e-3
    warmup_steps: int = 300
    min_lr_ratio: float = 0.05
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    coord_step: int = BASE_COORD_STEP
    chunk_size: int = 2048
    logging_steps: int = 50
    save_steps: int = 500
    eval_steps: int = 500
    n_eval: int = 128
    num_threads: int = 1
    prompt_style: str = "compact"
    aux_warmup_steps: int = 600
    aux_learning_rate: float = 3e-3
    aux_target: str = "vision"
    aux_data: dict | None = None
    aux_per_class_steps: int = 500
    aux_per_class_data: dict = field(default_factory=lambda: {"max_objects": 3, "mode": "single"})
    aux_lm_steps: int = 0
    aux_lm_stage: int = 1
    save_dtype: str = "float16"
    keep_trainer_checkpoints: bool = False
    init_from: str | None = None

    @classmethod
    def from_dict(cls, values: dict) -> BasePretrainConfig:
        cfg = strict.build(cls, values)
        cfg.validate()
        return cfg

    def validate(self) -> None:
        if not self.stages:
            raise ValueError("BasePretrainConfig.stages: expected at least one stage")
        for i, st in enumerate(self.stages):
            if not isinstance(st, dict) or set(st) - {"steps", "data"} or "steps" not in st:
                raise ValueError(
                    f"BasePretrainConfig.stages[{i}]: expected {{'steps': int, 'data': dict}}; got {st!r}"
                )
            if int(st["steps"]) <= 0:
                raise ValueError(f"BasePretrainConfig.stages[{i}].steps: expected > 0")
        if self.prompt_style not in PROMPT_STYLES:
            raise ValueError(
                f"BasePretrainConfig.prompt_style: expected one of {PROMPT_STYLES}; got {self.prompt_style!r}"
            )
        if self.save_dtype not in ("float32", "float16", "bfloat16"):
            raise ValueError(
                f"BasePretrainConfig.save_dtype: expected float32, float16 or bfloat16; got {self.save_dtype!r}"
            )
        if self.aux_target not in ("vision", "vision_per_class"):
            raise ValueError(
                "BasePretrainConfig.aux_target: expected 'vision' or 'vision_per_class'; "
                f"got {self.aux_target!r}"
            )
        if self.aux_data is not None and not isinstance(self.aux_data, dict):
            raise ValueError(f"BasePretrainConfig.aux_data: expected a dict; got {self.aux_data!r}")
        if self.batch_size <= 0 or self.learning_rate <= 0:
            raise ValueError("BasePretrainConfig: batch_size and learning_rate must be > 0")
        if self.init_from is not None and not (Path(self.init_from) / "config.json").is_file():
            raise ValueError(
                f"BasePretrainConfig.init_from: {self.init_from!r} is not a saved checkpoint "
                "folder (no config.json in it)"
            )

    @property
    def max_steps(self) -> int:
        return sum(int(s["steps"]) for s in self.stages)


# ----------------------------------------------------------------------------- examples


def base_answer(bbox_q: Sequence[int]) -> str:
    """The base model's target: ``<answer>[x1, y1, x2, y2]</answer>`` (no reasoning)."""
    from . import prompts

    return f"<answer>{prompts.format_box(bbox_q)}</answer>"


def grounding_example(
    record: dict,
    processor,
    *,
    answer: str | None = None,
    coord_step: int = BASE_COORD_STEP,
    prompt_style: str = "full",
) -> dict:
    """One TRL prompt-completion vision example from a record (image, width, height,
    expression, bbox in original pixels): ``{"images", "prompt", "completion", "bbox_model"}``.
    Without ``answer`` the completion is :func:`base_answer` of the quantised model-pixel box.
    ``prompt_style`` "full": :func:`rsground_lib.prompts.build_messages`; "compact": one user
    turn holding the image and the expression."""
    from . import boxes, models, prompts

    image = record["image"]
    if hasattr(image, "convert"):
        image = image.convert("RGB")
    size_model = models.model_image_size(processor, int(record["width"]), int(record["height"]))
    bbox_model = boxes.to_model_pixels(
        record["bbox"], (record["width"], record["height"]), size_model
    )
    bbox_model = [float(v) for v in bbox_model]
    if prompt_style == "full":
        messages = prompts.build_messages(record["expression"], size_model)
    elif prompt_style == "compact":
        messages = [
            {
                "role": "user",
                "content": [
                    {"type": "image"},
                    {"type": "text", "text": str(record["expression"]).strip()},
                ],
            }
        ]
    else:
        raise ValueError(f"prompt_style: expected one of {PROMPT_STYLES}; got {prompt_style!r}")
    if answer is None:
        answer = base_answer(boxes.quantize_box(bbox_model, coord_step, size_model))
    return {
        "images": [image],
        "prompt": messages,
        "completion": [{"role": "assistant", "content": [{"type": "text", "text": answer}]}],
        "bbox_model": bbox_model,
    }


# ----------------------------------------------------------------------------- floor


def _entropy(values: Iterable) -> float:
    counts = Counter(values)
    n = sum(counts.values())
    return -sum(c / n * math.log(c / n) for c in counts.values())


def image_blind_floor(boxes_q: Sequence[Sequence[int]], tokens_per_answer: int) -> float:
    """The image-blind floor: the per-token cross-entropy (nats) of the best model that
    knows only the marginal statistics of the quantised answer boxes, not the image.

    Estimated in closed form from a sample of answers (plug-in entropies) as
    ``[H(x1) + H(y1) + H(w, h)] / tokens`` — the entropy of the four coordinate tokens if
    corner and size were independent (the sum of marginal entropies bounds the joint one from
    above; the joint plug-in estimate would be biased low on a finite sample). Format tokens
    are free (fully predictable), so the sum is divided by ``tokens_per_answer``, the number of
    loss tokens of one completion. An approximation: the expression (class → size) lowers the
    true floor a little; a training loss well below it means the image is used.
    """
    b = [tuple(int(v) for v in q) for q in boxes_q]
    if not b:
        raise ValueError("image_blind_floor: expected at least one box")
    h_x1 = _entropy(q[0] for q in b)
    h_y1 = _entropy(q[1] for q in b)
    h_wh = _entropy((q[2] - q[0], q[3] - q[1]) for q in b)
    return (h_x1 + h_y1 + h_wh) / tokens_per_answer


def completion_token_count(processor, example: dict) -> int:
    """Loss tokens of one example's completion as the TRL collator tokenises it."""
    from trl.data_utils import apply_chat_template, prepare_multimodal_messages

    ex = {
        "prompt": prepare_multimodal_messages(example["prompt"], images=example["images"]),
        "completion": prepare_multimodal_messages(example["completion"]),
    }
    rendered = apply_chat_template(ex, processor)
    return len(processor.tokenizer(rendered["completion"], add_special_tokens=False)["input_ids"])


# ----------------------------------------------------------------------------- evaluation


def predict_boxes(
    model,
    processor,
    records: Sequence[dict],
    *,
    batch_size: int = 32,
    max_new_tokens: int = 24,
    prompt_style: str = "full",
) -> tuple[list[str], list[list[float] | None]]:
    """Greedy completions and parsed boxes (model pixels) for ``records``."""
    import torch

    from . import models, prompts

    texts_out: list[str] = []
    parsed: list[list[float] | None] = []
    tok = processor.tokenizer
    was_training = model.training
    model.eval()
    for i in range(0, len(records), batch_size):
        chunk = [
            grounding_example(r, processor, prompt_style=prompt_style)
            for r in records[i : i + batch_size]
        ]
        texts = [
            processor.apply_chat_template(ex["prompt"], add_generation_prompt=True, tokenize=False)
            for ex in chunk
        ]
        enc = processor(
            images=[ex["images"] for ex in chunk],
            text=texts,
            return_tensors="pt",
            padding=True,
            padding_side="left",
            add_special_tokens=False,
            **models.processor_call_kwargs(processor),
        )
        enc = enc.to(model.device)
        with torch.no_grad():
            out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False)
        for row in out[:, enc["input_ids"].shape[1] :]:
            text = tok.decode(row, skip_special_tokens=True)
            texts_out.append(text)
            parsed.append(prompts.parse_answer(text))
    if was_training:
        model.train()
    return texts_out, parsed


def quadrant(bbox: Sequence[float], size: Sequence[float]) -> int:
    """Which quadrant (0 upper left, 1 upper right, 2 lower left, 3 lower right) holds the
    box centre."""
    cx = (bbox[0] + bbox[2]) / 2
    cy = (bbox[1] + bbox[3]) / 2
    return int(cx >= size[0] / 2) + 2 * int(cy >= size[1] / 2)


def evaluate_grounding(
    model, processor, records: Sequence[dict], *, batch_size: int = 32, prompt_style: str = "full"
) -> dict:
    """Greedy grounding on ``records`` scored in model pixels by the scoring core
    (:func:`rsground_lib.metrics.grounding_metrics`, continuous boxes): ``acc@0.5`` (IoU >
    0.5), ``mean_iou``, ``parse_rate``, ``quadrant_acc`` (centre in the target's quadrant),
    ``median_center_err_px`` and the chance levels ``chance_quadrant`` (0.25) and
    ``chance_pick`` (mean of 1 / number of objects of the target's class, a random pick
    among the candidates; needs an ``objects`` or ``n_same`` field, else NaN)."""
    import numpy as np

    from . import boxes, metrics, models

    texts, parsed = predict_boxes(
        model, processor, records, batch_size=batch_size, prompt_style=prompt_style
    )
    targets, quad, err = [], [], []
    for rec, box in zip(records, parsed, strict=True):
        size = models.model_image_size(processor, int(rec["width"]), int(rec["height"]))
        target = boxes.to_model_pixels(rec["bbox"], (rec["width"], rec["height"]), size)
        targets.append([float(v) for v in np.asarray(target).ravel()])
        if box is None:
            quad.append(0.0)
            err.append(float("inf"))
            continue
        quad.append(float(quadrant(box, size) == quadrant(target, size)))
        err.append(float(boxes.center_distance(box, target)))
    picks = [_chance_pick(r) for r in records]
    scores = metrics.grounding_metrics(
        parsed, np.asarray(targets), convention="continuous", op=">", thresholds=(0.5,)
    )
    return {
        "n": len(records),
        "acc@0.5": scores["pr@0.5"],
        "mean_iou": scores["mean_iou"],
        "parse_rate": scores["parse_rate"],
        "quadrant_acc": float(np.mean(quad)),
        "median_center_err_px": float(np.median(err)),
        "chance_quadrant": 0.25,
        "chance_pick": float(np.nanmean(picks))
        if not all(math.isnan(p) for p in picks)
        else float("nan"),
        "examples": [{"text": t, "box": b} for t, b in list(zip(texts, parsed, strict=True))[:4]],
    }


def _chance_pick(rec: dict) -> float:
    if "n_same" in rec and rec["n_same"]:
        return 1.0 / int(rec["n_same"])
    objs = rec.get("objects")
    if objs:
        cat = rec.get("category")
        same = [o for o in objs if isinstance(o, dict) and o.get("category", o.get("class")) == cat]
        if same:
            return 1.0 / len(same)
    return float("nan")


# ----------------------------------------------------------------------------- warm start


def _image_batch(processor, images) -> dict:
    out = processor.image_processor(images=[[im] for im in images], return_tensors="pt")
    return {k: out[k] for k in ("pixel_values", "pixel_attention_mask") if k in out}


def _pooled_image_tokens(model, pixel_values, pixel_attention_mask=None):
    """Mean over the image tokens (connector outputs) of each image: ``(batch, text_hidden)``."""
    feats = model.model.get_image_features(pixel_values, pixel_attention_mask).pooler_output
    return __import__("torch").stack([f.mean(0) for f in feats])


def _box_targets(examples: Sequence[dict], processor) -> Any:
    import torch

    from . import models

    rows = []
    for ex in examples:
        w, h = models.model_image_size(processor, 1, 1)
        x1, y1, x2, y2 = ex["bbox_model"]
        rows.append([(x1 + x2) / 2 / w, (y1 + y2) / 2 / h, (x2 - x1) / w, (y2 - y1) / h])
    return torch.tensor(rows, dtype=torch.float32)


AUX_TARGETS: tuple[str, ...] = ("vision", "vision_per_class", "lm")
"""Targets of :func:`aux_warm_start`."""


def _all_image_tokens(model, pixel_values, pixel_attention_mask=None):
    """The image tokens (connector outputs) of each image: ``(batch, tokens, text_hidden)``."""
    feats = model.model.get_image_features(pixel_values, pixel_attention_mask).pooler_output
    return __import__("torch").stack(list(feats))


def _per_class_targets(records: Sequence[dict], processor, classes: Sequence[str]) -> Any:
    """``(batch, classes, 5)``: per class, presence (0/1) and the normalised box ``(cx, cy,
    w, h)`` of its instance (zeros when absent) from each record's ``objects``."""
    import torch

    from . import boxes, models

    index = {c: i for i, c in enumerate(classes)}
    out = torch.zeros(len(records), len(classes), 5)
    for r, rec in enumerate(records):
        objs = rec.get("objects")
        if not objs:
            raise ValueError(
                "aux_warm_start(target='vision_per_class'): records need an 'objects' list "
                "(category, bbox), e.g. rsground_lib.data.base_scenes"
            )
        size = models.model_image_size(processor, int(rec["width"]), int(rec["height"]))
        for o in objs:
            x1, y1, x2, y2 = (
                float(v)
                for v in boxes.to_model_pixels(o["bbox"], (rec["width"], rec["height"]), size)
            )
            out[r, index[o["category"]]] = torch.tensor(
                [
                    1.0,
                    (x1 + x2) / 2 / size[0],
                    (y1 + y2) / 2 / size[1],
                    (x2 - x1) / size[0],
                    (y2 - y1) / size[1],
                ]
            )
    return out


class _PerClassHead:
    """Throwaway class-conditional head: per class a learned query attends over the image
    tokens (softmax over tokens, the operation the text model must perform when the class
    word queries the image) and a per-class linear map reads ``(present logit, cx, cy, w, h)``
    from the attended tokens."""

    def __init__(self, hidden: int, n_classes: int, gen):
        import torch

        self.key = torch.nn.Linear(hidden, hidden)
        # Keys start as the tokens themselves and queries as unit-scale random vectors, so
        # the attention is peaked (not uniform) from the start: with tiny keys and queries
        # the head sat near a saddle (centre R² 0.31 after 400 steps instead of 0.79).
        self.query = torch.nn.Parameter(torch.randn(n_classes, hidden, generator=gen))
        self.read_w = torch.nn.Parameter(torch.randn(n_classes, hidden, 5, generator=gen) * 0.02)
        self.read_b = torch.nn.Parameter(
            torch.tensor([0.0, 0.5, 0.5, 0.2, 0.2]).repeat(n_classes, 1)
        )
        with torch.no_grad():
            self.key.weight.normal_(0, 0.02, generator=gen)
            self.key.weight.add_(torch.eye(hidden))
            self.key.bias.zero_()
        self.scale = hidden**-0.5

    def parameters(self) -> list:
        return [*self.key.parameters(), self.query, self.read_w, self.read_b]

    def __call__(self, tokens):
        import torch

        att = torch.softmax(
            torch.einsum("bth,ch->bct", self.key(tokens), self.query) * self.scale, dim=-1
        )
        pooled = torch.einsum("bct,bth->bch", att, tokens)
        return torch.einsum("bch,cho->bco", pooled, self.read_w) + self.read_b


def _per_class_loss(pred, y):
    import torch

    present = y[..., 0]
    cls = torch.nn.functional.binary_cross_entropy_with_logits(pred[..., 0], present)
    box = torch.nn.functional.smooth_l1_loss(pred[..., 1:], y[..., 1:], beta=0.05, reduction="none")
    box = (box.sum(-1) * present).sum() / present.sum().clamp(min=1.0) / 4
    return cls + box


def aux_warm_start(
    model,
    processor,
    records: Callable[[int, int], Sequence[dict]],
    *,
    steps: int,
    batch_size: int = 32,
    learning_rate: float = 3e-3,
    seed: int = 0,
    log: Callable[[dict], None] | None = None,
    target: str = "vision",
    classes: Sequence[str] | None = None,
) -> dict:
    """Auxiliary warm start of the vision tower and connector (Idefics3 family).

    A temporary linear head regresses the target box ``(cx, cy, w, h)`` (normalised) from the
    *mean* of the image tokens — what the text model sees through near-uniform attention at
    initialisation — with a smooth-L1 loss, for ``steps`` Adam steps on one-object scenes.
    Afterwards the object's position is linearly readable from the image tokens, so the
    grounding SFT that follows starts with a usable signal instead of sitting at the
    image-blind floor. ``records(n, seed)`` returns records. Returns the held-out ``r2`` of
    the head's centre prediction before and after.

    ``target="vision_per_class"``: the class-conditional variant, for scenes with several
    objects, at most one per class (records need ``objects``: every object's ``category``
    and ``bbox``, as :mod:`rsground_lib.data.base_scenes` gives). A throwaway head
    (:class:`_PerClassHead`: per class, a learned query attends over the image tokens) predicts
    for each of ``classes`` (default: the base-scene classes) a presence logit and the box
    ``(cx, cy, w, h)``; the loss is the presence cross-entropy of every class plus the box
    smooth-L1 of the classes present. Only the vision tower and connector (and the head) train:
    the image tokens must carry *where each class is*, keyed by class, so the text model only
    has to route the class word to the right tokens. ``r2``: the centre R² over the
    (scene, present class) pairs of held-out scenes; ``presence_acc`` as well.

    ``target="lm"`` instead regresses the box from the text model's last hidden state at the
    end of the prompt (where the answer starts), training the whole model: the expression
    must select the object among several, so the attention from the prompt to the right
    image tokens is shaped by a dense, distance-aware loss before the token-level SFT.
    """
    import torch

    if target not in AUX_TARGETS:
        raise ValueError(f"aux_warm_start: target must be one of {AUX_TARGETS}; got {target!r}")
    if target == "lm":
        params = list(model.parameters())
    else:
        params = list(model.model.vision_model.parameters()) + list(
            model.model.connector.parameters()
        )
    hidden = model.config.text_config.hidden_size
    gen = torch.Generator().manual_seed(seed)
    if target == "vision_per_class":
        if classes is None:
            from .data import base_scenes

            classes = list(base_scenes.NAMES)
        classes = list(classes)
        head = _PerClassHead(hidden, len(classes), gen)
    else:
        head = torch.nn.Linear(hidden, 4)
        with torch.no_grad():
            head.weight.normal_(0, 0.02, generator=gen)
            head.bias.fill_(0.25)
    opt = torch.optim.Adam(params + list(head.parameters()), lr=learning_rate)

    def batch(n, s):
        recs = list(records(n, s))
        exs = [grounding_example(r, processor, prompt_style="compact") for r in recs]
        if target != "lm":
            x = _image_batch(processor, [e["images"][0] for e in exs])
        else:
            texts = [
                processor.apply_chat_template(
                    e["prompt"], add_generation_prompt=True, tokenize=False
                )
                for e in exs
            ]
            x = dict(
                processor(
                    images=[e["images"] for e in exs],
                    text=texts,
                    return_tensors="pt",
                    padding=True,
                    padding_side="left",
                    add_special_tokens=False,
                )
            )
        if target == "vision_per_class":
            return x, _per_class_targets(recs, processor, classes)
        return x, _box_targets(exs, processor)

    def features(x):
        if target == "vision":
            return _pooled_image_tokens(model, **x)
        if target == "vision_per_class":
            return _all_image_tokens(model, **x)
        return model.model(**x).last_hidden_state[:, -1]

    def loss_fn(pred, y):
        if target == "vision_per_class":
            return _per_class_loss(pred, y)
        return torch.nn.functional.smooth_l1_loss(pred, y, beta=0.05)

    held_x, held_y = batch(128, seed + 99_991)

    def evaluate() -> dict:
        with torch.no_grad():
            pred = head(features(held_x))
        if target == "vision_per_class":
            present = held_y[..., 0] > 0.5
            p, t = pred[..., 1:3][present], held_y[..., 1:3][present]
            acc = float(((pred[..., 0] > 0) == present).float().mean())
        else:
            p, t, acc = pred[:, :2], held_y[:, :2], None
        r2 = float(1 - ((p - t) ** 2).sum() / ((t - t.mean(0)) ** 2).sum())
        return {"r2": r2} if acc is None else {"r2": r2, "presence_acc": acc}

    before = evaluate()
    model.train()
    for step in range(1, steps + 1):
        x, y = batch(batch_size, seed * 7919 + step)
        lr = learning_rate * min(1.0, step / max(1, steps // 10))
        for g in opt.param_groups:
            g["lr"] = lr
        loss = loss_fn(head(features(x)), y)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        if log is not None and (step % 100 == 0 or step == steps):
            ev = evaluate()
            rec = {"aux_step": step, "aux_loss": round(float(loss.detach()), 5)}
            rec.update({f"aux_{k}": round(v, 4) for k, v in ev.items()})
            log(rec)
    model.eval()
    after = evaluate()
    res = {"r2_before": before["r2"], "r2_after": after["r2"], "steps": steps, "target": target}
    if "presence_acc" in after:
        res["presence_acc_before"] = before["presence_acc"]
        res["presence_acc_after"] = after["presence_acc"]
    return res


# ----------------------------------------------------------------------------- trainer


def sft_config(**overrides):
    """A TRL ``SFTConfig`` with this project's CPU-safe defaults (no bf16 on CPU, no gradient
    checkpointing, no reporting, prompt-completion loss, ``remove_unused_columns=False`` for
    images), updated by ``overrides`` (unknown keys: TypeError from SFTConfig)."""
    import torch
    from trl import SFTConfig

    cuda = torch.cuda.is_available()
    values = dict(
        output_dir="runs/sft",
        bf16=cuda,
        activation_checkpointing=False,
        report_to="none",
        remove_unused_columns=False,
        completion_only_loss=None,
        max_length=None,
        logging_steps=50,
        save_strategy="no",
        dataloader_num_workers=0,
        disable_tqdm=True,
        use_cpu=not cuda,
    )
    values.update(overrides)
    return SFTConfig(**values)


def build_sft_trainer(
    model, processor, train_dataset, *, args=None, callbacks=None, peft_config=None, **kwargs
):
    """A TRL ``SFTTrainer`` over a vision dataset (``images`` + ``prompt``/``completion`` or
    ``messages``), with ``processing_class=processor``. ``args`` is an ``SFTConfig`` or a
    dict for :func:`sft_config`."""
    from trl import SFTTrainer

    if args is None or isinstance(args, dict):
        args = sft_config(**(args or {}))
    return SFTTrainer(
        model=model,
        args=args,
        train_dataset=train_dataset,
        processing_class=processor,
        callbacks=callbacks,
        peft_config=peft_config,
        **kwargs,
    )


# ----------------------------------------------------------------------------- base pretraining


def _default_factory(image_size_px: int) -> Callable[..., Iterable[dict]]:
    def factory(n: int, *, seed: int, **data) -> Iterable[dict]:
        from .data import synthetic

        return synthetic.make_dataset(n, seed=seed, image_size=image_size_px, **data)

    return factory


def _make_callback(
    cfg: BasePretrainConfig,
    stage_floors: list[tuple[int, float]],
    eval_fn,
    log_path: Path,
    t0: float,
):
    from transformers import TrainerCallback

    class FloorAndEval(TrainerCallback):
        """Adds ``image_blind_floor`` and ``cpu_s`` to every log; evaluates every
        ``eval_steps``; appends every log to ``log.jsonl``."""

        def _floor(self, step: int) -> float:
            floor = stage_floors[0][1]
            for start, f in stage_floors:
                if step >= start:
                    floor = f
            return floor

        def on_log(self, args, state, control, logs=None, **kw):
            if logs is None:
                return
            logs["image_blind_floor"] = round(self._floor(state.global_step), 4)
            logs["cpu_s"] = round(time.process_time() - t0, 1)
            with log_path.open("a") as fh:
                fh.write(json.dumps({"step": state.global_step, **logs}) + "\n")

        def on_step_end(self, args, state, control, model=None, **kw):
            if cfg.eval_steps and state.global_step % cfg.eval_steps == 0:
                metrics = eval_fn(model)
                rec = {
                    "step": state.global_step,
                    "eval": metrics,
                    "cpu_s": round(time.process_time() - t0, 1),
                }
                with log_path.open("a") as fh:
                    fh.write(json.dumps(rec) + "\n")
                print(json.dumps(rec), flush=True)

    return FloorAndEval()


def _stream(cfg: BasePretrainConfig, factory, processor, stage_index: int | None = None):
    """Yields training examples stage after stage (curriculum order, no shuffling)."""
    chunk_seed = cfg.seed * 1_000_003
    for si, st in enumerate(cfg.stages):
        if stage_index is not None and si != stage_index:
            continue
        need = int(st["steps"]) * cfg.batch_size
        made = 0
        while made < need:
            n = min(cfg.chunk_size, need - made)
            chunk_seed += 1
            for rec in factory(n, seed=chunk_seed, **st.get("data", {})):
                ex = grounding_example(
                    rec, processor, coord_step=cfg.coord_step, prompt_style=cfg.prompt_style
                )
                ex.pop("bbox_model")
                yield ex
            made += n


def pretrain_base(
    config: BasePretrainConfig | dict | None = None,
    *,
    dataset_factory: Callable[..., Iterable[dict]] | None = None,
    resume: bool = False,
) -> dict:
    """Pretrain the tiny base checkpoint (stage (a)): build the tiny model from ``seed``, train
    it with TRL's ``SFTTrainer`` on the curriculum of ``config.stages`` (answers without
    reasoning), save it to ``config.out`` with ``metrics.json`` and ``log.jsonl``.

    ``dataset_factory(n, *, seed, **stage_data)`` returns records (``image``, ``width``,
    ``height``, ``expression``, ``bbox``; default: :func:`rsground_lib.data.synthetic.make_dataset`).
    Intermediate checkpoints go to ``<out>/trainer`` every ``save_steps`` (``resume=True``
    continues from the last one; none is an error, and log rows past it are dropped).
    Returns the final metrics (per stage's held-out scenes).
    """
    import torch
    from datasets import IterableDataset

    from . import models

    cfg = (
        config
        if isinstance(config, BasePretrainConfig)
        else BasePretrainConfig.from_dict(dict(config or {}))
    )
    cfg.validate()
    torch.set_num_threads(cfg.num_threads)
    if dataset_factory is not None:
        factory = dataset_factory
    elif cfg.data_factory:
        factory = load_factory(cfg.data_factory, cfg.image_size_px)
    else:
        factory = _default_factory(cfg.image_size_px)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    log_path = out / "log.jsonl"
    if not resume and log_path.exists():
        log_path.unlink()
    t0 = time.process_time()
    wall0 = time.time()

    if cfg.init_from:
        model, processor = models.load_model(cfg.init_from, dtype="float32")
    else:
        model, processor = models.build_tiny_model(
            cfg.seed, family=cfg.family, image_size=cfg.image_size_px, **cfg.model
        )
    warm = not resume and not cfg.init_from

    # The image-blind floor of each stage, from a sample of its answers.
    stage_floors: list[tuple[int, float]] = []
    eval_sets: list[list[dict]] = []
    start = 0
    for si, st in enumerate(cfg.stages):
        sample = list(factory(2000, seed=cfg.seed + 777 + si, **st.get("data", {})))
        exs = [
            grounding_example(
                r, processor, coord_step=cfg.coord_step, prompt_style=cfg.prompt_style
            )
            for r in sample
        ]
        qs = [_answer_box(e) for e in exs]
        n_tok = completion_token_count(processor, exs[0])
        stage_floors.append((start, image_blind_floor(qs, n_tok)))
        start += int(st["steps"])
        eval_sets.append(
            list(factory(cfg.n_eval, seed=cfg.seed + 10_000 + si, **st.get("data", {})))
        )

    def eval_fn(m):
        res = {}
        for si, recs in enumerate(eval_sets):
            r = evaluate_grounding(m, processor, recs, prompt_style=cfg.prompt_style)
            r.pop("examples")
            res[f"stage{si}"] = {
                k: round(v, 4) if isinstance(v, float) else v for k, v in r.items()
            }
        return res

    aux = None

    def aux_log(rec):
        rec["cpu_s"] = round(time.process_time() - t0, 1)
        with log_path.open("a") as fh:
            fh.write(json.dumps(rec) + "\n")

    if cfg.aux_per_class_steps > 0 and warm:
        pc_data = dict(cfg.aux_per_class_data)
        aux_pc = aux_warm_start(
            model,
            processor,
            lambda n, s: list(factory(n, seed=s, **pc_data)),
            steps=cfg.aux_per_class_steps,
            learning_rate=cfg.aux_learning_rate,
            seed=cfg.seed + 2,
            log=aux_log,
            target="vision_per_class",
        )
        aux_log({"aux_per_class": aux_pc})
    if cfg.aux_warmup_steps > 0 and warm:
        first = dict(cfg.stages[0].get("data", {}) if cfg.aux_data is None else cfg.aux_data)
        aux = aux_warm_start(
            model,
            processor,
            lambda n, s: list(factory(n, seed=s, **first)),
            steps=cfg.aux_warmup_steps,
            learning_rate=cfg.aux_learning_rate,
            seed=cfg.seed,
            log=aux_log,
            target=cfg.aux_target,
        )
        aux_log({"aux": aux})
    if cfg.aux_per_class_steps > 0 and warm:
        aux = {"per_class": aux_pc, "vision": aux}
    if cfg.aux_lm_steps > 0 and warm:
        lm_data = dict(cfg.stages[cfg.aux_lm_stage].get("data", {}))
        aux_lm = aux_warm_start(
            model,
            processor,
            lambda n, s: list(factory(n, seed=s, **lm_data)),
            steps=cfg.aux_lm_steps,
            batch_size=cfg.batch_size,
            learning_rate=cfg.aux_learning_rate,
            seed=cfg.seed + 1,
            log=aux_log,
            target="lm",
        )
        aux_log({"aux_lm": aux_lm})
        aux = {"vision": aux, "lm": aux_lm}

    gen_kwargs = {"cfg": cfg, "factory": factory, "processor": processor}
    train_dataset = IterableDataset.from_generator(_stream_gen, gen_kwargs=gen_kwargs)
    args = sft_config(
        output_dir=str(out / "trainer"),
        max_steps=cfg.max_steps,
        per_device_train_batch_size=cfg.batch_size,
        learning_rate=cfg.learning_rate,
        lr_scheduler_type="cosine_with_min_lr",
        lr_scheduler_kwargs={"min_lr_rate": cfg.min_lr_ratio},
        warmup_steps=cfg.warmup_steps,
        weight_decay=cfg.weight_decay,
        max_grad_norm=cfg.max_grad_norm,
        logging_steps=cfg.logging_steps,
        save_strategy="steps",
        save_steps=cfg.save_steps,
        save_total_limit=1,
        seed=cfg.seed,
        data_seed=cfg.seed,
        accelerator_config={"dispatch_batches": False},
    )
    callback = _make_callback(cfg, stage_floors, eval_fn, log_path, t0)
    trainer = build_sft_trainer(model, processor, train_dataset, args=args, callbacks=[callback])
    last = _resume_point(out, log_path) if resume else None
    trainer.train(resume_from_checkpoint=last)
    model = trainer.model
    final = eval_fn(model)
    metrics = {
        "config": asdict(cfg),
        "steps": cfg.max_steps,
        "cpu_s": round(time.process_time() - t0, 1),
        "wall_s": round(time.time() - wall0, 1),
        "image_blind_floor": {f"stage{i}": round(f, 4) for i, (_, f) in enumerate(stage_floors)},
        "eval": final,
        "parameters": models.count_parameters(model),
        "aux_warm_start": aux,
    }
    model = model.to(getattr(torch, cfg.save_dtype))
    models.save(
        model, processor, out, extra={"pretrain": {"seed": cfg.seed, "steps": cfg.max_steps}}
    )
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    if not cfg.keep_trainer_checkpoints:
        shutil.rmtree(out / "trainer", ignore_errors=True)
    return metrics


# ----------------------------------------------------------------------------- stage (b): CoT-SFT

THINK_FROM_ANSWER: dict[str, str] = {"<think>": "<answer>", "</think>": "</answer>"}
"""``SftConfig.init_tokens`` for the tiny base: its reasoning tags start where its answer tags
stand (it has written ``<answer>[`` thousands of times, ``<think>`` never)."""

SFT_TARGETS: tuple[str, ...] = ("cot", "answer")
"""SFT targets: ``"cot"`` — reasoning then box (``<think>…</think><answer>[…]</answer>``, the
paper's stage 1); ``"answer"`` — the box alone (``<answer>[…]</answer>``, the plain-SFT
control that sees the same scenes for the same steps)."""


@dataclass
class SftConfig:
    """Every knob of stage (b), supervised fine-tuning on grounding conversations.

    ``model``: a checkpoint folder or hub id (:func:`rsground_lib.models.load_model`);
    ``targets``: one of :data:`SFT_TARGETS`; ``trace_style``: ``"prose"`` or ``"compact"``
    (:func:`rsground_lib.data.cot.template_trace`); ``coord_step``: boxes of the compact
    traces and of the box-only answers on a grid of that many model pixels (the tiny base's
    4; prose traces keep integers); ``prompt_style``: one of :data:`PROMPT_STYLES`
    (the tiny base was pretrained with ``"compact"``; Qwen2.5-VL gets ``"full"``, the
    project's system prompt). ``lora``: :class:`rsground_lib.models.LoraSettings` fields
    (``{}`` = its defaults, r 64, α 128), or ``None`` for full fine-tuning (the tiny model:
    LoRA on a small random-init base barely learns). ``freeze_vision``: the vision tower and
    the connector are not trained (:func:`freeze_vision`), so the image features a base
    learned survive the first steps' large gradients on new text. ``init_tokens``: ``{new:
    existing}`` embedding rows copied before training (:func:`rsground_lib.models.
    init_tokens_from`; the tiny base gets ``{"<think>": "<answer>", "</think>":
    "</answer>"}``). ``learning_rate`` peaks after
    ``warmup_steps`` and decays by cosine to ``min_lr_ratio`` of it over ``steps`` optimizer
    steps of ``batch_size`` × ``gradient_accumulation_steps`` examples. ``bf16``: ``None``
    = on CUDA only (1.75× slower on CPU). ``save_steps`` > 0 keeps trainer checkpoints under
    ``<out>/trainer`` for ``resume``. ``num_threads``: torch CPU threads (``None``: torch's
    default). ``progress``: tqdm bars. Unknown keys are a ValueError. Book chapter: "CoT-SFT".
    """

    model: str = "checkpoints/tiny-base"
    out: str = "runs/smoke/03_cot_sft/cot_sft"
    targets: str = "cot"
    trace_style: str = "prose"
    coord_step: int = 1
    prompt_style: str = "compact"
    steps: int = 300
    batch_size: int = 16
    gradient_accumulation_steps: int = 1
    learning_rate: float = 5e-4
    warmup_steps: int = 30
    min_lr_ratio: float = 0.1
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    lora: dict | None = None
    freeze_vision: bool = False
    init_tokens: dict | None = None
    bf16: bool | None = None
    gradient_checkpointing: bool = False
    logging_steps: int = 10
    save_steps: int = 0
    seed: int = 0
    num_threads: int | None = None
    progress: bool = False

    @classmethod
    def from_dict(cls, values: dict) -> SftConfig:
        cfg = strict.build(cls, values)
        cfg.validate()
        return cfg

    def validate(self) -> None:
        if self.targets not in SFT_TARGETS:
            raise ValueError(
                f"SftConfig.targets: expected one of {SFT_TARGETS}; got {self.targets!r}"
            )
        if self.trace_style not in ("prose", "compact"):
            raise ValueError(
                f"SftConfig.trace_style: expected 'prose' or 'compact'; got {self.trace_style!r}"
            )
        if self.prompt_style not in PROMPT_STYLES:
            raise ValueError(
                f"SftConfig.prompt_style: expected one of {PROMPT_STYLES}; got {self.prompt_style!r}"
            )
        for name in ("steps", "batch_size", "gradient_accumulation_steps", "logging_steps",
                     "coord_step"):  # fmt: skip
            if int(getattr(self, name)) <= 0:
                raise ValueError(f"SftConfig.{name}: expected > 0; got {getattr(self, name)!r}")
        if not self.learning_rate > 0:
            raise ValueError(f"SftConfig.learning_rate: expected > 0; got {self.learning_rate!r}")
        if self.init_tokens is not None and not isinstance(self.init_tokens, dict):
            raise ValueError(
                f"SftConfig.init_tokens: expected a dict {{new: existing}}; got {self.init_tokens!r}"
            )
        if self.lora is not None and not isinstance(self.lora, dict):
            raise ValueError(
                f"SftConfig.lora: expected a dict of LoraSettings fields or None; got {self.lora!r}"
            )


VISION_PARTS: tuple[str, ...] = ("vision_model", "visual", "connector", "multi_modal_projector")
"""Name fragments of the vision tower and connector parameters (Idefics3, Qwen2.5-VL, LLaVA)."""


def freeze_vision(model) -> int:
    """Stop gradients into the vision tower and the connector (parameters whose name holds one
    of :data:`VISION_PARTS`); returns how many parameters were frozen (a ValueError if none:
    the model's parts are named otherwise). Book chapter: "CoT-SFT"."""
    frozen = 0
    for name, param in model.named_parameters():
        if any(part in name.split(".") for part in VISION_PARTS):
            param.requires_grad_(False)
            frozen += param.numel()
    if frozen == 0:
        raise ValueError(
            f"freeze_vision: no parameter of {type(model).__name__} is named after {VISION_PARTS}"
        )
    return frozen


def sft_answer(
    record: dict,
    processor,
    targets: str = "cot",
    *,
    seed: int | None = None,
    trace_style: str = "prose",
    coord_step: int = 1,
) -> str:
    """The assistant turn for one record in the processor's model pixels: the record's
    teacher trace (``cot``) or :func:`rsground_lib.data.cot.template_trace` for
    ``targets="cot"``, ``<answer>[x1, y1, x2, y2]</answer>`` for ``"answer"``. Needs the
    synthetic columns (``objects``, ``resolver_steps``) for template traces. Book chapter:
    "CoT-SFT"."""
    import functools

    from . import boxes, models, prompts
    from .data import cot

    size_fn = functools.partial(models.model_image_size, processor)
    if targets == "cot":
        return record.get("cot") or cot.template_trace(
            record, seed=seed, model_size_fn=size_fn, style=trace_style, coord_step=coord_step
        )
    if targets == "answer":
        size = size_fn(int(record["width"]), int(record["height"]))
        box = boxes.to_model_pixels(record["bbox"], (record["width"], record["height"]), size)
        box = [float(v) for v in box]
        if coord_step > 1:
            box = boxes.quantize_box(box, coord_step, size)
        return f"<answer>{prompts.format_box(box)}</answer>"
    raise ValueError(f"targets: expected one of {SFT_TARGETS}; got {targets!r}")


def sft_examples(
    records: Iterable[dict],
    processor,
    *,
    targets: str = "cot",
    prompt_style: str = "compact",
    trace_style: str = "prose",
    coord_step: int = 1,
    seed: int = 0,
) -> list[dict]:
    """TRL prompt-completion vision examples (``images``, ``prompt``, ``completion``) for
    ``records``; template wording of row ``i`` seeded by ``(seed, i)``. The loss is on the
    completion (the assistant turn) only. Book chapter: "CoT-SFT"."""
    out = []
    for i, rec in enumerate(records):
        try:
            answer = sft_answer(
                rec,
                processor,
                targets,
                seed=seed * 1_000_003 + i,
                trace_style=trace_style,
                coord_step=coord_step,
            )
            ex = grounding_example(rec, processor, answer=answer, prompt_style=prompt_style)
        except KeyError as exc:
            raise ValueError(f"record {i} (id {rec.get('id')!r}): missing column {exc}") from exc
        except ValueError as exc:
            raise ValueError(f"record {i} (id {rec.get('id')!r}): {exc}") from exc
        ex.pop("bbox_model")
        out.append(ex)
    return out


SCENE_SOURCES: tuple[str, ...] = ("base", "synthetic")
"""Where :func:`sft_data` draws scenes: the tiny base's 64-px scenes
(:mod:`rsground_lib.data.base_scenes`) or the rich synthetic scenes
(:mod:`rsground_lib.data.synthetic`)."""


def sft_data(
    scenes: str, *, num_train: int, num_val: int, seed: int = 0, image_size: int = 64
) -> tuple[list[dict], dict[str, list[dict]]]:
    """``(train_records, {split: val_records})`` for the CoT-SFT stage, disjoint by seed.

    Two validation splits separate the two skills: ``class_only`` (the class names the
    target) and ``with_position`` (a positional cue is needed too). ``scenes="base"``:
    training scenes mix one instance per class (the expression is the class) and 2–3
    instances of the target class named by an extreme cue, 1–3 objects; ``class_only`` has
    one instance per class, ``with_position`` 2–3 of the target's class.
    ``scenes="synthetic"``: :func:`rsground_lib.data.synthetic.make_dataset` scenes (train /
    val seeds ``seed`` / ``seed + 1``); the val scenes are split by their cue tags (absolute,
    relative, ordinal or extreme → ``with_position``). Book chapter: "CoT-SFT"."""
    if scenes == "base":
        from .data import base_scenes

        train = base_scenes.make_records(
            num_train, seed=seed * 7919 + 1, image_size=image_size, max_objects=3, mode="mixed"
        )
        val = {
            "class_only": base_scenes.make_records(
                num_val, seed=seed * 7919 + 2, image_size=image_size, max_objects=3, mode="single"
            ),
            "with_position": base_scenes.make_records(
                num_val, seed=seed * 7919 + 3, image_size=image_size, max_objects=3, mode="multi"
            ),
        }
        return train, val
    if scenes == "synthetic":
        from .data import cues, synthetic

        def rows(n, s, split):
            ds = synthetic.make_dataset(n, seed=s, image_size=image_size, split=split)
            return [ds[i] for i in range(len(ds))]

        val = rows(num_val, seed + 1, "val")
        positional = [bool(set(r["cues"]) & set(cues.POSITIONAL_TAGS)) for r in val]
        return rows(num_train, seed, "train"), {
            "class_only": [r for r, p in zip(val, positional, strict=True) if not p],
            "with_position": [r for r, p in zip(val, positional, strict=True) if p],
        }
    raise ValueError(f"scenes: expected one of {SCENE_SOURCES}; got {scenes!r}")


def _resume_point(out: Path, log_path: Path) -> str:
    """The last trainer checkpoint under ``<out>/trainer`` (a ValueError when there is none:
    resuming would silently restart), after dropping the log rows written past it."""
    ckpts = sorted((out / "trainer").glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
    if not ckpts:
        raise ValueError(
            f"resume: no checkpoint under {out / 'trainer'} (set save_steps > 0 to keep them)"
        )
    step = int(ckpts[-1].name.split("-")[1])
    if log_path.exists():
        kept = [r for r in read_log(log_path) if int(r.get("step", 0)) <= step]
        log_path.write_text("".join(json.dumps(r) + "\n" for r in kept))
    return str(ckpts[-1])


def _sft_callback(log_path: Path, t0: float, wall0: float):
    from transformers import TrainerCallback

    class JsonLog(TrainerCallback):
        """Appends every log (with CPU and wall seconds) to ``log.jsonl``."""

        def on_log(self, args, state, control, logs=None, **kw):
            if logs is None:
                return
            rec = {"step": state.global_step, **logs}
            rec["cpu_s"] = round(time.process_time() - t0, 1)
            rec["wall_s"] = round(time.time() - wall0, 1)
            with log_path.open("a") as fh:
                fh.write(json.dumps(rec) + "\n")

    return JsonLog()


def train_sft(
    config: SftConfig | dict,
    train_records: Sequence[dict],
    *,
    resume: bool = False,
    model=None,
    processor=None,
) -> dict:
    """Stage (b): fine-tune ``config.model`` on ``train_records`` (synthetic records with the
    columns :func:`rsground_lib.data.cot.template_trace` needs) with TRL's ``SFTTrainer``,
    loss on the assistant turn only; LoRA (PEFT, merged into the saved weights) or full.
    Writes the model to ``config.out`` with ``log.jsonl`` (every log line) and
    ``train.json`` (config, steps, CPU and wall seconds, tokens seen); ``resume=True``
    continues from the last checkpoint under ``<out>/trainer``. ``model``/``processor``
    skip loading (e.g. a model built in memory). Returns ``train.json``'s content.
    The paper's stage 1 (CoT-SFT); the hyper-parameters of the full profile are ours.
    Book chapter: "CoT-SFT"."""
    import torch
    from datasets import Dataset

    from . import models

    cfg = config if isinstance(config, SftConfig) else SftConfig.from_dict(dict(config))
    cfg.validate()
    if not train_records:
        raise ValueError("train_sft: train_records is empty")
    if cfg.num_threads:
        torch.set_num_threads(int(cfg.num_threads))
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    log_path = out / "log.jsonl"
    if not resume and log_path.exists():
        log_path.unlink()
    t0, wall0 = time.process_time(), time.time()
    if model is None or processor is None:
        # Full fine-tuning keeps float32 master weights (bf16 then acts through autocast):
        # AdamW steps of lr 1e-5 on bf16 weights would mostly round away. LoRA keeps its
        # adapters in float32 itself, so the frozen base may stay in bf16.
        dtype = "float32" if cfg.lora is None else None
        model, processor = models.load_model(cfg.model, dtype=dtype)
    examples = sft_examples(
        train_records,
        processor,
        targets=cfg.targets,
        prompt_style=cfg.prompt_style,
        trace_style=cfg.trace_style,
        coord_step=cfg.coord_step,
        seed=cfg.seed,
    )
    dataset = Dataset.from_list(examples)
    frozen = freeze_vision(model) if cfg.freeze_vision else 0
    if cfg.init_tokens:
        models.init_tokens_from(model, processor.tokenizer, cfg.init_tokens)
    peft_config = None
    if cfg.lora is not None:
        peft_config = models.LoraSettings.from_dict(dict(cfg.lora)).to_peft()
    cuda = torch.cuda.is_available()
    args = sft_config(
        output_dir=str(out / "trainer"),
        max_steps=cfg.steps,
        per_device_train_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.gradient_accumulation_steps,
        learning_rate=cfg.learning_rate,
        lr_scheduler_type="cosine_with_min_lr",
        lr_scheduler_kwargs={"min_lr_rate": cfg.min_lr_ratio},
        warmup_steps=cfg.warmup_steps,
        weight_decay=cfg.weight_decay,
        max_grad_norm=cfg.max_grad_norm,
        logging_steps=cfg.logging_steps,
        save_strategy="steps" if cfg.save_steps else "no",
        save_steps=cfg.save_steps or 500,
        save_total_limit=1,
        seed=cfg.seed,
        data_seed=cfg.seed,
        bf16=cuda if cfg.bf16 is None else bool(cfg.bf16),
        activation_checkpointing=bool(cfg.gradient_checkpointing),
        disable_tqdm=not cfg.progress,
    )
    trainer = build_sft_trainer(
        model,
        processor,
        dataset,
        args=args,
        callbacks=[_sft_callback(log_path, t0, wall0)],
        peft_config=peft_config,
    )
    last = _resume_point(out, log_path) if resume else None
    result = trainer.train(resume_from_checkpoint=last)
    trained = trainer.model
    if peft_config is not None:
        trained = trained.merge_and_unload()
    trained.eval()
    models.save(
        trained, processor, out, extra={"sft": {"targets": cfg.targets, "steps": cfg.steps}}
    )
    summary = {
        "config": asdict(cfg),
        "steps": int(result.global_step),
        "train_loss": float(result.training_loss),
        "cpu_s": round(time.process_time() - t0, 1),
        "wall_s": round(time.time() - wall0, 1),
        "num_tokens": int(
            max((r.get("num_tokens", 0) for r in trainer.state.log_history), default=0)
        ),
        "n_train_records": len(train_records),
        "frozen_parameters": frozen,
    }
    (out / "train.json").write_text(json.dumps(summary, indent=2) + "\n")
    if not cfg.save_steps:
        shutil.rmtree(out / "trainer", ignore_errors=True)
    return summary


def read_log(path: str | os.PathLike, step_offset: int = 0) -> list[dict]:
    """The records of a ``log.jsonl`` written by :func:`train_sft` or :func:`pretrain_base`,
    ``step_offset`` added to every ``step`` (to draw a continued run after the first); a
    malformed line is a ValueError naming the file and line. Book chapter: "CoT-SFT"."""
    rows = []
    p = Path(path)
    for i, line in enumerate(p.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{p}:{i}: expected one JSON object per line ({exc})") from exc
        if not isinstance(row, dict):
            raise ValueError(f"{p}:{i}: expected a JSON object, got {type(row).__name__}")
        if "step" in row:
            row["step"] = int(row["step"]) + int(step_offset)
        rows.append(row)
    return rows


def score_grounding(
    records: Sequence[dict], preds: Sequence[Sequence[float] | None], *, preset: str = "dior_rsvg"
) -> dict:
    """Score predicted boxes (ORIGINAL pixels, ``None`` = unparsable) against ``records``:
    :func:`rsground_lib.metrics.grounding_metrics` with ``preset`` (``pr@0.5`` … ``pr@0.9``,
    ``mean_iou``, ``cum_iou``, ``parse_rate``, ``n``), plus ``quadrant_acc`` (predicted
    centre in the target's quadrant; unparsed counts as wrong) and ``pick_acc`` (the
    predicted box overlaps the target more than any other object of the scene; needs
    ``objects``, else NaN), with the chance levels beside them: ``chance_quadrant`` 0.25,
    ``chance_pick`` (a random pick among the objects of the target's class) and
    ``chance_pick_any`` (a random pick among all objects). Book chapter: "CoT-SFT"."""
    import numpy as np

    from . import boxes, metrics

    if len(preds) != len(records):
        raise ValueError(f"score_grounding: {len(preds)} predictions for {len(records)} records")
    targets, quad, pick, any_pick = [], [], [], []
    for i, (rec, box) in enumerate(zip(records, preds, strict=True)):
        wh = (int(rec["width"]), int(rec["height"]))
        target = [float(v) for v in rec["bbox"]]
        targets.append(target)
        quad.append(float(box is not None and quadrant(box, wh) == quadrant(target, wh)))
        objs = [o["bbox"] for o in rec.get("objects") or []]
        if not objs:
            continue
        any_pick.append(1.0 / len(objs))
        if box is None:
            pick.append(0.0)
            continue
        ious = np.atleast_1d(boxes.iou(np.asarray(box, float), np.asarray(objs, dtype=float)))
        best = int(np.argmax(ious))
        ti = rec.get("target_index")
        if ti is None:
            matches = [k for k, o in enumerate(objs) if np.allclose(o, target)]
            if not matches:
                raise ValueError(f"record {i}: its bbox is none of its objects' boxes")
            ti = matches[0]
        pick.append(float(best == int(ti) and ious[best] > 0))
    result = metrics.grounding_metrics(list(preds), np.asarray(targets), preset=preset)
    chance = [_chance_pick(r) for r in records]
    result.update(
        quadrant_acc=float(np.mean(quad)) if quad else float("nan"),
        chance_quadrant=0.25,
        pick_acc=float(np.mean(pick)) if pick else float("nan"),
        chance_pick=float(np.nanmean(chance))
        if not all(math.isnan(c) for c in chance)
        else float("nan"),
        chance_pick_any=float(np.mean(any_pick)) if any_pick else float("nan"),
    )
    return result


def evaluate_model(
    model,
    processor,
    records: Sequence[dict],
    *,
    prompt_style: str = "compact",
    max_new_tokens: int = 256,
    batch_size: int = 32,
    preset: str = "dior_rsvg",
) -> tuple[dict, list[dict]]:
    """Greedy grounding on ``records``, answers mapped back to original pixels and scored by
    :func:`score_grounding`, plus ``answer_follows_reasoning``: among answers whose text has
    a reasoning block with a box (:func:`rsground_lib.prompts.reasoning_boxes`), the share
    whose answer is the last box of the reasoning (NaN when no answer has one — e.g. box-only
    models). Returns ``(metrics, rows)``, one row per record: ``text``, ``box`` (original
    pixels or None), ``target``, ``iou``. Book chapter: "CoT-SFT"."""
    import numpy as np

    from . import boxes, models, prompts

    texts, parsed = predict_boxes(
        model,
        processor,
        records,
        batch_size=batch_size,
        max_new_tokens=max_new_tokens,
        prompt_style=prompt_style,
    )
    preds, rows, follows = [], [], []
    for rec, text, box_m in zip(records, texts, parsed, strict=True):
        reasoning = prompts.reasoning_boxes(text)
        if reasoning and box_m is not None:
            follows.append(float(np.allclose(reasoning[-1], box_m)))
        wh = (int(rec["width"]), int(rec["height"]))
        box = None
        if box_m is not None:
            size = models.model_image_size(processor, *wh)
            box = [float(v) for v in np.asarray(boxes.to_original_pixels(box_m, wh, size)).ravel()]
        preds.append(box)
        target = [float(v) for v in rec["bbox"]]
        rows.append(
            {
                "text": text,
                "box": box,
                "target": target,
                "iou": float(boxes.iou(box, target)) if box is not None else 0.0,
            }
        )
    result = score_grounding(records, preds, preset=preset)
    result["answer_follows_reasoning"] = float(np.mean(follows)) if follows else float("nan")
    return result, rows


def _stream_gen(cfg, factory, processor):
    yield from _stream(cfg, factory, processor)


def _answer_box(example: dict) -> list[int]:
    from . import prompts

    text = example["completion"][0]["content"][0]["text"]
    box = prompts.parse_answer(text)
    return [int(v) for v in box]


# ----------------------------------------------------------------------------- CLI


def load_factory(spec: str, image_size_px: int = 64) -> Callable[..., Iterable[dict]]:
    """A dataset factory from ``"path/to/file.py:function"`` or ``"package.module:function"``;
    the function is called as ``function(n, seed=..., image_size=image_size_px, **stage_data)``."""
    import importlib
    import importlib.util

    path, sep, name = spec.rpartition(":")
    if not sep or not path or not name:
        raise ValueError(
            f"--data-factory: expected FILE.py:FUNCTION or MODULE:FUNCTION; got {spec!r}"
        )
    if path.endswith(".py"):
        file = Path(path)
        if not file.is_file():
            raise ValueError(f"--data-factory: {file} is not a file")
        mod_spec = importlib.util.spec_from_file_location(f"_rsground_factory_{file.stem}", file)
        module = importlib.util.module_from_spec(mod_spec)
        mod_spec.loader.exec_module(module)
    else:
        try:
            module = importlib.import_module(path)
        except ImportError as exc:
            raise ValueError(f"--data-factory: cannot import module {path!r} ({exc})") from exc
    fn = getattr(module, name, None)
    if not callable(fn):
        raise ValueError(f"--data-factory: {path} has no function {name!r}")

    def factory(n: int, *, seed: int, **data) -> Iterable[dict]:
        return fn(n, seed=seed, image_size=image_size_px, **data)

    return factory


BASE_EVAL_SPLITS: dict[str, tuple[int, dict]] = {
    "one_object": (454_545, {"max_objects": 1, "mode": "single"}),
    "class_only": (424_242, {"max_objects": 3, "mode": "single"}),
    "with_position": (434_343, {"max_objects": 3, "mode": "multi"}),
}
"""The tiny base's benchmark splits: (seed, base-scene keywords). ``class_only``: 1–3 objects,
one per class, the expression is the class; ``with_position``: 2–3 of the target's class
named by an extreme cue."""


def evaluate_base(model, processor, n: int = 512, prompt_style: str = "compact") -> dict:
    """The tiny base's benchmark: :func:`evaluate_model` on ``n`` fresh base scenes of each of
    :data:`BASE_EVAL_SPLITS` (fixed seeds, disjoint from training), with the chance levels.
    ``python -m rsground_lib.training eval-base``. Book chapter: "CoT-SFT"."""
    from .data import base_scenes

    out = {}
    for split, (seed, data) in BASE_EVAL_SPLITS.items():
        recs = base_scenes.make_records(n, seed=seed, **data)
        out[split], _ = evaluate_model(
            model, processor, recs, prompt_style=prompt_style, max_new_tokens=24
        )
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m rsground_lib.training pretrain-base --seed 0 --out checkpoints/tiny-base``
    (``--config file.json`` for any other :class:`BasePretrainConfig` field; ``--resume``);
    ``python -m rsground_lib.training eval-base [--checkpoint DIR] [--n 512]``."""
    parser = argparse.ArgumentParser(prog="python -m rsground_lib.training")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("pretrain-base", help="pretrain the tiny base grounding checkpoint")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="checkpoints/tiny-base")
    p.add_argument("--config", help="JSON file with BasePretrainConfig fields")
    p.add_argument("--resume", action="store_true")
    p.add_argument(
        "--data-factory",
        help="FILE.py:FUNCTION or MODULE:FUNCTION returning records for (n, *, seed, "
        "**stage_data); default: rsground_lib.data.base_scenes:make_records",
    )
    e = sub.add_parser("eval-base", help="the tiny base's benchmark on fresh base scenes")
    e.add_argument("--checkpoint", default="checkpoints/tiny-base")
    e.add_argument("--n", type=int, default=512)
    ns = parser.parse_args(argv)
    if ns.command == "eval-base":
        from . import models

        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        model, processor = models.load_model(ns.checkpoint)
        print(json.dumps(evaluate_base(model, processor, n=ns.n), indent=2))
        return 0
    values: dict[str, Any] = {}
    if ns.config:
        path = Path(ns.config)
        try:
            values = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise SystemExit(
                f"{path}: cannot read a JSON object of BasePretrainConfig fields: {exc}"
            ) from exc
    values.update(seed=ns.seed, out=ns.out)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if ns.data_factory:
        values["data_factory"] = ns.data_factory
    metrics = pretrain_base(values, resume=ns.resume)
    print(
        json.dumps(
            {k: metrics[k] for k in ("steps", "cpu_s", "image_blind_floor", "eval")}, indent=2
        )
    )
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
