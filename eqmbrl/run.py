"""``python -m eqmbrl.run``: train and evaluate a world model, then optionally an agent on it.

Without ``agent=...`` the run trains and evaluates the world model on random data. With
``agent=cem|mppi|search`` that is the seed phase of the online MPC loop (:mod:`eqmbrl.online`);
with ``agent=ppo|sac|dqn`` the pretraining of the SB3 policy's features (:mod:`eqmbrl.rl`).

Outputs go to the Hydra run dir: ``tb/`` (TensorBoard), ``checkpoint.pt``, ``buffer.npz``,
``metrics.json``, the agent's own files, and Hydra's ``.hydra/`` record of the config.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import time
from pathlib import Path
from typing import Any, cast

import gymnasium as gym
import hydra
import torch
from gymnasium.envs.registration import load_env_creator
from hydra import compose, initialize_config_module
from hydra.core.config_store import ConfigStore
from hydra.core.hydra_config import HydraConfig
from hydra.utils import get_class, instantiate
from omegaconf import DictConfig, OmegaConf

from agents.planners import CEM, MPPI, DiscreteSearch, Planner
from eqmbrl.core import timing as phases  # by module: Hydra's joblib launcher pickles __main__'s globals by value
from eqmbrl.core.checkpoint import write_json
from eqmbrl.core.config import EnvConfig, checked_kwargs, register
from eqmbrl.core.logger import Logger
from eqmbrl.core.progress import log
from eqmbrl.core.rundir import (
    HYDRA_FILES,
    check_fresh,
    failure_message,
    holding_lock,
    stop_on_signals,
    write_run_info,
)
from eqmbrl.core.seeds import seed_everything
from eqmbrl.core.symmetry import env_contract
from eqmbrl.data import RunData
from eqmbrl.online import OnlineMPC
from eqmbrl.rl import SB3Learner, require_reward
from eqmbrl.settings import OnlineSettings, SB3Settings, TrainerSettings, from_config
from eqmbrl.summary import health_warnings, summary
from eqmbrl.trainer import WorldModelTrainer, check_reward_refit
from worldmodels.settings import EnvShape, WorldModelSettings
from worldmodels.world_model import build

PLANNER_ARGS = ("action_dim", "num_actions", "low", "high", "device", "seed")


@dataclasses.dataclass
class RunConfig:
    """Top level of the config: seed (python, numpy, torch, envs), device (auto = cuda if available)
    and torch's CPU threads (default 1: on the 2-core machines 2 threads ran training steps about
    10x slower than 1; 0 leaves torch's default)."""

    seed: int = 0
    device: str = "auto"
    threads: int = 1
    env: EnvConfig = dataclasses.field(default_factory=EnvConfig)
    worldmodel: Any = None
    trainer: Any = None
    agent: Any = None


register(
    {
        "worldmodel": WorldModelSettings,
        "trainer": TrainerSettings,
        "agent/mpc": OnlineSettings,
        "agent/sb3": SB3Settings,
        "planner/cem": CEM,
        "planner/mppi": MPPI,
        "planner/search": DiscreteSearch,
    },
    {f"planner/{name}": PLANNER_ARGS for name in ("cem", "mppi", "search")},
)
ConfigStore.instance().store(name="base", node=RunConfig)


@dataclasses.dataclass(frozen=True)
class Settings:
    """Every section of a composed config as its validated settings object."""

    worldmodel: WorldModelSettings
    trainer: TrainerSettings
    agent: OnlineSettings | SB3Settings | None


DEVICE = re.compile(r"auto|cpu|cuda(:\d+)?")


def resolve_device(name: str, quiet: bool = False) -> torch.device:
    """``auto`` -> cuda if available else cpu; ``cuda`` or ``cuda:N`` without a GPU falls back to cpu
    with a warning; ``cuda:N`` beyond the GPUs there are, or any other name, is refused."""
    if not DEVICE.fullmatch(name):
        raise ValueError(f"unknown device {name!r}; allowed: auto, cpu, cuda, cuda:N (N a GPU index)")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        if not quiet:
            print(f"device {name!r} requested but CUDA is not available; using cpu")
        return torch.device("cpu")
    if ":" in name and int(name.split(":")[1]) >= torch.cuda.device_count():
        raise ValueError(f"device {name!r}: this machine has {torch.cuda.device_count()} GPU(s), cuda:0 to cuda:N-1")
    return torch.device(name)


def make_env(cfg: DictConfig) -> gym.Env:
    """``gymnasium.make(env.id, **env.kwargs)`` of ``cfg``, each kwarg first checked against the env
    class's typed signature (an unknown key or a wrong type names ``env.kwargs.KEY``)."""
    import envs  # noqa: F401  (registers the eqmbrl/ gymnasium ids)

    try:
        spec = gym.spec(cfg.env.id)
    except gym.error.Error as exc:
        raise ValueError(f"unknown env.id {cfg.env.id!r} ({exc})") from None
    kwargs = _values(cfg.env.kwargs)
    entry = spec.entry_point
    if isinstance(entry, str):  # eqmbrl's envs register "module:Class"
        kwargs = checked_kwargs(load_env_creator(entry), kwargs, "env.kwargs")
    return gym.make(cfg.env.id, **kwargs)


def env_shape(env: gym.Env) -> EnvShape:
    """What the world model must know about the env (derived, never written back into the config)."""
    obs, act = env.observation_space, env.action_space
    discrete = isinstance(act, gym.spaces.Discrete)
    obs_shape = cast(tuple[int, ...], obs.shape)  # image Box, never None
    # an env whose actions are neither pushes nor torques names its encoding (the teapot's rotations)
    encoding = getattr(env.unwrapped, "action_encoding", "directions" if discrete else "torques")
    return EnvShape(
        group=env_contract(env).symmetry.group.name,
        in_channels=obs_shape[0],
        image_size=obs_shape[-1],
        action_encoding=encoding,
        action_dim=1 if discrete else cast(tuple[int, ...], act.shape)[0],
        state_points=int(getattr(env.unwrapped, "num_state_points", 0)),  # 0: no state head possible
    )


def _values(section: Any) -> dict[str, Any]:
    return cast(dict[str, Any], OmegaConf.to_container(section, resolve=True))


def model_kwargs(cfg: DictConfig, env: gym.Env) -> dict[str, Any]:
    """Flat ``build_world_model`` kwargs of the composed ``cfg`` for ``env``: the ``worldmodel.*``
    options and what the env implies."""
    settings = from_config(WorldModelSettings, _values(cfg.worldmodel))
    return {**dataclasses.asdict(settings), **dataclasses.asdict(env_shape(env))}


def compose_config(*overrides: str) -> DictConfig:
    """The config ``python -m eqmbrl.run *overrides`` would run (composition errors raise here)."""
    with initialize_config_module(config_module="configs", version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides))


def configured_model_kwargs(*overrides: str) -> tuple[dict[str, Any], DictConfig]:
    """``build_world_model`` kwargs and the config of ``python -m eqmbrl.run *overrides`` (the env is
    made once to read its spaces), e.g. for benchmarks that must time the models runs build."""
    import envs  # noqa: F401  (registers the eqmbrl/ gymnasium ids)

    cfg = compose_config(*overrides)
    env = make_env(cfg)
    try:
        return model_kwargs(cfg, env), cfg
    finally:
        env.close()


def build_planner(config: dict[str, Any], space: gym.Space | None, seed: int) -> Planner:
    """Instantiate a planner config (``_target_`` and arguments) for the action ``space``, adding
    what the planner must know about it (never written in configs) and the seed. ``space=None``
    builds it for a stand-in space of its kind: a check of the configured values alone."""
    config = {**config, "_convert_": "all"}
    cls = get_class(config["_target_"])
    discrete = bool(getattr(cls, "discrete", False))
    if space is None:
        space = gym.spaces.Discrete(4) if discrete else gym.spaces.Box(-1.0, 1.0, (1,))
    if not isinstance(space, gym.spaces.Discrete) and not (isinstance(space, gym.spaces.Box) and len(space.shape) == 1):
        raise ValueError(f"MPC needs a Discrete or 1-d Box action space, got {space}")
    if discrete != isinstance(space, gym.spaces.Discrete):
        raise ValueError(
            f"planner {cls.__name__} does not fit the action space {space}: use agent=search for "
            "block pushing (discrete) and agent=cem or agent=mppi for Reacher (continuous)"
        )
    if discrete:
        assert isinstance(space, gym.spaces.Discrete)  # checked above
        return instantiate(config, num_actions=int(space.n), seed=seed)
    assert isinstance(space, gym.spaces.Box)  # checked above
    return instantiate(
        config, action_dim=int(space.shape[0]), low=space.low.tolist(), high=space.high.tolist(), seed=seed
    )


def settings_of(cfg: DictConfig) -> Settings:
    """Every section of ``cfg`` as its settings object: all value checks that need no env or model,
    so a bad value fails before anything is built, naming its key."""
    resolve_device(cfg.device, quiet=True)
    worldmodel = from_config(WorldModelSettings, _values(cfg.worldmodel))
    trainer = from_config(TrainerSettings, _values(cfg.trainer))
    agent = None if cfg.agent is None else from_config(get_class(cfg.agent._target_), _values(cfg.agent))
    if isinstance(agent, OnlineSettings):
        build_planner(agent.planner, None, cfg.seed)
    check_reward_refit(trainer.reward_refit_steps, worldmodel.reward_weight)
    if isinstance(agent, OnlineSettings) and agent.final_reward_refit and not trainer.reward_refit_steps:
        raise ValueError("agent.final_reward_refit=true needs trainer.reward_refit_steps > 0 (the refit's length)")
    return Settings(worldmodel, trainer, agent)


def run(cfg: DictConfig, out: Path, resume: bool = False) -> dict[str, float]:
    """The whole run of a composed config, writing into ``out``; returns the final metrics.

    Value checks first (nothing is built for a bad value; an existing ``out`` gets only the
    ``FAILED`` marker), then the env, the model and the agent (whose own checks need the env), then
    data and training. ``metrics.json`` is written here only. ``out`` must hold nothing but Hydra's
    files, unless ``resume`` (see :mod:`eqmbrl.resume`). While it runs, ``out/LOCK`` names this
    process (a second process is refused); SIGTERM, SIGHUP and Ctrl-C stop it with ``FAILED`` written.
    """
    if not resume:
        check_fresh(out, HYDRA_FILES)
    try:
        settings = settings_of(cfg)
    except Exception as err:  # a bad value: nothing built; a sweep's job dir is still marked
        if out.is_dir():
            mark_failed(out, err)
        raise
    import envs  # noqa: F401  (registers the eqmbrl/ gymnasium ids)

    logging.getLogger("OpenGL").setLevel(logging.WARNING)
    seed_everything(cfg.seed)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    with holding_lock(out), stop_on_signals():
        if not resume:
            write_run_info(out)
        try:
            env = make_env(cfg)
            try:
                metrics = _run_in(env, cfg, settings, out)
            finally:
                env.close()
        except BaseException as err:  # KeyboardInterrupt and SIGTERM too: the run dir must not look finished
            mark_failed(out, err)
            raise
    print(run_summary(metrics, cfg, settings, out))
    return metrics


def run_summary(metrics: dict[str, float], cfg: DictConfig, settings: Settings, out: Path) -> str:
    """:func:`eqmbrl.summary.summary` of a finished run of ``cfg``."""
    agent = settings.agent
    choice = HydraConfig.get().runtime.choices.get("agent") if HydraConfig.initialized() else None
    name = choice or ("none" if agent is None else type(agent).__name__)
    title = f"eqmbrl: {cfg.env.id}, world model {settings.worldmodel.variant}, agent {name}"
    if agent is None:
        return summary(metrics, title, out)
    goals = agent.goal_distances if "success" in metrics else None  # goal tasks: MPC's goal objective, SB3 on goal envs
    return summary(metrics, title, out, agent.eval_episodes, goals)


def _run_in(env: gym.Env, cfg: DictConfig, settings: Settings, out: Path) -> dict[str, float]:
    start = time.monotonic()
    phases.PHASES.reset()
    with phases.PHASES.phase("model_build"):  # escnn builds its bases here
        model = build(settings.worldmodel, env_shape(env)).to(resolve_device(cfg.device))
    logger = Logger(out / "tb")
    # with an agent, world-model training is its first phase: tags pretrain/... by epoch, apart from
    # the agent's own by env step
    trainer = WorldModelTrainer(
        env=env,
        model=model,
        logger=logger if settings.agent is None else logger.child("pretrain"),
        out_dir=out,
        settings=settings.trainer,
        seed=cfg.seed,
    )
    data = RunData(env, settings.trainer, out, seed=cfg.seed)
    agent = None if settings.agent is None else build_agent(settings.agent, env, trainer, logger, out, cfg.seed)
    logger.hparams(_values(cfg))
    data.eval_data()  # before any training data, as in every run so far (the env's episodes are seeded)
    metrics = trainer.pretrain(data)[1] if agent is None else agent.run(data)
    metrics.update(dict.fromkeys(health_warnings(metrics), 1.0))  # flags for eqmbrl.report; text in the summary
    write_json(out / "metrics.json", metrics)
    logger.hparams_result(_values(cfg), metrics)  # one row of TensorBoard's HParams tab per run
    # apart from the metrics, which a resumed run reproduces exactly; this process only
    timing = phases.PHASES.report(time.monotonic() - start)
    write_json(out / "timing.json", timing)
    log.info(phases.breakdown(timing))
    logger.close()
    return metrics


def mark_failed(out: Path, err: BaseException) -> None:
    """Mark ``out`` as a failed run: a ``FAILED`` file and ``metrics.json`` with the error (result
    scripts skip such runs)."""
    message = failure_message(err)
    out.mkdir(parents=True, exist_ok=True)
    (out / "FAILED").write_text(message + "\n")
    write_json(out / "metrics.json", {"failed": message})


def build_agent(
    settings: OnlineSettings | SB3Settings,
    env: gym.Env,
    trainer: WorldModelTrainer,
    logger: Logger,
    out: Path,
    seed: int,
) -> OnlineMPC | SB3Learner:
    """The agent loop of ``settings`` (``agent=cem|mppi|search|ppo|sac|dqn``); MPC agents get their planner here."""
    if isinstance(settings, OnlineSettings):
        if settings.objective == "reward":
            require_reward(env, "latent MPC with agent.objective=reward")
        planner = build_planner(settings.planner, env.action_space, seed)
        return OnlineMPC(env, trainer, logger, out, planner=planner, settings=settings, seed=seed)
    return SB3Learner(env, trainer, logger, out, settings=settings, seed=seed)


@hydra.main(config_path="pkg://configs", config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> dict[str, float]:
    """``python -m eqmbrl.run [overrides]``: :func:`run` in Hydra's run directory."""
    return run(cfg, Path(HydraConfig.get().runtime.output_dir))


if __name__ == "__main__":
    main()
