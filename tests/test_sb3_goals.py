"""SB3 on goal envs in the product (``agent=dqn``, ``agent.goal_observation``, ``agent.her``): the
config errors, and a tiny DQN + HER run that logs success and that ``eqmbrl.evaluate`` scores on
the same fresh goals as latent search."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from stable_baselines3 import DQN, HerReplayBuffer
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from agents.sb3 import WorldModelExtractor
from eqmbrl.core.seeds import FRESH_ENV
from eqmbrl.evaluate import evaluate_run, fresh_runs
from eqmbrl.load import load_run
from eqmbrl.rl import PolicyAgent
from tests.helpers import DQN_HER_TINY, finished_run, run_in_process


@pytest.mark.parametrize(
    "overrides,expected",
    [
        (
            ("env=shapes", "agent=dqn", "agent.goal_observation=true"),
            "agent.goal_observation=true: eqmbrl/BlockPushing-shapes-v0 is not a goal env",
        ),
        (("env=shapes_goal", "agent=dqn", "agent.her=true"), "agent.her=true .* set agent.goal_observation=true"),
        (
            ("env=shapes_goal", "agent=ppo", "agent.goal_observation=true", "agent.her=true"),
            "agent.algo=ppo \\(on-policy\\) has none: use agent=dqn",
        ),
        (
            ("env=shapes_goal", "agent=dqn", "agent.goal_observation=true", "agent.features=nature_cnn"),
            "it needs features=worldmodel",
        ),
    ],
)
def test_goal_and_her_errors_name_the_key(tmp_path: Path, overrides: tuple[str, ...], expected: str) -> None:
    with pytest.raises(ValueError, match=expected) as info:
        run_in_process(tmp_path, "experiment=debug", *overrides)
    assert "\n" not in str(info.value)
    assert not (tmp_path / "buffer.npz").exists()  # refused before any data


class GoalSpy:
    """A policy agent that keeps the goal image of each episode's first observation."""

    def __init__(self, agent: PolicyAgent) -> None:
        self.agent, self.goals, self.fresh = agent, [], True

    def reset(self) -> None:
        self.fresh = True

    def act(self, obs: dict[str, np.ndarray]) -> Any:
        if self.fresh:
            self.goals.append(obs["desired_goal"].copy())
            self.fresh = False
        return self.agent.act(obs)


def test_dqn_her_run_logs_success_and_is_scored_on_the_fresh_goals_of_latent_search(tmp_path: Path) -> None:
    out = finished_run(tmp_path / "run", *DQN_HER_TINY)
    metrics = json.loads((out / "metrics.json").read_text())
    assert {"success", "success_d1", "success_d2", "success_d3", "random_success"} <= set(metrics)
    tags: set[str] = set()
    for events in (out / "tb").glob("events.out.tfevents.*"):  # ours and SB3's logger's
        acc = EventAccumulator(str(events))
        acc.Reload()
        tags |= set(acc.Tags()["scalars"])
    assert {"eval/success", "eval/success_d1", "rollout/exploration_rate"} <= tags

    with load_run(out) as run:
        assert run.goal and run.max_steps == 5 and isinstance(run.agent, PolicyAgent)
        algo = run.agent.algo
        assert isinstance(algo, DQN) and algo.replay_buffer_class is HerReplayBuffer
        assert any(isinstance(m, WorldModelExtractor) for m in algo.policy.modules())  # goal Dicts: never cached
        spy = GoalSpy(run.agent)
        run.agent = spy
        scores = evaluate_run(run, episodes=2)
        runs = fresh_runs(run, 2, FRESH_ENV)
    assert scores["episodes"] == 6 and {"success_d1", "success_d2", "success_d3", "still_success"} <= set(scores)
    # latent search's goals (eqmbrl.evaluate's seeds; EpisodeActor reads env.goal_obs on reset)
    assert [o for _, o in runs] == [{"goal_distance": d} for d in (1, 2, 3) for _ in range(2)]
    env = gym.make("eqmbrl/BlockPushingGoal-shapes-v0", episode_steps=20)
    for (seed, options), seen in zip(runs, spy.goals, strict=True):
        env.reset(seed=seed, options=options)
        assert np.array_equal(seen, env.unwrapped.goal_obs)
    env.close()
