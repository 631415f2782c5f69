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

from dataclasses import dataclass, fields
from typing import Any

import torch


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
    Envs with hard negatives and full turns (the teapot, see :func:`worldmodels.metrics.evaluate`)
    add ``hard_obs [N, M, Ci, Hi, Wi]`` uint8 and ``hard_valid [N, M]`` bool (near states of each
    episode's first transition, and which of them differ from its next state), and ``turn_obs
    [X, n, T'+1, Ci, Hi, Wi]`` uint8, ``turn_actions [X, n, T', *A]`` with the axes' ``turn_names``.
    """

    obs: torch.Tensor
    actions: torch.Tensor
    rewards: torch.Tensor
    twin_obs: torch.Tensor
    twin_actions: torch.Tensor
    g: int = 1
    successors: torch.Tensor | None = None
    hard_obs: torch.Tensor | None = None
    hard_valid: torch.Tensor | None = None
    turn_obs: torch.Tensor | None = None
    turn_actions: torch.Tensor | None = None
    turn_names: tuple[str, ...] = ()

    def tensors(self) -> dict[str, Any]:
        """The fields by name, as :func:`worldmodels.metrics.evaluate` takes them."""
        return {f.name: getattr(self, f.name) for f in fields(self)}
