"""State that composes: every RNG in one helper, and the trainer's, agent's and planners' state dicts
restore an object that then behaves exactly as the saved one would have."""

import copy
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from agents.mpc import MPCAgent
from agents.planners import CEM, MPPI, DiscreteSearch
from eqmbrl.core.buffer import ReplayBuffer
from eqmbrl.core.logger import Logger
from eqmbrl.core.seeds import global_rng_state, set_global_rng_state
from eqmbrl.settings import TrainerSettings
from eqmbrl.trainer import WorldModelTrainer
from tests.helpers import REACHER_MODEL, TINY_WIDTHS
from worldmodels.world_model import build_world_model


def _draws() -> tuple:
    return random.random(), float(np.random.rand()), float(torch.rand(()))


def test_global_rng_state_restores_python_numpy_and_torch() -> None:
    state = global_rng_state()
    first = _draws()
    assert _draws() != first  # the streams move on
    set_global_rng_state(state)
    assert _draws() == first


def _score(plans: torch.Tensor) -> torch.Tensor:
    """A scorer with a known optimum (every action 0.3), read by continuous and discrete plans."""
    return -(plans.float().flatten(1) - 0.3).pow(2).sum(1)


@pytest.mark.parametrize(
    "make",
    [
        lambda: CEM(horizon=3, action_dim=2, population=16, elites=4, iterations=2, seed=3),
        lambda: MPPI(horizon=3, action_dim=2, population=16, elites=4, iterations=2, seed=3),
        lambda: DiscreteSearch(horizon=3, num_actions=8, max_plans=10, population=16, elites=4, iterations=2, seed=3),
    ],
    ids=["cem", "mppi", "search-cem"],
)
def test_planner_state_dict_restores_generator_and_warm_start(make) -> None:
    planner = make()
    planner.plan(_score)  # sets a warm start and moves the generator
    state = copy.deepcopy(planner.state_dict())
    expected = planner.plan(_score)
    restored = make()
    restored.load_state_dict(state)
    assert torch.equal(restored.plan(_score), expected)
    fresh = make()  # without the state the next plan differs: the test can tell
    fresh.plan(_score)
    fresh.reset()
    assert not torch.equal(fresh.plan(_score), expected)


def test_mpc_agent_state_dict_restores_its_exploration_and_planner() -> None:
    torch.manual_seed(0)
    model = build_world_model("sen", **REACHER_MODEL, **TINY_WIDTHS).eval()
    obs = np.random.default_rng(0).integers(0, 256, (6, 64, 64), dtype=np.uint8)

    def agent() -> MPCAgent:
        planner = CEM(horizon=2, action_dim=2, population=16, elites=4, iterations=1, seed=1)
        return MPCAgent(model, planner, exploration_std=0.3, seed=5)

    first = agent()
    first.act(obs)
    state = copy.deepcopy(first.state_dict())
    expected = first.act(obs)
    second = agent()
    second.load_state_dict(state)
    np.testing.assert_array_equal(second.act(obs), expected)


def _buffer() -> ReplayBuffer:
    rng = np.random.default_rng(0)
    buf = ReplayBuffer(44, (3, 50, 50), ())
    for _ in range(4):  # 4 episodes of 10 random pushes on random images
        buf.add_episode(rng.integers(0, 256, (11, 3, 50, 50), dtype=np.uint8), rng.integers(20, size=10))
    return buf


def test_trainer_state_dict_resumes_refits_exactly(tmp_path: Path) -> None:
    """Refit, save (trainer state and every RNG), refit on; a new trainer loaded from the save refits
    to the same weights bit for bit."""
    import gymnasium as gym

    import envs  # noqa: F401

    env = gym.make("eqmbrl/BlockPushing-shapes-v0")
    settings = TrainerSettings(batch_size=8)

    def trainer(seed: int) -> WorldModelTrainer:
        torch.manual_seed(seed)  # different initial weights: the load must replace them
        model = build_world_model("sen", **TINY_WIDTHS)
        return WorldModelTrainer(env, model, Logger(tmp_path / f"tb{seed}"), tmp_path, settings)

    buf, first = _buffer(), trainer(0)
    first.refit(buf, 2)
    saved, rngs = copy.deepcopy(first.state_dict()), global_rng_state()
    first.refit(buf, 3)
    second = trainer(1)
    second.load_state_dict(saved)
    set_global_rng_state(rngs)
    second.refit(buf, 3)
    assert second.steps == first.steps == 5
    for (name, a), b in zip(first.model.state_dict().items(), second.model.state_dict().values()):
        assert torch.equal(a, b), name
    env.close()
