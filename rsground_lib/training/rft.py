"""Stage (c), reinforcement fine-tuning: GRPO with the positional reward and the
spatial-consistency weight of the updates, around TRL's ``GRPOTrainer``.

* :class:`RftConfig` *is* a TRL ``GRPOConfig`` (every trainer argument keeps TRL's name and
  meaning) with the stage's fields: the rewards by registry name (``reward_funcs``, weighted
  by TRL's ``reward_weights``, open-r1 style) and the consistency knobs
  (``consistency_score``, ``consistency_kappa``, ``consistency_w_min``).
* :class:`ConsistencyGRPOTrainer` parses every completion once per step, hands the boxes to
  the rewards (``parsed_box``), gathers them across processes in the order TRL gathers the
  rewards, scores each prompt group's coherence and multiplies the group's advantages by
  ``w = clip(exp(−κ·s), w_min, 1)`` (:func:`rsground_lib.consistency.group_weights`) after
  TRL has computed them — scaling the rewards instead would be undone by the group
  normalisation. With ``κ = 0`` every weight is exactly 1 and the trainer is TRL's GRPO.
* :func:`train_rft` runs the stage from a checkpoint (the CoT-SFT model), logs every step to
  ``log.jsonl`` and resumes from the last trainer checkpoint.

The weighting is our reading of the paper (design page, "Rewards and the consistency
weight"); the trainer pins the aggregation it assumes (``multi_objective_aggregation =
"sum_then_normalize"``: one total reward per completion, advantages per group).

Book chapter: "Reinforcement fine-tuning" (``book/04_rft.py``).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from accelerate.utils import gather
from datasets import Dataset
from transformers import PrinterCallback
from transformers.trainer_utils import SchedulerType
from trl import GRPOConfig, GRPOTrainer
from trl.trainer.utils import RepeatSampler

from rsground_lib import advantages, consistency, conversation, models, paths, prompts, rewards
from rsground_lib.config import help_field, parse_config
from rsground_lib.training import common

AGGREGATION = "sum_then_normalize"
"""The reward aggregation the consistency weight assumes: TRL sums the weighted rewards of a
completion, then normalises within the prompt's group, so each group's advantages are one
block that one weight can scale."""


@dataclass
class RftConfig(common.TrainerDefaults, GRPOConfig, common.AdapterFields):
    """Every knob of stage (c): TRL's ``GRPOConfig`` with the project's defaults (CPU-safe: no
    reporting, images kept, no checkpoints, a log line every step; bf16 and ``use_cpu``
    follow CUDA; VLM-R1's GRPO settings β = 0.04, ε = 0.2, temperature 0.9, G = 8) and the
    stage's fields. Built from a mapping or a recipe by :meth:`from_dict` (unknown keys are a
    ValueError); each field's meaning is its ``help``."""

    # ---- the stage's own fields
    model_name_or_path: str = help_field(
        "checkpoint folder or hub id to start from (the CoT-SFT model)",
        default="runs/smoke/03_cot_sft/cot_sft",
    )
    reward_funcs: list[str] = help_field(
        "rewards by registry name (rsground_lib.rewards.REWARDS), weighted by reward_weights",
        default_factory=lambda: list(rewards.DEFAULT_REWARD_FUNCS),
    )
    consistency_score: str = help_field(
        "coherence score of a group's boxes (rsground_lib.consistency.SCORES)",
        default="center_dispersion",
    )
    consistency_kappa: float = help_field(
        "κ of the weight clip(exp(-κ·score), w_min, 1); 0: plain GRPO", default=5.0
    )
    consistency_w_min: float = help_field("floor w_min of the consistency weight", default=0.1)
    prompt_style: str = help_field(
        "'compact' (image + expression; the tiny base) or 'full' (the project's system prompt)",
        default="compact",
    )
    # ---- TRL fields with the project's defaults
    output_dir: str | None = help_field(
        "where the model, log.jsonl, train.json and trainer checkpoints go",
        default="runs/smoke/04_rft/rft",
    )
    max_steps: int = help_field("optimizer steps", default=100)
    per_device_train_batch_size: int = help_field(
        "completions per device step (prompts per step × num_generations / processes)",
        default=64,
    )
    num_generations: int | None = help_field("completions per prompt (G)", default=8)
    learning_rate: float = help_field("peak learning rate", default=1e-5)
    lr_scheduler_type: SchedulerType | str = help_field(
        "learning-rate schedule", default="constant"
    )
    warmup_steps: float = help_field("linear warm-up steps", default=0)
    beta: float = help_field(
        "KL coefficient against the start model (0: no reference)", default=0.04
    )
    epsilon: float = help_field("PPO clipping ε of the ratio", default=0.2)
    temperature: float = help_field("sampling temperature of the rollouts", default=0.9)
    max_completion_length: int | None = help_field("most tokens of a completion", default=1024)
    use_vllm: bool = help_field(
        "generate the rollouts with vLLM (colocated) instead of generate; off by default: the "
        "vLLM releases TRL 1.16 accepts (0.22-0.31) pin a transformers older than the project's",
        default=False,
    )
    multi_objective_aggregation: str = help_field(
        "how rewards combine; pinned to 'sum_then_normalize' (the weight scales a group's advantages)",
        default=AGGREGATION,
    )
    logging_steps: float = help_field("steps between log lines", default=1)
    seed: int = help_field("seed of the trainer, the prompt order and the sampling", default=0)

    def __post_init__(self):
        self.validate()
        if self.use_vllm and importlib.util.find_spec("vllm") is None:
            raise ValueError(
                "RftConfig.use_vllm: vLLM is not installed; TRL accepts vLLM 0.22-0.31, whose "
                "releases pin a transformers older than the project's (use_vllm=False generates "
                "the rollouts with transformers)"
            )
        super().__post_init__()

    @classmethod
    def from_dict(cls, values: dict) -> RftConfig:
        """The config from a mapping (a chapter's parameters, a recipe file); unknown keys are
        a ValueError naming them."""
        return parse_config(cls, values)

    def validate(self) -> None:
        """ValueError naming the field for a value the stage cannot run with."""
        if not self.reward_funcs:
            raise ValueError("RftConfig.reward_funcs: expected at least one reward name")
        for name in self.reward_funcs:
            rewards.get_reward(name)  # ValueError listing the known names
        if self.reward_weights is not None and len(self.reward_weights) != len(self.reward_funcs):
            raise ValueError(
                f"RftConfig.reward_weights: {len(self.reward_weights)} weights for "
                f"{len(self.reward_funcs)} rewards {self.reward_funcs}; expected one each"
            )
        if self.consistency_score not in consistency.SCORES:
            raise ValueError(
                f"RftConfig.consistency_score: expected one of {list(consistency.SCORES)}; "
                f"got {self.consistency_score!r}"
            )
        consistency.update_weight(0.0, self.consistency_kappa, self.consistency_w_min)
        if self.multi_objective_aggregation != AGGREGATION:
            raise ValueError(
                f"RftConfig.multi_objective_aggregation: the consistency weight scales each "
                f"group's advantages and needs {AGGREGATION!r}; got "
                f"{self.multi_objective_aggregation!r}"
            )
        if self.prompt_style not in prompts.PROMPT_STYLES:
            raise ValueError(
                f"RftConfig.prompt_style: expected one of {prompts.PROMPT_STYLES}; "
                f"got {self.prompt_style!r}"
            )
        for name in ("max_steps", "per_device_train_batch_size", "logging_steps", "lora_r"):
            if not getattr(self, name) > 0:
                raise ValueError(f"RftConfig.{name}: expected > 0; got {getattr(self, name)!r}")
        if self.num_generations is None or self.num_generations < 2:
            raise ValueError(
                f"RftConfig.num_generations: expected >= 2 (a group needs two completions); "
                f"got {self.num_generations!r}"
            )
        if not self.learning_rate > 0:
            raise ValueError(f"RftConfig.learning_rate: expected > 0; got {self.learning_rate!r}")
        if not (self.temperature > 0 and self.beta >= 0 and self.epsilon > 0):
            raise ValueError(
                "RftConfig: expected temperature > 0, beta >= 0 and epsilon > 0; got "
                f"{self.temperature!r}, {self.beta!r}, {self.epsilon!r}"
            )

    def reward_functions(self) -> list:
        """The registered reward functions named by ``reward_funcs``, in order."""
        return [rewards.get_reward(name) for name in self.reward_funcs]


def log_window_means(rows: Sequence[dict], key: str, fraction: float = 0.1) -> tuple[float, float]:
    """``(first, last)``: the mean of ``key`` over the first and over the last ``fraction`` of
    the log rows that carry it (at least one row each) — how a logged quantity moved over a
    run. A ValueError when no row carries ``key``."""
    values = [float(r[key]) for r in rows if key in r]
    if not values:
        raise ValueError(f"log_window_means: no log row carries {key!r}")
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction: expected a number in (0, 1]; got {fraction!r}")
    k = max(1, int(len(values) * fraction))
    return float(np.mean(values[:k])), float(np.mean(values[-k:]))


class EpochSeededRepeatSampler(RepeatSampler):
    """TRL's ``RepeatSampler`` whose prompt order in epoch ``e`` is drawn from ``seed + e``
    (the trainer calls :meth:`set_epoch`), not from a generator that carries over from the
    previous epochs. Measured with TRL 1.16 / transformers 5.24: a run resumed at an epoch
    boundary replayed the first epoch's prompt order, because the resumed sampler's generator
    had not walked through the earlier epochs; with this sampler a resumed run sees the
    prompts of the uninterrupted one. Epoch 0's order is TRL's."""

    def set_epoch(self, epoch: int) -> None:
        if self.seed is not None:
            self.generator.manual_seed(int(self.seed) + int(epoch))


class ConsistencyGRPOTrainer(GRPOTrainer):
    """TRL's ``GRPOTrainer`` with the spatial-consistency weight of the updates (our reading
    of the paper) and the stage's step metrics. ``args`` is an :class:`RftConfig`; the
    reward functions come from its ``reward_funcs`` unless given."""

    def __init__(self, model, args: RftConfig, reward_funcs=None, **kwargs):
        if not isinstance(args, RftConfig):
            raise TypeError(f"args: expected an RftConfig; got {type(args).__name__}")
        super().__init__(
            model=model,
            reward_funcs=reward_funcs if reward_funcs is not None else args.reward_functions(),
            args=args,
            **kwargs,
        )
        self.remove_callback(PrinterCallback)  # the logs go to log.jsonl (common.JsonlLog)
        self._rollout: dict | None = None
        self.last_group_weights: dict | None = None

    def _get_train_sampler(self, dataset=None):
        sampler = super()._get_train_sampler(dataset)
        return EpochSeededRepeatSampler(
            data_source=sampler.data_source,
            mini_repeat_count=sampler.mini_repeat_count,
            batch_size=sampler.batch_size,
            repeat_count=sampler.repeat_count,
            shuffle=sampler.shuffle,
            seed=sampler.seed,
        )

    def _calculate_rewards(self, inputs, prompts_, completions, completion_ids_list):
        # Parse every completion once; the rewards read the boxes from the `parsed_box` column.
        parsed = [prompts.parse_answer(c) for c in completions]
        follows = [
            prompts.answer_follows_reasoning(c, box)
            for c, box in zip(completions, parsed, strict=True)
        ]
        follows = [float("nan") if f is None else float(f) for f in follows]
        inputs = [{**x, "parsed_box": box} for x, box in zip(inputs, parsed, strict=True)]
        rewards_per_func = super()._calculate_rewards(
            inputs, prompts_, completions, completion_ids_list
        )
        device = self.accelerator.device
        local = torch.tensor(
            [box if box is not None else [float("nan")] * 4 for box in parsed],
            dtype=torch.float64,
            device=device,
        )
        sizes = torch.tensor(
            [x["image_size_model"] for x in inputs], dtype=torch.float64, device=device
        )
        # Gathered in the order TRL gathers rewards_per_func: process 0's rows, then 1's, ...
        self._rollout = {
            "boxes": gather(local).cpu().numpy(),
            "sizes": gather(sizes).cpu().numpy(),
            "follows": gather(torch.tensor(follows, dtype=torch.float64, device=device))
            .cpu()
            .numpy(),
            "rewards": rewards_per_func.detach().cpu().double().numpy(),
        }
        return rewards_per_func

    def _generate_and_score_completions(self, inputs):
        out = super()._generate_and_score_completions(inputs)
        mode = "train" if self.model.training else "eval"
        g = self.num_generations if mode == "train" else self.num_generations_eval
        roll, self._rollout = self._rollout, None
        if roll is None:
            raise RuntimeError("ConsistencyGRPOTrainer: the rewards were not computed this step")
        local, scores, weights = advantages.weight_local_advantages(
            out["advantages"],
            roll["boxes"],
            roll["sizes"],
            num_generations=g,
            process_index=self.accelerator.process_index,
            kappa=self.args.consistency_kappa,
            w_min=self.args.consistency_w_min,
            score=self.args.consistency_score,
        )
        out["advantages"] = local
        self.last_group_weights = {"scores": scores, "weights": weights}
        metrics = self._metrics[mode]
        metrics["consistency/score_mean"].append(float(np.mean(scores)))
        metrics["consistency/score_max"].append(float(np.max(scores)))
        metrics["consistency/weight_mean"].append(float(np.mean(weights)))
        metrics["consistency/weight_min"].append(float(np.min(weights)))
        metrics["parse_rate"].append(float(np.mean(np.all(np.isfinite(roll["boxes"]), axis=1))))
        follows = roll["follows"][np.isfinite(roll["follows"])]
        if follows.size:  # no completion with a reasoning box and an answer: nothing to log
            metrics["answer_follows_reasoning"].append(float(follows.mean()))
        for i, name in enumerate(self.reward_func_names):
            grouped = roll["rewards"][:, i].reshape(-1, g)
            metrics[f"rewards/{name}/frac_zero_std"].append(advantages.all_equal_fraction(grouped))
        return out


def start_checkpoint(model_name_or_path: str, layout: paths.RunLayout) -> str:
    """The model RFT starts from: ``model_name_or_path`` when given, else the CoT-SFT
    chapter's model of the same profile (``layout.model("CoT-SFT")``); a FileNotFoundError
    says which chapter to run when that folder holds no model."""
    if model_name_or_path:
        return str(model_name_or_path)
    folder = layout.model("CoT-SFT")
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(
            f"{folder}: no CoT-SFT model — run the CoT-SFT chapter (book/03_cot_sft.py) of this "
            "profile first, or set model_name_or_path"
        )
    return str(folder)


def rft_dataset(records: Sequence[dict], processor, *, prompt_style: str) -> Dataset:
    """The GRPO prompts of ``records`` (:func:`rsground_lib.conversation.rft_example`: image,
    prompt, target in model pixels, model-input size, cue tags) as a ``datasets.Dataset``; a
    record that cannot be turned into one is a ValueError naming it."""
    rows = []
    for i, rec in enumerate(records):
        try:
            rows.append(conversation.rft_example(rec, processor, prompt_style=prompt_style))
        except (KeyError, ValueError) as exc:
            raise ValueError(f"record {i} (id {rec.get('id')!r}): {exc}") from exc
    if not rows:
        raise ValueError("rft_dataset: no records")
    return Dataset.from_list(rows)


def build_rft_trainer(
    cfg: RftConfig,
    train_records,
    *,
    model=None,
    processor=None,
    callbacks=None,
    trainer_class: type[ConsistencyGRPOTrainer] | None = None,
) -> ConsistencyGRPOTrainer:
    """The stage's trainer for ``cfg`` on ``train_records``: the model loaded from
    ``cfg.model_name_or_path`` unless given (float32 master weights for full fine-tuning),
    the vision tower frozen when asked, LoRA when ``cfg.use_peft``; ``trainer_class`` a
    subclass of :class:`ConsistencyGRPOTrainer` (the tests script the rollouts with one)."""
    if model is None or processor is None:
        dtype = None if cfg.use_peft else "float32"
        model, processor = models.load_model(cfg.model_name_or_path, dtype=dtype)
    dataset = rft_dataset(train_records, processor, prompt_style=cfg.prompt_style)
    if cfg.freeze_vision:
        common.freeze_vision(model)
    return (trainer_class or ConsistencyGRPOTrainer)(
        model,
        cfg,
        train_dataset=dataset,
        processing_class=processor,
        callbacks=callbacks,
        peft_config=cfg.peft_config(),
    )


def train_rft(
    config: RftConfig | dict,
    train_records: Sequence[dict],
    *,
    resume: bool = False,
    reuse: bool = False,
    model=None,
    processor=None,
) -> dict:
    """Stage (c): GRPO from ``config.model_name_or_path`` on the prompts of ``train_records``
    with :class:`ConsistencyGRPOTrainer`. Writes the model to ``config.output_dir`` with
    ``log.jsonl`` (one line per logged step: each reward's mean, std and share of groups
    with all-equal values, the coherence score and weight, KL, completion length, parse
    rate, answer-follows-reasoning, CPU and wall seconds) and ``train.json`` (every field
    of the config, steps, seconds). ``reuse=True`` returns a finished run's ``train.json``
    (marked ``reused``) when its config and data are these, and continues an interrupted run
    of them from its last trainer checkpoint (``save_steps`` > 0;
    :func:`rsground_lib.training.common.plan_run`). ``resume=True`` continues from the last trainer
    checkpoint there (a ValueError / FileNotFoundError when there is none or it is broken).
    Returns ``train.json``'s content."""
    cfg = config if isinstance(config, RftConfig) else RftConfig.from_dict(dict(config))

    def build(callbacks):
        trainer = build_rft_trainer(
            cfg, train_records, model=model, processor=processor, callbacks=callbacks
        )
        return trainer, {}

    return common.run_stage(
        cfg,
        train_records,
        build=build,
        record=lambda steps: {"rft": {"steps": steps, "kappa": cfg.consistency_kappa}},
        reuse=reuse,
        resume=resume,
    )
