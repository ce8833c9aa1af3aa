# The script that produced the archived RFT sweep (experiments/rft_probes.json), committed
# as it was run from /tmp/rft/ (only its lint fixed) on the reference machine (2 cores, no GPU), once per arm:
#   HF_HUB_OFFLINE=1 .venv/bin/python experiments/rft_probes.py name=a1 max_steps=250 learning_rate=5e-5
#   ... name=a2 max_steps=250 learning_rate=5e-5 consistency_kappa=0
#   ... name=a3 max_steps=250 learning_rate=1e-4
#   ... name=a4 max_steps=250 learning_rate=1e-4 consistency_kappa=0
#   ... name=a5 max_steps=250 learning_rate=5e-5 'reward_funcs=["format","iou","positional","reasoning_agreement"]'
# Each arm: rsground_lib.training.rft.train_rft from the smoke CoT-SFT model with the RFT
# chapter's settings (8 prompts x 8 completions per step, temperature 0.9, beta 0.04,
# kappa 5 / w_min 0.1 unless set, 96-token completions, frozen vision, 2 threads) on
# splits.train_and_val("base", num_train=6400, num_val=512, seed=0), then both models scored on the
# 512 + 512 validation scenes and compared scene by scene (exact McNemar p). Results are
# appended to /tmp/rft/results.jsonl.
"""train + evaluate one RFT arm; args as key=value pairs (RftConfig fields) plus name=..."""

import json
import pickle
import sys
import time
from pathlib import Path

import torch

from rsground_lib import evaluation, metrics, models
from rsground_lib.data import splits
from rsground_lib.training import rft

kv = dict(a.split("=", 1) for a in sys.argv[1:])
name = kv.pop("name")
vals = dict(
    model_name_or_path="runs/smoke/03_cot_sft/cot_sft",
    output_dir=f"/tmp/rft/{name}",
    per_device_train_batch_size=64,
    num_generations=8,
    max_completion_length=96,
    num_threads=2,
    freeze_vision=True,
)
for k, v in kv.items():
    vals[k] = json.loads(
        v
    )  # every value given was JSON (numbers, a list); as run it fell back to the raw string
train, val = splits.train_and_val("base", num_train=6400, num_val=512, seed=0, image_size=64)
torch.set_num_threads(2)
cache = Path("/tmp/rft/start_rows.pkl")
if cache.exists():
    start_res, start_rows = pickle.loads(cache.read_bytes())
else:
    t = time.time()
    m, p = models.load_model("runs/smoke/03_cot_sft/cot_sft")
    start_res, start_rows = evaluation.evaluate_splits(
        m, p, val, prompt_style="compact", max_new_tokens=96
    )
    cache.write_bytes(pickle.dumps((start_res, start_rows)))
    print("start eval s", time.time() - t, flush=True)
t = time.time()
s = rft.train_rft(vals, train)
tt = time.time() - t
t = time.time()
m, p = models.load_model(vals["output_dir"])
res, rows = evaluation.evaluate_splits(m, p, val, prompt_style="compact", max_new_tokens=96)
te = time.time() - t
out = {"name": name, **kv, "train_s": round(tt), "eval_s": round(te)}
for sp in val:
    ph = metrics.paired_hits([r["iou"] for r in start_rows[sp]], [r["iou"] for r in rows[sp]])
    out[sp] = {
        "start": round(start_res[sp]["pr@0.5"], 3),
        "rft": round(res[sp]["pr@0.5"], 3),
        "p": round(ph["p_value"], 4),
        "follows": (
            round(start_res[sp]["answer_follows_reasoning"], 3),
            round(res[sp]["answer_follows_reasoning"], 3),
        ),
        "pick": (round(start_res[sp]["pick_acc"], 3), round(res[sp]["pick_acc"], 3)),
        "parse": round(res[sp]["parse_rate"], 3),
    }
print("RESULT", json.dumps(out), flush=True)
with open("/tmp/rft/results.jsonl", "a") as f:
    f.write(json.dumps(out) + "\n")
