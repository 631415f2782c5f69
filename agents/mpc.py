"""Model-predictive control on a world model's imagined rollouts.

The agent reaches the world model only through an *objective*: a closure that, given the
current latent ``z0 [1, K, C]``, builds the planner's scorer ``score(actions [N, H, *A]) -> [N]``.

- ``reward``: the sum over the horizon of predicted rewards ``r(z_t, a_t)``, t = 0 .. H-1, along
  ``world_model.rollout``, plus ``terminal_weight`` x the predicted reward of holding still (zero
  action) in the last latent ``z_H``: a crude terminal value that counts the state a plan ends in
  ``terminal_weight`` more times, so that a short horizon sees the payoff of ending near a goal
  (continuous actions only; 0, the default, is the plain sum).
- ``goal``: from the world model's energy ``E_t`` (squared latent distance / 2 sigma^2, mean over
  slots) between the imagined latent after step t = 1 .. H and the latent of a goal observation
  (:func:`goal_values`). ``goal_reduce="discounted"`` (default) scores ``-sum_t discount^(t-1) E_t``:
  reaching the goal sooner is better and staying on it is best once there, so "wait, then move"
  never ties with "move now", and a state already at the goal is kept. ``"best"`` takes the
  closest latent along the horizon (it cannot tell those plans apart); ``"final"`` scores the last
  latent only, as C-SWM/SEN's k-step evaluation.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

import numpy as np
import torch

from agents.planners import ContinuousPlanner, DiscretePlanner, Planner, Scorer
from eqmbrl.core.choices import check_choice
from eqmbrl.core.timing import PHASES
from eqmbrl.core.types import to_float_images
from worldmodels.persistence import evaluating
from worldmodels.world_model import WorldModel

OBJECTIVES = ("reward", "goal")
GOAL_REDUCTIONS = ("discounted", "best", "final")


def reward_objective(model: WorldModel, z0: torch.Tensor, terminal_weight: float = 0.0) -> Scorer:
    """Scorer: sum of predicted rewards along the rollout from ``z0 [1, K, C]``, plus
    ``terminal_weight`` x the predicted reward of a zero action in the last latent (module doc)."""

    def score(actions: torch.Tensor) -> torch.Tensor:
        N, H = actions.shape[:2]
        z = model.rollout(z0.expand(N, *z0.shape[1:]), actions)  # N x H+1 x K x C
        rewards = model.reward(z[:, :-1].flatten(0, 1), actions.flatten(0, 1), z[:, 1:].flatten(0, 1))  # N*H
        value = rewards.view(N, H).sum(1)
        if terminal_weight > 0:
            value = value + terminal_weight * model.reward(z[:, -1], torch.zeros_like(actions[:, 0]))
        return value

    return score


def goal_values(energy: torch.Tensor, reduce: str = "discounted", discount: float = 0.9) -> torch.Tensor:
    """Plan values ``[N]`` (higher is better) from the energies ``[N, H]`` to the goal after each step."""
    if reduce == "best":
        return -energy.amin(1)
    if reduce == "final":
        return -energy[:, -1]
    weights = discount ** torch.arange(energy.shape[1], device=energy.device, dtype=energy.dtype)
    return -(energy * weights).sum(1)


def goal_objective(
    model: WorldModel, z0: torch.Tensor, z_goal: torch.Tensor, reduce: str = "discounted", discount: float = 0.9
) -> Scorer:
    """Scorer: :func:`goal_values` of the energies between imagined latents and ``z_goal [1, K, C]``."""
    check_choice("goal_reduce", reduce, GOAL_REDUCTIONS)

    def score(actions: torch.Tensor) -> torch.Tensor:
        z = model.rollout(z0.expand(actions.shape[0], *z0.shape[1:]), actions)[:, 1:]  # N x H x K x C
        return goal_values(model.energy(z, z_goal[:, None]), reduce, discount)  # energy: N x H

    return score


class MPCAgent:
    """Plans on ``world_model``'s latents with ``planner`` each step and acts with the first action.

    Args:
        world_model: the model; planning runs on its device, in eval mode (restored afterwards).
        planner: a :class:`agents.planners.Planner`; it is moved to the model's device. Discrete
            planners need a discrete-action model with the same ``num_actions``
            (:attr:`WorldModel.num_actions`: ``4 * slots`` pushes, or the teapot's 6 turns).
        objective: ``"reward"`` or ``"goal"`` (call :meth:`set_goal` first), see the module doc.
        exploration_std: std of Gaussian noise added to continuous actions (then clipped to the
            planner's bounds).
        epsilon: probability of a uniformly random action instead of the plan's (discrete only).
        goal_reduce, goal_discount: how the goal objective scores a plan from its energies after
            each step (``"discounted"`` sum, ``"best"`` or ``"final"`` step), see :func:`goal_values`.
        export: plan on the frozen copy :meth:`WorldModel.export` (same function, filters expanded
            once); call :meth:`sync` after the world model's weights change.
        seed: seeds the exploration noise.
        terminal_weight: weight of the reward objective's terminal value (module doc); >= 0, and
            only with a continuous planner.

    After :meth:`act`, ``last_plan_return`` is the model's predicted return (objective value) of
    the chosen plan and ``last_plan_time`` the seconds spent encoding and planning.
    """

    def __init__(
        self,
        world_model: WorldModel,
        planner: Planner,
        objective: str = "reward",
        exploration_std: float = 0.0,
        epsilon: float = 0.0,
        goal_reduce: str = "discounted",
        goal_discount: float = 0.9,
        export: bool = True,
        seed: int = 0,
        terminal_weight: float = 0.0,
    ) -> None:
        check_mpc_values(objective, goal_reduce, goal_discount, terminal_weight)
        if terminal_weight > 0 and planner.discrete:
            raise ValueError(
                f"terminal_weight must be 0 with a discrete planner (it scores a zero torque), "
                f"got {terminal_weight} with {type(planner).__name__}"
            )
        _check_exploration(planner, exploration_std, epsilon)
        _check_action_kind(world_model, planner)
        self.world_model, self.export, self.planner = world_model, export, planner.to(world_model.device)
        self.model = world_model.export() if export else world_model
        self.objective, self.goal_reduce, self.goal_discount = objective, goal_reduce, goal_discount
        self.terminal_weight = terminal_weight
        self.exploration_std, self.epsilon = exploration_std, epsilon
        self.rng = np.random.default_rng(seed)
        self.goal: torch.Tensor | None = None
        self.goal_obs: np.ndarray | torch.Tensor | None = None
        self.last_plan_return = float("nan")
        self.last_plan_time = float("nan")

    def state_dict(self) -> dict[str, Any]:
        """What resumes this agent exactly: its exploration RNG and its planner's state."""
        return {"rng": self.rng.bit_generator.state, "planner": self.planner.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`."""
        self.rng.bit_generator.state = state["rng"]
        self.planner.load_state_dict(state["planner"])

    def sync(self) -> None:
        """Plan with the world model's current weights (re-makes the exported copy)."""
        if self.export:
            self.model = self.world_model.export()
        if self.goal_obs is not None:
            self.set_goal(self.goal_obs)

    def reset(self) -> None:
        """Start of an episode: clear the planner's warm start."""
        self.planner.reset()

    def set_goal(self, goal_obs: np.ndarray | torch.Tensor) -> None:
        """Encode the goal observation (uint8 ``[C, H, W]``) for the ``goal`` objective."""
        self.goal_obs = goal_obs
        with self._planning():
            self.goal = self._encode(goal_obs)

    @PHASES.timed("planning")
    def act(self, obs: np.ndarray | torch.Tensor, explore: bool = True) -> int | np.ndarray:
        """First action of the plan from ``obs`` (uint8 ``[C, H, W]``): an int (discrete) or a
        float32 array ``[A]`` inside the bounds (continuous), with exploration noise if set and
        ``explore``."""
        start = time.perf_counter()
        with self._planning():
            plan = self.planner.plan(self.scorer(self._encode(obs)))
        action = self._explore(plan[0].cpu().numpy(), explore)
        self.last_plan_time = time.perf_counter() - start
        assert self.planner.last_return is not None  # plan() sets it
        self.last_plan_return = float(self.planner.last_return)
        return action

    def predicted_reward(self, obs: np.ndarray | torch.Tensor, action: int | np.ndarray) -> float:
        """The world model's reward for taking ``action`` from ``obs`` (uint8 ``[C, H, W]``)."""
        with self._planning():
            a = torch.as_tensor(np.asarray(action), device=self.model.device)[None]
            return float(self.model.reward(self._encode(obs), a)[0])

    def scorer(self, z0: torch.Tensor) -> Scorer:
        """The objective's scorer from the current latent ``z0 [1, K, C]``."""
        if self.objective == "reward":
            return reward_objective(self.model, z0, self.terminal_weight)
        if self.goal is None:
            raise ValueError(
                "objective 'goal' needs a goal latent: call set_goal(goal_obs) before act(), or use objective='reward'"
            )
        return goal_objective(self.model, z0, self.goal, self.goal_reduce, self.goal_discount)

    @contextmanager
    def _planning(self) -> Iterator[None]:
        """World model in eval mode and no autograd; the model's mode is restored afterwards."""
        with evaluating(self.model), torch.inference_mode():
            yield

    def _encode(self, obs: np.ndarray | torch.Tensor) -> torch.Tensor:
        """uint8 obs ``[C, H, W]`` -> latent ``[1, K, C']`` on the model's device."""
        x = torch.as_tensor(obs, device=self.model.device)
        shape = self.model.shape
        expected = (shape.in_channels, shape.image_size, shape.image_size)
        if x.dtype != torch.uint8 or tuple(x.shape) != expected:
            raise ValueError(
                f"MPCAgent: expected one uint8 observation {list(expected)} [C, H, W] (the world model's images), "
                f"got {str(x.dtype).removeprefix('torch.')} {list(x.shape)}"
            )
        return self.model.encode(to_float_images(x[None]))

    def _explore(self, action: np.ndarray, explore: bool) -> int | np.ndarray:
        """Epsilon-random (discrete) or clipped Gaussian noise (continuous) around the plan's action."""
        if self.planner.discrete:
            if explore and self.epsilon > 0 and self.rng.random() < self.epsilon:
                return int(self.rng.integers(cast(DiscretePlanner, self.planner).num_actions))
            return int(action)
        if explore and self.exploration_std > 0:
            noisy = action + self.rng.normal(0.0, self.exploration_std, action.shape)
            planner = cast(ContinuousPlanner, self.planner)
            action = np.clip(noisy, planner.low.cpu().numpy(), planner.high.cpu().numpy())
        return action.astype(np.float32)


def check_mpc_values(
    objective: str, goal_reduce: str, goal_discount: float, terminal_weight: float, prefix: str = ""
) -> None:
    """The checks of :class:`MPCAgent`'s options that need no planner or model (``prefix`` names the
    config section in errors, e.g. ``"agent."``)."""
    check_choice(f"{prefix}objective", objective, OBJECTIVES)
    check_choice(f"{prefix}goal_reduce", goal_reduce, GOAL_REDUCTIONS)
    if not 0 < goal_discount <= 1:
        raise ValueError(f"{prefix}goal_discount must be in (0, 1], got {goal_discount}")
    if terminal_weight < 0:
        raise ValueError(f"{prefix}terminal_weight must be >= 0, got {terminal_weight}")


def _check_exploration(planner: Planner, exploration_std: float, epsilon: float) -> None:
    if exploration_std < 0 or not 0 <= epsilon <= 1:
        raise ValueError(f"need exploration_std >= 0 and 0 <= epsilon <= 1, got {exploration_std}, {epsilon}")
    if planner.discrete and exploration_std > 0:
        raise ValueError(
            f"exploration_std={exploration_std} applies to continuous planners; use epsilon for a discrete planner"
        )
    if not planner.discrete and epsilon > 0:
        raise ValueError(
            f"epsilon={epsilon} applies to discrete planners; use exploration_std for a continuous planner"
        )


def _check_action_kind(model: WorldModel, planner: Planner) -> None:
    if planner.discrete != (model.num_actions is not None):
        kind = "a discrete" if planner.discrete else "a continuous"
        raise ValueError(
            f"{kind} planner ({type(planner).__name__}) does not fit a world model with "
            f"{model.action_encoding!r} actions; use DiscreteSearch for 'directions' or 'turns' and CEM or "
            "MPPI for 'torques' or 'rotvecs'"
        )
    discrete = cast(DiscretePlanner, planner)  # num_actions is only read when planner.discrete
    if planner.discrete and discrete.num_actions != model.num_actions:
        raise ValueError(
            f"DiscreteSearch has num_actions={discrete.num_actions}, but the world model steps with "
            f"{model.num_actions} {model.action_encoding!r} actions: use num_actions={model.num_actions}"
        )
