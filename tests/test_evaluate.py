"""eqmbrl.evaluate and eqmbrl.load: fresh-episode scores of finished runs."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from eqmbrl.evaluate import evaluate, needs_directions, standard_error
from eqmbrl.load import load_run
from tests.helpers import finished_run

TINY_GOALS = ("experiment=debug", "agent.episodes=0", "agent.eval_episodes=1", "trainer.train_directions=[0,2,3]")


def test_standard_error_is_the_sample_std_over_root_n() -> None:
    assert standard_error([1.0, 0.0, 1.0, 0.0]) == pytest.approx(np.std([1, 0, 1, 0], ddof=1) / 2)
    assert standard_error([3.0]) == 0.0


def test_a_goal_needs_a_direction_when_some_object_moves_that_way() -> None:
    start = np.array([[2, 2], [0, 0]])
    left = np.array([[2, 1], [0, 0]])  # object 0 one column left
    down_right = np.array([[3, 2], [0, 1]])  # object 0 one row down, object 1 one column right
    assert needs_directions(start, left, (1,))  # 1 = left
    assert not needs_directions(start, left, (0, 2, 3))
    assert needs_directions(start, down_right, (2,)) and needs_directions(start, down_right, (3,))
    assert not needs_directions(start, down_right, (0, 1))
    assert not needs_directions(start, start, (0, 1, 2, 3))


@pytest.fixture(scope="module")
def goal_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return finished_run(tmp_path_factory.mktemp("goal_run"), *TINY_GOALS)


@pytest.mark.slow
def test_fresh_goals_split_by_distance_and_unseen_direction_reproducibly(goal_run: Path) -> None:
    first = evaluate(goal_run, episodes=4)
    assert json.loads((goal_run / "evaluate.json").read_text()) == pytest.approx(first, nan_ok=True)
    assert first["episodes"] == 12  # 4 goals at each of the distances 1, 2, 3
    assert first["goals_seen"] + first["goals_unseen"] == 12 and first["goals_unseen"] > 0
    parts = [first[f"success_d{d}"] for d in (1, 2, 3)]
    assert first["success"] == pytest.approx(np.mean(parts))
    assert {"random_success", "still_success"} <= set(first)
    assert evaluate(goal_run, episodes=4) == pytest.approx(first, nan_ok=True)  # same fresh goals, same scores
    other = evaluate(goal_run, episodes=4, seed_base=60_000_000)
    assert other["seed_base"] == 60_000_000 and math.isfinite(other["success"])


@pytest.mark.slow
def test_load_run_opens_the_agent_the_run_trained(goal_run: Path) -> None:
    with load_run(goal_run) as run:
        assert run.goal and run.max_steps == 10 and run.agent is not None and run.model is not None
        obs, _ = run.env.reset(seed=5, options={"goal_distance": 1})
        run.agent.reset()  # the episode's goal image goes to the planner
        assert run.env.action_space.contains(run.agent.act(obs))


def test_runs_that_failed_or_have_no_agent_are_refused(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="is not an eqmbrl run dir"):
        load_run(tmp_path)
    (tmp_path / ".hydra").mkdir()
    (tmp_path / ".hydra" / "config.yaml").write_text("seed: 0\n")
    (tmp_path / "FAILED").write_text("RuntimeError: boom\n")
    with pytest.raises(ValueError, match="failed: RuntimeError: boom"):
        load_run(tmp_path)
    (tmp_path / "FAILED").unlink()
    with pytest.raises(ValueError, match="has not finished"):
        load_run(tmp_path)


@pytest.mark.slow
def test_a_world_model_only_run_has_nothing_to_evaluate(tmp_path: Path) -> None:
    finished_run(tmp_path, "experiment=debug", "agent=none")
    with pytest.raises(ValueError, match="agent=none"):
        evaluate(tmp_path, episodes=1)
    assert not (tmp_path / "evaluate.json").exists()
