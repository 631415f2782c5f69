"""What does a trained Reacher latent know about the state? Linear probes on held-out episodes.

    .venv/bin/python results/reacher_probe.py RUN_DIR... [--episodes 100]

Rolls ``--episodes`` random episodes x 20 steps (env seeds ``80,000,000 + i``, used nowhere
else), encodes every observation with the run's model and fits ridge regressions from the latent
(flattened, plus a bias) to parts of the underlying state, on the first 70% of the episodes;
reports R^2 on the other 30% and writes ``RUN_DIR/probe.json``:

- ``probe/angles``: sin and cos of both joint angles; ``probe/previous_angles``: the same in the
  previous stacked frame (with ``angles``, what the motion is made of: a velocity is not a linear
  function of sin and cos); ``probe/velocities``: joint velocities;
- ``probe/fingertip`` and ``probe/goal``: positions (m); ``probe/distance``: |fingertip - goal|.

A planner needs the first three to predict where an action takes the arm; a latent can tell
random-goal states apart by the goal alone, which is what the contrastive loss asks for.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from omegaconf import OmegaConf
from reacher_plan_check import LINKS  # results/ is the script's own directory

import envs  # noqa: F401  (registers the eqmbrl/ ids)
from eqmbrl.core.types import to_float_images
from eqmbrl.report import find_runs
from worldmodels.persistence import load_world_model

SEED_BASE = 80_000_000
STEPS = 20


def targets(states: np.ndarray, frame_stack: int) -> dict[str, np.ndarray]:
    """Probe targets ``{name: [N, d]}`` from env states ``[N, S]`` (layout: envs/reacher.py)."""
    k = frame_stack
    q, dq, goal = states[:, 2 * (k - 1) : 2 * k], states[:, 2 * k : 2 * k + 2], states[:, -2:]
    q_prev = states[:, 2 * (k - 2) : 2 * (k - 1)] if k > 1 else q
    tip = np.stack(
        [
            LINKS[0] * np.cos(q[:, 0]) + LINKS[1] * np.cos(q[:, 0] + q[:, 1]),
            LINKS[0] * np.sin(q[:, 0]) + LINKS[1] * np.sin(q[:, 0] + q[:, 1]),
        ],
        1,
    )
    return {
        "angles": np.concatenate([np.sin(q), np.cos(q)], 1),
        "previous_angles": np.concatenate([np.sin(q_prev), np.cos(q_prev)], 1),
        "velocities": dq,
        "fingertip": tip,
        "goal": goal,
        "distance": np.linalg.norm(tip - goal, axis=1, keepdims=True),
    }


def ridge_r2(x: np.ndarray, y: np.ndarray, train: np.ndarray, alpha: float = 1e-2) -> float:
    """R^2 on ``~train`` rows of a ridge fit ``x [N, D] -> y [N, d]`` on the ``train`` rows."""
    x = np.concatenate([x, np.ones((len(x), 1))], 1)
    a = x[train]
    w = np.linalg.solve(a.T @ a + alpha * np.eye(a.shape[1]), a.T @ y[train])
    test = y[~train]
    return float(1 - ((x[~train] @ w - test) ** 2).sum() / ((test - test.mean(0)) ** 2).sum())


def probe(run: Path, episodes: int = 100) -> dict[str, float]:
    """The probes of ``run`` (module doc); also written to ``run/probe.json``."""
    torch.set_num_threads(1)
    cfg = OmegaConf.load(run / ".hydra" / "config.yaml")
    final = run / "checkpoint_final.pt"
    model = load_world_model(final if final.is_file() else run / "checkpoint.pt").export()
    env = gym.make(cfg.env.id, **cfg.env.kwargs)
    rng = np.random.default_rng(0)
    obs_list, states = [], []
    for ep in range(episodes):
        obs, info = env.reset(seed=SEED_BASE + ep)
        for _ in range(STEPS):
            obs_list.append(obs), states.append(info["state"])
            obs, _, _, _, info = env.step(rng.uniform(-1, 1, 2).astype(np.float32))
    env.close()
    with torch.inference_mode():
        x = np.concatenate(
            [
                model.encode(to_float_images(torch.as_tensor(np.stack(obs_list[i : i + 256])))).flatten(1).numpy()
                for i in range(0, len(obs_list), 256)
            ]
        )
    train = np.repeat(np.arange(episodes) < int(0.7 * episodes), STEPS)
    frame_stack = int(cfg.env.kwargs.get("frame_stack", 2))
    out = {f"probe/{name}": ridge_r2(x, y, train) for name, y in targets(np.array(states), frame_stack).items()}
    (run / "probe.json").write_text(json.dumps(out, indent=2))
    print(run.name[:60], json.dumps({k: round(v, 2) for k, v in out.items()}), flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", type=Path, nargs="+", help="run dirs or sweep dirs")
    parser.add_argument("--episodes", type=int, default=100)
    args = parser.parse_args()
    for run in (r for root in args.runs for r in find_runs(root)):
        probe(run, args.episodes)


if __name__ == "__main__":
    main()
