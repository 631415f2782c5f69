"""Filling replay buffers by running an agent in an env, and rendering symmetric twins."""
from __future__ import annotations

from typing import Protocol

import gymnasium as gym
import numpy as np
from tqdm import tqdm

from eqmbrl.buffer import ReplayBuffer


class Agent(Protocol):
    def act(self, obs: np.ndarray) -> np.ndarray | int: ...


def collect(env: gym.Env, agent: Agent, episodes: int, length: int, seed: int = 0, warmup: int = 0,
            buffer: ReplayBuffer | None = None, desc: str = "collect") -> ReplayBuffer:
    """Run ``episodes`` episodes of at most ``length`` recorded steps, after ``warmup`` unrecorded
    agent steps (SEN's Reacher data starts 50 steps in); store images, actions, rewards and the
    env's underlying states (kept for twins). Returns the (new or given) buffer."""
    base = env.unwrapped
    if buffer is None:
        state = np.asarray(base.get_state())
        buffer = ReplayBuffer(episodes * (length + 1), env.observation_space.shape, env.action_space.shape or (),
                              state.shape, state.dtype)
    for ep in tqdm(range(episodes), desc=desc, unit="ep", leave=False):
        obs, _ = env.reset(seed=seed + ep)
        for _ in range(warmup):
            obs = env.step(agent.act(obs))[0]
        state = base.get_state()
        for t in range(length):
            action = agent.act(obs)
            next_obs, reward, terminated, truncated, _ = env.step(action)
            buffer.add(obs, action, float(reward), state, new_episode=t == 0)
            obs, state = next_obs, base.get_state()
            if terminated or truncated:
                break
        buffer.add(obs, None, 0.0, state)
    return buffer


def episode_tensors(buffer: ReplayBuffer, steps: int) -> dict[str, np.ndarray]:
    """The first ``steps`` transitions of every episode that has them: ``obs [N, steps+1, Ci, Hi, Wi]``
    uint8, ``actions [N, steps, *A]``, ``rewards [N, steps]``, ``states [N, steps+1, ...]``."""
    starts = buffer.valid_starts(steps)
    prev = (starts - 1) % buffer.capacity
    starts = starts[buffer.episode[prev] != buffer.episode[starts]]  # episode starts only
    rows = (starts[:, None] + np.arange(steps + 1)) % buffer.capacity
    return dict(obs=buffer.obs[rows], actions=buffer.actions[rows[:, :-1]], rewards=buffer.rewards[rows[:, :-1]],
                states=buffer.states[rows])


def twin_episodes(env: gym.Env, actions: np.ndarray, states: np.ndarray, g: int) -> tuple[np.ndarray, np.ndarray]:
    """Render the twins of episodes whose states ``[N, T+1, ...]`` and actions ``[N, T, *A]`` are
    transformed by group element ``g`` of the env's symmetry (never by rotating pixels)."""
    base = env.unwrapped
    sym = base.symmetry
    N, T1 = states.shape[:2]
    twin_states = sym.act_state(g, states.reshape(N * T1, *states.shape[2:]))
    twin_obs = base.render_states(twin_states)
    twin_actions = sym.act_action(g, actions.reshape(N * (T1 - 1), *actions.shape[2:]))
    return twin_obs.reshape(N, T1, *twin_obs.shape[1:]), twin_actions.reshape(actions.shape)
