"""``python -m eqmbrl.run``: train and evaluate a world model, then optionally an agent on it.

Without ``agent=...`` the run trains and evaluates the world model on random data. With
``agent=cem|mppi|search`` that is the seed phase of the online MPC loop (:mod:`eqmbrl.online`);
with ``agent=ppo|sac`` the pretraining of the SB3 policy's features (:mod:`eqmbrl.rl`).

Outputs go to the Hydra run dir: ``tb/`` (TensorBoard), ``checkpoint.pt``, ``buffer.npz``,
``metrics.json``, the agent's own files, and Hydra's ``.hydra/`` record of the config.
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import gymnasium as gym
import hydra
import numpy as np
import torch
from hydra import compose, initialize_config_module
from hydra.core.config_store import ConfigStore
from hydra.core.hydra_config import HydraConfig
from hydra.utils import get_class, instantiate
from omegaconf import DictConfig, OmegaConf

from agents.planners import CEM, MPPI, DiscreteSearch, Planner
from eqmbrl.core.checkpoint import write_json
from eqmbrl.core.choices import check_choice
from eqmbrl.core.config import EnvConfig, register
from eqmbrl.core.logger import Logger
from eqmbrl.core.rundir import HYDRA_FILES, check_fresh
from eqmbrl.core.symmetry import env_contract
from eqmbrl.online import OnlineMPC, check_online_values
from eqmbrl.rl import SB3Learner, check_sb3_values
from eqmbrl.trainer import WorldModelTrainer, check_reward_refit, check_trainer_values
from worldmodels.world_model import build_world_model, check_world_model_values

RUN_ARGS = ("env", "model", "logger", "out_dir", "seed")
PLANNER_ARGS = ("action_dim", "num_actions", "low", "high", "device", "seed")
DERIVED = {
    "worldmodel": (
        "group",
        "action_encoding",
        "action_dim",
        "in_channels",
        "image_size",
        "slots",
        "maps_per_slot",
        "map_size",
        "stride",
        "masks_per_slot",
        "reward_weight",
        "action_cost",
        "inverse_weight",
        "state_points",
    ),
    "trainer": RUN_ARGS,
    "agent/mpc": (*RUN_ARGS, "trainer"),
    "agent/sb3": (*RUN_ARGS, "trainer"),
    **{f"planner/{name}": PLANNER_ARGS for name in ("cem", "mppi", "search")},
}


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
        "worldmodel": build_world_model,
        "trainer": WorldModelTrainer,
        "agent/mpc": OnlineMPC,
        "agent/sb3": SB3Learner,
        "planner/cem": CEM,
        "planner/mppi": MPPI,
        "planner/search": DiscreteSearch,
    },
    DERIVED,
)
ConfigStore.instance().store(name="base", node=RunConfig)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def resolve_device(name: str, quiet: bool = False) -> torch.device:
    """``auto`` -> cuda if available else cpu; ``cuda`` without a GPU falls back to cpu with a warning."""
    check_choice("device", name.split(":")[0] if name.startswith("cuda:") else name, ("auto", "cpu", "cuda", "cuda:N"))
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        if not quiet:
            print(f"device {name!r} requested but CUDA is not available; using cpu")
        return torch.device("cpu")
    return torch.device(name)


def env_model_kwargs(env: gym.Env) -> dict[str, Any]:
    """What the world model must know about the env (derived, never written back into the config)."""
    obs, act = env.observation_space, env.action_space
    discrete = isinstance(act, gym.spaces.Discrete)
    obs_shape = cast(tuple[int, ...], obs.shape)  # image Box, never None
    return dict(
        group=env_contract(env).symmetry.group.name,
        in_channels=obs_shape[0],
        image_size=obs_shape[-1],
        action_encoding="directions" if discrete else "torques",
        action_dim=1 if discrete else cast(tuple[int, ...], act.shape)[0],
        state_points=int(getattr(env.unwrapped, "num_state_points", 0)),  # 0: no state head possible
    )


def model_kwargs(cfg: DictConfig, env: gym.Env) -> dict[str, Any]:
    """``build_world_model`` kwargs of the composed ``cfg`` for ``env``: ``worldmodel.*`` (its
    ``variant`` included), then what the env implies, then ``env.model.*`` (the env's layout wins)."""
    worldmodel = cast(dict[str, Any], OmegaConf.to_container(cfg.worldmodel))
    worldmodel.pop("_target_")
    return {**worldmodel, **env_model_kwargs(env), **cfg.env.model}


def compose_config(*overrides: str) -> DictConfig:
    """The config ``python -m eqmbrl.run *overrides`` would run (composition errors raise here)."""
    with initialize_config_module(config_module="configs", version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides))


def configured_model_kwargs(*overrides: str) -> tuple[dict[str, Any], DictConfig]:
    """``build_world_model`` kwargs and the config of ``python -m eqmbrl.run *overrides`` (the env is
    made once to read its spaces), e.g. for benchmarks that must time the models runs build."""
    import envs  # noqa: F401  (registers the eqmbrl/ gymnasium ids)

    cfg = compose_config(*overrides)
    env = gym.make(cfg.env.id, **cfg.env.kwargs)
    try:
        return model_kwargs(cfg, env), cfg
    finally:
        env.close()


def format_metrics(metrics: dict[str, float]) -> str:
    return "\n".join(f"  {k:<24} {v:10.4f}" for k, v in metrics.items())


def build_planner(config: Any, space: gym.Space | None, seed: int) -> Planner:
    """Instantiate a planner config (``_target_`` and arguments) for the action ``space``, adding
    what the planner must know about it (never written in configs) and the seed. ``space=None``
    builds it for a stand-in space of its kind: a check of the configured values alone."""
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


def check_values(cfg: DictConfig) -> None:
    """Every value check that needs no env or model, so a bad value fails before anything is built."""
    resolve_device(cfg.device, quiet=True)

    def values(section: Any) -> dict[str, Any]:
        return cast(dict[str, Any], OmegaConf.to_container(section))

    sections: list[tuple[dict[str, Any], Callable[..., None]]] = [
        # the env's layout wins over worldmodel.*, as in the build
        ({**values(cfg.worldmodel), **values(cfg.env.model)}, check_world_model_values),
        (values(cfg.trainer), check_trainer_values),
    ]
    if cfg.agent is not None:
        target = get_class(cfg.agent._target_)
        sections.append((values(cfg.agent), check_online_values if target is OnlineMPC else check_sb3_values))
        if target is OnlineMPC:
            build_planner(cfg.agent.planner, None, cfg.seed)
    for section, check in sections:
        names = inspect.signature(build_world_model if check is check_world_model_values else check).parameters
        check(**{k: v for k, v in section.items() if k in names})
    check_reward_refit(cfg.trainer.reward_refit_steps, sections[0][0].get("reward_weight", 0.0))
    if cfg.agent is not None and cfg.agent.get("final_reward_refit") and not cfg.trainer.reward_refit_steps:
        raise ValueError("agent.final_reward_refit=true needs trainer.reward_refit_steps > 0 (the refit's length)")


def run(cfg: DictConfig, out: Path, resume: bool = False) -> dict[str, float]:
    """The whole run of a composed config, writing into ``out``; returns the final metrics.

    Value checks first (nothing is built for a bad value), then the env, the model and the agent
    (whose own checks need the env), then data and training. ``metrics.json`` is written here only.
    ``out`` must hold nothing but Hydra's files, unless ``resume`` (see :mod:`eqmbrl.resume`).
    """
    check_values(cfg)
    if not resume:
        check_fresh(out, HYDRA_FILES)
    import envs  # noqa: F401  (registers the eqmbrl/ gymnasium ids)

    logging.getLogger("OpenGL").setLevel(logging.WARNING)
    seed_everything(cfg.seed)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    env = gym.make(cfg.env.id, **cfg.env.kwargs)
    try:
        metrics = _run_in(env, cfg, out)
    except BaseException as err:  # KeyboardInterrupt too: the run dir must not look finished
        mark_failed(out, err)
        raise
    finally:
        env.close()
    print(f"final metrics ({cfg.env.id}, {cfg.worldmodel.variant}) -> {out / 'metrics.json'}")
    print(format_metrics(metrics))
    return metrics


def _run_in(env: gym.Env, cfg: DictConfig, out: Path) -> dict[str, float]:
    start = time.monotonic()
    model = build_world_model(**model_kwargs(cfg, env)).to(resolve_device(cfg.device))
    logger = Logger(out / "tb")
    run_args = dict(env=env, model=model, logger=logger, out_dir=out, seed=cfg.seed)
    # with an agent, world-model training is its first phase: tags pretrain/... by epoch, apart from
    # the agent's own by env step
    trainer = instantiate(
        cfg.trainer, **{**run_args, "logger": logger if cfg.agent is None else logger.child("pretrain")}
    )
    agent = None if cfg.agent is None else build_agent(cfg.agent, trainer, **run_args)
    logger.hparams(cast(dict[str, Any], OmegaConf.to_container(cfg, resolve=True)))
    eval_data = trainer.eval_data()
    metrics = trainer.fit(trainer.collect(), eval_data) if agent is None else agent.run(eval_data)
    write_json(out / "metrics.json", metrics)
    # apart from the metrics, which a resumed run reproduces exactly; this process only
    write_json(out / "timing.json", {"wall_minutes": (time.monotonic() - start) / 60})
    logger.close()
    return metrics


def mark_failed(out: Path, err: BaseException) -> None:
    """Mark ``out`` as a failed run: a ``FAILED`` file and ``metrics.json`` with the error (result
    scripts skip such runs)."""
    message = f"{type(err).__name__}: {err}"
    out.mkdir(parents=True, exist_ok=True)
    (out / "FAILED").write_text(message + "\n")
    write_json(out / "metrics.json", {"failed": message})


def build_agent(config: DictConfig, trainer: WorldModelTrainer, **run_args: Any) -> OnlineMPC | SB3Learner:
    """The agent of ``config`` (``agent=cem|mppi|search|ppo|sac``); MPC agents get their planner built here."""
    kwargs = cast(dict[str, Any], OmegaConf.to_container(config, resolve=True))
    cls = get_class(kwargs.pop("_target_"))
    if cls is OnlineMPC:
        kwargs["planner"] = build_planner(config.planner, run_args["env"].action_space, run_args["seed"])
    return cls(**kwargs, **run_args, trainer=trainer)


@hydra.main(config_path="pkg://configs", config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> dict[str, float]:
    """``python -m eqmbrl.run [overrides]``: :func:`run` in Hydra's run directory."""
    return run(cfg, Path(HydraConfig.get().runtime.output_dir))


if __name__ == "__main__":
    main()
