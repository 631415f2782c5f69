"""Refit the reward head of finished runs' world models: ``trainer.reward_refit_steps`` after the fact.

    .venv/bin/python results/reward_refit.py RUN_OR_SWEEP_DIR... [--steps 4000] [--rollout-steps 1]
        [--out results/runs/refit]

For each finished run, writes a new run dir ``OUT/<run name>`` holding the run's ``.hydra``
config and ``metrics.json`` (copies), its ``buffer.npz`` (a symlink) and a ``checkpoint.pt`` whose
reward head :meth:`eqmbrl.trainer.WorldModelTrainer.fit_reward_head` refit for ``--steps`` steps
on that buffer's transitions (or its ``--rollout-steps``-step rollouts), with the run's own trainer
config (lr, batch size, seed). The source
model is the pretrained ``checkpoint.pt`` (not an online run's ``checkpoint_final.pt``); the source
run is never modified. ``results/mpc_horizon.py`` and ``results/reacher_pose_split.py`` then score
the new dirs as they score any run. TensorBoard: ``OUT/<run name>/tb`` (``reward_refit/mse_*``).
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import gymnasium as gym
import torch
from omegaconf import OmegaConf

import envs  # noqa: F401  (registers the eqmbrl/ ids)
from eqmbrl.core.buffer import ReplayBuffer
from eqmbrl.core.logger import Logger
from eqmbrl.report import find_runs
from eqmbrl.run import settings_of
from eqmbrl.trainer import WorldModelTrainer
from worldmodels.persistence import load_world_model, save_world_model


def refit_run(run: Path, out: Path, steps: int, rollout_steps: int = 1) -> None:
    """The module doc's new run dir ``out`` for ``run``."""
    if out.exists():
        raise FileExistsError(f"{out} exists; refits never overwrite a run dir")
    cfg = OmegaConf.load(run / ".hydra" / "config.yaml")
    cfg.trainer.reward_refit_steps = steps
    out.mkdir(parents=True)
    shutil.copytree(run / ".hydra", out / ".hydra")
    shutil.copy(run / "metrics.json", out / "metrics.json")
    (out / "buffer.npz").symlink_to((run / "buffer.npz").resolve())
    env = gym.make(cfg.env.id, **cfg.env.kwargs)
    model = load_world_model(run / "checkpoint.pt")
    settings = settings_of(cfg).trainer
    trainer = WorldModelTrainer(env, model, Logger(out / "tb"), out, settings, seed=cfg.seed)
    trainer.fit_reward_head(ReplayBuffer.load(run / "buffer.npz"), rollout_steps)
    save_world_model(out / "checkpoint.pt", model, reward_refit_steps=steps)
    env.close()
    print(f"{run.name}: reward head refit for {steps} steps -> {out}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", type=Path, nargs="+", help="run dirs, or dirs of runs such as a Hydra sweep dir")
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--rollout-steps", type=int, default=1, help="fit on k-step rollouts (1: each transition)")
    parser.add_argument("--out", type=Path, default=Path("results/runs/refit"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    runs = [r for p in args.runs for r in ([p] if (p / ".hydra").is_dir() else find_runs(p))]
    for run in runs:
        if (run / "metrics.json").is_file() and not (run / "FAILED").exists():
            refit_run(run, args.out / run.name, args.steps, args.rollout_steps)


if __name__ == "__main__":
    main()
