"""Rotations of space (SO(3)) as 3x3 matrices: the 24 rotations of the cube, axis-angle vectors,
the six discrete turns of the teapot task, and geodesic angles.

Conventions: a rotation acts on column vectors, ``v' = R v``; an orientation R maps body to world
coordinates, so a rotation ``A`` of the world turns it into ``A R`` (left multiplication). A rotation
vector ``w [3]`` (axis times angle, radians) is ``exp([w]x)`` (Rodrigues). The discrete turns are
``TURN_ANGLE = 2 pi / 30`` about the world axes, both ways: turn ``a`` is about axis ``a // 2`` (x, y,
z) with sign ``+`` for even ``a`` and ``-`` for odd ``a``. Cube rotations are signed permutation
matrices with determinant +1, in a fixed order with the identity first; they map the set of turns
to itself (:func:`conjugate_turns`). This module imports numpy only.
"""

from __future__ import annotations

import itertools
from functools import cache

import numpy as np

TURN_ANGLE = 2 * np.pi / 30
"""Angle (rad) of one discrete turn; 30 turns about one axis make a full turn."""
NUM_TURNS = 6
"""Discrete turns: +x, -x, +y, -y, +z, -z (turn ``a`` about axis ``a // 2``, sign ``(-1) ** a``)."""


@cache
def cube_rotations() -> np.ndarray:
    """The 24 rotations of the cube ``float64 [24, 3, 3]`` (signed permutations, det +1), identity first."""
    mats = []
    for perm in itertools.permutations(range(3)):
        for signs in itertools.product((1.0, -1.0), repeat=3):
            m = np.zeros((3, 3))
            m[range(3), perm] = signs
            if np.linalg.det(m) > 0:
                mats.append(m)
    out = np.stack(mats)
    out.setflags(write=False)
    return out


@cache
def cube_table() -> np.ndarray:
    """Multiplication table ``int64 [24, 24]``: ``table[g, h]`` is the index of ``cube_rotations()[g] @ [h]``."""
    mats = cube_rotations().reshape(24, 9)
    prods = np.einsum("gij,hjk->ghik", cube_rotations(), cube_rotations()).reshape(24, 24, 9)
    table = np.abs(prods[:, :, None, :] - mats[None, None]).sum(-1).argmin(-1)
    table.setflags(write=False)
    return table


def rotvec_to_matrix(w: np.ndarray) -> np.ndarray:
    """Rotation vectors ``[..., 3]`` -> rotation matrices ``float64 [..., 3, 3]`` (Rodrigues)."""
    w = np.asarray(w, dtype=np.float64)
    if w.shape[-1:] != (3,):
        raise ValueError(f"rotation vectors must have shape [..., 3], got {w.shape}")
    angle = np.linalg.norm(w, axis=-1)[..., None, None]
    k = np.zeros((*w.shape[:-1], 3, 3))
    k[..., 0, 1], k[..., 0, 2], k[..., 1, 2] = -w[..., 2], w[..., 1], -w[..., 0]
    k = k - np.swapaxes(k, -1, -2)
    small = angle < 1e-8
    safe = np.where(small, 1.0, angle)
    a = np.where(small, 1.0 - angle**2 / 6, np.sin(safe) / safe)
    b = np.where(small, 0.5 - angle**2 / 24, (1 - np.cos(safe)) / safe**2)
    return np.eye(3) + a * k + b * (k @ k)


@cache
def turn_matrices() -> np.ndarray:
    """The six discrete turns as matrices ``float64 [6, 3, 3]`` (module doc for the order)."""
    w = np.zeros((NUM_TURNS, 3))
    w[np.arange(NUM_TURNS), np.arange(NUM_TURNS) // 2] = TURN_ANGLE * (-1.0) ** np.arange(NUM_TURNS)
    out = rotvec_to_matrix(w)
    out.setflags(write=False)
    return out


@cache
def conjugate_turns() -> np.ndarray:
    """``int64 [24, 6]``: ``[g, a]`` is the turn ``g T_a g^T`` (cube rotation g moves turn a's axis)."""
    g = cube_rotations()
    axes = np.eye(3)[np.arange(NUM_TURNS) // 2] * (-1.0) ** np.arange(NUM_TURNS)[:, None]  # [6, 3] signed axes
    moved = np.einsum("gij,aj->gai", g, axes)  # [24, 6, 3]
    out = np.abs(moved[:, :, None, :] - axes[None, None]).sum(-1).argmin(-1)
    out.setflags(write=False)
    return out


def geodesic_angle(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Angle (rad) of the rotation taking ``b`` to ``a``: ``[..., 3, 3] x [..., 3, 3] -> [...]``."""
    cos = (np.einsum("...ij,...ij->...", a, b) - 1) / 2  # trace(a b^T) = trace(a^T b)
    return np.arccos(np.clip(cos, -1.0, 1.0))


def random_rotations(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` rotations uniform on SO(3) (Haar), ``float64 [n, 3, 3]``, from uniform unit quaternions."""
    q = rng.normal(size=(n, 4))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    return quaternion_to_matrix(q)


def random_rotvecs(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` rotation vectors ``float64 [n, 3]`` of rotations uniform on SO(3) (Haar; angles in
    ``[0, pi]``), from uniform unit quaternions (w >= 0): angle ``2 acos w`` about ``(x, y, z) / |.|``."""
    q = rng.normal(size=(n, 4))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    q *= np.where(q[:, :1] < 0, -1.0, 1.0)
    sin = np.linalg.norm(q[:, 1:], axis=1, keepdims=True)
    angle = 2 * np.arctan2(sin, q[:, :1])
    return q[:, 1:] * np.where(sin > 1e-12, angle / np.maximum(sin, 1e-12), 2.0)


def quaternion_to_matrix(q: np.ndarray) -> np.ndarray:
    """Unit quaternions ``[..., 4]`` (w, x, y, z) -> rotation matrices ``[..., 3, 3]``."""
    w, x, y, z = np.moveaxis(np.asarray(q, dtype=np.float64), -1, 0)
    rows = [
        [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
        [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
        [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
    ]
    return np.stack([np.stack(r, -1) for r in rows], -2)
