"""The 3D teapot rotated in SO(3) (SEN's third domain), rendered headless by MuJoCo.

State: the teapot's orientation R (body to world), a rotation matrix flattened row-major,
``float64 [9]``; uniform on SO(3) at reset. An action rotates the teapot about the world axes:
``R -> A R`` (:mod:`eqmbrl.core.rotations` conventions). Actions are either continuous rotation vectors
``float32 [3]`` in ``[-TURN_ANGLE, TURN_ANGLE]^3`` (``actions="continuous"``, the default) or the six
discrete turns by ``2 pi / 30`` about +-x, +-y, +-z (``actions="discrete"``, ``Discrete(6)``).

The camera looks along world +y (perspective), world x to the right of the image and z up, so a turn
about z is a *yaw*, about x a *pitch* and about y (the view axis) a *roll*: :data:`AXIS_NAMES`. The
teapot (the Utah teapot of ``envs/assets``, re-centred on its bounding box, radius 1) is lit by a key
light from the upper left front and a weak headlight, observed as ``uint8 [1, H, W]`` luminance
(``channels=3``: RGB). Spout, handle, lid and the perspective break its symmetries.

Symmetry (:class:`TeapotSymmetry`, group ``O``: the 24 rotations of the cube): g acts on states by left
multiplication, ``R -> g R``, and on actions by conjugation, ``A -> g A g^T``: a rotation vector
``w -> g w`` (the box is mapped to itself), a discrete turn to the turn about the moved axis. Both
commute with the dynamics, and the twin of a state is the render of the rotated teapot.

Goal variant (``goal_conditioned=True``, ``eqmbrl/TeapotGoal-v0``): the goal is ``goal_distance``
random discrete turns about ``goal_axes`` from the start (never the start itself); ``info["is_success"]``
once the orientation is within half a turn (``pi / 30``) of the goal, which ends the episode; the
reward is minus the angle to the goal over pi.
"""

# ruff: noqa: I001 (envs.mujoco_render first: it sets MUJOCO_GL before mujoco is imported)
from __future__ import annotations

import gc
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from envs.mujoco_render import CheckedRenderer

import gymnasium as gym  # noqa: E402
import mujoco  # noqa: E402
import numpy as np  # noqa: E402

from eqmbrl.core.choices import check_choice, check_count  # noqa: E402
from eqmbrl.core.rotations import (  # noqa: E402
    NUM_TURNS,
    TURN_ANGLE,
    conjugate_turns,
    cube_rotations,
    geodesic_angle,
    random_rotations,
    rotvec_to_matrix,
    turn_matrices,
)
from eqmbrl.core.symmetry import Group  # noqa: E402

ACTION_KINDS = ("continuous", "discrete")
AXIS_NAMES = ("pitch", "roll", "yaw")
"""Names of turns about world x, y (the view axis) and z (up)."""
MAX_GOAL_DISTANCE = 10
SUCCESS_ANGLE = TURN_ANGLE / 2
"""A goal is reached within this angle (rad): half a discrete turn."""
ORTHONORMAL_ATOL = 1e-6


def teapot_obj() -> str:
    """The shipped teapot mesh (Wavefront OBJ, ``v`` and ``f`` lines)."""
    return resources.files("envs").joinpath("assets/teapot.obj").read_text()


def centred_mesh() -> bytes:
    """The teapot OBJ with its vertices centred on their bounding box and scaled to radius 1."""
    lines = teapot_obj().splitlines()
    verts = np.array([[float(x) for x in line.split()[1:4]] for line in lines if line.startswith("v ")])
    verts -= (verts.min(0) + verts.max(0)) / 2
    verts /= np.linalg.norm(verts, axis=1).max()
    faces = [line for line in lines if line.startswith("f ")]
    return "\n".join([*(f"v {x:.6f} {y:.6f} {z:.6f}" for x, y, z in verts), *faces, ""]).encode()


SCENE = """
<mujoco model="teapot">
  <visual>
    <global offwidth="{size}" offheight="{size}"/>
    <headlight ambient="0.1 0.1 0.1" diffuse="0.25 0.25 0.25" specular="0 0 0"/>
    <quality offsamples="{samples}"/>
  </visual>
  <asset><mesh name="teapot" file="teapot.obj" inertia="shell"/></asset>
  <worldbody>
    <light directional="true" castshadow="false" dir="0.6 0.7 -0.4" diffuse="0.8 0.75 0.7" specular="0.2 0.2 0.2"/>
    <camera name="view" pos="0 -4.5 0" xyaxes="1 0 0 0 0 1" fovy="29"/>
    <body name="teapot" mocap="true">
      <geom type="mesh" mesh="teapot" rgba="0.85 0.8 0.7 1" contype="0" conaffinity="0"/>
    </body>
  </worldbody>
</mujoco>
"""


def check_rotations(states: np.ndarray) -> np.ndarray:
    """States ``[B, 9]`` as rotation matrices ``float64 [B, 3, 3]``, or a one-line error."""
    states = np.asarray(states, dtype=np.float64)
    if states.ndim != 2 or states.shape[1] != 9:
        raise ValueError(f"teapot states must have shape [B, 9] (rotation matrices, row-major), got {states.shape}")
    r = states.reshape(-1, 3, 3)
    err = np.abs(r @ np.swapaxes(r, 1, 2) - np.eye(3)).max(initial=0.0)
    if err > ORTHONORMAL_ATOL or (len(r) and np.linalg.det(r).min() < 0):
        raise ValueError(f"teapot states must be rotation matrices (orthonormal, det +1); error {err:.2g}")
    return r


def action_matrices(actions: np.ndarray, kind: str) -> np.ndarray:
    """Rotation matrices ``[B, 3, 3]`` of actions ``[B]`` (discrete turns) or ``[B, 3]`` (rotation vectors)."""
    actions = np.asarray(actions)
    if kind == "discrete":
        if not np.issubdtype(actions.dtype, np.integer) or actions.ndim != 1:
            raise ValueError(f"discrete teapot actions must be ints [B], got {actions.dtype} {actions.shape}")
        if actions.size and (actions.min() < 0 or actions.max() >= NUM_TURNS):
            raise ValueError(
                f"discrete teapot actions must lie in 0..{NUM_TURNS - 1}, got {actions.min()}..{actions.max()}"
            )
        return turn_matrices()[actions]
    if actions.ndim != 2 or actions.shape[1] != 3:
        raise ValueError(f"continuous teapot actions must be rotation vectors [B, 3], got {actions.shape}")
    if actions.size and np.abs(actions).max() > TURN_ANGLE + 1e-6:
        raise ValueError(f"rotation vector components must lie in [-{TURN_ANGLE:.4f}, {TURN_ANGLE:.4f}] rad")
    return rotvec_to_matrix(actions)


def step_states(states: np.ndarray, actions: np.ndarray, kind: str = "continuous") -> np.ndarray:
    """Next orientations ``[B, 9]`` of ``states [B, 9]`` under ``actions`` (``A R``, see :func:`action_matrices`)."""
    return (action_matrices(actions, kind) @ check_rotations(states)).reshape(-1, 9)


@dataclass(frozen=True)
class TeapotSymmetry:
    """The cube's rotations (group ``O``) acting on teapot states and actions (module doc)."""

    kind: str = "continuous"
    group: Group = field(default=Group("O"), init=False)

    def _matrix(self, g: int) -> np.ndarray:
        if int(g) not in self.group.elements:
            raise ValueError(f"group element must be in 0..{self.group.order - 1} (O), got {g}")
        return cube_rotations()[int(g)]

    def act_state(self, g: int, states: np.ndarray) -> np.ndarray:
        """``R -> g R`` on states ``[..., 9]``."""
        states = np.asarray(states, dtype=np.float64)
        if states.ndim == 0 or states.shape[-1] != 9:
            raise ValueError(f"teapot states must have shape [..., 9], got {states.shape}")
        out = self._matrix(g) @ states.reshape(*states.shape[:-1], 3, 3)
        return out.reshape(states.shape)

    def act_action(self, g: int, actions: np.ndarray) -> np.ndarray:
        """``A -> g A g^T``: rotation vectors ``[..., 3] -> g w``, discrete turns ``[...]`` to the moved turn."""
        m = self._matrix(g)
        if self.kind == "discrete":
            return conjugate_turns()[int(g)][np.asarray(actions, dtype=np.int64)]
        actions = np.asarray(actions)
        if actions.ndim == 0 or actions.shape[-1] != 3:
            raise ValueError(f"continuous teapot actions must have shape [..., 3], got {actions.shape}")
        return (actions @ m.T).astype(actions.dtype)


class TeapotEnv(gym.Env):
    """The teapot in SO(3) (module doc): observations ``uint8 [channels, size, size]``.

    Never terminates unless goal-conditioned; truncates after ``episode_steps``. ``info`` has ``state``
    (and for goals ``goal_state`` and ``is_success``). ``render_quality="default"`` uses MuJoCo's 4x
    multisampling (smoother edges, slower); ``"fast"`` none.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}
    action_names = tuple(f"{s}{name}" for name in AXIS_NAMES for s in "+-")
    """Names of the discrete turns (``+pitch``, ``-pitch``, ...)."""
    turn_names = AXIS_NAMES
    """The axes of :meth:`turn_episodes`, in order."""

    def __init__(
        self,
        actions: str = "continuous",
        image_size: int = 64,
        channels: int = 1,
        episode_steps: int = 10,
        goal_conditioned: bool = False,
        goal_distance: int = 3,
        goal_axes: Sequence[int] = (0, 1, 2),
        render_quality: str = "fast",
        render_mode: str | None = None,
    ) -> None:
        self.kind = check_choice("actions", actions, ACTION_KINDS)
        check_choice("channels", channels, (1, 3))
        check_choice("render_quality", render_quality, ("fast", "default"))
        check_choice("render_mode", render_mode, (None, "rgb_array"))
        for name, value, low in (("image_size", image_size, 16), ("episode_steps", episode_steps, 1)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
        self.goal_axes = tuple(sorted({int(a) for a in goal_axes}))
        if not self.goal_axes or any(a not in range(3) for a in self.goal_axes):
            raise ValueError(
                f"goal_axes must be a non-empty subset of 0, 1, 2 ({', '.join(AXIS_NAMES)}), got {goal_axes!r}"
            )
        self.goal_distance = check_count("goal_distance", goal_distance, 1, MAX_GOAL_DISTANCE)
        self.image_size, self.channels, self.episode_steps = int(image_size), int(channels), int(episode_steps)
        self.goal_conditioned, self.render_mode = bool(goal_conditioned), render_mode
        self.symmetry = TeapotSymmetry(self.kind)
        self.action_encoding = "turns" if self.kind == "discrete" else "rotvecs"
        """How world models encode the actions (:class:`worldmodels.settings.EnvShape`)."""
        self.action_space: gym.spaces.Space = (
            gym.spaces.Discrete(NUM_TURNS)
            if self.kind == "discrete"
            else gym.spaces.Box(-TURN_ANGLE, TURN_ANGLE, (3,), np.float32)
        )
        self.observation_space: gym.spaces.Box = gym.spaces.Box(
            0, 255, (self.channels, self.image_size, self.image_size), np.uint8
        )
        xml = SCENE.format(size=self.image_size, samples=0 if render_quality == "fast" else 4)
        self._model = mujoco.MjModel.from_xml_string(xml, {"teapot.obj": centred_mesh()})
        self._data = mujoco.MjData(self._model)
        mujoco.mj_forward(self._model, self._data)  # the camera and lights are placed once; they never move
        self._renderer = CheckedRenderer(self._model, self.image_size, "view", self._data)
        self._state = np.eye(3).reshape(9)
        self.goal_state: np.ndarray | None = None
        self.goal_obs: np.ndarray | None = None
        self._steps = 0

    # ------------------------------------------------------------------ gym API
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        """Uniformly random orientation (and goal); ``options`` may hold ``goal_distance`` (goal variant)."""
        super().reset(seed=seed)
        options = dict(options or {})
        for key in options:
            check_choice("reset option", key, ("goal_distance",) if self.goal_conditioned else ())
        distance = check_count("goal_distance", options.get("goal_distance", self.goal_distance), 1, MAX_GOAL_DISTANCE)
        self._steps = 0
        self._state = random_rotations(self.np_random, 1).reshape(9)
        if self.goal_conditioned:
            self.goal_state = self._random_goal(distance)
            self.goal_obs = self.render_states(self.goal_state[None])[0]
        return self._observe(), self._info()

    def _random_goal(self, distance: int) -> np.ndarray:
        """The start turned by ``distance`` random turns about ``goal_axes``, at least one turn away."""
        turns = np.array([2 * a + s for a in self.goal_axes for s in (0, 1)])
        while True:
            goal = self._state
            for a in self.np_random.choice(turns, distance):
                goal = step_states(goal[None], np.array([a]), "discrete")[0]
            if geodesic_angle(goal.reshape(3, 3), self._state.reshape(3, 3)) > SUCCESS_ANGLE:
                return goal

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        if self.kind == "discrete":
            if not self.action_space.contains(action):
                raise ValueError(f"action must be an int in 0..{NUM_TURNS - 1}, got {action!r}")
            batch = np.array([int(action)])
        else:
            batch = np.clip(np.asarray(action, dtype=np.float64).reshape(1, -1), -TURN_ANGLE, TURN_ANGLE)
        self._state = step_states(self._state[None], batch, self.kind)[0]
        self._steps += 1
        reward, terminated = 0.0, False
        if self.goal_conditioned:
            angle = self.goal_angle()
            reward, terminated = -angle / np.pi, angle <= SUCCESS_ANGLE
        return self._observe(), reward, terminated, self._steps >= self.episode_steps, self._info()

    def goal_angle(self) -> float:
        """Angle (rad) between the current orientation and the goal's (goal variant)."""
        assert self.goal_state is not None  # reset() made the goal
        return float(geodesic_angle(self._state.reshape(3, 3), self.goal_state.reshape(3, 3)))

    def render(self) -> np.ndarray | None:
        """The current frame ``uint8 [H, W, C]`` for ``render_mode="rgb_array"``, else None."""
        if self.render_mode is None:
            return None
        return self._observe().transpose(1, 2, 0).copy()

    def close(self) -> None:
        """Free the GL context now (and collect garbage) so later envs don't render blank."""
        self._renderer.close()
        gc.collect()

    # ------------------------------------------------------------------ the symmetric-env contract
    def get_state(self) -> np.ndarray:
        """The orientation ``float64 [9]`` (rotation matrix, row-major)."""
        return self._state.copy()

    def set_state(self, state: np.ndarray) -> np.ndarray:
        """Set the orientation (a rotation matrix ``[9]``); returns the observation."""
        self._state = check_rotations(np.asarray(state)[None])[0].reshape(9).copy()
        return self._observe()

    def step_states(self, states: np.ndarray, actions: np.ndarray) -> np.ndarray:
        """Batched dynamics: ``[B, 9]`` x actions ``[B, *A]`` -> ``[B, 9]`` (:func:`step_states`)."""
        return step_states(states, actions, self.kind)

    def render_states(self, states: np.ndarray) -> np.ndarray:
        """Observations ``uint8 [B, C, H, W]`` of orientations ``[B, 9]``; the env is untouched."""
        rotations = check_rotations(states)
        out = np.empty((len(rotations), self.channels, self.image_size, self.image_size), np.uint8)
        quat = np.empty(4)
        for b, r in enumerate(rotations):
            mujoco.mju_mat2Quat(quat, r.reshape(9))
            self._data.mocap_quat[0] = quat
            mujoco.mj_kinematics(self._model, self._data)
            rgb = self._renderer.render(self._data)
            out[b] = rgb if self.channels == 3 else luminance(rgb)
        return out

    def action_name(self, action: Any) -> str:
        """A short name of one action (for episode logs)."""
        if self.kind == "discrete":
            return self.action_names[int(action)]
        return "rotvec(" + ", ".join(f"{x:+.3f}" for x in np.asarray(action, dtype=np.float64)) + ")"

    @property
    def rewarded_variant(self) -> tuple[str, str] | None:
        """None for the goal variant; else its gym id and how it rewards (for agents that need a reward)."""
        if self.goal_conditioned:
            return None
        return ("eqmbrl/TeapotGoal-v0", "reward -(angle to the goal)/pi each step, ending within pi/30 of it")

    def turn_episodes(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Full turns about each axis for the TH@1 metric: from ``n`` random orientations, 30 turns of
        ``2 pi / 30`` about axis x, y and z (the ``+`` turn): states ``[3, n, 31, 9]`` and actions
        ``[3, n, 30, *A]`` in this env's action kind (:data:`AXIS_NAMES` order)."""
        starts = random_rotations(rng, n).reshape(n, 9)
        steps = round(2 * np.pi / TURN_ANGLE)
        states = np.empty((3, n, steps + 1, 9))
        actions = []
        for axis in range(3):
            a = np.full(n, 2 * axis) if self.kind == "discrete" else np.eye(3)[np.full(n, axis)] * TURN_ANGLE
            states[axis, :, 0] = starts
            for t in range(steps):
                states[axis, :, t + 1] = step_states(states[axis, :, t], a, self.kind)
            actions.append(np.repeat(a[:, None], steps, 1))
        dtype = np.int64 if self.kind == "discrete" else np.float32
        return states, np.stack(actions).astype(dtype)

    def hard_negatives(self, states: np.ndarray, next_states: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The hard negatives of HH@1 for transitions ``states [B, 9] -> next_states [B, 9]``: each
        start and the six orientations one discrete turn from it, ``[B, 7, 9]``, and which of them
        differ from the next state, bool ``[B, 7]`` (the others are no negatives)."""
        r, r_next = check_rotations(states), check_rotations(next_states)
        near = np.concatenate([r[:, None], np.einsum("aij,bjk->baik", turn_matrices(), r)], 1)  # B x 7 x 3 x 3
        valid = geodesic_angle(near, r_next[:, None]) > 1e-6
        return near.reshape(len(r), NUM_TURNS + 1, 9), valid

    def _observe(self) -> np.ndarray:
        return self.render_states(self._state[None])[0]

    def _info(self) -> dict[str, Any]:
        info: dict[str, Any] = {"state": self._state.copy()}
        if self.goal_conditioned:
            assert self.goal_state is not None
            info["goal_state"] = self.goal_state.copy()
            info["is_success"] = self.goal_angle() <= SUCCESS_ANGLE
        return info


def luminance(rgb: np.ndarray) -> np.ndarray:
    """``uint8 [3, H, W]`` RGB -> ``uint8 [1, H, W]`` luminance (Rec. 601 weights)."""
    y = np.tensordot(np.array([0.299, 0.587, 0.114]), rgb.astype(np.float64), axes=(0, 0))
    return np.clip(np.rint(y), 0, 255).astype(np.uint8)[None]
