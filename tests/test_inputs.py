"""Inputs checked against their source: buffers name the env they were recorded in."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from eqmbrl.core.buffer import ReplayBuffer
from eqmbrl.run import compose_config, make_env
from tests.helpers import run_in_process


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
