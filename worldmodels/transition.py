"""Equivariant object-factored transition (C-SWM-style GNN over all slot pairs, delta prediction).

With one slot it reduces to an equivariant MLP of (latent, action).
"""
from __future__ import annotations

import torch
from escnn import nn as enn
from torch import nn

from worldmodels.fields import apply_flat, mlp, regular


class GNNTransition(nn.Module):
    """Predicts ``dz [B, K, C]`` from latents ``z [B, K, C]`` and encoded actions ``a [B, K, Ca]``.

    Edge model e_ij = f_e(z_i, z_j) on all ordered pairs i != j, node model
    dz_i = f_n(z_i, a_i, sum_j e_ij). Both are 1x1 escnn MLPs, so the transition is equivariant
    whenever the latent and action field types are.
    """

    def __init__(self, latent_type: enn.FieldType, action_type: enn.FieldType, slots: int,
                 hidden: int = 128, layers: int = 3) -> None:
        super().__init__()
        self.slots = slots
        node_in = latent_type + action_type
        self.edge = None
        if slots > 1:
            edge_out = regular(latent_type.gspace, hidden)
            self.edge = mlp(latent_type + latent_type, hidden, edge_out, layers)
            node_in = node_in + edge_out
        self.node = mlp(node_in, hidden, latent_type, layers)

    def forward(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """z ``[B, K, C]``, a ``[B, K, Ca]`` -> dz ``[B, K, C]``."""
        parts = [z, a]
        if self.edge is not None:
            K = self.slots
            i, j = torch.meshgrid(torch.arange(K), torch.arange(K), indexing="ij")
            off = i != j
            pairs = torch.cat([z[:, i[off]], z[:, j[off]]], dim=-1)  # [B, K(K-1), 2C]
            msg = apply_flat(self.edge, pairs).reshape(z.shape[0], K, K - 1, -1).sum(2)
            parts.append(msg)
        return apply_flat(self.node, torch.cat(parts, dim=-1))
