"""The run's planner on the env's true dynamics instead of the learned model: the ceiling of the
planner and its objective, which no world model can lift.

    python -m eqmbrl.diagnostics.oracle RUN_DIR [--episodes 10]

The run's planner (``agent.planner``, its seed) plans every step on a scorer of true outcomes and
acts with the plan's first action, on fresh episodes (:mod:`eqmbrl.diagnostics.common`):

- goal runs (block pushing, ``agent=search``): :func:`goal_scorer`, the goal objective
  (``agent.goal_reduce``, ``goal_discount``) of the energy "squared cell distance to the goal,
  summed over objects" after each step of the true dynamics (what a latent that encodes the
  positions would give), on ``episodes`` goals per distance of ``agent.goal_distances``;
  success per distance as the run's own evaluation reports it;
- reward runs (Reacher, ``agent=cem|mppi``): :class:`ReacherScorer`, Reacher-v5's true return of
  every candidate, rolled out in MuJoCo (batched in C) from a copy of the current physics state,
  plus ``agent.terminal_weight`` x the true reward of a zero torque after the plan, as the
  learned objective has it. Its agreement with the env's own return is checked before use
  (:data:`SCORER_TOLERANCE`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import gymnasium as gym
import numpy as np
import torch

from agents.mpc import goal_values
from agents.planners import Planner, Scorer
from envs.block_pushing import BlockPushingEnv
from envs.reacher import REACH, ReacherPixelsEnv, state_points
from eqmbrl.collect import evaluate_agent
from eqmbrl.core.seeds import DIAGNOSTICS_ENV
from eqmbrl.core.symmetry import env_contract
from eqmbrl.diagnostics.common import fresh_runs, mpc_settings, open_run, parser, pixel_env, result_path, save_result
from eqmbrl.load import TrainedRun
from eqmbrl.run import build_planner
from eqmbrl.settings import OnlineSettings

if TYPE_CHECKING:  # imported where used, after envs.reacher has chosen MUJOCO_GL (its module doc)
    import mujoco

SCORER_TOLERANCE = 1e-2
"""Largest gap allowed between :class:`ReacherScorer`'s return of a random 6-decision plan and the
env's own (:func:`scorer_gap`). The dynamics agree exactly; each step's distance term to about 1e-6,
except while the elbow is past its joint limit (3 rad), where Reacher-v5's reward reads the fingertip
of MuJoCo's last RK4 stage instead of the final state: up to about 1e-3 in that step."""


def goal_scorer(
    step_states: Callable[[np.ndarray, np.ndarray], np.ndarray],
    state: np.ndarray,
    goal: np.ndarray,
    reduce: str = "discounted",
    discount: float = 0.9,
) -> Scorer:
    """Scorer of discrete plans ``[N, H]`` -> values ``[N]`` from block-pushing ``state [K, 2]``:
    :func:`agents.mpc.goal_values` of the squared cell distances to ``goal [K, 2]`` after each step
    of the true dynamics ``step_states(states [N, K, 2], actions [N]) -> [N, K, 2]``."""

    def score(plans: torch.Tensor) -> torch.Tensor:
        actions = plans.cpu().numpy()
        states, energies = np.repeat(state[None], len(actions), 0), []
        for t in range(actions.shape[1]):
            states = step_states(states, actions[:, t])
            energies.append(((states - goal) ** 2).sum((1, 2)))
        energy = torch.tensor(np.stack(energies, 1), dtype=torch.float32, device=plans.device)  # [N, H]
        return goal_values(energy, reduce, discount)

    return score


def physics_substeps(env: ReacherPixelsEnv) -> int:
    """MuJoCo steps per physics step of ``env`` (Reacher-v5's frame skip), measured by one step from a reset."""
    env.reset(seed=0)
    start = env.mj_data.time
    env.step(np.zeros(2, np.float32))
    return round((env.mj_data.time - start) / (env.mj_model.opt.timestep * env.action_repeat))


class ReacherScorer:
    """``score(plans [N, H, 2]) -> true returns [N]`` of Reacher-v5 from the physics state last
    given to :meth:`set_start`, each torque held for the env's ``action_repeat`` physics steps."""

    def __init__(self, env: ReacherPixelsEnv, terminal_weight: float = 0.0) -> None:
        import mujoco

        self.model, self.data = env.mj_model, mujoco.MjData(env.mj_model)
        self.substeps, self.repeat = physics_substeps(env), env.action_repeat
        self.terminal_weight = terminal_weight
        self.spec = mujoco.mjtState.mjSTATE_FULLPHYSICS
        self.start = np.empty(mujoco.mj_stateSize(self.model, self.spec))

    def set_start(self, data: mujoco.MjData) -> None:
        """Plan from the physics state in ``data`` (copied)."""
        import mujoco

        mujoco.mj_getState(self.model, data, self.start, self.spec)

    def decision_rewards(self, actions: np.ndarray) -> np.ndarray:
        """True env-step rewards ``[N, H]`` of torques ``[N, H, 2]`` from the start state."""
        from mujoco import rollout

        n, horizon, _ = actions.shape
        control = np.repeat(actions, self.repeat * self.substeps, axis=1)  # [N, H * repeat * substeps, 2]
        states, _ = rollout.rollout(self.model, self.data, self.start[None], control)
        nq, nv = self.model.nq, self.model.nv
        after = states[:, self.substeps - 1 :: self.substeps]  # after each physics step: [N, H * repeat, state]
        qpos, qvel = after[..., 1 : 1 + nq], after[..., 1 + nq : 1 + nq + nv]
        arm = np.concatenate([qpos[..., :2], qvel[..., :2], qpos[..., 2:4]], -1)  # one frame's state
        points = state_points(arm, frame_stack=1)  # [N, H * repeat, 5, 2], in units of the reach
        distance = np.linalg.norm(points[..., 1, :] - points[..., 2, :], axis=-1) * REACH
        torque = np.square(actions).sum(-1, keepdims=True)  # [N, H, 1]
        return -(distance.reshape(n, horizon, self.repeat) + torque).sum(-1)

    def __call__(self, plans: torch.Tensor) -> torch.Tensor:
        actions = plans.detach().cpu().double().numpy()
        if self.terminal_weight > 0:  # one more decision, zero torque: its reward is the terminal value
            actions = np.concatenate([actions, np.zeros_like(actions[:, :1])], 1)
        rewards = self.decision_rewards(actions)
        value = rewards[:, : plans.shape[1]].sum(1)
        if self.terminal_weight > 0:
            value = value + self.terminal_weight * rewards[:, -1]
        return torch.as_tensor(value, dtype=torch.float32, device=plans.device)


def scorer_gap(env: ReacherPixelsEnv, scorer: ReacherScorer, seed: int = 5, steps: int = 6) -> float:
    """|scorer's return - env's own return| of a random ``steps``-decision plan from a reset (env seed ``seed``)."""
    env.reset(seed=seed)
    scorer.set_start(env.mj_data)
    plan = np.random.default_rng(seed).uniform(-1.0, 1.0, (1, steps, 2)).astype(np.float32)
    predicted = float(scorer.decision_rewards(plan.astype(np.float64)).sum())
    true = sum(float(env.step(a)[1]) for a in plan[0])
    return abs(predicted - true)


class OracleAgent:
    """Acts with the first action of ``planner``'s plan for ``scorer()``, the true-dynamics scorer of
    the env's current state; an agent for :func:`eqmbrl.collect.evaluate_agent`."""

    def __init__(self, planner: Planner, scorer: Callable[[], Scorer]) -> None:
        self.planner, self.scorer = planner, scorer

    def reset(self) -> None:
        self.planner.reset()

    def act(self, obs: np.ndarray) -> int | np.ndarray:
        action = self.planner.plan(self.scorer())[0].cpu().numpy()
        return int(action) if self.planner.discrete else action.astype(np.float32)


def oracle_agent(env: gym.Env, planner: Planner, settings: OnlineSettings) -> OracleAgent:
    """The :class:`OracleAgent` of ``env`` for the objective of ``settings`` (module doc)."""
    base = env_contract(env)
    if settings.objective == "goal":
        if not isinstance(base, BlockPushingEnv) or not base.goal_conditioned:
            raise ValueError(f"the goal oracle simulates goal-conditioned block pushing, not {type(base).__name__}")
        blocks = base

        def to_goal() -> Scorer:
            assert blocks.goal_state is not None  # set by every reset of a goal-conditioned env
            return goal_scorer(
                blocks.step_states, blocks.get_state(), blocks.goal_state, settings.goal_reduce, settings.goal_discount
            )

        return OracleAgent(planner, to_goal)
    if not isinstance(base, ReacherPixelsEnv):
        raise ValueError(f"the reward oracle simulates Reacher, not {type(base).__name__}")
    reacher, scorer = base, ReacherScorer(base, settings.terminal_weight)
    gap = scorer_gap(reacher, scorer)
    if gap > SCORER_TOLERANCE:
        raise RuntimeError(f"the simulator scorer disagrees with the env's return by {gap:.3g} (> {SCORER_TOLERANCE})")

    def from_now() -> Scorer:
        scorer.set_start(reacher.mj_data)
        return scorer

    return OracleAgent(planner, from_now)


def oracle_scores(run: TrainedRun, episodes: int = 10, seed: int = DIAGNOSTICS_ENV) -> dict[str, float]:
    """The run's planner on the true dynamics (module doc) on fresh episodes (env seeds ``seed + i``;
    ``episodes`` per goal distance for goal runs): ``return``, ``return_std`` and, for goal runs,
    ``success`` and ``success_d<k>``, as :func:`eqmbrl.collect.evaluate_agent` gives them."""
    settings, env = mpc_settings(run), pixel_env(run)
    planner = build_planner(settings.planner, env.action_space, run.seed)
    agent = oracle_agent(env, planner, settings)
    distances = settings.goal_distances if settings.objective == "goal" else None
    return evaluate_agent(env, agent, fresh_runs(episodes, distances, seed), run.max_steps)


def main(argv: list[str] | None = None) -> dict[str, float]:
    p = parser(__doc__)
    p.add_argument("--episodes", type=int, default=10, help="fresh episodes (per goal distance; default 10)")
    args = p.parse_args(argv)
    out = result_path(args.run_dir, "oracle", args.out)
    with open_run(args) as run:
        return save_result(out, oracle_scores(run, args.episodes))


if __name__ == "__main__":
    main()
