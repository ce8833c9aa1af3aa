"""The GPUs of this machine as ``nvidia-smi`` lists them, and the environment that keeps the
book's single process on one of them (issue 23; used by ``rsground doctor`` and the book
build; explained in the README's ``make reproduce`` section). No torch, nothing of ours."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping
from typing import Any


def nvidia_smi() -> dict[str, Any] | None:
    """GPUs as ``nvidia-smi`` lists them (name, total and free memory in MiB, driver), or
    None when it is absent or does not answer."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return None
    try:
        out = subprocess.run(
            [exe, "--query-gpu=name,memory.total,memory.free,driver_version",
             "--format=csv,noheader,nounits"],
            capture_output=True, text=True, timeout=30, check=True,
        ).stdout  # fmt: skip
    except (OSError, subprocess.SubprocessError) as exc:
        return {"error": str(exc), "gpus": [], "driver": None}
    gpus, driver = [], None
    for row in out.strip().splitlines():
        name, total, free, driver = (x.strip() for x in row.split(","))
        gpus.append({"name": name, "total_mib": float(total), "free_mib": float(free)})
    return {"gpus": gpus, "driver": driver}


def single_gpu_env(environ: Mapping[str, str], gpu_count: int) -> dict[str, str]:
    """The environment additions that pin the book's kernels to one GPU: with several GPUs
    visible and no ``CUDA_VISIBLE_DEVICES``, ``{"CUDA_VISIBLE_DEVICES": "0"}`` — in one process
    the Trainer would wrap the model in ``nn.DataParallel``, which mis-splits Qwen2.5-VL's
    flattened ``pixel_values``. A ``CUDA_VISIBLE_DEVICES`` listing several is narrowed to its
    first entry; under a distributed launcher (``WORLD_SIZE`` set) nothing changes."""
    if "WORLD_SIZE" in environ:
        return {}
    visible = environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        ids = [x for x in visible.split(",") if x.strip()]
        return {"CUDA_VISIBLE_DEVICES": ids[0].strip()} if len(ids) > 1 else {}
    return {"CUDA_VISIBLE_DEVICES": "0"} if gpu_count > 1 else {}


__all__ = ["nvidia_smi", "single_gpu_env"]
