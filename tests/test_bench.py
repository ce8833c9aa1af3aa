"""The SFT step benchmark runs the project's SFT path end to end (the GPU check of the full
profile uses it with Qwen2.5-VL-3B's shape; here the tiny shape on CPU)."""

from __future__ import annotations

import json

import pytest

from rsground_lib.bench import sft as bench_sft
from rsground_lib.data import base_scenes


def test_qwen2_5_vl_3b_shape_has_its_parameter_count():
    import torch

    model, processor = bench_sft.build("qwen2_5_vl_3b", device="meta", dtype=torch.bfloat16)
    # Qwen2.5-VL-3B-Instruct: 3,754,622,976 parameters (tied embeddings).
    assert sum(p.numel() for p in model.parameters()) == 3_754_622_976
    assert model.config.image_token_id == processor.image_token_id
    with pytest.raises(ValueError, match="shape"):
        bench_sft.build("qwen2_5_vl_7b", device="meta", dtype=torch.bfloat16)


@pytest.mark.slow
def test_bench_sft_tiny_shape_times_lora_steps(tmp_path):
    records = base_scenes.make_records(4, seed=1, image_size=112, max_objects=3, mode="mixed")
    folder = bench_sft.save_records(records, tmp_path / "records")
    assert len(bench_sft.load_records(folder)) == 4
    out = tmp_path / "result.json"
    assert bench_sft.main(
        ["--shape", "tiny", "--records", str(folder), "--cases", "lora_b4", "--steps", "3",
         "--out", str(out)]
    ) == 0  # fmt: skip
    case = json.loads(out.read_text())["cases"]["lora_b4"]
    assert len(case["step_s_all"]) == 3 and case["steps_timed"] == 1
    assert case["tokens_per_s"] > 0 and case["tokens_per_example_mean"] > 16
    assert 0 < case["trainable_parameters"] < json.loads(out.read_text())["parameters"]
    with pytest.raises(SystemExit, match="unknown case"):
        bench_sft.main(["--shape", "tiny", "--records", str(folder), "--cases", "nope",
                        "--out", str(out)])  # fmt: skip
