"""What every training stage shares: TRL trainer arguments with the project's defaults
(:class:`TrainerDefaults`, :class:`SftArgs`), the trainer builder, the life of a run written
once (:func:`run_stage`: plan, log, clock, train, merge, save, ``train.json``; its pieces
:func:`train_quietly`, :class:`Clock`, :func:`save_run` serve the tiny base too), one JSONL
logging callback, the log reader, resuming from the last checkpoint, and freezing the vision
tower.

Book chapter: "CoT-SFT" (``book/03_cot_sft.py``).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from accelerate import PartialState
from peft import LoraConfig
from transformers import PrinterCallback, TrainerCallback
from transformers.trainer_utils import SaveStrategy, get_last_checkpoint
from trl import SFTConfig, SFTTrainer

from rsground_lib import checkpoints, files, models
from rsground_lib.config import help_field

LORA_TARGET_MODULES = r".*(?:language_model|text_model).*\.(?:q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)"
"""LoRA's default targets: the text model's attention and MLP projections (a regex that
matches Qwen2.5-VL's and Idefics3's language model, not the vision tower)."""


@dataclass
class AdapterFields:
    """The fields every training stage adds to its TRL config for what it trains: LoRA or full
    fine-tuning, a frozen vision tower, and the CPU threads (mixed into
    :class:`rsground_lib.training.sft.SftConfig` and
    :class:`rsground_lib.training.rft.RftConfig`)."""

    use_peft: bool = help_field(
        "LoRA (PEFT, merged into the saved weights) instead of full fine-tuning", default=False
    )
    lora_r: int = help_field("LoRA rank", default=64)
    lora_alpha: int = help_field("LoRA scaling alpha", default=128)
    lora_dropout: float = help_field("LoRA dropout", default=0.05)
    lora_target_modules: str = help_field(
        "regex of the modules LoRA adapts", default=LORA_TARGET_MODULES
    )
    freeze_vision: bool = help_field("keep the vision tower and connector fixed", default=False)
    num_threads: int = help_field("torch CPU threads; 0: torch's default", default=0)

    def peft_config(self) -> LoraConfig | None:
        """PEFT's ``LoraConfig`` from the ``lora_*`` fields when ``use_peft``, else None."""
        if not self.use_peft:
            return None
        return LoraConfig(
            r=self.lora_r,
            lora_alpha=self.lora_alpha,
            lora_dropout=self.lora_dropout,
            target_modules=self.lora_target_modules,
            bias="none",
            task_type="CAUSAL_LM",
        )


@dataclass
class TrainerDefaults:
    """The TRL trainer arguments every stage sets the same way, the project's defaults: no
    activation checkpointing, no reporting, no checkpoints unless ``save_steps`` > 0, no
    worker processes, no progress bars, bf16 and ``use_cpu`` following the device, the data
    seed from ``seed``. Mixed in *before* the TRL config (``class SftConfig(TrainerDefaults,
    SFTConfig, ...)``) so that these defaults win over TRL's and its ``__post_init__`` runs
    before TRL's. The one place these defaults live (:class:`SftArgs`,
    :class:`rsground_lib.training.sft.SftConfig`, :class:`rsground_lib.training.rft.RftConfig`
    and the tiny base's :class:`rsground_lib.training.tiny_base.BasePretrainConfig` build on
    it)."""

    save_steps: float = help_field(
        "steps between trainer checkpoints; 0: none (resume impossible)", default=0
    )
    save_total_limit: int | None = help_field("trainer checkpoints kept", default=1)
    bf16: bool | None = help_field(
        "bf16 mixed precision; None: on a GPU that supports it (not on a V100/T4, not on a "
        "CPU, where it is 1.75x slower)",
        default=None,
    )
    activation_checkpointing: bool | None = help_field("activation checkpointing", default=False)
    report_to: None | str | list[str] = help_field("experiment trackers", default="none")
    save_strategy: SaveStrategy | str = help_field("'no' unless save_steps > 0", default="no")
    dataloader_num_workers: int = help_field("data-loader worker processes", default=0)
    disable_tqdm: bool | None = help_field("no progress bars", default=True)

    def __post_init__(self):
        cuda = torch.cuda.is_available()
        if self.bf16 is None:
            self.bf16 = models.bf16_usable()
        if not cuda:
            self.use_cpu = True
        if self.save_steps:
            self.save_strategy = "steps"
        else:
            self.save_strategy, self.save_steps = "no", 500
        if self.data_seed is None:
            self.data_seed = self.seed
        super().__post_init__()


@dataclass
class SftArgs(TrainerDefaults, SFTConfig):
    """A TRL ``SFTConfig`` with the project's defaults (:class:`TrainerDefaults`) and those of
    supervised fine-tuning on grounding conversations: images kept for the collator
    (``remove_unused_columns=False``), TRL's choice of completion-only loss, no truncation.
    What the supervised stages' configs build on, and what :func:`build_sft_trainer` makes of
    a plain dict (benchmarks, tests)."""

    remove_unused_columns: bool = help_field(
        "False: the images column reaches the collator", default=False
    )
    completion_only_loss: bool | None = help_field(
        "loss on the completion (None: TRL's choice)", default=None
    )
    max_length: int | None = help_field("truncation length; None: none", default=None)


def build_sft_trainer(
    model, processor, train_dataset, *, args=None, callbacks=None, peft_config=None, **kwargs
) -> SFTTrainer:
    """A TRL ``SFTTrainer`` over a vision dataset (``images`` + ``prompt``/``completion`` or
    ``messages``), with ``processing_class=processor``. ``args`` is an ``SFTConfig`` (or a
    subclass, e.g. :class:`rsground_lib.training.sft.SftConfig`) or a dict of
    :class:`SftArgs` fields. The trainer prints nothing per log line (no
    ``PrinterCallback``)."""
    if args is None or isinstance(args, dict):
        args = SftArgs(**(args or {}))
    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=train_dataset,
        processing_class=processor,
        callbacks=callbacks,
        peft_config=peft_config,
        **kwargs,
    )
    # Without progress bars transformers prints every log dict (PrinterCallback): hundreds
    # of lines in a chapter. The logs go to log.jsonl (JsonlLog) and the chapters draw them.
    trainer.remove_callback(PrinterCallback)
    return trainer


class JsonlLog(TrainerCallback):
    """Appends every trainer log to ``log_path`` as one JSON line ``{"step", **logs, ...}``
    with the CPU seconds (``cpu_s``) and, when ``wall0`` is given, the wall seconds
    (``wall_s``) since the run started. ``extra(step)`` adds fields to the log itself (so
    they reach the trainer's ``log_history`` too), e.g. the image-blind floor of the tiny
    base's current stage."""

    def __init__(
        self,
        log_path: Path,
        t0: float,
        wall0: float | None = None,
        extra: Callable[[int], dict] | None = None,
    ):
        self.log_path = Path(log_path)
        self.t0 = t0
        self.wall0 = wall0
        self.extra = extra

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs is None or not state.is_world_process_zero:  # one writer under accelerate
            return
        if self.extra is not None:
            logs.update(self.extra(state.global_step))
        rec = {"step": state.global_step, **logs}
        rec["cpu_s"] = round(time.process_time() - self.t0, 1)
        if self.wall0 is not None:
            rec["wall_s"] = round(time.time() - self.wall0, 1)
        append_jsonl(self.log_path, rec)


def append_jsonl(path: Path, record: dict) -> None:
    """Append one JSON line to ``path``."""
    with Path(path).open("a") as fh:
        fh.write(json.dumps(record) + "\n")


def read_log(path: str | os.PathLike, step_offset: int = 0) -> list[dict]:
    """The records of a ``log.jsonl`` written by a training stage, ``step_offset`` added to
    every ``step`` (to draw a continued run after the first); a malformed line is a
    ValueError naming the file and line."""
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


TRAINER_STATE_FILES: tuple[str, ...] = ("trainer_state.json", "optimizer.pt", "scheduler.pt")
"""What a trainer checkpoint needs beyond the model to continue a run where it stopped."""


def check_trainer_checkpoint(path: str | os.PathLike) -> Path:
    """A trainer checkpoint folder (``checkpoint-N``) that can be resumed from: the model
    checks of :func:`rsground_lib.checkpoints.check_checkpoint` plus
    :data:`TRAINER_STATE_FILES` present, non-empty and ``trainer_state.json`` readable JSON
    with its ``global_step``. A LoRA run's checkpoint holds the adapter instead of the model
    (``adapter_config.json``, ``adapter_model.safetensors``; the base is the run's start).
    FileNotFoundError / ValueError name the file."""
    folder = Path(path)
    if (folder / "adapter_config.json").is_file():
        adapter = folder / "adapter_model.safetensors"
        if not adapter.is_file():
            raise FileNotFoundError(f"{adapter}: missing — {folder} cannot be resumed from")
        if adapter.stat().st_size == 0:
            raise ValueError(f"{adapter}: empty file — the checkpoint {folder} is corrupt")
    else:
        folder = checkpoints.check_checkpoint(path)
    for name in TRAINER_STATE_FILES:
        f = folder / name
        if not f.is_file():
            raise FileNotFoundError(f"{f}: missing — {folder} cannot be resumed from")
        if f.stat().st_size == 0:
            raise ValueError(f"{f}: empty file — the checkpoint {folder} is corrupt")
    try:
        state = json.loads((folder / "trainer_state.json").read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{folder / 'trainer_state.json'}: not JSON ({exc})") from exc
    if not isinstance(state, dict) or not isinstance(state.get("global_step"), int):
        raise ValueError(f"{folder / 'trainer_state.json'}: no integer 'global_step'")
    return folder


def resume_point(checkpoint_dir: Path, log_path: Path) -> str:
    """The last trainer checkpoint (``checkpoint-N``) under ``checkpoint_dir``
    (``transformers.trainer_utils.get_last_checkpoint``; a ValueError when there is none:
    resuming would silently restart), checked by :func:`check_trainer_checkpoint`, after
    dropping the log rows written past it."""
    folder = Path(checkpoint_dir)
    last = get_last_checkpoint(str(folder)) if folder.is_dir() else None
    if last is None:
        raise ValueError(f"resume: no checkpoint under {folder} (set save_steps > 0 to keep them)")
    check_trainer_checkpoint(last)
    step = int(Path(last).name.split("-")[1])
    if log_path.exists() and is_main_process():
        kept = [r for r in read_log(log_path) if int(r.get("step", 0)) <= step]
        log_path.write_text("".join(json.dumps(r) + "\n" for r in kept))
    return str(last)


def data_fingerprint(records) -> str:
    """A sha256 over every record's id, expression and box, in order: whether two runs saw
    the same training data (:func:`finished_run`)."""
    h = hashlib.sha256()
    for r in records:
        h.update(
            json.dumps([r.get("id"), r.get("expression"), r.get("bbox")], default=str).encode()
        )
        h.update(b"\n")
    return h.hexdigest()


def finished_run(out: Path, config: dict, records) -> dict | None:
    """The ``train.json`` of a run already finished in ``out`` with this ``config`` (every
    field, as ``to_dict()`` gives it) on these ``records`` (:func:`data_fingerprint`), its
    weights beside it — or None, and the stage trains. Lets ``make reproduce CHAPTERS=...``
    re-execute a chapter without retraining what is done (a chapter's ``reuse_finished``);
    a run of other code with the same config and data is reused too, so it is off by default.
    A ``train.json`` that is not JSON is a ValueError naming it."""
    path = Path(out) / "train.json"
    if not path.is_file() or not (Path(out) / "model.safetensors").is_file():
        return None
    done = _read_record(path)
    return done if _same_config_and_data(done, config, records) else None


def _read_record(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not JSON ({exc}); delete the run folder to retrain") from exc


def _same_config_and_data(recorded: dict, config: dict, records) -> bool:
    """Whether a run's record (``train.json`` or :data:`START_RECORD`) holds this ``config``
    (as ``to_dict()`` gives it) and these records' :func:`data_fingerprint`."""
    return recorded.get("config") == json.loads(json.dumps(config)) and recorded.get(
        "data_fingerprint"
    ) == data_fingerprint(records)


START_RECORD = "train_start.json"
"""File a stage writes into its run folder when it starts training: its config and data
fingerprint, so that a later call knows whether the trainer checkpoints there are its own."""


def plan_run(
    out: str | os.PathLike, config: dict, records, *, reuse: bool, resume: bool
) -> tuple[str, dict | None]:
    """What a stage does in its run folder ``out``, as ``(action, train.json or None)``:

    - ``"resume"`` when ``resume`` (the caller insists; no checkpoint is then an error), or
      when ``reuse`` and the folder holds trainer checkpoints of a run that started with this
      ``config`` on these ``records`` (:data:`START_RECORD`) but did not finish — an
      interrupted ``make reproduce`` continues inside the stage;
    - ``"reuse"`` with the finished run's ``train.json`` when ``reuse`` and
      :func:`finished_run` finds it;
    - ``"fresh"`` otherwise: the trainer checkpoints and log of an earlier run there are
      deleted (they belong to another config or data and must never be resumed into this
      one) and the start is recorded — by the main process only under ``accelerate launch``.
    """
    out = Path(out)
    if resume:
        return "resume", None
    if reuse:
        done = finished_run(out, config, records)
        if done is not None:
            return "reuse", done
        last = get_last_checkpoint(str(out)) if out.is_dir() else None
        start = out / START_RECORD
        if last is not None and start.is_file():
            if _same_config_and_data(_read_record(start), config, records):
                return "resume", None
    state = PartialState()  # under accelerate launch: every process decides, one writes
    state.wait_for_everyone()
    if state.is_main_process:
        out.mkdir(parents=True, exist_ok=True)
        for old in out.glob("checkpoint-*"):
            if old.is_dir():
                shutil.rmtree(old)
        files.write_json(
            out / START_RECORD,
            {"config": config, "data_fingerprint": data_fingerprint(records)},
            default=str,
        )
        log = out / "log.jsonl"
        if log.exists():
            log.unlink()
    state.wait_for_everyone()
    return "fresh", None


TRL_DEPRECATION_WARNINGS = (
    r".*(is_gradient_checkpointing|gradient_checkpointing_(enable|disable)).*deprecated"
)
"""TRL 1.16 calls transformers 5's ``is_gradient_checkpointing`` and
``gradient_checkpointing_enable/disable``, which warn on every call that they are deprecated;
the warnings are about TRL's code, not about a run, and :func:`train_quietly` drops them."""


def train_quietly(trainer, resume_from_checkpoint: str | None = None):
    """``trainer.train(resume_from_checkpoint=...)`` without TRL's deprecation warnings
    (:data:`TRL_DEPRECATION_WARNINGS`); every other warning is shown. Every stage trains
    through here."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=TRL_DEPRECATION_WARNINGS, category=FutureWarning)
        return trainer.train(resume_from_checkpoint=resume_from_checkpoint)


class Clock:
    """The CPU and wall seconds of a run since it started (``cpu_s``, ``wall_s``, rounded to
    0.1 s): what ``train.json``, ``metrics.json`` and every log line report."""

    def __init__(self):
        self.t0, self.wall0 = time.process_time(), time.time()

    def elapsed(self) -> dict[str, float]:
        return {
            "cpu_s": round(time.process_time() - self.t0, 1),
            "wall_s": round(time.time() - self.wall0, 1),
        }


def save_run(model, processor, out: Path, documents: dict[str, dict], **save_kwargs) -> None:
    """Write the trained ``model`` (:func:`rsground_lib.models.save` with ``save_kwargs``) and
    the JSON ``documents`` (file name → content) into ``out`` — by the main process only under
    ``accelerate launch`` — and let every process wait for it."""
    state = PartialState()
    if state.is_main_process:  # one writer under accelerate launch
        models.save(model, processor, out, **save_kwargs)
        for name, content in documents.items():
            files.write_json(Path(out) / name, content)
    state.wait_for_everyone()


def run_stage(
    cfg,
    train_records,
    *,
    build: Callable[[list[TrainerCallback]], tuple],
    record: Callable[[int], dict],
    reuse: bool = False,
    resume: bool = False,
) -> dict:
    """The life of one training stage's run, written once for CoT-SFT and RFT:

    threads (``cfg.num_threads``) → what to do in ``cfg.output_dir`` (:func:`plan_run`: reuse
    a finished run, resume an interrupted one, or start fresh with an empty log) → the clock
    → ``build(callbacks)``, the stage's own part, which returns ``(trainer, summary extras)``
    with the :class:`JsonlLog` callback installed → training (:func:`train_quietly`, from the
    last trainer checkpoint when resuming) → LoRA merged into the weights → the model saved
    with the prompt style it was trained in (:func:`rsground_lib.models.remember_prompt_style`)
    and ``record(steps)`` as its training record → ``train.json`` (every field of the config
    as asked, steps taken, loss, CPU and wall seconds, tokens seen, the data's fingerprint, the
    checkpoint resumed from, and the stage's extras). Returns ``train.json``'s content (a
    reused run's marked ``reused``)."""
    if not train_records:
        raise ValueError(f"{type(cfg).__name__}: train_records is empty")
    if cfg.num_threads:
        torch.set_num_threads(int(cfg.num_threads))
    out = Path(cfg.output_dir)
    # a copy taken before the trainer sets fields of its own (ddp_find_unused_parameters)
    asked = json.loads(json.dumps(cfg.to_dict()))
    action, done = plan_run(out, asked, train_records, reuse=reuse, resume=resume)
    if action == "reuse":
        return {**done, "reused": True}
    log_path = out / "log.jsonl"
    last = resume_point(out, log_path) if action == "resume" else None
    clock = Clock()
    trainer, extras = build([JsonlLog(log_path, clock.t0, clock.wall0)])
    result = train_quietly(trainer, last)
    trained = trainer.model
    if cfg.use_peft:
        trained = trained.merge_and_unload()
    trained.eval()
    summary = {
        "config": asked,
        "steps": int(result.global_step),
        "train_loss": float(result.training_loss),
        **clock.elapsed(),
        "num_tokens": int(
            max((r.get("num_tokens", 0) for r in trainer.state.log_history), default=0)
        ),
        "n_train_records": len(train_records),
        "data_fingerprint": data_fingerprint(train_records),
        "resumed_from": Path(last).name if last else None,
        **extras,
    }
    save_run(
        trained,
        trainer.processing_class,
        out,
        {"train.json": summary},
        extra=record(int(result.global_step)),
        prompt_style=cfg.prompt_style,
    )
    return summary


def is_main_process() -> bool:
    """Whether this process writes the run's files: always in one process; under
    ``accelerate launch`` / ``torchrun`` only the main one (:class:`accelerate.PartialState`)."""
    return PartialState().is_main_process


VISION_PARTS: tuple[str, ...] = ("vision_model", "visual", "connector", "multi_modal_projector")
"""Name fragments of the vision tower and connector parameters (Idefics3, Qwen2.5-VL, LLaVA)."""


def freeze_vision(model) -> int:
    """Stop gradients into the vision tower and the connector (parameters whose name holds one
    of :data:`VISION_PARTS`); returns how many parameters were frozen (a ValueError if none:
    the model's parts are named otherwise)."""
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
