"""Batch types shared by buffers, world models and agents, and the shape legend.

Shape legend (used in every docstring):
    B  batch            K  object slots (1 for single-object domains such as Reacher)
    C  latent channels per slot = fields x |G| (escnn channel order: field-major)
    H  planning horizon / number of steps     N  number of candidate plans
    Ci, Hi, Wi  image channels, height and width (images are uint8 in storage, float in [0, 1]
    at the model boundary)
    A  action shape: ``()`` for discrete actions (int64), ``(d,)`` for continuous ones (float32)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import torch

NUM_DIRECTIONS = 4
"""Block pushing's moves: action ``a = NUM_DIRECTIONS * object + direction``, directions counter-clockwise
(0 up, 1 left, 2 down, 3 right); a quarter turn of the scene maps direction d to d + 1."""


def check_directions(allowed_directions: Sequence[int] | None) -> tuple[int, ...]:
    """Validated sorted tuple of allowed push directions (all four for ``None``)."""
    if allowed_directions is None:
        return tuple(range(NUM_DIRECTIONS))
    directions = tuple(sorted({int(d) for d in allowed_directions}))
    if not directions or any(d not in range(NUM_DIRECTIONS) for d in directions):
        raise ValueError(
            f"allowed_directions must be a non-empty subset of 0..{NUM_DIRECTIONS - 1} "
            f"(0 up, 1 left, 2 down, 3 right), got {allowed_directions!r}"
        )
    return directions


def random_actions(
    rng: np.random.Generator, n: int, num_objects: int = 5, allowed_directions: Sequence[int] | None = None
) -> np.ndarray:
    """``n`` random block-pushing actions int64 ``[n]``: uniform object, uniform allowed direction."""
    if num_objects < 1:
        raise ValueError(f"num_objects must be >= 1, got {num_objects}")
    directions = np.array(check_directions(allowed_directions), dtype=np.int64)
    objects = rng.integers(0, num_objects, size=n)
    return NUM_DIRECTIONS * objects + directions[rng.integers(0, len(directions), size=n)]


@dataclass
class SequenceBatch:
    """``k``-step sequences; ``k = 1`` gives plain transitions.

    obs: float ``[B, k+1, Ci, Hi, Wi]`` in [0, 1]; actions: ``[B, k, *A]``; rewards: ``[B, k]``;
    optional ``negatives``: float ``[B, Ci, Hi, Wi]``, another frame of each sequence's episode
    (the loss's same-episode negative, see :meth:`worldmodels.world_model.WorldModel.loss`);
    optional ``states``: float ``[B, k+1, F]``, features of the underlying states (the targets of
    the world model's state head, e.g. Reacher's planar vectors flattened).
    """

    obs: torch.Tensor
    actions: torch.Tensor
    rewards: torch.Tensor
    negatives: torch.Tensor | None = None
    states: torch.Tensor | None = None

    @property
    def steps(self) -> int:
        return self.actions.shape[1]

    def to(self, device: torch.device | str) -> SequenceBatch:
        negatives = None if self.negatives is None else self.negatives.to(device)
        states = None if self.states is None else self.states.to(device)
        return SequenceBatch(self.obs.to(device), self.actions.to(device), self.rewards.to(device), negatives, states)


def to_float_images(images: torch.Tensor) -> torch.Tensor:
    """uint8 images (any shape) -> float32 in [0, 1]; float images pass through unchanged."""
    return images.float().div_(255.0) if images.dtype == torch.uint8 else images


@dataclass(frozen=True)
class EvalData:
    """Evaluation episodes and their symmetric twins, built once per run and shared by every phase.

    obs ``[N, T+1, Ci, Hi, Wi]`` uint8, actions ``[N, T, *A]``, rewards ``[N, T]``; ``twin_obs`` and
    ``twin_actions`` are the same episodes with the env state and actions transformed by one
    group element ``g`` (rendered from the state, never by rotating pixels). ``successors``
    ``[N, T, A]`` bool (discrete actions with known dynamics, else None): which actions lead from
    each step's state to the same next state as the action taken (for successor accuracy).
    """

    obs: torch.Tensor
    actions: torch.Tensor
    rewards: torch.Tensor
    twin_obs: torch.Tensor
    twin_actions: torch.Tensor
    g: int = 1
    successors: torch.Tensor | None = None

    def tensors(self) -> dict[str, Any]:
        """The fields by name, as :func:`worldmodels.metrics.evaluate` takes them."""
        return {f.name: getattr(self, f.name) for f in fields(self)}
