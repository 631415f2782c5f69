"""Check that an env keeps eqmbrl's symmetry contract, element by element (as SB3's ``check_env``).

eqmbrl trains on *twins*: transitions rendered from transformed states, never by transforming
pixels. That is only sound if the env's :class:`~eqmbrl.core.symmetry.EnvSymmetry` is a group
action on its states and actions, commutes with its dynamics and renders to real, distinct
images. :func:`check_symmetric_env` checks all of that for every element ``g`` of the env's
group, through the public contract only (:func:`~eqmbrl.core.symmetry.env_contract`:
``symmetry``, ``get_state()``, ``render_states()``, and ``step_states()``, ``set_state()`` or
``state_points()`` where the env has them), so whoever adds an env can run it::

    import gymnasium as gym
    import envs
    from envs.env_checker import check_symmetric_env

    check_symmetric_env(gym.make("eqmbrl/Reacher-pixels-v0"))

A failed check raises a one-line ``AssertionError`` that names the env, the element ``g`` and
what failed, e.g. ``check_symmetric_env(BlockPushingEnv): g=1: the dynamics do not commute with
g: step_states(g·s, g·a) != g·step_states(s, a) (max error 1, state 3)``; an env that lacks the
contract raises ``ValueError``.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np

from eqmbrl.core.symmetry import EnvSymmetry, Group, check_equivariance, env_contract, rotate_points

StateDifference = Callable[[np.ndarray, np.ndarray], np.ndarray]


def check_symmetric_env(
    env: gym.Env,
    states: np.ndarray | None = None,
    actions: np.ndarray | None = None,
    *,
    num_states: int = 4,
    seed: int = 0,
    atol: float = 1e-6,
    render_atol: int = 1,
    state_difference: StateDifference | None = None,
) -> None:
    """Check ``env``'s symmetry for every element g of its group; raise on the first failure.

    ``states [B, ...]`` and ``actions [B, ...]`` are what the checks transform; by default
    ``num_states`` states are collected from ``reset(seed=seed + i)`` and ``i`` random steps, and
    one random action per state is drawn from the action space (seeded with ``seed``). Give
    generic states (no state fixed by any element), as random states are. Checked:

    - the contract: ``symmetry`` is an ``EnvSymmetry`` of a :class:`Group`; observations are
      ``render_states(get_state())`` (to ``render_atol`` per pixel); renders are uint8
      ``[B, *observation_space.shape]``, none blank (constant), the same in a batch as one by one;
      a goal-conditioned env's ``goal_obs`` is an observation;
    - for every g, on states and on actions: ``act(g, ·)`` keeps shapes and leaves its input
      untouched, the identity acts trivially, ``act(g, act(h, x)) == act(g·h, x)`` for every h
      (``Group.compose``), and transformed actions lie in the action space;
    - for every g, renders: the twins ``render_states(g·s)`` are real renders, and the elements
      give pairwise different images of each state (so g ≠ identity changes the image);
    - for every g, dynamics: ``step_states(g·s, g·a) == g·step_states(s, a)`` where the env has
      known dynamics (``step_states``); where it has ``set_state``, the env's own ``step`` from
      g·s with g·a reaches g·(its step from s with a), with the same reward (unless the env is
      goal-conditioned: its goal stays put), and ``set_state(s)`` then ``get_state()`` gives s
      back; ``step_states`` and ``step`` agree where both exist;
    - for every g, ``state_points(g·s) == rotate_points(g, state_points(s))`` where the env
      exposes ``state_points``.

    States are compared to ``atol`` with ``state_difference(a, b)`` (default ``a - b``; give one
    that wraps angles if states hold periodic coordinates); ``render_atol=255`` skips comparing
    observations with renders. Without ``step_states`` and
    ``set_state`` the dynamics are not checked (a warning says so). The env is reset and stepped:
    reset it before using it again.
    """
    base: Any = env_contract(env)
    spec = getattr(env, "spec", None)
    name = spec.id if spec is not None else type(base).__name__
    checker = _Checker(base, name, atol, render_atol, state_difference or np.subtract)
    symmetry = base.symmetry
    if not isinstance(symmetry, EnvSymmetry) or not isinstance(getattr(symmetry, "group", None), Group):
        raise ValueError(
            f"check_symmetric_env({name}): symmetry {type(symmetry).__name__} is not an EnvSymmetry "
            "(a group: Group, act_state(g, states) and act_action(g, actions); see eqmbrl/core/symmetry.py)"
        )
    space = copy.deepcopy(base.action_space)
    space.seed(seed)
    if states is None:
        states = checker.collect(num_states, seed, space)
    states = np.asarray(states)
    if actions is None:
        actions = np.stack([np.asarray(space.sample()) for _ in range(len(states))])
    actions = np.asarray(actions)
    if len(states) < 1 or len(actions) != len(states):
        raise ValueError(
            f"check_symmetric_env({name}): need one action per state and at least one state, "
            f"got {len(states)} states and {len(actions)} actions"
        )
    checker.check_goal(seed)
    checker.check_renders(None, states)
    for g in symmetry.group.elements:
        checker.check_group_action(g, states, actions)
    checker.check_twin_renders(states)
    if hasattr(base, "step_states"):
        checker.check_known_dynamics(states, actions)
    if hasattr(base, "set_state"):
        checker.check_env_dynamics(states, actions, seed)
    if not hasattr(base, "step_states") and not hasattr(base, "set_state"):
        warnings.warn(
            f"check_symmetric_env({name}): the env has neither step_states() nor set_state(): "
            "its dynamics were not checked against the symmetry",
            stacklevel=2,
        )
    if hasattr(base, "state_points"):
        checker.check_state_points(states)


class _Checker:
    """The checks of :func:`check_symmetric_env` on one env, with its tolerances."""

    def __init__(self, base: Any, name: str, atol: float, render_atol: int, difference: StateDifference) -> None:
        self.base, self.name, self.atol, self.render_atol, self.difference = base, name, atol, render_atol, difference

    @property
    def sym(self) -> EnvSymmetry:
        return self.base.symmetry

    @property
    def group(self) -> Group:
        return self.base.symmetry.group

    def fail(self, g: int | None, what: str) -> AssertionError:
        where = "" if g is None else f"g={g}: "
        return AssertionError(f"check_symmetric_env({self.name}): {where}{what}")

    def error(self, a: np.ndarray, b: np.ndarray) -> tuple[float, int]:
        """Max abs state difference of two batches ``[B, ...]`` and the first row where it is largest."""
        d = np.abs(np.asarray(self.difference(np.asarray(a, np.float64), np.asarray(b, np.float64))))
        per_row = d.reshape(len(d), -1).max(axis=1) if d.size else np.zeros(len(d))
        return float(per_row.max(initial=0.0)), int(per_row.argmax()) if len(per_row) else 0

    # ------------------------------------------------------------------ states and observations
    def collect(self, num_states: int, seed: int, space: gym.Space) -> np.ndarray:
        """States from resets and random steps, checking each observation against its state."""
        if num_states < 1:
            raise ValueError(f"check_symmetric_env({self.name}): num_states must be >= 1, got {num_states}")
        states = []
        for i in range(num_states):
            obs, _ = self.base.reset(seed=seed + i)
            self.check_observation(obs, f"the observation of reset(seed={seed + i})")
            for _ in range(i):
                obs, *_ = self.base.step(space.sample())
                self.check_observation(obs, "an observation after step()")
            states.append(np.asarray(self.base.get_state()))
        return np.stack(states)

    def check_observation(self, obs: np.ndarray, what: str) -> None:
        """``obs`` is ``render_states(get_state())`` to ``render_atol`` per pixel."""
        rendered = self.base.render_states(np.asarray(self.base.get_state())[None])[0]
        obs = np.asarray(obs)
        if obs.shape != rendered.shape:
            raise self.fail(None, f"{what} has shape {obs.shape}, render_states(get_state()) {rendered.shape}")
        diff = int(np.abs(obs.astype(np.int64) - rendered.astype(np.int64)).max(initial=0))
        if diff > self.render_atol:
            raise self.fail(
                None, f"{what} is not render_states(get_state()): pixels differ by up to {diff} > {self.render_atol}"
            )

    def check_goal(self, seed: int) -> None:
        if not getattr(self.base, "goal_conditioned", False):
            return
        obs, _ = self.base.reset(seed=seed)
        goal = getattr(self.base, "goal_obs", None)
        if goal is None or np.asarray(goal).shape != np.asarray(obs).shape or np.asarray(goal).dtype != np.uint8:
            got = None if goal is None else (np.asarray(goal).dtype, np.asarray(goal).shape)
            raise self.fail(None, f"a goal-conditioned env needs goal_obs, an observation of the goal; got {got}")

    def check_renders(self, g: int | None, states: np.ndarray) -> np.ndarray:
        """``render_states(states)``: uint8 ``[B, *obs shape]``, no blank image; returns them."""
        what = "render_states(states)" if g is None else "render_states(act_state(g, states))"
        try:
            images = np.asarray(self.base.render_states(states))
        except Exception as e:  # a state the transform made invalid: say which element made it
            raise self.fail(g, f"{what} raised {type(e).__name__}: {e}") from e
        space = self.base.observation_space
        shape = (len(states), *space.shape) if isinstance(space, gym.spaces.Box) else None
        if images.dtype != np.uint8 or images.ndim != 4 or (shape is not None and images.shape != shape):
            raise self.fail(g, f"{what} gave {images.dtype} {images.shape}, expected uint8 {shape or '[B, C, H, W]'}")
        flat = images.reshape(len(images), -1)
        blank = np.flatnonzero(flat.min(axis=1) == flat.max(axis=1))
        if blank.size:
            raise self.fail(
                g, f"{what} rendered state {int(blank[0])} as a blank image (every pixel {flat[blank[0], 0]})"
            )
        if g is None:
            first = min(2, len(states))
            one_by_one = np.concatenate([self.base.render_states(states[i : i + 1]) for i in range(first)])
            if not np.array_equal(images[:first], one_by_one):
                raise self.fail(None, "render_states renders a state differently in a batch than alone")
        return images

    # ------------------------------------------------------------------ group action
    def check_group_action(self, g: int, states: np.ndarray, actions: np.ndarray) -> None:
        sym, group = self.sym, self.group
        for kind, x, act, space_check in (
            ("act_state", states, sym.act_state, None),
            ("act_action", actions, sym.act_action, self.base.action_space),
        ):
            before = x.copy()
            gx = np.asarray(act(g, x))
            if not np.array_equal(x, before):
                raise self.fail(g, f"{kind}(g, x) modified its input x")
            if gx.shape != x.shape:
                raise self.fail(g, f"{kind}(g, x) has shape {gx.shape}, x {x.shape}")
            compare = self.error if kind == "act_state" else _action_error
            if g == 0:
                err, row = compare(gx, x)
                if err > self.atol:
                    raise self.fail(
                        g, f"the identity does not act trivially: {kind}(0, x) != x (max error {err:g}, row {row})"
                    )
            for h in group.elements:
                gh = group.compose(g, h)
                err, row = compare(act(g, act(h, x)), act(gh, x))
                if err > self.atol:
                    raise self.fail(
                        g,
                        f"{kind} is not a group action: {kind}({g}, {kind}({h}, x)) != {kind}({gh}, x) "
                        f"(g·h = {gh} by Group.compose; max error {err:g}, row {row})",
                    )
            if space_check is not None:
                outside = [i for i, a in enumerate(gx) if not _in_space(a, space_check)]
                if outside:
                    i = outside[0]
                    raise self.fail(g, f"act_action(g, a) left the action space: action {x[i]!r} -> {gx[i]!r}")

    def check_twin_renders(self, states: np.ndarray) -> None:
        """Every element's twins are real renders, and the elements render each state differently."""
        renders = {g: self.check_renders(g, self.sym.act_state(g, states)) for g in self.group.elements}
        identity = self.base.render_states(states)
        if not np.array_equal(renders[0], identity):
            raise self.fail(0, "render_states(act_state(0, states)) differs from render_states(states)")
        for i in range(len(states)):
            seen: dict[bytes, int] = {}
            for g, images in renders.items():
                key = images[i].tobytes()
                if key in seen:
                    h = seen[key]
                    what = "as the untransformed state" if h == 0 else f"as g={h} does"
                    raise self.fail(
                        g,
                        f"the twin of state {i} renders exactly {what}: g does not move the rendered scene "
                        "(or the state is fixed by g; pass generic states)",
                    )
                seen[key] = g

    # ------------------------------------------------------------------ dynamics
    def check_known_dynamics(self, states: np.ndarray, actions: np.ndarray) -> None:
        sym, step = self.sym, self.base.step_states
        nxt = np.asarray(step(states, actions))
        for g in self.group.elements:
            err, row = self.error(step(sym.act_state(g, states), sym.act_action(g, actions)), sym.act_state(g, nxt))
            if err > self.atol:
                raise self.fail(
                    g,
                    f"the dynamics do not commute with g: step_states(g·s, g·a) != g·step_states(s, a) "
                    f"(max error {err:g}, state {row})",
                )

    def step_from(self, state: np.ndarray, action: Any, seed: int) -> tuple[np.ndarray, float]:
        """``set_state(state)``, then ``step(action)``: the next state and the reward (checked)."""
        base = self.base
        base.reset(seed=seed)
        base.set_state(state)
        back, row = self.error(np.asarray(base.get_state())[None], np.asarray(state)[None])
        if back > self.atol:
            raise self.fail(None, f"set_state(s) then get_state() does not give s back (max error {back:g})")
        obs, reward, *_ = base.step(_as_action(action, base.action_space))
        self.check_observation(obs, "the observation of step() after set_state()")
        return np.asarray(base.get_state()), float(reward)

    def check_env_dynamics(self, states: np.ndarray, actions: np.ndarray, seed: int) -> None:
        sym, base = self.sym, self.base
        stepped = [self.step_from(s, a, seed) for s, a in zip(states, actions)]
        nxt, rewards = np.stack([s for s, _ in stepped]), np.array([r for _, r in stepped])
        if hasattr(base, "step_states"):
            err, row = self.error(nxt, base.step_states(states, actions))
            if err > self.atol:
                raise self.fail(
                    None, f"step_states(s, a) != the env's step from s with a (max error {err:g}, state {row})"
                )
        goal_conditioned = bool(getattr(base, "goal_conditioned", False))
        for g in self.group.elements:
            twin_states, twin_actions = sym.act_state(g, states), sym.act_action(g, actions)
            twins = [self.step_from(s, a, seed) for s, a in zip(twin_states, twin_actions)]
            twin_next, twin_rewards = np.stack([s for s, _ in twins]), np.array([r for _, r in twins])
            err, row = self.error(twin_next, sym.act_state(g, nxt))
            if err > self.atol:
                raise self.fail(
                    g,
                    "the dynamics do not commute with g: the env's step from g·s with g·a != g·(its step from s "
                    f"with a) (max error {err:g}, state {row}{'; are they deterministic?' if g == 0 else ''})",
                )
            reward_err = np.abs(twin_rewards - rewards)
            if not goal_conditioned and reward_err.max() > self.atol:
                raise self.fail(
                    g,
                    f"the reward is not invariant: step from g·s with g·a gets {twin_rewards[reward_err.argmax()]:g}, "
                    f"from s with a {rewards[reward_err.argmax()]:g} (state {int(reward_err.argmax())})",
                )

    # ------------------------------------------------------------------ planar vectors
    def check_state_points(self, states: np.ndarray) -> None:
        group = self.group
        points = self.base.state_points
        errors = check_equivariance(points, states, self.sym.act_state, lambda g, p: rotate_points(g, group, p), group)
        tol = max(self.atol, 1e-5)  # state_points are float32
        for g, err in errors.items():
            if not err <= tol:
                raise self.fail(
                    g, f"state_points(act_state(g, s)) != rotate_points(g, state_points(s)) (max error {err:g})"
                )


def _action_error(a: np.ndarray, b: np.ndarray) -> tuple[float, int]:
    d = np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)).reshape(len(a), -1)
    per_row = d.max(axis=1) if d.size else np.zeros(len(a))
    return float(per_row.max(initial=0.0)), int(per_row.argmax()) if len(per_row) else 0


def _in_space(action: Any, space: gym.Space) -> bool:
    """Whether one transformed action lies in ``space`` (a Box's dtype aside: ``step`` casts)."""
    if isinstance(space, gym.spaces.Box):
        action = np.asarray(action)
        return bool(action.shape == space.shape and np.all(action >= space.low) and np.all(action <= space.high))
    return bool(space.contains(action))


def _as_action(action: Any, space: gym.Space) -> Any:
    """One action of a batch as the env's ``step`` takes it (a Python int for Discrete spaces)."""
    if isinstance(space, gym.spaces.Discrete):
        return int(np.asarray(action))
    return np.asarray(action, dtype=space.dtype) if isinstance(space, gym.spaces.Box) else action
