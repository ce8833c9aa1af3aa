"""The GRPO step benchmark (``python -m rsground_lib.bench.rft``) on the tiny shape: it runs
the project's RFT trainer as the GPU session will, and its JSON says what was measured."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from rsground_lib.bench import sft as bench_sft
from rsground_lib.data import base_scenes

ROOT = Path(__file__).resolve().parents[1]


def test_bench_rft_tiny_shape_times_generation_and_steps(tmp_path):
    records = base_scenes.make_records(4, seed=1, image_size=112, max_objects=3, mode="mixed")
    folder = bench_sft.save_records(records, tmp_path / "records")
    out = tmp_path / "r.json"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "rsground_lib.bench.rft", "--shape", "tiny", "--records",
         str(folder), "--cases", "lora_g8", "--steps", "2", "--max-completion-length", "16",
         "--num-threads", "1", "--out", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["shape"] == "tiny" and result["device"] == "cpu"
    assert {"torch", "transformers", "trl"} <= result.keys()
    assert "EOS" in result["notes"]["completion_length"]
    assert list(result["cases"]) == ["lora_g8"]
    case = result["cases"]["lora_g8"]
    assert case["lora"] is True and case["gradient_checkpointing"] is False
    assert 0 < case["trainable_parameters"] < result["parameters"]
    # Two steps, one generation of 2 prompts x 8 completions each; the first is warm-up.
    assert case["steps"] == 2 and case["steps_timed"] == 1
    assert len(case["step_s_all"]) == len(case["gen_s_all"]) == 2
    assert case["completions"] == 2 * 2 * 8
    assert 0 < case["completion_length_min"] <= case["completion_length_max"] <= 16
    assert all(0 < n <= 16 * 16 for n in case["completion_tokens_all"])
    assert case["gen_tokens_per_s"] > 0
    timed_tokens = case["completion_tokens_all"][1]
    rate = timed_tokens / case["gen_s_all"][1]  # completion tokens / generation seconds
    assert abs(case["gen_tokens_per_s"] - rate) <= 0.01 * rate
    # The step contains its generation; the optimizer part is what is left.
    assert case["step_s_median"] > case["gen_s_median"] > 0
    assert 0 < case["optimizer_step_s_median"] < case["step_s_median"]
    assert case["wall_s_per_step_incl_generation"] > 0
    assert case["frac_reward_zero_std_all"] == [1.0, 1.0]  # random text: no advantage
    assert case["peak_memory_gib"] is None  # CPU
    bad = subprocess.run(
        [sys.executable, "-m", "rsground_lib.bench.rft", "--shape", "tiny", "--records",
         str(folder), "--cases", "nope", "--out", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert bad.returncode != 0 and "unknown case 'nope'" in bad.stderr
