"""Reacher MPC with a SAC critic as terminal value (TD-MPC's recipe) on a frozen world model.

    .venv/bin/python results/mpc_sac_value.py RUN_DIR [--horizons 1 3 6] [--episodes 5] [--fresh]
        [--q-only] [--gamma 0.99]

``RUN_DIR`` is an ``agent=sac`` run on cached latents (``world_model.pt`` and ``sb3_model.zip``):
SAC's observations are the frozen world model's latents ``z.flatten(1)``, so its critic can score
imagined latents. CEM (population 500, 50 elites, 6 iterations) maximises

    sum_{t<H} gamma^t r(z_t, a_t) + gamma^H min_i Q_i(z_H, mu(z_H))

along the world model's rollout, with ``mu`` SAC's deterministic actor. ``--q-only`` scores a
single action by ``min_i Q_i(z_0, a)`` alone (no world model): how well the critic ranks actions.
Writes ``RUN_DIR/mpc_sac_value.json`` (``--out``) with the zero-torque return for scale.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import gymnasium as gym
import torch
from omegaconf import OmegaConf
from stable_baselines3 import SAC

import envs  # noqa: F401  (registers the eqmbrl/ ids)
from agents.mpc import MPCAgent
from agents.planners import CEM, Scorer
from eqmbrl.collect import StillAgent, eval_runs, evaluate_agent
from eqmbrl.online import EpisodeActor
from worldmodels.persistence import load_world_model
from worldmodels.world_model import WorldModel


class CriticMPC(MPCAgent):
    """MPCAgent whose reward objective ends in SAC's value of the last latent (module doc)."""

    def __init__(self, model: WorldModel, planner: CEM, sac: SAC, gamma: float, q_only: bool) -> None:
        super().__init__(model, planner, objective="reward")
        self.policy, self.gamma, self.q_only = sac.policy.eval(), gamma, q_only

    def q(self, z: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """``min_i Q_i``: latents ``[N, K, C]``, actions ``[N, 2]`` in [-1, 1] -> ``[N]``."""
        return torch.cat(self.policy.critic(z.flatten(1), actions), 1).amin(1)

    def scorer(self, z0: torch.Tensor) -> Scorer:
        def score(actions: torch.Tensor) -> torch.Tensor:
            n, h = actions.shape[:2]
            start = z0.expand(n, *z0.shape[1:])
            if self.q_only:
                return self.q(start, actions[:, 0])
            z = self.model.rollout(start, actions)  # N x H+1 x K x C
            rewards = self.model.reward(z[:, :-1].flatten(0, 1), actions.flatten(0, 1), z[:, 1:].flatten(0, 1))
            discounts = self.gamma ** torch.arange(h, dtype=rewards.dtype)
            last = z[:, -1]
            value = self.q(last, self.policy.actor(last.flatten(1), deterministic=True))
            return (rewards.view(n, h) * discounts).sum(1) + self.gamma**h * value

        return score


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--horizons", type=int, nargs="+", default=[1, 3, 6])
    parser.add_argument("--episodes", type=int, default=5)
    parser.add_argument("--gamma", type=float, default=0.99, help="SAC's discount")
    parser.add_argument("--q-only", action="store_true", help="score one action by the critic alone")
    parser.add_argument("--fresh", action="store_true", help="env seeds 73,000,000 + i instead of the fixed eval seeds")
    parser.add_argument("--out", default="mpc_sac_value.json", help="file name in RUN_DIR")
    args = parser.parse_args()
    torch.set_num_threads(1)
    cfg = OmegaConf.load(args.run / ".hydra" / "config.yaml")
    model = load_world_model(args.run / "world_model.pt")
    sac = SAC.load(args.run / "sb3_model.zip", device="cpu")
    env = gym.make(cfg.env.id, **cfg.env.kwargs)
    runs = [(73_000_000 + i, None) for i in range(args.episodes)] if args.fresh else eval_runs(args.episodes)
    out = {"still": evaluate_agent(env, StillAgent(env.action_space), runs)["return"]}
    for h in [1] if args.q_only else args.horizons:
        agent = CriticMPC(model, CEM(h, 2, 500, 50, 6, seed=cfg.seed), sac, args.gamma, args.q_only)
        key = "q_only" if args.q_only else f"h{h}"
        out[key] = evaluate_agent(env, EpisodeActor(agent, env, explore=False), runs)["return"]
        print(f"{key}: return {out[key]:.2f} (zero torque {out['still']:.2f})", flush=True)
    env.close()
    (args.run / args.out).write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
