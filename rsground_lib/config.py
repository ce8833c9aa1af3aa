"""Configuration: dataclasses built from mappings (a chapter's parameters, a recipe file) the
way TRL builds its configs — ``transformers.HfArgumentParser`` over fields that carry
``metadata={"help": ...}`` — with every unknown key an error.

The project's rule "parameters → config dataclasses → trainers; unknown keys are errors" in
one place: every config class's ``from_dict`` goes through :func:`parse_config`.

Book chapter: "Design and our reading of the paper" (``book/design.md``, "Profiles and the book").
"""

from __future__ import annotations

import enum
import json
import math
import re
import types
import typing
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


def field_values(cls, values: typing.Mapping[str, Any]) -> dict[str, Any]:
    """The entries of ``values`` whose names are fields of the dataclass ``cls``: the part of
    a chapter's parameters that is a config's (a chapter parameter has its field's name), in
    ``values``' order. The rest — scenes, evaluation budgets, folders — is the chapter's
    own."""
    names = {f.name for f in fields(cls)}
    return {name: value for name, value in values.items() if name in names}


def parse_config(cls: type[T], values: dict) -> T:
    """``cls(**values)`` through ``transformers.HfArgumentParser`` for a dataclass ``cls``; a
    key that is not a field is a ValueError naming the class, the unknown keys and the known
    ones (a misspelt recipe key must not be ignored); a value of the wrong type is converted
    where unambiguous or refused naming the field (:func:`check_field`)."""
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
    hints = _field_types(cls)
    values = {k: check_field(cls.__name__, k, hints.get(k, Any), v) for k, v in values.items()}
    (cfg,) = HfArgumentParser(cls).parse_dict(values, allow_extra_keys=False)
    return cfg


YAML_HINT = (
    "YAML 1.1 reads 1e-5 as a string (write 1.0e-5) and an empty value as null; quote nothing "
    "that is a number"
)
"""Why a number arrives as a string from a YAML recipe or profile (PyYAML follows YAML 1.1)."""

_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def _field_types(cls) -> dict[str, Any]:
    try:
        return typing.get_type_hints(cls)
    except (NameError, TypeError):  # an annotation that cannot be resolved: no type check
        return {}


class _NoFit(Exception):
    pass


def _fit(hint: Any, value: Any) -> Any:
    """``value`` as a field of type ``hint`` accepts it (a numeric string becomes the number
    it spells, an integral float an int), or :class:`_NoFit`; a type this does not know
    accepts anything (transformers checks it)."""
    origin = typing.get_origin(hint)
    if hint is Any or isinstance(hint, typing.TypeVar):
        return value
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None:
            if type(None) in options:
                return None
            raise _NoFit
        for option in sorted(
            (o for o in options if o is not type(None)),
            key=lambda o: o is not type(value),  # the value's own type first
        ):
            try:
                return _fit(option, value)
            except _NoFit:
                continue
        raise _NoFit
    if value is None:
        raise _NoFit
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise _NoFit
    if hint is int:
        if isinstance(value, bool):
            raise _NoFit
        if isinstance(value, int):
            return value
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            return int(value)
        if isinstance(value, str) and re.fullmatch(r"[-+]?\d+", value.strip()):
            return int(value)
        raise _NoFit
    if hint is float:
        if isinstance(value, bool):
            raise _NoFit
        if isinstance(value, int | float):
            return float(value)
        if isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
            return float(value)
        raise _NoFit
    if hint is str:
        if isinstance(value, str):
            return value
        raise _NoFit
    if origin in (list, tuple) or hint in (list, tuple):
        if not isinstance(value, list | tuple):
            raise _NoFit
        args = [a for a in typing.get_args(hint) if a is not Ellipsis]
        if len(args) == 1:
            return [_fit(args[0], v) for v in value]
        return list(value)
    if origin is dict or hint is dict:
        if isinstance(value, dict):
            return value
        raise _NoFit
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        if isinstance(value, hint) or value in {m.value for m in hint}:
            return value
        raise _NoFit
    if origin is typing.Literal:
        if value in typing.get_args(hint):
            return value
        raise _NoFit
    return value


def _type_name(hint: Any) -> str:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(hint))
    if hint is type(None):
        return "null"
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return "one of " + ", ".join(repr(m.value) for m in hint)
    if typing.get_origin(hint) in (list, tuple) and typing.get_args(hint):
        return f"a list of {_type_name(typing.get_args(hint)[0])}"
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


def check_field(owner: str, name: str, hint: Any, value: Any) -> Any:
    """``value`` for the field ``name`` of type ``hint`` of the config ``owner``: returned as
    it is, or converted where that is unambiguous (a numeric string for a number field — what
    YAML makes of ``1e-5`` —, an integral float for an int field); otherwise a ValueError
    naming the field, the value and the expected type, with :data:`YAML_HINT` when the value
    is a string or null. A string where a list is expected is refused (``reward_funcs: iou``
    would otherwise be read letter by letter)."""
    try:
        return _fit(hint, value)
    except _NoFit:
        pass
    union = typing.get_origin(hint) in (typing.Union, types.UnionType)
    wants_list = any(
        typing.get_origin(h) in (list, tuple) or h in (list, tuple)
        for h in (typing.get_args(hint) if union else (hint,))
    )
    if isinstance(value, str) and wants_list:
        hint_text = f"; write a list, e.g. [{value}]"
    elif value is None or (isinstance(value, str) and _NUMBER.fullmatch(value.strip())):
        hint_text = f"; {YAML_HINT}"
    else:
        hint_text = ""
    raise ValueError(
        f"{owner}.{name}: expected {_type_name(hint)}; got {value!r} "
        f"({type(value).__name__}){hint_text}"
    )


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
