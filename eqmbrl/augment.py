"""Training-batch augmentations: rendered rotated twins (``none+aug``) and large rotations (the teapot).

The baseline a reviewer asks for beside an equivariant model: a plain model trained on data that
holds every symmetric version of its transitions. A twin is made as the evaluation twins are
(:func:`eqmbrl.collect.twin_episodes`): transform the underlying states and the actions by a group
element g of the env's symmetry and render the states again, never by rotating pixels, so a twin is
a real transition of the env (``act_state``/``act_action`` commute with the dynamics).
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from eqmbrl.core.buffer import Augment
from eqmbrl.core.rotations import random_rotvecs, rotvec_to_matrix
from eqmbrl.core.symmetry import env_contract


class SymmetryAugment:
    """Replaces a fraction ``p`` of a batch's sequences by twins under group elements drawn uniformly
    from the env's whole group (identity included, so ``p = 1`` shows every symmetric version of a
    transition equally often, the usual full augmentation). Draws from ``rng`` (the trainer's, so
    that resumed training augments as the uninterrupted run did)."""

    def __init__(self, env: gym.Env, p: float, rng: np.random.Generator) -> None:
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"p, the fraction of sequences to augment, must be in [0, 1], got {p}")
        base = env_contract(env)
        self.symmetry, self.render, self.p, self.rng = base.symmetry, base.render_states, p, rng

    def __call__(
        self,
        obs: np.ndarray,
        actions: np.ndarray,
        states: np.ndarray,
        negatives: np.ndarray | None = None,
        negative_states: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
        """Twins of some sequences: ``obs uint8 [B, k+1, C, H, W]``, ``actions [B, k, *A]``, their
        states ``[B, k+1, ...]``, and the same-episode negatives ``uint8 [B, C, H, W]`` with their
        states ``[B, ...]`` (or None), each transformed by its sequence's g. Returns new arrays
        ``(obs, actions, states, negatives)``; the inputs are not modified."""
        B, T1 = states.shape[:2]
        chosen = np.flatnonzero(self.rng.random(B) < self.p)
        elements = self.rng.integers(0, self.symmetry.group.order, len(chosen))
        obs, actions, states = obs.copy(), actions.copy(), states.copy()
        negatives = None if negatives is None else negatives.copy()
        for g in np.unique(elements):
            if g == 0:
                continue
            rows = chosen[elements == g]
            g = int(g)
            twin_states = self.symmetry.act_state(g, states[rows].reshape(len(rows) * T1, *states.shape[2:]))
            obs[rows] = self.render(twin_states).reshape(len(rows), T1, *obs.shape[2:])
            states[rows] = twin_states.reshape(len(rows), T1, *states.shape[2:])
            flat = actions[rows].reshape(len(rows) * (T1 - 1), *actions.shape[2:])
            actions[rows] = self.symmetry.act_action(g, flat).reshape(len(rows), T1 - 1, *actions.shape[2:])
            if negatives is not None and negative_states is not None:
                negatives[rows] = self.render(self.symmetry.act_state(g, negative_states[rows]))
        return obs, actions, states, negatives


class LargeRotations:
    """Replaces a fraction ``p`` of a batch's sequences by transitions under large rotations (teapot,
    rotation-vector actions; ``trainer.large_rotations``): every action of a chosen sequence becomes a
    rotation uniform on SO(3) (Haar), far beyond the env's ``2 pi / 30`` box, its states follow the
    env's dynamics ``R -> A R`` from the same start, and its frames are rendered from them.

    SEN's continuous teapot (the earlier version's setting (L), where MatMul reached 100 HH@1 and the
    small setting (S) 31.6) trains on large rotations; with 12-degree steps alone the MatMul model
    stays near an invariant embedding (docs/teapot.md). Only the training data changes: the model,
    its loss and every evaluation keep the env's actions. Draws from ``rng`` (the trainer's).

    A training box ``low``/``high`` (``trainer.train_action_low/high``, per rotation-vector component)
    keeps its signs: a component the box pins to 0 stays 0 and a one-sided one keeps its sign, so
    training without roll (roll component 0) sees large rotations about axes in the yaw-pitch plane
    only, and never a roll component."""

    def __init__(
        self,
        env: gym.Env,
        p: float,
        rng: np.random.Generator,
        low: list[float] | None = None,
        high: list[float] | None = None,
    ) -> None:
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"p, the fraction of sequences to replace, must be in [0, 1], got {p}")
        negative = np.full(3, True) if low is None else np.asarray(low, dtype=np.float64) < 0
        positive = np.full(3, True) if high is None else np.asarray(high, dtype=np.float64) > 0
        self.free = negative & positive  # components drawn as they come; the others get ``sign * |w|``
        self.sign = positive.astype(np.float64) - negative.astype(np.float64)  # +1, -1, or 0 (pinned)
        encoding = getattr(env.unwrapped, "action_encoding", None)
        if encoding != "rotvecs":
            raise ValueError(
                "trainer.large_rotations needs rotation-vector actions (the teapot with actions=continuous), "
                f"but {type(env.unwrapped).__name__} encodes its actions as {encoding!r}"
            )
        self.render, self.p, self.rng = env_contract(env).render_states, p, rng

    def __call__(
        self,
        obs: np.ndarray,
        actions: np.ndarray,
        states: np.ndarray,
        negatives: np.ndarray | None = None,
        negative_states: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
        """``obs uint8 [B, k+1, C, H, W]``, rotation vectors ``actions [B, k, 3]``, orientations
        ``states [B, k+1, 9]`` -> new ``(obs, actions, states, negatives)`` with the chosen sequences
        replaced (their first frame kept); negatives are passed through. Inputs are not modified."""
        B, T1 = states.shape[:2]
        rows = np.flatnonzero(self.rng.random(B) < self.p)
        obs, actions, states = obs.copy(), actions.copy(), states.copy()
        if not len(rows):
            return obs, actions, states, negatives
        w = random_rotvecs(self.rng, len(rows) * (T1 - 1))
        actions[rows] = np.where(self.free, w, self.sign * np.abs(w)).reshape(len(rows), T1 - 1, 3)
        rot = states[rows, 0].reshape(-1, 3, 3)
        for t in range(T1 - 1):
            rot = rotvec_to_matrix(actions[rows, t].astype(np.float64)) @ rot  # the env's R -> A R, unboxed
            states[rows, t + 1] = rot.reshape(-1, 9)
        obs[rows, 1:] = self.render(states[rows, 1:].reshape(-1, 9)).reshape(len(rows), T1 - 1, *obs.shape[2:])
        return obs, actions, states, negatives


def chain(*augments: Augment | None) -> Augment | None:
    """The augmentations that are not None applied in turn (None if there are none)."""
    parts = [a for a in augments if a is not None]
    if len(parts) < 2:
        return parts[0] if parts else None

    def apply(
        obs: np.ndarray,
        actions: np.ndarray,
        states: np.ndarray,
        negatives: np.ndarray | None = None,
        negative_states: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
        for part in parts:
            obs, actions, states, negatives = part(obs, actions, states, negatives, negative_states)
        return obs, actions, states, negatives

    return apply
