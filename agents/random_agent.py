"""Uniform random agent, optionally restricted to some push directions (limited-actions data)."""
from __future__ import annotations

from typing import Sequence

import gymnasium as gym
import numpy as np


class RandomAgent:
    """Samples actions uniformly from ``action_space``.

    ``allowed_directions`` (discrete block-pushing actions ``a = 4 * object + direction`` only)
    restricts the directions, as in SEN's generalisation experiment; objects stay uniform.
    """

    def __init__(self, action_space: gym.Space, seed: int = 0, allowed_directions: Sequence[int] | None = None) -> None:
        self.space, self.rng = action_space, np.random.default_rng(seed)
        self.directions = None if allowed_directions is None else np.asarray(sorted(set(allowed_directions)))
        if self.directions is not None:
            if not isinstance(action_space, gym.spaces.Discrete) or action_space.n % 4:
                raise ValueError("allowed_directions needs a Discrete(4 * objects) action space, "
                                 f"got {action_space}")
            if len(self.directions) == 0 or self.directions.min() < 0 or self.directions.max() > 3:
                raise ValueError(f"allowed_directions must be a non-empty subset of 0..3, got {allowed_directions}")

    def act(self, obs: np.ndarray) -> np.ndarray | int:
        if isinstance(self.space, gym.spaces.Discrete):
            if self.directions is None:
                return int(self.rng.integers(self.space.n))
            return int(4 * self.rng.integers(self.space.n // 4) + self.rng.choice(self.directions))
        if isinstance(self.space, gym.spaces.Box):
            return self.rng.uniform(self.space.low, self.space.high).astype(self.space.dtype)
        raise ValueError(f"RandomAgent supports Discrete and Box action spaces, got {self.space}")
