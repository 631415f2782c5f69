"""Block pushing (C-SWM / SEN): K objects on a ``width x width`` grid, one moved per step.

State: int64 ``[K, 2]`` cells ``(row, col)``, row 0 at the top of the board (north), all
distinct. Action ``a = 4 * object + direction`` in ``0..4K-1`` with directions counter-clockwise:
0 = up (row - 1), 1 = left (col - 1), 2 = down (row + 1), 3 = right (col + 1). A move into a
wall or into another object is blocked (nothing moves; no pushing chains).

Symmetry (:class:`BlockPushingSymmetry`, group C4, acting on states and actions, never on
pixels): one counter-clockwise quarter turn of the board as displayed, the ``np.rot90``
convention, maps cell ``(r, c) -> (width-1-c, r)`` and direction ``d -> (d + 1) % 4``; object
identities are unchanged. It commutes with :func:`step_states`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np

from envs.render_blocks import decode_states, validate_scene
from envs.render_blocks import render_states as _render
from eqmbrl.core.choices import check_choice, check_count
from eqmbrl.core.directions import NUM_DIRECTIONS, check_directions, random_actions  # noqa: F401 (re-exported)
from eqmbrl.core.symmetry import Group

DIRECTIONS = np.array([[-1, 0], [0, -1], [1, 0], [0, 1]], dtype=np.int64)  # up, left, down, right
MAX_GOAL_DISTANCE = 10
DEFAULT_GOAL_DISTANCE = 3


def _check_states(states: np.ndarray, width: int) -> np.ndarray:
    """Return ``states`` as int64 ``[B, K, 2]``, raising ``ValueError`` on bad shape or range."""
    states = np.asarray(states)
    if states.ndim != 3 or states.shape[2] != 2 or not np.issubdtype(states.dtype, np.integer):
        raise ValueError(f"states must be an int array [B, K, 2], got {states.dtype} {states.shape}")
    if states.size and (states.min() < 0 or states.max() >= width):
        raise ValueError(f"state cells must lie in 0..{width - 1}, got {states.min()}..{states.max()}")
    return states.astype(np.int64, copy=False)


def step_states(states: np.ndarray, actions: np.ndarray, width: int = 5) -> np.ndarray:
    """Batched dynamics: next states ``[B, K, 2]`` of ``states [B, K, 2]`` under ``actions [B]``.

    Pure numpy, vectorised over the batch; the inputs are not modified.
    """
    states = _check_states(states, width)
    actions = np.asarray(actions)
    num_actions = NUM_DIRECTIONS * states.shape[1]
    if actions.shape != states.shape[:1] or not np.issubdtype(actions.dtype, np.integer):
        raise ValueError(f"actions must be an int array [B={states.shape[0]}], got {actions.dtype} {actions.shape}")
    if actions.size and (actions.min() < 0 or actions.max() >= num_actions):
        raise ValueError(f"actions must lie in 0..{num_actions - 1}, got {actions.min()}..{actions.max()}")
    rows = np.arange(states.shape[0])
    objects, directions = np.divmod(actions.astype(np.int64), NUM_DIRECTIONS)
    target = states[rows, objects] + DIRECTIONS[directions]  # [B, 2]
    inside = np.all((target >= 0) & (target < width), axis=1)
    occupied = np.any(np.all(states == target[:, None, :], axis=2), axis=1)
    moves = inside & ~occupied
    new_states = states.copy()
    new_states[rows[moves], objects[moves]] = target[moves]
    return new_states


def random_states(rng: np.random.Generator, n: int, num_objects: int = 5, width: int = 5) -> np.ndarray:
    """``n`` uniformly random states int64 ``[n, K, 2]`` (K distinct cells each)."""
    if not 1 <= num_objects <= width * width:
        raise ValueError(f"num_objects must be in 1..{width * width}, got {num_objects}")
    cells = np.argsort(rng.random((n, width * width)), axis=1)[:, :num_objects]
    return np.stack(np.divmod(cells, width), axis=-1).astype(np.int64)


@dataclass(frozen=True)
class BlockPushingSymmetry:
    """C4 acting on block-pushing states and actions (an :class:`eqmbrl.core.symmetry.EnvSymmetry`).

    Element ``g`` = ``g`` counter-clockwise quarter turns of the displayed board.
    """

    width: int = 5
    group: Group = field(default=Group("C4"), init=False)

    def _turns(self, g: int) -> int:
        if int(g) not in self.group.elements:
            raise ValueError(f"group element must be in 0..{self.group.order - 1} (C4), got {g}")
        return self.group.rotation(int(g))

    def act_state(self, g: int, states: np.ndarray) -> np.ndarray:
        """Rotate cells ``[..., 2]`` (row, col): each quarter turn maps ``(r, c) -> (n-1-c, r)``."""
        states = np.asarray(states)
        if states.ndim == 0 or states.shape[-1] != 2:
            raise ValueError(f"states must have shape [..., 2] (row, col), got {states.shape}")
        rows, cols = states[..., 0], states[..., 1]
        for _ in range(self._turns(g)):
            rows, cols = self.width - 1 - cols, rows
        return np.stack([rows, cols], axis=-1)

    def act_action(self, g: int, actions: np.ndarray) -> np.ndarray:
        """Rotate actions ``[...]``: direction ``d -> (d + k) % 4``, object unchanged."""
        actions = np.asarray(actions)
        objects, directions = np.divmod(actions, NUM_DIRECTIONS)
        return NUM_DIRECTIONS * objects + (directions + self._turns(g)) % NUM_DIRECTIONS


class BlockPushingEnv(gym.Env):
    """Gymnasium block pushing with pixel observations uint8 ``[3, H, W]`` (channel-first).

    ``render_style`` is ``"cubes"`` (isometric 3D) or ``"shapes"`` (2D). The action space is
    always ``Discrete(4 * num_objects)``; ``allowed_directions`` only restricts the moves used to
    build goals (data collection for limited-action experiments uses :func:`random_actions`).
    Non-goal reward is 0 (:attr:`rewarded_variant` names the goal variant instead). With
    ``goal_conditioned``, :meth:`reset` makes a goal ``goal_distance`` random non-blocked moves away
    (``options={"goal_distance": n}``, n in 1..10) exposed as ``goal_state [K, 2]`` and
    ``goal_obs [3, H, W]``; the reward is minus the fraction of objects
    off their goal cell, and the episode terminates with ``info["is_success"]`` once all are on.
    The env truncates itself after ``episode_steps`` steps (not ``max_episode_steps``, a name
    ``gymnasium.make`` keeps for its own TimeLimit wrapper, so it would never reach the env).
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 4}
    action_space: gym.spaces.Discrete

    def __init__(
        self,
        render_style: str = "cubes",
        width: int = 5,
        num_objects: int = 5,
        image_size: int = 50,
        goal_conditioned: bool = False,
        episode_steps: int = 100,
        allowed_directions: Sequence[int] | None = None,
        goal_distance: int = DEFAULT_GOAL_DISTANCE,
        render_mode: str | None = None,
    ) -> None:
        validate_scene(render_style, width, num_objects, image_size)
        if episode_steps < 1:
            raise ValueError(f"episode_steps must be >= 1, got {episode_steps}")
        check_choice("render_mode", render_mode, (None, *self.metadata["render_modes"]))
        if goal_conditioned and num_objects >= width * width:
            raise ValueError(f"goal_conditioned needs a free cell: num_objects {num_objects} >= {width * width} cells")
        self.render_style, self.width, self.num_objects = render_style, width, num_objects
        self.image_size, self.goal_conditioned = image_size, goal_conditioned
        self.episode_steps, self.render_mode = episode_steps, render_mode
        self.allowed_directions = check_directions(allowed_directions)
        self.goal_distance = check_count("goal_distance", goal_distance, 1, MAX_GOAL_DISTANCE)
        self.symmetry = BlockPushingSymmetry(width)
        self.action_space = gym.spaces.Discrete(NUM_DIRECTIONS * num_objects)
        self.observation_space = gym.spaces.Box(0, 255, (3, image_size, image_size), np.uint8)
        self._state = random_states(np.random.default_rng(0), 1, num_objects, width)[0]
        self.goal_state: np.ndarray | None = None
        self.goal_obs: np.ndarray | None = None
        self._steps = 0

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Random start (and goal); ``options`` may hold ``goal_distance`` (goal variant only)."""
        super().reset(seed=seed)
        options = dict(options or {})
        for key in options:
            check_choice("reset option", key, ("goal_distance",) if self.goal_conditioned else ())
        distance = check_count("goal_distance", options.get("goal_distance", self.goal_distance), 1, MAX_GOAL_DISTANCE)
        self._steps = 0
        if not self.goal_conditioned:
            self._state = random_states(self.np_random, 1, self.num_objects, self.width)[0]
            return self._observe(), self._info()
        for _ in range(100):
            self._state = random_states(self.np_random, 1, self.num_objects, self.width)[0]
            goal = self._random_goal(self._state, distance)
            if goal is not None:
                self.goal_state = goal
                self.goal_obs = self.render_states(goal[None])[0]
                return self._observe(), self._info()
        raise RuntimeError(f"no goal {distance} moves away found with allowed_directions {self.allowed_directions}")

    def _random_goal(self, start: np.ndarray, distance: int) -> np.ndarray | None:
        """``start`` moved by ``distance`` random non-blocked moves (retried if it comes back)."""
        candidates = np.array(
            [NUM_DIRECTIONS * k + d for k in range(self.num_objects) for d in self.allowed_directions], dtype=np.int64
        )
        for _ in range(20):
            state = start
            for _ in range(distance):
                nexts = step_states(np.repeat(state[None], len(candidates), axis=0), candidates, self.width)
                moved = np.flatnonzero(np.any(nexts != state, axis=(1, 2)))
                if moved.size == 0:
                    return None
                state = nexts[self.np_random.choice(moved)]
            if not np.array_equal(state, start):
                return state
        return None

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if not self.action_space.contains(action):
            raise ValueError(f"action must be an int in 0..{self.action_space.n - 1}, got {action!r}")
        self._state = step_states(self._state[None], np.array([int(action)]), self.width)[0]
        self._steps += 1
        reward, terminated = 0.0, False
        if self.goal_conditioned:
            misplaced = int(np.any(self._state != self.goal_state, axis=1).sum())
            reward, terminated = -misplaced / self.num_objects, misplaced == 0
        truncated = self._steps >= self.episode_steps
        return self._observe(), reward, terminated, truncated, self._info()

    def _observe(self) -> np.ndarray:
        return self.render_states(self._state[None])[0]

    def _info(self) -> dict[str, Any]:
        info: dict[str, Any] = {"state": self._state.copy()}
        if self.goal_conditioned:
            assert self.goal_state is not None  # reset() made the goal
            info["goal_state"] = self.goal_state.copy()
            info["is_success"] = bool(np.array_equal(self._state, self.goal_state))
        return info

    @property
    def rewarded_variant(self) -> tuple[str, str] | None:
        """None for the goal variant (its steps are rewarded); for the plain board, whose every step
        rewards 0, the gym id of its goal variant and how that one rewards (for the errors of agents
        that need a reward)."""
        if self.goal_conditioned:
            return None
        return (
            f"eqmbrl/BlockPushingGoal-{self.render_style}-v0",
            f"reward -(objects off their goal cell)/{self.num_objects} each step, ending when all are on",
        )

    def goal_reward(self, achieved: np.ndarray, desired: np.ndarray) -> np.ndarray:
        """The goal reward of step images ``achieved`` and goal images ``desired`` (uint8 ``[..., 3, H, W]``,
        renders of this board): minus the fraction of objects off their goal cell, float32 ``[...]``, as
        :meth:`step` rewards (the states are read back from the images, :func:`decode_states`)."""
        achieved, desired = np.asarray(achieved), np.asarray(desired)
        batch = achieved.shape[:-3]
        states = [
            decode_states(
                x.reshape(-1, *x.shape[-3:]), self.num_objects, self.render_style, self.width, self.image_size
            )
            for x in (achieved, desired)
        ]
        misplaced = np.any(states[0] != states[1], axis=-1).sum(-1)
        return (-misplaced / self.num_objects).astype(np.float32).reshape(batch)

    def get_state(self) -> np.ndarray:
        """Copy of the current state int64 ``[K, 2]``."""
        return self._state.copy()

    def set_state(self, state: np.ndarray) -> None:
        """Set the state ``[K, 2]`` (distinct in-range cells); the goal and step count are kept."""
        state = np.asarray(state)
        if state.shape != (self.num_objects, 2):
            raise ValueError(f"state must have shape ({self.num_objects}, 2), got {state.shape}")
        state = _check_states(state[None], self.width)[0]
        if len({tuple(cell) for cell in state.tolist()}) != self.num_objects:
            raise ValueError(f"state cells must be distinct, got {state.tolist()}")
        self._state = state.copy()

    def step_states(self, states: np.ndarray, actions: np.ndarray) -> np.ndarray:
        """Batched dynamics on this board: next states ``[B, K, 2]`` (see :func:`step_states`)."""
        return step_states(states, actions, self.width)

    def render_states(self, states: np.ndarray) -> np.ndarray:
        """Batched observations uint8 ``[B, 3, H, W]`` of states int ``[B, K, 2]``."""
        states = _check_states(states, self.width)
        if states.shape[1] != self.num_objects:
            raise ValueError(f"states must hold {self.num_objects} objects, got {states.shape[1]}")
        return _render(states, self.render_style, self.width, self.image_size)

    def render(self) -> np.ndarray | None:
        """The current frame as uint8 ``[H, W, 3]`` for ``render_mode="rgb_array"``, else None."""
        if self.render_mode != "rgb_array":
            return None
        return self._observe().transpose(1, 2, 0).copy()
