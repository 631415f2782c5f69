"""Successor accuracy of a block-pushing world model split by push direction (up, left, down, right).

    python -m eqmbrl.diagnostics.directions RUN_DIR [--episodes 200] [--length 10]

On fresh random episodes with every action (:mod:`eqmbrl.diagnostics.common`), the transitions
that pushed in each direction are scored as ``successor_acc`` is (:func:`worldmodels.metrics.
successor_accuracy` on the successor sets of :func:`eqmbrl.collect.successor_sets`): the fraction
of transitions where, among the model's predicted successors of every action, the one closest to
the encoded true next observation is a state the env really reaches. A fraction in [0, 1] (not a
percentage as ``successor_acc`` in ``metrics.json``); NaN for a direction no transition took.

A model trained without some direction (``trainer.train_directions``) that generalises scores
there as on the others, e.g. the 3D cubes trained on {up, right, down}: "left (unseen)". From
Python, on a loaded run::

    successor_by_direction(load_run(run_dir))  # {"up": ..., "left": ..., "down": ..., "right": ...}
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch

from agents.random_agent import RandomAgent
from eqmbrl.collect import collect, episode_tensors, successor_sets
from eqmbrl.core.directions import NUM_DIRECTIONS
from eqmbrl.core.seeds import DIAGNOSTICS_ENV
from eqmbrl.diagnostics.common import Source, model_and_env, open_run, parser, result_path, save_result
from eqmbrl.online import DIRECTION_NAMES
from worldmodels.metrics import successor_accuracy
from worldmodels.persistence import evaluating
from worldmodels.world_model import WorldModel


def successor_by_direction(
    source: Source,
    env: gym.Env | None = None,
    episodes: int = 200,
    length: int = 10,
    seed: int = DIAGNOSTICS_ENV,
) -> dict[str, float]:
    """Successor accuracy per push direction (module doc) of a run (its dir or what
    :func:`eqmbrl.load.load_run` gives; ``env`` None: the run's env) or of a world model on ``env``,
    on ``episodes`` fresh random episodes of ``length`` steps (env seeds ``seed + i``).
    Returns ``{"up", "left", "down", "right"}`` -> fraction in [0, 1]."""
    with model_and_env(source, env) as (model, env):
        buffer = collect(env, RandomAgent(env.action_space, seed), episodes, length, seed=seed, desc="directions")
        data = episode_tensors(buffer, length)  # obs [N, T+1, C, H, W], actions [N, T], states [N, T+1, K, 2]
        successors = successor_sets(env, data["states"][:, :-1], data["actions"])  # [N, T, A]
        if successors is None:
            raise ValueError(f"{env.spec.id if env.spec else env}: successor accuracy needs discrete, known dynamics")
        return by_direction(model, torch.from_numpy(data["obs"]), data["actions"], successors)


def by_direction(model: WorldModel, obs: torch.Tensor, actions: np.ndarray, successors: np.ndarray) -> dict[str, float]:
    """Successor accuracy (fraction) per push direction of episodes ``obs [N, T+1, C, H, W]``,
    ``actions [N, T]`` (int), ``successors [N, T, A]`` (bool, :func:`eqmbrl.collect.successor_sets`)."""
    direction = actions % NUM_DIRECTIONS
    out: dict[str, float] = {}
    with evaluating(model):
        for d, name in enumerate(DIRECTION_NAMES):
            n, t = np.nonzero(direction == d)  # the transitions that pushed in d, as one-step episodes
            if len(n) == 0:
                out[name] = float("nan")
                continue
            pairs = torch.stack([obs[n, t], obs[n, t + 1]], 1)  # [M, 2, C, H, W]
            out[name] = successor_accuracy(model, pairs, torch.from_numpy(successors[n, t][:, None])) / 100
    return out


def main(argv: list[str] | None = None) -> dict[str, float]:
    p = parser(__doc__)
    p.add_argument("--episodes", type=int, default=200, help="fresh random episodes (default 200)")
    p.add_argument("--length", type=int, default=10, help="steps per episode (default 10)")
    args = p.parse_args(argv)
    out = result_path(args.run_dir, "directions", args.out)
    with open_run(args) as run:
        return save_result(out, successor_by_direction(run, episodes=args.episodes, length=args.length))


if __name__ == "__main__":
    main()
