"""Symmetry augmentation (``trainer.symmetry_augment``): twins are real transitions, p is honoured,
draws come from the trainer's RNG, and buffers without states are refused by name."""

import gymnasium as gym
import numpy as np
import pytest
import torch

import envs  # noqa: F401
from agents.random_agent import RandomAgent
from eqmbrl.augment import SymmetryAugment
from eqmbrl.collect import collect
from eqmbrl.core.buffer import ReplayBuffer
from eqmbrl.core.types import to_float_images
from eqmbrl.settings import TrainerSettings


def _shapes_buffer(directions: list[int] | None = None) -> tuple[gym.Env, ReplayBuffer]:
    env = gym.make("eqmbrl/BlockPushing-shapes-v0")
    return env, collect(env, RandomAgent(env.action_space, 0, directions), 8, 6, seed=0)


def test_twins_are_real_transitions_of_the_env_rendered_from_state() -> None:
    env, buf = _shapes_buffer([0])  # up pushes only: twins must bring the other three directions
    base = env.unwrapped
    aug = SymmetryAugment(env, 1.0, np.random.default_rng(1))
    starts = buf.valid_starts(2)[:40]
    batch = buf.gather(starts, 2, negatives_rng=np.random.default_rng(2), augment=aug)
    rows = (starts[:, None] + np.arange(3)) % buf.capacity
    again = np.random.default_rng(1)  # replay the augment's draws to know each sequence's g
    chosen = np.flatnonzero(again.random(len(starts)) < 1.0)
    elements = again.integers(0, 4, len(chosen))
    assert len(set(elements)) == 4
    states = buf.states[rows].copy()
    for i, g in zip(chosen, elements):
        states[i] = base.symmetry.act_state(int(g), states[i])
    # every twin is a transition of the env's dynamics, and its frames are renders of its states
    for t in range(2):
        nxt = base.step_states(states[:, t], batch.actions[:, t].numpy())
        assert np.array_equal(nxt, states[:, t + 1])
    frames = to_float_images(torch.from_numpy(base.render_states(states.reshape(-1, *states.shape[2:]))))
    assert np.allclose(batch.obs.reshape(-1, *batch.obs.shape[2:]).numpy(), frames.numpy())
    assert set((batch.actions.numpy() % 4).ravel()) == {0, 1, 2, 3}  # all push directions appear


def test_fraction_and_identity() -> None:
    env, buf = _shapes_buffer()
    starts = buf.valid_starts(1)
    plain = buf.gather(starts, 1)
    none = buf.gather(starts, 1, augment=SymmetryAugment(env, 0.0, np.random.default_rng(0)))
    assert np.array_equal(plain.obs.numpy(), none.obs.numpy())
    half = buf.gather(starts, 1, augment=SymmetryAugment(env, 0.5, np.random.default_rng(0)))
    draws = np.random.default_rng(0)  # the augment's draws: which sequences, then each one's g
    chosen = np.flatnonzero(draws.random(len(starts)) < 0.5)
    twinned = chosen[draws.integers(0, 4, len(chosen)) != 0]
    changed = np.flatnonzero((half.actions.numpy() != plain.actions.numpy()).any(1))
    assert 0 < len(twinned) < len(starts) and np.array_equal(changed, twinned)
    assert np.array_equal(buf.obs[starts], (plain.obs[:, 0].numpy() * 255).round().astype(np.uint8))  # buffer kept


def test_same_rng_state_same_batch() -> None:
    env, buf = _shapes_buffer()
    starts = buf.valid_starts(1)[:32]
    a = buf.gather(starts, 1, augment=SymmetryAugment(env, 1.0, np.random.default_rng(5)))
    b = buf.gather(starts, 1, augment=SymmetryAugment(env, 1.0, np.random.default_rng(5)))
    assert np.array_equal(a.obs.numpy(), b.obs.numpy()) and np.array_equal(a.actions.numpy(), b.actions.numpy())


def test_bad_values_and_stateless_buffers_are_named() -> None:
    with pytest.raises(ValueError, match=r"trainer.symmetry_augment must be in \[0, 1\], got 1.5"):
        TrainerSettings(symmetry_augment=1.5)
    env, buf = _shapes_buffer()
    bare = ReplayBuffer(100, buf.obs.shape[1:])
    bare.add_episode(buf.obs[:7], buf.actions[:6])
    with pytest.raises(ValueError, match="stores no env states, which symmetry augmentation"):
        bare.gather(bare.valid_starts(1), 1, augment=SymmetryAugment(env, 1.0, np.random.default_rng(0)))
