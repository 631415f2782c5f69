"""SB3's training env, restorable: episode k is seeded base + k, and replaying an episode's actions
brings a fresh copy of the env to the same state (what an exact SB3 resume rests on)."""

import gymnasium as gym
import numpy as np
import pytest

import envs  # noqa: F401  (registers the gym ids)
from envs.seeded import SeededEpisodes

ENVS = ["eqmbrl/BlockPushingGoal-shapes-v0", "eqmbrl/Reacher-pixels-v0", "eqmbrl/Teapot-v0"]


def test_episode_k_is_seeded_base_plus_k_whatever_seed_the_caller_passes() -> None:
    wrapped = SeededEpisodes(gym.make(ENVS[0]), base_seed=100)
    plain = gym.make(ENVS[0])
    for k in range(3):
        obs = wrapped.reset(seed=7)[0]  # SB3 passes its own seed to the first reset: ignored
        assert np.array_equal(obs, plain.reset(seed=100 + k)[0])
    assert wrapped.episodes == 3


@pytest.mark.parametrize("env_id", ENVS)
def test_a_fresh_copy_restored_from_the_state_continues_exactly(env_id: str) -> None:
    live = SeededEpisodes(gym.make(env_id), base_seed=5)
    live.action_space.seed(0)
    live.reset()
    for _ in range(4):  # into the second episode, three steps in
        live.step(live.action_space.sample())
    live.reset()
    for _ in range(3):
        obs = live.step(live.action_space.sample())[0]
    fresh = SeededEpisodes(gym.make(env_id), base_seed=5)
    assert np.array_equal(fresh.restore(live.state()), obs)
    assert np.array_equal(fresh.unwrapped.get_state(), live.unwrapped.get_state())
    for _ in range(3):
        action = live.action_space.sample()
        a, b = live.step(action), fresh.step(action)
        assert np.array_equal(a[0], b[0]) and a[1:4] == b[1:4]
    assert fresh.state()["episodes"] == live.state()["episodes"] == 2


def test_a_state_from_before_the_first_reset_is_refused() -> None:
    env = SeededEpisodes(gym.make(ENVS[0]), base_seed=0)
    with pytest.raises(ValueError, match="never reset"):
        env.restore(SeededEpisodes(gym.make(ENVS[0]), base_seed=0).state())
