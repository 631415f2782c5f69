"""Filling replay buffers by running an agent in an env, and rendering symmetric twins."""

from __future__ import annotations

from typing import Any, Protocol, cast

import gymnasium as gym
import numpy as np
import torch

from agents.random_agent import RandomAgent
from eqmbrl.core.buffer import ReplayBuffer, env_source
from eqmbrl.core.progress import progress_bar
from eqmbrl.core.seeds import EVAL_ENV
from eqmbrl.core.symmetry import env_contract
from eqmbrl.core.timing import PHASES


class Agent(Protocol):
    """Anything with ``act(obs) -> action``; an optional ``reset()`` is called after each env reset."""

    def act(self, obs: np.ndarray) -> np.ndarray | int: ...


def run_episode(
    env: gym.Env,
    agent: Agent,
    length: int | None = None,
    seed: int | None = None,
    warmup: int = 0,
    buffer: ReplayBuffer | None = None,
    options: dict[str, Any] | None = None,
    frames: list[np.ndarray] | None = None,
) -> tuple[float, dict[str, Any], int]:
    """One episode: reset (``seed``, ``options``), ``warmup`` unrecorded agent steps, then at most
    ``length`` steps (None: no cap), stopping when the env terminates or truncates. Rows (images, actions,
    rewards, env states) go to ``buffer`` and observations to ``frames`` if given.
    Returns (return of the recorded steps, last ``info``, recorded steps)."""
    base = env_contract(env)
    with PHASES.phase("env_steps"):
        obs, info = env.reset(seed=seed, options=options)
    if hasattr(agent, "reset"):
        agent.reset()
    for _ in range(warmup):
        obs = env.step(agent.act(obs))[0]
    state, total, t = base.get_state(), 0.0, 0
    if frames is not None:
        frames.append(obs)
    while length is None or t < length:
        action = agent.act(obs)
        with PHASES.phase("env_steps"):  # simulation and rendering
            next_obs, reward, terminated, truncated, info = env.step(action)
        if buffer is not None:
            buffer.add(obs, action, float(reward), state, new_episode=t == 0)
        obs, state, total, t = next_obs, base.get_state(), total + float(reward), t + 1
        if frames is not None:
            frames.append(obs)
        if terminated or truncated:
            break
    if buffer is not None:
        buffer.add(obs, None, 0.0, state, new_episode=t == 0)
    return total, info, t


@PHASES.timed("agent_evaluation")
def evaluate_agent(
    env: gym.Env,
    agent: Agent,
    runs: list[tuple[int, dict[str, Any] | None]],
    length: int | None = None,
) -> dict[str, float]:
    """Run ``agent`` on the evaluation ``runs`` (env seed, reset options; see :func:`eval_runs`).

    Returns ``return`` and ``return_std`` over the episodes and, for goal runs (options with a
    ``goal_distance``), ``success`` and ``success_d<k>`` per distance k. To keep episodes' frames
    and rewards (for videos), pass an :class:`eqmbrl.video.RecordEpisodes` env armed for them.
    """
    returns: list[float] = []
    successes: dict[int, list[float]] = {}
    for seed, options in runs:
        ret, info, _ = run_episode(env, agent, length, seed, options=options)
        returns.append(ret)
        if options is not None and "goal_distance" in options:
            successes.setdefault(options["goal_distance"], []).append(float(info.get("is_success", False)))
    out = {"return": float(np.mean(returns)), "return_std": float(np.std(returns))}
    if successes:
        out["success"] = float(np.mean([s for v in successes.values() for s in v]))
        out.update({f"success_d{d}": float(np.mean(v)) for d, v in successes.items()})
    return out


def eval_runs(episodes: int, goal_distances: list[int] | None = None) -> list[tuple[int, dict[str, Any] | None]]:
    """(env seed, reset options) of the evaluation episodes shared by all agents: ``episodes``
    seeds, or that many per goal distance for goal-conditioned envs."""
    if not goal_distances:
        return [(EVAL_ENV + i, None) for i in range(episodes)]
    return [(EVAL_ENV + i, {"goal_distance": d}) for d in goal_distances for i in range(episodes)]


class StillAgent:
    """Always the middle of a Box action space (zero torques for Reacher): the do-nothing baseline."""

    def __init__(self, space: gym.spaces.Box) -> None:
        self.action = ((space.low + space.high) / 2).astype(space.dtype)

    def act(self, obs: np.ndarray) -> np.ndarray:
        return self.action


def baselines(
    env: gym.Env, runs: list[tuple[int, dict[str, Any] | None]], length: int | None, seed: int = 0
) -> dict[str, float]:
    """The baselines an agent is scored against on the same ``runs``: a uniform random policy
    (``random_return``, and ``random_success`` on goal runs) and doing nothing: zero actions for
    Box action spaces (``still_return``); on goal runs of a discrete env, which has no no-op action,
    never acting (``still_success``: the episodes whose start already is the goal, measured)."""
    out: dict[str, float] = {}
    random = evaluate_agent(env, RandomAgent(env.action_space, seed), runs, length)
    out["random_return"] = random["return"]
    if "success" in random:
        out["random_success"] = random["success"]
    if isinstance(env.action_space, gym.spaces.Box):
        out["still_return"] = evaluate_agent(env, StillAgent(env.action_space), runs, length)["return"]
    elif "success" in random:
        out["still_success"] = evaluate_agent(env, RandomAgent(env.action_space, seed), runs, 0)["success"]
    return out


def empty_buffer(env: gym.Env, capacity: int) -> ReplayBuffer:
    """A buffer of ``capacity`` rows for ``env``'s observations, actions and underlying states."""
    state = np.asarray(env_contract(env).get_state())
    obs_shape = cast(tuple[int, ...], env.observation_space.shape)  # image Box, never None
    return ReplayBuffer(capacity, obs_shape, env.action_space.shape or (), state.shape, state.dtype, env_source(env))


@PHASES.timed("data_collection")
def collect(
    env: gym.Env,
    agent: Agent,
    episodes: int,
    length: int,
    seed: int = 0,
    warmup: int = 0,
    buffer: ReplayBuffer | None = None,
    desc: str = "collect",
    options: dict[str, Any] | None = None,
) -> ReplayBuffer:
    """Run ``episodes`` episodes (env seeds ``seed``, ``seed + 1``, ...; reset ``options``) of at
    most ``length`` recorded steps, after ``warmup`` unrecorded agent steps (SEN's Reacher data
    starts 50 steps in), into ``buffer`` (default: a new one that fits them). Returns the buffer."""
    buffer = buffer if buffer is not None else empty_buffer(env, episodes * (length + 1))
    for ep in progress_bar(range(episodes), desc=desc, unit="ep", leave=False):
        run_episode(env, agent, length, seed + ep, warmup, buffer, options)
    return buffer


def episode_tensors(buffer: ReplayBuffer, steps: int) -> dict[str, np.ndarray]:
    """The first ``steps`` transitions of every episode that has them: ``obs [N, steps+1, Ci, Hi, Wi]``
    uint8, ``actions [N, steps, *A]``, ``rewards [N, steps]``, ``states [N, steps+1, ...]``."""
    starts = buffer.valid_starts(steps)
    prev = (starts - 1) % buffer.capacity
    starts = starts[buffer.episode[prev] != buffer.episode[starts]]  # episode starts only
    rows = (starts[:, None] + np.arange(steps + 1)) % buffer.capacity
    assert buffer.states is not None  # collect() buffers store states
    return dict(
        obs=buffer.obs[rows],
        actions=buffer.actions[rows[:, :-1]],
        rewards=buffer.rewards[rows[:, :-1]],
        states=buffer.states[rows],
    )


def successor_sets(env: gym.Env, states: np.ndarray, actions: np.ndarray) -> np.ndarray | None:
    """Which actions lead to the same next state as the one taken: bool ``[..., A]`` for states
    ``[..., *S]`` and discrete actions ``[...]``; None for envs without discrete, known dynamics
    (``step_states``)."""
    base = env_contract(env)
    if not isinstance(env.action_space, gym.spaces.Discrete) or not hasattr(base, "step_states"):
        return None
    lead, n = actions.shape, int(env.action_space.n)
    flat = states.reshape(-1, *states.shape[len(lead) :])
    taken = base.step_states(flat, actions.reshape(-1).astype(np.int64))  # [M, *S]
    every = base.step_states(np.repeat(flat, n, 0), np.tile(np.arange(n), len(flat)))  # [M * A, *S]
    same = (every.reshape(len(flat), n, -1) == taken.reshape(len(flat), 1, -1)).all(-1)
    return same.reshape(*lead, n)


@PHASES.timed("twin_renders")
def twin_episodes(env: gym.Env, actions: np.ndarray, states: np.ndarray, g: int) -> tuple[np.ndarray, np.ndarray]:
    """Render the twins of episodes whose states ``[N, T+1, ...]`` and actions ``[N, T, *A]`` are
    transformed by group element ``g`` of the env's symmetry (never by rotating pixels)."""
    base = env_contract(env)
    sym = base.symmetry
    N, T1 = states.shape[:2]
    twin_states = sym.act_state(g, states.reshape(N * T1, *states.shape[2:]))
    twin_obs = base.render_states(twin_states)
    twin_actions = sym.act_action(g, actions.reshape(N * (T1 - 1), *actions.shape[2:]))
    return twin_obs.reshape(N, T1, *twin_obs.shape[1:]), twin_actions.reshape(actions.shape)


TURN_STARTS = 20
"""Start states per axis of the full-turn episodes (TH@1) of envs that have them."""


@PHASES.timed("twin_renders")
def probe_data(env: gym.Env, states: np.ndarray, seed: int, turn_starts: int = TURN_STARTS) -> dict[str, Any]:
    """The extra evaluation data of envs that define them (the teapot), as :class:`eqmbrl.core.types.EvalData`
    fields: with ``hard_negatives(states, next_states)``, the renders ``hard_obs [N, M, Ci, Hi, Wi]`` and
    ``hard_valid [N, M]`` for the first transition of each episode of ``states [N, T+1, ...]``; with
    ``turn_episodes(rng, n)``, ``turn_obs``/``turn_actions`` of ``turn_starts`` full turns per axis
    (``rng`` seeded with ``seed``) and their ``turn_names`` (the env's ``turn_names``). ``{}`` otherwise."""
    base: Any = env_contract(env)
    out: dict[str, Any] = {}
    if hasattr(base, "hard_negatives"):
        near, valid = base.hard_negatives(states[:, 0], states[:, 1])
        images = base.render_states(near.reshape(-1, *near.shape[2:]))
        out["hard_obs"] = torch.from_numpy(images.reshape(*near.shape[:2], *images.shape[1:]))
        out["hard_valid"] = torch.from_numpy(valid)
    if hasattr(base, "turn_episodes"):
        turn_states, actions = base.turn_episodes(np.random.default_rng(seed), turn_starts)
        images = base.render_states(turn_states.reshape(-1, turn_states.shape[-1]))
        out["turn_obs"] = torch.from_numpy(images.reshape(*turn_states.shape[:3], *images.shape[1:]))
        out["turn_actions"] = torch.from_numpy(actions)
        out["turn_names"] = tuple(base.turn_names)
    return out
