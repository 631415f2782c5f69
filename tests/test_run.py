"""``python -m eqmbrl.run``: end to end on a tiny config (in-process, and once as a CLI), and config
errors that name the problem before anything is built."""

import dataclasses
import json
import logging
import math
from pathlib import Path

import gymnasium as gym
import pytest
import torch
from hydra.errors import ConfigCompositionException, MissingConfigException
from omegaconf import OmegaConf

import envs  # noqa: F401  (registers the eqmbrl/ ids for the tests that make envs directly)
from eqmbrl.core.checkpoint import load_checkpoint
from eqmbrl.core.logger import Logger
from eqmbrl.data import RunData
from eqmbrl.report import scalars
from eqmbrl.run import configured_model_kwargs, env_shape, model_kwargs, settings_of
from eqmbrl.trainer import DivergedError, WorldModelTrainer
from tests.helpers import ROOT, cli, cli_async, compose_config, run_in_process
from worldmodels.world_model import build_world_model


@pytest.mark.parametrize(
    "variant,env,extra",
    [("full", "shapes", []), pytest.param("sen", "reacher", ["trainer.rollout_steps=3"], marks=pytest.mark.slow)],
)
def test_run_end_to_end(tmp_path: Path, variant: str, env: str, extra: list[str]) -> None:
    metrics = run_in_process(tmp_path, "experiment=debug", f"worldmodel={variant}", f"env={env}", *extra)
    for key in ("hits@1/1step", "mrr/10step", "ee", "die/1step", "train_loss"):
        assert key in metrics and math.isfinite(metrics[key]), key  # present, not NaN or inf
    assert (tmp_path / "checkpoint.pt").is_file() and (tmp_path / "buffer.npz").is_file()
    assert list((tmp_path / "tb").glob("events.out.tfevents.*"))
    if env == "reacher":
        assert metrics["reward_mse"] > 0.0  # the reward head is trained and evaluated on Reacher
    # the model benchmarks time for these overrides is the one the run built and saved
    configured = configured_model_kwargs("experiment=debug", f"worldmodel={variant}", f"env={env}", *extra)[0]
    saved = load_checkpoint(tmp_path / "checkpoint.pt")["model_kwargs"]
    assert {k: saved[k] for k in configured} == configured


@pytest.mark.slow  # a subprocess
def test_cli_smoke(tmp_path: Path) -> None:
    """The real command line: Hydra's run dir, the checkpoint with its build kwargs, the summary."""
    out = tmp_path / "run"
    res = cli("experiment=debug", f"hydra.run.dir={out}", cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    assert (
        "== eqmbrl: " in res.stdout
        and "TensorBoard: tensorboard --logdir" in res.stdout
        and "hits@1/1step" in json.loads((out / "metrics.json").read_text())
    )
    assert (out / ".hydra" / "config.yaml").is_file()


def test_buffer_reuse_leaves_the_file_untouched(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    run_in_process(first, "experiment=debug", "trainer.epochs=1")
    before = (first / "buffer.npz").read_bytes()
    run_in_process(second, "experiment=debug", "trainer.epochs=1", f"trainer.buffer_path={first / 'buffer.npz'}")
    assert (first / "buffer.npz").read_bytes() == before
    assert not (second / "buffer.npz").exists()


@pytest.mark.parametrize(
    "override,expected",
    [
        ("worldmodel=xyz", "Could not find 'worldmodel/xyz'"),
        ("env=nope", "Could not find 'env/nope'"),
        ("worldmodel.hidden=abc", "Error merging override worldmodel.hidden=abc"),
        ("worldmodel.foo=1", "Could not override 'worldmodel.foo'"),
        ("trainer.epochs=1.5", "Error merging override trainer.epochs=1.5"),
    ],
)
def test_composition_errors_name_the_key(override: str, expected: str) -> None:
    with pytest.raises(ConfigCompositionException, match=expected.replace("(", r"\(")):
        compose_config("experiment=debug", override)


@pytest.mark.parametrize(
    "override,expected",
    [
        ("device=tpu", "unknown device 'tpu'; allowed: auto, cpu, cuda, cuda:N"),
        ("trainer.lr=-1", "trainer.lr must be > 0, got -1"),
        ("trainer.lr_schedule=step", "unknown trainer.lr_schedule 'step'; allowed: constant, cosine"),
        ("trainer.batch_size=0", "trainer.batch_size must be >= 1, got 0"),
        ("trainer.epochs=0", "trainer.epochs must be >= 1, got 0"),
        ("trainer.min_epochs=-1", "trainer.min_epochs must be >= 0, got -1"),
        ("trainer.target_acc=101", r"trainer.target_acc must be in \(0, 100\].*target_acc=101"),
        ("trainer.rollout_steps=0", "trainer.rollout_steps must be >= 1, got 0"),
        ("trainer.reward_refit_steps=-1", "trainer.reward_refit_steps must be >= 0, got -1"),
        ("trainer.rollout_steps=99", r"trainer.rollout_steps must be <= trainer.episode_length \(10\), got 99"),
        ("worldmodel.variant=big", "unknown worldmodel.variant 'big'; allowed: sen, none, full"),
        ("worldmodel.reward_from=after", "unknown worldmodel.reward_from 'after'; allowed: state, next"),
        ("worldmodel.latent=0", "worldmodel.latent must be >= 1, got 0"),
        ("worldmodel.sigma=0", "worldmodel.sigma must be > 0, got 0"),
        ("worldmodel.embedding=fancy", "unknown worldmodel.embedding 'fancy'; allowed: remap, conv"),
        ("worldmodel.action_cost=-1", "worldmodel.action_cost must be >= 0, got -1"),
        ("worldmodel.inverse_weight=-1", "worldmodel.inverse_weight must be >= 0, got -1"),
        ("worldmodel.state_weight=-2", "worldmodel.state_weight must be >= 0, got -2"),
    ],
)
def test_value_errors_fail_before_anything_is_built(tmp_path: Path, override: str, expected: str) -> None:
    with pytest.raises(ValueError, match=expected):
        run_in_process(tmp_path, "experiment=debug", override)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["FAILED", "metrics.json"]  # marked; no tb/, no buffer


def test_target_accuracy_needs_validation(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"trainer.target_acc must be in \(0, 100\] with trainer.patience > 0"):
        run_in_process(tmp_path, "experiment=debug", "trainer.patience=0", "trainer.target_acc=99")


def test_target_accuracy_needs_successor_accuracy(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="trainer.target_acc needs an env with successor accuracy"):
        run_in_process(
            tmp_path, "experiment=debug", "env=reacher", "agent=none", "trainer.patience=2", "trainer.target_acc=99"
        )
    assert not (tmp_path / "checkpoint.pt").exists()  # refused before any epoch


def test_missing_buffer_is_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="/nonexistent/buffer.npz"):
        run_in_process(tmp_path, "experiment=debug", "trainer.buffer_path=/nonexistent/buffer.npz")


@pytest.mark.slow  # a subprocess
def test_cli_reports_a_bad_value(tmp_path: Path) -> None:
    res = cli(
        "experiment=debug",
        "agent=cem",
        "env=reacher",
        "agent.episodes=-1",
        f"hydra.run.dir={tmp_path / 'r'}",
        cwd=tmp_path,
    )
    assert res.returncode != 0 and "agent.episodes must be >= 0, got -1" in res.stderr + res.stdout
    assert not (tmp_path / "r" / "tb").exists()


def test_early_stopping_keeps_the_best_validation_checkpoint(tmp_path: Path) -> None:
    """Training stops ``patience`` epochs after the best validation score, whose weights are kept;
    goal envs report successor accuracy. With patience 1 a run stops at the first epoch (from
    ``min_epochs`` on) whose validation score is no new best: checked against the logged scores."""
    common = ("experiment=debug", "env=shapes_goal", "agent=none", "trainer.epochs=20", "trainer.patience=1")
    metrics = run_in_process(tmp_path, *common, "trainer.min_epochs=0")
    n = int(metrics["epochs"])
    assert n < 20  # stopped early on this tiny, noisy problem
    steps, acc = scalars(tmp_path, "val/successor_acc")  # percent of the validation transitions, every epoch
    assert steps.tolist() == list(range(1, n + 1))
    assert all(acc[e] > acc[:e].max() for e in range(1, n - 1)) and acc[n - 1] <= acc[: n - 1].max()
    assert load_checkpoint(tmp_path / "checkpoint.pt")["epoch"] == n - 1 - 1  # 0-based best epoch
    cfg = compose_config(*common)
    hits = metrics["successor_acc"] / 100 * cfg.trainer.eval_episodes * cfg.trainer.eval_length
    assert hits == pytest.approx(round(hits), abs=1e-6)  # a percentage of the evaluation transitions
    later = run_in_process(tmp_path / "min", *common, "trainer.min_epochs=8")
    n = int(later["epochs"])
    _, acc = scalars(tmp_path / "min", "val/successor_acc")
    assert 8 <= n < 20  # not before min_epochs, still early
    assert all(acc[e - 1] > acc[: e - 1].max() for e in range(8, n)) and acc[n - 1] <= acc[: n - 1].max()


def test_target_accuracy_stops_at_the_first_epoch_that_reaches_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """``trainer.target_acc`` ends training at the first epoch (from ``min_epochs`` on) whose validation
    successor accuracy reaches it, long before ``patience`` would: checked against the logged scores,
    and the log says why it stopped."""
    common = ("experiment=debug", "env=shapes_goal", "agent=none", "trainer.epochs=20", "trainer.patience=20")
    with caplog.at_level(logging.INFO, logger="eqmbrl"):
        metrics = run_in_process(tmp_path, *common, "trainer.min_epochs=2", "trainer.target_acc=5")
    n = int(metrics["epochs"])
    _, acc = scalars(tmp_path, "val/successor_acc")
    assert len(acc) == n < 20
    reached = [e + 1 for e in range(len(acc)) if acc[: e + 1].max() >= 5 and e + 1 >= 2]
    assert reached and reached[0] == n
    assert f"stopped early after epoch {n}: validation successor accuracy" in caplog.text
    assert "reached trainer.target_acc=5" in caplog.text


def test_cosine_lr_schedule_by_hand(tmp_path: Path) -> None:
    """``trainer.lr_schedule=cosine`` trains epoch e at lr (1 + cos(pi e / epochs)) / 2; the loss still falls."""
    metrics = run_in_process(
        tmp_path, "experiment=debug", "agent=none", "trainer.epochs=4", "trainer.lr_schedule=cosine"
    )
    steps, lrs = scalars(tmp_path, "train/lr")
    assert steps.tolist() == [1, 2, 3, 4]
    expected = [5e-4 * (1 + math.cos(math.pi * e / 4)) / 2 for e in range(4)]  # 5e-4, 4.27e-4, 2.5e-4, 0.73e-4
    assert lrs == pytest.approx(expected, rel=1e-6)
    _, losses = scalars(tmp_path, "wm/loss")
    assert losses[-1] < losses[0] and metrics["epochs"] == 4


def test_refits_after_a_cosine_fit_use_the_base_lr(tmp_path: Path) -> None:
    """Online refits train at ``trainer.lr``, not at the last cosine epoch's near-zero rate."""
    cfg = compose_config("experiment=debug", "trainer.lr_schedule=cosine", "trainer.epochs=2")
    env = gym.make(cfg.env.id, **cfg.env.kwargs)
    model = build_world_model(**model_kwargs(cfg, env))
    settings = settings_of(cfg).trainer
    trainer = WorldModelTrainer(env, model, Logger(tmp_path / "tb"), tmp_path, settings)
    buffer, _ = trainer.pretrain(RunData(env, settings, tmp_path))
    assert trainer.opt.param_groups[0]["lr"] == pytest.approx(5e-4 * (1 + math.cos(math.pi / 2)) / 2)
    trainer.refit(buffer, 1)
    assert trainer.opt.param_groups[0]["lr"] == 5e-4


@pytest.mark.slow  # two Reacher runs end to end
def test_reward_head_refit_moves_only_the_head_and_lowers_its_error(tmp_path: Path) -> None:
    """``trainer.reward_refit_steps``: after the epochs, the reward head alone is refit on the frozen
    model; every other weight is the one the same run without the refit keeps."""
    common = ("experiment=debug", "env=reacher", "trainer.epochs=2")
    run_in_process(tmp_path / "plain", *common)
    run_in_process(tmp_path / "refit", *common, "trainer.reward_refit_steps=200")
    plain, refit = (load_checkpoint(tmp_path / name / "checkpoint.pt") for name in ("plain", "refit"))
    assert refit["reward_refit_steps"] == 200 and "reward_refit_steps" not in plain
    head = [k for k in plain["model"] if k.startswith("reward_head.")]
    assert head and all(not torch.equal(plain["model"][k], refit["model"][k]) for k in head if "weight" in k)
    assert all(torch.equal(v, refit["model"][k]) for k, v in plain["model"].items() if k not in head)
    (_, before), (_, after) = (scalars(tmp_path / "refit", f"reward_refit/mse_{w}") for w in ("before", "after"))
    assert after[0] < 0.75 * before[0]  # the head fits the frozen latents better than joint training left it


def test_reward_refit_needs_a_reward_head(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="trainer.reward_refit_steps=5 needs a reward head"):
        run_in_process(tmp_path, "experiment=debug", "env=shapes", "trainer.reward_refit_steps=5")


def test_divergence_is_caught_and_the_run_marked_failed(tmp_path: Path) -> None:
    with pytest.raises(DivergedError, match=r"not finite at gradient steps \d+\.\.\d+ .*trainer.lr=1e\+06 is too high"):
        run_in_process(tmp_path, "experiment=debug", "trainer.lr=1e6", "trainer.epochs=20")
    assert "DivergedError" in (tmp_path / "FAILED").read_text()
    assert "failed" in json.loads((tmp_path / "metrics.json").read_text())


@pytest.mark.slow  # three subprocesses
def test_runs_never_share_or_reuse_a_dir(tmp_path: Path) -> None:
    """Two runs started at once get their own dirs; a used ``hydra.run.dir`` is refused before
    anything in it changes."""
    procs = [cli_async("experiment=debug", "trainer.epochs=1", cwd=tmp_path) for _ in range(2)]
    assert all(p.wait(timeout=600) == 0 for p in procs)
    runs = sorted(tmp_path.glob("outputs/*/*"))
    assert len(runs) == 2 and all((r / "metrics.json").is_file() for r in runs)
    before = {p: p.read_bytes() for p in runs[0].rglob("*") if p.is_file()}
    res = cli("experiment=debug", f"hydra.run.dir={runs[0]}", cwd=tmp_path)
    assert res.returncode != 0 and f"run dir {runs[0]} already holds" in res.stderr + res.stdout
    assert {p: p.read_bytes() for p in runs[0].rglob("*") if p.is_file()} == before


def test_internal_schemas_are_not_choices() -> None:
    """Only real options are offered: ``worldmodel=schema`` or ``agent=mpc`` do not exist."""
    for override in ("worldmodel=schema", "agent=mpc", "agent=sb3", "trainer=schema"):
        with pytest.raises(MissingConfigException, match="Could not find"):
            compose_config("experiment=debug", override)


def test_state_head_needs_env_state_points(tmp_path: Path) -> None:
    """A trainer refuses a model with a state head on an env that has no state_points to train it on;
    run.py derives state_points = 0 from such an env, so the build fails first."""

    env = gym.make("eqmbrl/BlockPushing-shapes-v0")
    assert env_shape(env).state_points == 0
    kwargs = {
        **dataclasses.asdict(env_shape(env)),
        "slots": 1,
        "cnn_channels": 4,
        "embed_hidden": 8,
        "latent": 8,
        "hidden": 8,
    }
    with pytest.raises(ValueError, match="needs an env whose unwrapped env has state_points"):
        build_world_model(**kwargs, state_weight=1.0)
    model = build_world_model(**{**kwargs, "state_points": 2}, state_weight=1.0)
    with pytest.raises(ValueError, match="BlockPushingEnv has no state_points"):
        WorldModelTrainer(env, model, Logger(tmp_path / "tb"), tmp_path)
    env.close()


ALTERNATIVE = {  # a different value for each world-model option an env config sets, valid for every env
    "slots": lambda v: v + 1,
    "maps_per_slot": lambda v: v + 1,
    "map_size": lambda v: v // 2 if v % 2 == 0 else v * 2,
    "stride": lambda v: 1,
    "masks_per_slot": lambda v: v + 1,
    "embedding": lambda v: "remap" if v == "conv" else "conv",
    "reward_weight": lambda v: v + 0.5,
}
ENV_CONFIGS = sorted(p.stem for p in (ROOT / "configs" / "env").glob("*.yaml"))


@pytest.mark.parametrize("env_name", ENV_CONFIGS)
def test_command_line_wins_over_the_env_configs_world_model_options(env_name: str) -> None:
    """Every ``worldmodel.*`` option an env config sets is overridden by the command line: the model
    built for the override has the new value (the env's value is its default, not a second owner)."""
    options = OmegaConf.load(ROOT / "configs" / "env" / f"{env_name}.yaml").get("worldmodel", {})  # none: inherited
    assert set(options) <= set(ALTERNATIVE), f"add the new option to ALTERNATIVE: {set(options) - set(ALTERNATIVE)}"
    default = compose_config("experiment=debug", f"env={env_name}")
    env = gym.make(default.env.id, **default.env.kwargs)
    try:
        for key, value in options.items():
            assert getattr(settings_of(default).worldmodel, key) == value  # the env's default applies
            new = ALTERNATIVE[key](value)
            cfg = compose_config("experiment=debug", f"env={env_name}", f"worldmodel.{key}={new}")
            model = build_world_model(**model_kwargs(cfg, env))
            assert getattr(model.settings, key) == new != value, key
    finally:
        env.close()
