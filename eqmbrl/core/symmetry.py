"""Groups and the single convention for how a group element acts on states, actions and latents.

Groups are the planar point groups used by SEN: ``C4`` (rotations by quarter turns) and ``D4``
(quarter turns and reflections), plus ``trivial`` for non-equivariant baselines, and ``O``, the 24
rotations of the cube, a finite subgroup of SO(3) for the 3D teapot (element g is
``eqmbrl.core.rotations.cube_rotations()[g]``, identity first; it acts on 3-vectors by ``v -> R_g v``). Elements are
integers ``g in range(order)``; for D4, ``g = 4 * f + k`` means *reflect f times, then rotate by k
quarter turns counter-clockwise*, i.e. ``T_g = R^k F^f``, where F mirrors the plane's x axis
(x -> -x, with x right and y up: an image's columns flip) and R turns it as ``np.rot90`` turns an
image. This is escnn's element order and its action on the pixels of a map
(``group.dihedral_group(4).elements[g]`` is ``(f, k)``), so composition agrees with escnn:
``(f1, k1)(f2, k2) = (f1 + f2, k1 + (-1)^f1 k2)``.

Environments implement :class:`EnvSymmetry` for their underlying state and actions; world models
act on latents through escnn representations of the same element index. This module imports no
sibling package and no escnn.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from eqmbrl.core.choices import check_choice
from eqmbrl.core.rotations import cube_table

GROUP_NAMES = ("trivial", "C4", "D4", "O")
PLANAR_GROUPS = ("trivial", "C4", "D4")


@dataclass(frozen=True)
class Group:
    """A finite group: planar ``trivial``, ``C4`` or ``D4``, or ``O`` (the cube's rotations in SO(3))."""

    name: str

    def __post_init__(self) -> None:
        check_choice("group", self.name, GROUP_NAMES)

    @property
    def order(self) -> int:
        return {"trivial": 1, "C4": 4, "D4": 8, "O": 24}[self.name]

    @property
    def planar(self) -> bool:
        """Whether the group acts on the plane (``rotation``/``reflection`` are defined)."""
        return self.name in PLANAR_GROUPS

    def _check_planar(self) -> None:
        if not self.planar:
            raise ValueError(f"group {self.name} is not planar: it has no quarter turns or reflections")

    @property
    def elements(self) -> range:
        return range(self.order)

    def rotation(self, g: int) -> int:
        """Number of counter-clockwise quarter turns k of element g (planar groups only)."""
        self._check_planar()
        return 0 if self.name == "trivial" else g % 4

    def reflection(self, g: int) -> int:
        """1 if element g contains a reflection, else 0 (planar groups only)."""
        self._check_planar()
        return int(self.name == "D4" and g >= 4)

    def compose(self, g: int, h: int) -> int:
        """Index of g·h (apply h first, then g)."""
        if self.name == "trivial":
            return 0
        if self.name == "O":
            return int(cube_table()[g, h])
        fg, kg, fh, kh = self.reflection(g), self.rotation(g), self.reflection(h), self.rotation(h)
        k = (kg + (-1) ** fg * kh) % 4
        return 4 * ((fg + fh) % 2) + k

    def inverse(self, g: int) -> int:
        return next(h for h in self.elements if self.compose(g, h) == 0)


def rotate_points(g: int, group: Group, xy: np.ndarray) -> np.ndarray:
    """Apply T_g = R^k F^f to planar points ``xy [..., 2]`` (x right, y up; F mirrors x -> -x)."""
    x, y = xy[..., 0], xy[..., 1]
    if group.reflection(g):
        x = -x
    for _ in range(group.rotation(g)):
        x, y = -y, x
    return np.stack([x, y], axis=-1)


@runtime_checkable
class EnvSymmetry(Protocol):
    """How a group acts on an environment's underlying state and actions (never on pixels).

    ``act_state(g, states [B, ...]) -> [B, ...]`` and ``act_action(g, actions [B, ...]) -> [B, ...]``
    must be group actions (``act(g, act(h, x)) == act(g·h, x)``) that commute with the dynamics,
    so the rotated twin of a transition is again a valid transition.
    """

    group: Group

    def act_state(self, g: int, states: np.ndarray) -> np.ndarray: ...

    def act_action(self, g: int, actions: np.ndarray) -> np.ndarray: ...


class SymmetricEnv(Protocol):
    """What eqmbrl reads off an env's ``unwrapped``: the contract every eqmbrl env keeps.

    ``symmetry`` acts on states and actions; ``get_state()`` is the underlying state of the
    current step and ``render_states(states [B, ...]) -> uint8 [B, C, H, W]`` renders any states
    (twins are rendered from transformed states); ``episode_steps`` is the env's own step limit.
    Goal-conditioned envs set ``goal_conditioned`` and expose the goal image ``goal_obs``.
    Discrete envs with known dynamics may also expose ``step_states(states [B, ...], actions [B])
    -> [B, ...]`` (the successor-accuracy metric uses it). Envs whose state is a set of planar
    vectors may expose ``num_state_points`` and ``state_points(states [..., S]) -> [..., P, 2]``
    (the world model's state head, ``worldmodel.state_weight``, trains on them).
    """

    symmetry: EnvSymmetry
    episode_steps: int
    goal_conditioned: bool
    goal_obs: np.ndarray

    def get_state(self) -> np.ndarray: ...

    def render_states(self, states: np.ndarray) -> np.ndarray: ...


def env_contract(env: Any) -> SymmetricEnv:
    """``env.unwrapped`` as a :class:`SymmetricEnv`, or a one-line error naming what it lacks."""
    base = env.unwrapped
    missing = [name for name in ("symmetry", "get_state", "render_states") if not hasattr(base, name)]
    if missing:
        raise ValueError(
            f"{type(base).__name__} lacks {', '.join(missing)}: eqmbrl needs envs that expose their "
            "symmetry, get_state() and render_states() (see envs/__init__.py)"
        )
    return base


def check_equivariance(
    fn: Callable[[Any], Any],
    x: Any,
    act_in: Callable[[int, Any], Any],
    act_out: Callable[[int, Any], Any],
    group: Group,
) -> dict[int, float]:
    """Max abs error ``|fn(g.x) - g.fn(x)|`` for every element g of ``group``.

    Works for numpy arrays and torch tensors alike; ``act_in`` / ``act_out`` give the group action
    on inputs and outputs (``act(g, x)``). Tests assert every value is below their tolerance.
    """
    y = fn(x)
    return {g: float(abs(fn(act_in(g, x)) - act_out(g, y)).max()) for g in group.elements}
