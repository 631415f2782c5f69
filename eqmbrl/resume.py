"""``python -m eqmbrl.resume RUN_DIR``: continue a killed or interrupted run in its own directory.

The run's own config (``RUN_DIR/.hydra/config.yaml``) is run again with :func:`eqmbrl.run.run`,
from the directory the run started in (``RUN_DIR/run.json``), so relative paths in its config
mean what they meant. What each phase continues from:

- world-model training: ``buffer.npz`` and ``resume.pt`` (weights, optimizer, RNG states and
  progress after the last finished epoch), ending exactly as the uninterrupted run would;
- the online MPC phase: ``online_resume.pt`` and ``buffer_online.npz`` of its last save (every
  ``agent.save_every`` episodes), replaying the episodes after it exactly;
- SB3 learning: ``sb3_resume.zip`` (and SAC's replay buffer) of its last evaluation.

A run whose process is still alive (its ``LOCK`` names a live pid) is refused. Stale ``*.tmp``
files of the killed run are removed first.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from eqmbrl.core.rundir import RunLockedError, lock_holder, start_dir
from eqmbrl.run import run


def resume(out: str | Path) -> dict[str, float]:
    """Continue the run in ``out``; returns its final metrics (also written to ``metrics.json``)."""
    out = Path(out).resolve()
    config = out / ".hydra" / "config.yaml"
    if not config.is_file():
        raise FileNotFoundError(f"{out} is not an eqmbrl run dir: {config} does not exist")
    if (out / "metrics.json").is_file() and not (out / "FAILED").is_file():
        raise ValueError(f"run {out} has finished (it has metrics.json and no FAILED marker): nothing to resume")
    holder = lock_holder(out)
    if holder is not None:
        raise RunLockedError(f"run {out} is still being written by process {holder['pid']} on {holder['host']}")
    for tmp in out.rglob("*.tmp"):
        tmp.unlink()
    (out / "FAILED").unlink(missing_ok=True)
    cfg = OmegaConf.load(config)
    assert isinstance(cfg, DictConfig)
    os.chdir(start_dir(out))
    return run(cfg, out, resume=True)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: python -m eqmbrl.resume RUN_DIR")
    resume(sys.argv[1])
