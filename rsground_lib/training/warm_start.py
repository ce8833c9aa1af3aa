"""Auxiliary warm starts of the tiny base: throw-away heads that regress boxes from the
image tokens (or the text model's last hidden state), so that the grounding SFT that follows
starts with a usable image signal instead of sitting at the image-blind floor.

Our design for the CPU miniature (the paper starts from a pretrained Qwen2.5-VL); the
measurements behind it are in ``checkpoints/tiny-base/README.md``.

Book chapter: "CoT-SFT" (``book/03_cot_sft.py``, the tiny base checkpoint).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from rsground_lib import boxes, conversation, models
from rsground_lib.data import base_scenes, text_skills


def _image_batch(processor, images) -> dict:
    out = processor.image_processor(images=[[im] for im in images], return_tensors="pt")
    return {k: out[k] for k in ("pixel_values", "pixel_attention_mask") if k in out}


def _pooled_image_tokens(model, pixel_values, pixel_attention_mask=None):
    """Mean over the image tokens (connector outputs) of each image: ``(batch, text_hidden)``."""
    feats = model.model.get_image_features(pixel_values, pixel_attention_mask).pooler_output
    return torch.stack([f.mean(0) for f in feats])


def _box_targets(examples: Sequence[dict], processor) -> torch.Tensor:
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
    return torch.stack(list(feats))


def _per_class_targets(records: Sequence[dict], processor, classes: Sequence[str]) -> torch.Tensor:
    """``(batch, classes, 5)``: per class, presence (0/1) and the normalised box ``(cx, cy,
    w, h)`` of its instance (zeros when absent) from each record's ``objects``."""
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
        att = torch.softmax(
            torch.einsum("bth,ch->bct", self.key(tokens), self.query) * self.scale, dim=-1
        )
        pooled = torch.einsum("bct,bth->bch", att, tokens)
        return torch.einsum("bch,cho->bco", pooled, self.read_w) + self.read_b


def _per_class_loss(pred, y):
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
        exs = [conversation.grounding_example(r, processor, prompt_style="compact") for r in recs]
        if target != "lm":
            x = _image_batch(processor, [e["images"][0] for e in exs])
        else:
            x = dict(conversation.prompt_inputs(processor, exs))
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


def _text_skill_batch(processor, examples: Sequence[dict]):
    """``(input_ids, attention_mask, loss_mask)`` of text skill examples rendered by the chat
    template as TRL renders a prompt-completion pair (the prompt with the generation prompt,
    then the rest of the whole conversation: the answer and its end-of-turn tokens),
    right-padded; ``loss_mask[b, i]`` marks the positions whose *next* token is a completion
    token."""
    tok = processor.tokenizer
    rows, masks = [], []
    for ex in examples:
        chat = text_skills.chat_example(ex)
        prompt = processor.apply_chat_template(
            chat["prompt"], add_generation_prompt=True, tokenize=False
        )
        full = processor.apply_chat_template(chat["prompt"] + chat["completion"], tokenize=False)
        if not full.startswith(prompt):  # pragma: no cover - a template that rewrites the prompt
            raise ValueError("text skills: the chat template does not extend the prompt")
        p_ids = tok(prompt, add_special_tokens=False)["input_ids"]
        c_ids = tok(full[len(prompt) :], add_special_tokens=False)["input_ids"]
        rows.append(p_ids + c_ids)
        masks.append([0] * (len(p_ids) - 1) + [1] * len(c_ids) + [0])
    width = max(len(r) for r in rows)
    pad = tok.pad_token_id
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    att = torch.zeros((len(rows), width), dtype=torch.long)
    loss_mask = torch.zeros((len(rows), width), dtype=torch.bool)
    for b, (r, m) in enumerate(zip(rows, masks, strict=True)):
        ids[b, : len(r)] = torch.tensor(r)
        att[b, : len(r)] = 1
        loss_mask[b, : len(m)] = torch.tensor(m, dtype=torch.bool)
    return ids, att, loss_mask


def text_skills_warm_start(
    model,
    processor,
    *,
    steps: int,
    batch_size: int = 32,
    learning_rate: float = 1e-3,
    min_lr_ratio: float = 0.1,
    seed: int = 0,
    data: dict | None = None,
    eval_fn: Callable[[], dict] | None = None,
    eval_steps: int = 0,
    log: Callable[[dict], None] | None = None,
) -> dict:
    """Teach the text model the text skills of an executable trace
    (:mod:`rsground_lib.data.text_skills`: copy a word, copy a labelled box, the label and
    value of an extreme, the extreme box for a cue word) on text-only sequences in the model's
    tokenizer and chat template, before it sees a trace (issue 22).

    A plain loop (no images, so no vision tower, and the output layer applied to the answer
    positions only: about twice as fast as the trainer's loss over every position): AdamW on
    the text model and output layer, ``learning_rate`` after a linear warm-up over the first
    tenth of ``steps``, cosine to ``min_lr_ratio`` of it, gradient norm clipped at 1, fresh
    examples every step (``text_skills.make_examples(batch_size, seed=seed * 1,000,003 +
    step, **data)``). Every ``eval_steps`` steps (and at the end) ``eval_fn()`` (e.g. the
    held-out skills) is logged with the step's loss through ``log``. Returns ``{"steps",
    "loss_last", "eval"}`` (the last evaluation). Our design for the CPU miniature."""
    import math

    data = dict(data or {})
    text = models._text_model(model)
    head = model.get_output_embeddings()
    params = [p for p in (*text.parameters(), *head.parameters()) if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=learning_rate, weight_decay=0.0)
    warm = max(1, steps // 10)
    model.train()
    loss_last, ev = float("nan"), {}
    for step in range(1, steps + 1):
        if step <= warm:
            lr = learning_rate * step / warm
        else:
            t = (step - warm) / max(1, steps - warm)
            lr = learning_rate * (
                min_lr_ratio + (1 - min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * t))
            )
        for g in opt.param_groups:
            g["lr"] = lr
        ex = text_skills.make_examples(batch_size, seed=seed * 1_000_003 + step, **data)
        ids, att, mask = _text_skill_batch(processor, ex)
        hidden = text(input_ids=ids, attention_mask=att).last_hidden_state
        logits = head(hidden[mask])
        loss = torch.nn.functional.cross_entropy(logits, ids[:, 1:][mask[:, :-1]])
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        loss_last = float(loss.detach())
        last = step == steps
        if log is not None and (step % 100 == 0 or last):
            rec = {"text_step": step, "text_loss": round(loss_last, 5), "text_lr": lr}
            if eval_fn is not None and ((eval_steps and step % eval_steps == 0) or last):
                ev = eval_fn()
                model.train()
                rec["text_eval"] = ev
            log(rec)
    model.eval()
    return {"steps": steps, "loss_last": loss_last, "eval": ev}
