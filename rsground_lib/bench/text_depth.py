"""Benchmark ``text_depth``: what the tiny base's deeper text model costs the smoke run — a
CoT-SFT training step (forward, backward, AdamW on a batch of 16 executable traces of base
scenes) and greedy generation of 70-token answers for 32 scenes, with two text layers (the
base before issue 22) and four (the base since), side by side in one run, median of
:data:`REPEATS`. Random weights of the base's sizes: the time of a step does not depend on
them, and generation is held at a fixed length.

Run: ``rsground bench text_depth`` or ``make bench``.
Book chapter: "CoT-SFT" (``book/03_cot_sft.py``, the tiny base checkpoint).
"""

from __future__ import annotations

import statistics
import time

from rsground_lib import conversation, generation, models
from rsground_lib.data import base_scenes
from rsground_lib.training import sft

REPEATS = 5
BATCH = 16
GEN_SCENES = 32
GEN_TOKENS = 70


def _time(fn, repeats: int) -> float:
    seconds = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        seconds.append(time.perf_counter() - t0)
    return statistics.median(seconds)


def run() -> dict:
    """Time a training step and a fixed-length generation for 2 and 4 text layers; print
    and return the medians and the ratios."""
    import torch
    from trl.trainer.sft_trainer import DataCollatorForVisionLanguageModeling

    records = base_scenes.make_records(max(BATCH, GEN_SCENES), seed=5, max_objects=3, mode="mixed")
    rows = []
    for layers in (2, 4):
        model, processor = models.build_tiny_model(0, coord_init_scale=1.0, text_layers=layers)
        examples = sft.sft_examples(
            records[:BATCH],
            processor,
            targets="cot",
            prompt_style="compact",
            trace_style="steps",
            coord_step=4,
        )
        for ex in examples:
            ex.pop("bbox_model", None)
        batch = DataCollatorForVisionLanguageModeling(processor, completion_only_loss=True)(
            examples
        )
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
        model.train()

        def step(model=model, batch=batch, opt=opt):
            loss = model(**batch).loss
            loss.backward()
            opt.step()
            opt.zero_grad()

        step()  # warm-up
        train_s = _time(step, REPEATS)
        model.eval()
        prompts_ = [
            conversation.grounding_example(r, processor, prompt_style="compact")
            for r in records[:GEN_SCENES]
        ]
        enc = conversation.prompt_inputs(processor, prompts_)

        def generate(model=model, enc=enc):
            generation.new_token_ids(
                model, enc, max_new_tokens=GEN_TOKENS, min_new_tokens=GEN_TOKENS, do_sample=False
            )

        gen_s = _time(generate, max(1, REPEATS // 2))
        rows.append(
            {
                "text_layers": layers,
                "parameters": model.num_parameters(),
                "train_step_s": round(train_s, 4),
                "generate_s": round(gen_s, 4),
            }
        )
    ratios = {
        "train_step": round(rows[1]["train_step_s"] / rows[0]["train_step_s"], 3),
        "generate": round(rows[1]["generate_s"] / rows[0]["generate_s"], 3),
    }
    print(f"{'text layers':>11} {'parameters':>11} {'train step s':>13} {'generate s':>11}")
    for r in rows:
        print(
            f"{r['text_layers']:>11} {r['parameters']:>11,} {r['train_step_s']:>13.3f} "
            f"{r['generate_s']:>11.3f}"
        )
    print(f"4 vs 2 layers: train step x{ratios['train_step']}, generation x{ratios['generate']}")
    return {
        "repeats": REPEATS,
        "batch": BATCH,
        "generation": {"scenes": GEN_SCENES, "tokens": GEN_TOKENS},
        "rows": rows,
        "ratio_4_vs_2": ratios,
    }
