"""The plan an MPC agent imagined, shown with real frames (the world model has no decoder).

For each latent along the agent's chosen plan, the nearest real frame among frames whose latents
are known (an evaluation set or a replay buffer), beside the frame the env really gives when the
plan's actions are run open loop from the same start. Under each frame: its *energy*, the world
model's latent distance (squared distance / 2 sigma^2, mean over slots, as the planner and the
hinge loss use it; the loss pushes other states' energies above the hinge, 1 by default): for the
nearest frame, to the imagined latent; for the real frame, between the imagined latent and the
real frame's own latent. Where the real energies grow, imagination and the env part: the model is
wrong there (or the plan left what the nearest-frame bank covers).

``imagined_plan_figure(model, agent, env, bank_obs)`` is the one call; :func:`imagined_plan` gives
the numbers, :func:`plan_figure` draws them, :func:`nearest_frames` is the search.
Shapes as in :mod:`eqmbrl.core.types`: latents ``[.., K, C]``, images uint8 ``[.., Ci, Hi, Wi]``.
"""

from __future__ import annotations

import copy
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from agents.mpc import MPCAgent
from eqmbrl.core.logger import rgb_frames
from eqmbrl.core.symmetry import env_contract
from eqmbrl.core.timing import PHASES
from eqmbrl.core.types import to_float_images
from worldmodels.persistence import evaluating
from worldmodels.world_model import WorldModel

MAX_COLUMNS = 12
"""Most plan steps drawn (longer plans are drawn at evenly spaced steps, the last included)."""
CHUNK = 256
"""Images encoded at once."""
TITLE_WIDTH = 20
"""Characters per line of a column's title (long action names wrap)."""


@dataclass(frozen=True)
class ImaginedPlan:
    """A plan and what the world model imagined along it (H steps; T <= H real steps, fewer when
    the episode ended first).

    actions ``[H, *A]``; start ``[Ci, Hi, Wi]`` uint8; real ``[T+1, Ci, Hi, Wi]`` uint8 (start
    included); goal ``[Ci, Hi, Wi]`` uint8 or None; imagined ``[H+1, K, C]`` (``imagined[0]`` is the
    start's latent); nearest ``[H+1]`` int64 indices into the bank and nearest_energy ``[H+1]``;
    real_energy ``[T+1]``: energy between ``imagined[t]`` and the latent of ``real[t]``."""

    actions: torch.Tensor
    start: np.ndarray
    real: np.ndarray
    goal: np.ndarray | None
    imagined: torch.Tensor
    nearest: torch.Tensor
    nearest_energy: torch.Tensor
    real_energy: torch.Tensor


def encode_images(model: WorldModel, images: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 images ``[M, Ci, Hi, Wi]`` -> latents ``[M, K, C]`` (eval mode, no autograd, in chunks)."""
    x = torch.as_tensor(images)
    with evaluating(model), torch.inference_mode():
        parts = [model.encode(to_float_images(x[i : i + CHUNK].to(model.device))) for i in range(0, len(x), CHUNK)]
    return torch.cat(parts)


def nearest_frames(
    model: WorldModel, latents: torch.Tensor, bank_latents: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """For each of ``latents [H, K, C]`` the nearest of ``bank_latents [M, K, C]`` by the model's
    energy: (indices ``[H]`` int64, energies ``[H]``)."""
    if latents.shape[1:] != bank_latents.shape[1:]:
        raise ValueError(f"latents {list(latents.shape)} and bank latents {list(bank_latents.shape)} differ in [K, C]")
    with torch.inference_mode():
        energy = model.energy(latents[:, None], bank_latents[None].to(latents.device))  # H x M
        best = energy.min(1)
    return best.indices, best.values


def chosen_plan(agent: MPCAgent, obs: np.ndarray) -> torch.Tensor:
    """The plan ``[H, *A]`` the agent chooses from ``obs`` (uint8 ``[Ci, Hi, Wi]``) at the start of an
    episode (warm start cleared); its planner and RNG are restored afterwards, so acting is unchanged."""
    state, last = copy.deepcopy(agent.state_dict()), agent.planner.last_return
    agent.reset()
    try:
        z0 = encode_images(agent.model, np.asarray(obs)[None])
        with evaluating(agent.model), torch.inference_mode():
            return agent.planner.plan(agent.scorer(z0)).clone()
    finally:
        agent.load_state_dict(state)
        agent.planner.last_return = last


def _open_loop(env: gym.Env, actions: torch.Tensor) -> list[np.ndarray]:
    """The observations after each of ``actions`` from the env's current state, until it ends."""
    frames = []
    for action in actions.cpu().numpy():
        step = env.step(int(action) if isinstance(env.action_space, gym.spaces.Discrete) else action)
        frames.append(np.asarray(step[0]))
        if step[2] or step[3]:
            break
    return frames


def imagined_plan(
    model: WorldModel,
    agent: MPCAgent,
    env: gym.Env,
    bank_obs: np.ndarray | torch.Tensor,
    seed: int | None = None,
    options: dict[str, Any] | None = None,
    bank_latents: torch.Tensor | None = None,
) -> ImaginedPlan:
    """Reset ``env`` (``seed``, ``options``), take the agent's plan from the first observation (for
    the goal objective toward the env's goal image; the agent's goal is restored afterwards), imagine
    it with ``model`` and run it open loop in ``env``; nearest frames among ``bank_obs [M, Ci, Hi,
    Wi]`` uint8, whose latents ``bank_latents [M, K, C]`` are encoded with ``model`` unless given."""
    obs, _ = env.reset(seed=seed, options=options)
    goal = None
    saved_goal = (agent.goal, agent.goal_obs)
    try:
        if agent.objective == "goal":
            goal = np.array(env_contract(env).goal_obs)
            agent.set_goal(goal)
        actions = chosen_plan(agent, obs)
    finally:
        agent.goal, agent.goal_obs = saved_goal
    real = np.stack([np.asarray(obs), *_open_loop(env, actions)])
    bank = encode_images(model, bank_obs) if bank_latents is None else bank_latents
    with evaluating(model), torch.inference_mode():
        z0 = encode_images(model, real[:1])
        imagined = model.rollout(z0, actions[None].to(model.device))[0]  # H+1 x K x C
        real_energy = model.energy(imagined[: len(real)], encode_images(model, real))
    nearest, nearest_energy = nearest_frames(model, imagined, bank)
    return ImaginedPlan(actions, real[0], real, goal, imagined, nearest, nearest_energy, real_energy)


def _columns(steps: int) -> list[int]:
    """The plan steps drawn: all, or :data:`MAX_COLUMNS` evenly spaced ones with the first and last."""
    if steps <= MAX_COLUMNS:
        return list(range(steps))
    return sorted({int(round(x)) for x in np.linspace(0, steps - 1, MAX_COLUMNS)})


ActionName = Callable[[Any], str]
"""A label of one env action (an int, or a float array ``[A]``)."""


def _action_label(action: Any) -> str:
    return str(int(action)) if np.ndim(action) == 0 else np.array2string(np.asarray(action), precision=2)


def plan_figure(
    plan: ImaginedPlan, bank_obs: np.ndarray | torch.Tensor, action_name: ActionName | None = None
) -> np.ndarray:
    """Draw ``plan`` as an RGB image ``[3, H, W]`` uint8: top row the nearest bank frame to each
    imagined latent, bottom row the real frames (blank where the episode had ended), the goal image
    last for goal plans; each column titled by the action that led to it (``action_name(action)``,
    else the action's value), the energy under each frame."""
    bank = torch.as_tensor(bank_obs)
    name = action_name or _action_label
    actions = plan.actions.cpu().numpy()
    steps = _columns(len(plan.imagined))
    cols = len(steps) + (plan.goal is not None)
    fig = Figure(figsize=(1.45 * cols, 3.7), dpi=100)
    FigureCanvasAgg(fig)
    axes = fig.subplots(2, cols, squeeze=False)
    for col, t in enumerate(steps):
        title = "start" if t == 0 else textwrap.fill(f"{t}: {name(actions[t - 1])}", TITLE_WIDTH)
        top, bottom = axes[0, col], axes[1, col]
        top.set_title(title, fontsize=7)
        near = bank[int(plan.nearest[t])].cpu().numpy()
        top.imshow(rgb_frames(near[None])[0].transpose(1, 2, 0))
        top.set_xlabel(f"E {float(plan.nearest_energy[t]):.2f}", fontsize=7)
        if t < len(plan.real):
            bottom.imshow(rgb_frames(plan.real[t][None])[0].transpose(1, 2, 0))
            bottom.set_xlabel(f"E {float(plan.real_energy[t]):.2f}", fontsize=7)
        else:
            bottom.set_xlabel("(episode over)", fontsize=7)
    if plan.goal is not None:
        axes[0, -1].imshow(rgb_frames(plan.goal[None])[0].transpose(1, 2, 0))
        axes[0, -1].set_title("goal", fontsize=7)
        axes[1, -1].axis("off")
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0, 0].set_ylabel("imagined:\nnearest real", fontsize=7)
    axes[1, 0].set_ylabel("real (plan\nrun open loop)", fontsize=7)
    fig.tight_layout(pad=0.3)
    fig.canvas.draw()
    rgba = np.asarray(fig.canvas.buffer_rgba())  # type: ignore[attr-defined]
    return np.ascontiguousarray(rgba[..., :3].transpose(2, 0, 1))


@PHASES.timed("figures_videos")
def imagined_plan_figure(
    model: WorldModel,
    agent: MPCAgent,
    env: gym.Env,
    bank_obs: np.ndarray | torch.Tensor,
    seed: int | None = None,
    options: dict[str, Any] | None = None,
    bank_latents: torch.Tensor | None = None,
    action_name: ActionName | None = None,
) -> np.ndarray:
    """:func:`imagined_plan` drawn by :func:`plan_figure`: RGB ``[3, H, W]`` uint8.

    Args:
        model: the world model that imagines (``agent.model`` is the one the agent plans with).
        agent: the MPC agent whose plan from the env's first observation is drawn.
        env: an env of the model's images; it is reset with ``seed`` and ``options``.
        bank_obs: real frames ``[M, Ci, Hi, Wi]`` uint8 (e.g. an evaluation set's frames, flattened).
        bank_latents: their latents ``[M, K, C]``, encoded with ``model`` if None.
        action_name: labels an action in the column titles (default: its value).
    """
    plan = imagined_plan(model, agent, env, bank_obs, seed, options, bank_latents)
    return plan_figure(plan, bank_obs, action_name)
