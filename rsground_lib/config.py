"""Configuration: dataclasses built from mappings (a chapter's parameters, a recipe file) the
way TRL builds its configs — ``transformers.HfArgumentParser`` over fields that carry
``metadata={"help": ...}`` — with every unknown key an error.

The project's rule "parameters → config dataclasses → trainers; unknown keys are errors" in
one place: every config class's ``from_dict`` goes through :func:`parse_config`.

Book chapter: "Design and our reading of the paper" (``book/design.md``, "Profiles and the book").
"""

from __future__ import annotations

import json
from dataclasses import field, fields
from pathlib import Path
from typing import Any, TypeVar

import yaml
from transformers import HfArgumentParser

T = TypeVar("T")


def help_field(text: str, **kwargs) -> Any:
    """A dataclass field with its help text, as TRL's and transformers' configs declare them
    (``field(metadata={"help": text}, **kwargs)``)."""
    return field(metadata={"help": text}, **kwargs)


def parse_config(cls: type[T], values: dict) -> T:
    """``cls(**values)`` through ``transformers.HfArgumentParser`` for a dataclass ``cls``; a
    key that is not a field is a ValueError naming the class, the unknown keys and the known
    ones (a misspelt recipe key must not be ignored)."""
    if not isinstance(values, dict):
        raise ValueError(
            f"{cls.__name__}: expected a mapping of fields; got {type(values).__name__}"
        )
    known = {f.name for f in fields(cls) if f.init}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(
            f"{cls.__name__}: unknown keys {unknown}; expected some of {sorted(known)}"
        )
    (cfg,) = HfArgumentParser(cls).parse_dict(values, allow_extra_keys=False)
    return cfg


def load_recipe(path: str | Path) -> dict:
    """A recipe file's mapping of config fields: YAML (``.yaml``/``.yml``, as TRL's and
    open-r1's recipes) or JSON (``.json``). A ValueError names the file when it cannot be
    read as UTF-8, does not parse, or is not a mapping; the keys are checked later by
    :func:`parse_config`."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in (".yaml", ".yml", ".json"):
        raise ValueError(f"{p}: expected a .yaml, .yml or .json recipe")
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ValueError(f"{p}: no such recipe file") from exc
    except UnicodeDecodeError as exc:
        raise ValueError(f"{p}: expected UTF-8 text ({exc})") from exc
    try:
        values = json.loads(text) if suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError, RecursionError) as exc:
        raise ValueError(f"{p}: cannot parse the recipe ({exc})") from exc
    if not isinstance(values, dict):
        raise ValueError(f"{p}: expected a mapping of config fields, got {type(values).__name__}")
    return values
