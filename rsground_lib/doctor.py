"""``rsground doctor``: what a GPU machine needs before ``make reproduce``, checked on one
screen, each failure one line with its fix (issue 23; the README's "make reproduce" section).

Two halves, so that every check is tested without a GPU: :func:`gather` reads the machine
(``nvidia-smi``, torch, the disk, the Hugging Face cache, ``RSGROUND_DATA``, vLLM) into a
plain dict of facts; :func:`diagnose` turns facts into :class:`Check` rows and is pure.
:func:`estimate` gives the GPU time of the full profile's stages from the step times measured
in ``benchmarks/`` (unmeasured stages say "not measured"). Nothing here is from the paper.
"""

from __future__ import annotations

import importlib.metadata
import json
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rsground_lib import gpus, models, paths
from rsground_lib.data import benchmarks

NEED_DISK_GIB = 40.0
"""Free disk the full profile needs: the weights (about 7.5 GB), two merged 3B checkpoints
(about 7.5 GB each) and the runs' predictions and figures, with room to spare."""

WEIGHTS_GB = 7.5
"""Size of Qwen/Qwen2.5-VL-3B-Instruct's safetensors shards (bf16)."""

VLLM_RANGE = ("0.22", "0.31")
"""The vLLM versions TRL 1.16 accepts (``trl.import_utils``); they pin transformers below the
project's 5.24, so rollouts use plain ``generate`` unless a user builds such an environment."""

FULL_SFT_CASE = "lora_b8"
"""The case of ``benchmarks/bench_sft_h200.json`` that the full profile's CoT-SFT runs (LoRA,
batch 8, no activation checkpointing)."""

SMALLER_SFT_CASE = "lora_b4"
"""The measured case to fall back to on a card with less memory (batch 4, accumulation 4)."""

STATUSES = ("ok", "info", "warn", "fail")


@dataclass(frozen=True)
class Check:
    """One line of the doctor's screen: ``status`` in :data:`STATUSES` (only ``fail`` makes
    ``make reproduce`` stop), what was found, and for a failure or warning how to fix it."""

    name: str
    status: str
    found: str
    fix: str = ""

    def line(self) -> str:
        tail = f" — fix: {self.fix}" if self.fix else ""
        return f"[{self.status:>4}] {self.name}: {self.found}{tail}"


def _weights_cached(model_id: str, cache_dir: str | None = None) -> dict[str, Any]:
    """Whether ``model_id``'s config and every safetensors shard its index names are in the
    local Hugging Face cache (``cache_dir``, default the hub's; no network)."""
    from huggingface_hub import try_to_load_from_cache

    def cached(name: str) -> str | None:
        hit = try_to_load_from_cache(model_id, name, cache_dir=cache_dir)
        return hit if isinstance(hit, str) else None

    if Path(model_id).is_dir():
        return {"cached": True, "where": str(model_id), "missing": []}
    if cached("config.json") is None:
        return {"cached": False, "where": None, "missing": ["config.json"]}
    index = cached("model.safetensors.index.json")
    shards = (
        sorted(set(json.loads(Path(index).read_text())["weight_map"].values()))
        if index
        else ["model.safetensors"]
    )
    missing = [s for s in shards if cached(s) is None]
    return {
        "cached": not missing,
        "where": str(Path(cached("config.json")).parent),
        "missing": missing,
    }


def fetch_weights(model_id: str, *, cache_dir: str | None = None, download=None) -> dict[str, Any]:
    """The weights of ``model_id`` in the local cache, downloading what is missing first with
    progress bars (``huggingface_hub.snapshot_download``, or ``download(repo_id=...,
    cache_dir=...)``) — inside a chapter's kernel the bars are off and a 7.5 GB download looks
    like a hang. Returns :func:`_weights_cached`'s facts after the download."""
    found = _weights_cached(model_id, cache_dir)
    if found["cached"]:
        return found
    if download is None:
        from huggingface_hub import snapshot_download as download
    print(f"rsground doctor: downloading {model_id} (about {WEIGHTS_GB} GB) ...", flush=True)
    download(repo_id=model_id, cache_dir=cache_dir)
    return _weights_cached(model_id, cache_dir)


def _data(data_root: str | None) -> dict[str, Any]:
    """Which of the book's real splits (:data:`rsground_lib.data.benchmarks.REAL_SPLITS`)
    exist under the data root; the images of a split are checked by its reader when a
    chapter loads it."""
    try:
        root = paths.data_root(data_root)
    except FileNotFoundError as exc:
        return {"root": data_root, "error": str(exc), "found": [], "missing": {}}
    if root is None:
        return {"root": None, "found": [], "missing": {}}
    found, missing = [], {}
    for label, spec in benchmarks.REAL_SPLITS.items():
        where = root / spec.path
        (found.append(label) if where.exists() else missing.__setitem__(label, str(where)))
    return {"root": str(root), "found": found, "missing": missing}


def gather(*, model_id: str | None = None, data_root: str | None = None) -> dict[str, Any]:
    """The facts :func:`diagnose` judges, read from this machine (no network, no download)."""
    import torch

    model_id = model_id or models.DEFAULT_MODEL
    cuda = torch.cuda.is_available()
    try:
        vllm = importlib.metadata.version("vllm")
    except importlib.metadata.PackageNotFoundError:
        vllm = None
    disk_at = Path(paths.project_root())
    return {
        "nvidia_smi": gpus.nvidia_smi(),
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "cuda_available": cuda,
        "cuda_devices": torch.cuda.device_count() if cuda else 0,
        "bf16": bool(cuda and torch.cuda.is_bf16_supported()),
        "disk_free_gib": shutil.disk_usage(disk_at).free / 2**30,
        "disk_at": str(disk_at),
        "model_id": model_id,
        "weights": _weights_cached(model_id),
        "data": _data(data_root),
        "vllm": vllm,
    }


def sft_benchmark(root: Path | None = None) -> dict[str, Any] | None:
    """The CoT-SFT step times and peaks measured on a GPU (``benchmarks/bench_sft_h200.json``),
    or None when the file is absent."""
    path = Path(root or paths.project_root()) / "benchmarks" / "bench_sft_h200.json"
    return json.loads(path.read_text()) if path.is_file() else None


def diagnose(
    facts: Mapping[str, Any],
    *,
    real_data: bool = True,
    need_disk_gib: float = NEED_DISK_GIB,
    bench: Mapping[str, Any] | None = None,
) -> list[Check]:
    """The doctor's rows for ``facts`` (:func:`gather`'s dict): the GPU and torch's view of it
    (a driver that torch's CUDA build cannot use is the silent-CPU trap), bf16, several GPUs,
    memory against the full profile's measured CoT-SFT peak (``bench``: the SFT benchmark's
    JSON), disk, the weights, the real data (``real_data=False``: the user said there is
    none), vLLM."""
    rows: list[Check] = []
    smi = facts.get("nvidia_smi")
    gpus = (smi or {}).get("gpus") or []
    if not gpus:
        rows.append(Check("GPU", "fail", "no NVIDIA GPU (nvidia-smi absent or silent)",
                          "make reproduce needs an NVIDIA GPU; on a CPU run make smoke"))  # fmt: skip
    else:
        names = ", ".join(g["name"] for g in gpus)
        rows.append(Check("GPU", "ok", f"{len(gpus)} × {names} (driver {smi.get('driver')})"))
    if gpus and not facts.get("cuda_available"):
        rows.append(Check(
            "torch on the GPU", "fail",
            f"torch {facts.get('torch')} (CUDA build {facts.get('torch_cuda') or 'none: a CPU build'}) "
            f"cannot use the GPU under driver {smi.get('driver')}: everything would run on the "
            "CPU in float32",
            "install a torch build for this driver (https://pytorch.org/get-started/locally/), "
            "e.g. .venv/bin/pip install torch --index-url https://download.pytorch.org/whl/cu126 "
            "for drivers >= 560; a venv first built without nvidia-smi has the CPU build: "
            "rm -rf .venv && make setup",
        ))  # fmt: skip
    elif gpus:
        rows.append(Check("torch on the GPU", "ok",
                          f"torch {facts.get('torch')}, CUDA {facts.get('torch_cuda')}"))  # fmt: skip
        if not facts.get("bf16"):
            rows.append(Check("bf16", "fail", f"{gpus[0]['name']} has no bf16 support",
                              "the full profile trains in bf16: use an Ampere or newer GPU "
                              "(A100, A10, L4, L40, H100, RTX 30xx or later)"))  # fmt: skip
        else:
            rows.append(Check("bf16", "ok", "supported"))
    if len(gpus) > 1:
        rows.append(Check("several GPUs", "info",
                          f"{len(gpus)} GPUs: the book runs in one process and uses GPU 0 "
                          "(CUDA_VISIBLE_DEVICES=0 is set for its kernels)",
                          ""))  # fmt: skip
    if gpus:
        rows.append(_memory_check(gpus[0], bench))
    free = float(facts.get("disk_free_gib", 0.0))
    rows.append(
        Check("disk", "ok", f"{free:.0f} GiB free at {facts.get('disk_at')}")
        if free >= need_disk_gib
        else Check(
            "disk",
            "fail",
            f"{free:.0f} GiB free at {facts.get('disk_at')}, "
            f"the full profile needs about {need_disk_gib:.0f}",
            "free space, or set RSGROUND_RUNS and HF_HOME to a larger disk",
        )  # fmt: skip
    )
    weights = facts.get("weights") or {}
    model_id = facts.get("model_id")
    if weights.get("cached"):
        rows.append(Check("weights", "ok", f"{model_id} cached ({weights.get('where')})"))
    else:
        rows.append(Check(
            "weights", "warn",
            f"{model_id} not in the local cache (missing: {', '.join(weights.get('missing') or [])}): "
            f"the first chapter downloads about {WEIGHTS_GB} GB with no progress shown",
            f"download it first, with progress: .venv/bin/hf download {model_id}",
        ))  # fmt: skip
    rows.append(_data_check(facts.get("data") or {}, real_data))
    vllm = facts.get("vllm")
    lo, hi = VLLM_RANGE
    rows.append(Check(
        "vLLM", "info",
        (f"vLLM {vllm} installed" if vllm else "not installed")
        + f"; the chapters generate rollouts with plain generate (use_vllm off): TRL accepts "
        f"vLLM {lo}–{hi}, whose releases pin a transformers older than the project's 5.24",
    ))  # fmt: skip
    return rows


def _memory_check(gpu: Mapping[str, Any], bench: Mapping[str, Any] | None) -> Check:
    free_gib = float(gpu["free_mib"]) / 1024
    cases = (bench or {}).get("cases", {})
    full, small = cases.get(FULL_SFT_CASE), cases.get(SMALLER_SFT_CASE)
    if not full:
        return Check("GPU memory", "info", f"{free_gib:.0f} GiB free; the full profile's peak "
                     "is not measured (benchmarks/bench_sft_h200.json absent)")  # fmt: skip
    need = float(full["peak_memory_gib"])
    where = (bench or {}).get("device", "a GPU")
    if free_gib >= need * 1.05:
        return Check("GPU memory", "ok", f"{free_gib:.0f} GiB free; the full profile's CoT-SFT "
                     f"peaked at {need:.0f} GiB on {where}")  # fmt: skip
    fix = "use a card with more memory"
    if small and free_gib >= float(small["peak_memory_gib"]) * 1.05:
        fix = (
            "in a copy of params/full.yml set 03_cot_sft per_device_train_batch_size: 4 and "
            f"gradient_accumulation_steps: 4 (measured peak {float(small['peak_memory_gib']):.0f} GiB) "
            "and pass it: rsground book --profile that.yml"
        )
    return Check("GPU memory", "fail", f"{free_gib:.0f} GiB free; the full profile's CoT-SFT "
                 f"(LoRA batch 8) peaked at {need:.0f} GiB on {where}", fix)  # fmt: skip


def _data_check(data: Mapping[str, Any], real_data: bool) -> Check:
    if not real_data:
        return Check("real data", "info", "none, as asked (--no-real-data): the real-data "
                     "sections of the book say 'not measured'")  # fmt: skip
    if data.get("error"):
        return Check("real data", "fail", data["error"], "fix RSGROUND_DATA or unset it")
    if data.get("root") is None:
        return Check("real data", "fail", "RSGROUND_DATA is not set",
                     "export RSGROUND_DATA=/path/holding dior_rsvg/, vrsbench/, rsvg_hr/ "
                     "(README, 'Real data'), or run rsground doctor --no-real-data to go on "
                     "without")  # fmt: skip
    missing = data.get("missing") or {}
    if missing:
        listed = "; ".join(f"{label} ({where})" for label, where in missing.items())
        return Check("real data", "fail", f"under {data['root']}: missing {listed}",
                     "place each benchmark in the layout of the README's 'Real data' section, "
                     "or --no-real-data")  # fmt: skip
    return Check("real data", "ok", f"{len(data.get('found') or [])} splits under {data['root']}")


def estimate(full_profile: Mapping[str, Any], bench: Mapping[str, Any] | None) -> list[dict]:
    """GPU time of the full profile's training stages from measured step times: CoT-SFT from
    the SFT benchmark's case that matches the profile's batch and checkpointing (wall seconds
    per device step, data loading included, times steps × accumulation); every other stage
    "not measured". Rows ``{"stage", "hours", "basis"}`` (``hours`` None when not measured)."""
    chapters = full_profile.get("chapters", {})
    sft = chapters.get("03_cot_sft", {})
    rows = []
    case = None
    for c in ((bench or {}).get("cases") or {}).values():
        if (
            c.get("lora") == bool(sft.get("use_peft"))
            and int(c.get("batch_size", -1)) == int(sft.get("per_device_train_batch_size", 0))
            and not c.get("gradient_checkpointing")
        ):
            case = c
    if case is not None:
        device_steps = int(sft.get("max_steps", 0)) * int(sft.get("gradient_accumulation_steps", 1))
        seconds = device_steps * float(case["wall_s_per_step_incl_data"])
        rows.append({"stage": "CoT-SFT training (two runs: plain and CoT)",
                     "hours": 2 * seconds / 3600,
                     "basis": f"{device_steps} device steps × {case['wall_s_per_step_incl_data']} s "
                              f"measured on {bench.get('device')}, per run"})  # fmt: skip
    else:
        rows.append({"stage": "CoT-SFT training", "hours": None,
                     "basis": "no benchmark case with the profile's batch"})  # fmt: skip
    for stage in ("CoT-SFT evaluation (generation)", "RFT (GRPO rollouts and updates)",
                  "evaluation chapter", "map chapter"):  # fmt: skip
        rows.append({"stage": stage, "hours": None, "basis": "never timed on a GPU"})
    return rows


def report(checks: Sequence[Check], estimates: Sequence[Mapping[str, Any]]) -> str:
    """The doctor's screen: one line per check, then the estimates."""
    lines = [c.line() for c in checks]
    lines.append("GPU time of the full profile (make reproduce):")
    for row in estimates:
        hours = "not measured" if row["hours"] is None else f"{row['hours']:.1f} h"
        lines.append(f"  {row['stage']}: {hours} ({row['basis']})")
    failed = [c.name for c in checks if c.status == "fail"]
    lines.append(
        f"{len(failed)} problem(s) to fix first: {', '.join(failed)}" if failed else "ready"
    )
    return "\n".join(lines)


def failed(checks: Sequence[Check]) -> bool:
    """Whether any check failed (``rsground doctor`` then exits 1)."""
    return any(c.status == "fail" for c in checks)


__all__ = [
    "Check",
    "diagnose",
    "estimate",
    "failed",
    "fetch_weights",
    "gather",
    "report",
]
