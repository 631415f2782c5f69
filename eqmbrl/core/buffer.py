"""Replay buffer of whole or partial episodes with uint8 images and k-step sequence sampling.

Rows are stored in a ring: row ``i`` holds observation ``o_t`` and, if ``o_{t+1}`` follows in
the same episode, the action and reward that led there (``has_next[i]``). Episodes are added
whole (``add_episode``) or step by step (``add``); underlying env states are optional and are
kept for rendering symmetric twins.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import gymnasium as gym
import numpy as np
import torch

from eqmbrl.core.checkpoint import atomic_write
from eqmbrl.core.types import SequenceBatch, to_float_images

Augment = Callable[
    [np.ndarray, np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None],
    tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None],
]
"""``(obs, actions, states, negatives, negative_states) -> (obs, actions, states, negatives)`` of a
batch's rows (shapes in :meth:`ReplayBuffer.gather`'s ``augment``)."""

_FIELDS = ("obs", "actions", "rewards", "has_next", "episode", "states")


class ReplayBuffer:
    """FIFO ring of ``capacity`` observation rows.

    Args:
        capacity: maximum number of stored observations.
        obs_shape: ``(Ci, Hi, Wi)`` of uint8 images.
        action_shape: ``()`` for discrete actions (stored int64) or ``(d,)`` (stored float32).
        state_shape: shape of the env's underlying state, or None to not store states.
        state_dtype: its dtype (e.g. int64 grid positions, float64 joint angles).
        source: the env the rows come from (:func:`env_source`: gym id and kwargs), saved with the
            buffer so that a run of another env refuses it (None: unknown, as in older files).
    """

    def __init__(
        self,
        capacity: int,
        obs_shape: tuple[int, ...],
        action_shape: tuple[int, ...] = (),
        state_shape: tuple[int, ...] | None = None,
        state_dtype: np.dtype | type = np.float64,
        source: dict[str, Any] | None = None,
    ) -> None:
        if capacity < 2:
            raise ValueError(f"capacity must be >= 2, got {capacity}")
        adtype = np.int64 if len(action_shape) == 0 else np.float32
        self.obs = np.zeros((capacity, *obs_shape), np.uint8)
        self.actions = np.zeros((capacity, *action_shape), adtype)
        self.rewards = np.zeros(capacity, np.float32)
        self.has_next = np.zeros(capacity, bool)
        self.episode = np.full(capacity, -1, np.int64)
        self.states = None if state_shape is None else np.zeros((capacity, *state_shape), state_dtype)
        self.capacity, self.size, self.pos, self.num_episodes = capacity, 0, 0, 0
        self.source = source
        self._valid_cache: dict[int, np.ndarray] = {}
        self._episode_index: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def __len__(self) -> int:
        return self.size

    def add_episode(
        self, obs: np.ndarray, actions: np.ndarray, rewards: np.ndarray | None = None, states: np.ndarray | None = None
    ) -> None:
        """Append one episode: obs ``[T+1, Ci, Hi, Wi]``, actions ``[T, *A]``, rewards ``[T]``,
        states ``[T+1, ...]`` (required iff the buffer stores states)."""
        T = len(actions)
        if len(obs) != T + 1:
            raise ValueError(f"an episode needs T+1 observations for T actions; got {len(obs)} obs, {T} actions")
        rewards = np.zeros(T, np.float32) if rewards is None else rewards
        for t in range(T + 1):
            has_next = t < T
            self.add(
                obs[t],
                actions[t] if has_next else None,
                float(rewards[t]) if has_next else 0.0,
                None if states is None else states[t],
                new_episode=t == 0,
            )

    def add(
        self,
        obs: np.ndarray,
        action: np.ndarray | int | None,
        reward: float = 0.0,
        state: np.ndarray | None = None,
        new_episode: bool = False,
    ) -> None:
        """Append one observation row; ``action`` is the action taken from it (None at episode end)."""
        if (state is None) != (self.states is None):
            raise ValueError("pass a state with every row iff the buffer was built with state_shape")
        if new_episode:
            self.num_episodes += 1
        i = self.pos
        self.obs[i] = obs
        self.has_next[i] = action is not None
        if action is not None:
            self.actions[i] = action
        self.rewards[i] = reward
        self.episode[i] = self.num_episodes - 1
        if self.states is not None:
            self.states[i] = state
        self.pos, self.size = (i + 1) % self.capacity, min(self.size + 1, self.capacity)
        self._valid_cache.clear()
        self._episode_index = None

    def resized(self, capacity: int) -> ReplayBuffer:
        """A copy holding the same rows, oldest first, in a ring of ``capacity >= len(self)`` rows."""
        if capacity < max(self.size, 2):
            raise ValueError(f"capacity {capacity} cannot hold the {self.size} stored rows")
        order = (np.arange(self.size) + (self.pos if self.size == self.capacity else 0)) % self.capacity
        buf = ReplayBuffer(
            capacity,
            self.obs.shape[1:],
            self.actions.shape[1:],
            None if self.states is None else self.states.shape[1:],
            np.float64 if self.states is None else self.states.dtype,
            self.source,
        )
        for k in _FIELDS:
            if getattr(self, k) is not None:
                getattr(buf, k)[: self.size] = getattr(self, k)[order]
        buf.size, buf.pos, buf.num_episodes = self.size, self.size % capacity, self.num_episodes
        return buf

    def valid_starts(self, steps: int) -> np.ndarray:
        """Row indices ``i`` from which ``steps`` consecutive transitions of one episode follow."""
        if steps not in self._valid_cache:
            idx = np.arange(self.size)
            oldest = self.pos if self.size == self.capacity else 0
            ok = (idx - oldest) % self.capacity + steps < self.size  # all rows stored, none overwritten
            for j in range(steps):
                row = (idx + j) % self.capacity
                ok &= self.has_next[row] & (self.episode[(row + 1) % self.capacity] == self.episode[idx])
            self._valid_cache[steps] = np.flatnonzero(ok)
        return self._valid_cache[steps]

    def same_episode_rows(self, rows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """For each of ``rows [B]``, a uniformly random other stored row of the same episode
        (the row itself only if it is its episode's only stored row): ``[B]``."""
        if self._episode_index is None:
            order = np.argsort(self.episode[: self.size], kind="stable")
            position = np.empty(self.size, np.int64)
            position[order] = np.arange(self.size)
            self._episode_index = (order, self.episode[order], position)
        order, ids, position = self._episode_index
        lo = np.searchsorted(ids, self.episode[rows], "left")
        others = np.searchsorted(ids, self.episode[rows], "right") - lo - 1
        pick = lo + np.floor(rng.random(len(rows)) * np.maximum(others, 1)).astype(np.int64)
        pick += (pick >= position[rows]) & (others > 0)  # skip the row itself
        return order[pick]

    def gather(
        self,
        starts: np.ndarray,
        steps: int,
        device: torch.device | str = "cpu",
        negatives_rng: np.random.Generator | None = None,
        state_fn: Callable[[np.ndarray], np.ndarray] | None = None,
        augment: Augment | None = None,
    ) -> SequenceBatch:
        """Sequences of ``steps`` transitions starting at rows ``starts [B]`` (see :class:`SequenceBatch`);
        with ``negatives_rng``, also a random other frame of each start's episode (``negatives``);
        with ``state_fn``, the features ``state_fn(states [B, steps+1, ...]) -> [B, steps+1, ...]``
        of the stored states, flattened to ``states [B, steps+1, F]``; with ``augment``
        (:class:`eqmbrl.augment.SymmetryAugment`), some sequences replaced by their rendered twins."""
        rows = (starts[:, None] + np.arange(steps + 1)) % self.capacity
        obs, actions = self.obs[rows], self.actions[rows[:, :-1]]
        negative_rows = None if negatives_rng is None else self.same_episode_rows(starts, negatives_rng)
        negatives = None if negative_rows is None else self.obs[negative_rows]
        states = None
        if state_fn is not None or augment is not None:
            if self.states is None:
                need = "symmetry augmentation (it renders twins of them)" if augment else "state features"
                raise ValueError(f"this replay buffer stores no env states, which {need} needs")
            states = self.states[rows]
        if augment is not None and states is not None:
            negative_states = None if negative_rows is None or self.states is None else self.states[negative_rows]
            obs, actions, states, negatives = augment(obs, actions, states, negatives, negative_states)
        return SequenceBatch(
            to_float_images(torch.from_numpy(obs).to(device)),
            torch.from_numpy(actions).to(device),
            torch.from_numpy(self.rewards[rows[:, :-1]]).to(device),
            None if negatives is None else to_float_images(torch.from_numpy(negatives).to(device)),
            None
            if state_fn is None or states is None
            else torch.from_numpy(np.asarray(state_fn(states), np.float32)).flatten(2).to(device),
        )

    def sample(
        self,
        batch_size: int,
        steps: int = 1,
        device: torch.device | str = "cpu",
        rng: np.random.Generator | None = None,
        negatives: bool = False,
        state_fn: Callable[[np.ndarray], np.ndarray] | None = None,
        recent_from: int = 0,
        recent_fraction: float = 0.0,
        augment: Augment | None = None,
    ) -> SequenceBatch:
        """``batch_size`` random ``steps``-step sequences (with replacement), with same-episode
        ``negatives`` if asked and state features with ``state_fn`` (see :meth:`gather`).

        With ``recent_fraction > 0``, that fraction of the batch starts at rows ``>= recent_from``
        (e.g. the online episodes after the seed data; uniform over all rows while there are none).
        Row indices mean age only while the ring has not wrapped (as in the online loop, whose
        buffer holds every episode)."""
        starts = self.valid_starts(steps)
        if len(starts) == 0:
            raise ValueError(f"no {steps}-step sequence in a buffer of {self.size} rows; add longer episodes")
        rng = rng if rng is not None else np.random.default_rng()
        rows = rng.choice(starts, batch_size)
        recent = starts[starts >= recent_from] if recent_fraction > 0 else None
        if recent is not None and len(recent):
            n = int(round(recent_fraction * batch_size))
            rows[:n] = rng.choice(recent, n)
        return self.gather(rows, steps, device, rng if negatives else None, state_fn, augment)

    def save(self, path: str | os.PathLike) -> None:
        """Write atomically to ``path`` (a ``.npz`` file): a crash never leaves a half-written file."""
        arrays = {k: getattr(self, k) for k in _FIELDS if getattr(self, k) is not None}
        meta = np.array([self.capacity, self.size, self.pos, self.num_episodes])
        if self.source is not None:
            arrays["source"] = np.array(json.dumps(self.source, sort_keys=True))
        atomic_write(path, lambda f: np.savez(f, meta=meta, **arrays))

    @classmethod
    def load(
        cls,
        path: str | os.PathLike,
        obs_space: gym.spaces.Box | None = None,
        action_space: gym.Space | None = None,
        source: dict[str, Any] | None = None,
    ) -> ReplayBuffer:
        """Read a buffer written by :meth:`save`. A missing or corrupt file, one whose fields do not
        fit each other or the env's ``obs_space`` / ``action_space`` (when given), or one recorded
        from another env than ``source`` (when both are known) raises a one-line error naming the
        file and the field (:func:`check_buffer`)."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"replay buffer file {path} does not exist")
        try:
            with np.load(path) as data:
                arrays = {k: data[k] for k in data.files}
        except Exception as exc:  # zip/pickle/format errors all mean the same to a user
            raise ValueError(f"replay buffer file {path} is corrupt or not an eqmbrl buffer ({exc})") from exc
        missing = [k for k in ("meta", *_FIELDS[:-1]) if k not in arrays]
        if missing:
            raise ValueError(f"replay buffer file {path} is not an eqmbrl buffer: missing {missing}")
        buf = cls.__new__(cls)
        for k in _FIELDS:
            setattr(buf, k, arrays.get(k))
        meta = arrays["meta"]
        if meta.shape != (4,) or not np.issubdtype(meta.dtype, np.integer):
            raise ValueError(f"replay buffer file {path}: field 'meta' must be 4 ints, got {meta.dtype} {meta.shape}")
        buf.capacity, buf.size, buf.pos, buf.num_episodes = (int(x) for x in meta)
        buf.source = json.loads(str(arrays["source"])) if "source" in arrays else None
        buf._valid_cache, buf._episode_index = {}, None
        check_buffer(buf, path, obs_space, action_space)
        if source is not None and buf.source is not None and json.loads(json.dumps(source)) != buf.source:
            raise ValueError(
                f"replay buffer file {path} was recorded in {_describe(buf.source)}, not in this run's "
                f"{_describe(source)}: use a buffer of this env (or leave trainer.buffer_path unset)"
            )
        return buf


def env_source(env: gym.Env) -> dict[str, Any] | None:
    """What a buffer records of the env its rows come from: the gym id and the kwargs it was made with."""
    if env.spec is None:
        return None
    return {"id": env.spec.id, "kwargs": dict(env.spec.kwargs)}


def _describe(source: dict[str, Any]) -> str:
    kwargs = ", ".join(f"{k}={v!r}" for k, v in sorted(source.get("kwargs", {}).items()))
    return f"{source.get('id')}({kwargs})"


def check_buffer(
    buf: ReplayBuffer, path: str | os.PathLike, obs_space: gym.spaces.Box | None, action_space: gym.Space | None
) -> None:
    """Validate a loaded buffer's fields against each other and the env's spaces (see :meth:`ReplayBuffer.load`)."""

    def fail(field: str, problem: str) -> NoReturn:
        raise ValueError(f"replay buffer file {path}: field '{field}' {problem}")

    if not 0 <= buf.size <= buf.capacity or not 0 <= buf.pos < max(buf.capacity, 1) or buf.capacity < 2:
        fail("meta", f"is inconsistent: capacity {buf.capacity}, size {buf.size}, position {buf.pos}")
    for k in _FIELDS:
        value = getattr(buf, k)
        if value is not None and len(value) != buf.capacity:
            fail(k, f"has {len(value)} rows, but the buffer's capacity is {buf.capacity}")
    if buf.obs.dtype != np.uint8 or buf.obs.ndim != 4:
        fail("obs", f"must be uint8 images [N, C, H, W], got {buf.obs.dtype} {buf.obs.shape}")
    if obs_space is not None and buf.obs.shape[1:] != obs_space.shape:
        layout = (
            " (channel-last? eqmbrl stores [C, H, W])"
            if buf.obs.shape[1:] == obs_space.shape[1:] + obs_space.shape[:1]
            else ""
        )
        fail("obs", f"has images of shape {buf.obs.shape[1:]}, the env's are {obs_space.shape}{layout}")
    if not np.isfinite(buf.rewards).all():
        fail("rewards", "has non-finite values")
    if buf.has_next.dtype != bool:
        fail("has_next", f"must be bool, got {buf.has_next.dtype}")
    actions = buf.actions[: buf.size][buf.has_next[: buf.size]]
    if isinstance(action_space, gym.spaces.Discrete):
        if buf.actions.dtype != np.int64 or buf.actions.ndim != 1:
            fail(
                "actions", f"must be int64 [N] for a discrete action space, got {buf.actions.dtype} {buf.actions.shape}"
            )
        if actions.size and (actions.min() < 0 or actions.max() >= action_space.n):
            fail("actions", f"must lie in 0..{action_space.n - 1}, got {actions.min()}..{actions.max()}")
    elif isinstance(action_space, gym.spaces.Box):
        if buf.actions.shape[1:] != action_space.shape or not np.issubdtype(buf.actions.dtype, np.floating):
            fail("actions", f"must be float [N, {action_space.shape}], got {buf.actions.dtype} {buf.actions.shape}")
        if not np.isfinite(actions).all() or (actions < action_space.low).any() or (actions > action_space.high).any():
            fail("actions", f"must be finite and within the action bounds {action_space.low}..{action_space.high}")
