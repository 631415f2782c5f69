"""The online MPC loop (``agent=cem|mppi|search``): end to end on tiny configs, logging, errors."""

from pathlib import Path

import numpy as np
import pytest
from hydra.errors import ConfigCompositionException, InstantiationException, MissingConfigException
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from eqmbrl.core.buffer import ReplayBuffer
from eqmbrl.online import OnlineMPC
from tests.helpers import run_in_process

TINY = (
    "experiment=debug",
    "agent.episodes=2",
    "agent.eval_episodes=2",
    "agent.eval_every=1",
    "agent.refit_every=5",
    "agent.refit_steps=3",
    "agent.refit_online_fraction=0.5",
)


def _accumulators(out: Path) -> list[EventAccumulator]:
    """Every event file in ``out/tb``, loaded."""
    accs = [EventAccumulator(str(path)) for path in (out / "tb").glob("events.out.tfevents.*")]
    return [acc.Reload() for acc in accs]


def _tags(out: Path) -> set[str]:
    """Scalar and image tags of every event file in ``out/tb``."""
    return {tag for acc in _accumulators(out) for kind in ("scalars", "images") for tag in acc.Tags()[kind]}


def _steps(out: Path, tag: str) -> list[int]:
    """The TensorBoard steps of the scalar ``tag`` in every event file of ``out/tb``."""
    return [e.step for acc in _accumulators(out) if tag in acc.Tags()["scalars"] for e in acc.Scalars(tag)]


@pytest.mark.parametrize(
    "agent,env",
    [
        ("search", "cubes_goal"),
        pytest.param("cem", "reacher", marks=pytest.mark.slow),  # MuJoCo: seed data, training, online episodes
        pytest.param("mppi", "reacher", marks=pytest.mark.slow),
    ],
)
def test_online_loop_end_to_end(tmp_path: Path, agent: str, env: str) -> None:
    out = tmp_path
    planner = [
        "agent.planner.population=32",
        "agent.planner.elites=4",
        "agent.planner.iterations=2",
        "agent.planner.horizon=3",
    ]
    metrics = run_in_process(
        out, *TINY, f"agent={agent}", f"env={env}", *(planner if agent != "search" else ["agent.planner.horizon=1"])
    )
    seed_rows = len(ReplayBuffer.load(out / "buffer.npz"))
    online = ReplayBuffer.load(out / "buffer_online.npz")
    assert online.num_episodes == 8 + 2 and len(online) > seed_rows  # 8 seed episodes (debug) + 2 online
    assert (out / "checkpoint_final.pt").is_file() and "pretrain/train_loss" in metrics
    tags = _tags(out)
    assert {
        "episode/return",
        "episode/length",
        "planner/seconds_per_action",
        "eval/return",
        "eval/episode",
        "eval/hits@1/1step",
        "wm/loss",  # refits, by env step
        "pretrain/wm/loss",  # the seed phase, by epoch: its own tags
        "pretrain/eval/hits@1/1step",
    } <= tags
    if agent == "search":
        by_distance = [metrics[f"success_d{d}"] for d in (1, 2, 3)]
        assert metrics["success"] == pytest.approx(sum(by_distance) / 3)  # the same episodes per distance
        assert "episode/success" in tags
    else:
        assert np.isfinite([metrics["return"], metrics["random_return"], metrics["still_return"]]).all()
        assert "episode/predicted_return" in tags and "eval/random_return" in tags


HYDRA_ERRORS = {  # the cases Hydra refuses or wraps; every other bad agent value is eqmbrl's own ValueError
    "agent.planner.population=0": InstantiationException,  # the planner's ValueError, raised inside instantiate
    "agent.planner.foo=1": ConfigCompositionException,
    "agent=nope": MissingConfigException,
}


@pytest.mark.parametrize(
    "overrides,expected",
    [
        (("agent=search", "env=cubes"), "needs a goal-conditioned env (env=cubes_goal"),
        (("agent=cem", "env=cubes_goal"), "planner CEM does not fit the action space"),
        (("agent=search", "env=cubes_goal", "agent.planner.population=0"), "population must be >= 1, got 0"),
        (("agent=cem", "env=reacher", "agent.episodes=-1"), "agent.episodes must be >= 0, got -1"),
        (
            ("agent=cem", "env=reacher", "agent.objective=value"),
            "unknown agent.objective 'value'; allowed: reward, goal",
        ),
        (("agent=cem", "env=reacher", "agent.terminal_weight=-1"), "agent.terminal_weight must be >= 0, got -1"),
        (("agent=cem", "env=reacher", "agent.save_every=0"), "agent.save_every must be >= 1, got 0"),
        (
            ("agent=cem", "env=reacher", "agent.refit_online_fraction=1.5"),
            r"agent.refit_online_fraction must be in \[0, 1\], got 1.5",
        ),
        (
            ("agent=cem", "env=reacher", "agent.final_reward_refit=true"),
            r"agent.final_reward_refit=true needs trainer.reward_refit_steps > 0",
        ),
        (("agent=search", "env=cubes_goal", "agent.terminal_weight=1"), "0 with a discrete planner"),
        (("agent=search", "env=cubes_goal", "agent.goal_discount=0"), "agent.goal_discount must be in"),
        (("agent=search", "env=cubes_goal", "agent.goal_reduce=min"), "unknown agent.goal_reduce 'min'"),
        (("agent=cem", "agent.planner.foo=1"), "Could not override 'agent.planner.foo'"),
        (("agent=nope",), "Could not find 'agent/nope'"),
    ],
)
def test_agent_config_errors(tmp_path: Path, overrides: tuple[str, ...], expected: str) -> None:
    error = HYDRA_ERRORS.get(overrides[-1], ValueError)
    with pytest.raises(error, match=expected.replace("(", r"\(")):
        run_in_process(tmp_path, "experiment=debug", *overrides)
    assert not (tmp_path / "buffer.npz").exists()  # failed before collecting anything


REACHER_MPC_TINY = (
    "trainer.epochs=1",
    "trainer.episodes=4",
    "trainer.eval_episodes=4",
    "trainer.eval_length=5",
    "trainer.val_episodes=2",
    "trainer.batch_size=16",
    "worldmodel.latent=16",
    "worldmodel.hidden=32",
    "worldmodel.cnn_channels=8",
    *TINY[1:],
    "agent.max_steps=6",
    "agent.planner.population=16",
    "agent.planner.elites=4",
    "agent.planner.iterations=1",
    "agent.planner.horizon=2",
)


def test_online_state_is_saved_every_k_episodes_and_after_the_last(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``agent.save_every=2`` over 5 episodes: the resume state and the buffer are written after
    episodes 2, 4 and 5 (the last), and the saved buffer holds all 5."""
    saved: list[int] = []
    original = OnlineMPC.save_progress

    def record(self: OnlineMPC, episodes: int, *args: object) -> None:
        saved.append(episodes)
        original(self, episodes, *args)

    monkeypatch.setattr(OnlineMPC, "save_progress", record)
    overrides = [o for o in TINY if not o.startswith(("agent.episodes", "agent.eval_every"))]
    run_in_process(
        tmp_path,
        *overrides,
        "agent=search",
        "env=cubes_goal",
        "agent.planner.horizon=1",
        "agent.episodes=5",
        "agent.eval_every=5",
        "agent.save_every=2",
    )
    assert saved == [2, 4, 5]
    assert ReplayBuffer.load(tmp_path / "buffer_online.npz").num_episodes == 8 + 5  # 8 seed episodes (debug)


@pytest.mark.slow  # MuJoCo training end to end
def test_reacher_mpc_recipe_runs(tmp_path: Path) -> None:
    """``experiment=reacher_mpc`` (RESULTS.md §9) end to end at a tiny budget: episodes of 25 env
    steps (2 physics steps each), the same-episode negatives and the known torque cost in use."""
    metrics = run_in_process(tmp_path, "experiment=reacher_mpc", *REACHER_MPC_TINY)
    seed = ReplayBuffer.load(tmp_path / "buffer.npz")
    assert seed.num_episodes == 4 and len(seed) == 4 * (25 + 1)  # 50 physics steps = 25 env steps
    assert {"pretrain/wm/negative_episode", "pretrain/wm/reward"} <= _tags(tmp_path)
    assert np.isfinite([metrics["return"], metrics["still_return"]]).all()


@pytest.mark.slow  # MuJoCo training end to end
def test_final_reward_refit_refits_the_reward_head_and_evaluates_again(tmp_path: Path) -> None:
    """``agent.final_reward_refit``: after the last online episode the reward head alone is refitted
    (``trainer.reward_refit_steps`` steps, logged at the final env step) and the agent evaluated again."""
    refit = ("trainer.reward_refit_steps=2", "agent.final_reward_refit=true")
    metrics = run_in_process(tmp_path, "experiment=reacher_mpc", *REACHER_MPC_TINY, *refit)
    assert {"reward_refit/mse_before", "reward_refit/mse_after"} <= _tags(tmp_path)
    assert _steps(tmp_path, "reward_refit/mse_after") == [max(_steps(tmp_path, "eval/return"))]  # by env step
    assert np.isfinite(metrics["return"])


@pytest.mark.slow  # MuJoCo training end to end
def test_reacher_limited_torques(tmp_path: Path) -> None:
    """SEN's limited Reacher data: the training and validation torques of the second joint are
    positive only; evaluation data and the MPC agent still use every torque."""
    run_in_process(tmp_path, "experiment=reacher_mpc", *REACHER_MPC_TINY, "trainer.train_action_low=[-1,0]")
    seed = ReplayBuffer.load(tmp_path / "buffer.npz")
    rows = np.concatenate([np.arange(start, start + 25) for start in range(0, len(seed), 26)])
    assert seed.actions[rows, 1].min() >= 0 and seed.actions[rows, 0].min() < -0.5
    online = ReplayBuffer.load(tmp_path / "buffer_online.npz")
    assert online.actions[len(seed) :, 1].min() < 0  # the planner acts with all torques


@pytest.mark.slow  # MuJoCo training end to end
def test_reacher_limited_torques_every_pose(tmp_path: Path) -> None:
    """``trainer.train_reset_options={random_arm: true}``: training episodes start from every arm
    pose (limited torques no longer limit the poses the data holds); evaluation keeps Reacher's."""
    run_in_process(
        tmp_path,
        "experiment=reacher_mpc",
        *REACHER_MPC_TINY,
        "trainer.train_action_low=[-1,0]",
        "trainer.episode_length=5",
        "+trainer.train_reset_options.random_arm=true",
        "agent.episodes=0",
    )
    seed = ReplayBuffer.load(tmp_path / "buffer.npz")
    starts = seed.states[np.arange(0, len(seed), 6), 3]  # q1 at each episode's first frame
    assert len(seed) == 4 * 6 and np.abs(starts).max() > 0.5
    rows = np.concatenate([np.arange(start, start + 5) for start in range(0, len(seed), 6)])
    assert seed.actions[rows, 1].min() >= 0


@pytest.mark.parametrize(
    "override,expected",
    [
        ("trainer.train_action_low=[-1,0,0]", r"trainer.train_action_low/train_action_high: .* must have 2 entries"),
        ("trainer.train_action_high=[1,-2]", "<= low <= high <="),
        ("trainer.train_action_scale=half", "unknown trainer.train_action_scale 'half'; allowed: full, episode"),
        ("+trainer.train_reset_options.random_pose=true", r"trainer.train_reset_options: .*'random_pose'.*random_arm"),
    ],
)
def test_limited_torque_errors(tmp_path: Path, override: str, expected: str) -> None:
    with pytest.raises(ValueError, match=expected):  # checked once the env exists, before any data
        run_in_process(tmp_path, "experiment=reacher_mpc", *REACHER_MPC_TINY, override)
    assert not (tmp_path / "buffer.npz").exists()
