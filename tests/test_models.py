"""The offline tiny model: deterministic, reloadable with the Auto classes
under HF_HUB_OFFLINE=1, and each documented trap is covered."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch
from PIL import Image  # noqa: E402

from rsground_lib import models  # noqa: E402


@pytest.fixture(scope="module")
def tiny():
    torch.set_num_threads(1)
    return models.build_tiny_model(0)


def _inputs(processor, images, text="find the airplane"):
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": text}]}]
    prompt = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    return processor(
        images=[[im] for im in images],
        text=[prompt] * len(images),
        return_tensors="pt",
        add_special_tokens=False,
        **models.processor_call_kwargs(processor),
    )


def test_builds_offline_with_expected_shape(tiny):
    model, processor = tiny
    assert type(model).__name__ == "Idefics3ForConditionalGeneration"
    assert 0.8e6 < model.num_parameters() < 2e6
    assert model.config.rsground_tiny["seed"] == 0


def test_same_seed_same_weights_and_tokenizer_other_seed_differs(tiny):
    model, processor = tiny
    again, processor2 = models.build_tiny_model(0)
    other, _ = models.build_tiny_model(1)
    sd, sd2, sd3 = model.state_dict(), again.state_dict(), other.state_dict()
    assert sd.keys() == sd2.keys()
    assert all(torch.equal(sd[k], sd2[k]) for k in sd)
    assert any(not torch.equal(sd[k], sd3[k]) for k in sd)
    assert processor.tokenizer.get_vocab() == processor2.tokenizer.get_vocab()


def test_every_coordinate_is_one_token_and_contract_tags_are_single(tiny):
    _, processor = tiny
    tok = processor.tokenizer
    for n in range(0, 256):
        assert len(tok.encode(str(n), add_special_tokens=False)) == 1, n
        assert len(tok.encode(f" {n}", add_special_tokens=False)) == 1, n
    ids = tok.encode("<answer>[12, 20, 28, 36]</answer>", add_special_tokens=False)
    assert len(ids) == 11
    for tag in ("<think>", "</think>", "<answer>", "</answer>"):
        assert len(tok.encode(tag, add_special_tokens=False)) == 1
    # larger numbers still round-trip (byte-level fallback)
    assert tok.decode(tok.encode("[1000, 12.5]", add_special_tokens=False)) == "[1000, 12.5]"


def test_special_tokens_sized_before_vocab_and_image_token_id_matches(tiny):
    model, processor = tiny
    tok = processor.tokenizer
    vocab = model.config.text_config.vocab_size
    assert len(tok) == vocab
    for t in ("<image>", "<fake_token_around_image>", "<global-img>", "<end_of_utterance>"):
        tid = tok.convert_tokens_to_ids(t)
        assert tid is not None and 0 <= tid < vocab and tid != tok.unk_token_id
    assert model.config.image_token_id == tok.convert_tokens_to_ids("<image>")
    assert processor.image_token_id == model.config.image_token_id


def test_chat_template_renders_image_and_generation_prompt_without_trailing_space(tiny):
    _, processor = tiny
    messages = [
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "the ship"}]},
        {
            "role": "assistant",
            "content": [{"type": "text", "text": "<answer>[0, 4, 8, 12]</answer>"}],
        },
    ]
    text = processor.apply_chat_template(messages, tokenize=False)
    assert "<image>" in text and "the ship" in text
    assert "Assistant: <answer>[0, 4, 8, 12]</answer><end_of_utterance>" in text
    prompt = processor.apply_chat_template(messages[:1], add_generation_prompt=True, tokenize=False)
    assert prompt.endswith("Assistant:")
    # The prompt's tokens are a prefix of the full conversation's tokens (no trailing space trap).
    tok = processor.tokenizer
    p_ids = tok.encode(prompt, add_special_tokens=False)
    f_ids = tok.encode(text, add_special_tokens=False)
    assert f_ids[: len(p_ids)] == p_ids


def test_image_token_count_matches_connector(tiny):
    model, processor = tiny
    spec = models.TinyModelSpec()
    expected = (spec.image_size_px // spec.patch_size_px) ** 2 // spec.scale_factor**2
    assert models.image_seq_len(spec) == expected == processor.image_seq_len == 16
    enc = _inputs(processor, [Image.new("RGB", (100, 70), (10, 200, 30))])
    assert int((enc["input_ids"] == model.config.image_token_id).sum()) == expected
    assert tuple(enc["pixel_values"].shape[-2:]) == (64, 64)
    assert models.model_image_size(processor, 100, 70) == (64, 64)
    with pytest.raises(ValueError):
        models.image_seq_len(models.TinyModelSpec(image_size_px=60))


@pytest.mark.parametrize("value", [0, 127, 128, 255])
def test_uniform_images_are_not_dropped_as_padding(tiny, value):
    model, processor = tiny
    enc = _inputs(processor, [Image.new("RGB", (64, 64), (value, value, value))])
    assert not bool((enc["pixel_values"] == 0).all())
    with torch.no_grad():
        out = model(**enc)
    assert torch.isfinite(out.logits).all()


def test_forward_backward_reaches_vision_tower(tiny):
    model, processor = tiny
    enc = _inputs(
        processor,
        [Image.new("RGB", (64, 64), (90, 100, 80)), Image.new("RGB", (64, 64), (200, 20, 20))],
    )
    model.train()
    model.zero_grad()
    out = model(**enc, labels=enc["input_ids"])
    out.loss.backward()
    grad = model.model.vision_model.embeddings.patch_embedding.weight.grad
    assert grad is not None and float(grad.abs().sum()) > 0
    model.zero_grad()
    model.eval()


def test_sincos_position_init_and_spec_keys(tiny):
    model, _ = tiny
    pe = model.model.vision_model.embeddings.position_embedding.weight
    assert torch.allclose(pe, models.sincos_2d(8, pe.shape[1]))
    with pytest.raises(ValueError, match="unknown keys"):
        models.build_tiny_model(0, no_such_knob=1)
    with pytest.raises(ValueError):
        models.build_tiny_model(0, family="llava")


def test_save_and_reload_with_auto_classes_offline(tiny, tmp_path):
    model, processor = tiny
    models.save(model, processor, tmp_path / "tiny")
    code = f"""
import torch
from transformers import AutoModelForImageTextToText, AutoProcessor
p = AutoProcessor.from_pretrained({str(tmp_path / "tiny")!r})
m = AutoModelForImageTextToText.from_pretrained({str(tmp_path / "tiny")!r})
assert type(p).__name__ == "Idefics3Processor", type(p)
assert type(p.image_processor).__name__.startswith("Idefics3ImageProcessor"), type(p.image_processor)
assert p.image_seq_len == 16
torch.save(m.state_dict(), {str(tmp_path / "sd.pt")!r})
"""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    res = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert res.returncode == 0, res.stderr[-2000:]
    sd = torch.load(tmp_path / "sd.pt")
    ref = model.state_dict()
    assert all(torch.equal(sd[k], ref[k]) for k in ref)
    loaded, proc2 = models.load_model(tmp_path / "tiny", device="cpu")
    assert loaded.dtype == torch.float32
    enc = _inputs(proc2, [Image.new("RGB", (64, 64), (50, 60, 70))])
    with torch.no_grad():
        assert torch.allclose(loaded(**enc).logits, model(**enc).logits, atol=1e-5)


def test_qwen2_5_vl_family_builds_and_keeps_mrope_positions(tmp_path):
    model, processor = models.build_tiny_model(0, family="qwen2_5_vl")
    text_cfg = model.config.text_config
    head_dim = text_cfg.hidden_size // text_cfg.num_attention_heads
    rope = text_cfg.rope_parameters
    assert sum(rope["mrope_section"]) == head_dim // 2
    assert model.config.vision_config.out_hidden_size == text_cfg.hidden_size
    assert model.config.image_token_id == processor.tokenizer.convert_tokens_to_ids("<|image_pad|>")
    enc = _inputs(processor, [Image.new("RGB", (56, 56), (128, 128, 128))])
    assert "mm_token_type_ids" in enc  # without it Qwen2.5-VL silently uses 1-D positions
    assert int((enc["input_ids"] == model.config.image_token_id).sum()) == 4
    out = model(**enc, labels=enc["input_ids"])
    out.loss.backward()
    models.save(model, processor, tmp_path / "q")
    m2, p2 = models.load_model(tmp_path / "q", device="cpu")
    assert type(m2).__name__ == "Qwen2_5_VLForConditionalGeneration"
    assert "mm_token_type_ids" in _inputs(p2, [Image.new("RGB", (56, 56), (1, 2, 3))])


def test_lora_targets_the_text_model_only(tiny):
    import peft

    from rsground_lib.training import sft

    with pytest.raises(ValueError, match="unknown keys"):
        sft.SftConfig.from_dict({"lora_rank": 8})
    cfg = sft.SftConfig.from_dict({"use_peft": True, "lora_r": 4, "lora_alpha": 8}).peft_config()
    assert cfg.r == 4 and cfg.lora_alpha == 8
    model, _ = models.build_tiny_model(0)
    wrapped = peft.get_peft_model(model, cfg)
    names = [n for n, _ in wrapped.named_parameters() if "lora_" in n]
    assert names and all("vision" not in n for n in names)
    assert any("text_model" in n for n in names)
