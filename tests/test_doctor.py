"""rsground doctor: every check judged from literal facts (no GPU needed), the facts of this
machine gathered, the estimate computed from the SFT benchmark's step times."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rsground_lib import doctor, gpus
from rsground_lib.cli import main

H100 = {"name": "NVIDIA H100 80GB HBM3", "total_mib": 81559.0, "free_mib": 81000.0}
BENCH = {
    "device": "NVIDIA H200",
    "cases": {
        "lora_b4": {"batch_size": 4, "lora": True, "gradient_checkpointing": False,
                    "peak_memory_gib": 39.95, "wall_s_per_step_incl_data": 2.828},
        "lora_b8": {"batch_size": 8, "lora": True, "gradient_checkpointing": False,
                    "peak_memory_gib": 71.07, "wall_s_per_step_incl_data": 2.1749},
        "lora_b8_ckpt": {"batch_size": 8, "lora": True, "gradient_checkpointing": True,
                         "peak_memory_gib": 15.45, "wall_s_per_step_incl_data": 8.0091},
    },
}  # fmt: skip


def facts(**over):
    """A GPU machine that is ready: one H100, a CUDA torch, bf16, disk, weights and data."""
    base = {
        "nvidia_smi": {"gpus": [H100], "driver": "570.86"},
        "torch": "2.13.0+cu126",
        "torch_cuda": "12.6",
        "cuda_available": True,
        "cuda_devices": 1,
        "bf16": True,
        "disk_free_gib": 120.0,
        "disk_at": "/srv/rsground",
        "model_id": "Qwen/Qwen2.5-VL-3B-Instruct",
        "weights": {"cached": True, "where": "/hf/snap", "missing": []},
        "data": {"root": "/data/rsvg", "found": ["DIOR-RSVG test"], "missing": {}},
        "vllm": None,
    }
    base.update(over)
    return base


def by_name(checks):
    return {c.name: c for c in checks}


def test_a_ready_machine_has_no_failure():
    checks = doctor.diagnose(facts(), bench=BENCH)
    assert not doctor.failed(checks)
    assert [c.status for c in checks if c.status in ("fail", "warn")] == []
    assert by_name(checks)["GPU memory"].found == (
        "79 GiB free; the full profile's CoT-SFT peaked at 71 GiB on NVIDIA H200"
    )
    assert doctor.report(checks, []).endswith("ready")


def test_no_gpu_fails_and_says_to_use_smoke():
    checks = by_name(doctor.diagnose(facts(nvidia_smi=None, cuda_available=False), bench=BENCH))
    assert checks["GPU"].status == "fail" and "make smoke" in checks["GPU"].fix
    assert "torch on the GPU" not in checks and "GPU memory" not in checks


def test_a_cpu_torch_beside_a_gpu_is_the_silent_cpu_failure():
    checks = by_name(
        doctor.diagnose(
            facts(cuda_available=False, torch="2.13.0+cpu", torch_cuda=None), bench=BENCH
        )
    )
    row = checks["torch on the GPU"]
    assert row.status == "fail"
    assert (
        "torch 2.13.0+cpu (CUDA build none: a CPU build) cannot use the GPU under driver 570.86"
        in row.found
    )
    assert "float32" in row.found and "rm -rf .venv && make setup" in row.fix
    # a CUDA build too new for the driver reads the same way, naming its CUDA version
    row = by_name(doctor.diagnose(facts(cuda_available=False, torch_cuda="13.0"), bench=BENCH))[
        "torch on the GPU"
    ]
    assert "(CUDA build 13.0)" in row.found


def test_no_bf16_fails_naming_the_card():
    t4 = {"name": "Tesla T4", "total_mib": 15360.0, "free_mib": 15000.0}
    checks = by_name(
        doctor.diagnose(facts(nvidia_smi={"gpus": [t4], "driver": "535"}, bf16=False), bench=BENCH)
    )
    assert (
        checks["bf16"].status == "fail" and checks["bf16"].found == "Tesla T4 has no bf16 support"
    )
    assert "Ampere" in checks["bf16"].fix
    assert (
        checks["GPU memory"].status == "fail"
        and checks["GPU memory"].fix == "use a card with more memory"
    )


def test_memory_below_the_measured_peak_suggests_the_measured_smaller_batch():
    l40 = {"name": "NVIDIA L40S", "total_mib": 46068.0, "free_mib": 45500.0}
    row = by_name(doctor.diagnose(facts(nvidia_smi={"gpus": [l40], "driver": "570"}), bench=BENCH))[
        "GPU memory"
    ]
    assert row.status == "fail"
    assert (
        row.found
        == "44 GiB free; the full profile's CoT-SFT (LoRA batch 8) peaked at 71 GiB on NVIDIA H200"
    )
    assert "per_device_train_batch_size: 4" in row.fix and "measured peak 40 GiB" in row.fix
    assert by_name(doctor.diagnose(facts(), bench=None))["GPU memory"].status == "info"


def test_several_gpus_are_named_and_the_kernels_pinned_to_one():
    checks = by_name(
        doctor.diagnose(facts(nvidia_smi={"gpus": [H100] * 4, "driver": "570"}), bench=BENCH)
    )
    assert checks["several GPUs"].status == "info" and "uses GPU 0" in checks["several GPUs"].found
    assert gpus.single_gpu_env({}, 4) == {"CUDA_VISIBLE_DEVICES": "0"}
    assert gpus.single_gpu_env({}, 1) == {}
    assert gpus.single_gpu_env({"CUDA_VISIBLE_DEVICES": "2,3"}, 2) == {"CUDA_VISIBLE_DEVICES": "2"}
    assert gpus.single_gpu_env({"CUDA_VISIBLE_DEVICES": "3"}, 1) == {}
    assert gpus.single_gpu_env({"WORLD_SIZE": "2"}, 4) == {}  # accelerate launch / torchrun


def test_disk_weights_and_vllm_rows():
    checks = by_name(doctor.diagnose(facts(disk_free_gib=12.4, vllm="0.11.0",
                                          weights={"cached": False, "missing": ["config.json"]}), bench=BENCH))  # fmt: skip
    assert checks["disk"].status == "fail"
    assert checks["disk"].found == "12 GiB free at /srv/rsground, the full profile needs about 40"
    assert checks["weights"].status == "warn"
    assert (
        checks["weights"].fix
        == "download it first, with progress: .venv/bin/hf download Qwen/Qwen2.5-VL-3B-Instruct"
    )
    assert checks["vLLM"].found.startswith(
        "vLLM 0.11.0 installed; the chapters generate rollouts with plain generate"
    )


@pytest.mark.parametrize(
    ("data", "real_data", "status", "text"),
    [
        ({"root": None, "found": [], "missing": {}}, True, "fail", "RSGROUND_DATA is not set"),
        ({"root": None, "found": [], "missing": {}}, False, "info", "none, as asked (--no-real-data)"),
        ({"root": "/d", "found": [], "missing": {"VRSBench val": "/d/vrsbench/records_val.json"}}, True,
         "fail", "under /d: missing VRSBench val (/d/vrsbench/records_val.json)"),
        ({"root": "/d", "error": "/d does not exist", "found": [], "missing": {}}, True, "fail", "/d does not exist"),
        ({"root": "/d", "found": ["a", "b"], "missing": {}}, True, "ok", "2 splits under /d"),
    ],
)  # fmt: skip
def test_real_data_row(data, real_data, status, text):
    row = by_name(doctor.diagnose(facts(data=data), real_data=real_data, bench=BENCH))["real data"]
    assert row.status == status and row.found.startswith(text)


def test_estimate_from_the_measured_step_time_and_not_measured_elsewhere():
    full = {"chapters": {"03_cot_sft": {"use_peft": True, "per_device_train_batch_size": 8,
                                        "max_steps": 500, "gradient_accumulation_steps": 2}}}  # fmt: skip
    rows = doctor.estimate(full, BENCH)
    assert rows[0]["hours"] == pytest.approx(2 * 1000 * 2.1749 / 3600)  # 1.208 h
    assert all(r["hours"] is None and r["basis"] == "never timed on a GPU" for r in rows[1:])
    full["chapters"]["03_cot_sft"]["per_device_train_batch_size"] = 2
    assert doctor.estimate(full, BENCH)[0]["hours"] is None
    text = doctor.report([], rows)
    assert "CoT-SFT training (two runs: plain and CoT): 1.2 h" in text
    assert "RFT (GRPO rollouts and updates): not measured (never timed on a GPU)" in text


def test_data_and_weights_facts_from_folders(tmp_path, monkeypatch):
    from rsground_lib.data import benchmarks

    (tmp_path / "dior_rsvg" / "records").mkdir(parents=True)
    data = doctor._data(str(tmp_path))
    assert data["found"] == ["DIOR-RSVG train", "DIOR-RSVG test"]
    assert set(data["missing"]) == set(benchmarks.REAL_SPLITS) - set(data["found"])
    monkeypatch.delenv("RSGROUND_DATA", raising=False)
    assert doctor._data(None) == {"root": None, "found": [], "missing": {}}
    assert "error" in doctor._data(str(tmp_path / "typo"))
    # a hub cache with the config and one of two shards
    snap = tmp_path / "hub" / "models--org--vlm" / "snapshots" / "abc"
    snap.mkdir(parents=True)
    (tmp_path / "hub" / "models--org--vlm" / "refs").mkdir()
    (tmp_path / "hub" / "models--org--vlm" / "refs" / "main").write_text("abc")
    (snap / "config.json").write_text("{}")
    (snap / "model.safetensors.index.json").write_text(json.dumps(
        {"weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}))  # fmt: skip
    (snap / "model-00001-of-00002.safetensors").write_text("x")
    got = doctor._weights_cached("org/vlm", cache_dir=str(tmp_path / "hub"))
    assert got["cached"] is False and got["missing"] == ["model-00002-of-00002.safetensors"]
    (snap / "model-00002-of-00002.safetensors").write_text("x")
    assert doctor._weights_cached("org/vlm", cache_dir=str(tmp_path / "hub"))["cached"] is True
    assert doctor._weights_cached("org/absent", cache_dir=str(tmp_path / "hub"))["missing"] == [
        "config.json"
    ]


def test_gather_reads_this_machine_and_the_cli_prints_one_screen(capsys, monkeypatch):
    monkeypatch.delenv("RSGROUND_DATA", raising=False)
    got = doctor.gather()
    assert set(got) >= {
        "nvidia_smi",
        "torch",
        "cuda_available",
        "bf16",
        "disk_free_gib",
        "weights",
        "data",
        "vllm",
    }
    assert got["disk_free_gib"] > 0 and got["data"]["root"] is None
    rc = main(["doctor", "--no-real-data"])
    out = capsys.readouterr().out
    assert "[info] real data: none, as asked" in out
    assert "GPU time of the full profile (make reproduce):" in out
    assert rc == (1 if "[fail]" in out else 0)


def test_fetch_weights_downloads_only_what_is_missing(tmp_path):
    """The download (progress bars on, outside any kernel) runs only when a shard is missing;
    the facts after it say cached. A stand-in downloader writes the files a hub would."""
    hub = tmp_path / "hub"
    calls = []

    def download(*, repo_id, cache_dir):
        calls.append(repo_id)
        snap = Path(cache_dir) / "models--org--vlm" / "snapshots" / "abc"
        snap.mkdir(parents=True, exist_ok=True)
        (Path(cache_dir) / "models--org--vlm" / "refs").mkdir(exist_ok=True)
        (Path(cache_dir) / "models--org--vlm" / "refs" / "main").write_text("abc")
        (snap / "config.json").write_text("{}")
        (snap / "model.safetensors").write_text("x")

    got = doctor.fetch_weights("org/vlm", cache_dir=str(hub), download=download)
    assert calls == ["org/vlm"] and got["cached"] is True
    assert doctor.fetch_weights("org/vlm", cache_dir=str(hub), download=download)["cached"]
    assert calls == ["org/vlm"]  # cached: nothing downloaded again
