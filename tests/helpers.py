"""Running eqmbrl in this process through Hydra's compose API, and as a CLI for a few smoke tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from eqmbrl.run import compose_config, run

ROOT = Path(__file__).resolve().parents[1]
REACHER_MODEL: dict[str, Any] = dict(  # build_world_model kwargs of a Reacher-shaped model (6 x 64 x 64, D4)
    group="D4",
    action_encoding="torques",
    action_dim=2,
    in_channels=6,
    image_size=64,
    slots=1,
    maps_per_slot=2,
    map_size=8,
    stride=4,
    masks_per_slot=2,
)
TINY_WIDTHS: dict[str, Any] = dict(cnn_channels=4, embed_hidden=16, latent=8, hidden=16)  # fast test models
DQN_HER_TINY = (  # DQN + HER on goal observations of shapes goals, seconds; evaluations at 60 and 120 steps
    "experiment=debug",
    "env=shapes_goal",
    "agent=dqn",
    "agent.goal_observation=true",
    "agent.her=true",
    "agent.total_steps=120",
    "agent.eval_every=60",
    "agent.eval_episodes=1",
    "agent.max_steps=5",
    "agent.video_episodes=0",
    "agent.algo_kwargs.learning_starts=40",
    "agent.algo_kwargs.batch_size=8",
    "env.kwargs.episode_steps=20",
)


def run_in_process(out: Path, *overrides: str) -> dict[str, Any]:
    """Run ``overrides`` into ``out``; returns metrics.json as written."""
    run(compose_config(*overrides), out)
    return json.loads((out / "metrics.json").read_text())


def finished_run(out: Path, *overrides: str) -> Path:
    """Run ``overrides`` into ``out`` in this process, with the composed config saved where Hydra's
    CLI leaves it (``.hydra/config.yaml``), so that :func:`eqmbrl.load.load_run` opens it; returns ``out``."""
    cfg = compose_config(*overrides)
    (out / ".hydra").mkdir(parents=True)
    OmegaConf.save(cfg, out / ".hydra" / "config.yaml")
    run(cfg, out)
    return out


CLI_ENV = {**os.environ, "HYDRA_FULL_ERROR": "0", "PYTHONWARNINGS": "ignore", "PYTHONPATH": str(ROOT)}


def python(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """``python *args`` in a subprocess with :data:`CLI_ENV`, output captured as text."""
    return subprocess.run([sys.executable, *args], cwd=cwd, env=CLI_ENV, capture_output=True, text=True, timeout=600)


def cli(*overrides: str, cwd: Path) -> subprocess.CompletedProcess:
    """``python -m eqmbrl.run *overrides`` in a subprocess (for the CLI smoke tests)."""
    return python("-m", "eqmbrl.run", *overrides, cwd=cwd)


def cli_async(*overrides: str, cwd: Path) -> subprocess.Popen:
    """:func:`cli` started in the background (output discarded); ``.wait()`` for its return code."""
    return subprocess.Popen(
        [sys.executable, "-m", "eqmbrl.run", *overrides],
        cwd=cwd,
        env=CLI_ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
