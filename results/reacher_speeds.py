"""How fast does the Reacher arm move in a run's training data, against a plan that reaches the goal?

    MUJOCO_GL=egl .venv/bin/python results/reacher_speeds.py RUN_DIR... [--episodes 50]

For each run: the median absolute joint velocities (rad/s) of its training buffer's states and the
share of states with both joints below 2 rad/s. Then the same for ``--episodes`` 12-decision PD
plans (as ``reacher_rollout_r2.py``'s: env seeds 75,000,000+, the first run's env config), the
slow, settling arm that a plan which arrives passes through (RESULTS.md §14).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import gymnasium as gym
import numpy as np
from omegaconf import OmegaConf
from reacher_plan_check import pd_action
from reacher_rollout_r2 import HORIZON, SEED_BASE  # results/ is the script's own directory

import envs  # noqa: F401  (registers the eqmbrl/ ids)

SLOW = 2.0  # rad/s
VELOCITIES = slice(4, 6)  # joint velocities in a frame_stack=2 state (envs/reacher.py)


def summary(name: str, velocities: np.ndarray) -> None:
    """Print the median |dq| ``[2]`` and the share of rows of ``velocities [N, 2]`` below SLOW on both joints."""
    slow = float((np.abs(velocities).max(1) < SLOW).mean())
    print(f"{name:40s} median |dq| {np.median(np.abs(velocities), 0).round(1)}  both below {SLOW} rad/s: {slow:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", type=Path, nargs="+")
    parser.add_argument("--episodes", type=int, default=50)
    args = parser.parse_args()
    for run in args.runs:
        buffer = np.load(run / "buffer.npz")
        summary(run.name[:40], buffer["states"][: int(buffer["meta"][1]), VELOCITIES])
    cfg = OmegaConf.load(args.runs[0] / ".hydra" / "config.yaml")
    env = gym.make(cfg.env.id, **cfg.env.kwargs)
    rows = []
    for i in range(args.episodes):
        env.reset(seed=SEED_BASE + i)
        data = env.unwrapped.mj_data  # type: ignore[attr-defined]
        for _ in range(HORIZON):
            rows.append(data.qvel[:2].copy())
            env.step(pd_action(data.qpos[:2].copy(), data.qvel[:2].copy(), data.qpos[2:4].copy()).astype(np.float32))
    env.close()
    summary(f"PD plans ({HORIZON} decisions)", np.asarray(rows))


if __name__ == "__main__":
    main()
