"""Invariant reward head r(z, a): equivariant MLP, group pooling, linear; summed over slots."""

from __future__ import annotations

import torch
from escnn import nn as enn
from torch import nn

from worldmodels.fields import mlp, regular
from worldmodels.layers import group_pool


class RewardHead(nn.Module):
    """Predicts rewards ``[B]`` from latents ``z [B, K, C]`` and encoded actions ``a [B, K, Ca]``.

    Invariant by construction: r(g.z, g.a) = r(z, a) for every group element g (the features are
    pooled over each regular field's fibre before the last linear layer).
    """

    def __init__(self, latent_type: enn.FieldType, action_type: enn.FieldType, hidden: int = 128) -> None:
        super().__init__()
        hid = regular(latent_type.gspace, hidden)
        self.order = latent_type.gspace.fibergroup.order()
        self.features = nn.Sequential(mlp(latent_type + action_type, hidden, hid), nn.ReLU())
        self.out = nn.Linear(len(hid), 1)

    def forward(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """z ``[B, K, C]``, a ``[B, K, Ca]`` -> rewards ``[B]``."""
        pooled = group_pool(self.features(torch.cat([z, a], dim=-1)), self.order)
        return self.out(pooled).squeeze(-1).sum(-1)
