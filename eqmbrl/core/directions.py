"""The push-direction action convention of block pushing, shared by its env, the world models'
action encoding (``directions``) and the random agent: ``a = NUM_DIRECTIONS * object + direction``."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

NUM_DIRECTIONS = 4
"""Block pushing's moves: action ``a = NUM_DIRECTIONS * object + direction``, directions counter-clockwise
(0 up, 1 left, 2 down, 3 right); a quarter turn of the scene maps direction d to d + 1."""


def check_directions(allowed_directions: Sequence[int] | None) -> tuple[int, ...]:
    """Validated sorted tuple of allowed push directions (all four for ``None``)."""
    if allowed_directions is None:
        return tuple(range(NUM_DIRECTIONS))
    directions = tuple(sorted({int(d) for d in allowed_directions}))
    if not directions or any(d not in range(NUM_DIRECTIONS) for d in directions):
        raise ValueError(
            f"allowed_directions must be a non-empty subset of 0..{NUM_DIRECTIONS - 1} "
            f"(0 up, 1 left, 2 down, 3 right), got {allowed_directions!r}"
        )
    return directions


def random_actions(
    rng: np.random.Generator, n: int, num_objects: int = 5, allowed_directions: Sequence[int] | None = None
) -> np.ndarray:
    """``n`` random block-pushing actions int64 ``[n]``: uniform object, uniform allowed direction."""
    if num_objects < 1:
        raise ValueError(f"num_objects must be >= 1, got {num_objects}")
    directions = np.array(check_directions(allowed_directions), dtype=np.int64)
    objects = rng.integers(0, num_objects, size=n)
    return NUM_DIRECTIONS * objects + directions[rng.integers(0, len(directions), size=n)]
