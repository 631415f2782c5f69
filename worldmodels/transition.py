"""Equivariant object-factored transition (C-SWM-style GNN over all slot pairs, delta prediction).

With one slot it reduces to an equivariant MLP of (latent, action).
"""

from __future__ import annotations

from typing import cast

import torch
from escnn import nn as enn
from torch import nn

from worldmodels.fields import mlp, regular
from worldmodels.layers import EquivariantLinear


class GNNTransition(nn.Module):
    """Predicts ``dz [B, K, C]`` from latents ``z [B, K, C]`` and encoded actions ``a [B, K, Ca]``.

    Edge model e_ij = f_e(z_i, z_j) on all ordered pairs i != j, node model
    dz_i = f_n(z_i, a_i, sum_j e_ij). Both are equivariant MLPs, so the transition is equivariant
    whenever the latent and action field types are.

    Outside the ``escnn`` reference execution the edge model's last layer, which is affine, runs
    after the sum over j (``sum_j (W h_ij + b) = W sum_j h_ij + (K - 1) b``): on K rows instead of
    K(K-1). (Splitting the first layer per slot, ``W_i z_i + W_j z_j``, saves products too, but the
    gathers it needs cost more memory traffic than they save on a CPU: bench/bench_planning.py.)
    """

    residual = True  # predicts the change dz
    senders: torch.Tensor  # buffers [K(K-1)], registered when slots > 1
    receivers: torch.Tensor

    def __init__(
        self, latent_type: enn.FieldType, action_type: enn.FieldType, slots: int, hidden: int = 128, layers: int = 3
    ) -> None:
        super().__init__()
        self.slots = slots
        node_in = latent_type + action_type
        self.edge: nn.Sequential | None = None
        if slots > 1:
            edge_out = regular(latent_type.gspace, hidden)
            self.edge = mlp(latent_type + latent_type, hidden, edge_out, layers)
            node_in = node_in + edge_out
            i, j = torch.meshgrid(torch.arange(slots), torch.arange(slots), indexing="ij")
            off = i != j
            self.register_buffer("senders", i[off], persistent=False)  # [K(K-1)]
            self.register_buffer("receivers", j[off], persistent=False)
        self.node = mlp(node_in, hidden, latent_type, layers)

    def forward(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """z ``[B, K, C]``, a ``[B, K, Ca]`` -> dz ``[B, K, C]``."""
        parts = [z, a]
        if self.edge is not None:
            parts.append(self.messages(z))
        return self.node(torch.cat(parts, dim=-1))

    def messages(self, z: torch.Tensor) -> torch.Tensor:
        """Summed incoming edge messages ``[B, K, hidden]`` of latents ``z [B, K, C]``."""
        assert self.edge is not None
        B, K, _ = z.shape
        pairs = torch.cat([z[:, self.senders], z[:, self.receivers]], dim=-1)  # [B, K(K-1), 2C]
        last = cast(EquivariantLinear, self.edge[-1])  # mlp(): a linear layer at the end
        if last.execution == "escnn":  # reference: the whole edge model on every ordered pair
            return self.edge(pairs).reshape(B, K, K - 1, -1).sum(2)
        summed = last(self.edge[:-1](pairs).reshape(B, K, K - 1, -1).sum(2))
        return summed if last.conv.bias is None else summed + (K - 2) * cast(torch.Tensor, last.weights()[1])
