"""Checkpoint folders: whether a name is a local folder or a hub id, and a check of a local
folder's files before transformers reads it, so that a missing or broken file is reported by
its path (transformers alone reports a truncated ``model.safetensors`` as a header error
without the path, a missing ``tokenizer.json`` as a hint to install sentencepiece, and a
missing folder as a malformed hub repo id).

Book chapter: "Design and our reading of the paper" (``book/design.md``, "Errors").
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import re
from pathlib import Path
from typing import Any

_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?")

_SAFETENSORS_DTYPE_BYTES = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E4M3": 1, "F8_E5M2": 1,
    "U16": 2, "I16": 2, "F16": 2, "BF16": 2,
    "U32": 4, "I32": 4, "F32": 4,
    "U64": 8, "I64": 8, "F64": 8,
}  # fmt: skip


def checkpoint_folder(name_or_path: str | os.PathLike) -> Path | None:
    """The local folder ``name_or_path`` names, or ``None`` for a hub id.

    Local: a ``Path`` (any ``os.PathLike``), an existing path, or a string that looks like a
    path — it starts with ``/``, ``./``, ``../`` or ``~``, is ``.`` or ``..``, or is not of
    the hub's ``name`` / ``owner/name`` shape (a second ``/``, a space, a trailing ``/``).
    Anything else (``"Qwen/Qwen2.5-VL-3B-Instruct"``, ``"gpt2"``) is a hub id and goes to
    transformers unchanged (under ``HF_HUB_OFFLINE=1``, from the local cache). ``~`` is
    expanded; nothing is checked here (:func:`check_checkpoint` does that).
    """
    if isinstance(name_or_path, os.PathLike):
        return Path(name_or_path).expanduser()
    text = str(name_or_path)
    path = Path(text).expanduser()
    if path.exists():
        return path
    looks_like_path = (
        text.startswith(("/", "./", "../", "~"))
        or text in (".", "..")
        or not _HUB_ID.fullmatch(text)
    )
    return path if looks_like_path else None


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ValueError(f"{path}: broken {what} (not valid UTF-8 JSON: {exc})") from exc


def _check_safetensors(path: Path) -> None:
    """The header of a ``.safetensors`` file fits the file: an 8-byte header length, a JSON
    header, and tensor data that covers the rest exactly (a truncated copy fails here,
    naming the file, instead of deep inside safetensors)."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing weights file")
    size = path.stat().st_size
    broken = f"{path}: broken weights file ({size} bytes)"
    if size < 8:
        raise ValueError(f"{broken}: too short for a safetensors header (empty or truncated)")
    with path.open("rb") as fh:
        header_len = int.from_bytes(fh.read(8), "little")
        if header_len > size - 8:
            raise ValueError(
                f"{broken}: its header claims {header_len} bytes of metadata (truncated, or "
                "not a safetensors file)"
            )
        raw = fh.read(header_len)
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ValueError(f"{broken}: the safetensors header is not JSON ({exc})") from exc
    if not isinstance(header, dict):
        raise ValueError(f"{broken}: the safetensors header is not a mapping")
    data_len = size - 8 - header_len
    spans = []
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            begin, end = (int(v) for v in info["data_offsets"])
            shape = [int(v) for v in info["shape"]]
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{broken}: tensor {name!r} has a malformed header entry") from exc
        itemsize = _SAFETENSORS_DTYPE_BYTES.get(info.get("dtype"))
        if itemsize is not None and end - begin != itemsize * math.prod(shape):
            raise ValueError(
                f"{broken}: tensor {name!r} ({info.get('dtype')} {shape}) has "
                f"{end - begin} bytes of data"
            )
        spans.append((begin, end))
    covered = max((end for _, end in spans), default=0)
    if covered != data_len:
        raise ValueError(
            f"{broken}: its header describes {covered} bytes of tensor data, the file holds "
            f"{data_len} ({'truncated' if covered > data_len else 'trailing bytes'})"
        )


def _check_weights(folder: Path) -> None:
    single, index = folder / "model.safetensors", folder / "model.safetensors.index.json"
    if single.exists():
        _check_safetensors(single)
        return
    if index.exists():
        weight_map = _read_json(index, "weights index").get("weight_map")
        if not isinstance(weight_map, dict) or not weight_map:
            raise ValueError(f"{index}: broken weights index (no weight_map)")
        for shard in sorted(set(map(str, weight_map.values()))):
            _check_safetensors(folder / shard)
        return
    for name in ("pytorch_model.bin", "pytorch_model.bin.index.json"):
        if (folder / name).is_file():
            if (folder / name).stat().st_size == 0:
                raise ValueError(f"{folder / name}: broken weights file (empty)")
            return
    if (folder / "adapter_config.json").is_file():
        return  # a PEFT adapter folder: transformers loads the base model it names
    raise FileNotFoundError(
        f"{single}: missing — the checkpoint folder {folder} has no weights "
        "(model.safetensors, model.safetensors.index.json or pytorch_model.bin)"
    )


def check_checkpoint(path: str | os.PathLike, *, weights: bool = True) -> Path:
    """Check a local checkpoint folder before transformers reads it; returns the folder.

    ``FileNotFoundError`` names a folder or file that is missing — the folder itself,
    ``config.json``, the tokenizer (``tokenizer.json``, or a slow tokenizer's
    ``tokenizer.model`` / ``vocab.json``), the processor (``processor_config.json`` or
    ``preprocessor_config.json``) and, with ``weights``, ``model.safetensors`` (or a sharded
    index whose shards all exist); ``ValueError`` names a file that is there but broken (not
    JSON, an empty or truncated safetensors file). transformers alone reports these as a
    safetensors header error without the path, a hint to install sentencepiece, or a
    malformed hub repo id.
    """
    folder = Path(path).expanduser()
    if not folder.exists():
        raise FileNotFoundError(
            f"checkpoint folder {folder} does not exist (absolute: {folder.absolute()}); a hub "
            "id is 'owner/name', e.g. 'Qwen/Qwen2.5-VL-3B-Instruct'"
        )
    if not folder.is_dir():
        raise NotADirectoryError(
            f"{folder}: not a folder — give the checkpoint folder (with config.json, the "
            "tokenizer and the weights), not one of its files"
        )
    config = folder / "config.json"
    if not config.is_file():
        raise FileNotFoundError(f"{config}: missing — {folder} is not a checkpoint folder")
    cfg = _read_json(config, "model config")
    if not isinstance(cfg, dict) or "model_type" not in cfg:
        raise ValueError(f"{config}: broken model config (no 'model_type' key)")
    tokenizer = folder / "tokenizer.json"
    if tokenizer.exists():
        _read_json(tokenizer, "tokenizer")
    elif not any((folder / n).is_file() for n in ("tokenizer.model", "vocab.json", "vocab.txt")):
        raise FileNotFoundError(
            f"{tokenizer}: missing — the checkpoint has no tokenizer file (tokenizer.json, or a "
            "slow tokenizer's tokenizer.model / vocab.json)"
        )
    processor_files = [folder / n for n in ("processor_config.json", "preprocessor_config.json")]
    if not any(p.is_file() for p in processor_files):
        raise FileNotFoundError(
            f"{processor_files[0]}: missing — the checkpoint has no processor configuration "
            "(processor_config.json or preprocessor_config.json)"
        )
    for name in (
        "processor_config.json",
        "preprocessor_config.json",
        "tokenizer_config.json",
        "generation_config.json",
    ):
        if (folder / name).is_file():
            _read_json(folder / name, name.removesuffix(".json").replace("_", " "))
    if weights:
        _check_weights(folder)
    return folder


def weights_sha256(folder: str | os.PathLike) -> str | None:
    """A sha256 over the content of every ``*.safetensors`` file of a local checkpoint
    folder (names sorted, each name hashed before its bytes): whether two runs used the same
    weights (a prediction file resumed with another checkpoint, issue 24). ``None`` when the
    folder holds no such file. Reads the weights once per process while they are unchanged
    (about 20 s for a 3B model's 7.5 GB)."""
    files = sorted(Path(folder).glob("*.safetensors"))
    if not files:
        return None
    # the same files, unchanged (size and modification time), are read once per process:
    # predictions of one checkpoint on several splits hash its 7.5 GB once
    stamp = tuple((str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns) for p in files)
    return _sha256_of(stamp)


@functools.lru_cache(maxsize=16)
def _sha256_of(stamp: tuple[tuple[str, int, int], ...]) -> str:
    h = hashlib.sha256()
    for path, _, _ in stamp:
        h.update(Path(path).name.encode() + b"\0")
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 23), b""):
                h.update(chunk)
    return h.hexdigest()
