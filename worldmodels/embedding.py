"""Embeddings from pixels to per-slot feature maps on which the group acts by rotating the map.

``SymmetricEmbedding`` is SEN's free network, in one of two forms (:data:`EMBEDDING_FORMS`):

``remap``
    a plain CNN to per-slot masks, then a per-slot MLP that can remap space arbitrarily (e.g. an
    isometric view onto a top-down grid), so the pixel-level group action never needs to be
    known. Nothing ties a rotated scene to a rotated map except what the data teaches.
``conv``
    SEN's original form: a local CNN (each mask pixel sees one patch of ``stride`` pixels: the
    patchify convolution, then 1x1 convolutions) whose masks keep the image's spatial layout and
    are block-averaged to the map size, with no free remap. On a top-down view whose cells are
    whole blocks of patches, a rotated scene then gives rotated maps by construction, whatever
    the weights (SEN's own CNN: 3x3 convolutions at full resolution, whose receptive field stays
    inside a cell). That is where generalisation to unseen actions comes from; it assumes the
    view is top-down.

``EquivariantEmbedding`` is the *Full* baseline: an escnn CNN that assumes the group acts on
pixels by rotating the image.

Both map images ``[B, Ci, Hi, Wi]`` in [0, 1] to maps ``[B, K * M, s, s]`` (K slots, M maps per
slot, s the odd map size) whose channels are trivial (scalar) fields.
"""

from __future__ import annotations

import torch
from torch import nn

from eqmbrl.core.choices import check_choice
from eqmbrl.core.symmetry import Group
from worldmodels.fields import make_gspace, regular, trivial
from worldmodels.layers import Conv2d, EquivariantConv

EMBEDDING_FORMS = ("remap", "conv")


def _check_sizes(image_size: int, stride: int) -> None:
    if image_size % stride:
        raise ValueError(f"image_size {image_size} must be divisible by the embedding stride {stride}")


def pool_factor(image_size: int, stride: int, map_size: int) -> int:
    """Block size that averages the ``image_size / stride`` mask grid down to ``map_size`` (exact)."""
    grid = image_size // stride
    if grid % map_size:
        raise ValueError(
            f"the mask grid ({image_size} / stride {stride} = {grid}) must be a multiple of "
            f"map_size {map_size} to pool it without remapping"
        )
    return grid // map_size


class SymmetricEmbedding(nn.Module):
    """SEN: patchify CNN (patches of ``stride`` pixels) to K slot masks, then per ``form``: a per-slot
    MLP to M maps of s x s (``remap``), or the masks block-averaged to s x s (``conv``; M masks per
    slot, ``masks_per_slot`` and ``mlp_hidden`` unused)."""

    def __init__(
        self,
        in_channels: int = 3,
        image_size: int = 50,
        slots: int = 5,
        maps_per_slot: int = 1,
        map_size: int = 5,
        stride: int = 5,
        cnn_channels: int = 32,
        mlp_hidden: int = 256,
        masks_per_slot: int = 1,
        form: str = "remap",
    ) -> None:
        super().__init__()
        _check_sizes(image_size, stride)
        check_choice("embedding form", form, EMBEDDING_FORMS)
        self.slots, self.maps_per_slot, self.map_size, self.form = slots, maps_per_slot, map_size, form
        if form == "conv":
            masks_per_slot = maps_per_slot
            self.pool = nn.AvgPool2d(pool_factor(image_size, stride, map_size))
        self.cnn = nn.Sequential(
            Conv2d(in_channels, cnn_channels, stride, stride=stride),
            nn.BatchNorm2d(cnn_channels),
            nn.ReLU(),
            Conv2d(cnn_channels, cnn_channels, 1 if form == "conv" else 3, padding=0 if form == "conv" else 1),
            nn.BatchNorm2d(cnn_channels),
            nn.ReLU(),
            Conv2d(cnn_channels, slots * masks_per_slot, 1),
            nn.Sigmoid(),
        )
        n_in = masks_per_slot * (image_size // stride) ** 2
        self.mlp = (
            None
            if form == "conv"
            else nn.Sequential(
                nn.Linear(n_in, mlp_hidden),
                nn.ReLU(),
                nn.Linear(mlp_hidden, mlp_hidden),
                nn.LayerNorm(mlp_hidden),
                nn.ReLU(),
                nn.Linear(mlp_hidden, maps_per_slot * map_size**2),
            )
        )

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """obs ``[B, Ci, Hi, Wi]`` -> maps ``[B, K * M, s, s]``."""
        masks = self.cnn(obs)
        if self.mlp is None:
            return self.pool(masks)  # [B, K * M, s, s], the masks' layout kept
        B = masks.shape[0]
        out = self.mlp(masks.reshape(B, self.slots, -1))
        return out.reshape(B, self.slots * self.maps_per_slot, self.map_size, self.map_size)


class EquivariantEmbedding(nn.Module):
    """*Full* baseline: steerable patchify conv, 3x3 conv, block average pooling to the map size,
    then a 1x1 conv to K * M scalar maps.

    Exactly equivariant to rotations of the image about its centre: the patch grid and the
    pooling blocks are symmetric under rot90 when ``image_size`` is a multiple of ``stride`` and
    ``image_size / stride`` a multiple of ``map_size``.
    """

    def __init__(
        self,
        group: Group,
        in_channels: int = 3,
        image_size: int = 50,
        slots: int = 5,
        maps_per_slot: int = 1,
        map_size: int = 5,
        stride: int = 5,
        cnn_channels: int = 32,
    ) -> None:
        super().__init__()
        _check_sizes(image_size, stride)
        pool = image_size // stride // map_size
        if pool * map_size * stride != image_size:
            raise ValueError(
                f"the full embedding needs image_size ({image_size}) = stride ({stride}) x "
                f"map_size ({map_size}) x an integer pooling factor"
            )
        gs = make_gspace(group)
        hid = regular(gs, cnn_channels)
        self.in_type = trivial(gs, in_channels)
        self.net = nn.Sequential(
            EquivariantConv(self.in_type, hid, stride, stride=stride),
            nn.ReLU(),
            EquivariantConv(hid, hid, 3, padding=1),
            nn.ReLU(),
            nn.AvgPool2d(pool, stride=pool),  # pointwise pooling commutes with the fibre action
            EquivariantConv(hid, hid, 1),
            nn.ReLU(),
            EquivariantConv(hid, trivial(gs, slots * maps_per_slot), 1),
        )

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """obs ``[B, Ci, Hi, Wi]`` -> maps ``[B, K * M, s, s]``."""
        return self.net(obs)
