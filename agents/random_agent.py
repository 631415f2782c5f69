"""Uniform random agent, optionally restricted to some push directions (limited-actions data)."""

from __future__ import annotations

from collections.abc import Sequence

import gymnasium as gym
import numpy as np

from eqmbrl.types import NUM_DIRECTIONS, check_directions, random_actions


class RandomAgent:
    """Samples actions uniformly from ``action_space``.

    ``allowed_directions`` (discrete block-pushing actions only, see
    :data:`eqmbrl.types.NUM_DIRECTIONS`) restricts the directions, as in SEN's generalisation
    experiment; objects stay uniform.
    """

    def __init__(self, action_space: gym.Space, seed: int = 0, allowed_directions: Sequence[int] | None = None) -> None:
        self.space, self.rng = action_space, np.random.default_rng(seed)
        self.directions = None if allowed_directions is None else check_directions(allowed_directions)
        if self.directions is not None and (
            not isinstance(action_space, gym.spaces.Discrete) or action_space.n % NUM_DIRECTIONS
        ):
            raise ValueError(
                f"allowed_directions needs a Discrete({NUM_DIRECTIONS} * objects) action space, got {action_space}"
            )

    def act(self, obs: np.ndarray) -> np.ndarray | int:
        if isinstance(self.space, gym.spaces.Discrete):
            if self.directions is None:
                return int(self.rng.integers(self.space.n))
            return int(random_actions(self.rng, 1, self.space.n // NUM_DIRECTIONS, self.directions)[0])
        if isinstance(self.space, gym.spaces.Box):
            return self.rng.uniform(self.space.low, self.space.high).astype(self.space.dtype)
        raise ValueError(f"RandomAgent supports Discrete and Box action spaces, got {self.space}")
