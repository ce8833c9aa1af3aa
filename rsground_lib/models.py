"""Models: the offline tiny vision-language model, loading real checkpoints, and the
checkpoint teacher of the CoT data.

Two families share one code path (``AutoProcessor`` / ``AutoModelForImageTextToText``):

``"idefics3"`` (the tiny default)
    An Idefics3/SmolVLM-shaped model: a SigLIP-style vision tower *with learned absolute
    position embeddings*, the pixel-shuffle connector, a Llama text model. The CoT-SFT chapter
    explains why the tiny model is not a Qwen2.5-VL: measured on this project's CPU machine,
    tiny Qwen2.5-VLs (whose vision tower has no absolute position embedding) print the same
    box for every image for thousands of steps, while this shape escapes that image-blind
    floor (diagnosis in ``book/03_cot_sft.py`` and the ``checkpoints/tiny-base`` README).
``"qwen2_5_vl"``
    A tiny Qwen2.5-VL: the same classes as the GPU model, for code-path tests.

A tiny model is built in seconds, offline, deterministically from a seed: a byte-level BPE
tokenizer trained with the ``tokenizers`` library on a fixed corpus (every integer
``0..max_number_token`` is one token, with and without a leading space — coordinates are one
token each), the family's special tokens and chat template (TRL's training variant, with
``{% generation %}`` markers for assistant-only loss), the family's PIL image processor (no
torchvision needed) and processor. :func:`save` writes a folder that
``AutoProcessor.from_pretrained`` / ``AutoModelForImageTextToText.from_pretrained`` reload
under ``HF_HUB_OFFLINE=1``; :func:`load_model` loads it, or any real checkpoint by hub id or
path (default :data:`DEFAULT_MODEL`, bf16 on CUDA). ``trust_remote_code`` is never set. A
local folder is checked before transformers reads it (:func:`rsground_lib.checkpoints.check_checkpoint`): a missing or
broken file — an empty or truncated ``model.safetensors``, no ``tokenizer.json``, a folder
that does not exist — is an error naming that path, where transformers would report a
safetensors header error, a missing sentencepiece or a malformed hub repo id.

Traps handled here (each has a test in ``tests/test_models.py``):

- Idefics3: the image-token count per image (``image_seq_len``) must equal
  ``(image_size / patch_size)² / scale_factor²`` — :func:`image_seq_len`; ``<image>``,
  ``<fake_token_around_image>``, ``<global-img>`` and ``<end_of_utterance>`` are in the
  tokenizer *before* the text model's vocabulary is sized, and ``config.image_token_id`` is
  the tokenizer's id of ``<image>``; image splitting is off (one 16-token global image); the
  model drops an image whose normalised pixels are all exactly 0 as padding, so the
  normalisation (mean 0.5, std 0.5 on ``x/255``) must never map a uint8 value to exactly 0
  (it does not: ``v/255 == 0.5`` has no integer solution) — tested with uniform images;
  the generation prompt ends with ``Assistant:`` and no trailing space (the space belongs to
  the first generated token with byte-level BPE).
- Qwen2.5-VL: ``mrope_section`` sums to ``head_dim / 2``; the vision tower's
  ``out_hidden_size`` equals the text hidden size; image/vision token ids match the
  tokenizer; the processor is built from the PIL image processor without a video processor
  (``AutoProcessor`` would otherwise silently return only the tokenizer when torchvision is
  missing); inputs must carry ``mm_token_type_ids`` or the model silently falls back to 1-D
  positions — :func:`processor_call_kwargs` says what to pass.

About 1,000 lines, over the project's ~600: the tiny model's tokenizer, processor, configs,
structured initialisation, saving and loading are one concept — the model a trainer
receives — and share private helpers that a split would have to make public. The checks of
a checkpoint folder are in :mod:`rsground_lib.checkpoints`, the checkpoint teacher in
:mod:`rsground_lib.teachers`. LoRA settings are PEFT's
own ``LoraConfig`` (:meth:`rsground_lib.training.sft.SftConfig.peft_config`).

Book chapter: "CoT-SFT" (``book/03_cot_sft.py``).
"""

from __future__ import annotations

import contextlib
import importlib.resources
import json
import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rsground_lib import boxes, checkpoints, prompts
from rsground_lib.config import help_field, parse_config

DEFAULT_MODEL = "Qwen/Qwen2.5-VL-3B-Instruct"
"""The GPU default: a real Qwen2.5-VL checkpoint (hub id), loaded in bf16 on CUDA."""

FAMILIES: tuple[str, ...] = ("idefics3", "qwen2_5_vl")
"""Families :func:`build_tiny_model` can build."""

TINY_MARKER = "rsground_tiny.json"
"""File a tiny-model folder carries beside the weights: how it was built (family, seed, sizes)."""

TRAINING_RECORD = "rsground_training.json"
"""File a trained checkpoint carries beside the weights: what trained it (stage, steps, ...)."""

# The special tokens of each family. They are in the tokenizer before the vocabulary size of
# the text model is fixed (trap: the processor adds missing ones afterwards and the
# embedding table would be too small).
_IDEFICS3_SPECIALS = [
    "<|begin_of_text|>",
    "<|endoftext|>",
    "<end_of_utterance>",
    "<fake_token_around_image>",
    "<image>",
    "<global-img>",
    *[f"<row_{i + 1}_col_{j + 1}>" for i in range(6) for j in range(6)],
]
_QWEN_SPECIALS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
]
# The answer contract's tags: ordinary (non-special) added tokens, one token each, kept by
# decode(skip_special_tokens=True).
_CONTRACT_TOKENS = ["<think>", "</think>", "<answer>", "</answer>"]

# Words the tokenizer learns as whole tokens (anything else falls back to byte-level BPE
# pieces). Synthetic expressions, CoT traces and the prompts use these.
_CORPUS_WORDS = """
the a an of in on at to and or is are there one two three four five six seven eight nine ten
image object objects box boxes pixels pixel find locate described description describes by
upper lower left right top bottom middle center centre central corner side edge near next
above below beside between far close closest farthest leftmost rightmost topmost
bottommost largest smallest biggest tiny small large big medium long short wide narrow
first second third fourth fifth last from of with without other another each all only
red green blue yellow white black gray grey orange purple brown dark light bright
airplane airplanes plane planes ship ships boat boats vehicle vehicles car cars truck
trucks storage tank tanks building buildings house houses tree trees pool pools court
courts tennis basketball field fields bridge bridges harbor harbour stadium chimney dam
windmill windmills airport station train roundabout parking lot road roads expressway
service area toll golf course ground track baseball diamond overpass container crane
round square rectangular circular oval shaped row column group cluster pair
it its this that which who what where image's so therefore then answer think located
same different than more less most least as be has have count counted see sees i we
step reasoning position positions coordinates coordinate x y width height size sizes
number candidate candidates target matches match only one which
""".split()


# ----------------------------------------------------------------------------- settings


@dataclass
class TinyModelSpec:
    """Every size knob of a tiny model (defaults: the measured base recipe, ~1.1 M
    parameters); each field's meaning is its ``help``. Built from a mapping by
    :meth:`from_dict` (unknown keys are a ValueError)."""

    image_size_px: int = help_field(
        "side of the square model input, pixels (Qwen2.5-VL: a multiple of 28)", default=64
    )
    patch_size_px: int = help_field("vision patch side, pixels (Idefics3)", default=8)
    scale_factor: int = help_field(
        "pixel-shuffle factor of the Idefics3 connector: image tokens = "
        "(image_size_px / patch_size_px)² / scale_factor²",
        default=2,
    )
    vision_hidden: int = help_field("vision tower width", default=128)
    vision_layers: int = help_field("vision tower layers", default=2)
    vision_heads: int = help_field("vision attention heads", default=4)
    vision_intermediate: int = help_field("vision MLP width", default=256)
    text_hidden: int = help_field("text model width", default=128)
    text_layers: int = help_field("text model layers", default=2)
    text_heads: int = help_field("text attention heads", default=4)
    text_intermediate: int = help_field("text MLP width", default=384)
    max_position_embeddings: int = help_field("longest sequence, tokens", default=1024)
    max_number_token: int = help_field(
        "every integer 0..max_number_token is one token", default=255
    )
    pos_init: str = help_field(
        "init of the vision tower's learned absolute position embedding (Idefics3): 'sincos' "
        "(a 2-D sine-cosine table times pos_init_scale: position linearly readable at step 0) "
        "or 'random' (the library's default init)",
        default="sincos",
    )
    pos_init_scale: float = help_field("scale of the sine-cosine position table", default=1.0)
    coord_init_scale: float = help_field(
        "> 0: a 1-D sine-cosine code of the value added to the input and output embeddings of "
        "the number tokens (neighbouring coordinates start similar)",
        default=0.0,
    )

    @classmethod
    def from_dict(cls, values: dict) -> TinyModelSpec:
        return parse_config(cls, values)


# ----------------------------------------------------------------------------- tokenizer


def _number_strings(max_number: int) -> list[str]:
    return [str(n) for n in range(max_number + 1)]


def _tokenizer_corpus(max_number: int) -> list[str]:
    """The fixed training corpus: prompts, vocabulary words, and every number with and
    without a leading space (each appears often enough to be merged into one token)."""
    lines = [prompts.SYSTEM_PROMPT, prompts.USER_TEMPLATE, " ".join(_CORPUS_WORDS)]
    lines += [w.capitalize() for w in _CORPUS_WORDS]
    lines += ["User: Assistant: System: user assistant system [x1, y1, x2, y2] (x, y) x1 y1 x2 y2"]
    numbers = _number_strings(max_number)
    for _ in range(3):
        lines.append(" " + " ".join(numbers))
        lines.append("[" + ", ".join(numbers) + "]")
        lines.append(" ".join(f"{a}x{a}" for a in numbers))
    return lines


def build_tokenizer(family: str = "idefics3", *, max_number_token: int = 255):
    """A byte-level BPE tokenizer trained offline with ``tokenizers`` on a fixed corpus,
    wrapped as a transformers fast tokenizer with the family's special tokens.

    Every integer ``0..max_number_token`` (with or without one leading space) is one token;
    larger numbers fall back to byte-level pieces. The contract's tags are one token each.
    Deterministic: the corpus and trainer settings are fixed (no seed involved).
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    _check_family(family)
    specials = _IDEFICS3_SPECIALS if family == "idefics3" else _QWEN_SPECIALS
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=100_000,  # a cap never reached: every corpus word ends as one token
        min_frequency=1,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_tokenizer_corpus(max_number_token), trainer=trainer)
    from tokenizers import AddedToken

    tok.add_tokens([AddedToken(t, normalized=False, special=False) for t in _CONTRACT_TOKENS])
    if family == "idefics3":
        kw = dict(
            bos_token="<|begin_of_text|>",
            eos_token="<end_of_utterance>",
            pad_token="<|endoftext|>",
            unk_token="<|endoftext|>",
            extra_special_tokens=[
                "<fake_token_around_image>",
                "<image>",
                "<end_of_utterance>",
                "<global-img>",
            ],
        )
    else:
        kw = dict(
            eos_token="<|im_end|>",
            pad_token="<|endoftext|>",
            extra_special_tokens=[
                t for t in _QWEN_SPECIALS if t not in ("<|endoftext|>", "<|im_end|>")
            ],
        )
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, model_max_length=4096, **kw)
    # Byte-level BPE and no automatic BOS: the chat template writes it.
    fast.padding_side = "right"
    number_ids = number_token_ids(fast, max_number_token)
    bad = [n for n, ids in number_ids.items() if len(ids) != 2]
    if bad:  # pragma: no cover - guarded by the fixed corpus
        raise RuntimeError(f"tokenizer: numbers {bad[:5]} are not single tokens")
    return fast


def number_token_ids(tokenizer, max_number: int) -> dict[int, tuple[int, ...]]:
    """``{n: (id of "n", id of " n")}`` for ``n`` in ``0..max_number`` where both are single
    tokens (a number that is not one token in a form maps to that form's token list)."""
    out: dict[int, tuple[int, ...]] = {}
    for n in range(max_number + 1):
        ids: list[int] = []
        for text in (str(n), f" {n}"):
            got = tokenizer.encode(text, add_special_tokens=False)
            ids.extend(got)
        out[n] = tuple(ids)
    return out


# ----------------------------------------------------------------------------- processors


def _check_family(family: str) -> None:
    if family not in FAMILIES:
        raise ValueError(f"family: expected one of {FAMILIES}; got {family!r}")


def chat_template(family: str) -> str:
    """The family's chat template: TRL's training variant (``{% generation %}`` markers around
    the assistant turn, so ``assistant_only_loss`` works), read from the installed TRL."""
    _check_family(family)
    name = "idefics3_training.jinja" if family == "idefics3" else "qwen2_5_vl_training.jinja"
    return (importlib.resources.files("trl") / "chat_templates" / name).read_text()


def image_seq_len(spec: TinyModelSpec, family: str = "idefics3") -> int:
    """Image tokens per image: ``(side / patch)² / merge²`` (Idefics3: ``scale_factor``;
    Qwen2.5-VL: spatial merge 2 of 14-px patches). ValueError when the sizes do not divide."""
    if family == "idefics3":
        side, patch, merge = spec.image_size_px, spec.patch_size_px, spec.scale_factor
    else:
        side, patch, merge = spec.image_size_px, 14, 2
    per_side = side // patch
    if side % patch or per_side % merge:
        raise ValueError(
            f"{family}: image_size_px={side} must be a multiple of patch {patch} × merge {merge}"
        )
    return (per_side // merge) ** 2


def _build_processor(family: str, tokenizer, spec: TinyModelSpec):
    template = chat_template(family)
    if family == "idefics3":
        from transformers import Idefics3Processor
        from transformers.models.idefics3.image_processing_pil_idefics3 import (
            Idefics3ImageProcessorPil,
        )

        side = spec.image_size_px
        image_processor = Idefics3ImageProcessorPil(
            do_resize=True,
            size={"longest_edge": side},
            max_image_size={"longest_edge": side},
            do_image_splitting=False,
            do_pad=True,
            image_mean=[0.5, 0.5, 0.5],
            image_std=[0.5, 0.5, 0.5],
        )
        return Idefics3Processor(
            image_processor=image_processor,
            tokenizer=tokenizer,
            image_seq_len=image_seq_len(spec, family),
            chat_template=template,
        )
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    pixels = spec.image_size_px * spec.image_size_px
    image_processor = Qwen2VLImageProcessorPil(
        min_pixels=pixels, max_pixels=pixels, patch_size=14, temporal_patch_size=2, merge_size=2
    )
    return qwen_image_processor_only(image_processor, tokenizer, chat_template=template)


_QWEN_IMAGE_ONLY_CLASS = None


def qwen_image_processor_only(image_processor, tokenizer, *, chat_template=None):
    """A Qwen2.5-VL processor without its video part (which needs torchvision).

    ``Qwen2_5_VLProcessor`` insists on a video processor, and ``AutoProcessor`` silently
    returns a bare tokenizer when torchvision is missing; this subclass has only the image
    processor and the tokenizer, and saves as a ``Qwen2_5_VLProcessor`` (images and text
    behave identically; videos are refused).
    """
    global _QWEN_IMAGE_ONLY_CLASS
    if _QWEN_IMAGE_ONLY_CLASS is None:
        from transformers import ProcessorMixin, Qwen2_5_VLProcessor

        class Qwen2_5_VLImageOnlyProcessor(Qwen2_5_VLProcessor):
            video_processor = None

            def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
                self.image_token = "<|image_pad|>"
                self.video_token = "<|video_pad|>"
                self.image_token_id = tokenizer.convert_tokens_to_ids(self.image_token)
                self.video_token_id = tokenizer.convert_tokens_to_ids(self.video_token)
                ProcessorMixin.__init__(
                    self, image_processor, tokenizer, chat_template=chat_template
                )

            def to_dict(self):
                out = super().to_dict()
                out["processor_class"] = "Qwen2_5_VLProcessor"
                return out

        _QWEN_IMAGE_ONLY_CLASS = Qwen2_5_VLImageOnlyProcessor
    return _QWEN_IMAGE_ONLY_CLASS(image_processor, tokenizer, chat_template=chat_template)


# ----------------------------------------------------------------------------- model


def sincos_2d(grid: int, dim: int) -> Any:
    """A ``(grid*grid, dim)`` 2-D sine-cosine table (MAE/ViT style): half the channels encode
    the row, half the column; unit-scale values."""
    import torch

    if dim % 4:
        raise ValueError(f"sincos_2d: dim must be a multiple of 4; got {dim}")
    quarter = dim // 4
    omega = 1.0 / (10000 ** (torch.arange(quarter, dtype=torch.float64) / quarter))
    pos = torch.arange(grid, dtype=torch.float64)
    ang = pos[:, None] * omega[None, :]  # (grid, quarter)
    emb_1d = torch.cat([torch.sin(ang), torch.cos(ang)], dim=1)  # (grid, dim/2)
    rows = emb_1d[:, None, :].expand(grid, grid, dim // 2)
    cols = emb_1d[None, :, :].expand(grid, grid, dim // 2)
    return torch.cat([rows, cols], dim=-1).reshape(grid * grid, dim).float()


def sincos_1d(values: Sequence[float], dim: int, period: float = 256.0) -> Any:
    """A ``(len(values), dim)`` sine-cosine code of scalar values (frequencies from one cycle
    per ``period`` up to one cycle per ~4 units)."""
    import torch

    half = dim // 2
    v = torch.as_tensor(list(values), dtype=torch.float64)
    freqs = (2 * math.pi / period) * (period / 4.0) ** (
        torch.arange(half, dtype=torch.float64) / max(half - 1, 1)
    )
    ang = v[:, None] * freqs[None, :]
    out = torch.zeros(len(v), dim, dtype=torch.float64)
    out[:, 0 : 2 * half : 2] = torch.sin(ang)
    out[:, 1 : 2 * half : 2] = torch.cos(ang)
    return out.float()


def _text_config_fields(spec: TinyModelSpec, tokenizer, **special_tokens) -> dict:
    """The text model's size of a tiny model, the same for both families (the spec's hidden
    size, MLP width, layers, heads — no grouped-query attention —, positions; untied output
    embeddings; the vocabulary of ``tokenizer``) with the family's ``special_tokens`` ids."""
    return {
        "vocab_size": len(tokenizer),
        "hidden_size": spec.text_hidden,
        "intermediate_size": spec.text_intermediate,
        "num_hidden_layers": spec.text_layers,
        "num_attention_heads": spec.text_heads,
        "num_key_value_heads": spec.text_heads,
        "max_position_embeddings": spec.max_position_embeddings,
        "tie_word_embeddings": False,
        **special_tokens,
    }


def _idefics3_config(spec: TinyModelSpec, tokenizer):
    from transformers import Idefics3Config, LlamaConfig
    from transformers.models.idefics3.configuration_idefics3 import Idefics3VisionConfig

    image_seq_len(spec, "idefics3")  # validates divisibility
    vision = Idefics3VisionConfig(
        hidden_size=spec.vision_hidden,
        intermediate_size=spec.vision_intermediate,
        num_hidden_layers=spec.vision_layers,
        num_attention_heads=spec.vision_heads,
        image_size=spec.image_size_px,
        patch_size=spec.patch_size_px,
    )
    text = LlamaConfig(
        **_text_config_fields(
            spec,
            tokenizer,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        ),
        rms_norm_eps=1e-5,
    )
    cfg = Idefics3Config(
        vision_config=vision.to_dict(),
        text_config=text.to_dict(),
        image_token_id=tokenizer.convert_tokens_to_ids("<image>"),
        scale_factor=spec.scale_factor,
        tie_word_embeddings=False,
        pad_token_id=tokenizer.pad_token_id,
    )
    return cfg


def tiny_qwen_config(spec: TinyModelSpec, tokenizer):
    from transformers import Qwen2_5_VLConfig

    image_seq_len(spec, "qwen2_5_vl")
    head_dim = spec.text_hidden // spec.text_heads
    half = head_dim // 2
    # mrope_section: (temporal, height, width) rotary halves; must sum to head_dim / 2.
    t = half // 4
    hw = (half - t) // 2
    mrope = [half - 2 * hw, hw, hw]
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in _QWEN_SPECIALS}
    cfg = Qwen2_5_VLConfig(
        text_config=dict(
            **_text_config_fields(
                spec,
                tokenizer,
                bos_token_id=None,
                eos_token_id=ids["<|im_end|>"],
                pad_token_id=ids["<|endoftext|>"],
            ),
            rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": mrope},
        ),
        vision_config=dict(
            depth=spec.vision_layers,
            hidden_size=spec.vision_hidden,
            intermediate_size=spec.vision_intermediate,
            num_heads=spec.vision_heads,
            out_hidden_size=spec.text_hidden,  # trap: must equal the text hidden size
            patch_size=14,
            spatial_merge_size=2,
            temporal_patch_size=2,
            window_size=112,
            fullatt_block_indexes=list(range(spec.vision_layers)),
        ),
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=False,
    )
    return cfg


def _structured_init(model, tokenizer, spec: TinyModelSpec, family: str) -> None:
    import torch

    with torch.no_grad():
        if family == "idefics3" and spec.pos_init == "sincos":
            emb = model.model.vision_model.embeddings.position_embedding
            grid = spec.image_size_px // spec.patch_size_px
            emb.weight.copy_(sincos_2d(grid, emb.weight.shape[1]) * spec.pos_init_scale)
        elif spec.pos_init not in ("sincos", "random"):
            raise ValueError(f"pos_init: expected 'sincos' or 'random'; got {spec.pos_init!r}")
        if spec.coord_init_scale > 0:
            numbers = number_token_ids(tokenizer, spec.max_number_token)
            code = sincos_1d(list(numbers), spec.text_hidden, period=4.0 * spec.image_size_px)
            inp = model.get_input_embeddings().weight
            out = model.get_output_embeddings().weight
            for row, ids in zip(code, numbers.values(), strict=True):
                for tid in ids:
                    inp[tid] += row * spec.coord_init_scale * inp.std()
                    out[tid] += row * spec.coord_init_scale * out.std()


def build_tiny_model(
    seed: int = 0,
    *,
    family: str = "idefics3",
    image_size: int | None = None,
    spec: TinyModelSpec | dict | None = None,
    **spec_overrides,
):
    """``(model, processor)``: a tiny vision-language model of ``family``, built offline in
    seconds, deterministic from ``seed`` (same seed → identical weights and tokenizer).

    ``spec`` (a :class:`TinyModelSpec` or dict) and keyword overrides set the sizes;
    ``image_size`` is a shortcut for ``image_size_px`` (for ``qwen2_5_vl`` it defaults to 56,
    a multiple of 28). Unknown keys are a ValueError. The global torch RNG is left untouched
    (a forked RNG is seeded).
    """
    import torch

    _check_family(family)
    if isinstance(spec, TinyModelSpec):
        values = asdict(spec)
    else:
        values = dict(spec or {})
    values.update(spec_overrides)
    if image_size is not None:
        values["image_size_px"] = image_size
    if family == "qwen2_5_vl":
        values.setdefault("image_size_px", 56)
        values.setdefault("pos_init", "random")
    spec = TinyModelSpec.from_dict(values)
    tokenizer = build_tokenizer(family, max_number_token=spec.max_number_token)
    processor = _build_processor(family, tokenizer, spec)
    if len(processor.tokenizer) != len(tokenizer):  # pragma: no cover - trap guard
        raise RuntimeError("processor added tokens after the vocabulary was sized")
    from transformers import AutoModelForImageTextToText

    cfg = (
        _idefics3_config(spec, tokenizer)
        if family == "idefics3"
        else tiny_qwen_config(spec, tokenizer)
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = AutoModelForImageTextToText.from_config(cfg, dtype=torch.float32)
        _structured_init(model, tokenizer, spec, family)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.bos_token_id = tokenizer.bos_token_id
    model.config.rsground_tiny = {"family": family, "seed": seed, **asdict(spec)}
    model.eval()
    return model, processor


# ----------------------------------------------------------------------------- save / load


def save(
    model,
    processor,
    path: str | os.PathLike,
    *,
    extra: dict | None = None,
    prompt_style: str | None = None,
) -> Path:
    """Write ``model`` and ``processor`` to folder ``path`` (safetensors, processor and
    tokenizer files), :data:`TINY_MARKER` only when the model is a tiny one (the marker keeps
    the tiny model's architecture recipe; a trained Qwen2.5-VL must not carry it), and
    ``extra`` (what trained it) as :data:`TRAINING_RECORD`. ``prompt_style``, the style the
    model was trained in, goes into its ``config.json`` (:func:`remember_prompt_style`), so
    every later use prompts it so (:func:`checkpoint_prompt_style`). Returns the path."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    if prompt_style is not None:
        remember_prompt_style(model, prompt_style)
    model.save_pretrained(path, safe_serialization=True)
    processor.save_pretrained(path)
    info = dict(getattr(model.config, "rsground_tiny", None) or {})
    if info:
        (path / TINY_MARKER).write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
    if extra:
        (path / TRAINING_RECORD).write_text(json.dumps(extra, indent=2, sort_keys=True) + "\n")
    return path


def free_memory() -> None:
    """Return the memory of models the caller has deleted (``del model``): a garbage
    collection, then CUDA's cached blocks to the driver. On the full profile a chapter that
    keeps a 3B model it no longer needs holds about 7 GiB of the GPU the next trainer needs
    (issue 23); on a CPU only the collection runs."""
    import gc

    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def is_tiny(model) -> bool:
    """Whether ``model`` is one of the project's tiny models (built by
    :func:`build_tiny_model`; its config carries how)."""
    return bool(getattr(model.config, "rsground_tiny", None))


PROMPT_STYLE_ATTR = "rsground_prompt_style"
"""The config attribute under which a trained checkpoint remembers the prompt style it was
trained with (written into ``config.json`` by :func:`remember_prompt_style`)."""


def remember_prompt_style(model, prompt_style: str) -> None:
    """Record on ``model.config`` the prompt style it is trained with, so the checkpoint saved
    from it answers in that style wherever it is loaded (:func:`checkpoint_prompt_style`)."""
    if prompt_style not in prompts.PROMPT_STYLES:
        raise ValueError(
            f"prompt_style: expected one of {prompts.PROMPT_STYLES}; got {prompt_style!r}"
        )
    setattr(model.config, PROMPT_STYLE_ATTR, prompt_style)


def checkpoint_prompt_style(model) -> str:
    """The prompt style a loaded checkpoint answers in: the one it was trained with (recorded
    by :func:`remember_prompt_style` in its ``config.json``); for a checkpoint that records
    none, ``"compact"`` for the project's tiny models and ``"full"`` for a Qwen2.5-VL
    checkpoint (the hub's, trained on conversations with a system prompt)."""
    recorded = getattr(model.config, PROMPT_STYLE_ATTR, None)
    if recorded is not None:
        if recorded not in prompts.PROMPT_STYLES:
            raise ValueError(
                f"the checkpoint's config.json records {PROMPT_STYLE_ATTR}={recorded!r}; "
                f"expected one of {prompts.PROMPT_STYLES}"
            )
        return recorded
    return "compact" if is_tiny(model) else "full"


def resolve_checkpoint(name_or_path: str | os.PathLike, *, weights: bool) -> str:
    """What to hand to transformers: a checked local folder, or the hub id unchanged."""
    folder = checkpoints.checkpoint_folder(name_or_path)
    if folder is None:
        return str(name_or_path)
    return str(checkpoints.check_checkpoint(folder, weights=weights))


def hub_fetch_hint(name: str, err: Exception) -> str:
    """The message for a hub id that could not be loaded: the id, whether the hub is switched
    off (``HF_HUB_OFFLINE``), and how to fetch it with progress (transformers' own message
    says neither which id nor what to do)."""
    offline = os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")
    why = (
        "it is not in the local Hugging Face cache and HF_HUB_OFFLINE is set"
        if offline
        else "it could not be loaded from the hub or the local cache"
    )
    return (
        f"{name}: {why}; fetch it first on a machine with the hub in reach: "
        f"hf download {name} (rsground doctor --download does it for the default model) "
        f"[{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}]"
    )


@contextlib.contextmanager
def _naming_the_hub_id(name: str):
    """Loading a hub id (not a local folder): an OSError becomes :func:`hub_fetch_hint`'s."""
    try:
        yield
    except OSError as err:
        if checkpoints.checkpoint_folder(name) is not None:
            raise
        raise OSError(hub_fetch_hint(name, err)) from err


def load_processor(name_or_path: str | os.PathLike):
    """The processor of a checkpoint (folder or hub id) through ``AutoProcessor``.

    A local folder (:func:`rsground_lib.checkpoints.checkpoint_folder`) is checked first (:func:`rsground_lib.checkpoints.check_checkpoint`,
    weights aside). Without torchvision, ``AutoProcessor`` may return a bare tokenizer for
    Qwen2.5-VL; then the processor is rebuilt from the PIL image processor and the tokenizer
    (no video part).
    """
    name = resolve_checkpoint(name_or_path, weights=False)
    with _naming_the_hub_id(name):
        return _load_processor(name)


def _load_processor(name: str):
    from transformers import AutoConfig, AutoProcessor, AutoTokenizer, ProcessorMixin

    model_type = AutoConfig.from_pretrained(name).model_type
    qwen = model_type in ("qwen2_5_vl", "qwen2_vl")
    processor = None
    # a local folder's template file first: a malformed chat_template.json is an error that
    # names it, not a KeyError from inside transformers
    folder_template = _folder_chat_template(name) if Path(name).is_dir() else None
    try:
        processor = AutoProcessor.from_pretrained(name)
    except (OSError, ImportError):
        # A Qwen folder without a video processor (saved by the image-only processor):
        # AutoProcessor fails on the missing video_preprocessor_config.json (OSError); a
        # folder in the hub's layout without torchvision installed: the video processor
        # raises ImportError. Either way the image-only processor below serves.
        if not qwen:
            raise
    if isinstance(processor, ProcessorMixin):
        return processor
    if not qwen:
        raise RuntimeError(
            f"{name}: AutoProcessor returned {type(processor).__name__}, not a processor "
            "(is torchvision missing?)"
        )
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    image_processor = Qwen2VLImageProcessorPil.from_pretrained(name)
    tokenizer = AutoTokenizer.from_pretrained(name)
    # the template file beside the weights first, as transformers' processors read it
    template = (
        (folder_template if Path(name).is_dir() else _folder_chat_template(name))
        or getattr(processor, "chat_template", None)
        or getattr(tokenizer, "chat_template", None)
    )
    if template is None:
        raise RuntimeError(
            f"{name}: no chat template (neither chat_template.jinja, chat_template.json nor the "
            "tokenizer's); the prompts cannot be rendered"
        )
    return qwen_image_processor_only(image_processor, tokenizer, chat_template=template)


def _folder_chat_template(name: str) -> str | None:
    """The chat template saved beside a checkpoint: ``chat_template.jinja`` (what
    ``save_pretrained`` writes) or ``chat_template.json`` (the hub layout of Qwen2.5-VL,
    ``{"chat_template": ...}``), from a local folder or the hub cache; None if neither."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError

    folder = Path(name)
    for filename in ("chat_template.jinja", "chat_template.json"):
        if folder.is_dir():
            path = folder / filename
            if not path.exists():
                continue
        else:
            try:
                path = Path(hf_hub_download(name, filename))
            except EntryNotFoundError:  # not in the repository (or, offline, not cached)
                continue
        text = path.read_text()
        if filename.endswith(".json"):
            try:
                text = json.loads(text)["chat_template"]
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                raise ValueError(
                    f"{path}: expected a JSON object with a 'chat_template' string"
                ) from exc
        return text
    return None


def bf16_usable() -> bool:
    """Whether this machine computes in bf16: a CUDA GPU that supports it (Ampere and
    later). A GPU without it (V100, T4) gets float32 from :func:`default_dtype` and the
    trainers (bf16 emulated there is slow; float16 overflows in Qwen2.5-VL's activations)."""
    import torch

    return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())


def default_dtype(device: str):
    """The dtype :func:`load_model` uses on ``device``: bf16 on a CUDA device where
    :func:`bf16_usable`, float32 elsewhere (a CPU: bf16 is 1.75× slower there)."""
    import torch

    return torch.bfloat16 if str(device).startswith("cuda") and bf16_usable() else torch.float32


def load_model(
    name_or_path: str | os.PathLike = DEFAULT_MODEL,
    *,
    dtype=None,
    device=None,
):
    """``(model, processor)`` from a folder (a tiny model saved by :func:`save`, a trained
    checkpoint) or a hub id (default :data:`DEFAULT_MODEL`).

    A local folder (:func:`rsground_lib.checkpoints.checkpoint_folder`: a ``Path``, an existing path, or a string
    that looks like one) is checked before transformers reads it (:func:`rsground_lib.checkpoints.check_checkpoint`):
    a missing folder or file is a ``FileNotFoundError``, a broken one (an empty or truncated
    ``model.safetensors``, a ``tokenizer.json`` that is not JSON) a ``ValueError``, each
    naming the path. A hub id goes to transformers unchanged.

    ``dtype`` defaults to :func:`default_dtype` (bf16 on a GPU that supports it, else
    float32); ``device`` to ``"cuda"`` when
    available. Never sets ``trust_remote_code``. Under ``HF_HUB_OFFLINE=1`` a hub id must be
    in the local cache. The real-checkpoint path cannot be exercised on the CPU test machine
    (nothing can be downloaded there); it is the same two ``Auto*`` calls.
    """
    import torch
    from transformers import AutoModelForImageTextToText

    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if dtype is None:
        dtype = default_dtype(device)
    elif isinstance(dtype, str):
        dtype = getattr(torch, dtype)
    name = resolve_checkpoint(name_or_path, weights=True)
    with _naming_the_hub_id(name):
        processor = _load_processor(name)
        model = AutoModelForImageTextToText.from_pretrained(name, dtype=dtype)
    model.to(device)
    model.eval()
    return model, processor


def load(path: str | os.PathLike, **kwargs):
    """:func:`load_model` for a folder written by :func:`save`: ``path`` is always a local
    folder (never a hub id), checked by :func:`rsground_lib.checkpoints.check_checkpoint`."""
    return load_model(checkpoints.check_checkpoint(path), **kwargs)


def model_image_size(processor, width: int, height: int) -> tuple[int, int]:
    """``(width, height)`` of the image as the model sees it — the frame of ``bbox_model``.

    Idefics3 without splitting: a ``L × L`` square (``L = max_image_size["longest_edge"]``;
    the processor squashes any aspect ratio). Qwen2-VL family: :func:`boxes.model_size`
    with the processor's ``min_pixels``/``max_pixels``.
    """
    ip = processor.image_processor
    name = type(ip).__name__
    if name.startswith("Idefics3"):
        if getattr(ip, "do_image_splitting", False):
            raise ValueError("model_image_size: Idefics3 with image splitting is not supported")
        side = int(ip.max_image_size["longest_edge"])
        return side, side
    return tuple(
        boxes.model_size(
            (width, height),
            min_pixels=getattr(ip, "min_pixels", None) or ip.size.get("shortest_edge"),
            max_pixels=getattr(ip, "max_pixels", None) or ip.size.get("longest_edge"),
        )
    )


def processor_call_kwargs(processor) -> dict:
    """Keyword arguments every processor call should carry: Qwen2.5-VL needs
    ``return_mm_token_type_ids=True`` (without ``mm_token_type_ids`` the model silently falls
    back to 1-D positions)."""
    if type(processor).__name__.startswith("Qwen2"):
        return {"return_mm_token_type_ids": True}
    return {}


def _text_model(model):
    """The decoder of a vision-language model's text side (Idefics3: ``text_model``;
    Qwen2.5-VL: ``language_model``)."""
    inner = getattr(model, "model", model)
    for name in ("text_model", "language_model"):
        if hasattr(inner, name):
            return getattr(inner, name)
    raise ValueError(f"{type(model).__name__}: no text model (text_model / language_model) found")


def grow_text_layers(model, layers: int, *, seed: int = 0) -> int:
    """Deepen the text model to ``layers`` decoder layers by appending new ones that start as
    the identity: their attention output and MLP down projections are zero, so the grown
    model computes exactly what it computed before (the residual stream passes through), and
    training then gives the new layers a job. Their other weights are drawn with the config's
    ``initializer_range`` from a generator seeded with ``seed`` (the global torch RNG is left
    untouched). Updates the configs (and the tiny marker's ``text_layers``); returns the number
    of layers added. ``layers`` below the current depth is a ValueError. Why: the text skills
    of an executable trace (copy, compare) need four text layers at the tiny width (the probe
    in ``checkpoints/tiny-base/README.md``); growing the committed two-layer base keeps what it
    learned about images. Our design (stacking with identity-initialised layers)."""
    import torch

    text = _text_model(model)
    cfg = text.config
    have = len(text.layers)
    if isinstance(layers, bool) or not isinstance(layers, int) or layers < have:
        raise ValueError(
            f"grow_text_layers: expected an integer >= the current {have} layers; got {layers!r}"
        )
    if layers == have:
        return 0
    cls = type(text.layers[0])
    ref = next(text.layers[0].parameters())
    cfg.num_hidden_layers = layers
    if getattr(cfg, "layer_types", None):
        cfg.layer_types = list(cfg.layer_types) + [cfg.layer_types[-1]] * (layers - have)
    std = float(getattr(cfg, "initializer_range", 0.02))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for i in range(have, layers):
            layer = cls(cfg, layer_idx=i).to(device=ref.device, dtype=ref.dtype)
            with torch.no_grad():
                for name, p in layer.named_parameters():
                    if name.endswith(("o_proj.weight", "down_proj.weight")) or name.endswith(
                        "bias"
                    ):
                        p.zero_()
                    elif "norm" in name:
                        p.fill_(1.0)
                    else:
                        p.normal_(0.0, std)
            text.layers.append(layer)
    text_config = getattr(model.config, "text_config", None)
    if text_config is not None and text_config is not cfg:
        text_config.num_hidden_layers = layers
        if getattr(cfg, "layer_types", None):
            text_config.layer_types = list(cfg.layer_types)
    info = getattr(model.config, "rsground_tiny", None)
    if isinstance(info, dict) and "text_layers" in info:
        info["text_layers"] = layers
    return layers - have


def init_tokens_from(model, tokenizer, mapping: dict[str, str]) -> dict[str, str]:
    """Copy the input and output embedding rows of existing tokens onto other tokens
    (``{new: existing}``, e.g. ``{"<think>": "<answer>"}``): a token the model has never
    produced starts where a related one stands, the usual initialisation of new tokens. Both
    must be single tokens of ``tokenizer``; a ValueError names any that is not. Returns the
    mapping applied (the tiny base of the CoT-SFT chapter never wrote ``<think>``)."""
    import torch

    def single(tok: str) -> int:
        ids = tokenizer(tok, add_special_tokens=False)["input_ids"]
        if len(ids) != 1:
            raise ValueError(f"init_tokens_from: {tok!r} is not one token of the tokenizer ({ids})")
        return int(ids[0])

    pairs = [(single(new), single(old)) for new, old in mapping.items()]
    tables = [model.get_input_embeddings().weight]
    out = model.get_output_embeddings()
    if out is not None and out.weight.data_ptr() != tables[0].data_ptr():
        tables.append(out.weight)
    with torch.no_grad():
        for table in tables:
            for new, old in pairs:
                table[new] = table[old]
    return dict(mapping)


__all__ = [
    "DEFAULT_MODEL",
    "FAMILIES",
    "TinyModelSpec",
    "checkpoint_prompt_style",
    "remember_prompt_style",
    "PROMPT_STYLE_ATTR",
    "free_memory",
    "grow_text_layers",
    "is_tiny",
    "bf16_usable",
    "build_tiny_model",
    "default_dtype",
    "build_tokenizer",
    "chat_template",
    "image_seq_len",
    "load",
    "load_model",
    "load_processor",
    "model_image_size",
    "number_token_ids",
    "processor_call_kwargs",
    "save",
    "sincos_1d",
    "sincos_2d",
]
