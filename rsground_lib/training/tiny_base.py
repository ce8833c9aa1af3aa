"""The tiny base checkpoint (stage (a), the CPU miniature only): base-grounding pretraining
of the offline tiny vision-language model, the image-blind floor, and the tiny base's
benchmark.

The tiny model plays the role that a pretrained Qwen2.5-VL plays on a GPU, so it first has to
*localise*: it is trained on synthetic grounding scenes to answer ``<answer>[x1, y1, x2,
y2]</answer>`` without reasoning, with a curriculum from one object to many, after the warm
starts of :mod:`rsground_lib.training.warm_start`. Every log line carries the *image-blind
floor* beside the training loss — the per-token loss of a model that knows only the marginal
statistics of the answers (:func:`image_blind_floor`) — so a run shows whether the model uses
the image at all. ``rsground tiny-base pretrain`` (``make tiny-base``) and ``rsground
tiny-base eval``. Our design; the recipe and its measurements are in
``checkpoints/tiny-base/README.md``.

About 760 lines, over the project's ~600: one stage with its own curriculum (stages, warm
starts, text skills, periodic evaluation, image-blind floors) that only the CPU miniature
runs; its benchmark is in :mod:`rsground_lib.evaluation` and its command line in
:mod:`rsground_lib.cli`.

Book chapter: "CoT-SFT" (``book/03_cot_sft.py``, the tiny base checkpoint).
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import math
import os
import shutil
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from datasets import IterableDataset
from transformers import TrainerCallback
from trl.data_utils import apply_chat_template, prepare_multimodal_messages

from rsground_lib import conversation, evaluation, generation, models, prompts
from rsground_lib.config import help_field, parse_config
from rsground_lib.data import synthetic, text_skills
from rsground_lib.training import common, warm_start

BASE_COORD_STEP = 4
"""Base-pretraining targets are quantised to multiples of this many model pixels."""


DERIVED_TRAINER_FIELDS: tuple[str, ...] = (
    "output_dir",
    "max_steps",
    "per_device_train_batch_size",
    "lr_scheduler_type",
    "lr_scheduler_kwargs",
    "data_seed",
    "save_strategy",
    "accelerator_config",
)
"""TRL fields of :class:`BasePretrainConfig` that follow from its own (``out``, ``stages``,
``batch_size``, ``min_lr_ratio``, ``seed``, ``save_steps``); a recipe that sets one is a
ValueError naming the field to set instead."""


@dataclass
class BasePretrainConfig(common.SftArgs):
    """Every knob of the base-grounding pretraining; the defaults are the first run of the
    committed recipe (``configs/tiny_base/part2.json`` holds the second). Built from a mapping
    or a JSON/YAML recipe by :meth:`from_dict` (``transformers.HfArgumentParser``; unknown
    keys are a ValueError); each field's meaning is its ``help``.

    It *is* the TRL ``SFTConfig`` its trainer takes, on the same project defaults as the other
    stages (:class:`rsground_lib.training.common.SftArgs`); the TRL fields of
    :data:`DERIVED_TRAINER_FIELDS` follow from the recipe's own, and :meth:`recipe` gives the
    recipe's fields alone (what ``metrics.json`` records)."""

    seed: int = help_field("seed of the model (when built), the scenes and the trainer", default=0)
    out: str = help_field(
        "output folder: weights, metrics.json, log.jsonl", default="checkpoints/tiny-base"
    )
    family: str = help_field("tiny model family: 'idefics3' or 'qwen2_5_vl'", default="idefics3")
    model: dict = help_field(
        "overrides of rsground_lib.models.TinyModelSpec fields",
        default_factory=lambda: {"coord_init_scale": 1.0},
    )
    image_size_px: int = help_field("side of the square scenes and model input, pixels", default=64)
    data_factory: str | None = help_field(
        "dataset factory 'FILE.py:FUNCTION' or 'package.module:FUNCTION', called "
        "FUNCTION(n, seed=..., image_size=image_size_px, **stage_data); None: "
        "rsground_lib.data.synthetic.make_dataset",
        default="rsground_lib.data.base_scenes:make_records",
    )
    stages: list[dict] = help_field(
        "the curriculum: [{'steps': int, 'data': {...}}]; each stage draws fresh scenes from "
        "the factory with 'data' as keywords (base scenes: max_objects, mode "
        "'single'|'multi'|'mixed'); 'text_skills': k puts k text skill examples "
        "(rsground_lib.data.text_skills) first in each batch of batch_size",
        default_factory=lambda: [
            {"steps": 2500, "data": {"max_objects": 1}},
            {"steps": 4500, "data": {"max_objects": 3}},
            {"steps": 5000, "data": {"max_objects": 3, "mode": "mixed"}},
        ],
    )
    batch_size: int = help_field("scenes per step", default=16)
    learning_rate: float = help_field("peak learning rate (after warmup_steps)", default=3e-3)
    warmup_steps: int = help_field("linear warm-up steps", default=300)
    min_lr_ratio: float = help_field(
        "cosine decay over all stages to this share of the peak", default=0.05
    )
    weight_decay: float = help_field("AdamW weight decay", default=0.0)
    max_grad_norm: float = help_field("gradient clipping norm", default=1.0)
    coord_step: int = help_field(
        "answer boxes on a grid of this many model pixels", default=BASE_COORD_STEP
    )
    chunk_size: int = help_field("scenes generated at a time", default=2048)
    logging_steps: int = help_field("steps between log lines", default=50)
    save_steps: int = help_field(
        "steps between trainer checkpoints under <out>/trainer", default=500
    )
    eval_steps: int = help_field(
        "every so many steps, greedy answers on n_eval held-out scenes per stage (seed + "
        "10,000) are scored and logged; 0: never",
        default=500,
    )
    n_eval: int = help_field("held-out scenes per stage", default=128)
    num_threads: int = help_field("torch CPU threads", default=1)
    prompt_style: str = help_field(
        "'compact' (image + expression, ~4x fewer tokens) or 'full' (the project's system "
        "prompt); rsground_lib.prompts.PROMPT_STYLES",
        default="compact",
    )
    aux_warmup_steps: int = help_field(
        "steps of the aux_target warm start (rsground_lib.training.warm_start) before the SFT; 0: none",
        default=600,
    )
    aux_learning_rate: float = help_field("learning rate of every warm start", default=3e-3)
    aux_target: str = help_field(
        "'vision' (one box from the mean image token) or 'vision_per_class' "
        "(class-conditional presence and box)",
        default="vision",
    )
    aux_data: dict | None = help_field(
        "scene keywords of the aux_target warm start; None: the first stage's data", default=None
    )
    aux_per_class_steps: int = help_field(
        "steps of a first 'vision_per_class' warm start; 0: none", default=500
    )
    aux_per_class_data: dict = help_field(
        "scene keywords of the per-class warm start",
        default_factory=lambda: {"max_objects": 3, "mode": "single"},
    )
    aux_lm_steps: int = help_field(
        "steps of a last warm start with target 'lm' (the text model's last hidden state); 0: none",
        default=0,
    )
    aux_lm_stage: int = help_field("the stage whose scenes the 'lm' warm start draws", default=1)
    save_dtype: str = help_field(
        "dtype of the saved weights: float32, float16 (half the file) or bfloat16",
        default="float16",
    )
    keep_trainer_checkpoints: bool = help_field(
        "keep <out>/trainer after a successful run (else deleted)", default=False
    )
    init_from: str | None = help_field(
        "a saved checkpoint folder to continue from instead of building the model from seed "
        "(the warm starts are then skipped)",
        default=None,
    )
    grow_text_layers: int = help_field(
        "deepen the text model to this many layers before training, the new layers starting "
        "as the identity (rsground_lib.models.grow_text_layers); 0: keep its depth",
        default=0,
    )
    text_skills_steps: int = help_field(
        "steps of the text skills warm start (rsground_lib.training.warm_start."
        "text_skills_warm_start: text-only sequences, after the growth, before the stages; "
        "also with init_from); 0: none",
        default=0,
    )
    text_skills_learning_rate: float = help_field(
        "peak learning rate of the text skills warm start", default=1e-3
    )
    text_skills_batch_size: int = help_field(
        "sequences per text skills warm start step", default=32
    )
    text_skills_data: dict = help_field(
        "keywords of rsground_lib.data.text_skills.make_examples (skills, weights, size, "
        "step) for the text skills warm start and the stages' text skill examples",
        default_factory=dict,
    )
    n_eval_text: int = help_field(
        "held-out text skill sequences scored (exact match per skill) at every evaluation "
        "when a stage trains text skills",
        default=400,
    )

    def __post_init__(self):
        self._check_stages()
        self.output_dir = str(Path(self.out) / "trainer")
        self.max_steps = sum(int(s["steps"]) for s in self.stages)
        self.per_device_train_batch_size = self.batch_size
        self.lr_scheduler_type = "cosine_with_min_lr"
        self.lr_scheduler_kwargs = {"min_lr_rate": self.min_lr_ratio}
        self.data_seed = self.seed
        self.accelerator_config = {"dispatch_batches": False}
        super().__post_init__()

    @classmethod
    def from_dict(cls, values: dict) -> BasePretrainConfig:
        """The config from a mapping (a recipe file's content); unknown keys are a ValueError,
        and so is a TRL field that follows from the recipe's own
        (:data:`DERIVED_TRAINER_FIELDS`)."""
        derived = sorted(set(values) & set(DERIVED_TRAINER_FIELDS))
        if derived:
            raise ValueError(
                f"BasePretrainConfig: {', '.join(derived)} follow(s) from the recipe's own fields "
                "(out, stages, batch_size, min_lr_ratio, seed, save_steps); set those instead"
            )
        cfg = parse_config(cls, values)
        cfg.validate()
        return cfg

    def recipe(self) -> dict:
        """The recipe's own fields (those this class declares), without the TRL fields it
        derives or leaves at the project's defaults: what ``metrics.json`` records."""
        own = BasePretrainConfig.__annotations__
        return {name: getattr(self, name) for name in own if not name.isupper()}

    def _check_stages(self) -> None:
        if not self.stages:
            raise ValueError("BasePretrainConfig.stages: expected at least one stage")
        for i, st in enumerate(self.stages):
            if (
                not isinstance(st, dict)
                or set(st) - {"steps", "data", "text_skills"}
                or "steps" not in st
            ):
                raise ValueError(
                    f"BasePretrainConfig.stages[{i}]: expected {{'steps': int, 'data': dict, "
                    f"'text_skills': int (optional)}}; got {st!r}"
                )
            if int(st["steps"]) <= 0:
                raise ValueError(f"BasePretrainConfig.stages[{i}].steps: expected > 0")
            k = st.get("text_skills", 0)
            if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k <= self.batch_size:
                raise ValueError(
                    f"BasePretrainConfig.stages[{i}].text_skills: expected an integer in [0, "
                    f"batch_size={self.batch_size}] (text skill examples per batch); got {k!r}"
                )

    def validate(self) -> None:
        self._check_stages()
        if self.text_skills_steps < 0 or self.text_skills_batch_size <= 0:
            raise ValueError(
                "BasePretrainConfig: text_skills_steps must be >= 0 and text_skills_batch_size > 0"
            )
        if self.grow_text_layers < 0:
            raise ValueError(
                f"BasePretrainConfig.grow_text_layers: expected >= 0; got {self.grow_text_layers!r}"
            )
        if not isinstance(self.text_skills_data, dict):
            raise ValueError(
                f"BasePretrainConfig.text_skills_data: expected a dict; got {self.text_skills_data!r}"
            )
        text_skills.make_examples(0, seed=0, **self.text_skills_data)  # its keywords checked
        if self.prompt_style not in prompts.PROMPT_STYLES:
            raise ValueError(
                f"BasePretrainConfig.prompt_style: expected one of {prompts.PROMPT_STYLES}; "
                f"got {self.prompt_style!r}"
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
    def trains_text_skills(self) -> bool:
        """Whether the run trains text skills: a text skills warm start, or a stage that mixes
        text skill examples in."""
        return self.text_skills_steps > 0 or any(
            int(s.get("text_skills", 0)) > 0 for s in self.stages
        )


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
    ex = {
        "prompt": prepare_multimodal_messages(example["prompt"], images=example["images"]),
        "completion": prepare_multimodal_messages(example["completion"]),
    }
    rendered = apply_chat_template(ex, processor)
    return len(processor.tokenizer(rendered["completion"], add_special_tokens=False)["input_ids"])


# ----------------------------------------------------------------------------- base pretraining


def _default_factory(image_size_px: int) -> Callable[..., Iterable[dict]]:
    def factory(n: int, *, seed: int, **data) -> Iterable[dict]:
        return synthetic.make_dataset(n, seed=seed, image_size=image_size_px, **data)

    return factory


class PeriodicEval(TrainerCallback):
    """Every ``eval_steps`` optimizer steps, ``eval_fn(model)`` (held-out scores) appended to
    ``log_path`` as ``{"step", "eval", "cpu_s"}`` and printed as one JSON line."""

    def __init__(self, eval_steps: int, eval_fn: Callable, log_path: Path, t0: float):
        self.eval_steps = eval_steps
        self.eval_fn = eval_fn
        self.log_path = log_path
        self.t0 = t0

    def on_step_end(self, args, state, control, model=None, **kwargs):
        if self.eval_steps and state.global_step % self.eval_steps == 0:
            rec = {
                "step": state.global_step,
                "eval": self.eval_fn(model),
                "cpu_s": round(time.process_time() - self.t0, 1),
            }
            common.append_jsonl(self.log_path, rec)
            print(json.dumps(rec), flush=True)


def text_per_batch(cfg: BasePretrainConfig, stage: dict) -> int:
    """How many of a batch's ``cfg.batch_size`` examples are text skill examples in
    ``stage``: its ``text_skills`` count (0 when absent)."""
    return int(stage.get("text_skills", 0))


def _chunks(make, need: int, chunk_size: int, seed: int):
    """``need`` items of ``make(n, seed)``, drawn ``chunk_size`` at a time with seeds
    ``seed + 1``, ``seed + 2``, …"""
    made = 0
    while made < need:
        n = min(chunk_size, need - made)
        seed += 1
        yield from make(n, seed)
        made += n


def _stream(cfg: BasePretrainConfig, factory, processor):
    """Yields training examples stage after stage (curriculum order, no shuffling): each batch
    of ``batch_size`` holds first the stage's text skill examples (:func:`text_per_batch`,
    :mod:`rsground_lib.data.text_skills`), then grounding examples from the factory. The
    scenes are drawn as before text skills existed (chunks of ``chunk_size`` with seeds
    ``seed * 1,000,003 + 1, + 2, …``), so a recipe without text skills trains on the very same
    stream."""
    chunk_seed = cfg.seed * 1_000_003
    text_seed = chunk_seed + 500_000
    for st in cfg.stages:
        k_text = text_per_batch(cfg, st)
        k_img = cfg.batch_size - k_text
        steps = int(st["steps"])
        data = st.get("data", {})
        scenes = _chunks(
            lambda n, s, data=data: factory(n, seed=s, **data), steps * k_img, cfg.chunk_size,
            chunk_seed,
        )  # fmt: skip
        texts = _chunks(
            lambda n, s: text_skills.make_examples(n, seed=s, **cfg.text_skills_data),
            steps * k_text, cfg.chunk_size, text_seed,
        )  # fmt: skip
        chunk_seed += -(-steps * k_img // cfg.chunk_size)
        text_seed += -(-steps * k_text // cfg.chunk_size)
        for _ in range(steps):
            for _k in range(k_text):
                yield text_skills.chat_example(next(texts))
            for _k in range(k_img):
                ex = conversation.grounding_example(
                    next(scenes),
                    processor,
                    coord_step=cfg.coord_step,
                    prompt_style=cfg.prompt_style,
                )
                ex.pop("bbox_model")
                yield ex


def pretrain_base(
    config: BasePretrainConfig | dict | None = None,
    *,
    dataset_factory: Callable[..., Iterable[dict]] | None = None,
    resume: bool = False,
) -> dict:
    """Pretrain the tiny base checkpoint (stage (a)): build the tiny model from ``seed`` (or
    load ``init_from``; deepen its text model with ``grow_text_layers``), teach it the text
    skills of an executable reasoning (``text_skills_steps``,
    :func:`rsground_lib.training.warm_start.text_skills_warm_start`), warm-start its vision
    tower (not with ``init_from``), train it with TRL's ``SFTTrainer`` on the curriculum of
    ``config.stages`` (answers without reasoning, a stage's ``text_skills`` examples mixed
    into each batch), save it to ``config.out`` with ``metrics.json`` and ``log.jsonl``.

    ``dataset_factory(n, *, seed, **stage_data)`` returns records (``image``, ``width``,
    ``height``, ``expression``, ``bbox``; default: :func:`rsground_lib.data.synthetic.make_dataset`).
    Intermediate checkpoints go to ``<out>/trainer`` every ``save_steps`` (``resume=True``
    continues from the last one; none is an error, and log rows past it are dropped).
    Returns the final metrics (per stage's held-out scenes; ``text_skills`` when the run
    trains them).
    """
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
    clock = common.Clock()
    t0 = clock.t0

    if cfg.init_from:
        model, processor = models.load_model(cfg.init_from, dtype="float32")
    else:
        model, processor = models.build_tiny_model(
            cfg.seed, family=cfg.family, image_size=cfg.image_size_px, **cfg.model
        )
    grown = (
        models.grow_text_layers(model, cfg.grow_text_layers, seed=cfg.seed)
        if cfg.grow_text_layers
        else 0
    )
    warm = not resume and not cfg.init_from
    text_eval = (
        text_skills.make_examples(
            cfg.n_eval_text, seed=cfg.seed + TEXT_EVAL_SEED, **cfg.text_skills_data
        )
        if cfg.trains_text_skills
        else []
    )

    # The image-blind floor of each stage, from a sample of its answers.
    stage_floors: list[tuple[int, float]] = []
    eval_sets: list[list[dict]] = []
    start = 0
    for si, st in enumerate(cfg.stages):
        sample = list(factory(2000, seed=cfg.seed + 777 + si, **st.get("data", {})))
        exs = [
            conversation.grounding_example(
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
            r, _ = evaluation.evaluate(
                m, processor, recs, prompt_style=cfg.prompt_style, max_new_tokens=24
            )
            res[f"stage{si}"] = {
                k: round(v, 4) if isinstance(v, float) else v for k, v in r.items()
            }
        if text_eval:
            res["text_skills"] = {
                k: round(v, 4) for k, v in evaluate_text_skills(m, processor, text_eval).items()
            }
        return res

    aux = None

    def aux_log(rec):
        rec["cpu_s"] = round(time.process_time() - t0, 1)
        common.append_jsonl(log_path, rec)

    def warm_up(target: str, steps: int, data: dict, seed: int, **kwargs) -> dict:
        """One warm start on fresh scenes drawn with ``data``; its summary is logged."""
        return warm_start.aux_warm_start(
            model,
            processor,
            lambda n, s: list(factory(n, seed=s, **data)),
            steps=steps,
            learning_rate=cfg.aux_learning_rate,
            seed=seed,
            log=aux_log,
            target=target,
            **kwargs,
        )

    if cfg.aux_per_class_steps > 0 and warm:
        data = dict(cfg.aux_per_class_data)
        aux_pc = warm_up("vision_per_class", cfg.aux_per_class_steps, data, cfg.seed + 2)
        aux_log({"aux_per_class": aux_pc})
    if cfg.aux_warmup_steps > 0 and warm:
        data = dict(cfg.stages[0].get("data", {}) if cfg.aux_data is None else cfg.aux_data)
        aux = warm_up(cfg.aux_target, cfg.aux_warmup_steps, data, cfg.seed)
        aux_log({"aux": aux})
    if cfg.aux_per_class_steps > 0 and warm:
        aux = {"per_class": aux_pc, "vision": aux}
    if cfg.aux_lm_steps > 0 and warm:
        data = dict(cfg.stages[cfg.aux_lm_stage].get("data", {}))
        aux_lm = warm_up("lm", cfg.aux_lm_steps, data, cfg.seed + 1, batch_size=cfg.batch_size)
        aux_log({"aux_lm": aux_lm})
        aux = {"vision": aux, "lm": aux_lm}

    if cfg.text_skills_steps > 0 and not resume:
        text_warm = warm_start.text_skills_warm_start(
            model,
            processor,
            steps=cfg.text_skills_steps,
            batch_size=cfg.text_skills_batch_size,
            learning_rate=cfg.text_skills_learning_rate,
            seed=cfg.seed,
            data=cfg.text_skills_data,
            eval_fn=lambda: evaluate_text_skills(model, processor, text_eval),
            eval_steps=cfg.eval_steps,
            log=aux_log,
        )
        aux_log({"text_skills_warm_start": text_warm})
        aux = {"warm_starts": aux, "text_skills": text_warm}

    gen_kwargs = {"cfg": cfg, "factory": factory, "processor": processor}
    train_dataset = IterableDataset.from_generator(_stream, gen_kwargs=gen_kwargs)

    def floor(step: int) -> dict:
        current = stage_floors[0][1]
        for begin, f in stage_floors:
            if step >= begin:
                current = f
        return {"image_blind_floor": round(current, 4)}

    callbacks = [
        common.JsonlLog(log_path, t0, extra=floor),
        PeriodicEval(cfg.eval_steps, eval_fn, log_path, t0),
    ]
    trainer = common.build_sft_trainer(
        model, processor, train_dataset, args=cfg, callbacks=callbacks
    )
    last = common.resume_point(Path(cfg.output_dir), log_path) if resume else None
    result = common.train_quietly(trainer, last)
    model = trainer.model
    final = eval_fn(model)
    metrics = {
        "config": cfg.recipe(),
        "steps": int(result.global_step),
        **clock.elapsed(),
        "image_blind_floor": {f"stage{i}": round(f, 4) for i, (_, f) in enumerate(stage_floors)},
        "eval": final,
        "parameters": model.num_parameters(),
        "aux_warm_start": aux,
        "grown_text_layers": grown,
    }
    model = model.to(getattr(torch, cfg.save_dtype))
    common.save_run(
        model,
        processor,
        out,
        {"metrics.json": metrics},
        extra={"pretrain": {"seed": cfg.seed, "steps": int(result.global_step)}},
        prompt_style=cfg.prompt_style,
    )
    if not cfg.keep_trainer_checkpoints:
        shutil.rmtree(out / "trainer", ignore_errors=True)
    return metrics


TEXT_EVAL_SEED = 20_000
"""The held-out text skill sequences of a run with seed ``s`` are drawn with seed ``s +
TEXT_EVAL_SEED`` (:func:`rsground_lib.data.text_skills.make_examples`; training draws
``s * 1,000,003 + 500,001`` onwards)."""


def evaluate_text_skills(model, processor, examples: Sequence[dict]) -> dict[str, float]:
    """Exact-match accuracy per skill of ``model``'s greedy completions of the text skill
    ``examples`` (:func:`rsground_lib.generation.generate_text`,
    :func:`rsground_lib.data.text_skills.score_completions`)."""
    longest = max(
        (len(processor.tokenizer(e["completion"])["input_ids"]) for e in examples), default=1
    )
    outputs = generation.generate_text(
        model, processor, [e["prompt"] for e in examples], max_new_tokens=longest + 2
    )
    return text_skills.score_completions(examples, outputs)


def _answer_box(example: dict) -> list[int]:
    """The integer box of an example's box-only answer."""
    return [int(v) for v in prompts.parse_answer(prompts.completion_text(example["completion"]))]


# ----------------------------------------------------------------------------- CLI


def load_factory(spec: str, image_size_px: int = 64) -> Callable[..., Iterable[dict]]:
    """A dataset factory from ``"path/to/file.py:function"`` or ``"package.module:function"``;
    the function is called as ``function(n, seed=..., image_size=image_size_px, **stage_data)``."""
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


def base_runs(folder: str | os.PathLike) -> dict:
    """What a chapter draws of a base checkpoint's training (``make tiny-base``: run 1's log
    and metrics under ``part1/``, run 2's beside the weights): ``{"logs": {label: rows},
    "floor": the image-blind floor of run 2's last stage, "text_per_batch": text skill
    examples per batch of run 2's stages}``; run 2's steps continue run 1's. A missing file is
    a FileNotFoundError naming it."""
    folder = Path(folder)
    runs = []
    for sub in (folder / "part1", folder):
        metrics_path, log_path = sub / "metrics.json", sub / "log.jsonl"
        for path in (metrics_path, log_path):
            if not path.is_file():
                raise FileNotFoundError(f"{path}: the base's training record is missing")
        runs.append((json.loads(metrics_path.read_text()), log_path))
    (m1, log1), (m2, log2) = runs
    first = (
        "run 1: text skills and warm starts, then"
        if m1["config"].get("text_skills_steps")
        else "run 1: warm starts, then"
    )
    second = "run 2: text skills again, then" if m2["config"].get("text_skills_steps") else "run 2:"
    logs = {
        f"{first} {m1['steps']:,} steps": common.read_log(log1),
        f"{second} {m2['steps']:,} more steps": common.read_log(log2, step_offset=m1["steps"]),
    }
    floors = m2["image_blind_floor"]
    return {
        "logs": logs,
        "floor": floors[sorted(floors)[-1]],
        "text_per_batch": max(int(st.get("text_skills", 0)) for st in m2["config"]["stages"]),
    }


POSITION_BAR_KEYS: dict[str, tuple[str, str]] = {
    "with_position_pick_acc": ("with_position", "pick_acc"),
    "with_position_pr50": ("with_position", "pr@0.5"),
    "one_object_pr50": ("one_object", "pr@0.5"),
    "class_only_pr50": ("class_only", "pr@0.5"),
}
"""The bar of a base that reads position words (issue 15, archived in
``experiments/tiny_base_position_probes.json`` under ``bar``): its keys → (split, metric) of
:func:`evaluate_base`."""


def position_bar_checks(benchmark: dict, bar: dict) -> dict[str, tuple[float, str, float]]:
    """A base's :func:`evaluate_base` results against the position-word bar ``bar`` (keys of
    :data:`POSITION_BAR_KEYS`, each a lower bound): ``{label: (value, ">=", bar)}`` for
    :func:`rsground_lib.report.check_table`."""
    return {
        f"{metric} ({split})": (float(benchmark[split][metric]), ">=", float(bar[key]))
        for key, (split, metric) in POSITION_BAR_KEYS.items()
    }


def ablation_sentence(probes: dict) -> str:
    """What the archived text skill probes say about the text skills' share in the base's
    grounding: from their ``without_text_skills`` entry (the first run of the recipe with no
    text skills at all, and the same run with them, on the same scenes), the extreme-cue picks
    and the class-only Pr@0.5 with the direction from the values; that it is not measured when
    the entry is absent."""
    entry = probes.get("without_text_skills")
    if not entry:
        return "not measured: the recipe has not been run without its text skills"

    def word(a: float, b: float) -> str:
        a, b = round(a, 3), round(b, 3)
        return "higher" if a > b else "lower" if a < b else "the same"

    pick = float(entry["with_pick"]), float(entry["without_pick"])
    cls = float(entry["with_class_only_pr50"]), float(entry["without_class_only_pr50"])
    return (
        f"measured for the text skills alone (archived): the first run of the recipe picks "
        f"{100 * pick[0]:.1f}% on extreme cues with them and {100 * pick[1]:.1f}% without them "
        f"(the same scenes, steps and seed), {word(*pick)} with them, and its class-only "
        f"Pr@0.5 is {100 * cls[0]:.1f}% against {100 * cls[1]:.1f}%, {word(*cls)} with them"
    )


TEXT_BENCH_SEED = 31_337
"""Seed of the tiny base's held-out text skill benchmark (:func:`base_text_skills`)."""


def base_text_skills(model, processor, n: int = 1000) -> dict[str, float]:
    """The tiny base's text skill benchmark: :func:`evaluate_text_skills` on ``n`` fresh
    sequences of every skill of :mod:`rsground_lib.data.text_skills` (seed
    :data:`TEXT_BENCH_SEED`, disjoint from training's), exact match per skill."""
    return evaluate_text_skills(
        model, processor, text_skills.make_examples(n, seed=TEXT_BENCH_SEED)
    )
