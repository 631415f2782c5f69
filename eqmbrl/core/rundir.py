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

import contextlib
import errno
import hashlib
import json
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

HYDRA_FILES = (".hydra", "run.log")
LOCK = "LOCK"  # {pid, host} of the process writing the run; removed when it exits
RUN_INFO = "run.json"  # where and how the run started (cwd, argv): what a resume needs of its start

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


class RunLockedError(RuntimeError):
    """Another live process is writing this run dir."""


def lock_holder(out: Path) -> dict[str, Any] | None:
    """The ``LOCK`` of ``out`` if a process that may be alive holds it: its pid is alive on this host,
    or it was taken on another host (whose processes this one cannot see). None: no lock, or a stale
    one (its process is gone)."""
    try:
        holder = json.loads((out / LOCK).read_text())
    except (FileNotFoundError, ValueError):
        return None
    if holder.get("host") != socket.gethostname():
        return holder
    try:
        os.kill(int(holder["pid"]), 0)
    except ProcessLookupError:
        return None
    except PermissionError:  # alive, owned by another user
        pass
    return holder


@contextlib.contextmanager
def holding_lock(out: Path) -> Iterator[None]:
    """Hold ``out``'s ``LOCK`` (this pid and host) while the block runs; refuse with
    :class:`RunLockedError` if a live process holds it (a stale lock is taken over)."""
    holder = lock_holder(out)
    if holder is not None and holder.get("pid") != os.getpid():
        raise RunLockedError(
            f"run dir {out} is being written by process {holder['pid']} on {holder['host']} "
            f"(its {LOCK} file); wait for it to end, or delete {out / LOCK} if that process is gone"
        )
    out.mkdir(parents=True, exist_ok=True)
    (out / LOCK).write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname()}))
    try:
        yield
    finally:
        (out / LOCK).unlink(missing_ok=True)


def write_run_info(out: Path) -> None:
    """Record where the run started (``run.json``: cwd, argv, host, time), so that a resume from
    another directory resolves the run's relative paths as the run did."""
    info = {"cwd": os.getcwd(), "argv": sys.argv, "host": socket.gethostname(), "started": time.time()}
    (out / RUN_INFO).write_text(json.dumps(info, indent=2))


def start_dir(out: Path) -> Path:
    """The cwd the run in ``out`` started from (its ``run.json``; runs older than that file: the current one)."""
    try:
        return Path(json.loads((out / RUN_INFO).read_text())["cwd"])
    except FileNotFoundError:
        return Path.cwd()


def failure_message(err: BaseException) -> str:
    """A plain one-line cause of ``err`` for a run's ``FAILED`` file: the file and "disk full" for
    ENOSPC, the signal for a stop, else the exception's type and message."""
    if isinstance(err, OSError) and err.errno == errno.ENOSPC:
        where = f" writing {err.filename}" if err.filename else ""
        return f"disk full{where}: free space and resume the run (OSError ENOSPC)"
    if isinstance(err, Stopped):
        return str(err)
    if isinstance(err, KeyboardInterrupt):
        return "stopped by SIGINT (Ctrl-C): resume the run to continue it"
    notes = "".join(f" ({note})" for note in getattr(err, "__notes__", []))
    return f"{type(err).__name__}: {err}{notes}"


class Stopped(BaseException):
    """The process got SIGTERM (or SIGHUP): raised in the main thread so the run is marked failed."""


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """Turn SIGTERM and SIGHUP into :class:`Stopped` while the block runs (SIGINT already raises
    ``KeyboardInterrupt``); the previous handlers are restored after. Main thread only."""

    def stop(signum: int, frame: FrameType | None) -> None:
        raise Stopped(f"stopped by {signal.Signals(signum).name}: resume the run to continue it")

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


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
