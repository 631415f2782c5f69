"""Training episodes that a resumed run can bring back exactly (:class:`SeededEpisodes`).

SB3 owns its training env's episodes, and a killed run is often in the middle of one. Every eqmbrl
env is deterministic given its reset seed, so an episode is fully described by that seed and the
actions taken since: the wrapper seeds episode ``k`` with ``base_seed + k`` and keeps the current
episode's actions, and :meth:`SeededEpisodes.restore` resets a fresh copy of the env to the same
episode and replays them.
"""

from __future__ import annotations

import copy
from typing import Any, SupportsFloat

import gymnasium as gym


class SeededEpisodes(gym.Wrapper):
    """Reset ``k`` (counting from 0) uses seed ``base_seed + k``, whatever seed the caller passes (the
    wrapper owns the seeds); :meth:`state` is the episode count and the current episode's actions."""

    def __init__(self, env: gym.Env, base_seed: int) -> None:
        super().__init__(env)
        self.base_seed = base_seed
        self.episodes = 0
        self.actions: list[Any] = []

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(seed=self.base_seed + self.episodes, options=options)
        self.episodes += 1
        self.actions = []
        return obs, info

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        self.actions.append(copy.deepcopy(action))
        return self.env.step(action)

    def state(self) -> dict[str, Any]:
        """What :meth:`restore` needs: ``{"episodes": resets so far, "actions": this episode's actions}``."""
        return {"episodes": self.episodes, "actions": copy.deepcopy(self.actions)}

    def restore(self, state: dict[str, Any]) -> Any:
        """Bring this env (a fresh copy of the one :meth:`state` was taken from, wrappers included)
        to ``state``: reset its last episode with the same seed and replay the actions; returns the
        observation they lead to. A state taken before the first reset is a ``ValueError``."""
        if state["episodes"] < 1:
            raise ValueError("SeededEpisodes.restore: the saved env was never reset, there is no episode to restore")
        self.episodes = state["episodes"] - 1
        obs, _ = self.reset()
        for action in state["actions"]:
            obs = self.step(action)[0]
        return obs
