"""Uniform random agent, optionally restricted to some push directions or to a sub-box of a
continuous action space (limited-actions data), with an optional per-episode torque scale."""

from __future__ import annotations

from collections.abc import Sequence

import gymnasium as gym
import numpy as np

from eqmbrl.core.choices import check_choice
from eqmbrl.core.directions import NUM_DIRECTIONS, check_directions, random_actions

ACTION_SCALES = ("full", "episode")


def action_box(
    space: gym.Space, low: Sequence[float] | None, high: Sequence[float] | None
) -> tuple[np.ndarray, np.ndarray]:
    """The sub-box ``[low, high]`` of a ``Box`` action space (None: the space's own bound), checked
    to lie inside it; returns the ``(low, high)`` arrays, each of the action's shape."""
    if not isinstance(space, gym.spaces.Box):
        raise ValueError(f"action low/high bounds need a Box action space, got {space}")
    bounds = []
    for name, given, default in (("low", low, space.low), ("high", high, space.high)):
        if given is None:
            bounds.append(default.astype(np.float64))
            continue
        value = np.asarray(list(given), dtype=np.float64)
        if value.shape != space.shape:
            raise ValueError(
                f"action {name} {list(given)} must have {space.shape[0]} entries, one per action dimension"
            )
        bounds.append(value)
    lo, hi = bounds
    if np.any(lo < space.low) or np.any(hi > space.high) or np.any(lo > hi):
        raise ValueError(
            f"action bounds low={lo.tolist()} high={hi.tolist()} must satisfy "
            f"{space.low.tolist()} <= low <= high <= {space.high.tolist()}"
        )
    return lo, hi


class RandomAgent:
    """Samples actions uniformly from ``action_space``.

    ``allowed_directions`` (discrete block-pushing actions only, see
    :data:`eqmbrl.core.types.NUM_DIRECTIONS`) restricts the directions, as in SEN's generalisation
    experiment; objects stay uniform. ``low``/``high`` (``Box`` action spaces only, one entry per
    action dimension, None for the space's bound) restrict continuous actions to a sub-box, e.g.
    ``low=[-1, 0]`` for SEN's limited Reacher data (second joint's torque positive only).

    ``scale="episode"`` (``Box`` spaces whose box contains 0) multiplies every action of an
    episode by one factor s ~ U(0, 1), drawn at :meth:`reset`: uniform torques keep a Reacher arm
    spinning, while scaled-down episodes also visit the slow, settled arms that a controller
    reaching a goal passes through (docs/notebook.md §14). ``"full"`` (default) is plain uniform.
    """

    def __init__(
        self,
        action_space: gym.Space,
        seed: int = 0,
        allowed_directions: Sequence[int] | None = None,
        low: Sequence[float] | None = None,
        high: Sequence[float] | None = None,
        scale: str = "full",
    ) -> None:
        self.space, self.rng = action_space, np.random.default_rng(seed)
        self.scale, self.factor = check_choice("action scale", scale, ACTION_SCALES), 1.0
        self.directions = None if allowed_directions is None else check_directions(allowed_directions)
        if self.directions is not None and (
            not isinstance(action_space, gym.spaces.Discrete) or action_space.n % NUM_DIRECTIONS
        ):
            raise ValueError(
                f"allowed_directions needs a Discrete({NUM_DIRECTIONS} * objects) action space, got {action_space}"
            )
        bounded = isinstance(action_space, gym.spaces.Box) or low is not None or high is not None
        self.box = action_box(action_space, low, high) if bounded else None  # raises unless Box
        if scale == "episode" and (self.box is None or np.any(self.box[0] > 0) or np.any(self.box[1] < 0)):
            raise ValueError(
                f"action scale 'episode' needs a Box action range that contains 0 (it scales torques towards 0), "
                f"got {action_space if self.box is None else f'low={self.box[0].tolist()} high={self.box[1].tolist()}'}"
            )

    def reset(self) -> None:
        """Start an episode: with ``scale="episode"``, draw its factor s ~ U(0, 1)."""
        if self.scale == "episode":
            self.factor = float(self.rng.uniform())

    def act(self, obs: np.ndarray) -> np.ndarray | int:
        if isinstance(self.space, gym.spaces.Discrete):
            if self.directions is None:
                return int(self.rng.integers(self.space.n))
            return int(random_actions(self.rng, 1, self.space.n // NUM_DIRECTIONS, self.directions)[0])
        if self.box is not None:
            return (self.factor * self.rng.uniform(*self.box)).astype(self.space.dtype)
        raise ValueError(f"RandomAgent supports Discrete and Box action spaces, got {self.space}")
