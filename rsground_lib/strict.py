"""Strict configuration: a dataclass built from a mapping refuses keys it does not know.

The project's rule "unknown keys are errors" (parameters → config dataclasses → trainers) in
one place; every config class's ``from_dict`` goes through :func:`build`.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any, TypeVar

T = TypeVar("T")


def build(cls: type[T], values: dict[str, Any]) -> T:
    """``cls(**values)`` for a dataclass ``cls``; a ValueError naming the class, the unknown
    keys and the known ones when ``values`` holds a key that is not a field."""
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(
            f"{cls.__name__}: unknown keys {unknown}; expected some of {sorted(known)}"
        )
    return cls(**values)
