"""Run directories that are never shared or overwritten.

Hydra's default run dir is made unique per process (``${pid:}`` in ``configs/config.yaml``), and
:class:`RunDirGuard`, a Hydra callback, refuses a ``hydra.run.dir`` (or a multirun's
``hydra.sweep.dir``) that already holds files *before* Hydra writes anything into it.
:func:`check_fresh` is the same check for library use of :func:`eqmbrl.run.run` (where Hydra's
own ``.hydra/`` and log file are expected). A sweep job's subdir is its overrides
(``${short_name:${hydra.job.override_dirname}}``), shortened with a hash when the file system
would refuse the name (:func:`short_name`).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

HYDRA_FILES = (".hydra", "run.log")

MAX_NAME = 200  # bytes; file systems refuse names over 255


def short_name(name: str) -> str:
    """``name`` if it fits in ``MAX_NAME`` bytes, else its first part plus a hash of the whole (so
    distinct override lists stay distinct); a run's full overrides stay in ``.hydra/overrides.yaml``."""
    if len(name.encode()) <= MAX_NAME:
        return name
    digest = hashlib.sha1(name.encode()).hexdigest()[:10]
    return name.encode()[: MAX_NAME - 12].decode(errors="ignore") + "__" + digest


if not OmegaConf.has_resolver("pid"):
    OmegaConf.register_new_resolver("pid", os.getpid)
if not OmegaConf.has_resolver("short_name"):
    OmegaConf.register_new_resolver("short_name", short_name)


def check_fresh(out: Path, allowed: tuple[str, ...] = ()) -> None:
    """Raise ``FileExistsError`` if ``out`` holds anything but the names in ``allowed``."""
    taken = sorted(p.name for p in out.iterdir() if p.name not in allowed) if out.is_dir() else []
    if taken:
        raise FileExistsError(
            f"run dir {out} already holds {', '.join(taken[:4])}{' ...' if len(taken) > 4 else ''}: "
            "eqmbrl never writes into an existing run; choose a new hydra.run.dir (or leave the default)"
        )


class RunDirGuard(Callback):
    """Hydra callback: refuse a non-empty ``hydra.run.dir`` (or ``hydra.sweep.dir`` of a multirun)
    before Hydra writes anything there."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._check(Path(str(config.hydra.run.dir)))

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._check(Path(str(config.hydra.sweep.dir)))

    @staticmethod
    def _check(path: Path) -> None:
        try:
            check_fresh(path)
        except FileExistsError as err:  # Hydra turns a callback's exceptions into warnings
            raise SystemExit(f"Error: {err}") from err
