"""The accelerate configs for GPU machines parse with accelerate's own config class."""

from __future__ import annotations

import pytest
from accelerate.commands.config.config_args import ClusterConfig
from accelerate.utils import DistributedType


@pytest.mark.parametrize(
    ("name", "kind", "processes"),
    [
        ("single_gpu", DistributedType.NO, 1),
        ("multi_gpu", DistributedType.MULTI_GPU, 8),
        ("deepspeed_zero2", DistributedType.DEEPSPEED, 8),
        ("deepspeed_zero3", DistributedType.DEEPSPEED, 8),
    ],
)
def test_accelerate_config_loads(project_root, name, kind, processes):
    cfg = ClusterConfig.from_yaml_file(project_root / "configs" / "accelerate" / f"{name}.yaml")
    assert cfg.distributed_type == kind
    assert cfg.num_processes == processes
    assert str(cfg.mixed_precision) == "bf16"
    if kind == DistributedType.DEEPSPEED:
        assert cfg.deepspeed_config["zero_stage"] in (2, 3)
