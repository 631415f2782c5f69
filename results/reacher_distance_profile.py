"""Where a Reacher agent loses its return: the approach to the goal or the precision once there.

    MUJOCO_GL=egl .venv/bin/python results/reacher_distance_profile.py SAC_RUN_DIR [...] [--episodes 20]

Each ``SAC_RUN_DIR`` is an ``agent=sac`` run on cached latents (``world_model.pt`` and
``sb3_model.zip``); its deterministic policy runs on ``--episodes`` fresh goals (env seeds
73,000,000+, as ``mpc_horizon.py --fresh``), next to two yardsticks on the same goals: zero torque
and a PD controller on the true state (``reacher_plan_check.pd_action``). Per agent it prints the
return, the torque cost, and the fingertip-to-goal distance (m) averaged over the first 5 decisions
(the approach), over decisions 10-25 (where the arm has arrived) and at the last decision.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from omegaconf import OmegaConf
from reacher_plan_check import pd_action  # results/ is the script's own directory
from stable_baselines3 import SAC

import envs  # noqa: F401  (registers the eqmbrl envs)
from agents.sb3 import LatentObservation
from eqmbrl.collect import Agent, StillAgent
from eqmbrl.rl import PolicyAgent
from worldmodels.persistence import load_world_model

FRESH = 73_000_000


class PD:
    """The state-based PD yardstick as an :class:`eqmbrl.collect.Agent` (reads ``env``'s physics)."""

    def __init__(self, env: gym.Env) -> None:
        self.data = env.unwrapped.mj_data  # type: ignore[attr-defined]

    def act(self, obs: np.ndarray) -> np.ndarray:
        return pd_action(self.data.qpos[:2], self.data.qvel[:2], self.data.qpos[2:4].copy())


def profile(env: gym.Env, agent: Agent, episodes: int) -> dict[str, float]:
    """Return, torque cost and fingertip distances (module doc) of ``agent`` on the fresh goals."""
    data = env.unwrapped.mj_data  # type: ignore[attr-defined]
    returns, ctrl, dist = [], [], []
    for ep in range(episodes):
        obs, _ = env.reset(seed=FRESH + ep)
        total, cost, d, done = 0.0, 0.0, [], False
        while not done:
            obs, r, terminated, truncated, info = env.step(agent.act(obs))
            total, cost, done = total + float(r), cost + float(info["reward_ctrl"]), terminated or truncated
            d.append(float(np.linalg.norm(data.body("fingertip").xpos[:2] - data.qpos[2:4])))
        returns.append(total)
        ctrl.append(cost)
        dist.append(d)
    dists = np.asarray(dist)
    return {
        "return": float(np.mean(returns)),
        "torque cost": float(np.mean(ctrl)),
        "distance 1-5": float(dists[:, :5].mean()),
        "distance 10-25": float(dists[:, 9:].mean()),
        "distance last": float(dists[:, -1].mean()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", type=Path, nargs="+")
    parser.add_argument("--episodes", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows: dict[str, dict[str, float]] = {}
    for run in args.runs:
        cfg = OmegaConf.load(run / ".hydra" / "config.yaml")
        env = LatentObservation(gym.make(cfg.env.id, **cfg.env.kwargs), load_world_model(run / "world_model.pt"))
        name = f"SAC on {cfg.worldmodel.variant} (seed {cfg.seed})"
        rows[name] = profile(env, PolicyAgent(SAC.load(run / "sb3_model.zip", device="cpu")), args.episodes)
        if "zero torque" not in rows:
            image_env = env.unwrapped
            still = StillAgent(gym.spaces.Box(-1.0, 1.0, (2,)))  # Reacher's torque box
            rows["zero torque"] = profile(image_env, still, args.episodes)
            rows["PD on the true state"] = profile(image_env, PD(image_env), args.episodes)
    keys = list(next(iter(rows.values())))
    print("| agent | " + " | ".join(keys) + " |\n|---|" + "---:|" * len(keys))
    for name, row in rows.items():
        print(f"| {name} | " + " | ".join(f"{row[k]:.3f}" for k in keys) + " |")


if __name__ == "__main__":
    main()
