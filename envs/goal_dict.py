"""Goal envs as gymnasium-robotics goal envs look, for SB3's ``MultiInputPolicy`` and ``HerReplayBuffer``.

:class:`GoalDictObservation` turns the image observation of an eqmbrl goal env into
``Dict(observation, achieved_goal, desired_goal)``, all three uint8 images ``[3, H, W]`` (the
achieved goal is the current image, the desired goal the goal image), and gives the env the
vectorised ``compute_reward(achieved_goal, desired_goal, info)`` that HER relabels with. That reward
equals the env's own step reward, because the env reads the states back from the images (block
pushing: :meth:`envs.block_pushing.BlockPushingEnv.goal_reward`)::

    env = GoalDictObservation(gym.make("eqmbrl/BlockPushingGoal-shapes-v0"))
    DQN("MultiInputPolicy", env, replay_buffer_class=HerReplayBuffer)
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

KEYS = ("observation", "achieved_goal", "desired_goal")


class GoalDictObservation(gym.ObservationWrapper):
    """Observations ``{"observation", "achieved_goal", "desired_goal"}`` of a goal env (module doc).

    The env must be goal-conditioned (``goal_obs``) and score goal images (``goal_reward``); a
    one-line error names what it lacks."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        base = env.unwrapped
        name = env.spec.id if env.spec else type(base).__name__
        if not getattr(base, "goal_conditioned", False):
            raise ValueError(
                f"{name} is not a goal env: goal observations need one, e.g. eqmbrl/BlockPushingGoal-shapes-v0"
            )
        if not hasattr(base, "goal_reward"):
            raise ValueError(
                f"{name} cannot score goals given as images (it has no goal_reward(achieved, desired)), "
                "so HER could not relabel them; goal observations exist for block pushing"
            )
        image = env.observation_space
        self.observation_space = gym.spaces.Dict({key: image for key in KEYS})

    def observation(self, observation: np.ndarray) -> dict[str, np.ndarray]:
        """The image ``[3, H, W]`` -> the Dict, with the current goal image."""
        goal = self.env.unwrapped.goal_obs  # type: ignore[attr-defined]
        return {"observation": observation, "achieved_goal": observation.copy(), "desired_goal": goal.copy()}

    def compute_reward(self, achieved_goal: np.ndarray, desired_goal: np.ndarray, info: Any) -> np.ndarray:
        """The env's reward of images ``achieved_goal`` and ``desired_goal`` ``[..., 3, H, W]`` -> ``[...]``."""
        return self.env.unwrapped.goal_reward(achieved_goal, desired_goal)  # type: ignore[attr-defined]
