"""``python -m eqmbrl.resume RUN_DIR``: continue a killed or interrupted run in its own directory.

The run's own config (``RUN_DIR/.hydra/config.yaml``) is run again with :func:`eqmbrl.run.run`:
the training data comes from the run's ``buffer.npz``, and world-model training continues from
``resume.pt`` (weights, optimizer, RNG states and progress after the last finished epoch), so it
ends exactly as the uninterrupted run would. An agent phase after training (online MPC, SB3)
starts again from its beginning. Stale ``*.tmp`` files of the killed run are removed first.
"""

from __future__ import annotations

import sys
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from eqmbrl.run import run


def resume(out: str | Path) -> dict[str, float]:
    """Continue the run in ``out``; returns its final metrics (also written to ``metrics.json``)."""
    out = Path(out)
    config = out / ".hydra" / "config.yaml"
    if not config.is_file():
        raise FileNotFoundError(f"{out} is not an eqmbrl run dir: {config} does not exist")
    if (out / "metrics.json").is_file() and not (out / "FAILED").is_file():
        raise ValueError(f"run {out} has finished (it has metrics.json and no FAILED marker): nothing to resume")
    for tmp in out.rglob("*.tmp"):
        tmp.unlink()
    (out / "FAILED").unlink(missing_ok=True)
    cfg = OmegaConf.load(config)
    assert isinstance(cfg, DictConfig)
    return run(cfg, out, resume=True)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: python -m eqmbrl.resume RUN_DIR")
    resume(sys.argv[1])
