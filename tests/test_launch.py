"""The training stages as a program (``python -m rsground_lib.training.launch RECIPE``): strict
recipes, the full profile's recipes equal to ``params/full.yml``, and (slow) two CPU processes
under ``accelerate launch`` writing one model, one ``train.json`` and one log line per step."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from rsground_lib import models
from rsground_lib.training import common, launch

ROOT = Path(__file__).resolve().parents[1]
CHECKPOINT = ROOT / "checkpoints" / "tiny-base"


def _recipe(tmp_path: Path, **config) -> Path:
    recipe = {
        "stage": "sft",
        "scenes": {"scenes": "base", "num_train": 8, "num_val": 1, "image_size": 64, "seed": 2},
        "config": {"model_name_or_path": str(CHECKPOINT), "output_dir": str(tmp_path / "run"),
                   "targets": "answer", "max_steps": 2, "per_device_train_batch_size": 2,
                   "warmup_steps": 0, "logging_steps": 1, "num_threads": 1, **config},
    }  # fmt: skip
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


@pytest.mark.parametrize("name, chapter", [("cot_sft_full", "03_cot_sft"), ("rft_full", "04_rft")])
def test_the_full_recipes_train_what_the_full_profile_trains(name, chapter):
    recipe = launch.read_recipe(ROOT / "configs" / "recipes" / f"{name}.yaml")
    full = yaml.safe_load((ROOT / "params" / "full.yml").read_text())
    section = {**{k: v for k, v in full.items() if k != "chapters"}, **full["chapters"][chapter]}
    shared = {**recipe["scenes"], **recipe["config"]}
    differ = {k: (v, section[k]) for k, v in shared.items() if k in section and section[k] != v}
    assert differ == {}
    assert {"learning_rate", "max_steps", "use_peft", "save_steps"} <= set(shared) & set(section)


def test_a_recipe_is_strict(tmp_path):
    path = tmp_path / "r.yaml"
    for text, message in (
        ("stage: sft\nscenes: {}\nconfig: {}\nepochs: 3\n", r"r.yaml: unknown key\(s\) epochs"),
        ("stage: dpo\n", r"r.yaml: stage: expected one of \('sft', 'rft'\)"),
    ):
        path.write_text(text)
        with pytest.raises(ValueError, match=message):
            launch.read_recipe(path)
    path.write_text("stage: sft\nscenes: {num_scenes: 3}\n")
    with pytest.raises(ValueError, match="num_scenes"):
        launch.run_recipe(launch.read_recipe(path))
    with pytest.raises(ValueError, match="missing.yaml: no such recipe file"):
        launch.read_recipe(tmp_path / "missing.yaml")


def test_a_recipe_trains_in_one_process(tmp_path):
    assert launch.main([str(_recipe(tmp_path))]) == 0
    done = json.loads((tmp_path / "run" / "train.json").read_text())
    assert done["steps"] == 2 and done["config"]["targets"] == "answer"
    assert [r["step"] for r in common.read_log(tmp_path / "run" / "log.jsonl") if "loss" in r] == [
        1,
        2,
    ]


@pytest.mark.slow
def test_two_processes_under_accelerate_launch_write_one_run(tmp_path):
    """``accelerate launch`` with the project's multi-GPU config on two CPU processes: both
    train (gloo), the main one alone writes the model, ``train.json`` and the log (one line
    per step, not two)."""
    recipe = _recipe(tmp_path, max_steps=3)
    accelerate = Path(sys.executable).with_name("accelerate")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    # the project's multi-GPU config, on two CPU processes (torchrun underneath, gloo; the
    # trainer's use_cpu; accelerate's --cpu would start one process only)
    config = ROOT / "configs" / "accelerate" / "multi_gpu.yaml"
    p = subprocess.run([str(accelerate), "launch", "--config_file", str(config),
                        "--num_processes", "2", "--mixed_precision", "no",
                        "--main_process_port", "29531", "-m", "rsground_lib.training.launch",
                        str(recipe)], cwd=ROOT, env=env, capture_output=True, text=True,
                       timeout=900)  # fmt: skip
    assert p.returncode == 0, p.stderr[-3000:]
    assert p.stdout.count("3 steps, train loss") == 2  # both processes trained to the end
    log = common.read_log(tmp_path / "run" / "log.jsonl")
    assert [r["step"] for r in log if "loss" in r] == [1, 2, 3]
    done = json.loads((tmp_path / "run" / "train.json").read_text())
    assert done["steps"] == 3
    trained, _ = models.load_model(tmp_path / "run", device="cpu")
    start, _ = models.load_model(CHECKPOINT, device="cpu")
    text = [n for n, _ in start.named_parameters() if "text_model" in n and "q_proj" in n]
    moved = dict(trained.named_parameters())
    assert text and any(
        not bool((moved[n] == p).all()) for n, p in start.named_parameters() if n in text
    )
