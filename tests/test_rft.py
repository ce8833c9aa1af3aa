"""Stage (c), RFT: the config, the dataset, the consistency weighting of TRL's advantages
(hand-computed), κ = 0 as exactly TRL's GRPO, the trainer's step metrics, resuming, and the
two-process run. The trainer runs the real tiny base; where two runs must see the same
completions, their text is scripted (``tests/rft_scripted.py``)."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from trl import GRPOTrainer

from rsground_lib import advantages, conversation, models, paths, prompts, rewards
from rsground_lib.training import common, rft
from tests import rft_scripted

ROOT = Path(__file__).resolve().parents[1]
CHECKPOINT = ROOT / "checkpoints" / "tiny-base"


def _config(tmp_path, **overrides) -> rft.RftConfig:
    values = {
        "model_name_or_path": str(CHECKPOINT),
        "output_dir": str(tmp_path / "rft"),
        "max_steps": 2,
        "per_device_train_batch_size": 8,
        "num_generations": 4,
        "max_completion_length": 24,
        "learning_rate": 1e-3,
        "temperature": 1.0,
        "beta": 0.04,
        "num_threads": 1,
    }
    values.update(overrides)
    return rft.RftConfig.from_dict(values)


# ----------------------------------------------------------------------------- config


def test_config_is_strict_and_pins_the_aggregation():
    with pytest.raises(ValueError, match="unknown keys"):
        rft.RftConfig.from_dict({"kappa": 1.0})
    with pytest.raises(ValueError, match="unknown reward 'giou'"):
        rft.RftConfig.from_dict({"reward_funcs": ["format", "giou"]})
    with pytest.raises(ValueError, match="2 weights for 3 rewards"):
        rft.RftConfig.from_dict({"reward_weights": [1.0, 2.0]})
    with pytest.raises(ValueError, match="sum_then_normalize"):
        rft.RftConfig.from_dict({"multi_objective_aggregation": "normalize_then_sum"})
    with pytest.raises(ValueError, match="kappa"):
        rft.RftConfig.from_dict({"consistency_kappa": -1.0})
    with pytest.raises(ValueError, match="consistency_score"):
        rft.RftConfig.from_dict({"consistency_score": "variance"})
    with pytest.raises(ValueError, match="num_generations"):
        rft.RftConfig.from_dict({"num_generations": 1})
    cfg = rft.RftConfig.from_dict({})
    assert cfg.use_vllm is False  # explicit, never switched on by an installed vLLM
    if importlib.util.find_spec("vllm") is None:
        with pytest.raises(
            ValueError, match="use_vllm: vLLM is not installed; TRL accepts vLLM 0.22-0.31"
        ):
            rft.RftConfig.from_dict({"use_vllm": True})
    # VLM-R1's GRPO settings and the paper's rewards (our reading), as a TRL GRPOConfig.
    assert (cfg.num_generations, cfg.beta, cfg.epsilon, cfg.temperature) == (8, 0.04, 0.2, 0.9)
    assert cfg.max_completion_length == 1024 and cfg.learning_rate == 1e-5
    assert cfg.reward_funcs == ["format", "iou", "positional"]
    assert [f.__name__ for f in cfg.reward_functions()] == [
        "format_reward", "iou_reward", "positional_reward"]  # fmt: skip
    assert cfg.save_strategy == "no" and cfg.remove_unused_columns is False


# ----------------------------------------------------------------------------- data, rewards


def test_rft_example_carries_what_the_rewards_and_the_weight_read():
    _, processor = models.load_model(CHECKPOINT)
    rec = rft_scripted.records(1)[0]
    ex = conversation.rft_example(rec, processor, prompt_style="compact")
    assert set(ex) == {"images", "prompt", "bbox_model", "image_size_model", "cues"}
    assert ex["image_size_model"] == [64, 64]  # the tiny base sees 64-px scenes as they are
    assert ex["bbox_model"] == pytest.approx(rec["bbox"])
    assert ex["cues"] == ["extreme"]
    assert ex["prompt"][0]["content"][1]["text"] == rec["expression"]


def test_rewards_read_boxes_parsed_once_and_refuse_a_wrong_count():
    completions = ["<think></think><answer>[0, 0, 10, 10]</answer>", "no box"]
    target = [[0, 0, 10, 10], [0, 0, 10, 10]]
    parsed = [[0.0, 0.0, 10.0, 10.0], None]
    assert rewards.iou_reward(completions, bbox_model=target, parsed_box=parsed) == [1.0, 0.0]
    # the parsed column is what is scored: a different box there scores differently
    other = [[0.0, 0.0, 10.0, 5.0], None]
    assert rewards.iou_reward(completions, bbox_model=target, parsed_box=other) == [0.5, 0.0]
    with pytest.raises(ValueError, match="1 boxes for 2 completions"):
        rewards.positional_reward(completions, bbox_model=target, parsed_box=parsed[:1])


def test_answer_follows_reasoning_and_all_equal_fraction():
    same = "<think>[9, 9, 9, 9] then [1, 2, 3, 4]</think><answer>[1, 2, 3, 4]</answer>"
    other = "<think>[1, 2, 3, 4]</think><answer>[1, 2, 3, 5]</answer>"
    bare = "<answer>[1, 2, 3, 4]</answer>"
    assert [prompts.answer_follows_reasoning(t) for t in (same, other, bare)] == [True, False, None]
    # our added reward: 1 only when the answer is the reasoning's last box
    assert rewards.reasoning_agreement_reward([same, other, bare, "junk"]) == [1.0, 0.0, 0.0, 0.0]
    assert rewards.reasoning_agreement_reward([same], parsed_box=[None]) == [0.0]
    assert advantages.all_equal_fraction(
        [[0.0, 0.0, 0.0], [0.0, 0.3, 0.0], [1.0, 1.0, 1.0]]
    ) == pytest.approx(2 / 3)


# ----------------------------------------------------------------------------- the weighting


def test_weights_scale_a_scattered_group_and_leave_a_coherent_one():
    # 3 groups of G = 4 gathered from two processes of 6 rows: group 1 spans both.
    coherent = [[10, 10, 20, 20]] * 4
    scattered = [[0, 0, 10, 10], [0, 0, 10, 10], [90, 90, 100, 100], [90, 90, 100, 100]]
    one_unparsable = [[40, 40, 50, 50]] * 3 + [[np.nan] * 4]
    boxes_all = np.array(coherent + scattered + one_unparsable, dtype=float)
    sizes = np.full((12, 2), 100.0)
    adv_rank1 = torch.tensor([1.0, -1.0, 2.0, -2.0, 0.5, -0.5])  # rows 6..11
    weighted, scores, weights = advantages.weight_local_advantages(
        adv_rank1, boxes_all, sizes, num_generations=4, process_index=1, kappa=2.0, w_min=0.1
    )
    # scattered: centres (5, 5) and (95, 95) → RMS distance 45·√2 over the diagonal 100·√2
    assert scores.tolist() == pytest.approx([0.0, 0.45, 0.0])
    w = math.exp(-2.0 * 0.45)  # 0.40656966
    assert weights.tolist() == pytest.approx([1.0, w, 1.0])
    assert weighted.tolist() == pytest.approx([w, -w, 2.0, -2.0, 0.5, -0.5])
    # process 0 keeps rows 0..5: the coherent group and the first half of the scattered one
    weighted0, _, _ = advantages.weight_local_advantages(
        torch.ones(6), boxes_all, sizes, num_generations=4, process_index=0, kappa=2.0, w_min=0.1
    )
    assert weighted0.tolist() == pytest.approx([1, 1, 1, 1, w, w])
    with pytest.raises(ValueError, match="only 12 completions"):
        advantages.weight_local_advantages(
            torch.ones(6),
            boxes_all,
            sizes,
            num_generations=4,
            process_index=2,
            kappa=2.0,
            w_min=0.1,
        )


def _rollout_batch(trainer, n_prompts: int) -> list[dict]:
    ds = trainer.train_dataset
    g = trainer.num_generations
    return [dict(ds[i]) for i in range(n_prompts) for _ in range(g)]


def test_trainer_advantages_are_trls_times_the_group_weight(tmp_path):
    torch.set_num_threads(1)
    recs = rft_scripted.records(2)
    # prompt 0: four boxes with one centre (coherent, different sizes so rewards differ);
    # prompt 1: boxes in two opposite corners (scattered).
    texts = [
        "[24, 24, 32, 32]", "[22, 22, 34, 34]", "[26, 26, 30, 30]", "[20, 20, 36, 36]",
        "[0, 0, 8, 8]", "[0, 0, 8, 8]", "[56, 56, 64, 64]", "[56, 56, 64, 64]",
    ]  # fmt: skip

    class Fixed(rft_scripted.ScriptedTrainer):
        script = staticmethod(
            lambda step, row: f"<think>{texts[row]}</think><answer>{texts[row]}</answer>"
        )

    adv = {}
    for kappa in (0.0, 2.0):
        cfg = _config(tmp_path, consistency_kappa=kappa, consistency_w_min=0.1)
        trainer = rft.build_rft_trainer(cfg, recs, trainer_class=Fixed)
        trainer.model.train()
        out = trainer._generate_and_score_completions(_rollout_batch(trainer, 2))
        adv[kappa] = out["advantages"].tolist()
        weights = trainer.last_group_weights["weights"].tolist()
    # centres (4, 4) and (60, 60): RMS distance 28·√2 over the diagonal 64·√2 = 0.4375
    w = math.exp(-2.0 * 0.4375)
    assert weights == pytest.approx([1.0, w])
    assert any(abs(a) > 0.1 for a in adv[0.0][:4]) and any(abs(a) > 0.1 for a in adv[0.0][4:])
    assert adv[2.0][:4] == pytest.approx(adv[0.0][:4])  # the coherent group is untouched
    assert adv[2.0][4:] == pytest.approx([a * w for a in adv[0.0][4:]])  # shrunk by its weight


def test_kappa_zero_is_exactly_trls_grpo(tmp_path):
    """Same seed, same batch: the subclass with κ = 0 and TRL's own GRPOTrainer sample the same
    completions and end with the same loss and the same parameters, to the bit; with κ > 0
    the parameters differ (the weight acts)."""
    torch.set_num_threads(1)
    recs = rft_scripted.records(8)

    def run(trainer_cls, kappa):
        cfg = _config(tmp_path / f"{trainer_cls.__name__}{kappa}", consistency_kappa=kappa)
        model, processor = models.load_model(CHECKPOINT, dtype="float32")
        ds = rft.rft_dataset(recs, processor, prompt_style=cfg.prompt_style)
        if trainer_cls is GRPOTrainer:
            trainer = GRPOTrainer(model=model, reward_funcs=cfg.reward_functions(), args=cfg,
                                  train_dataset=ds, processing_class=processor)  # fmt: skip
        else:
            trainer = trainer_cls(model, cfg, train_dataset=ds, processing_class=processor)
        trainer.train()
        losses = [r["loss"] for r in trainer.state.log_history if "loss" in r]
        return losses, {n: p.detach().clone() for n, p in trainer.model.named_parameters()}

    trl_losses, trl_params = run(GRPOTrainer, 0.0)
    ours_losses, ours_params = run(rft.ConsistencyGRPOTrainer, 0.0)
    _, weighted_params = run(rft.ConsistencyGRPOTrainer, 5.0)
    assert len(trl_losses) == 2 and ours_losses == trl_losses
    assert all(torch.equal(trl_params[n], ours_params[n]) for n in trl_params)
    changed = [n for n in trl_params if not torch.equal(trl_params[n], weighted_params[n])]
    assert changed, "κ = 5 should change the update of a scattered group"


# ----------------------------------------------------------------------------- logging, resume


def test_train_rft_logs_every_step_and_saves_a_loadable_model(tmp_path):
    torch.set_num_threads(1)
    cfg = _config(tmp_path, max_steps=2)
    summary = rft.train_rft(cfg, rft_scripted.records(8))
    assert summary["steps"] == 2
    log = common.read_log(Path(cfg.output_dir) / "log.jsonl")
    assert [r["step"] for r in log if "loss" in r] == [1, 2]
    keys = set(log[0])
    for key in ("rewards/format_reward/mean", "rewards/iou_reward/std",
                "rewards/positional_reward/frac_zero_std", "frac_reward_zero_std",
                "consistency/score_mean", "consistency/weight_min", "kl",
                "completions/mean_length", "parse_rate", "cpu_s", "wall_s"):  # fmt: skip
        assert key in keys, key
    assert 0.0 <= log[0]["consistency/weight_min"] <= log[0]["consistency/weight_mean"] <= 1.0
    model, processor = models.load_model(cfg.output_dir)
    assert json.loads((Path(cfg.output_dir) / "train.json").read_text())["steps"] == 2
    assert model.num_parameters() > 0 and processor is not None


def test_resume_without_or_with_a_broken_checkpoint_is_an_error(tmp_path):
    cfg = _config(tmp_path)
    with pytest.raises(ValueError, match="no checkpoint under"):
        rft.train_rft(cfg, rft_scripted.records(4), resume=True)
    broken = Path(cfg.output_dir) / "checkpoint-2"
    models.save(*models.load_model(CHECKPOINT), broken)
    (broken / "trainer_state.json").write_text(json.dumps({"global_step": 2}))
    (broken / "optimizer.pt").write_bytes(b"")
    (broken / "scheduler.pt").write_bytes(b"x")
    with pytest.raises(ValueError, match="optimizer.pt: empty file"):
        rft.train_rft(cfg, rft_scripted.records(4), resume=True)
    (broken / "scheduler.pt").unlink()
    (broken / "optimizer.pt").write_bytes(b"x")
    with pytest.raises(FileNotFoundError, match="scheduler.pt: missing"):
        rft.train_rft(cfg, rft_scripted.records(4), resume=True)


RESUME_SCRIPT = """
import sys, torch
from rsground_lib.training import rft
from tests import rft_scripted
torch.set_num_threads(1)
cfg = dict(model_name_or_path=str(rft_scripted.CHECKPOINT), output_dir=sys.argv[1], max_steps=6,
           per_device_train_batch_size=8, num_generations=4, max_completion_length=24,
           learning_rate=1e-3, temperature=1.0, beta=0.04, save_steps=2, save_total_limit=3,
           num_threads=1)
rft.train_rft(cfg, rft_scripted.records(8), resume=sys.argv[2] == "resume")
"""


def _run(out: Path, mode: str) -> subprocess.Popen:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-c", RESUME_SCRIPT, str(out), mode], cwd=ROOT,
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip


@pytest.mark.slow
def test_a_killed_run_resumes_to_the_same_end(tmp_path):
    full, killed = tmp_path / "full", tmp_path / "killed"
    p = _run(full, "fresh")
    assert p.wait(timeout=600) == 0, p.stderr.read().decode()[-2000:]
    p = _run(killed, "fresh")
    deadline = time.time() + 600
    log = killed / "log.jsonl"
    # killed during step 6, after step 5 was logged (checkpoint-4 is complete by then); 8
    # prompts, 2 per step: checkpoint-4 is an epoch boundary, where TRL's sampler replayed
    # the first epoch (rft.EpochSeededRepeatSampler)
    while not (log.exists() and any(r.get("step") == 5 for r in common.read_log(log))):
        assert p.poll() is None and time.time() < deadline, "the run ended before step 5"
        time.sleep(0.05)
    p.send_signal(signal.SIGKILL)
    p.wait()
    assert not (killed / "train.json").exists()  # killed mid-way, before the end
    p = _run(killed, "resume")
    assert p.wait(timeout=600) == 0, p.stderr.read().decode()[-2000:]
    a = [r for r in common.read_log(full / "log.jsonl") if "loss" in r]
    b = [r for r in common.read_log(killed / "log.jsonl") if "loss" in r]
    assert [r["step"] for r in b] == [1, 2, 3, 4, 5, 6]  # step 5 again, from checkpoint-4
    for key in ("loss", "reward", "consistency/weight_mean"):
        assert [r[key] for r in b] == pytest.approx([r[key] for r in a], rel=1e-5, abs=1e-7), key
    ma, _ = models.load_model(full)
    mb, _ = models.load_model(killed)
    for (n, pa), (_, pb) in zip(ma.named_parameters(), mb.named_parameters(), strict=True):
        assert torch.allclose(pa, pb, atol=1e-6), n


@pytest.mark.slow
def test_two_processes_match_one(tmp_path):
    """``torchrun --nproc_per_node 2`` (gloo, CPU) with a prompt group split across the two
    ranks: the group weights and the trained parameters equal a one-process run of the same
    batch."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    script = str(ROOT / "tests" / "rft_scripted.py")
    one, two = tmp_path / "one", tmp_path / "two"
    r1 = subprocess.run([sys.executable, script, str(one), "1"], cwd=ROOT, env=env,
                        capture_output=True, text=True, timeout=600)  # fmt: skip
    assert r1.returncode == 0, r1.stderr[-3000:]
    torchrun = Path(sys.executable).with_name("torchrun")
    r2 = subprocess.run([str(torchrun), "--nproc_per_node", "2", "--master_port", "29517", script,
                         str(two), "2"], cwd=ROOT, env=env, capture_output=True, text=True,
                        timeout=600)  # fmt: skip
    assert r2.returncode == 0, r2.stderr[-3000:]
    w1 = json.loads((one / "weights.json").read_text())
    w2 = json.loads((two / "weights.json").read_text())
    assert w2["nproc"] == 2 and len(w1["weights"]) == len(w2["weights"]) == 2
    assert np.allclose(w2["weights"], w1["weights"], rtol=0, atol=1e-12)
    assert min(min(w) for w in w1["weights"]) < 1.0  # some group was weighted down
    p1, p2 = torch.load(one / "params.pt"), torch.load(two / "params.pt")
    start, _ = models.load_model(CHECKPOINT)
    moved = 0
    for n, p in start.named_parameters():
        # the two runs reduce the same sums in another order (two ranks, other padding); the
        # advantage-weighted gradient is a sum of terms that cancel within each group, so the
        # rounding shows relative to the update, not to the parameter (measured on
        # embed_tokens: 0.01 % of the update after one step, 0.1 % after two). A wrong token
        # normalisation, group weight or missing all-reduce differs by tens of percent.
        step = (p1[n] - p).abs().max().item()
        gap = (p1[n] - p2[n]).abs().max().item()
        assert gap <= 1e-6 + 1e-2 * step, (n, gap, step)
        moved += step > 1e-4
    assert moved > 0


def test_log_window_means_compare_the_first_and_last_tenth():
    rows = [{"step": i, "x": float(i)} for i in range(1, 21)] + [{"step": 21}]
    assert rft.log_window_means(rows, "x", fraction=0.1) == (1.5, 19.5)
    assert rft.log_window_means(rows[:3], "x", fraction=0.1) == (1.0, 3.0)  # one row each
    with pytest.raises(ValueError, match="no log row carries 'kl'"):
        rft.log_window_means(rows, "kl")


def test_rft_starts_from_the_cot_sft_model_of_its_profile(tmp_path):
    layout = paths.layout("smoke", tmp_path)
    assert rft.start_checkpoint("Qwen/Qwen2.5-VL-3B-Instruct", layout) == (
        "Qwen/Qwen2.5-VL-3B-Instruct"
    )
    with pytest.raises(FileNotFoundError, match="run the CoT-SFT chapter"):
        rft.start_checkpoint("", layout)
    assert not (tmp_path / "smoke").exists()  # looking created nothing
    folder = layout.output("03_cot_sft") / "cot_sft"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    assert rft.start_checkpoint("", layout) == str(folder)
