# Measures the links of the CoT-SFT model's reasoning (rsground_lib.reasoning) for one recipe
# of the CoT-SFT chapter, and writes them as an archived result with its provenance:
#   HF_HUB_OFFLINE=1 .venv/bin/python experiments/reasoning_links.py \
#       --base checkpoints/tiny-base --trace-style compact --threads 1 \
#       --out experiments/reasoning_links_before.json
# The model is trained exactly as book/03_cot_sft.py trains its CoT-SFT run on the smoke
# profile (splits.train_and_val("base", num_train=6400, num_val=512, seed=0); 1,500 steps, batch 16,
# lr 2e-3, 40 warm-up steps, frozen vision, <think>/</think> from <answer>/</answer>, boxes on
# the 4-px grid, compact prompts) from --base with --trace-style, then scored greedily on the
# chapter's 512 class_only and 512 with_position validation scenes (96 new tokens).
"""train one CoT-SFT model as the chapter does and archive its reasoning's links"""

import argparse
import json
import platform
import subprocess
import tempfile
import time
from pathlib import Path

import torch

from rsground_lib import evaluation, models, reasoning, report
from rsground_lib.data import splits
from rsground_lib.training import sft

KEYS = ("pr@0.5", "pick_acc", "chance_pick", "answer_follows_reasoning", *reasoning.LINK_KEYS)

ap = argparse.ArgumentParser()
ap.add_argument("--base", default="checkpoints/tiny-base")
ap.add_argument("--trace-style", default="compact")
ap.add_argument("--threads", type=int, default=1)
ap.add_argument("--out", required=True)
ap.add_argument("--title", default="")
ns = ap.parse_args()
torch.set_num_threads(ns.threads)
train, val = splits.train_and_val("base", num_train=6400, num_val=512, seed=0, image_size=64)
folder = Path(tempfile.mkdtemp()) / "cot_sft"
t0 = time.process_time()
run = sft.train_sft(
    dict(model_name_or_path=ns.base, prompt_style="compact", trace_style=ns.trace_style,
         coord_step=4, freeze_vision=True, init_tokens=dict(sft.THINK_FROM_ANSWER),
         max_steps=1500, per_device_train_batch_size=16, learning_rate=2e-3, warmup_steps=40,
         seed=0, num_threads=ns.threads, output_dir=str(folder), targets="cot"),
    train,
)  # fmt: skip
model, processor = models.load_model(folder)
res, rows = evaluation.evaluate_splits(
    model, processor, val, prompt_style="compact", max_new_tokens=96
)
commit = subprocess.run(
    ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True
).stdout.strip()
cpu = report.cpu_model()
out = {
    "title": ns.title
    or f"The links of the smoke CoT-SFT model's reasoning ({ns.trace_style} traces from {ns.base})",
    "archived": True,
    "produced_by": {
        "commits": [commit],
        "command": f"HF_HUB_OFFLINE=1 .venv/bin/python experiments/reasoning_links.py --base {ns.base} --trace-style {ns.trace_style} --threads {ns.threads} --out {ns.out}",
        "machine": f"{cpu}, {torch.get_num_threads()} torch thread(s), Python {platform.python_version()}, torch {torch.__version__}",
        "cpu": cpu,
    },
    "recipe": {
        "base": ns.base,
        "trace_style": ns.trace_style,
        "steps": run["steps"],
        "train_loss": round(run["train_loss"], 5),
        "cpu_s": round(time.process_time() - t0),
    },
    "scenes": {s: len(v) for s, v in val.items()},
    "splits": {
        s: {k: (None if r[k] != r[k] else round(float(r[k]), 4)) for k in KEYS}
        for s, r in res.items()
    },
    "examples": {
        s: [
            {"expression": rec["expression"], "completion": row["text"].strip()}
            for rec, row in zip(val[s][:4], rows[s][:4], strict=True)
        ]
        for s in val
    },
}
Path(ns.out).write_text(json.dumps(out, indent=1, ensure_ascii=False) + "\n")
print(json.dumps(out["splits"], indent=1))
