"""``python -m eqmbrl.resume RUN_DIR``: continue a killed or interrupted run in its own directory.

The run's own config (``RUN_DIR/.hydra/config.yaml``) is run again with :func:`eqmbrl.run.run`,
from the directory the run started in (``RUN_DIR/run.json``), so relative paths in its config
mean what they meant.

Every phase saves its state as one commit (:func:`eqmbrl.core.checkpoint.commit_save`): the files
of save ``n`` go to ``RUN_DIR/saves/<kind>-<n>/``, then the manifest ``RUN_DIR/saves/<kind>.json``
(save number, what it is a save of, each file's sha256) is renamed over the previous one, then the
previous save's folder is deleted. A kill at any point leaves one whole save, the old or the new;
resume reads only the committed one, checks every file's sha256 (a changed or missing file is
refused naming it) and prints ``continuing ... from <kind> save N (...)``. What each phase
continues from:

- world-model training, ``train``: ``state.pt`` (weights, optimizer, RNG states, progress) and the
  best ``checkpoint.pt`` after the last finished epoch, or after the reward-head refit (then
  neither the epochs nor the refit run again), ending exactly as the uninterrupted run would;
  ``buffer.npz`` is the seed data, written once before training;
- the online MPC phase, ``online``: ``buffer.npz`` and ``state.pt`` of its last save (every
  ``agent.save_every`` episodes and after the last), replaying the episodes after it exactly; with
  no online save yet, the phase starts again after the training;
- SB3 learning, ``sb3``: ``model.zip`` (weights, optimizers, SB3's last observation and counters),
  an off-policy ``replay.pkl``, ``progress.json`` (the curve) and ``state.pt`` (every RNG SB3 draws
  from, the training env's episode, the auxiliary loss's optimizers; its buffer in ``aux.npz``),
  saved at the first rollout boundary after each evaluation; the training env is brought back into
  its episode by replaying the episode's actions from its reset seed
  (:class:`envs.seeded.SeededEpisodes`), and the run ends bit for bit as the uninterrupted one.

The user-facing ``checkpoint.pt`` and ``buffer_online.npz`` are exports of the committed saves
(hard links), written after each commit and again on resume.

A run whose process is still alive (its ``LOCK`` names a live pid) is refused. Stale ``*.tmp``
files and save folders no manifest names are removed first.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from eqmbrl.core.checkpoint import drop_uncommitted_saves
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
    drop_uncommitted_saves(out)
    (out / "FAILED").unlink(missing_ok=True)
    cfg = OmegaConf.load(config)
    assert isinstance(cfg, DictConfig)
    os.chdir(start_dir(out))
    return run(cfg, out, resume=True)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: python -m eqmbrl.resume RUN_DIR")
    resume(sys.argv[1])
