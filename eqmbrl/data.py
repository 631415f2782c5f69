"""A run's data: the training replay buffer, the evaluation episodes with their twins, validation episodes.

:class:`RunData` builds each once, from the ``trainer.*`` data options and the run's seed, with the
seed offsets of :mod:`eqmbrl.core.seeds`; the trainer fits on them and the agent loops pass them on.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, cast

import gymnasium as gym
import numpy as np
import torch

from agents.random_agent import RandomAgent
from eqmbrl.collect import collect, episode_tensors, probe_data, successor_sets, twin_episodes
from eqmbrl.core.buffer import ReplayBuffer, env_source
from eqmbrl.core.seeds import EVAL_DATA_AGENT, EVAL_DATA_ENV, VAL_DATA_AGENT, VAL_DATA_ENV
from eqmbrl.core.symmetry import env_contract
from eqmbrl.core.types import EvalData
from eqmbrl.settings import TrainerSettings


class RunData:
    """The data of one run in ``out_dir`` on ``env`` (``trainer.*`` options ``settings``, run ``seed``).

    Checks at construction what needs the env: the training action box and scale fit the action
    space, ``train_reset_options`` are accepted by ``env.reset``, ``twin_element`` is in the group.
    """

    def __init__(self, env: gym.Env, settings: TrainerSettings, out_dir: str | os.PathLike, seed: int = 0) -> None:
        s = settings
        group = env_contract(env).symmetry.group
        if s.twin_element not in group.elements:
            raise ValueError(
                f"trainer.twin_element {s.twin_element} is not an element of {group.name} (0..{group.order - 1})"
            )
        for name, scale in (
            ("train_action_low/train_action_high", "full"),
            ("train_action_scale", s.train_action_scale),
        ):
            try:  # the box alone first, so that each error names the option that caused it
                RandomAgent(env.action_space, low=s.train_action_low, high=s.train_action_high, scale=scale)
            except ValueError as e:
                raise ValueError(f"trainer.{name}: {e}") from None
        self.train_options = dict(s.train_reset_options or {})
        if self.train_options:
            try:
                env.reset(seed=seed, options=self.train_options)
            except ValueError as e:
                raise ValueError(f"trainer.train_reset_options: {e}") from None
        self.env, self.settings, self.out, self.seed = env, settings, Path(out_dir), seed
        self._eval: EvalData | None = None

    def train_buffer(self) -> ReplayBuffer:
        """Load ``buffer_path`` if given (or the run dir's own ``buffer.npz`` when resuming), else
        collect with the training agent and save to ``buffer.npz``."""
        own, s = self.out / "buffer.npz", self.settings
        if s.buffer_path or own.is_file():
            space = cast(gym.spaces.Box, self.env.observation_space)
            return ReplayBuffer.load(s.buffer_path or own, space, self.env.action_space, env_source(self.env))
        buf = collect(
            self.env,
            self.train_agent(self.seed),
            s.episodes,
            s.episode_length,
            seed=self.seed,
            warmup=s.warmup_steps,
            desc="collect train",
            options=self.train_options,
        )
        buf.save(own)
        return buf

    def train_agent(self, seed: int) -> RandomAgent:
        """The random agent of the training (and validation) data: all actions, or those allowed
        by ``train_directions`` / ``train_action_low`` / ``train_action_high``, scaled by
        ``train_action_scale``."""
        s = self.settings
        return RandomAgent(
            self.env.action_space,
            seed,
            s.train_directions,
            low=s.train_action_low,
            high=s.train_action_high,
            scale=s.train_action_scale,
        )

    def eval_data(self) -> EvalData:
        """Evaluation episodes (all actions, their own seeds) and their twins under ``twin_element``,
        with the env's probe data where it has some (:func:`eqmbrl.collect.probe_data`: the teapot's
        hard negatives and full turns); built on the first call, the same object after."""
        if self._eval is None:
            s = self.settings
            data = self._episodes(False, s.eval_episodes, s.eval_length, EVAL_DATA_AGENT, EVAL_DATA_ENV, "eval")
            twin_obs, twin_actions = twin_episodes(self.env, data["actions"], data["states"], s.twin_element)
            t: dict[str, Any] = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in data.items() if k != "states"}
            twins: dict[str, Any] = {
                "twin_obs": torch.from_numpy(twin_obs),
                "twin_actions": torch.from_numpy(twin_actions),
            }
            probes = probe_data(self.env, data["states"], self.seed + EVAL_DATA_ENV)
            self._eval = EvalData(**t, **twins, **probes, g=s.twin_element)
        return self._eval

    def val_data(self) -> dict[str, torch.Tensor] | None:
        """Validation episodes of the training agent (``val_episodes`` x ``episode_length``, their
        own seeds): ``obs``, ``actions``, ``rewards`` and, where defined, ``successors``; None
        without early stopping (``patience=0``), which is all they are for."""
        s = self.settings
        if not s.patience:
            return None
        data = self._episodes(True, s.val_episodes, s.episode_length, VAL_DATA_AGENT, VAL_DATA_ENV, "val")
        return {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in data.items() if k != "states"}

    def _episodes(
        self, limited: bool, episodes: int, length: int, agent_seed: int, env_seed: int, name: str
    ) -> dict[str, np.ndarray]:
        """Random-agent episodes (the training agent's if ``limited``, else all actions) as
        :func:`episode_tensors`, plus ``successors`` where defined."""
        seed = self.seed + agent_seed
        agent = self.train_agent(seed) if limited else RandomAgent(self.env.action_space, seed)
        buf = collect(
            self.env,
            agent,
            episodes,
            length,
            seed=self.seed + env_seed,
            warmup=self.settings.warmup_steps,
            desc=f"collect {name}",
            options=self.train_options if limited else None,
        )
        data = episode_tensors(buf, length)
        successors = successor_sets(self.env, data["states"][:, :-1], data["actions"])
        return data if successors is None else {**data, "successors": successors}
