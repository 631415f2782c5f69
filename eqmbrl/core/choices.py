"""One wording for bad choices (``unknown <what> <value>; allowed: <a>, <b>, ...``) and bad counts."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

import numpy as np

T = TypeVar("T")


def check_choice(what: str, value: T, allowed: Iterable[object]) -> T:
    """``value`` if it is one of ``allowed``, else a one-line ``ValueError`` naming both."""
    options = list(allowed)
    if value not in options:
        raise ValueError(f"unknown {what} {value!r}; allowed: {', '.join(str(o) for o in options)}")
    return value


def check_count(what: str, value: object, low: int, high: int) -> int:
    """``value`` as an int if it is an int (not a bool) in ``low..high``, else a one-line ``ValueError``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= value <= high:
        raise ValueError(f"{what} must be an int in {low}..{high}, got {value!r}")
    return int(value)
