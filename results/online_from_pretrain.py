"""Run the online MPC phase on a finished run's model and data, in a new run dir.

    python results/online_from_pretrain.py PRETRAIN_RUN OUT agent.episodes=120 agent.refit_online_fraction=0.5 ...

``PRETRAIN_RUN`` is a finished ``agent=cem`` run: with ``agent.episodes=0`` (pretraining and one
MPC evaluation), or with an online phase, which ``OUT`` then continues from its last episode up to
the new ``agent.episodes`` (its ``online_resume.pt``, ``buffer_online.npz`` and ``tb/`` are taken
too). Its config, ``buffer.npz``, ``resume.pt`` and ``checkpoint.pt`` are put into ``OUT``
(which must not exist), the dotlist overrides are applied to the config (saved as
``OUT/.hydra/config.yaml``), and the run is continued there by :func:`eqmbrl.resume.resume`:
the finished pretraining is not repeated (same weights, optimizer and RNG states), so only the
online phase runs. ``PRETRAIN_RUN`` is only read. The files are hard links (``tb/`` a copy) where
the filesystem allows (a Reacher run's buffers are gigabytes): safe, because eqmbrl saves a
file by renaming a new one over it (``eqmbrl.core.checkpoint.atomic_write``), never by writing into it.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from eqmbrl.resume import resume

COPIED = ("buffer.npz", "resume.pt", "checkpoint.pt")
ONLINE = ("online_resume.pt", "buffer_online.npz")  # taken too when PRETRAIN_RUN had an online phase


def link_or_copy(src: Path, dst: Path) -> None:
    """Hard-link ``src`` to ``dst``, or copy it where links are not possible (another filesystem)."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def main() -> None:
    if len(sys.argv) < 3:
        raise SystemExit(__doc__.split("\n\n")[1])
    pre, out, overrides = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3:]
    missing = [name for name in (".hydra/config.yaml", *COPIED) if not (pre / name).is_file()]
    if missing or (pre / "FAILED").exists():
        raise SystemExit(f"{pre} is not a finished pretraining run (missing {missing} or FAILED)")
    if out.exists():
        raise SystemExit(f"{out} exists: give a new run dir")
    cfg = OmegaConf.merge(OmegaConf.load(pre / ".hydra" / "config.yaml"), OmegaConf.from_dotlist(overrides))
    assert isinstance(cfg, DictConfig)
    (out / ".hydra").mkdir(parents=True)
    online = (pre / ONLINE[0]).is_file()
    for name in (*COPIED, *ONLINE) if online else COPIED:
        link_or_copy(pre / name, out / name)
    if online:
        shutil.copytree(pre / "tb", out / "tb")  # the curves so far (small)
    OmegaConf.save(cfg, out / ".hydra" / "config.yaml")
    (out / "pretrain_run.txt").write_text(f"{pre.resolve()}\n{' '.join(overrides)}\n")
    resume(out)


if __name__ == "__main__":
    main()
