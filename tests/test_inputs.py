"""Inputs checked against their source: buffers name their env, env kwargs their type, the agent its images."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from agents.mpc import MPCAgent
from agents.planners import DiscreteSearch
from eqmbrl.core.buffer import ReplayBuffer
from eqmbrl.run import compose_config, configured_model_kwargs, make_env
from tests.helpers import run_in_process
from worldmodels.world_model import build_world_model


def test_a_buffer_of_another_env_is_refused_naming_both(tmp_path: Path) -> None:
    run_in_process(tmp_path / "shapes", "experiment=debug", "env=shapes", "agent=none")
    buffer = tmp_path / "shapes" / "buffer.npz"
    assert ReplayBuffer.load(buffer).source["id"] == "eqmbrl/BlockPushing-shapes-v0"
    with pytest.raises(
        ValueError, match="recorded in eqmbrl/BlockPushing-shapes-v0.*not in this run's eqmbrl/BlockPushing-cubes-v0"
    ):
        run_in_process(
            tmp_path / "cubes", "experiment=debug", "env=cubes", "agent=none", f"trainer.buffer_path={buffer}"
        )
    assert not (tmp_path / "cubes" / "checkpoint.pt").exists()  # refused before any training
    # the same env takes it
    metrics = run_in_process(
        tmp_path / "again", "experiment=debug", "env=shapes", "agent=none", f"trainer.buffer_path={buffer}"
    )
    assert np.isfinite(metrics["hits@1/1step"])


def test_buffers_without_a_source_still_load(tmp_path: Path) -> None:
    buf = ReplayBuffer(4, (3, 8, 8))
    buf.add(np.zeros((3, 8, 8), np.uint8), 1, 0.0, None, new_episode=True)
    buf.add(np.zeros((3, 8, 8), np.uint8), None, 0.0, None)
    buf.save(tmp_path / "b.npz")
    loaded = ReplayBuffer.load(tmp_path / "b.npz", source={"id": "eqmbrl/X-v0", "kwargs": {}})
    assert loaded.source is None and len(loaded) == 2


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("+env.kwargs.image_size=abc", "env.kwargs.image_size='abc': expected int"),
        ("+env.kwargs.num_objects=[1,2]", "env.kwargs.num_objects=[1, 2]: expected int"),
        ("+env.kwargs.colour=red", "unknown env.kwargs.colour; allowed: render_style, width, num_objects"),
        ("env.id=eqmbrl/Nope-v0", "unknown env.id 'eqmbrl/Nope-v0'"),
    ],
)
def test_env_kwargs_are_checked_naming_the_key(override: str, expected: str) -> None:
    with pytest.raises(ValueError, match=re.escape(expected)):
        make_env(compose_config(override))


def test_env_kwargs_of_the_right_type_pass_converted() -> None:
    env = make_env(compose_config("env.kwargs.episode_steps='20'", "+env.kwargs.allowed_directions=[0,1]"))
    assert env.unwrapped.episode_steps == 20 and env.spec.kwargs["allowed_directions"] == [0, 1]


@pytest.mark.parametrize(
    ("obs", "got"),
    [
        (np.zeros((3, 64, 64), np.uint8), "uint8 [3, 64, 64]"),  # a 64 px image for a 50 px model
        (np.zeros((3, 50, 50), np.float32), "float32 [3, 50, 50]"),
        (np.zeros((1, 3, 50, 50), np.uint8), "uint8 [1, 3, 50, 50]"),  # a batch
    ],
)
def test_the_agent_checks_observations_at_its_boundary(obs: np.ndarray, got: str) -> None:
    kwargs, _ = configured_model_kwargs("experiment=debug")
    agent = MPCAgent(build_world_model(**kwargs), DiscreteSearch(1, 20), objective="goal")
    message = f"MPCAgent: expected one uint8 observation [3, 50, 50] [C, H, W] (the world model's images), got {got}"
    with pytest.raises(ValueError, match=re.escape(message)):
        agent.set_goal(obs)
    with pytest.raises(ValueError, match=re.escape(message)):
        agent.act(obs)
