"""How much of Reacher's reward a trained run's reward head explains, split into its two terms.

    .venv/bin/python results/reacher_reward.py RUN_OR_SWEEP_DIR... [--episodes 100]

Reacher-v5's reward is ``-|fingertip - target| - |a|^2``. Under random actions the torque term
has about 20 times the variance of the distance term, so the R^2 of the whole reward (the
``reward_r2`` of metrics.json) can be 0.9 while the head knows nothing about the distance, which
is all a planner needs to reach. This script rolls ``--episodes`` random episodes x 10 steps on
env seeds ``70,000,000 + i`` (used nowhere else), predicts each transition's reward from the
observation and action with the run's model, and writes ``RUN_DIR/reward_eval.json``:

- ``r2``: 1 - MSE / Var(r), the whole reward;
- ``r2_distance``: 1 - MSE / Var(r_dist). The torque term is a known function of the action, so
  ``r_hat - r_ctrl`` is the head's estimate of the distance term and its squared error is the same
  MSE: this is the fraction of the distance term's variance the head explains;
- ``corr_distance``: correlation of ``r_hat - r_ctrl`` with ``r_dist`` (does it rank distances?);
- ``std_distance``, ``std_ctrl``, ``mse``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from omegaconf import OmegaConf

import envs  # noqa: F401  (registers the eqmbrl/ ids)
from eqmbrl.report import find_runs
from worldmodels.metrics import chunked
from worldmodels.persistence import evaluating, load_world_model
from worldmodels.world_model import WorldModel

SEED_BASE = 70_000_000


def random_transitions(env: gym.Env, episodes: int, seed_base: int = SEED_BASE) -> dict[str, np.ndarray]:
    """``episodes`` random-torque episodes x 10 steps on env seeds ``seed_base + i``: ``obs`` and
    ``next_obs`` uint8 ``[N, C, H, W]``, ``actions [N, 2]``, ``dist`` and ``ctrl`` (the reward's
    two terms, ``[N]``) and ``states [N, S]`` (the state each transition starts from)."""
    rows: dict[str, list] = {k: [] for k in ("obs", "next_obs", "actions", "dist", "ctrl", "states")}
    for i in range(episodes):
        obs, info = env.reset(seed=seed_base + i)
        env.action_space.seed(seed_base + i)
        for _ in range(10):
            action = env.action_space.sample()
            next_obs, _, _, _, next_info = env.step(action)
            for key, value in zip(
                rows,
                (obs, next_obs, action, next_info["reward_dist"], next_info["reward_ctrl"], info["state"]),
                strict=True,
            ):
                rows[key].append(value)
            obs, info = next_obs, next_info
    return {k: np.stack(v) if k in ("obs", "next_obs", "actions", "states") else np.array(v) for k, v in rows.items()}


def load_run(run: Path) -> tuple[WorldModel, gym.Env]:
    """A run's final world model (``checkpoint_final.pt``, else ``checkpoint.pt``) and its env."""
    torch.set_num_threads(1)
    cfg = OmegaConf.load(run / ".hydra" / "config.yaml")
    ckpt = run / "checkpoint_final.pt"
    return load_world_model(ckpt if ckpt.exists() else run / "checkpoint.pt"), gym.make(cfg.env.id, **cfg.env.kwargs)


def predicted_rewards(model: WorldModel, obs: np.ndarray, actions: np.ndarray) -> np.ndarray:
    """The model's rewards ``[N]`` for uint8 ``obs [N, C, H, W]`` and ``actions [N, 2]``."""

    def reward(x: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        return model.reward(model.encode(x), a.float())

    with evaluating(model), torch.inference_mode():
        return chunked(reward, torch.from_numpy(obs), torch.from_numpy(actions)).numpy()


def reward_split(r_hat: np.ndarray, r_dist: np.ndarray, r_ctrl: np.ndarray) -> dict[str, float]:
    """The module doc's R^2 figures of predicted rewards ``r_hat`` against the terms ``[N]``."""
    est_dist = r_hat - r_ctrl
    mse = float(np.mean((est_dist - r_dist) ** 2))
    return {
        "mse": mse,
        "r2": 1.0 - mse / float(np.var(r_dist + r_ctrl)),
        "r2_distance": 1.0 - mse / float(np.var(r_dist)),
        "corr_distance": float(np.corrcoef(est_dist, r_dist)[0, 1]),
        "std_distance": float(np.std(r_dist)),
        "std_ctrl": float(np.std(r_ctrl)),
    }


def evaluate(run: Path, episodes: int = 100) -> dict[str, float]:
    """The reward split of ``run`` (module doc); also written to ``run/reward_eval.json``."""
    model, env = load_run(run)
    data = random_transitions(env, episodes)
    env.close()
    out = reward_split(predicted_rewards(model, data["obs"], data["actions"]), data["dist"], data["ctrl"])
    (run / "reward_eval.json").write_text(json.dumps(out, indent=2))
    print(run.name, json.dumps(out), flush=True)
    return out


def for_each_run(description: str, evaluate_run: Callable[[Path, int], object]) -> None:
    """Command line ``RUN_OR_SWEEP_DIR... [--episodes N]``: ``evaluate_run(run, N)`` on every
    finished run (``metrics.json``, no ``FAILED``) given or inside a given sweep dir."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("runs", type=Path, nargs="+", help="run dirs, or dirs of runs such as a Hydra sweep dir")
    parser.add_argument("--episodes", type=int, default=100)
    args = parser.parse_args()
    runs = [r for p in args.runs for r in ([p] if (p / ".hydra").is_dir() else find_runs(p))]
    for run in runs:
        if (run / "metrics.json").is_file() and not (run / "FAILED").exists():
            evaluate_run(run, args.episodes)


if __name__ == "__main__":
    for_each_run(__doc__.split("\n\n")[0], evaluate)
