"""SO(3) world-model parts for the teapot: a free CNN embedding to 3-vectors, Gram–Schmidt, and the
MatMul transition (SEN's ``z' = R_a z``) with its non-equivariant MLP twin.

Latents are ``[B, K, 9]``: K blocks of three 3-vectors, stored as 3x3 matrices row-major whose
*columns* are the vectors. SO(3) acts on every vector, ``Z -> g Z`` (:func:`rotate_vectors`). For
``sen`` each block is a rotation matrix (Gram–Schmidt of two predicted vectors), so the MatMul
transition ``Z -> A Z`` with the action's rotation matrix A, and conjugated actions
``A -> g A g^T``, is exactly equivariant: ``(g A g^T)(g Z) = g (A Z)``. For ``none`` the vectors
are free and a residual MLP of (latent, A) predicts the change.
"""

from __future__ import annotations

import torch
from torch import nn

from eqmbrl.core.rotations import turn_matrices
from worldmodels.layers import Conv2d


def gram_schmidt(v: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Two vectors ``[..., 2, 3]`` -> the rotation matrix ``[..., 3, 3]`` with columns ``e1 = v1/|v1|``,
    ``e2`` (v2 made orthogonal to e1, normalised) and ``e3 = e1 x e2`` (det +1)."""
    e1 = v[..., 0, :] / v[..., 0, :].norm(dim=-1, keepdim=True).clamp(min=eps)
    u2 = v[..., 1, :] - (e1 * v[..., 1, :]).sum(-1, keepdim=True) * e1
    e2 = u2 / u2.norm(dim=-1, keepdim=True).clamp(min=eps)
    return torch.stack([e1, e2, torch.linalg.cross(e1, e2)], dim=-1)


def rotate_vectors(g: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """Rotation ``g [3, 3]`` (or ``[B, 1, 3, 3]``) acting on latents ``z [..., 9]``: every column turned, ``g Z``."""
    return (g @ z.unflatten(-1, (3, 3))).flatten(-2)


def rotvec_matrices(w: torch.Tensor) -> torch.Tensor:
    """Rotation vectors ``[..., 3]`` -> rotation matrices ``[..., 3, 3]`` (Rodrigues, differentiable)."""
    angle = w.norm(dim=-1)[..., None, None]
    zero = torch.zeros_like(w[..., 0])
    k = torch.stack(
        [zero, -w[..., 2], w[..., 1], w[..., 2], zero, -w[..., 0], -w[..., 1], w[..., 0], zero], -1
    ).unflatten(-1, (3, 3))
    small = angle < 1e-6
    safe = torch.where(small, torch.ones_like(angle), angle)
    a = torch.where(small, 1 - angle**2 / 6, torch.sin(safe) / safe)
    b = torch.where(small, 0.5 - angle**2 / 24, (1 - torch.cos(safe)) / safe**2)
    return torch.eye(3, dtype=w.dtype, device=w.device) + a * k + b * (k @ k)


def encode_rotations(actions: torch.Tensor, encoding: str, slots: int) -> torch.Tensor:
    """Env actions -> each block's action rotation matrix, flattened: ``[B, K, 9]``. ``turns``:
    discrete turns ``[B]`` (:func:`eqmbrl.core.rotations.turn_matrices`); ``rotvecs``: rotation
    vectors ``[B, 3]``."""
    if encoding == "turns":
        table = torch.tensor(turn_matrices().copy(), dtype=torch.float32, device=actions.device)
        mats = table[actions.long()]
    else:
        mats = rotvec_matrices(actions.to(torch.float32))
    return mats.flatten(-2)[..., None, :].expand(*actions.shape[: 1 if encoding == "turns" else -1], slots, 9)


class VectorEmbedding(nn.Module):
    """Free CNN from images ``[B, Ci, Hi, Wi]`` to latents ``[B, K, 9]`` (module doc): a patchify
    convolution (patches of ``stride`` pixels), two stride-2 3x3 convolutions, an MLP to K blocks of
    ``vectors`` 3-vectors; with ``orthonormal`` (``sen``) two vectors per block go through
    :func:`gram_schmidt`, else (``none``) three free vectors are the block."""

    def __init__(
        self,
        in_channels: int = 1,
        image_size: int = 64,
        slots: int = 1,
        stride: int = 4,
        cnn_channels: int = 32,
        mlp_hidden: int = 256,
        orthonormal: bool = True,
    ) -> None:
        super().__init__()
        if image_size % (4 * stride):
            raise ValueError(f"image_size {image_size} must be divisible by 4 x the embedding stride {stride}")
        self.slots, self.orthonormal = slots, orthonormal
        c = cnn_channels
        layers: list[nn.Module] = [Conv2d(in_channels, c, stride, stride=stride), nn.BatchNorm2d(c), nn.ReLU()]
        for _ in range(2):
            layers += [Conv2d(c, c, 3, stride=2, padding=1), nn.BatchNorm2d(c), nn.ReLU()]
        side = image_size // stride // 4
        self.cnn = nn.Sequential(*layers, nn.Flatten())
        self.mlp = nn.Sequential(
            nn.Linear(c * side * side, mlp_hidden),
            nn.ReLU(),
            nn.Linear(mlp_hidden, mlp_hidden),
            nn.LayerNorm(mlp_hidden),
            nn.ReLU(),
            nn.Linear(mlp_hidden, slots * 3 * (2 if orthonormal else 3)),
        )

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """obs ``[B, Ci, Hi, Wi]`` -> latents ``[B, K, 9]``."""
        out = self.mlp(self.cnn(obs))
        if not self.orthonormal:
            return out.reshape(len(obs), self.slots, 9)
        vectors = out.reshape(len(obs), self.slots, 3, 2).transpose(-1, -2)  # B x K x 2 x 3
        return gram_schmidt(vectors).flatten(-2)


class MatMulTransition(nn.Module):
    """SEN's MatMul transition: the next latent ``A Z`` of every block (not a residual)."""

    residual = False

    def forward(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """z ``[B, K, 9]``, encoded actions a ``[B, K, 9]`` -> next latents ``[B, K, 9]``."""
        return (a.unflatten(-1, (3, 3)) @ z.unflatten(-1, (3, 3))).flatten(-2)


class MLPTransition(nn.Module):
    """The ``none`` twin: a 3-layer MLP of (all blocks, the action matrix) predicting the change ``dz``."""

    residual = True

    def __init__(self, slots: int = 1, hidden: int = 128) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(9 * slots + 9, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, 9 * slots),
        )

    def forward(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """z ``[B, K, 9]``, encoded actions a ``[B, K, 9]`` -> dz ``[B, K, 9]``."""
        return self.net(torch.cat([z.flatten(1), a[:, 0]], -1)).view_as(z)
