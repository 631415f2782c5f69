"""Per-slot action encodings: env actions ``[B, *A]`` -> encoded actions ``[B, K, Ca]``."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from eqmbrl.core.choices import check_choice
from eqmbrl.core.directions import NUM_DIRECTIONS
from worldmodels.rotations import encode_rotations
from worldmodels.settings import ACTION_ENCODINGS, ROTATION_ENCODINGS


def action_width(encoding: str, action_dim: int) -> int:
    """Channels Ca of one slot's encoded action."""
    check_choice("action encoding", encoding, ACTION_ENCODINGS)
    if encoding in ROTATION_ENCODINGS:
        return 9
    return NUM_DIRECTIONS if encoding == "directions" else 2 * action_dim


def encode_actions(actions: torch.Tensor, encoding: str, slots: int) -> torch.Tensor:
    """Encode env actions for the transition model.

    ``directions``: discrete ``actions [B]`` with ``a = 4 * slot + direction`` -> a one-hot over
    directions in the acted-on slot, zeros elsewhere: ``[B, K, 4]``.
    ``torques``: continuous ``actions [B, d]`` -> ``(tau_1, -tau_1, ..., tau_d, -tau_d)`` for the
    single slot: ``[B, 1, 2d]``.
    ``turns`` / ``rotvecs``: the action's rotation matrix for every block, ``[B, K, 9]``
    (:func:`worldmodels.rotations.encode_rotations`).
    """
    check_choice("action encoding", encoding, ACTION_ENCODINGS)
    if encoding in ROTATION_ENCODINGS:
        return encode_rotations(actions, encoding, slots)
    if encoding == "directions":
        onehot = F.one_hot(actions.long(), slots * NUM_DIRECTIONS).to(torch.float32)
        return onehot.reshape(*actions.shape, slots, NUM_DIRECTIONS)
    pairs = torch.stack([actions, -actions], dim=-1).to(torch.float32)
    return pairs.reshape(*actions.shape[:-1], 1, -1)
