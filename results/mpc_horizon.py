"""Reacher MPC return of a trained run's final world model, by planning horizon.

    .venv/bin/python results/mpc_horizon.py RUN_DIR [--horizons 1 2 4 8 12] [--episodes 5]
        [--planner cem|mppi] [--population 500] [--iterations 6]

Loads ``RUN_DIR/checkpoint_final.pt`` (an ``agent=cem`` run's model after its online phase) or,
without one, ``RUN_DIR/checkpoint.pt`` (a world-model-only run), and the run's config. Plans on
the learned reward, without exploration noise, for each horizon, with CEM (population 500, a
tenth of it as elites, 6 iterations: the ``agent=cem`` defaults) or MPPI (``agent=mppi``'s
defaults), on the run's own fixed evaluation seeds (``eqmbrl.collect.eval_runs``), and prints
the mean return per horizon next to the zero-torque return. Writes ``RUN_DIR/mpc_horizon.json``
(``--out``). It separates the reward head from the rollouts: if short horizons reach and long
ones do not, multi-step prediction is what fails.

``--objective decoded`` (models with a state head, ``worldmodel.state_weight > 0``) scores plans by
Reacher's own reward of the decoded states instead of the reward head: minus the decoded
fingertip-to-goal distance summed over the action-repeat steps (linear between decisions, as
``reacher_rollout_r2.py``'s ``decoded_rmse``), minus the known torque cost.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from omegaconf import OmegaConf

import envs  # noqa: F401  (registers the eqmbrl/ ids)
from agents.mpc import MPCAgent
from agents.planners import CEM, MPPI, Planner, Scorer
from envs.reacher import distance_terms
from eqmbrl.collect import StillAgent, eval_runs, evaluate_agent
from eqmbrl.online import EpisodeActor
from worldmodels.persistence import load_world_model
from worldmodels.world_model import WorldModel


class DecodedMPC(MPCAgent):
    """MPC on Reacher's reward of the states decoded along the rollout (module doc)."""

    def __init__(self, model: WorldModel, planner: Planner, action_repeat: int) -> None:
        super().__init__(model, planner)
        self.action_repeat = action_repeat

    def scorer(self, z0: torch.Tensor) -> Scorer:
        model = self.model

        def score(actions: torch.Tensor) -> torch.Tensor:
            N, H = actions.shape[:2]
            z = model.rollout(z0.expand(N, *z0.shape[1:]), actions)  # N x H+1 x K x C
            points = model.decode_state(z).unflatten(-1, (-1, 2))  # N x H+1 x P x 2
            dist = distance_terms(points, self.action_repeat).sum(1)
            return dist - model.action_penalty(actions.flatten(0, 1)).view(N, H).sum(1)

        return score


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--horizons", type=int, nargs="+", default=[1, 2, 4, 8, 12])
    parser.add_argument("--episodes", type=int, default=5)
    parser.add_argument("--terminal-weight", type=float, default=0.0, help="agent.terminal_weight")
    parser.add_argument("--planner", choices=["cem", "mppi"], default="cem")
    parser.add_argument("--objective", choices=["reward", "decoded"], default="reward")
    parser.add_argument("--population", type=int, default=500)
    parser.add_argument("--iterations", type=int, default=6)
    parser.add_argument("--out", default="mpc_horizon.json", help="file name in RUN_DIR")
    parser.add_argument(
        "--fresh",
        action="store_true",
        help="env seeds 73,000,000 + i (used nowhere else) instead of the fixed eval seeds",
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    cfg = OmegaConf.load(args.run / ".hydra" / "config.yaml")
    final = args.run / "checkpoint_final.pt"
    model = load_world_model(final if final.is_file() else args.run / "checkpoint.pt")
    env = gym.make(cfg.env.id, **cfg.env.kwargs)
    runs = [(73_000_000 + i, None) for i in range(args.episodes)] if args.fresh else eval_runs(args.episodes)
    out = {"still": evaluate_agent(env, StillAgent(env.action_space), runs)["return"]}
    dim = int(np.prod(env.action_space.shape))
    for h in args.horizons:
        planner = (
            CEM(h, dim, args.population, args.population // 10, args.iterations, seed=cfg.seed)
            if args.planner == "cem"
            else MPPI(h, dim, args.population, args.iterations, seed=cfg.seed)
        )
        if args.objective == "decoded":
            agent: MPCAgent = DecodedMPC(model, planner, env.unwrapped.action_repeat)
        else:
            agent = MPCAgent(model, planner, objective="reward", terminal_weight=args.terminal_weight)
        out[f"h{h}"] = evaluate_agent(env, EpisodeActor(agent, env, explore=False), runs)["return"]
        print(f"horizon {h:2d}: return {out[f'h{h}']:.2f} (zero torque {out['still']:.2f})", flush=True)
    env.close()
    (args.run / args.out).write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
