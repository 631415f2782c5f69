"""Saving, loading and copying world models, and the evaluation-mode context they run under.

A world-model checkpoint is an :func:`eqmbrl.core.checkpoint.save_checkpoint` file whose dict holds
``model`` (the state dict) and ``model_kwargs`` (the :func:`build_world_model` arguments that
rebuild it, kept by the model itself as ``build_kwargs``). State dicts do not depend on the
train/eval mode: escnn's layers never cache filters in buffers here (:mod:`worldmodels.layers`),
so a plain ``copy.deepcopy`` and ``load_state_dict`` work in either mode.
"""

from __future__ import annotations

import copy
import dataclasses
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import torch

from eqmbrl.core.checkpoint import load_checkpoint, save_checkpoint
from worldmodels.settings import split_build_kwargs
from worldmodels.world_model import WorldModel, build_world_model


def build(model_kwargs: Mapping[str, Any], source: str = "model_kwargs") -> WorldModel:
    """``build_world_model(**model_kwargs)`` with a one-line error naming keys it does not take."""
    try:
        settings, shape = split_build_kwargs(dict(model_kwargs))
    except ValueError as exc:
        raise ValueError(f"{source}: model_kwargs has {exc}") from None
    return build_world_model(**dataclasses.asdict(settings), **dataclasses.asdict(shape))


def save_world_model(path: str | os.PathLike, model: WorldModel, **extra: Any) -> None:
    """Atomically write ``model``'s weights, the kwargs that rebuild it, and ``extra`` entries."""
    save_checkpoint(path, model, model_kwargs=dict(model.build_kwargs), **extra)


def load_world_model(
    path: str | os.PathLike, model_kwargs: Mapping[str, Any] | None = None, map_location: str | torch.device = "cpu"
) -> WorldModel:
    """Rebuild the world model saved at ``path`` and load its weights (eval mode).

    ``model_kwargs`` stands in for (or overrides) the checkpoint's own. A missing file is a
    ``FileNotFoundError``; a corrupt or unfitting one a ``ValueError`` naming the file.
    """
    ckpt = load_checkpoint(path, map_location=map_location)
    kwargs = dict(model_kwargs) if model_kwargs is not None else ckpt.get("model_kwargs")
    if not isinstance(kwargs, dict):
        raise ValueError(
            f"checkpoint {path} stores no 'model_kwargs' (the build_world_model kwargs); write it "
            "with worldmodels.persistence.save_world_model or pass model_kwargs="
        )
    model = build(kwargs, f"checkpoint {path}").to(map_location)
    load_weights(model, ckpt["model"], f"checkpoint {path}", f"the model built from {kwargs}")
    return model.eval()


def load_weights(
    model: WorldModel, state: Mapping[str, torch.Tensor], source: str = "state dict", target: str = "this model"
) -> None:
    """``model.load_state_dict(state)`` with a one-line ``ValueError`` naming both sides on a mismatch."""
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        detail = " ".join(str(exc).split())[:300]
        raise ValueError(f"{source} does not fit {target}: {detail}") from exc


def clone_world_model(model: WorldModel) -> WorldModel:
    """An independent copy (same mode, weights and ``build_kwargs``)."""
    return copy.deepcopy(model)


@contextmanager
def evaluating(model: WorldModel) -> Iterator[WorldModel]:
    """``model`` in eval mode (BatchNorm on running statistics) without autograd; the mode it had is
    restored on exit."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield model
    finally:
        model.train(was_training)
