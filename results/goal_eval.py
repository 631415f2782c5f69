"""Goal reaching of a trained block-pushing run on fresh goals, split by whether a goal needs a
push direction the world model never saw in training.

    .venv/bin/python results/goal_eval.py RUN_OR_SWEEP_DIR... [--goals 50] [--horizon 2] [-j 2]

Evaluates every finished run at or under the given dirs that has no evaluation yet, ``-j`` at a
time. For each, loads ``RUN_DIR/checkpoint_final.pt`` (else ``checkpoint.pt``) and the run's
config, and plans with ``DiscreteSearch`` (exhaustive, horizon ``--horizon``) on the goal objective for at most 10
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
import multiprocessing
from functools import partial
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from omegaconf import OmegaConf

import envs  # noqa: F401  (registers the eqmbrl/ ids)
from agents.mpc import MPCAgent
from agents.planners import DiscreteSearch
from eqmbrl.collect import run_episode
from eqmbrl.core.directions import check_directions
from eqmbrl.core.symmetry import env_contract
from eqmbrl.online import EpisodeActor
from eqmbrl.report import find_runs
from worldmodels.persistence import load_world_model

GOAL_ENVS = "eqmbrl/BlockPushingGoal-"
DISPLACEMENT_SIGN = ((0, -1), (1, -1), (0, 1), (1, 1))  # direction d moves (axis, sign): up, left, down, right


def needs(start: np.ndarray, goal: np.ndarray, directions: tuple[int, ...]) -> bool:
    """Whether going from ``start`` to ``goal`` (``[K, 2]`` cells) needs a move in one of ``directions``."""
    delta = goal - start
    moves = (DISPLACEMENT_SIGN[d] for d in directions)
    return any(bool((np.sign(delta[:, axis]) == sign).any()) for axis, sign in moves)


def evaluate(run: Path, goals: int = 50, horizon: int = 2, seed_base: int = 50_000_000) -> dict[str, float]:
    """Fresh-goal success of ``run`` (see the module doc); also written to the run dir."""
    torch.set_num_threads(1)  # jobs share the 2-core machine
    cfg = OmegaConf.load(run / ".hydra" / "config.yaml")
    ckpt = run / "checkpoint_final.pt"
    model = load_world_model(ckpt if ckpt.exists() else run / "checkpoint.pt")
    env = gym.make(cfg.env.id, **cfg.env.kwargs)
    base = env_contract(env)
    unseen = tuple(sorted(set(range(4)) - set(check_directions(cfg.trainer.train_directions))))
    agent = MPCAgent(model, DiscreteSearch(horizon, int(env.action_space.n), seed=cfg.seed), objective="goal")
    rows = []
    for d in (1, 2, 3):
        for i in range(goals):
            seed = seed_base + 1000 * cfg.seed + 100 * d + i
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
    (run / output_name(horizon)).write_text(json.dumps(out, indent=2))
    print(run, json.dumps(out), flush=True)
    return out


def output_name(horizon: int) -> str:
    return "goal_eval.json" if horizon == 2 else f"goal_eval_h{horizon}.json"


def pending(paths: list[Path], horizon: int) -> list[Path]:
    """Finished, not failed goal-conditioned block-pushing runs at or under ``paths`` that have no
    goal evaluation at ``horizon`` yet."""
    runs = [r for p in paths for r in ([p] if (p / ".hydra").is_dir() else find_runs(p))]
    done = [r for r in runs if (r / "metrics.json").is_file() and not (r / "FAILED").exists()]
    goals = [r for r in done if OmegaConf.load(r / ".hydra" / "config.yaml").env.id.startswith(GOAL_ENVS)]
    return [r for r in goals if not (r / output_name(horizon)).exists()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", type=Path, nargs="+", help="run dirs, or dirs of runs such as a Hydra sweep dir")
    parser.add_argument("--goals", type=int, default=50)
    parser.add_argument("--horizon", type=int, default=2)
    parser.add_argument("--seed-base", type=int, default=50_000_000)
    parser.add_argument("-j", "--jobs", type=int, default=2, help="runs evaluated at once, one thread each")
    args = parser.parse_args()
    todo = pending(args.runs, args.horizon)
    print(f"{len(todo)} runs to evaluate", flush=True)
    job = partial(evaluate, goals=args.goals, horizon=args.horizon, seed_base=args.seed_base)
    with multiprocessing.Pool(max(1, args.jobs)) as pool:
        pool.map(job, todo, chunksize=1)


if __name__ == "__main__":
    main()
