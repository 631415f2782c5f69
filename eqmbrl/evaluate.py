"""``python -m eqmbrl.evaluate RUN_DIR... [--episodes N]``: score finished runs' agents on fresh episodes.

A run scores its agent at its end on fixed evaluation episodes (the same in every run, so agents
compare on the same episodes). This scores it again on episodes no run has seen: env seeds
``FRESH_ENV + 100_000 * run seed + 1000 * d + i`` (:mod:`eqmbrl.core.seeds`; ``--seed-base`` picks
another held-out set), so each training seed meets its own fresh goals. Beside the agent, on the
same episodes: a uniform random policy and doing nothing (:func:`eqmbrl.collect.baselines`).

Goal tasks (``agent.objective=goal``, and SB3 agents on goal envs, e.g. DQN + HER on goal
observations): ``--episodes`` goals per goal distance d of ``agent.goal_distances``, each for at
most ``agent.max_steps`` steps, no exploration; MPC agents get the goal image on each reset, SB3
agents with ``agent.goal_observation`` see it in their observation: the same goal of the same seed.
Written: ``success``, ``success_se`` (standard error over goals), ``success_d<k>``,
``steps_when_reached``, the baselines' ``random_success`` and ``still_success``; and, when the run
trained on some push directions only (``trainer.train_directions``), ``success_seen`` /
``success_unseen`` and their goal counts: a goal *needs an unseen direction* when some object must
move in a direction the world model never saw (e.g. its goal column lies left of its start column
and left pushes were never trained).

Reward tasks: ``--episodes`` episodes to the env's end; ``return``, ``return_se``, ``random_return``,
``still_return``.

Everything goes to ``RUN_DIR/evaluate.json`` (with the episodes and seed base it used) and is
printed; only a finished evaluation writes the file.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from envs.block_pushing import DIRECTIONS
from eqmbrl.collect import baselines, run_episode
from eqmbrl.core.checkpoint import write_json
from eqmbrl.core.directions import NUM_DIRECTIONS, check_directions
from eqmbrl.core.seeds import BASELINES, FRESH_ENV
from eqmbrl.core.symmetry import env_contract
from eqmbrl.load import TrainedRun, load_run

OUTPUT = "evaluate.json"
DEFAULT_EPISODES = 50  # per goal distance: the standard error of a success rate near 95% is then ~3%


def standard_error(values: list[float]) -> float:
    """Standard error of the mean of ``values`` (sample std / sqrt(n); 0 for fewer than 2)."""
    return float(np.std(values, ddof=1) / math.sqrt(len(values))) if len(values) > 1 else 0.0


def needs_directions(start: np.ndarray, goal: np.ndarray, directions: tuple[int, ...]) -> bool:
    """Whether going from ``start`` to ``goal`` (cells ``[K, 2]``) moves some object in one of ``directions``."""
    delta = np.asarray(goal) - np.asarray(start)  # [K, 2]
    return any(bool(((delta * DIRECTIONS[d]).sum(-1) > 0).any()) for d in directions)


def fresh_runs(run: TrainedRun, episodes: int, seed_base: int) -> list[tuple[int, dict[str, Any] | None]]:
    """(env seed, reset options) of ``run``'s fresh episodes (module doc)."""
    base = seed_base + 100_000 * run.seed
    agent = run.settings.agent
    if run.goal:
        distances = list(getattr(agent, "goal_distances", ()))
        return [(base + 1000 * d + i, {"goal_distance": d}) for d in distances for i in range(episodes)]
    return [(base + i, None) for i in range(episodes)]


def evaluate_run(run: TrainedRun, episodes: int = DEFAULT_EPISODES, seed_base: int = FRESH_ENV) -> dict[str, Any]:
    """The fresh-episode scores of an opened run (module doc)."""
    if run.agent is None:
        raise ValueError(f"run {run.path} trained a world model only (agent=none): it has no agent to evaluate")
    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    runs = fresh_runs(run, episodes, seed_base)
    unseen = tuple(sorted(set(range(NUM_DIRECTIONS)) - set(check_directions(run.settings.trainer.train_directions))))
    base = env_contract(run.env)
    rows: list[tuple[int, bool, float, int, bool]] = []  # distance, needs unseen, return, steps, success
    for seed, options in runs:
        needs = False
        if run.goal and unseen:
            run.env.reset(seed=seed, options=options)
            goal = np.asarray(getattr(run.env.unwrapped, "goal_state"))  # noqa: B009 (goal envs only)
            needs = needs_directions(base.get_state(), goal, unseen)
        ret, info, steps = run_episode(run.env, run.agent, run.max_steps, seed, options=options)
        distance = int(options["goal_distance"]) if options else 0
        rows.append((distance, needs, ret, steps, bool(info.get("is_success", False))))
    out: dict[str, Any] = {"episodes": len(rows), "seed_base": seed_base}
    if run.goal:
        success = [float(r[4]) for r in rows]
        out.update(success=float(np.mean(success)), success_se=standard_error(success))
        for d in sorted({r[0] for r in rows}):
            out[f"success_d{d}"] = float(np.mean([r[4] for r in rows if r[0] == d]))
        out["steps_when_reached"] = float(np.mean([r[3] for r in rows if r[4]])) if any(success) else math.nan
        if unseen:
            for name, flag in (("seen", False), ("unseen", True)):
                part = [float(r[4]) for r in rows if r[1] == flag]
                out[f"success_{name}"] = float(np.mean(part)) if part else math.nan
                out[f"goals_{name}"] = len(part)
    else:
        returns = [r[2] for r in rows]
        out.update({"return": float(np.mean(returns)), "return_se": standard_error(returns)})
    out.update(baselines(run.env, runs, run.max_steps, run.seed + BASELINES))
    return out


def evaluate(
    path: str | Path, episodes: int = DEFAULT_EPISODES, seed_base: int = FRESH_ENV, device: str = "cpu"
) -> dict[str, Any]:
    """Open the finished run in ``path``, score it (module doc), write ``evaluate.json``; returns the scores."""
    with load_run(path, device=device) as run:
        out = evaluate_run(run, episodes, seed_base)
    write_json(Path(path) / OUTPUT, out)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].strip("`"))
    parser.add_argument("runs", type=Path, nargs="+", help="finished run dirs")
    parser.add_argument("--episodes", type=int, default=DEFAULT_EPISODES, help="per goal distance, or in all")
    parser.add_argument("--seed-base", type=int, default=FRESH_ENV, help="first env seed of the fresh episodes")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # the CLI's default: jobs share the cores
    for path in args.runs:
        print(json.dumps({"run": str(path), **evaluate(path, args.episodes, args.seed_base, args.device)}), flush=True)


if __name__ == "__main__":
    main()
