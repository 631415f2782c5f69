"""Atomic writes (checkpoints, JSON, any file) and checkpoint reading with clear errors."""

from __future__ import annotations

import errno
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import torch
from torch import nn

LOW_SPACE = 1 << 20  # bytes: a failed write with less free space than this was a full disk


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], object]) -> None:
    """Call ``write(file)`` on a temporary file next to ``path``, then rename it over ``path``: a
    crash never leaves a half-written file under the real name (nor a stray ``.tmp``). A failed
    write names ``path``; on a full disk it is ``OSError(ENOSPC)`` whatever the writer raised (torch
    and numpy report it in their own words)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except Exception as exc:
        tmp.unlink(missing_ok=True)
        if shutil.disk_usage(path.parent).free < LOW_SPACE and getattr(exc, "errno", None) != errno.ENOSPC:
            raise OSError(errno.ENOSPC, "No space left on device", str(path)) from exc
        exc.add_note(f"while writing {path}")
        raise
    finally:
        tmp.unlink(missing_ok=True)


def write_json(path: str | os.PathLike, data: dict[str, Any]) -> None:
    """Write ``data`` as indented JSON, atomically."""
    atomic_write(path, lambda f: f.write(json.dumps(data, indent=2).encode()))


def save_checkpoint(path: str | os.PathLike, model: nn.Module, **extra: Any) -> None:
    """Write ``{"model": state_dict, **extra}`` to ``path``, atomically."""
    atomic_write(path, lambda f: torch.save({"model": model.state_dict(), **extra}, f))


def save_state(path: str | os.PathLike, **parts: Any) -> None:
    """Write a resume state composed of named ``parts`` (each object's ``state_dict()``, RNG states,
    counters) to ``path``, atomically; :func:`load_state` reads it back."""
    atomic_write(path, lambda f: torch.save(parts, f))


def load_state(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a dict saved with :func:`save_state` or :func:`save_checkpoint`, with one-line errors
    naming the file (missing, corrupt, not a dict)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        state = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as exc:
        raise ValueError(f"checkpoint {path} is corrupt or not a torch checkpoint ({exc})") from exc
    if not isinstance(state, dict):
        raise ValueError(f"checkpoint {path} is not an eqmbrl checkpoint (not a dict)")
    return state


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read an eqmbrl checkpoint dict (``model`` state dict and extra entries)."""
    ckpt = load_state(path, map_location)
    if "model" not in ckpt:
        raise ValueError(f"checkpoint {path} is not an eqmbrl checkpoint (no 'model' entry)")
    return ckpt
