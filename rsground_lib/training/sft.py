"""Stage (b), CoT-SFT: supervised fine-tuning on grounding conversations around TRL's
``SFTTrainer``, with reasoning then box (``targets="cot"``, the paper's stage 1) or the box
alone (``targets="answer"``, the plain-SFT control on the same scenes).

:class:`SftConfig` *is* a TRL ``SFTConfig`` (every trainer argument keeps TRL's name and
meaning) with the stage's own fields added; the trainer takes it as its ``args``. The
hyper-parameters of the full profile are ours.

Book chapter: "CoT-SFT" (``book/03_cot_sft.py``).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from datasets import Dataset
from transformers.trainer_utils import SchedulerType

from rsground_lib import conversation, evaluation, models, paths, prompts
from rsground_lib.config import help_field, parse_config
from rsground_lib.data import cot
from rsground_lib.training import common

THINK_FROM_ANSWER: dict[str, str] = {"<think>": "<answer>", "</think>": "</answer>"}
"""``SftConfig.init_tokens`` for the tiny base: its reasoning tags start where its answer tags
stand (it has written ``<answer>[`` thousands of times, ``<think>`` never)."""

SFT_TARGETS: tuple[str, ...] = ("cot", "answer", "format")
"""SFT targets: ``"cot"`` — reasoning then box (``<think>…</think><answer>[…]</answer>``, the
paper's stage 1); ``"answer"`` — the box alone (``<answer>[…]</answer>``, the plain-SFT
control that sees the same scenes for the same steps); ``"format"`` — the contract with a
one-sentence reasoning that only quotes the expression (:data:`FORMAT_THINK`): a cold start
on the output format for a model that has none (the dry run's random Qwen2.5-VL, so that
GRPO sees rewards that differ within a group; our design, not the paper's)."""

FORMAT_THINK = 'I need to find: "{expression}".'
"""The reasoning of a ``"format"`` target (the first sentence of a prose trace)."""

TRACE_STYLES: tuple[str, ...] = cot.TRACE_STYLES
"""Reasoning-trace styles of :func:`rsground_lib.data.cot.template_trace`."""


@dataclass
class SftConfig(common.SftArgs, common.AdapterFields):
    """Every knob of stage (b): TRL's ``SFTConfig`` with the project's defaults (CPU-safe:
    no reporting, images kept, loss on the completion, no truncation, no checkpoints, cosine
    decay to ``min_lr_ratio``; bf16 and ``use_cpu`` follow CUDA) and the stage's fields.
    Built from a mapping or a recipe by :meth:`from_dict` (unknown keys are a ValueError);
    each field's meaning is its ``help``."""

    # ---- the stage's own fields
    model_name_or_path: str = help_field(
        "checkpoint folder or hub id to start from", default="checkpoints/tiny-base"
    )
    targets: str = help_field(
        "'cot' (reasoning then box), 'answer' (the box alone) or 'format' (the contract with a "
        "one-sentence reasoning: a cold start on the format)",
        default="cot",
    )
    trace_style: str = help_field(
        "'prose', 'compact' or 'steps' (executable) reasoning traces (rsground_lib.data.cot)",
        default="prose",
    )
    coord_step: int = help_field(
        "boxes of compact traces and box-only answers on a grid of this many model pixels "
        "(the tiny base's 4; 1: integers)",
        default=1,
    )
    prompt_style: str = help_field(
        "'compact' (image + expression; the tiny base) or 'full' (the project's system prompt)",
        default="compact",
    )
    min_lr_ratio: float = help_field(
        "cosine decay of the learning rate to this share of the peak", default=0.1
    )
    init_tokens: dict | None = help_field(
        "{new: existing} embedding rows copied before training (rsground_lib.models.init_tokens_from)",
        default=None,
    )
    # ---- TRL fields with the project's defaults
    output_dir: str | None = help_field(
        "where the model, log.jsonl, train.json and trainer checkpoints go",
        default="runs/smoke/03_cot_sft/cot_sft",
    )
    max_steps: int = help_field("optimizer steps", default=300)
    per_device_train_batch_size: int = help_field("examples per device step", default=16)
    learning_rate: float = help_field("peak learning rate (after warmup_steps)", default=5e-4)
    warmup_steps: float = help_field("linear warm-up steps", default=30)
    weight_decay: float = help_field("AdamW weight decay", default=0.0)
    logging_steps: float = help_field(
        "steps between log lines (at most max_steps: a short run still logs its loss)", default=10
    )
    seed: int = help_field("seed of the trainer and of the trace wording", default=0)
    lr_scheduler_type: SchedulerType | str = help_field(
        "learning-rate schedule", default="cosine_with_min_lr"
    )

    def __post_init__(self):
        self.validate()
        # a run shorter than the logging interval would log no loss at all (a 2-step sanity
        # run then had nothing to plot; issue 23)
        self.logging_steps = min(self.logging_steps, self.max_steps)
        if self.lr_scheduler_type == "cosine_with_min_lr" and not self.lr_scheduler_kwargs:
            self.lr_scheduler_kwargs = {"min_lr_rate": self.min_lr_ratio}
        super().__post_init__()

    @classmethod
    def from_dict(cls, values: dict) -> SftConfig:
        """The config from a mapping (a chapter's parameters, a recipe file); unknown keys are a
        ValueError naming them."""
        cfg = parse_config(cls, values)
        return cfg

    def validate(self) -> None:
        if self.targets not in SFT_TARGETS:
            raise ValueError(
                f"SftConfig.targets: expected one of {SFT_TARGETS}; got {self.targets!r}"
            )
        if self.trace_style not in TRACE_STYLES:
            raise ValueError(
                f"SftConfig.trace_style: expected one of {TRACE_STYLES}; got {self.trace_style!r}"
            )
        if self.prompt_style not in prompts.PROMPT_STYLES:
            raise ValueError(
                f"SftConfig.prompt_style: expected one of {prompts.PROMPT_STYLES}; "
                f"got {self.prompt_style!r}"
            )
        for name in ("max_steps", "per_device_train_batch_size", "gradient_accumulation_steps",
                     "logging_steps", "coord_step", "lora_r"):  # fmt: skip
            if not getattr(self, name) > 0:
                raise ValueError(f"SftConfig.{name}: expected > 0; got {getattr(self, name)!r}")
        if not self.learning_rate > 0:
            raise ValueError(f"SftConfig.learning_rate: expected > 0; got {self.learning_rate!r}")
        if self.init_tokens is not None and not isinstance(self.init_tokens, dict):
            raise ValueError(
                f"SftConfig.init_tokens: expected a dict {{new: existing}}; got {self.init_tokens!r}"
            )


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
    ``targets="cot"``, the box-only answer (:func:`rsground_lib.prompts.box_answer`) for
    ``"answer"``, the contract with :data:`FORMAT_THINK` for ``"format"``. Needs the synthetic columns (``objects``, ``resolver_steps``) for template
    traces."""
    if targets == "cot":
        size_fn = functools.partial(models.model_image_size, processor)
        return record.get("cot") or cot.template_trace(
            record, seed=seed, model_size_fn=size_fn, style=trace_style, coord_step=coord_step
        )
    if targets == "answer":
        box, size = conversation.target_box_model(record, processor)
        return prompts.box_answer(conversation.answer_box(box, size, coord_step))
    if targets == "format":
        box, size = conversation.target_box_model(record, processor)
        think = FORMAT_THINK.format(expression=record["expression"])
        return prompts.format_answer(think, conversation.answer_box(box, size, coord_step))
    raise ValueError(f"targets: expected one of {SFT_TARGETS}; got {targets!r}")


def sft_examples(
    records: Iterable[dict],
    processor,
    *,
    targets: str = "cot",
    prompt_style: str,
    trace_style: str = "prose",
    coord_step: int = 1,
    seed: int = 0,
) -> list[dict]:
    """TRL prompt-completion vision examples (``images``, ``prompt``, ``completion``) for
    ``records``; template wording of row ``i`` seeded by ``(seed, i)``. The loss is on the
    completion (the assistant turn) only."""
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
            ex = conversation.grounding_example(
                rec, processor, answer=answer, prompt_style=prompt_style
            )
        except KeyError as exc:
            raise ValueError(f"record {i} (id {rec.get('id')!r}): missing column {exc}") from exc
        except ValueError as exc:
            raise ValueError(f"record {i} (id {rec.get('id')!r}): {exc}") from exc
        ex.pop("bbox_model")
        out.append(ex)
    return out


def trace_ceiling(
    splits: dict[str, Sequence[dict]],
    processor,
    *,
    trace_style: str,
    coord_step: int,
    seed: int = 0,
) -> dict[str, dict]:
    """The training targets of ``targets="cot"`` scored as if a model had written them
    (:func:`rsground_lib.evaluation.score_texts`), per split: the ceiling of a trace style —
    what a model that executed every trace perfectly would score, the links of the reasoning
    included (the coordinate grid alone costs some Pr@0.5 and candidate recall)."""
    out = {}
    for split, records in splits.items():
        texts = [
            sft_answer(r, processor, "cot", seed=seed * 1_000_003 + i, trace_style=trace_style,
                       coord_step=coord_step)
            for i, r in enumerate(records)
        ]  # fmt: skip
        out[split], _ = evaluation.score_texts(records, texts, processor)
    return out


def edge_agreement(records: Sequence[dict], processor, *, coord_step: int) -> dict[str, int]:
    """:func:`rsground_lib.data.cot.edge_agreement` in the model pixels of ``processor``: how
    often the edge an extreme cue names, on the ``coord_step`` grid, singles out the target
    (``agree``), ties it with another candidate (``tie``) or picks another (``contradict``)."""
    return cot.edge_agreement(
        records,
        coord_step=coord_step,
        model_size_fn=functools.partial(models.model_image_size, processor),
    )


COPY_LINKS: tuple[str, ...] = (
    "cue_copied",
    "choice_listed",
    "choice_consistent",
    "answer_follows_reasoning",
)
"""The links of a reasoning that only copy and compare what is already written (the text
skills); ``candidates_recall`` — listing the instances — is the one that needs the image."""

REASONING_BARS: dict[str, tuple[str, str, str, float]] = {
    "cue copied (with_position)": ("with_position", "cue_copied", ">=", 0.95),
    "answer follows reasoning (with_position)": ("with_position", "answer_follows_reasoning", ">=", 0.95),
    "answer follows reasoning (class_only)": ("class_only", "answer_follows_reasoning", ">=", 0.95),
    "choice consistent (with_position)": ("with_position", "choice_consistent", ">=", 0.9),
    "pick (with_position)": ("with_position", "pick_acc", ">=", 0.6),
    "Pr@0.5 (with_position)": ("with_position", "pr@0.5", ">=", 0.3),
}  # fmt: skip
"""The bars of the CoT-SFT model on the smoke profile (issue 22): label → (split, metric,
``">="``, bar). :func:`reasoning_checks` adds the class_only Pr@0.5 against the start."""


def reasoning_checks(
    results: dict[str, dict[str, dict]], *, model: str, reference: str
) -> dict[str, tuple[float, str, float]]:
    """:data:`REASONING_BARS` filled with ``results[model]``'s values (``{label: (value, op,
    bar)}`` for :func:`rsground_lib.report.check_table`), plus "class_only Pr@0.5 minus the
    start's" ≥ 0 against ``results[reference]``. A split or metric missing from the results
    is a KeyError naming it."""
    out = {}
    for label, (split, key, op, bar) in REASONING_BARS.items():
        out[label] = (float(results[model][split][key]), op, bar)
    delta = results[model]["class_only"]["pr@0.5"] - results[reference]["class_only"]["pr@0.5"]
    out["class_only Pr@0.5 minus the start's"] = (float(delta), ">=", 0.0)
    return out


def _met(check: tuple[float, str, float]) -> bool:
    value, op, bar = check
    return value == value and (value >= bar if op == ">=" else value <= bar)


def links_verdict(metrics: dict, checks: dict[str, tuple[float, str, float]]) -> str:
    """One sentence, from the values, on what the links of a with_position evaluation say:
    whether the copy and compare links pass their bars, and if they do while the pick fails,
    that the weak link is perception (listing the instances, ``candidates_recall``)."""
    copy_bars = [
        k for k in checks if k.startswith(("cue copied", "answer follows", "choice consistent"))
    ]
    copy_ok = all(_met(checks[k]) for k in copy_bars)
    pick_ok = _met(checks["pick (with_position)"])
    recall = metrics.get("candidates_recall")
    recall_txt = "not measured" if recall is None or recall != recall else f"{100 * recall:.1f}%"
    if copy_ok and pick_ok:
        return "The copy and compare links pass their bars, and so does the pick: the reasoning is executed and reads the position word."
    if copy_ok:
        return (
            "The copy and compare links pass their bars while the pick does not: the reasoning "
            "is executed, and what fails is perception — listing the instances of the class "
            f"(recall {recall_txt})."
        )
    failed = ", ".join(k for k in copy_bars if not _met(checks[k]))
    return f"Some copy and compare links miss their bars ({failed}): the reasoning is not yet executed reliably."


def class_only_verdict(
    results: dict[str, dict[str, dict]], paired: dict, *, model: str, reference: str
) -> str:
    """One sentence, from the values, on the class-only scenes (one instance of the named
    class): whether ``model`` keeps ``reference``'s Pr@0.5 (with the paired McNemar p-value of
    :func:`rsground_lib.evaluation.paired_comparisons`), and if it loses, where: how often its
    reasoning lists the lone instance (``candidates_recall``) against the start's direct
    answer, and how often its answer copies the listed box (``answer_follows_reasoning``)."""
    co, ref = results[model]["class_only"], results[reference]["class_only"]
    a, b = float(co["pr@0.5"]), float(ref["pr@0.5"])
    p = paired.get((model, "class_only"), {}).get("p_value")
    p_txt = "not measured" if p is None else f"{p:.2g}"

    def pct(v):
        return "not measured" if v is None or v != v else f"{100 * v:.1f}%"

    if round(a, 3) >= round(b, 3):
        return (
            f"On class-only scenes it keeps the start's localisation (Pr@0.5 {pct(a)} against "
            f"{pct(b)}, McNemar p = {p_txt})."
        )
    return (
        f"On class-only scenes it loses {100 * (b - a):.1f} points of Pr@0.5 against the start "
        f"({pct(a)} against {pct(b)}, McNemar p = {p_txt}): its reasoning lists the lone "
        f"instance at IoU ≥ 0.5 in {pct(co.get('candidates_recall'))} of the scenes, where the "
        f"start's direct answer hits {pct(b)}, and its answer copies the listed box in "
        f"{pct(co.get('answer_follows_reasoning'))} — the loss is in the box the reasoning lists "
        "(perception in a new context), not in copying it."
    )


def status_line(results: dict, runs: dict, *, max_steps: int, start: str) -> str:
    """The overview's status of the CoT-SFT stage, from this run's values."""
    wp = results.get("CoT-SFT", {}).get("with_position", {})

    def pct(v):
        return "—" if v is None or v != v else f"{100 * v:.0f}%"

    return (
        f"built; {len(runs)} runs of {max_steps} steps trained and scored in this run, from "
        f"{start}; the CoT-SFT model's reasoning on extreme cues: cue copied "
        f"{pct(wp.get('cue_copied'))}, answer follows {pct(wp.get('answer_follows_reasoning'))}, "
        f"pick {pct(wp.get('pick_acc'))}"
    )


def train_sft(
    config: SftConfig | dict,
    train_records: Sequence[dict],
    *,
    resume: bool = False,
    reuse: bool = False,
    model=None,
    processor=None,
) -> dict:
    """Stage (b): fine-tune ``config.model_name_or_path`` on ``train_records`` (synthetic records with the
    columns :func:`rsground_lib.data.cot.template_trace` needs) with TRL's ``SFTTrainer``
    (``args=config``), loss on the assistant turn only; LoRA (PEFT, merged into the saved
    weights) or full. Writes the model to ``config.output_dir`` with ``log.jsonl`` (every log
    line) and ``train.json`` (every field of the config, steps, CPU and wall seconds, tokens
    seen);
    ``resume=True`` continues from the last checkpoint there; ``reuse=True`` returns a finished
    run's ``train.json`` (marked ``reused``) without training when its config and data are
    these, and continues an interrupted run of them from its last trainer checkpoint
    (``save_steps`` > 0; :func:`rsground_lib.training.common.plan_run`). ``model``/``processor`` skip
    loading (e.g. a model built in memory). Returns ``train.json``'s content."""
    cfg = config if isinstance(config, SftConfig) else SftConfig.from_dict(dict(config))

    def build(callbacks):
        nonlocal model, processor
        if model is None or processor is None:
            # Full fine-tuning keeps float32 master weights (bf16 then acts through autocast):
            # AdamW steps of lr 1e-5 on bf16 weights would mostly round away. LoRA keeps its
            # adapters in float32 itself, so the frozen base may stay in bf16.
            dtype = None if cfg.use_peft else "float32"
            model, processor = models.load_model(cfg.model_name_or_path, dtype=dtype)
        examples = sft_examples(
            train_records,
            processor,
            targets=cfg.targets,
            prompt_style=cfg.prompt_style,
            trace_style=cfg.trace_style,
            coord_step=cfg.coord_step,
            seed=cfg.seed,
        )
        frozen = common.freeze_vision(model) if cfg.freeze_vision else 0
        if cfg.init_tokens:
            models.init_tokens_from(model, processor.tokenizer, cfg.init_tokens)
        trainer = common.build_sft_trainer(
            model,
            processor,
            Dataset.from_list(examples),
            args=cfg,
            callbacks=callbacks,
            peft_config=cfg.peft_config(),
        )
        return trainer, {"frozen_parameters": frozen}

    return common.run_stage(
        cfg,
        train_records,
        build=build,
        record=lambda steps: {"sft": {"targets": cfg.targets, "steps": steps}},
        reuse=reuse,
        resume=resume,
    )


SFT_VARIANTS: dict[str, str] = {"plain SFT": "answer", "CoT-SFT": "cot"}
"""The chapter's two runs, name → ``targets``: the same start, scenes and steps, the box alone
or the reasoning then the box."""


def train_variants(
    values: dict,
    train_records: Sequence[dict],
    run_dir: Path,
    variants: dict = SFT_VARIANTS,
    *,
    reuse: bool = False,
) -> dict[str, dict]:
    """:func:`train_sft` once per entry of ``variants`` (name → ``targets``), each with the
    :class:`SftConfig` fields ``values`` and its own ``output_dir`` under ``run_dir``
    (:func:`rsground_lib.paths.folder_name`: ``"CoT-SFT"`` → ``cot_sft``), in order; ``reuse`` as in :func:`train_sft`. Returns name →
    ``train.json`` content plus ``folder``."""
    runs = {}
    for name, targets in variants.items():
        folder = Path(run_dir) / paths.folder_name(name)
        runs[name] = train_sft(
            {**values, "targets": targets, "output_dir": str(folder)}, train_records, reuse=reuse
        )
        runs[name]["folder"] = folder
    return runs
