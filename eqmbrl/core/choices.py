"""One wording for bad choices: ``unknown <what> <value>; allowed: <a>, <b>, ...``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

T = TypeVar("T")


def check_choice(what: str, value: T, allowed: Iterable[object]) -> T:
    """``value`` if it is one of ``allowed``, else a one-line ``ValueError`` naming both."""
    options = list(allowed)
    if value not in options:
        raise ValueError(f"unknown {what} {value!r}; allowed: {', '.join(str(o) for o in options)}")
    return value
