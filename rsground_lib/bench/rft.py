"""RFT step benchmark: generation tokens/s, step time and peak memory of GRPO steps on a
model of Qwen2.5-VL-3B-Instruct's shape (random weights built from its configuration:
nothing is downloaded), through the project's own stage-(c) trainer
(:func:`rsground_lib.training.rft.build_rft_trainer` → :class:`rsground_lib.training.rft.
ConsistencyGRPOTrainer`, TRL's ``GRPOTrainer``). The GRPO counterpart of
:mod:`rsground_lib.bench.sft`, whose model shapes, :func:`~rsground_lib.bench.sft.build`
and record folders it reuses.

It sizes the full profile's RFT run on one GPU before any checkpoint is at hand::

    python -m rsground_lib.bench.rft --shape qwen2_5_vl_3b --records DIR --out result.json

``DIR`` holds records saved by :func:`rsground_lib.bench.sft.save_records` (PNG +
``records.json``), e.g. the full profile's 800-px synthetic scenes::

    python -c "from rsground_lib.data import synthetic; from rsground_lib.bench import sft
    ds = synthetic.make_dataset(8, seed=0, image_size=800)
    sft.save_records([ds[i] for i in range(len(ds))], 'runs/bench_records_800')"

Each step is one GRPO generation of ``2 prompts × G = 8`` completions and one optimizer
step on them (no gradient accumulation; the full profile generates for 4 such device
steps at once and accumulates their gradients).
Measured per case: generation tokens/s (completion tokens generated / seconds inside the
trainer's ``_generate_single_turn``), the step time with and without generation (medians
over the steps after the first), wall seconds per step from the trainer's runtime, and the
peak CUDA memory. A random-weight model (almost) never samples EOS, so every completion
runs to ``max_completion_length``: the worst case for generation time and memory. The
rewards of random text are all equal (nothing parses), so the advantages are 0; the loss,
its backward and the optimizer step are computed all the same. Generation is transformers'
``generate`` (``use_vllm=False``: vLLM would need the weights on disk). ``--shape tiny``
runs the same path on CPU in seconds (the test, and :func:`run` for ``make bench``).
Book chapter: "Reinforcement fine-tuning" (the full profile).
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
from pathlib import Path

from rsground_lib.bench import sft as bench_sft
from rsground_lib.data import base_scenes
from rsground_lib.training import rft

NUM_GENERATIONS = 8
"""Completions per prompt (G): the full profile's."""
PROMPTS_PER_STEP = 2
"""Prompts per device step: the full profile's (``per_device_train_batch_size`` 16)."""
MAX_COMPLETION_LENGTH = {"qwen2_5_vl_3b": 256, "tiny": 32}
"""Default ``max_completion_length`` per shape (the full profile allows 1,024 tokens)."""
LORA_BETA = 0.04
"""KL coefficient of the LoRA cases, the full profile's: the reference log-probabilities are
the policy's with the adapters disabled (one more forward per step, no second model)."""

CASES = {
    "lora_g8_ckpt": {"lora": True, "grad_ckpt": True, "beta": LORA_BETA},
    "lora_g8": {"lora": True, "grad_ckpt": False, "beta": LORA_BETA},
    "full_g8_ckpt": {"lora": False, "grad_ckpt": True, "beta": 0.0},
}
"""The measured settings, in the order they run: the full profile's (LoRA r 64, α 128,
β 0.04, activation checkpointing), the same without checkpointing, and full fine-tuning
with it (vision tower frozen, as in the full profile). Full fine-tuning runs with β = 0:
with β > 0 TRL would load a reference copy of the model from ``config._name_or_path``,
which a random-weight model does not have (and its weights would add to the memory)."""


def run_case(
    model,
    processor,
    records,
    *,
    lora: bool,
    grad_ckpt: bool,
    beta: float,
    steps: int,
    max_completion_length: int,
    out_dir,
    prompt_style: str = "full",
    num_threads: int = 0,
) -> dict:
    """Time ``steps`` GRPO steps of ``model`` on the prompts of ``records`` (the first step is
    warm-up, not counted in the medians)."""
    import torch
    from transformers import TrainerCallback

    cuda = torch.cuda.is_available()

    def sync():
        if cuda:
            torch.cuda.synchronize()

    step_times: list[float] = []
    gen_times: list[float] = []
    gen_lengths: list[list[int]] = []  # completion tokens of each completion, per generation

    class Timer(TrainerCallback):
        def on_step_begin(self, args, state, control, **kw):
            sync()
            self.t = time.perf_counter()

        def on_step_end(self, args, state, control, **kw):
            sync()
            step_times.append(time.perf_counter() - self.t)

    cfg = rft.RftConfig.from_dict(
        {
            "output_dir": str(out_dir),
            "max_steps": steps,
            "per_device_train_batch_size": PROMPTS_PER_STEP * NUM_GENERATIONS,
            "num_generations": NUM_GENERATIONS,
            "max_completion_length": max_completion_length,
            "learning_rate": 1e-5,
            "beta": beta,
            "temperature": 0.9,
            "use_peft": lora,
            "lora_r": 64,
            "lora_alpha": 128,
            "activation_checkpointing": grad_ckpt,
            "freeze_vision": True,
            "use_vllm": False,
            "prompt_style": prompt_style,
            "num_threads": num_threads,
            "logging_steps": 1,
            "seed": 0,
        }
    )
    # The prompts a run of `steps` steps draws (TRL's sampler repeats each prompt G times).
    n_prompts = steps * PROMPTS_PER_STEP
    train_records = (list(records) * -(-n_prompts // len(records)))[:n_prompts]
    if cuda:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    trainer = rft.build_rft_trainer(
        cfg, train_records, model=model, processor=processor, callbacks=[Timer()]
    )
    generate = trainer._generate_single_turn

    def timed_generate(*args, **kwargs):
        sync()
        t0 = time.perf_counter()
        completion_ids, logprobs = generate(*args, **kwargs)
        sync()
        gen_times.append(time.perf_counter() - t0)
        gen_lengths.append([len(ids) for ids in completion_ids])
        return completion_ids, logprobs

    trainer._generate_single_turn = timed_generate
    trainable = sum(p.numel() for p in trainer.model.parameters() if p.requires_grad)
    out = trainer.train()
    if len(gen_times) != len(step_times):
        raise RuntimeError(
            f"bench.rft: {len(gen_times)} generations in {len(step_times)} steps; expected one "
            "per step (no gradient accumulation)"
        )
    first = 1 if len(step_times) > 1 else 0
    timed = range(first, len(step_times))
    step_s = statistics.median(step_times[i] for i in timed)
    update_s = statistics.median(step_times[i] - gen_times[i] for i in timed)
    gen_tokens = sum(sum(gen_lengths[i]) for i in timed)
    gen_s = sum(gen_times[i] for i in timed)
    lengths = [n for per_step in gen_lengths for n in per_step]
    logs = [h for h in trainer.state.log_history if "frac_reward_zero_std" in h]
    return {
        "lora": lora,
        "gradient_checkpointing": grad_ckpt,
        "beta": beta,
        "prompts_per_step": PROMPTS_PER_STEP,
        "num_generations": NUM_GENERATIONS,
        "max_completion_length": max_completion_length,
        "trainable_parameters": int(trainable),
        "steps": len(step_times),
        "steps_timed": len(timed),
        # Completion tokens generated / seconds inside generation, over the timed steps.
        "gen_tokens_per_s": round(gen_tokens / gen_s, 1),
        "gen_s_median": round(statistics.median(gen_times[i] for i in timed), 4),
        # The whole step: the prompts through the processor (images), generation, rewards
        # and advantages, the loss's forward (and the reference's, β > 0), backward and the
        # optimizer step.
        "step_s_median": round(step_s, 4),
        # The step without generation: the processor, rewards, forward(s), backward and the
        # optimizer step.
        "optimizer_step_s_median": round(update_s, 4),
        # train_runtime / steps: every step including the first and the batches' fetching.
        "wall_s_per_step_incl_generation": round(out.metrics["train_runtime"] / steps, 4),
        "step_s_all": [round(t, 4) for t in step_times],
        "gen_s_all": [round(t, 4) for t in gen_times],
        "completion_tokens_all": [sum(per_step) for per_step in gen_lengths],
        "completions": len(lengths),
        "completion_length_min": min(lengths),
        "completion_length_max": max(lengths),
        "completions_at_max_length_share": round(
            sum(n == max_completion_length for n in lengths) / len(lengths), 4
        ),
        # The trainer's own logs: its step_time (training_step, generation included) and the
        # share of groups whose rewards are all equal (1.0: no advantage, see NOTES).
        "trl_step_time_all": [round(h["step_time"], 4) for h in logs if "step_time" in h],
        "frac_reward_zero_std_all": [h["frac_reward_zero_std"] for h in logs],
        "peak_memory_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if cuda else None,
    }


def _versions() -> dict:
    import torch
    import transformers
    import trl

    return {
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "trl": trl.__version__,
    }


NOTES = {
    "completion_length": "random weights (almost) never sample EOS: every completion runs to "
    "max_completion_length (completions_at_max_length_share), the worst case of generation",
    "beta": "LoRA cases: beta 0.04 (the full profile's; reference = adapters disabled). Full "
    "fine-tuning: beta 0 (TRL would load a reference copy from disk, which random weights lack)",
    "rewards": "random text never parses: all rewards equal (frac_reward_zero_std_all), "
    "advantages 0; loss, backward and optimizer step run all the same",
    "generation": "transformers generate (use_vllm False), temperature 0.9",
    "step": "one generation of prompts_per_step x num_generations completions and one optimizer "
    "step per step (no gradient accumulation; the full profile generates for 4 device steps "
    "at once and accumulates them)",
}


def main(argv=None) -> int:
    import torch

    p = argparse.ArgumentParser(prog="python -m rsground_lib.bench.rft")
    p.add_argument("--shape", default="qwen2_5_vl_3b", choices=["qwen2_5_vl_3b", "tiny"])
    p.add_argument("--records", required=True, help="folder written by bench.sft.save_records")
    p.add_argument("--cases", default=",".join(CASES))
    p.add_argument("--steps", type=int, default=4, help="GRPO steps per case (first: warm-up)")
    p.add_argument(
        "--max-completion-length", type=int, default=None,
        help=f"completion tokens (default per shape: {MAX_COMPLETION_LENGTH})",
    )  # fmt: skip
    p.add_argument("--prompt-style", default="full", choices=["full", "compact"])
    p.add_argument("--num-threads", type=int, default=0, help="torch CPU threads; 0: default")
    p.add_argument("--out", required=True, help="result JSON file")
    ns = p.parse_args(argv)
    names = ns.cases.split(",")
    for name in names:
        if name not in CASES:
            raise SystemExit(f"--cases: unknown case {name!r}; expected some of {list(CASES)}")
    if ns.steps < 1:
        raise SystemExit(f"--steps: expected >= 1; got {ns.steps}")
    if ns.num_threads:
        torch.set_num_threads(ns.num_threads)
    max_len = ns.max_completion_length or MAX_COMPLETION_LENGTH[ns.shape]
    cuda = torch.cuda.is_available()
    device = "cuda" if cuda else "cpu"
    dtype = torch.bfloat16 if cuda else torch.float32
    records = bench_sft.load_records(ns.records)
    result = {
        "shape": ns.shape,
        "device": torch.cuda.get_device_name() if cuda else "cpu",
        **_versions(),
        "max_completion_length": max_len,
        "prompt_style": ns.prompt_style,
        "n_records": len(records),
        "notes": NOTES,
        "cases": {},
    }
    for name in names:
        result["cases"][name] = _run_named(
            name,
            ns.shape,
            records,
            device,
            dtype,
            result,
            steps=ns.steps,
            max_completion_length=max_len,
            prompt_style=ns.prompt_style,
            num_threads=ns.num_threads,
        )
        print(json.dumps({name: result["cases"][name]}), flush=True)
        Path(ns.out).write_text(json.dumps(result, indent=2) + "\n")
    return 0


def _run_named(name, shape, records, device, dtype, result, **kwargs) -> dict:
    """Build a fresh random model of ``shape`` and run case ``name`` on it; an out-of-memory
    error is a measured outcome, reported as such."""
    import torch

    cuda = torch.cuda.is_available()
    t0 = time.time()
    # As train_rft does: full fine-tuning keeps float32 master weights (bf16 autocast);
    # LoRA trains float32 adapters over a bf16 base.
    case_dtype = dtype if CASES[name]["lora"] else torch.float32
    torch.manual_seed(0)
    model, processor = bench_sft.build(shape, device=device, dtype=case_dtype)
    result["parameters"] = sum(p.numel() for p in model.parameters())
    try:
        out_dir = f"/tmp/bench_rft_{name}"
        res = run_case(model, processor, records, out_dir=out_dir, **CASES[name], **kwargs)
    except torch.OutOfMemoryError as exc:
        res = {"error": f"out of memory: {exc}"}
    res["case_wall_s"] = round(time.time() - t0, 1)
    res["weights_dtype"] = str(case_dtype).replace("torch.", "")
    del model
    gc.collect()  # the trainer of a failed case, before the next model is built
    if cuda:
        torch.cuda.empty_cache()
    return res


def run() -> dict:
    """``make bench``: the tiny shape on this machine (CPU: one thread), 3 GRPO steps of LoRA
    and of full fine-tuning, 16-token completions; prints a table and returns the result."""
    import torch

    cuda = torch.cuda.is_available()
    if not cuda:
        torch.set_num_threads(1)
    records = base_scenes.make_records(4, seed=1, image_size=112, max_objects=3, mode="mixed")
    max_len = 16
    result = {
        "shape": "tiny",
        "device": torch.cuda.get_device_name() if cuda else "cpu",
        **_versions(),
        "max_completion_length": max_len,
        "prompt_style": "compact",
        "n_records": len(records),
        "notes": NOTES,
        "cases": {},
    }
    for name in ("lora_g8", "full_g8_ckpt"):
        result["cases"][name] = _run_named(
            name,
            "tiny",
            records,
            "cuda" if cuda else "cpu",
            torch.bfloat16 if cuda else torch.float32,
            result,
            steps=3,
            max_completion_length=max_len,
            prompt_style="compact",
        )
    print(f"{'case':<14} {'gen tok/s':>10} {'gen s':>7} {'step s':>7} {'opt s':>7} {'wall s':>7}")
    for name, r in result["cases"].items():
        if "error" in r:
            print(f"{name:<14} {r['error'][:60]}")
            continue
        print(
            f"{name:<14} {r['gen_tokens_per_s']:>10.1f} {r['gen_s_median']:>7.2f} "
            f"{r['step_s_median']:>7.2f} {r['optimizer_step_s_median']:>7.2f} "
            f"{r['wall_s_per_step_incl_generation']:>7.2f}"
        )
    return result


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
