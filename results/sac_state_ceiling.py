"""SAC on the true Reacher state, same task as the pixel agents: what SAC reaches with perfect features.

    MUJOCO_GL=egl .venv/bin/python results/sac_state_ceiling.py --steps 100000 --seed 0 \\
        --out results/runs/sac_state_ceiling/seed0.json

The env is the pixel Reacher of ``experiment=reacher_mpc`` (``target_radius=0.02``,
``action_repeat=2``: 25 decisions of 2 physics steps per episode), but SAC observes Reacher-v5's
own state features instead of the frames: cos and sin of both joint angles, the goal, both joint
velocities and the fingertip-to-goal vector (10 numbers). SAC's settings are ``agent=sac``'s (SB3
defaults, batch 128, learning starts at 500, buffer = all steps). Evaluation: the deterministic
policy on the 5 fixed evaluation episodes of every eqmbrl run, every ``--eval-every`` steps, so
the curve compares directly with ``results/sac_curves.py``'s. The curve is written to ``--out``
after every evaluation (``{"steps": [...], "return": [...]}``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3 import SAC

import envs  # noqa: F401  (registers the eqmbrl envs)
from eqmbrl.collect import eval_runs, evaluate_agent
from eqmbrl.rl import PolicyAgent


class StateObservation(gym.ObservationWrapper):
    """The pixel Reacher observed through its state: float32 ``[10]`` (module docstring)."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (10,), np.float32)

    def observation(self, observation: np.ndarray) -> np.ndarray:
        data = self.env.unwrapped.mj_data  # type: ignore[attr-defined]
        q, qvel, goal = data.qpos[:2], data.qvel[:2], data.qpos[2:]
        tip_to_goal = data.body("fingertip").xpos[:2] - goal
        return np.concatenate([np.cos(q), np.sin(q), goal, qvel, tip_to_goal]).astype(np.float32)


def make_env() -> gym.Env:
    """``experiment=reacher_mpc``'s Reacher, seen through :class:`StateObservation`."""
    return StateObservation(gym.make("eqmbrl/Reacher-pixels-v0", target_radius=0.02, action_repeat=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--eval-every", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    torch.set_num_threads(1)
    env, eval_env = make_env(), make_env()
    model = SAC("MlpPolicy", env, batch_size=128, learning_starts=500, buffer_size=args.steps, seed=args.seed)
    runs = eval_runs(5)
    curve: dict[str, list[float]] = {"steps": [], "return": []}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    while model.num_timesteps < args.steps:
        model.learn(args.eval_every, reset_num_timesteps=False, progress_bar=True)
        ret = evaluate_agent(eval_env, PolicyAgent(model), runs)["return"]
        curve["steps"].append(int(model.num_timesteps))
        curve["return"].append(ret)
        args.out.write_text(json.dumps(curve))
        print(f"step {model.num_timesteps}: return {ret:.2f}", flush=True)


if __name__ == "__main__":
    main()
