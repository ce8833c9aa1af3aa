"""The dry run of ``make reproduce`` on a CPU (``make dryrun``, issue 23): the full profile's
code path — Qwen2.5-VL's model and processor classes, a checkpoint folder in the hub's file
layout, the full system prompt, prose traces, 800-px synthetic scenes at the processor's
native resolution, LoRA, activation checkpointing, trainer checkpoints and resuming, the real
readers — on a tiny Qwen2.5-VL with random weights built offline and given a short format SFT
(:data:`FORMAT_START`) so that GRPO sees rewards that differ. Nothing is judged on
accuracy: a random model grounds nothing. What it does not cover (bf16, CUDA kernels, vLLM,
the 3B model's memory and speed) is listed in :data:`NOT_COVERED`.

Book chapter: *Overview* ("How to run").
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil
from transformers.utils import logging as hf_logging

from rsground_lib import bookbuild, models, paths
from rsground_lib.data import splits
from rsground_lib.training import sft

PROFILE = "dryrun"
"""The parameter profile the dry run executes (``params/dryrun.yml``)."""

MODEL_FOLDER = "qwen2.5-vl-format-start"
"""Folder of the dry run's start checkpoint under ``runs/dryrun/``: random weights, then
:data:`FORMAT_START` (the full profile's Qwen/Qwen2.5-VL-3B-Instruct stands here)."""

MODEL_SEED = 0
"""Seed of the random weights."""

MODEL_SPEC: dict = {
    "text_hidden": 64,
    "text_layers": 2,
    "text_heads": 4,
    "text_intermediate": 192,
    "vision_hidden": 64,
    "vision_layers": 2,
    "vision_heads": 4,
    "vision_intermediate": 128,
    "max_position_embeddings": 8192,
    "max_number_token": 1000,
}
"""Sizes of the random Qwen2.5-VL (:class:`rsground_lib.models.TinyModelSpec` fields): about
0.75 M parameters; long enough a context for an 800-px image (841 image tokens) with the full
prompt and a prose reasoning; every integer up to 1000 one token (model-pixel coordinates of
an 812-px input)."""

QWEN_MIN_PIXELS = 56 * 56
QWEN_MAX_PIXELS = 28 * 28 * 16384
"""``min_pixels`` / ``max_pixels`` of Qwen/Qwen2.5-VL-3B-Instruct's ``preprocessor_config.json``:
an 800-px scene is read at its native resolution (resized to 812 px, a multiple of 28)."""

FORMAT_START: dict = {
    "targets": "format",
    "prompt_style": "full",
    "coord_step": 1,
    "freeze_vision": True,
    "max_steps": 120,
    "per_device_train_batch_size": 4,
    "learning_rate": 5e-3,
    "warmup_steps": 5,
    "logging_steps": 20,
    "seed": 1,
}
"""The short format SFT that turns the random weights into the dry run's start (full
fine-tuning, :class:`rsground_lib.training.sft.SftConfig` fields): the answer contract with a
one-sentence reasoning (``targets="format"``) on :data:`FORMAT_SCENES` 800-px synthetic scenes.
Measured on this project's 2-core CPU: about 2.5 min; sampled at temperature 0.9 the model
then writes a parseable box in a few per cent of its completions, so rewards differ inside
about half of the GRPO groups — a random model's are all zero, and GRPO would see no
advantage at all."""

FORMAT_SCENES = 64
"""Training scenes of :data:`FORMAT_START` (seed 1: not the chapters' scenes)."""

CHAPTER_MODEL_PARAMETERS: dict[str, str] = {
    "03_cot_sft": "model_name_or_path",
    "05_evaluation": "model_name_or_path",
    "06_ablations": "model_name_or_path",
}
"""The chapters whose start model the dry run replaces by its start checkpoint (the full
profile's Qwen/Qwen2.5-VL-3B-Instruct), and the parameter that names it."""

CODE_PATH_KEYS: tuple[str, ...] = (
    "scenes",
    "image_size",
    "use_peft",
    "freeze_vision",
    "trace_style",
    "prompt_style",
    "coord_step",
    "init_tokens",
    "use_vllm",
    "real_splits",
    "checkpoint",
)
"""Parameters that choose a code path: where the full profile sets one, the dry run sets the
same value (:func:`code_path_differences`); the others (steps, batch, scenes counted) only
size the run."""

NOT_COVERED: tuple[str, ...] = (
    "bf16 and CUDA kernels (the CPU computes in float32)",
    "the 3B model's memory and step times (the tiny model is about 0.75 M parameters)",
    "vLLM rollouts (off in the full profile too)",
    "downloading the weights from the hub (the start checkpoint is built offline)",
    "accuracy: a random model grounds nothing, so no number of the dry run means anything",
)
"""What a green dry run says nothing about."""


def code_path_differences(full: dict, dry: dict) -> list[str]:
    """Where the profile ``dry`` leaves the code path of the profile ``full`` (both as read
    from ``params/*.yml``): one line per :data:`CODE_PATH_KEYS` value that differs, top-level
    or per chapter; empty when the dry run takes the full profile's path."""
    out = []
    for key in CODE_PATH_KEYS:
        if key in full and full[key] != dry.get(key):
            out.append(f"{key}: full {full[key]!r}, dry run {dry.get(key)!r}")
    chapters_dry = dry.get("chapters") or {}
    for stem, values in (full.get("chapters") or {}).items():
        mine = chapters_dry.get(stem) or {}
        for key in CODE_PATH_KEYS:
            if key in values and values[key] != mine.get(key, dry.get(key)):
                out.append(
                    f"chapters.{stem}.{key}: full {values[key]!r}, dry run {mine.get(key)!r}"
                )
    return out


def write_hub_layout(model, processor, folder: str | os.PathLike) -> Path:
    """Save ``model`` and ``processor`` to ``folder`` in the file layout of the hub's
    Qwen/Qwen2.5-VL-*-Instruct repositories: ``preprocessor_config.json`` (the image
    processor, with ``processor_class``) and ``chat_template.json`` where
    :func:`rsground_lib.models.save` writes ``processor_config.json`` and
    ``chat_template.jinja``; no tiny marker (the folder reads as a real checkpoint). The
    folder is written beside and renamed into place: an interrupted call leaves none."""
    folder = Path(folder)
    if folder.exists():
        raise FileExistsError(f"{folder}: exists; remove it to write a new checkpoint there")
    folder.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".hub-", dir=folder.parent) as tmp:
        staged = Path(tmp) / "checkpoint"
        models.save(model, processor, staged)
        image = json.loads((staged / "processor_config.json").read_text())["image_processor"]
        (staged / "preprocessor_config.json").write_text(
            json.dumps({**image, "processor_class": "Qwen2_5_VLProcessor"}, indent=2) + "\n"
        )
        template = (staged / "chat_template.jinja").read_text()
        (staged / "chat_template.json").write_text(json.dumps({"chat_template": template}) + "\n")
        for name in ("processor_config.json", "chat_template.jinja", models.TINY_MARKER):
            (staged / name).unlink(missing_ok=True)
        staged.rename(folder)
    return folder


def random_qwen(seed: int = MODEL_SEED, spec: dict | None = None):
    """``(model, processor)``: a Qwen2.5-VL with random weights (:func:`rsground_lib.models.build_tiny_model`
    with :data:`MODEL_SPEC`) whose processor reads images as Qwen2.5-VL-3B-Instruct's does
    (:data:`QWEN_MIN_PIXELS` to :data:`QWEN_MAX_PIXELS`), without the tiny model's build
    record: the library treats it as a real checkpoint (full prompt by default)."""
    model, processor = models.build_tiny_model(
        seed, family="qwen2_5_vl", spec={**MODEL_SPEC, **(spec or {})}
    )
    processor.image_processor = Qwen2VLImageProcessorPil(
        min_pixels=QWEN_MIN_PIXELS,
        max_pixels=QWEN_MAX_PIXELS,
        patch_size=14,
        temporal_patch_size=2,
        merge_size=2,
    )
    del model.config.rsground_tiny
    return model, processor


def model_folder(runs_root: str | os.PathLike | None = None) -> Path:
    """Where the dry run keeps its start checkpoint: ``<runs>/dryrun/qwen2.5-vl-format-start``."""
    return paths.layout(PROFILE, runs_root).root / MODEL_FOLDER


def format_start(folder: str | os.PathLike, *, num_threads: int = 0):
    """``(model, processor)``: :func:`random_qwen` after :data:`FORMAT_START` on
    :data:`FORMAT_SCENES` synthetic 800-px scenes; the training run (``log.jsonl``,
    ``train.json``) is kept in ``folder``."""
    model, processor = random_qwen()
    records, _ = splits.train_and_val(
        "synthetic", num_train=FORMAT_SCENES, num_val=8, seed=FORMAT_START["seed"], image_size=800
    )
    config = {**FORMAT_START, "output_dir": str(folder), "num_threads": num_threads}
    sft.train_sft(config, records, model=model, processor=processor)
    return models.load_model(folder, device="cpu")


def ensure_model(runs_root: str | os.PathLike | None = None, *, num_threads: int = 0) -> Path:
    """The dry run's start checkpoint (:func:`format_start`, in the hub's file layout), built
    (minutes) unless it is there already."""
    folder = model_folder(runs_root)
    if (folder / "config.json").is_file():
        return folder
    if folder.exists():  # an interrupted build
        shutil.rmtree(folder)
    staging = folder.with_name(folder.name + ".format-sft")
    hf_logging.disable_progress_bar()  # the weights' load/save bars: no raw logs in the output
    try:
        model, processor = format_start(staging, num_threads=num_threads)
        write_hub_layout(model, processor, folder)
    finally:
        hf_logging.enable_progress_bar()
    for name in ("log.jsonl", "train.json"):
        shutil.copy2(staging / name, folder / f"format_start_{name}")
    shutil.rmtree(staging)
    return folder


def model_overrides(folder: str | os.PathLike) -> dict:
    """The profile overrides that make the chapters start from ``folder``
    (:data:`CHAPTER_MODEL_PARAMETERS`), as ``bookbuild.build_book(overrides=...)`` takes them."""
    return {"chapters": {stem: {p: str(folder)} for stem, p in CHAPTER_MODEL_PARAMETERS.items()}}


def run(
    *,
    chapters: list[str] | None = None,
    html: bool = True,
    runs_root: str | os.PathLike | None = None,
    build_root: Path | None = None,
    log: Callable[[str], None] = bookbuild.say,
) -> bookbuild.BookResult:
    """``make dryrun``: build the start checkpoint if needed, then execute the book on
    :data:`PROFILE` with the chapters starting from it (``chapters`` restricts, as in
    :func:`rsground_lib.bookbuild.build_book`)."""
    folder = model_folder(runs_root)
    if not (folder / "config.json").is_file():
        log(f"[{PROFILE}] building the start checkpoint {folder} (about 3 min on 2 cores) ...")
    ensure_model(runs_root)
    return bookbuild.build_book(
        PROFILE,
        chapters=chapters,
        html=html,
        build_root=build_root,
        overrides=model_overrides(folder),
        log=log,
    )


__all__ = [
    "CHAPTER_MODEL_PARAMETERS",
    "CODE_PATH_KEYS",
    "FORMAT_START",
    "code_path_differences",
    "format_start",
    "MODEL_SPEC",
    "NOT_COVERED",
    "PROFILE",
    "ensure_model",
    "model_folder",
    "model_overrides",
    "random_qwen",
    "run",
    "write_hub_layout",
]
