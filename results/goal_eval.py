"""Goal reaching of a trained block-pushing run on fresh goals, split by whether a goal needs a
push direction the world model never saw in training.

    .venv/bin/python results/goal_eval.py RUN_DIR [--goals 50] [--horizon 2] [--seed-base 50000000]

Loads ``RUN_DIR/checkpoint_final.pt`` (else ``checkpoint.pt``) and the run's config, and plans
with ``DiscreteSearch`` (exhaustive, horizon ``--horizon``) on the goal objective for at most 10
steps, without exploration noise. Goals are drawn with every direction (env seeds
``seed-base + 1000 * run seed + i``, none of them used in training or in the run's own
evaluation), ``--goals`` per distance d = 1, 2, 3. A goal *needs an unseen direction* when some
object must move in a direction outside ``trainer.train_directions`` (e.g. its goal column lies
left of its start column and left pushes were never trained). Writes ``RUN_DIR/goal_eval.json``
(``goal_eval_h<H>.json`` for another horizon):
``success_d<k>``, ``success``, and ``success_seen`` / ``success_unseen`` with their goal counts.
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
from agents.planners import DiscreteSearch
from eqmbrl.collect import run_episode
from eqmbrl.online import EpisodeActor
from eqmbrl.symmetry import env_contract
from eqmbrl.types import check_directions
from worldmodels.persistence import load_world_model

DISPLACEMENT_SIGN = ((0, -1), (1, -1), (0, 1), (1, 1))  # direction d moves (axis, sign): up, left, down, right


def needs(start: np.ndarray, goal: np.ndarray, directions: tuple[int, ...]) -> bool:
    """Whether going from ``start`` to ``goal`` (``[K, 2]`` cells) needs a move in one of ``directions``."""
    delta = goal - start
    moves = (DISPLACEMENT_SIGN[d] for d in directions)
    return any(bool((np.sign(delta[:, axis]) == sign).any()) for axis, sign in moves)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--goals", type=int, default=50)
    parser.add_argument("--horizon", type=int, default=2)
    parser.add_argument("--seed-base", type=int, default=50_000_000)
    args = parser.parse_args()
    torch.set_num_threads(1)  # two jobs share the 2-core machine
    cfg = OmegaConf.load(args.run / ".hydra" / "config.yaml")
    ckpt = args.run / "checkpoint_final.pt"
    model = load_world_model(ckpt if ckpt.exists() else args.run / "checkpoint.pt")
    env = gym.make(cfg.env.id, **cfg.env.kwargs)
    base = env_contract(env)
    unseen = tuple(sorted(set(range(4)) - set(check_directions(cfg.trainer.train_directions))))
    agent = MPCAgent(model, DiscreteSearch(args.horizon, int(env.action_space.n), seed=cfg.seed), objective="goal")
    rows = []
    for d in (1, 2, 3):
        for i in range(args.goals):
            seed = args.seed_base + 1000 * cfg.seed + 100 * d + i
            env.reset(seed=seed, options={"goal_distance": d})
            start, goal = base.get_state(), np.asarray(env.unwrapped.goal_state)
            _, info, steps = run_episode(
                env, EpisodeActor(agent, env, explore=False), 10, seed, options={"goal_distance": d}
            )
            rows.append((d, needs(start, goal, unseen), bool(info["is_success"]), steps))
    env.close()
    out: dict[str, float] = {"success": float(np.mean([r[2] for r in rows]))}
    for d in (1, 2, 3):
        out[f"success_d{d}"] = float(np.mean([r[2] for r in rows if r[0] == d]))
    for name, flag in (("seen", False), ("unseen", True)):
        part = [r[2] for r in rows if r[1] == flag]
        out[f"success_{name}"], out[f"goals_{name}"] = (float(np.mean(part)) if part else float("nan")), len(part)
    out["steps_when_reached"] = float(np.mean([r[3] for r in rows if r[2]] or [float("nan")]))
    name = "goal_eval.json" if args.horizon == 2 else f"goal_eval_h{args.horizon}.json"
    (args.run / name).write_text(json.dumps(out, indent=2))
    print(args.run, json.dumps(out))


if __name__ == "__main__":
    main()
