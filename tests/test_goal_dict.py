"""Goal envs as Dict observations for SB3 (envs/goal_dict.py): HER's reward equals the env's, the
world-model extractor encodes both images, DQN + HER learns with it."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from stable_baselines3 import DQN, HerReplayBuffer
from stable_baselines3.common.env_checker import check_env

import envs  # noqa: F401  (registers the eqmbrl/ ids)
from agents.sb3 import WorldModelExtractor, policy_kwargs
from envs.goal_dict import GoalDictObservation
from tests.helpers import TINY_WIDTHS
from worldmodels.world_model import WorldModel, build_world_model


def _model() -> WorldModel:
    torch.manual_seed(0)
    return build_world_model(
        "sen", group="C4", action_encoding="directions", in_channels=3, image_size=50, slots=5, **TINY_WIDTHS
    )


@pytest.mark.parametrize("style", ["shapes", "cubes"])
def test_relabelled_rewards_equal_the_envs_own(style: str) -> None:
    env = GoalDictObservation(gym.make(f"eqmbrl/BlockPushingGoal-{style}-v0", episode_steps=20))
    check_env(env, skip_render_check=True)
    obs, _ = env.reset(seed=3)
    assert np.array_equal(obs["desired_goal"], env.unwrapped.goal_obs) and np.array_equal(
        obs["achieved_goal"], obs["observation"]
    )
    achieved, desired, rewards = [], [], []
    rng = np.random.default_rng(0)
    for _ in range(60):
        obs, reward, terminated, truncated, _ = env.step(int(rng.integers(env.action_space.n)))
        achieved.append(obs["achieved_goal"])
        desired.append(obs["desired_goal"])
        rewards.append(reward)
        if terminated or truncated:
            obs, _ = env.reset()
    batch = env.compute_reward(np.stack(achieved), np.stack(desired), None)  # as HER calls it: [B, ...]
    assert batch.shape == (60,) and np.allclose(batch, rewards)
    assert env.compute_reward(achieved[0], achieved[0], None) == 0.0  # a reached goal


def test_envs_that_cannot_score_image_goals_are_refused() -> None:
    with pytest.raises(ValueError, match="is not a goal env"):
        GoalDictObservation(gym.make("eqmbrl/BlockPushing-shapes-v0"))
    with pytest.raises(ValueError, match="has no goal_reward"):
        GoalDictObservation(gym.make("eqmbrl/TeapotGoal-v0"))


def test_extractor_encodes_observation_and_goal_side_by_side() -> None:
    env = GoalDictObservation(gym.make("eqmbrl/BlockPushingGoal-shapes-v0"))
    model = _model()
    extractor = WorldModelExtractor(env.observation_space, world_model=model)
    plain = WorldModelExtractor(env.observation_space["observation"], world_model=model)
    assert extractor.features_dim == 2 * plain.features_dim
    obs = {k: torch.rand(3, 3, 50, 50) for k in ("observation", "achieved_goal", "desired_goal")}
    features = extractor(obs)
    torch.testing.assert_close(features[:, : plain.features_dim], plain(obs["observation"]))
    torch.testing.assert_close(features[:, plain.features_dim :], plain(obs["desired_goal"]))
    with pytest.raises(ValueError, match="needs 'observation' and 'desired_goal'"):
        WorldModelExtractor(gym.spaces.Dict({"image": env.observation_space["observation"]}), world_model=model)


@pytest.mark.slow  # SB3 training
def test_dqn_with_her_learns_on_world_model_features() -> None:
    env = GoalDictObservation(gym.make("eqmbrl/BlockPushingGoal-shapes-v0", episode_steps=10))
    algo = DQN(
        "MultiInputPolicy",
        env,
        replay_buffer_class=HerReplayBuffer,
        learning_starts=50,
        batch_size=16,
        buffer_size=500,
        policy_kwargs=policy_kwargs("worldmodel", "dqn", world_model=_model(), freeze=False),
        seed=0,
    )
    before = [p.detach().clone() for p in algo.policy.q_net.parameters()]
    algo.learn(200)
    assert algo.num_timesteps == 200 and algo.replay_buffer.size() > 0
    assert any(not torch.equal(a, b) for a, b in zip(before, algo.policy.q_net.parameters()))


def test_memoised_extractor_encodes_each_image_once_with_the_same_features() -> None:
    env = GoalDictObservation(gym.make("eqmbrl/BlockPushingGoal-shapes-v0"))
    model = _model()
    plain = WorldModelExtractor(env.observation_space, world_model=model)
    memo = WorldModelExtractor(env.observation_space, world_model=model, memoize=True)
    images = torch.randint(0, 256, (4, 3, 50, 50)).float() / 255  # as SB3 hands them over
    calls: list[int] = []
    encode = memo.world_model.encode
    memo.world_model.encode = lambda x: calls.append(len(x)) or encode(x)  # type: ignore[method-assign]
    obs = {"observation": images[[0, 1, 2]], "achieved_goal": images[[0, 1, 2]], "desired_goal": images[[3, 3, 0]]}
    torch.testing.assert_close(memo(obs), plain(obs))
    assert sum(calls) == 4  # four distinct images among six
    later = {"observation": images[[2, 3]], "achieved_goal": images[[2, 3]], "desired_goal": images[[1, 0]]}
    torch.testing.assert_close(memo(later), plain(later))
    assert sum(calls) == 4  # all seen before: nothing encoded
    tuned = WorldModelExtractor(env.observation_space, world_model=model, memoize=True, freeze=False)
    assert tuned.memo is None  # a world model that changes is never memoised
