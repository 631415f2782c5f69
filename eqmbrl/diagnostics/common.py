"""What the diagnostics share: fresh episodes, the parts of a loaded run they need, and their CLI.

Every diagnostic runs on *fresh* episodes: env seeds ``DIAGNOSTICS_ENV + i``
(:mod:`eqmbrl.core.seeds`), which no run trains or evaluates on, the same for every run so that
runs are compared on the same episodes. Runs are opened by :func:`eqmbrl.load.load_run` only.

The CLI of each diagnostic, ``python -m eqmbrl.diagnostics.NAME RUN_DIR [options]``, prints its
result as JSON and writes it to ``RUN_DIR/diagnostics/NAME.json`` (``--out`` names another file
there): a folder no run writes, so a diagnostic never overwrites the run's own files.
``eqmbrl.report --extra diagnostics/NAME.json`` puts its keys in a table as ``NAME/key``.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import gymnasium as gym
import torch

from agents.sb3 import LatentObservation
from eqmbrl.core.checkpoint import write_json
from eqmbrl.core.seeds import DIAGNOSTICS_ENV
from eqmbrl.load import TrainedRun, load_run
from eqmbrl.settings import OnlineSettings
from worldmodels.world_model import WorldModel

RESULT_DIR = "diagnostics"
"""The folder of a run dir that diagnostics write into (``RUN_DIR/diagnostics/NAME.json``)."""

Runs = list[tuple[int, dict[str, Any] | None]]
"""(env seed, reset options) of episodes, as :func:`eqmbrl.collect.evaluate_agent` takes them."""


def fresh_runs(episodes: int, goal_distances: Sequence[int] | None = None, seed: int = DIAGNOSTICS_ENV) -> Runs:
    """``episodes`` fresh episodes (env seeds ``seed + i``), or that many per goal distance."""
    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    if not goal_distances:
        return [(seed + i, None) for i in range(episodes)]
    return [(seed + i, {"goal_distance": int(d)}) for d in goal_distances for i in range(episodes)]


def pixel_env(run: TrainedRun) -> gym.Env:
    """The run's image env: ``run.env``, or the env inside it for SB3 runs that act on cached latents."""
    return run.env.env if isinstance(run.env, LatentObservation) else run.env


def require_model(run: TrainedRun) -> WorldModel:
    """The run's world model, or a ``ValueError`` for runs without one (SB3 on ``nature_cnn``)."""
    if run.model is None:
        raise ValueError(f"run {run.path} has no world model (agent.features={run.cfg.agent.features})")
    return run.model


Source = str | os.PathLike | TrainedRun | WorldModel
"""What a model diagnostic runs on: a run dir, a loaded run (:func:`eqmbrl.load.load_run`) or a world model."""


@contextmanager
def model_and_env(source: Source, env: gym.Env | None = None) -> Iterator[tuple[WorldModel, gym.Env]]:
    """``(model, image env)`` of ``source``: of a run (``env`` None: the run's own; a run dir is
    opened here and closed on exit), or the world model ``source`` with ``env``."""
    if isinstance(source, (str, os.PathLike)):
        with load_run(Path(source)) as run:
            yield require_model(run), env if env is not None else pixel_env(run)
    elif isinstance(source, TrainedRun):
        yield require_model(source), env if env is not None else pixel_env(source)
    elif env is None:
        raise ValueError("a world model needs its env: pass env=, or pass the run (its dir or eqmbrl.load.load_run's)")
    else:
        yield source, env


def mpc_settings(run: TrainedRun, objective: str | None = None) -> OnlineSettings:
    """The run's ``agent.*`` settings, which must be an MPC agent's (and have ``objective``, if given)."""
    agent = run.settings.agent
    if not isinstance(agent, OnlineSettings):
        raise ValueError(f"run {run.path} has no MPC agent (agent=cem, mppi or search); its planner is what is scored")
    if objective is not None and agent.objective != objective:
        raise ValueError(f"run {run.path} plans on agent.objective={agent.objective}; this needs objective={objective}")
    return agent


def parser(doc: str | None) -> argparse.ArgumentParser:
    """The diagnostics' common arguments: ``RUN_DIR``, ``--device`` and ``--out``."""
    p = argparse.ArgumentParser(description=(doc or "").split("\n\n")[0])
    p.add_argument("run_dir", type=Path, help="a finished run (python -m eqmbrl.run's output dir)")
    p.add_argument("--device", default="cpu", help="auto, cpu or cuda (default cpu)")
    p.add_argument("--out", default=None, help=f"file name in RUN_DIR/{RESULT_DIR}/ (default NAME.json)")
    return p


def open_run(args: argparse.Namespace) -> TrainedRun:
    """:func:`load_run` of ``args.run_dir``, with torch's CPU threads as the run had them (``threads``)."""
    run = load_run(args.run_dir, device=args.device)
    threads = int(run.cfg.get("threads", 1))
    if threads:
        torch.set_num_threads(threads)
    return run


def result_path(run_dir: Path, name: str, out: str | None = None) -> Path:
    """``RUN_DIR/diagnostics/<out or NAME.json>``; ``out`` must be a plain ``.json`` file name."""
    file = out or f"{name}.json"
    if Path(file).name != file or not file.endswith(".json"):
        raise ValueError(f"--out must be a file name ending in .json (it goes in RUN_DIR/{RESULT_DIR}/), got {file!r}")
    return Path(run_dir) / RESULT_DIR / file


def save_result(path: Path, result: dict[str, Any]) -> dict[str, Any]:
    """Print ``result`` as JSON and write it to ``path`` (a :func:`result_path`); returns it."""
    path.parent.mkdir(exist_ok=True)
    write_json(path, result)
    print(json.dumps(result, indent=2))
    return result
