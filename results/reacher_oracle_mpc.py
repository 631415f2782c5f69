"""How well can the Reacher MPC agent's planner do with a perfect model? CEM on the simulator.

    .venv/bin/python results/reacher_oracle_mpc.py [--horizons 12 25] [--episodes 5] [--fresh]
        [--action-repeat 2] [--population 500] [--iterations 6] [--terminal-weight 0]

The same CEM as ``agent=cem`` (population 500, 50 elites, 6 iterations, warm start) plans the
same ``H``-decision torque sequences, but scores them with MuJoCo itself: every candidate is rolled
out from the true current physics state (``mujoco.rollout``, batched in C) and gets the true
Reacher-v5 return of its ``H`` decisions (distance plus torque terms, each decision applied for
``--action-repeat`` env steps). The episodes are those of the MPC evaluation: the fixed evaluation
seeds (``eqmbrl.collect.eval_runs``) or, with ``--fresh``, env seeds 73,000,000 + i, with
``experiment=reacher_mpc``'s env (random goal, 50 env steps). ``--terminal-weight w`` adds w times
the distance reward of the plan's final state (a terminal value: staying there for w more steps).

Before planning it checks that the scorer reproduces the env's own return of a random plan (to
1e-4; it prints the gap, about 2e-6). The figure is a ceiling on what the learned model can give
this planner and objective: if the oracle misses a return, no world model will reach it with the
same search. Prints the mean return per horizon and writes ``--out`` (JSON).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")  # before mujoco's first import, as in envs/reacher.py

import mujoco  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from mujoco import rollout  # noqa: E402
from reacher_plan_check import LINKS  # noqa: E402  (results/ is the script's own directory)

from agents.planners import CEM  # noqa: E402
from envs.reacher import ReacherPixelsEnv  # noqa: E402
from eqmbrl.collect import eval_runs  # noqa: E402

FRESH_BASE = 73_000_000


def fingertip(qpos: np.ndarray) -> np.ndarray:
    """Fingertip xy ``[..., 2]`` of joint angles ``qpos [..., >=2]`` (planar forward kinematics)."""
    q0, q01 = qpos[..., 0], qpos[..., 0] + qpos[..., 1]
    return np.stack(
        [LINKS[0] * np.cos(q0) + LINKS[1] * np.cos(q01), LINKS[0] * np.sin(q0) + LINKS[1] * np.sin(q01)], -1
    )


class SimulatorScorer:
    """``score(plans [N, H, 2]) -> true returns [N]`` from one physics state, by batched rollouts."""

    def __init__(self, env: ReacherPixelsEnv, terminal_weight: float) -> None:
        self.model, self.data = env.mj_model, mujoco.MjData(env.mj_model)
        self.frame_skip = env._sim.frame_skip  # MuJoCo steps per env step (2 for Reacher-v5)
        self.repeat = env.action_repeat
        self.terminal_weight = terminal_weight
        self.spec = mujoco.mjtState.mjSTATE_FULLPHYSICS
        self.state = np.empty(mujoco.mj_stateSize(self.model, self.spec))
        self.nq = self.model.nq

    def set_start(self, data: mujoco.MjData) -> None:
        """Plan from the physics state in ``data``."""
        mujoco.mj_getState(self.model, data, self.state, self.spec)

    def __call__(self, plans: torch.Tensor) -> torch.Tensor:
        actions = plans.double().numpy()  # [N, H, 2]
        n, horizon, _ = actions.shape
        per_env = self.frame_skip
        control = np.repeat(actions, self.repeat * per_env, axis=1)  # [N, H * repeat * skip, 2]
        states, _ = rollout.rollout(self.model, self.data, self.state[None], control)
        qpos = states[:, per_env - 1 :: per_env, 1 : 1 + self.nq]  # after every env step: [N, H * repeat, nq]
        dist = np.linalg.norm(fingertip(qpos) - qpos[..., 2:4], axis=-1)
        ctrl = self.repeat * np.square(actions).sum(-1)  # [N, H]
        returns = -dist.sum(1) - ctrl.sum(1) - self.terminal_weight * dist[:, -1]
        return torch.as_tensor(returns, dtype=torch.float32)


def check_scorer(env: ReacherPixelsEnv, scorer: SimulatorScorer, seed: int = 5) -> float:
    """Largest gap between the scorer's return of a random 6-decision plan and the env's own return of it."""
    env.reset(seed=seed)
    scorer.set_start(env.mj_data)
    plan = np.random.default_rng(seed).uniform(-1.0, 1.0, (1, 6, 2)).astype(np.float32)
    predicted = float(scorer(torch.from_numpy(plan))[0])
    true = sum(env.step(a)[1] for a in plan[0])
    return abs(predicted - true)


def run_episode(env: ReacherPixelsEnv, planner: CEM, scorer: SimulatorScorer, seed: int) -> float:
    """Return of one episode from env seed ``seed``, planning every decision on the simulator."""
    env.reset(seed=seed)
    planner.reset()
    total, done = 0.0, False
    while not done:
        scorer.set_start(env.mj_data)
        action = planner.plan(scorer)[0].numpy()
        _, reward, _, done, info = env.step(action)
        total += reward
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--horizons", type=int, nargs="+", default=[12])
    parser.add_argument("--episodes", type=int, default=5)
    parser.add_argument("--fresh", action="store_true", help="env seeds 73,000,000 + i instead of the fixed ones")
    parser.add_argument("--action-repeat", type=int, default=2)
    parser.add_argument("--population", type=int, default=500)
    parser.add_argument("--iterations", type=int, default=6)
    parser.add_argument("--terminal-weight", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=0, help="CEM's sampling seed")
    parser.add_argument("--out", type=Path, default=Path("results/reacher_oracle_mpc.json"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    env = ReacherPixelsEnv(image_size=16, target_radius=0.02, action_repeat=args.action_repeat)
    scorer = SimulatorScorer(env, args.terminal_weight)
    gap = check_scorer(env, SimulatorScorer(env, 0.0))
    print(f"scorer vs env return of a random plan: |difference| = {gap:.1e}", flush=True)
    if gap > 1e-4:
        raise RuntimeError(f"the simulator scorer disagrees with the env's return by {gap:.3g}")
    seeds = [FRESH_BASE + i for i in range(args.episodes)] if args.fresh else [s for s, _ in eval_runs(args.episodes)]
    out: dict[str, object] = {"args": {k: str(v) for k, v in vars(args).items()}}
    for h in args.horizons:
        planner = CEM(h, 2, args.population, args.population // 10, args.iterations, seed=args.seed)
        returns = [run_episode(env, planner, scorer, s) for s in seeds]
        out[f"h{h}"] = {"return": float(np.mean(returns)), "std": float(np.std(returns)), "per_episode": returns}
        print(f"horizon {h:2d}: return {np.mean(returns):.2f} ± {np.std(returns):.2f}", flush=True)
    env.close()
    args.out.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
