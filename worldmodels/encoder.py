"""Equivariant slot encoder: each slot's scalar maps on an s x s grid to regular latent fields."""

from __future__ import annotations

import torch
from escnn import gspaces
from torch import nn

from worldmodels.fields import mlp, regular, trivial
from worldmodels.layers import EquivariantConv


class SlotEncoder(nn.Module):
    """Maps ``[B, K * M, s, s]`` scalar maps to latents ``[B, K, C]`` (C = latent channels).

    A 3x3 steerable conv, then a conv whose kernel covers the whole map, which keeps
    where things are, then an equivariant MLP. Slots share weights; the group acts on the maps by
    rotating (and reflecting) them about their centre and on the latents by regular
    representations, and the encoder commutes with both.
    """

    def __init__(
        self, gspace: gspaces.GSpace2D, maps_per_slot: int = 1, map_size: int = 5, hidden: int = 128, latent: int = 8
    ) -> None:
        super().__init__()
        self.maps_per_slot = maps_per_slot
        self.in_type, hid = trivial(gspace, maps_per_slot), regular(gspace, hidden)
        self.out_type = regular(gspace, latent)
        self.conv = nn.Sequential(
            EquivariantConv(self.in_type, hid, 3, padding=1),
            nn.ReLU(),
            EquivariantConv(hid, hid, map_size),
            nn.ReLU(),
        )
        self.head = mlp(hid, hidden, self.out_type)

    def forward(self, maps: torch.Tensor) -> torch.Tensor:
        """maps ``[B, K * M, s, s]`` -> latents ``[B, K, C]``."""
        B, KM, s, _ = maps.shape
        x = maps.reshape(B * KM // self.maps_per_slot, self.maps_per_slot, s, s)
        return self.head(self.conv(x).flatten(1)).reshape(B, KM // self.maps_per_slot, -1)
