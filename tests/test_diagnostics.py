"""eqmbrl.diagnostics on hand-made models whose answers are known, and on tiny finished runs."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from agents.planners import CEM
from envs.block_pushing import BlockPushingEnv
from envs.reacher import ReacherPixelsEnv
from eqmbrl.collect import StillAgent, evaluate_agent, run_episode
from eqmbrl.core.seeds import DIAGNOSTICS_ENV
from eqmbrl.core.types import to_float_images
from eqmbrl.diagnostics import directions, horizon, oracle, probe
from eqmbrl.diagnostics.common import fresh_runs, result_path
from eqmbrl.load import load_run
from tests.helpers import finished_run, python

DEBUG = ("experiment=debug", "trainer.episodes=4", "trainer.eval_episodes=4", "trainer.epochs=1")
REACHER_TINY = (  # experiment=reacher_mpc at a few seconds: 10 env steps per episode, 32 x 32 images
    "experiment=reacher_mpc",
    *DEBUG[1:],
    "trainer.eval_length=5",
    "trainer.batch_size=16",
    "trainer.val_episodes=2",
    "worldmodel.latent=16",
    "worldmodel.hidden=32",
    "worldmodel.cnn_channels=8",
    "+env.kwargs.image_size=32",
    "+env.kwargs.episode_steps=20",
    "agent.episodes=0",
    "agent.eval_episodes=1",
    "agent.planner.population=16",
    "agent.planner.elites=4",
    "agent.planner.iterations=1",
    "agent.planner.horizon=3",
)


class CellModel(nn.Module):
    """A world model of one-object block pushing whose answers are known: the latent ``[B, 1, 2]``
    is the object's cell, read off the image by matching the renders of all 25 cells, and the
    transition is the env's own dynamics. ``blind``: every latent is 0 and nothing ever moves."""

    device = torch.device("cpu")

    def __init__(self, env: BlockPushingEnv, blind: bool = False) -> None:
        super().__init__()
        cells = np.array([[[r, c]] for r in range(env.width) for c in range(env.width)])  # [25, 1, 2]
        self.cells = torch.from_numpy(cells).float()
        self.templates = to_float_images(torch.from_numpy(env.render_states(cells))).flatten(1)  # [25, 3 H W]
        self.env, self.blind = env, blind

    def encode(self, obs: torch.Tensor) -> torch.Tensor:
        if self.blind:
            return torch.zeros(len(obs), 1, 2)
        return self.cells[torch.cdist(obs.flatten(1), self.templates).argmin(1)]

    def step(self, z: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        if self.blind:
            return z
        return torch.from_numpy(self.env.step_states(z.round().long().numpy(), actions.numpy())).float()

    def energy(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return (x - y).pow(2).flatten(1).sum(1)


@pytest.fixture(scope="module")
def one_block() -> BlockPushingEnv:
    return BlockPushingEnv(render_style="shapes", num_objects=1, image_size=25)


@pytest.fixture(scope="module")
def cubes_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A world-model-only 3D cubes run trained without left pushes."""
    out = tmp_path_factory.mktemp("cubes") / "run"
    return finished_run(out, *DEBUG, "env=cubes", "agent=none", "trainer.train_directions=[0,2,3]")


@pytest.fixture(scope="module")
def goal_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A shapes goal-reaching run whose latent search (agent=search, horizon 2) never acted online."""
    return finished_run(tmp_path_factory.mktemp("goal") / "run", *DEBUG, "agent.episodes=0", "agent.eval_episodes=1")


@pytest.fixture(scope="module")
def reacher_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return finished_run(tmp_path_factory.mktemp("reacher") / "run", *REACHER_TINY)


def _files(run: Path) -> dict[Path, tuple[int, bytes]]:
    return {f: (f.stat().st_mtime_ns, f.read_bytes()) for f in run.rglob("*") if f.is_file()}


# ----------------------------------------------------------------------------- directions
def test_an_exact_model_is_right_in_every_direction(one_block: BlockPushingEnv) -> None:
    acc = directions.successor_by_direction(CellModel(one_block), one_block, episodes=20)
    assert acc == {"up": 1.0, "left": 1.0, "down": 1.0, "right": 1.0}


def test_a_blind_model_is_right_only_where_up_does_the_same(one_block: BlockPushingEnv) -> None:
    """All predictions tie, so the model names action 0 (up) every time: every up push is a hit, no
    down push is (up and down are never both blocked on 5 rows), a left or right one only when the
    block sits in a top corner (up and the push both blocked)."""
    acc = directions.successor_by_direction(CellModel(one_block, blind=True), one_block, episodes=20)
    assert acc["up"] == 1.0 and acc["down"] == 0.0
    assert 0.0 <= acc["left"] < 0.3 and 0.0 <= acc["right"] < 0.3


def test_directions_of_a_run_from_python_and_the_cli(cubes_run: Path) -> None:
    before = _files(cubes_run)
    with load_run(cubes_run) as run:
        loaded = directions.successor_by_direction(run, episodes=8)
    assert set(loaded) == {"up", "left", "down", "right"} and all(0.0 <= v <= 1.0 for v in loaded.values())
    assert directions.successor_by_direction(cubes_run, episodes=8) == loaded  # a run dir: the same episodes
    printed = directions.main([str(cubes_run), "--episodes", "8"])
    assert printed == loaded == json.loads((cubes_run / "diagnostics" / "directions.json").read_text())
    assert {f: v for f, v in _files(cubes_run).items() if "diagnostics" not in f.parts} == before  # only read


def test_results_never_go_over_the_runs_files(tmp_path: Path) -> None:
    assert result_path(tmp_path, "probe") == tmp_path / "diagnostics" / "probe.json"
    assert result_path(tmp_path, "probe", "probe_alpha10.json") == tmp_path / "diagnostics" / "probe_alpha10.json"
    for bad in ("../metrics.json", "metrics.txt"):
        with pytest.raises(ValueError, match="--out must be a file name ending in .json"):
            result_path(tmp_path, "probe", bad)
    assert fresh_runs(2, [1, 3]) == [(DIAGNOSTICS_ENV + i, {"goal_distance": d}) for d in (1, 3) for i in range(2)]


# ----------------------------------------------------------------------------- probe
def test_ridge_r2_by_hand() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 6))
    train = np.arange(400) < 300
    linear = x @ rng.normal(size=(6, 3)) + 5.0  # a linear function of the latent: read off exactly
    assert probe.ridge_r2(x, linear, train) == pytest.approx(1.0, abs=1e-3)
    assert probe.ridge_r2(x, rng.normal(size=(400, 2)), train) < 0.05  # independent of it: nothing to read
    half = np.concatenate([linear[:, :1], rng.normal(size=(400, 1)) * linear[:, :1].std()], 1)
    assert probe.ridge_r2(x, half, train) == pytest.approx(0.5, abs=0.1)  # pooled: half the variance explained


def test_probe_reads_the_cell_off_an_exact_latent(one_block: BlockPushingEnv) -> None:
    exact = probe.probe(CellModel(one_block), one_block, episodes=10, length=10)["positions"]
    assert exact == pytest.approx(1.0, abs=1e-3)  # all but the ridge penalty's shrinkage
    assert probe.probe(CellModel(one_block, blind=True), one_block, episodes=10, length=10)["positions"] < 0.05


def test_probe_of_a_run(cubes_run: Path) -> None:
    r2 = probe.main([str(cubes_run), "--episodes", "6", "--length", "5", "--out", "probe_small.json"])
    assert set(r2) == {"positions"} and np.isfinite(r2["positions"]) and r2["positions"] <= 1.0
    assert json.loads((cubes_run / "diagnostics" / "probe_small.json").read_text()) == r2


# ----------------------------------------------------------------------------- oracle
def test_goal_scorer_by_hand() -> None:
    env = BlockPushingEnv(render_style="shapes", image_size=25)
    state = np.array([[0, 0], [0, 1], [2, 2], [4, 4], [3, 0]])
    goal = state.copy()
    goal[2] = [1, 2]  # object 2 one cell up: action 4 * 2 + 0
    score = oracle.goal_scorer(env.step_states, state, goal, reduce="final")
    values = score(torch.arange(20)[:, None])  # every one-step plan
    assert values.argmax() == 8 and values[8] == 0.0
    assert values[10] == -4.0  # object 2 down: two cells off the goal, squared
    assert values[0] == -1.0  # object 0 up is blocked: the state stays one cell off


def test_oracle_reaches_every_goal(goal_run: Path) -> None:
    """The run's own search (horizon 2, 10 steps) on the true dynamics reaches all goals 1-3 moves away."""
    scores = oracle.main([str(goal_run), "--episodes", "10"])
    assert [scores[f"success_d{d}"] for d in (1, 2, 3)] == [1.0, 1.0, 1.0] and scores["success"] == 1.0
    assert json.loads((goal_run / "diagnostics" / "oracle.json").read_text()) == scores


def test_reacher_scorer_is_the_envs_return() -> None:
    env = ReacherPixelsEnv(image_size=16, target_radius=0.02, action_repeat=2)
    scorer = oracle.ReacherScorer(env)
    assert scorer.substeps == 2  # Reacher-v5's frame skip, measured
    assert oracle.scorer_gap(env, scorer) < 1e-5  # the arm stays inside its joint range
    assert oracle.scorer_gap(env, scorer, seed=9, steps=24) < oracle.SCORER_TOLERANCE  # the elbow passes 3 rad
    env.reset(seed=3)
    scorer.set_start(env.mj_data)
    plans = torch.rand(4, 5, 2, generator=torch.Generator().manual_seed(0)) * 2 - 1
    returns = scorer(plans)
    assert returns.shape == (4,) and torch.equal(returns, scorer(plans))  # a copy of the state: never moved
    env.close()


def test_reacher_oracle_beats_doing_nothing() -> None:
    env = ReacherPixelsEnv(image_size=16, target_radius=0.02, action_repeat=2, episode_steps=20)
    scorer = oracle.ReacherScorer(env)

    def from_now() -> oracle.ReacherScorer:
        scorer.set_start(env.mj_data)
        return scorer

    agent = oracle.OracleAgent(CEM(5, 2, population=64, elites=8, iterations=3), from_now)
    runs = fresh_runs(2)
    planned = evaluate_agent(env, agent, runs)["return"]
    assert planned > evaluate_agent(env, StillAgent(env.action_space), runs)["return"] + 0.5
    env.close()


# ----------------------------------------------------------------------------- horizon
def test_horizon_needs_a_reward_mpc_run(goal_run: Path, cubes_run: Path) -> None:
    with load_run(goal_run) as run, pytest.raises(ValueError, match="needs objective=reward"):
        horizon.return_by_horizon(run)
    with load_run(cubes_run) as run, pytest.raises(ValueError, match="has no MPC agent"):
        horizon.return_by_horizon(run)


@pytest.mark.slow  # MuJoCo training end to end
def test_reacher_run_diagnostics(reacher_run: Path) -> None:
    """On a finished Reacher MPC run: at the run's own horizon the diagnostic is the run's agent; the
    probe has every Reacher target; the simulator oracle plans with the run's CEM."""
    scores = horizon.main([str(reacher_run), "--horizons", "1", "3", "--episodes", "2"])
    with load_run(reacher_run) as run:
        assert run.agent is not None
        own = [run_episode(run.env, run.agent, run.max_steps, seed)[0] for seed, _ in fresh_runs(2)]
    assert scores["h3"] == pytest.approx(float(np.mean(own)))
    assert {"h1", "h1_std", "h3_std", "random_return", "still_return"} <= set(scores)
    r2 = probe.probe(reacher_run, episodes=6, length=5)
    assert set(r2) == {"angles", "previous_angles", "velocities", "fingertip", "goal", "distance"}
    assert all(np.isfinite(v) and v <= 1.0 for v in r2.values())
    ceiling = oracle.main([str(reacher_run), "--episodes", "1"])
    assert np.isfinite(ceiling["return"]) and "success" not in ceiling


@pytest.mark.slow  # a subprocess
def test_python_m_prints_the_json(goal_run: Path) -> None:
    proc = python("-m", "eqmbrl.diagnostics.directions", str(goal_run), "--episodes", "4", "--out", "dirs.json")
    assert proc.returncode == 0, proc.stderr[-2000:]
    printed = json.loads(proc.stdout[proc.stdout.index("{") :])
    assert printed == json.loads((goal_run / "diagnostics" / "dirs.json").read_text())
    assert set(printed) == {"up", "left", "down", "right"}
