"""MuJoCo Reacher seen from a top-down camera, with its D4 symmetry (SEN's Reacher task).

:class:`ReacherPixelsEnv` runs gymnasium's ``Reacher-v5`` physics (and keeps its reward) and
observes the last ``frame_stack`` RGB frames of an orthographic camera looking straight down at
the arm base, channel-first: ``uint8 [3 * frame_stack, H, W]``. The image covers the square
``[-0.23, 0.23]^2`` m (arm reach 0.21 m + fingertip radius, goals within 0.2 m); the base is
at the image centre, world x points right and world y up, so rotating the scene by 90° about
the base rotates the image by 90° (``np.rot90``), up to rasterisation.

Lighting: Reacher has no lights of its own; MuJoCo's headlight is kept but its specular term is
switched off, because on the single-quad floor it gives a diagonal (non-D4-symmetric) gradient.

Headless rendering: :mod:`envs.mujoco_render` (``MUJOCO_GL=egl`` unless set).

Underlying state, a flat float64 vector of size ``S = 2 * frame_stack + 4``::

    [q0, q1] of frame t-K+1, ..., [q0, q1] of frame t,   # 2K joint angles (oldest first)
    [dq0, dq1] of frame t,                                 # joint velocities (rad/s)
    [goal_x, goal_y]                                       # target position (m)

``q0`` (the unlimited base hinge) is wrapped into ``[-pi, pi)``; ``q1`` lies in its joint range
``[-3, 3]``. The symmetry acts on it as ``T_g = R^k F^f`` (:mod:`eqmbrl.core.symmetry` convention):
F (x -> -x, the image's columns flip) maps ``q0`` to ``pi - q0`` in every frame, negates ``q1``,
the velocities, the torques and ``goal_x``; R adds ``pi/2`` to ``q0`` in every frame and rotates
the goal by 90°, leaving velocities and torques unchanged. Element g is escnn's element g, acting
on the pixels of a map as on the image (:mod:`eqmbrl.core.symmetry`).
"""

# ruff: noqa: I001 (envs.mujoco_render first: it sets MUJOCO_GL before mujoco is imported)
from __future__ import annotations

import gc
from typing import Any

from envs.mujoco_render import CheckedRenderer

import gymnasium as gym  # noqa: E402
import mujoco  # noqa: E402
import numpy as np  # noqa: E402
from gymnasium import spaces  # noqa: E402
from gymnasium.envs.mujoco.reacher_v5 import ReacherEnv  # noqa: E402

from eqmbrl.core.choices import check_choice  # noqa: E402
from eqmbrl.core.symmetry import Group, rotate_points  # noqa: E402

VIEW_HALF_EXTENT = 0.23
"""Half side (m) of the square of the floor that the camera sees, centred on the arm base."""
RENDER_QUALITIES = ("fast", "default")
"""``fast``: no multisampling (``offsamples = 0``, ~3x faster); ``default``: MuJoCo's 4x MSAA."""
RENDER_MODES = (None, "rgb_array")
JOINT1_LIMIT = 3.0
LINK_LENGTHS = (0.1, 0.11)
"""Reacher's upper arm and forearm-to-fingertip lengths (m)."""
STATE_POINTS = 5
"""Planar vectors of :func:`state_points`: elbow, fingertip, goal, elbow velocity, fingertip velocity."""
REACH = 0.21
"""Length unit of :func:`state_points` (m): the arm's reach."""
SPEED_UNIT = 1.5
"""Velocity unit of :func:`state_points` (m/s): about the RMS fingertip speed under uniform torques."""
RESET_OPTIONS = ("random_arm",)
"""Keys ``reset(options=...)`` accepts."""


def wrap_angle(angle: np.ndarray) -> np.ndarray:
    """Wrap angles (any shape) into ``[-pi, pi)``."""
    return (angle + np.pi) % (2 * np.pi) - np.pi


def state_size(frame_stack: int) -> int:
    """Length S of the flat state vector for ``frame_stack`` stacked frames."""
    return 2 * frame_stack + 4


def state_points(states: np.ndarray, frame_stack: int) -> np.ndarray:
    """The planar vectors that determine a Reacher state, ``[..., S] -> float32 [..., 5, 2]``:
    elbow and fingertip positions and the goal (in units of the reach, :data:`REACH`), then the
    elbow's and the fingertip's velocities (in :data:`SPEED_UNIT`), all relative to the arm base.

    Each is a vector of the plane, so the symmetry acts on all five as on points
    (``state_points(act_state(g, s)) == rotate_points(g, state_points(s))``): auxiliary targets
    for an equivariant head (``worldmodel.state_weight``)."""
    states = np.asarray(states, dtype=np.float64)
    k2 = 2 * frame_stack
    q0, q1, dq0, dq1 = (states[..., i] for i in (k2 - 2, k2 - 1, k2, k2 + 1))
    l1, l2 = LINK_LENGTHS
    u1 = np.stack([np.cos(q0), np.sin(q0)], -1)
    u2 = np.stack([np.cos(q0 + q1), np.sin(q0 + q1)], -1)
    perp1, perp2 = np.stack([-u1[..., 1], u1[..., 0]], -1), np.stack([-u2[..., 1], u2[..., 0]], -1)
    elbow, elbow_v = l1 * u1, l1 * dq0[..., None] * perp1
    tip, tip_v = elbow + l2 * u2, elbow_v + l2 * (dq0 + dq1)[..., None] * perp2
    pos = np.stack([elbow, tip, states[..., k2 + 2 :]], -2) / REACH
    vel = np.stack([elbow_v, tip_v], -2) / SPEED_UNIT
    return np.concatenate([pos, vel], -2).astype(np.float32)


def distance_terms(points: Any, action_repeat: int = 1) -> Any:
    """Reacher-v5's distance term of each decision from the planar vectors of successive states,
    ``[..., T+1, 5, 2] -> [..., T]`` (numpy arrays or torch tensors): minus the fingertip-to-goal
    distance (m) after each of the decision's ``action_repeat`` physics steps, summed, with the
    distance taken as linear between the two states' (a decoded state has no sub-steps)."""
    d = (((points[..., 1, :] - points[..., 2, :]) ** 2).sum(-1)) ** 0.5 * REACH  # [..., T+1]
    n = action_repeat
    return -((n - 1) / 2 * d[..., :-1] + (n + 1) / 2 * d[..., 1:])


class ReacherSymmetry:
    """D4 acting on Reacher states ``[..., S]`` and torques ``[..., 2]`` (see module docstring)."""

    def __init__(self, frame_stack: int = 2) -> None:
        if not isinstance(frame_stack, (int, np.integer)) or frame_stack < 1:
            raise ValueError(f"frame_stack must be an int >= 1, got {frame_stack!r}")
        self.group = Group("D4")
        self.frame_stack = int(frame_stack)

    def _check_element(self, g: int) -> None:
        if g not in self.group.elements:
            raise ValueError(f"group element g={g!r} not in {list(self.group.elements)} of D4")

    def act_state(self, g: int, states: np.ndarray) -> np.ndarray:
        """Transform states ``[B, S]`` (any leading shape) by element g; returns a new array."""
        self._check_element(g)
        k2 = 2 * self.frame_stack
        states = np.asarray(states, dtype=np.float64)
        if states.shape[-1] != k2 + 4:
            raise ValueError(
                f"states must have last dim S={k2 + 4} for frame_stack={self.frame_stack}, got shape {states.shape}"
            )
        out = states.copy()
        f = self.group.reflection(g)
        if f:
            out[..., : k2 + 2] *= -1.0  # all joint angles and velocities; q0 -> pi - q0 below
        out[..., 0:k2:2] = wrap_angle(out[..., 0:k2:2] + (2 * f + self.group.rotation(g)) * np.pi / 2)
        out[..., k2 + 2 :] = rotate_points(g, self.group, states[..., k2 + 2 :])
        return out

    def act_action(self, g: int, actions: np.ndarray) -> np.ndarray:
        """Transform torques ``[B, 2]`` (any leading shape): negated by reflections only."""
        self._check_element(g)
        actions = np.asarray(actions)
        if actions.shape[-1] != 2:
            raise ValueError(f"actions must have last dim 2, got shape {actions.shape}")
        return -actions if self.group.reflection(g) else actions.copy()


def _check_args(
    image_size: int,
    frame_stack: int,
    episode_steps: int,
    goal: tuple[float, float],
    render_quality: str,
    render_mode: str | None,
) -> None:
    """Raise ValueError naming the first bad constructor argument."""
    for name, value, low in (
        ("image_size", image_size, 8),
        ("frame_stack", frame_stack, 1),
        ("episode_steps", episode_steps, 1),
    ):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < low:
            raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    bound = VIEW_HALF_EXTENT - 0.01
    if len(goal) != 2 or not all(abs(float(c)) <= bound for c in goal):
        raise ValueError(f"goal must be (x, y) with |x|, |y| <= {bound} m (inside the view), got {goal!r}")
    check_choice("render_quality", render_quality, RENDER_QUALITIES)
    check_choice("render_mode", render_mode, RENDER_MODES)


TARGET_RADIUS = 0.009  # Reacher-v5's drawn target (m): about 2.5 px across at 64 px


def _configure_visuals(model: mujoco.MjModel, image_size: int, render_quality: str) -> None:
    """Set offscreen size, MSAA, symmetric lighting and the orthographic view height."""
    vis = model.vis
    vis.global_.offwidth = max(int(vis.global_.offwidth), image_size)
    vis.global_.offheight = max(int(vis.global_.offheight), image_size)
    vis.global_.fovy = 2 * VIEW_HALF_EXTENT  # orthographic free camera: view height in metres
    if render_quality == "fast":
        vis.quality.offsamples = 0
    vis.headlight.specular[:] = 0.0
    vis.headlight.ambient[:] = 0.3
    vis.headlight.diffuse[:] = 0.5


def _top_down_camera() -> mujoco.MjvCamera:
    """Orthographic free camera above the base; azimuth 90° puts world x right and y up."""
    cam = mujoco.MjvCamera()
    cam.type = mujoco.mjtCamera.mjCAMERA_FREE
    cam.lookat[:] = (0.0, 0.0, 0.0)
    cam.distance = 1.0
    cam.elevation = -90.0
    cam.azimuth = 90.0
    cam.orthographic = 1
    return cam


class ReacherPixelsEnv(gym.Env):
    """Reacher-v5 physics and reward, observed as stacked top-down frames ``uint8 [3K, H, W]``.

    Actions: torques ``float32 [2]`` in [-1, 1]. Never terminates; truncates after
    ``episode_steps``. ``info`` has ``state`` (``[S]``, see module docstring),
    ``reward_dist`` and ``reward_ctrl``. ``fixed_goal=True`` puts the target at ``goal``.
    ``action_repeat = n`` applies each action for n physics steps (0.02 s each) and returns the
    sum of their rewards (and of each reward term in ``info``); ``episode_steps`` counts physics
    steps, so an episode is ``ceil(episode_steps / n)`` env steps with the same return scale. One
    step of full torque moves a joint from rest by 0.04 rad, about a pixel at the fingertip at
    64 px; n = 2 makes it 0.16 rad (as PlaNet repeats actions on DeepMind Control's reacher).
    ``target_radius`` is the radius the target is drawn with (m; physics-free, Reacher-v5's is
    0.009): a larger target makes the goal easier to see for the embedding.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 50}
    observation_space: spaces.Box
    num_state_points = STATE_POINTS
    """How many planar vectors :meth:`state_points` gives per state."""

    def __init__(
        self,
        fixed_goal: bool = False,
        image_size: int = 64,
        frame_stack: int = 2,
        episode_steps: int = 50,
        goal: tuple[float, float] = (0.2, 0.2),
        render_quality: str = "fast",
        render_mode: str | None = None,
        target_radius: float = TARGET_RADIUS,
        action_repeat: int = 1,
    ) -> None:
        _check_args(image_size, frame_stack, episode_steps, goal, render_quality, render_mode)
        if not isinstance(action_repeat, (int, np.integer)) or isinstance(action_repeat, bool) or action_repeat < 1:
            raise ValueError(f"action_repeat must be an int >= 1, got {action_repeat!r}")
        self.action_repeat = int(action_repeat)
        if not 0 < target_radius <= 0.05:
            raise ValueError(f"target_radius must be in (0, 0.05] m, got {target_radius!r}")
        self.fixed_goal = bool(fixed_goal)
        self.goal = np.asarray(goal, dtype=np.float64)
        self.image_size, self.frame_stack = int(image_size), int(frame_stack)
        self.episode_steps = int(episode_steps)
        self.render_mode = render_mode
        self.symmetry = ReacherSymmetry(self.frame_stack)
        self._sim = ReacherEnv()
        _configure_visuals(self._sim.model, self.image_size, render_quality)
        # the target has no collisions (contype = conaffinity = 0): its size is only what is drawn
        self._sim.model.geom("target").size[0] = target_radius
        self._render_data = mujoco.MjData(self._sim.model)
        reference = mujoco.MjData(self._sim.model)  # arm along +x, target hidden under the base
        mujoco.mj_kinematics(self._sim.model, reference)
        self._renderer = CheckedRenderer(self._sim.model, self.image_size, _top_down_camera(), reference)
        self.observation_space = spaces.Box(0, 255, (3 * self.frame_stack, self.image_size, self.image_size), np.uint8)
        self.action_space = spaces.Box(-1.0, 1.0, (2,), np.float32)
        self._angles = np.zeros((self.frame_stack, 2))
        self._frames = np.zeros((self.frame_stack, 3, self.image_size, self.image_size), np.uint8)
        self._elapsed = 0

    # ------------------------------------------------------------------ gym API
    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        """Reset arm (and goal unless fixed); fill the frame stack with the initial frame.

        ``options={"random_arm": True}`` draws the joint angles uniformly over their whole ranges
        (``q0`` in ``[-pi, pi)``, ``q1`` in ``[-3, 3]``) instead of Reacher's +-0.1 around the
        stretched arm, e.g. so that data collected with limited torques still covers every pose.
        """
        super().reset(seed=seed)
        options = dict(options or {})
        for key in options:
            check_choice("reset option", key, RESET_OPTIONS)
        self._sim.reset(seed=seed)
        if self.fixed_goal or options.get("random_arm", False):
            qpos, qvel = self._sim.data.qpos.copy(), self._sim.data.qvel.copy()
            if self.fixed_goal:
                qpos[2:] = self.goal
            if options.get("random_arm", False):
                qpos[:2] = self.np_random.uniform([-np.pi, -JOINT1_LIMIT], [np.pi, JOINT1_LIMIT])
            self._sim.set_state(qpos, qvel)
        self._sim.goal = self._sim.data.qpos[2:].copy()
        frame = self._render(self._sim.data)
        self._frames[:] = frame
        self._angles[:] = self._sim.data.qpos[:2]
        self._elapsed = 0
        return self._obs(), {"state": self.get_state()}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict]:
        """Apply torques ``[2]``; returns (obs ``[3K, H, W]``, reward, False, truncated, info)."""
        action = np.asarray(action, dtype=np.float64)
        if action.shape != (2,):
            raise ValueError(f"action must have shape (2,), got {action.shape}")
        reward, terms = 0.0, {"reward_dist": 0.0, "reward_ctrl": 0.0}
        for _ in range(max(1, min(self.action_repeat, self.episode_steps - self._elapsed))):
            _, r, _, _, step_terms = self._sim.step(action)
            reward += float(r)
            terms = {k: terms[k] + float(step_terms[k]) for k in terms}
            self._elapsed += 1
        self._push(self._sim.data.qpos[:2], self._render(self._sim.data))
        info = {"state": self.get_state(), **terms}
        return self._obs(), reward, False, self._elapsed >= self.episode_steps, info

    def render(self) -> np.ndarray | None:
        """Current frame ``uint8 [H, W, 3]`` when ``render_mode == "rgb_array"``."""
        if self.render_mode is None:
            return None
        return self._frames[-1].transpose(1, 2, 0).copy()

    def close(self) -> None:
        """Free the GL context now (and collect garbage) so later envs don't render blank."""
        self._renderer.close()
        self._sim.close()
        gc.collect()

    # ------------------------------------------------------------------ twins
    @property
    def state_dim(self) -> int:
        """Length S of :meth:`get_state`."""
        return state_size(self.frame_stack)

    def state_points(self, states: np.ndarray) -> np.ndarray:
        """States ``[..., S]`` -> their planar vectors ``float32 [..., 5, 2]`` (:func:`state_points`)."""
        return state_points(states, self.frame_stack)

    @property
    def mj_model(self) -> mujoco.MjModel:
        """The MuJoCo model (read it; don't edit it)."""
        return self._sim.model

    @property
    def mj_data(self) -> mujoco.MjData:
        """The MuJoCo data of the current physics state (read it; don't edit it)."""
        return self._sim.data

    def get_state(self) -> np.ndarray:
        """Current underlying state ``float64 [S]`` (layout in the module docstring)."""
        angles = self._angles.copy()
        angles[:, 0] = wrap_angle(angles[:, 0])
        qpos, qvel = self._sim.data.qpos, self._sim.data.qvel
        return np.concatenate([angles.ravel(), qvel[:2], qpos[2:]])

    def set_state(self, state: np.ndarray) -> np.ndarray:
        """Set physics and frame stack from ``state [S]``; returns the observation ``[3K, H, W]``."""
        state = self._check_states(np.asarray(state, dtype=np.float64)[None])[0]
        angles, qvel, goal = self._split(state)
        self._sim.set_state(np.concatenate([angles[-1], goal]), np.concatenate([qvel, [0, 0]]))
        self._sim.goal = goal.copy()
        self._angles[:] = angles
        self._frames[:] = self.render_states(state[None])[0].reshape(self._frames.shape)
        return self._obs()

    def render_states(self, states: np.ndarray) -> np.ndarray:
        """Observations ``uint8 [B, 3K, H, W]`` of states ``[B, S]``; env state is untouched."""
        states = self._check_states(np.asarray(states, dtype=np.float64))
        k, size = self.frame_stack, self.image_size
        out = np.empty((len(states), k, 3, size, size), np.uint8)
        data = self._render_data
        for b, state in enumerate(states):
            angles, _, goal = self._split(state)
            for i in range(k):
                data.qpos[:] = np.concatenate([angles[i], goal])
                mujoco.mj_kinematics(self._sim.model, data)
                out[b, i] = self._render(data)
        return out.reshape(len(states), 3 * k, size, size)

    # ------------------------------------------------------------------ helpers
    def _split(self, state: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``state [S]`` -> (angles ``[K, 2]``, joint velocities ``[2]``, goal ``[2]``)."""
        k2 = 2 * self.frame_stack
        return state[:k2].reshape(self.frame_stack, 2), state[k2 : k2 + 2], state[k2 + 2 :]

    def _check_states(self, states: np.ndarray) -> np.ndarray:
        if states.ndim != 2 or states.shape[1] != self.state_dim:
            raise ValueError(
                f"states must have shape [B, {self.state_dim}] for frame_stack={self.frame_stack}, got {states.shape}"
            )
        return states

    def _render(self, data: mujoco.MjData) -> np.ndarray:
        """Render ``data`` from the top-down camera -> ``uint8 [3, H, W]``, checked: a corrupt frame
        (fewer than 3 corners show the floor; the arm never reaches a corner and the target covers
        at most one) gets one retry on a new renderer (:class:`envs.mujoco_render.CheckedRenderer`)."""
        return self._renderer.render(data)

    @property
    def renderer_restarts(self) -> int:
        """How often a corrupt frame made the GL renderer restart."""
        return self._renderer.restarts

    def _push(self, angles: np.ndarray, frame: np.ndarray) -> None:
        """Append one frame (angles ``[2]``, image ``[3, H, W]``), dropping the oldest."""
        self._angles[:-1], self._frames[:-1] = self._angles[1:], self._frames[1:]
        self._angles[-1], self._frames[-1] = angles, frame

    def _obs(self) -> np.ndarray:
        return self._frames.reshape(self.observation_space.shape).copy()
