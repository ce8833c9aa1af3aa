"""SFT step benchmark: step time, tokens/s and peak memory of CoT-SFT steps on a model of
Qwen2.5-VL-3B-Instruct's shape (random weights built from its configuration: nothing is
downloaded), through the project's own stage-(b) code path (:func:`rsground_lib.training.sft.
sft_examples` → TRL ``SFTTrainer`` via :func:`rsground_lib.training.common.build_sft_trainer`).

It sizes the full profile's run on one GPU before any checkpoint is at hand::

    python -m rsground_lib.bench.sft --shape qwen2_5_vl_3b --records DIR --out result.json

``DIR`` holds synthetic records saved by :func:`save_records` (PNG + ``records.json``), so
the GPU machine needs neither shapely nor the scene renderer. ``--shape tiny`` runs the same
path on CPU in seconds (the test). The tokenizer is the tiny model's byte-level BPE (the real
Qwen tokenizer cannot be downloaded here); the embedding keeps Qwen's 151,936 rows, and the
image tokens — most of each sequence at 800 px — are exactly Qwen2.5-VL's. Book chapter:
"CoT-SFT" (the full profile).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from rsground_lib import boxes, models
from rsground_lib.training import common, sft

QWEN2_5_VL_3B = {
    "text": {
        "hidden_size": 2048,
        "intermediate_size": 11008,
        "num_hidden_layers": 36,
        "num_attention_heads": 16,
        "num_key_value_heads": 2,
        "max_position_embeddings": 128000,
        "rms_norm_eps": 1e-6,
        "vocab_size": 151936,
        "tie_word_embeddings": True,
        "rope_theta": 1_000_000.0,
        "mrope_section": [16, 24, 24],
    },
    "vision": {
        "depth": 32,
        "hidden_size": 1280,
        "intermediate_size": 3420,
        "num_heads": 16,
        "out_hidden_size": 2048,
        "patch_size": 14,
        "spatial_merge_size": 2,
        "temporal_patch_size": 2,
        "window_size": 112,
        "fullatt_block_indexes": [7, 15, 23, 31],
        "tokens_per_second": 2,
    },
}
"""The shape of ``Qwen/Qwen2.5-VL-3B-Instruct`` (its ``config.json``): ~3.75 B parameters."""


def qwen_config(shape: dict, tokenizer):
    """A ``Qwen2_5_VLConfig`` of ``shape`` whose special-token ids are ``tokenizer``'s."""
    from transformers import Qwen2_5_VLConfig

    t, v = shape["text"], shape["vision"]
    ids = {
        k: tokenizer.convert_tokens_to_ids(k)
        for k in ("<|image_pad|>", "<|video_pad|>", "<|vision_start|>", "<|vision_end|>")
    }
    return Qwen2_5_VLConfig(
        text_config=dict(
            vocab_size=max(int(t["vocab_size"]), len(tokenizer)),
            hidden_size=t["hidden_size"],
            intermediate_size=t["intermediate_size"],
            num_hidden_layers=t["num_hidden_layers"],
            num_attention_heads=t["num_attention_heads"],
            num_key_value_heads=t["num_key_value_heads"],
            max_position_embeddings=t["max_position_embeddings"],
            rms_norm_eps=t["rms_norm_eps"],
            rope_parameters={
                "rope_type": "default",
                "rope_theta": t["rope_theta"],
                "mrope_section": list(t["mrope_section"]),
            },
            tie_word_embeddings=t["tie_word_embeddings"],
            eos_token_id=tokenizer.convert_tokens_to_ids("<|im_end|>"),
            pad_token_id=tokenizer.pad_token_id,
        ),
        vision_config=dict(v),
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=t["tie_word_embeddings"],
    )


def build(shape_name: str, *, device: str, dtype):
    """``(model, processor)``: random weights of ``shape_name`` (``"qwen2_5_vl_3b"`` or
    ``"tiny"``) with Qwen2.5-VL's image processor at its default pixel budget."""
    import torch
    from transformers import AutoModelForImageTextToText
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import (
        Qwen2VLImageProcessorPil,
    )

    tokenizer = models.build_tokenizer("qwen2_5_vl")
    if shape_name == "tiny":
        spec = models.TinyModelSpec(image_size_px=56, pos_init="random")
        cfg = models.tiny_qwen_config(spec, tokenizer)
        image_processor = Qwen2VLImageProcessorPil(
            min_pixels=56 * 56, max_pixels=112 * 112, patch_size=14, temporal_patch_size=2,
            merge_size=2,
        )  # fmt: skip
    elif shape_name == "qwen2_5_vl_3b":
        cfg = qwen_config(QWEN2_5_VL_3B, tokenizer)
        image_processor = Qwen2VLImageProcessorPil(
            min_pixels=boxes.QWEN2VL_MIN_PIXELS, max_pixels=boxes.QWEN2VL_MAX_PIXELS,
            patch_size=14, temporal_patch_size=2, merge_size=2,
        )  # fmt: skip
    else:
        raise ValueError(f"shape: expected 'qwen2_5_vl_3b' or 'tiny'; got {shape_name!r}")
    processor = models.qwen_image_processor_only(
        image_processor, tokenizer, chat_template=models.chat_template("qwen2_5_vl")
    )
    with torch.device(device):
        model = AutoModelForImageTextToText.from_config(cfg, dtype=dtype)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model, processor


def save_records(records, folder: str | Path) -> Path:
    """Write synthetic records (image + the columns CoT traces need) as PNGs and
    ``records.json`` in ``folder``; :func:`load_records` reads them back."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    keep = ("id", "width", "height", "expression", "bbox", "objects", "resolver_steps",
            "target_index", "category")  # fmt: skip
    rows = []
    for i, rec in enumerate(records):
        name = f"{i:04d}.png"
        rec["image"].convert("RGB").save(folder / name)
        rows.append({"file": name, **{k: rec[k] for k in keep if k in rec}})
    (folder / "records.json").write_text(json.dumps(rows))
    return folder


def load_records(folder: str | Path) -> list[dict]:
    from PIL import Image

    folder = Path(folder)
    rows = json.loads((folder / "records.json").read_text())
    for row in rows:
        row["image"] = Image.open(folder / row.pop("file")).convert("RGB")
    return rows


def run_case(model, processor, records, *, batch_size, steps, lora, grad_ckpt, out_dir):
    """Time ``steps`` optimizer steps (the first two are warm-up, not counted)."""
    import torch
    from transformers import TrainerCallback

    cuda = torch.cuda.is_available()
    examples = sft.sft_examples(records, processor, targets="cot", prompt_style="full")
    # Tokens per example, as the collator will see them (prompt + image tokens + completion).
    n_tok = []
    for ex in examples:
        text = processor.apply_chat_template(ex["prompt"] + ex["completion"], tokenize=False)
        enc = processor(images=ex["images"], text=[text], return_tensors="pt")
        n_tok.append(int(enc["input_ids"].shape[1]))
    times: list[float] = []

    class Timer(TrainerCallback):
        def on_step_begin(self, args, state, control, **kw):
            if cuda:
                torch.cuda.synchronize()
            self.t = time.perf_counter()

        def on_step_end(self, args, state, control, **kw):
            if cuda:
                torch.cuda.synchronize()
            times.append(time.perf_counter() - self.t)

    from datasets import Dataset

    reps = -(-steps * batch_size // len(examples))
    dataset = Dataset.from_list((examples * reps)[: steps * batch_size])
    args = common.SftArgs(
        output_dir=str(out_dir),
        max_steps=steps,
        per_device_train_batch_size=batch_size,
        learning_rate=1e-5,
        logging_steps=1,
        activation_checkpointing=grad_ckpt,
        bf16=cuda,
    )
    peft_config = sft.SftConfig.from_dict({"use_peft": True}).peft_config() if lora else None
    if cuda:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    trainer = common.build_sft_trainer(
        model, processor, dataset, args=args, callbacks=[Timer()], peft_config=peft_config
    )
    trainable = sum(p.numel() for p in trainer.model.parameters() if p.requires_grad)
    out = trainer.train()
    timed = times[2:] if len(times) > 2 else times
    step_s = statistics.median(timed)
    tokens_per_step = statistics.mean(n_tok) * batch_size
    return {
        "batch_size": batch_size,
        "lora": lora,
        "gradient_checkpointing": grad_ckpt,
        "trainable_parameters": int(trainable),
        "steps_timed": len(timed),
        "step_s_median": round(step_s, 4),
        # The callbacks time forward, backward and optimizer step; the batch is fetched and
        # collated (images processed on the CPU) before on_step_begin. train_runtime / steps
        # includes that, and the first steps' warm-up.
        "wall_s_per_step_incl_data": round(out.metrics["train_runtime"] / steps, 4),
        "step_s_all": [round(t, 4) for t in times],
        "tokens_per_example_mean": round(statistics.mean(n_tok), 1),
        "tokens_per_s": round(tokens_per_step / step_s, 1),
        "peak_memory_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if cuda else None,
    }


CASES = {
    "lora_b4": {"batch_size": 4, "lora": True, "grad_ckpt": False},
    "lora_b8": {"batch_size": 8, "lora": True, "grad_ckpt": False},
    "lora_b8_ckpt": {"batch_size": 8, "lora": True, "grad_ckpt": True},
    "full_b4_ckpt": {"batch_size": 4, "lora": False, "grad_ckpt": True},
}
"""The measured settings: the full profile's LoRA (r 64, α 128) at batch 4 and 8, batch 8
with activation checkpointing, and full fine-tuning with it."""


def main(argv=None) -> int:
    import torch

    p = argparse.ArgumentParser(prog="python -m rsground_lib.bench.sft")
    p.add_argument("--shape", default="qwen2_5_vl_3b", choices=["qwen2_5_vl_3b", "tiny"])
    p.add_argument("--records", required=True, help="folder written by save_records")
    p.add_argument("--cases", default=",".join(CASES))
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--out", required=True, help="result JSON file")
    ns = p.parse_args(argv)
    cuda = torch.cuda.is_available()
    device = "cuda" if cuda else "cpu"
    dtype = torch.bfloat16 if cuda else torch.float32
    records = load_records(ns.records)
    result = {
        "shape": ns.shape,
        "device": torch.cuda.get_device_name() if cuda else "cpu",
        "torch": torch.__version__,
        "cases": {},
    }
    for name in ns.cases.split(","):
        if name not in CASES:
            raise SystemExit(f"--cases: unknown case {name!r}; expected some of {list(CASES)}")
        t0 = time.time()
        # As train_sft does: full fine-tuning keeps float32 master weights (bf16 autocast);
        # LoRA trains float32 adapters over a bf16 base.
        case_dtype = dtype if CASES[name]["lora"] else torch.float32
        model, processor = build(ns.shape, device=device, dtype=case_dtype)
        result["parameters"] = sum(p.numel() for p in model.parameters())
        try:
            res = run_case(
                model, processor, records, steps=ns.steps, out_dir=f"/tmp/bench_sft_{name}",
                **CASES[name],
            )  # fmt: skip
        except torch.OutOfMemoryError as exc:  # a measured outcome, reported as such
            res = {"error": f"out of memory: {exc}"}
        res["case_wall_s"] = round(time.time() - t0, 1)
        res["weights_dtype"] = str(case_dtype).replace("torch.", "")
        result["cases"][name] = res
        print(json.dumps({name: res}), flush=True)
        del model
        if cuda:
            torch.cuda.empty_cache()
        Path(ns.out).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
