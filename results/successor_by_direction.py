"""Successor accuracy of a block-pushing run split by the push direction taken.

    .venv/bin/python results/successor_by_direction.py RUN_DIR [episodes]

Loads the run's best checkpoint and config, collects ``episodes`` random episodes x 10 steps with
all actions (env seeds 60,000,000 + i, used nowhere else), and prints, per direction (up, left,
down, right), the fraction of transitions whose predicted successor closest to the encoded true
next observation is one that the env really reaches (``worldmodels.metrics.successor_accuracy``).
A model that generalises to a direction it never saw scores there as on the others. Writes
``RUN_DIR/by_direction.json`` (``{"up": %, "left": %, ...}``), which ``eqmbrl.report --extra
by_direction.json`` puts in its table as ``by_direction/left`` etc.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from omegaconf import OmegaConf

import envs  # noqa: F401  (registers the eqmbrl/ ids)
from agents.random_agent import RandomAgent
from eqmbrl.collect import collect, episode_tensors, successor_sets
from eqmbrl.core.directions import NUM_DIRECTIONS
from eqmbrl.online import DIRECTION_NAMES
from worldmodels.metrics import successor_accuracy
from worldmodels.persistence import load_world_model


def main(run: Path, episodes: int = 200) -> None:
    torch.set_num_threads(1)
    cfg = OmegaConf.load(run / ".hydra" / "config.yaml")
    model = load_world_model(run / "checkpoint.pt")
    env = gym.make(cfg.env.id, **cfg.env.kwargs)
    buf = collect(env, RandomAgent(env.action_space, 60_000_000), episodes, 10, seed=60_000_000)
    data = episode_tensors(buf, 10)
    successors = successor_sets(env, data["states"][:, :-1], data["actions"])
    assert successors is not None  # block pushing has discrete known dynamics
    obs, actions = torch.from_numpy(data["obs"]), data["actions"]
    direction = actions % NUM_DIRECTIONS
    trained = cfg.trainer.train_directions
    print(f"{run}: trained on {trained if trained is not None else 'all'} directions")
    out = {}
    for d, name in enumerate(DIRECTION_NAMES):
        # score only the transitions that pushed in direction d: one-step episodes of them
        n, t = np.nonzero(direction == d)
        pairs = torch.stack([obs[n, t], obs[n, t + 1]], 1)
        acc = successor_accuracy(model, pairs, torch.from_numpy(successors[n, t][:, None]))
        print(f"  {name:>5}: successor accuracy {acc:5.1f}% on {len(n)} transitions")
        out[name] = acc
    env.close()
    (run / "by_direction.json").write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main(Path(sys.argv[1]), *(int(a) for a in sys.argv[2:3]))
