# A text skill probe on the committed base grown to N text layers:
#   HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1 .venv/bin/python experiments/text_skills_probes/probe.py \
#       NAME key=value ...   (text_skills_warm_start keywords, layers=4, data={...} as JSON)
# Logs to runs/probes/NAME.jsonl: the loss every 100 steps and the held-out skills (400
# sequences, greedy exact match) every eval_steps.
import json
import sys
import time

import torch

from rsground_lib import models
from rsground_lib.data import text_skills
from rsground_lib.training import tiny_base, warm_start

torch.set_num_threads(1)
name = sys.argv[1]
kv = {k: json.loads(v) for k, v in (a.split("=", 1) for a in sys.argv[2:])}
layers = kv.pop("layers", 4)
base = kv.pop("base", "checkpoints/tiny-base")
if base == "build":  # a fresh tiny model of the base's sizes with `layers` text layers
    model, processor = models.build_tiny_model(0, coord_init_scale=1.0, text_layers=layers)
else:
    model, processor = models.load_model(base)
    models.grow_text_layers(model, layers, seed=0)
held = text_skills.make_examples(400, seed=20_000, **kv.get("data", {}))
t0 = time.process_time()
out = open(f"runs/probes/{name}.jsonl", "w")


def log(rec):
    rec["cpu_s"] = round(time.process_time() - t0, 1)
    out.write(json.dumps(rec) + "\n")
    out.flush()


from rsground_lib import evaluation  # noqa: E402

shown = [
    next(e for e in held if e["skill"] == s)
    for s in text_skills.SKILLS
    if any(e["skill"] == s for e in held)
]


def eval_fn():
    res = tiny_base.evaluate_text_skills(model, processor, held)
    res["samples"] = [
        [e["prompt"], e["completion"], o]
        for e, o in zip(
            shown,
            evaluation.generate_text(
                model, processor, [e["prompt"] for e in shown], max_new_tokens=60
            ),
            strict=True,
        )
    ]
    return res


res = warm_start.text_skills_warm_start(
    model,
    processor,
    eval_fn=eval_fn,
    log=log,
    **{"eval_steps": 500, **kv},
)
models.save(model, processor, f"runs/probes/{name}")
log({"done": res})
