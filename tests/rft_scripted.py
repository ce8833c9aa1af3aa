"""Scripted rollouts for the RFT trainer tests: the real trainer and the real tiny base
(log-probabilities, rewards, advantages, loss and optimizer are TRL's and ours), with the
*sampled text* fixed by a table, so that two runs — one process and two, κ = 0 and κ > 0 — see
the same completions. Used by ``tests/test_rft.py`` and run as a script by ``torchrun`` in
the distributed test:

    torchrun --nproc_per_node 2 tests/rft_scripted.py OUT_DIR NPROC
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from rsground_lib.data import base_scenes
from rsground_lib.training import rft

CHECKPOINT = Path(__file__).resolve().parents[1] / "checkpoints" / "tiny-base"


def scripted_text(step: int, row: int) -> str:
    """The completion of global row ``row`` at generation ``step``: a reasoning box and an
    answer box drawn from a generator seeded by both (reproducible in any process)."""
    rng = np.random.default_rng(1000 * step + row)
    x1, y1 = rng.integers(0, 48, size=2)
    w, h = rng.integers(4, 16, size=2)
    box = [int(x1), int(y1), int(x1 + w), int(y1 + h)]
    text = f"[{box[0]}, {box[1]}, {box[2]}, {box[3]}]"
    return f"<think>{text}</think><answer>{text}</answer>"


class ScriptedTrainer(rft.ConsistencyGRPOTrainer):
    """:class:`rsground_lib.training.rft.ConsistencyGRPOTrainer` whose completions come from
    ``script(step, global_row) -> text`` instead of sampling."""

    script = staticmethod(scripted_text)

    def _generate_single_turn(
        self, prompt_ids, images, multimodal_fields, num_generations, has_tool_images=False
    ):
        step = getattr(self, "_scripted_calls", 0)
        self._scripted_calls = step + 1
        tok = self.processing_class.tokenizer
        offset = self.accelerator.process_index * len(prompt_ids)
        out = []
        for i in range(len(prompt_ids)):
            ids = tok(self.script(step, offset + i), add_special_tokens=False)["input_ids"]
            out.append(list(ids) + [tok.eos_token_id])
        return out, None


def records(n: int, seed: int = 3) -> list[dict]:
    """``n`` 64-px base scenes with two or three instances of the target's class."""
    return base_scenes.make_records(n, seed=seed, image_size=64, max_objects=3, mode="multi")


def main(out_dir: str, nproc: int) -> None:
    """Two GRPO steps on 3 prompts × 4 completions per step (12 rows; with two processes,
    6 per process, so the second prompt's group spans both); writes each step's group
    weights (``weights.json``) and the trained parameters (``params.pt``) to ``out_dir``."""
    import torch

    torch.manual_seed(0)
    cfg = rft.RftConfig.from_dict(
        {
            "model_name_or_path": str(CHECKPOINT),
            "output_dir": out_dir,
            "max_steps": 2,
            "per_device_train_batch_size": 12 // nproc,
            "num_generations": 4,
            "max_completion_length": 40,
            # plain SGD: the update is proportional to the gradient (Adam's first step is
            # lr·sign(g), which turns float-rounding differences of tiny gradients into ±lr)
            "optim": "sgd",
            "learning_rate": 0.05,
            "beta": 0.04,
            "consistency_kappa": 5.0,
            "consistency_w_min": 0.1,
            "num_threads": 1,
            "logging_steps": 1,
        }
    )
    trainer = rft.build_rft_trainer(cfg, records(6), trainer_class=ScriptedTrainer)
    seen = []
    original = trainer._generate_and_score_completions

    def spy(inputs):
        out = original(inputs)
        seen.append([float(w) for w in trainer.last_group_weights["weights"]])
        return out

    trainer._generate_and_score_completions = spy
    trainer.train()
    if trainer.accelerator.is_main_process:
        params = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}
        torch.save(params, Path(out_dir) / "params.pt")
        (Path(out_dir) / "weights.json").write_text(json.dumps({"weights": seen, "nproc": nproc}))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
