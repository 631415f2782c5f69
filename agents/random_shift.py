"""DrQ's random shift of image batches (Kostrikov, Yarats and Fergus, *Image Augmentation Is All You
Need*, ICLR 2021): pad by ``pad`` pixels, repeating the border, and crop back at a random offset.

The SB3 extractors of :mod:`agents.sb3` apply it to every batch they see in training mode, which in
SB3 is the actor's and the critic's gradient batches; acting (``predict``) and SAC's target critic
run in eval mode and see the images unshifted.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def random_shift(x: torch.Tensor, pad: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Images ``x [B, C, H, W]`` -> ``[B, C, H, W]``, each shifted by its own integer offset in
    ``[-pad, pad]`` along each axis, borders repeated (``pad=0``: ``x`` itself)."""
    if pad < 0:
        raise ValueError(f"random shift pad must be >= 0, got {pad}")
    if pad == 0:
        return x
    B, _, H, W = x.shape
    padded = F.pad(x, (pad, pad, pad, pad), mode="replicate")
    dy, dx = torch.randint(0, 2 * pad + 1, (2, B, 1), device=x.device, generator=generator)
    rows = dy + torch.arange(H, device=x.device)  # [B, H]
    cols = dx + torch.arange(W, device=x.device)  # [B, W]
    batch = torch.arange(B, device=x.device)[:, None, None]
    return padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)
