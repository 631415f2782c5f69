"""Symmetry augmentation: replace part of each training batch by rendered rotated twins (``none+aug``).

The baseline a reviewer asks for beside an equivariant model: a plain model trained on data that
holds every symmetric version of its transitions. A twin is made as the evaluation twins are
(:func:`eqmbrl.collect.twin_episodes`): transform the underlying states and the actions by a group
element g of the env's symmetry and render the states again, never by rotating pixels, so a twin is
a real transition of the env (``act_state``/``act_action`` commute with the dynamics).
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

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
