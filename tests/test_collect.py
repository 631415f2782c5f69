"""Data collection, limited-action agents and symmetric twins rendered from state."""

import gymnasium as gym
import numpy as np
import pytest

import envs  # noqa: F401
from agents.random_agent import RandomAgent
from envs.block_pushing import step_states
from eqmbrl.collect import collect, episode_tensors, twin_episodes


def test_limited_directions_agent() -> None:
    agent = RandomAgent(gym.spaces.Discrete(20), seed=0, allowed_directions=[0, 2])
    actions = np.array([agent.act(None) for _ in range(400)])
    assert set(actions % 4) == {0, 2} and set(actions // 4) == set(range(5))
    with pytest.raises(ValueError, match="subset of 0..3"):
        RandomAgent(gym.spaces.Discrete(20), allowed_directions=[4])
    with pytest.raises(ValueError, match="Discrete"):
        RandomAgent(gym.spaces.Box(-1, 1, (2,)), allowed_directions=[0])


def test_limited_box_agent() -> None:
    space = gym.spaces.Box(-1, 1, (2,), dtype=np.float32)
    agent = RandomAgent(space, seed=0, low=[-1, 0])
    actions = np.array([agent.act(None) for _ in range(500)])
    assert actions.dtype == np.float32 and actions.shape == (500, 2)
    assert actions[:, 1].min() >= 0 and actions[:, 0].min() < -0.9 and actions[:, 1].max() > 0.9
    full, same = RandomAgent(space, seed=3), RandomAgent(space, seed=3, low=[-1, -1], high=[1, 1])
    assert np.array_equal(full.act(None), same.act(None))  # explicit full bounds change nothing
    for low, high, match in [
        ([-1, 0, 0], None, "must have 2 entries"),
        ([-2, 0], None, r"must satisfy \[-1.0, -1.0\] <= low <= high <= \[1.0, 1.0\]"),
        ([0.5, 0], [0, 1], "<= low <= high <="),
    ]:
        with pytest.raises(ValueError, match=match):
            RandomAgent(space, low=low, high=high)
    with pytest.raises(ValueError, match="need a Box action space"):
        RandomAgent(gym.spaces.Discrete(4), low=[0])


@pytest.mark.parametrize("g", [1, 2, 3])
def test_twins_are_valid_rotated_episodes(g: int) -> None:
    env = gym.make("eqmbrl/BlockPushing-cubes-v0")
    buf = collect(env, RandomAgent(env.action_space, seed=0), episodes=4, length=5, seed=0)
    assert buf.num_episodes == 4 and len(buf) == 24
    data = episode_tensors(buf, 5)
    assert data["obs"].shape == (4, 6, 3, 50, 50) and data["states"].shape == (4, 6, 5, 2)
    twin_obs, twin_actions = twin_episodes(env, data["actions"], data["states"], g)
    sym, base = env.unwrapped.symmetry, env.unwrapped
    twin_states = sym.act_state(g, data["states"].reshape(-1, 5, 2)).reshape(data["states"].shape)
    for t in range(5):  # the twin follows the env's own dynamics
        assert np.array_equal(step_states(twin_states[:, t], twin_actions[:, t]), twin_states[:, t + 1])
    assert np.array_equal(twin_obs[:, 0], base.render_states(twin_states[:, 0]))
    assert not np.array_equal(twin_obs, data["obs"])  # a real rotation of the scene, not the same frames


def test_episode_scaled_agent() -> None:
    space = gym.spaces.Box(-1, 1, (2,), dtype=np.float32)
    agent = RandomAgent(space, seed=0, low=[-1, 0], scale="episode")
    factors = []
    for _ in range(50):
        agent.reset()
        actions = np.array([agent.act(None) for _ in range(200)])
        assert actions[:, 1].min() >= 0  # scaling towards 0 keeps the limited box
        peak = np.abs(actions).max()
        assert 0.9 * agent.factor < peak <= agent.factor + 1e-6  # one factor bounds the whole episode
        factors.append(agent.factor)
    assert min(factors) < 0.1 and max(factors) > 0.9  # factors spread over (0, 1)
    plain, scaled = RandomAgent(space, seed=5), RandomAgent(space, seed=5, scale="episode")
    assert np.array_equal(plain.act(None), scaled.act(None))  # before reset(): factor 1, same stream
    with pytest.raises(ValueError, match="needs a Box action range that contains 0"):
        RandomAgent(space, low=[0.5, 0.5], scale="episode")
    with pytest.raises(ValueError, match="needs a Box action range that contains 0"):
        RandomAgent(gym.spaces.Discrete(4), scale="episode")
    with pytest.raises(ValueError, match="action scale"):
        RandomAgent(space, scale="half")
