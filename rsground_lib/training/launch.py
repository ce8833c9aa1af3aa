"""The training stages as a program, for ``accelerate launch`` (data parallel over several
GPUs, or several CPU processes) and for plain ``python -m``: a recipe file names the stage,
its scenes and its TRL-based config, and :func:`run_recipe` trains it exactly as the chapters'
calls do (:func:`rsground_lib.training.sft.train_sft`, :func:`rsground_lib.training.rft.train_rft`)::

    accelerate launch --config_file configs/accelerate/multi_gpu.yaml \\
        -m rsground_lib.training.launch configs/recipes/cot_sft_full.yaml

Every process builds the same scenes from the recipe's seed; only the main process writes the
model, ``train.json`` and ``log.jsonl``. The book itself runs in one process on one GPU
(several GPUs in one process would split Qwen2.5-VL's images wrongly); a run trained here is
an ordinary run folder that ``rsground predict`` and ``rsground eval`` read.

Book chapter: *CoT-SFT* (``book/03_cot_sft.py``), "The full profile".
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rsground_lib.config import help_field, load_recipe, parse_config
from rsground_lib.data import splits
from rsground_lib.training import rft, sft

STAGES: tuple[str, ...] = ("sft", "rft")
"""What a recipe can train: ``sft`` (:class:`rsground_lib.training.sft.SftConfig`) or ``rft``
(:class:`rsground_lib.training.rft.RftConfig`)."""


@dataclass
class RecipeScenes:
    """The scenes of a recipe, as :func:`rsground_lib.data.splits.train_and_val` draws them (the
    CoT-SFT and RFT chapters' parameters of the same names)."""

    scenes: str = help_field("'base' (64-px tiny-base scenes) or 'synthetic'", default="synthetic")
    num_train: int = help_field("training scenes", default=2000)
    num_val: int = help_field("validation scenes (drawn, not trained on)", default=300)
    image_size: int = help_field("side of the scenes, pixels", default=800)
    seed: int = help_field("seed of the scenes", default=0)


def read_recipe(path: str | os.PathLike) -> dict[str, Any]:
    """A recipe file (:func:`rsground_lib.config.load_recipe`: YAML or JSON) with ``stage``
    (:data:`STAGES`), ``scenes`` (:class:`RecipeScenes` fields) and ``config`` (the stage
    config's fields) and nothing else; errors name the file and the key."""
    data = load_recipe(path)
    unknown = sorted(set(data) - {"stage", "scenes", "config"})
    if unknown:
        raise ValueError(f"{path}: unknown key(s) {', '.join(unknown)} (stage, scenes, config)")
    if data.get("stage") not in STAGES:
        raise ValueError(f"{path}: stage: expected one of {STAGES}; got {data.get('stage')!r}")
    for key in ("scenes", "config"):
        if not isinstance(data.get(key) or {}, dict):
            raise ValueError(f"{path}: {key}: expected a mapping")
    return data


def run_recipe(recipe: dict[str, Any], *, output_dir: str | None = None) -> dict:
    """Train ``recipe`` (as :func:`read_recipe` returns it; ``output_dir`` overrides the
    config's): the scenes of :class:`RecipeScenes`, then the stage's trainer. Returns its
    ``train.json`` content (on every process)."""
    scenes = parse_config(RecipeScenes, dict(recipe.get("scenes") or {}))
    config = dict(recipe.get("config") or {})
    if output_dir is not None:
        config["output_dir"] = output_dir
    train_records, _ = splits.train_and_val(
        scenes.scenes,
        num_train=scenes.num_train,
        num_val=scenes.num_val,
        seed=scenes.seed,
        image_size=scenes.image_size,
    )
    train = sft.train_sft if recipe["stage"] == "sft" else rft.train_rft
    return train(config, train_records)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m rsground_lib.training.launch",
        description="Train one stage from a recipe file (under accelerate launch for several "
        "GPUs or processes).",
    )
    parser.add_argument("recipe", help="the recipe YAML (stage, scenes, config)")
    parser.add_argument("--output-dir", default=None, help="overrides the config's output_dir")
    args = parser.parse_args(argv)
    summary = run_recipe(read_recipe(args.recipe), output_dir=args.output_dir)
    print(f"{summary['steps']} steps, train loss {summary['train_loss']:.4f}")
    return 0


if __name__ == "__main__":  # pragma: no cover - the program
    raise SystemExit(main())
