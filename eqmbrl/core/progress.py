"""Progress bars for people, log lines for files.

Bars (tqdm) are drawn only when stderr is a terminal, so a job's log file gets no thousands of
bar redraws; ``EQMBRL_PROGRESS=1`` forces them on, ``EQMBRL_PROGRESS=0`` off. What a log file
should say (one line per epoch, online episode or evaluation) goes through :data:`log`, which
Hydra writes to the run's ``run.log`` and the console.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterable
from typing import Any, TypeVar

from tqdm import tqdm

T = TypeVar("T")
log = logging.getLogger("eqmbrl")


def bars_on() -> bool:
    """Whether progress bars are drawn (module doc)."""
    forced = os.environ.get("EQMBRL_PROGRESS")
    return sys.stderr.isatty() if forced is None else forced not in ("0", "", "false")


def progress_bar(iterable: Iterable[T] | None = None, **kwargs: Any) -> tqdm:
    """``tqdm(iterable, **kwargs)``, disabled unless :func:`bars_on`."""
    return tqdm(iterable, disable=not bars_on(), **kwargs)
