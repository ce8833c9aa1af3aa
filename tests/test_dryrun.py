"""The dry run of ``make reproduce`` (issue 23): its start checkpoint reads like a real
Qwen2.5-VL checkpoint from the hub, its profile takes the full profile's code path and fits
the chapters, and the whole book runs on it (slow), including a chapter killed inside RFT
and continued to the end an uninterrupted run reaches."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import torch
import yaml
from PIL import Image

from rsground_lib import bookbuild, cli, dryrun, models, profiles
from rsground_lib.training import common

ROOT = Path(__file__).resolve().parents[1]


def test_the_random_qwen_reads_an_800px_scene_as_qwen_does_and_saves_in_the_hub_layout(tmp_path):
    model, processor = dryrun.random_qwen()
    assert type(model).__name__ == "Qwen2_5_VLForConditionalGeneration"
    assert not models.is_tiny(model) and models.checkpoint_prompt_style(model) == "full"
    # Qwen2.5-VL-3B-Instruct's resize: 800 px -> 812 (a multiple of 28) -> 29 x 29 merged tokens
    assert models.model_image_size(processor, 800, 800) == (812, 812)
    folder = dryrun.write_hub_layout(model, processor, tmp_path / "start")
    assert sorted(p.name for p in folder.iterdir()) == [
        "chat_template.json",
        "config.json",
        "generation_config.json",
        "model.safetensors",
        "preprocessor_config.json",
        "tokenizer.json",
        "tokenizer_config.json",
    ]
    loaded, p2 = models.load_model(folder, device="cpu")
    assert not models.is_tiny(loaded)
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "x"}]}]
    text = p2.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    inputs = p2(text=[text], images=[Image.new("RGB", (800, 800))], return_tensors="pt")
    image_token = p2.tokenizer.convert_tokens_to_ids("<|image_pad|>")
    assert int((inputs["input_ids"] == image_token).sum()) == 29 * 29
    with torch.no_grad():
        assert torch.equal(loaded(**inputs).logits, model(**inputs).logits)
    with pytest.raises(FileExistsError, match="start: exists"):
        dryrun.write_hub_layout(model, processor, folder)


def test_the_dryrun_profile_takes_the_full_profiles_code_path():
    full = yaml.safe_load((ROOT / "params" / "full.yml").read_text())
    dry = yaml.safe_load((ROOT / "params" / "dryrun.yml").read_text())
    assert dryrun.code_path_differences(full, dry) == []
    dry["chapters"]["03_cot_sft"]["trace_style"] = "steps"
    del dry["image_size"]
    assert dryrun.code_path_differences(full, dry) == [
        "image_size: full 800, dry run None",
        "chapters.03_cot_sft.trace_style: full 'prose', dry run 'steps'",
    ]


def test_the_dryrun_profile_fits_the_chapters_with_the_start_checkpoint(tmp_path):
    sources = bookbuild.notebook_sources(ROOT)
    chapters = {stem: profiles.chapter_parameters(path) for stem, path in sources.items()}
    start = tmp_path / "start"
    injected = profiles.resolve_parameters(
        ROOT / "params" / "dryrun.yml", chapters, "dryrun", overrides=dryrun.model_overrides(start)
    )
    assert injected["03_cot_sft"]["model_name_or_path"] == str(start)
    assert injected["05_evaluation"]["model_name_or_path"] == str(start)
    assert "model_name_or_path" not in injected["04_rft"]  # RFT starts from the CoT-SFT model
    sft_values = injected["03_cot_sft"]
    assert (sft_values["use_peft"], sft_values["activation_checkpointing"]) == (True, True)
    assert (sft_values["save_steps"], sft_values["reuse_finished"]) == (2, True)
    assert injected["04_rft"]["save_steps"] == 2 and injected["02_data"]["image_size"] == 800
    with pytest.raises(profiles.ProfileError, match=r"chapters.03_cot_sft: unknown parameter"):
        profiles.resolve_parameters(
            ROOT / "params" / "dryrun.yml",
            chapters,
            "dryrun",
            overrides={"chapters": {"03_cot_sft": {"model_path": "x"}}},
        )


def test_book_refuses_the_dryrun_profile_and_names_the_command(capsys):
    assert cli.main(["book", "--profile", "dryrun"]) == 2
    assert "run `rsground dryrun` (make dryrun)" in capsys.readouterr().err


# ------------------------------------------------------------------------- the whole dry run

KILLED_RFT = """
import sys
from rsground_lib import dryrun
dryrun.run(chapters=["04_rft"], html=False, build_root=__import__("pathlib").Path(sys.argv[1]))
"""


def _rft_log(runs: Path) -> list[dict]:
    return [
        r for r in common.read_log(runs / "dryrun" / "04_rft" / "rft" / "log.jsonl") if "loss" in r
    ]


@pytest.mark.slow
def test_make_dryrun_builds_the_book_and_a_killed_rft_continues_to_the_same_end(tmp_path):
    """``make dryrun`` from nothing: every chapter executes on the random Qwen2.5-VL and the
    HTML renders; GRPO saw rewards that differ inside groups. Then chapter 04 is executed
    again in a copy of the runs without its RFT run, killed after its first trainer
    checkpoint, and executed once more: it continues from that checkpoint (reuse_finished)
    and ends with the losses and weights of the uninterrupted run."""
    runs, build = tmp_path / "runs", tmp_path / "build"
    env = {"RSGROUND_RUNS": str(runs)}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        result = dryrun.run(build_root=build)
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    assert result.html_index is not None and result.html_index.is_file()
    assert set(result.seconds) == set(bookbuild.notebook_sources(ROOT))
    rft_dir = runs / "dryrun" / "04_rft" / "rft"
    uninterrupted = _rft_log(runs)
    assert [r["step"] for r in uninterrupted] == [1, 2, 3, 4, 5, 6]
    # the format start gives GRPO groups whose rewards differ: a real advantage somewhere
    assert min(r["frac_reward_zero_std"] for r in uninterrupted) < 1.0

    again = tmp_path / "again"
    shutil.copytree(runs, again)
    shutil.rmtree(again / "dryrun" / "04_rft" / "rft")
    process_env = {**os.environ, "RSGROUND_RUNS": str(again), "PYTHONPATH": str(ROOT)}
    p = subprocess.Popen([sys.executable, "-c", KILLED_RFT, str(tmp_path / "build2")], cwd=ROOT,
                         env=process_env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    log = again / "dryrun" / "04_rft" / "rft" / "log.jsonl"
    deadline = time.time() + 900
    while not (log.exists() and any(r.get("step") == 3 for r in common.read_log(log))):
        assert p.poll() is None and time.time() < deadline, p.stderr.read().decode()[-3000:]
        time.sleep(0.2)
    kernel_and_all = psutil.Process(p.pid).children(recursive=True)  # the kernel: own session
    p.send_signal(signal.SIGKILL)
    for child in kernel_and_all:
        child.kill()
    p.wait()
    psutil.wait_procs(kernel_and_all, timeout=30)
    assert not (again / "dryrun" / "04_rft" / "rft" / "train.json").exists()
    p = subprocess.run([sys.executable, "-c", KILLED_RFT, str(tmp_path / "build2")], cwd=ROOT,
                       env=process_env, capture_output=True, text=True, timeout=900)  # fmt: skip
    assert p.returncode == 0, p.stderr[-3000:]
    done = json.loads((again / "dryrun" / "04_rft" / "rft" / "train.json").read_text())
    assert done["resumed_from"] == "checkpoint-2" and done["steps"] == 6
    resumed = _rft_log(again)
    assert [r["step"] for r in resumed] == [1, 2, 3, 4, 5, 6]
    for key in ("loss", "reward", "kl"):
        assert [r[key] for r in resumed] == pytest.approx(
            [r[key] for r in uninterrupted], rel=1e-4, abs=1e-6
        ), key
    a, _ = models.load_model(rft_dir, device="cpu")
    b, _ = models.load_model(again / "dryrun" / "04_rft" / "rft", device="cpu")
    for (name, pa), (_, pb) in zip(a.named_parameters(), b.named_parameters(), strict=True):
        assert torch.allclose(pa, pb, atol=1e-5), name
