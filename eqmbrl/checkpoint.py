"""Atomic checkpoints of torch modules with their config; clear errors for missing or bad files."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn


def train_mode_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """State dict in train mode: escnn modules add cached filter buffers in eval mode, which must
    not make checkpoints depend on the mode they were written in."""
    was_training = model.training
    model.train()
    state = model.state_dict()
    model.train(was_training)
    return state


def write_json(path: str | os.PathLike, data: dict[str, Any]) -> None:
    """Write ``data`` as indented JSON via a temporary file and an atomic rename."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2))
    os.replace(tmp, path)


def save_checkpoint(path: str | os.PathLike, model: nn.Module, **extra: Any) -> None:
    """Write ``{"model": state_dict, **extra}`` to ``path`` via a temporary file and an atomic rename."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    torch.save({"model": train_mode_state(model), **extra}, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: str | os.PathLike, model: nn.Module | None = None,
                    map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint (and load its weights into ``model`` if given); returns the whole dict."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as exc:
        raise ValueError(f"checkpoint {path} is corrupt or not a torch checkpoint ({exc})") from exc
    if not isinstance(ckpt, dict) or "model" not in ckpt:
        raise ValueError(f"checkpoint {path} is not an eqmbrl checkpoint (no 'model' entry)")
    if model is not None:
        load_weights(model, ckpt["model"], f"checkpoint {path}")
    return ckpt


def load_weights(model: nn.Module, state: dict[str, torch.Tensor], source: str = "state dict",
                 target: str = "this model") -> None:
    """Load a train-mode ``state`` into ``model`` whatever its mode; a mismatch is a ``ValueError``."""
    was_training = model.training
    model.train()
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        detail = " ".join(str(exc).split())[:300]
        raise ValueError(f"{source} does not fit {target}: {detail}") from exc
    finally:
        model.train(was_training)
