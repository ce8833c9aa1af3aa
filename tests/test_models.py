"""The offline tiny model: deterministic, reloadable with the Auto classes
under HF_HUB_OFFLINE=1, and each documented trap is covered."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image  # noqa: E402

from rsground_lib import checkpoints, dryrun, models  # noqa: E402


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


def test_qwen_folder_in_the_hub_layout_loads_without_torchvision(tmp_path):
    """The hub's Qwen2.5-VL layout makes ``AutoProcessor`` build a video processor, which
    raises ImportError without torchvision: the image-only processor serves instead, with the
    template of ``chat_template.json``, and encodes exactly like the saved processor."""
    import importlib.util

    model, processor = models.build_tiny_model(0, family="qwen2_5_vl")
    hub = dryrun.write_hub_layout(model, processor, tmp_path / "hub")
    assert not (hub / models.TINY_MARKER).exists() and (hub / "chat_template.json").is_file()
    if importlib.util.find_spec("torchvision") is None:
        from transformers import AutoProcessor

        with pytest.raises(ImportError, match="Torchvision"):
            AutoProcessor.from_pretrained(hub)  # the failure the fallback exists for
    m2, p2 = models.load_model(hub, device="cpu")
    messages = [
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "the ship"}]}
    ]
    text = p2.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert text == processor.apply_chat_template(
        messages, tokenize=False, add_generation_prompt=True
    )
    assert "<|vision_start|><|image_pad|><|vision_end|>the ship<|im_end|>" in text
    image = Image.new("RGB", (56, 56), (10, 200, 30))
    a, b = _inputs(p2, [image]), _inputs(processor, [image])
    assert set(a) == set(b) and all(torch.equal(a[k], b[k]) for k in a)
    with torch.no_grad():
        assert torch.equal(m2(**a).logits, model(**a).logits)


def test_qwen_folder_without_any_chat_template_is_an_error_naming_it(tmp_path):
    model, processor = models.build_tiny_model(0, family="qwen2_5_vl")
    hub = dryrun.write_hub_layout(model, processor, tmp_path / "hub")
    (hub / "chat_template.json").write_text('{"template": "x"}')
    with pytest.raises(
        ValueError, match=r"chat_template.json: expected a JSON object with a 'chat_template'"
    ):
        models.load_processor(hub)
    (hub / "chat_template.json").unlink()
    with pytest.raises(RuntimeError, match=r"hub: no chat template"):
        models.load_processor(hub)


def test_save_marks_only_tiny_models_and_records_training_apart(tmp_path):
    """A trained Qwen2.5-VL (here a tiny one with its build record removed, as a hub model
    has none) must not carry the tiny marker, which makes ``rsground ground`` prompt in the
    compact style; what trained it goes to its own file either way."""
    import json

    model, processor = models.build_tiny_model(0, family="qwen2_5_vl")
    assert models.is_tiny(model) and models.checkpoint_prompt_style(model) == "compact"
    models.save(model, processor, tmp_path / "tiny", extra={"sft": {"steps": 3}})
    assert (
        json.loads((tmp_path / "tiny" / models.TINY_MARKER).read_text())["family"] == "qwen2_5_vl"
    )
    del model.config.rsground_tiny
    assert not models.is_tiny(model) and models.checkpoint_prompt_style(model) == "full"
    models.save(model, processor, tmp_path / "qwen", extra={"rft": {"steps": 2, "kappa": 5.0}})
    assert not (tmp_path / "qwen" / models.TINY_MARKER).exists()
    record = json.loads((tmp_path / "qwen" / models.TRAINING_RECORD).read_text())
    assert record == {"rft": {"steps": 2, "kappa": 5.0}}
    loaded, _ = models.load_model(tmp_path / "qwen", device="cpu")
    assert not models.is_tiny(loaded)
    assert models.is_tiny(models.load_model(tmp_path / "tiny", device="cpu")[0])


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


# ------------------------------------------------------- loading: bad folders name the file
# Issue 11, finding 5: transformers reports these as a safetensors header error without the
# path, a hint to install sentencepiece, or a malformed hub repo id.


@pytest.fixture(scope="module")
def saved_tiny(tiny, tmp_path_factory):
    model, processor = tiny
    return models.save(model, processor, tmp_path_factory.mktemp("saved") / "tiny")


@pytest.fixture
def ckpt(saved_tiny, tmp_path):
    """A fresh copy of a saved tiny checkpoint, for one test to break."""
    import shutil

    return Path(shutil.copytree(saved_tiny, tmp_path / "ckpt"))


def _safetensors(folder):
    return folder / "model.safetensors"


def test_empty_safetensors_names_the_file(ckpt):
    _safetensors(ckpt).write_bytes(b"")
    with pytest.raises(ValueError, match="empty or truncated") as err:
        models.load_model(ckpt, device="cpu")
    assert str(_safetensors(ckpt)) in str(err.value)
    assert "header too small" not in str(err.value)


@pytest.mark.parametrize("cut", ["head", "tail"])
def test_truncated_safetensors_names_the_file(ckpt, cut):
    data = _safetensors(ckpt).read_bytes()
    _safetensors(ckpt).write_bytes(data[:1000] if cut == "head" else data[:-100])
    with pytest.raises(ValueError, match=r"broken weights file") as err:
        models.load_model(ckpt, device="cpu")
    assert str(_safetensors(ckpt)) in str(err.value)
    if cut == "tail":
        assert f"the file holds {len(data) - 100 - 8 - int.from_bytes(data[:8], 'little')}" in str(
            err.value
        )
        assert "(truncated)" in str(err.value)


def test_missing_tokenizer_json_names_the_file(ckpt):
    (ckpt / "tokenizer.json").unlink()
    for load in (models.load_model, models.load_processor, models.load):
        with pytest.raises(FileNotFoundError, match="tokenizer.json: missing") as err:
            load(ckpt)
        assert str(ckpt / "tokenizer.json") in str(err.value)
        assert "sentencepiece" not in str(err.value)


def test_broken_json_files_name_the_file(ckpt):
    text = (ckpt / "tokenizer.json").read_text()
    (ckpt / "tokenizer.json").write_text(text[: len(text) // 2])
    with pytest.raises(ValueError, match="broken tokenizer") as err:
        models.load_processor(ckpt)
    assert str(ckpt / "tokenizer.json") in str(err.value)
    (ckpt / "tokenizer.json").write_text(text)
    (ckpt / "config.json").write_bytes(b"\xff\xfe{")
    with pytest.raises(ValueError, match="config.json: broken model config"):
        models.load_model(ckpt, device="cpu")
    (ckpt / "config.json").unlink()
    with pytest.raises(FileNotFoundError, match=r"config\.json: missing"):
        models.load_model(ckpt, device="cpu")


def test_missing_weights_or_processor_name_the_file(ckpt):
    (ckpt / "processor_config.json").unlink()
    with pytest.raises(FileNotFoundError, match="processor_config.json: missing") as err:
        models.load_model(ckpt, device="cpu")
    assert str(ckpt) in str(err.value)
    (ckpt / "preprocessor_config.json").write_text("{}")  # either file will do
    _safetensors(ckpt).unlink()
    with pytest.raises(FileNotFoundError, match=r"model\.safetensors: missing"):
        models.load_model(ckpt, device="cpu")
    # the processor alone does not need the weights
    assert models.load_processor(ckpt) is not None


@pytest.mark.parametrize(
    "name",
    [
        "{tmp}/does/not/exist",
        "./no-such-ckpt",
        "../no-such-ckpt",
        "~/no-such-ckpt-rsground",
        "a/b/c",
    ],
)
def test_missing_folder_is_reported_as_a_folder_not_a_repo_id(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    name = name.format(tmp=tmp_path)
    with pytest.raises(FileNotFoundError, match="does not exist") as err:
        models.load_model(name, device="cpu")
    assert "Repo id" not in str(err.value)
    assert str(Path(name).expanduser()) in str(err.value)


def test_load_takes_only_folders(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match="checkpoint folder tiny does not exist"):
        models.load("tiny")  # a hub-id-shaped name, but load() means a folder
    (tmp_path / "model.safetensors").write_bytes(b"")
    with pytest.raises(NotADirectoryError, match="not a folder"):
        models.load_model(tmp_path / "model.safetensors")


def test_what_counts_as_a_local_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for hub_id in ("Qwen/Qwen2.5-VL-3B-Instruct", "gpt2", "owner/name", "HuggingFaceTB/SmolVLM"):
        assert checkpoints.checkpoint_folder(hub_id) is None, hub_id
    for path in ("/x", "./x", "../x", ".", "..", "a/b/c", "x/", "my model"):
        assert checkpoints.checkpoint_folder(path) == Path(path), path
    assert checkpoints.checkpoint_folder("~/x") == Path.home() / "x"
    assert checkpoints.checkpoint_folder(Path("owner/name")) == Path(
        "owner/name"
    )  # a Path is a path
    (tmp_path / "owner" / "name").mkdir(parents=True)
    assert checkpoints.checkpoint_folder("owner/name") == Path("owner/name")  # it exists


def test_committed_checkpoint_passes_the_check(project_root):
    folder = project_root / "checkpoints" / "tiny-base"
    assert checkpoints.check_checkpoint(folder) == folder


def test_hub_id_still_loads_from_the_offline_cache(saved_tiny, tmp_path):
    """A hub id goes to transformers unchanged: under HF_HUB_OFFLINE=1 it loads from the
    cache; an uncached id is an error naming it and how to fetch it (not 'folder does not
    exist', not transformers' message without the id)."""
    import shutil

    repo = tmp_path / "hub" / "models--rsground--tiny-test"
    commit = "0" * 40
    shutil.copytree(saved_tiny, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    code = """
from rsground_lib import models
model, processor = models.load_model("rsground/tiny-test", device="cpu")
assert type(processor).__name__ == "Idefics3Processor", type(processor)
try:
    models.load_model("rsground/not-cached", device="cpu")
except FileNotFoundError as err:
    assert "does not exist" not in str(err), err
except OSError as err:
    message = str(err)
    assert message.startswith("rsground/not-cached: it is not in the local Hugging Face cache "
                              "and HF_HUB_OFFLINE is set"), message
    assert "hf download rsground/not-cached" in message, message
else:
    raise AssertionError("an uncached hub id loaded")
print("hub ok")
"""
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "HF_HUB_CACHE": str(tmp_path / "hub"),
        "OMP_NUM_THREADS": "1",
    }
    res = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    assert "hub ok" in res.stdout


@pytest.mark.parametrize("family", ["idefics3", "qwen2_5_vl"])
def test_grown_text_layers_start_as_the_identity_and_save(family, tmp_path):
    """Appended layers compute nothing at first (the same logits to the bit), train (their
    gradients are not all zero), update the configs and survive save and reload."""
    model, processor = models.build_tiny_model(3, family=family)
    image = Image.new("RGB", (model.config.rsground_tiny["image_size_px"],) * 2, (90, 120, 60))
    if family == "idefics3":
        enc = _inputs(processor, [image])
    else:
        msgs = [
            {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "the ship"}]}
        ]
        text = processor.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False)
        enc = processor(
            images=[image],
            text=[text],
            return_tensors="pt",
            **models.processor_call_kwargs(processor),
        )
    with torch.no_grad():
        before = model(**enc).logits
    assert models.grow_text_layers(model, 4, seed=1) == 2
    with torch.no_grad():
        after = model(**enc).logits
    assert torch.equal(before, after)
    assert model.config.text_config.num_hidden_layers == 4
    assert model.config.rsground_tiny["text_layers"] == 4
    model.train()
    model(**enc, labels=enc["input_ids"]).loss.backward()
    new = models._text_model(model).layers[3]
    assert new.self_attn.o_proj.weight.grad.abs().sum() > 0
    models.save(model, processor, tmp_path / "grown")
    again, _ = models.load_model(tmp_path / "grown")
    assert len(models._text_model(again).layers) == 4
    with torch.no_grad():
        assert torch.allclose(again(**enc).logits, after, atol=1e-5)
    assert models.grow_text_layers(again, 4) == 0
    with pytest.raises(ValueError, match="current 4 layers"):
        models.grow_text_layers(again, 3)


def test_free_memory_collects_a_deleted_model_held_in_a_cycle():
    """A chapter's ``del model; models.free_memory()`` frees a model even when a reference
    cycle (as hooks and trainers leave) would keep it until the next collection."""
    import gc
    import weakref

    model, _ = models.build_tiny_model(0)
    model.cycle = [model]  # a reference cycle: plain ``del`` does not free it
    ref = weakref.ref(model)
    gc.disable()
    try:
        del model
        assert ref() is not None
        models.free_memory()
        assert ref() is None
    finally:
        gc.enable()


def test_a_gpu_without_bf16_computes_in_float32(monkeypatch):
    """A V100 or T4 has CUDA but no bf16: the models load in float32 there and the trainers
    leave bf16 off; an Ampere-or-newer GPU gets bf16; a CPU float32 always."""

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert models.default_dtype("cuda") == torch.float32
    assert models.default_dtype("cuda:1") == torch.float32
    assert models.bf16_usable() is False
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert models.default_dtype("cuda:0") == torch.bfloat16
    assert models.default_dtype("cpu") == torch.float32
    assert models.bf16_usable() is True


def test_a_checkpoint_remembers_the_prompt_style_it_was_trained_in(tmp_path):
    """``models.save(prompt_style=...)`` writes the style into config.json; a loaded
    checkpoint answers in it wherever no style is given (predict records which it used);
    a checkpoint recording none falls back to compact (tiny) or full (Qwen2.5-VL)."""
    import json

    from rsground_lib import evaluation
    from rsground_lib.data import base_scenes

    model, processor = models.build_tiny_model(0)
    models.save(model, processor, tmp_path / "full", prompt_style="full")
    assert json.loads((tmp_path / "full" / "config.json").read_text())[
        models.PROMPT_STYLE_ATTR] == "full"  # fmt: skip
    loaded, proc = models.load_model(tmp_path / "full")
    assert models.is_tiny(loaded) and models.checkpoint_prompt_style(loaded) == "full"
    records = base_scenes.make_records(2, seed=1)
    for i, r in enumerate(records):
        r["id"] = f"s/{i}"
    summary = evaluation.predict(loaded, proc, records, tmp_path / "p.jsonl", max_new_tokens=4,
                                 progress=False, checkpoint=tmp_path / "full")  # fmt: skip
    assert summary["prompt_style"] == "full"
    assert json.loads((tmp_path / "p.run.json").read_text())["prompt_style"] == "full"
    with pytest.raises(ValueError, match="prompt_style: expected one of"):
        models.save(model, processor, tmp_path / "bad", prompt_style="verbose")
    loaded.config.rsground_prompt_style = "verbose"  # a hand-edited config.json
    with pytest.raises(ValueError, match="records rsground_prompt_style='verbose'"):
        models.checkpoint_prompt_style(loaded)
