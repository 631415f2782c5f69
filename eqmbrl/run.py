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
from pathlib import Path
from typing import Any

import gymnasium as gym
import hydra
import numpy as np
import torch
from hydra.core.config_store import ConfigStore
from hydra.core.hydra_config import HydraConfig
from hydra.utils import get_class, instantiate
from omegaconf import DictConfig, OmegaConf

from eqmbrl.config import EnvConfig, register
from agents.planners import CEM, MPPI, DiscreteSearch
from eqmbrl.logger import Logger
from eqmbrl.online import OnlineMPC
from eqmbrl.rl import SB3Learner
from eqmbrl.trainer import WorldModelTrainer
from worldmodels.world_model import build_world_model

RUN_ARGS = ("env", "model", "logger", "out_dir", "seed")
PLANNER_ARGS = ("action_dim", "num_actions", "low", "high", "device", "seed")
DERIVED = {
    "worldmodel": ("group", "action_encoding", "action_dim", "in_channels", "image_size",
                   "slots", "maps_per_slot", "map_size", "stride", "masks_per_slot", "reward_weight"),
    "trainer": RUN_ARGS,
    "agent/mpc": (*RUN_ARGS, "trainer"),
    "agent/sb3": (*RUN_ARGS, "trainer", "model_kwargs"),
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


register({"worldmodel": build_world_model, "trainer": WorldModelTrainer,
          "agent/mpc": OnlineMPC, "agent/sb3": SB3Learner,
          "planner/cem": CEM, "planner/mppi": MPPI, "planner/search": DiscreteSearch}, DERIVED)
ConfigStore.instance().store(name="base", node=RunConfig)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def resolve_device(name: str) -> torch.device:
    """``auto`` -> cuda if available else cpu; ``cuda`` without a GPU falls back to cpu with a warning."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        print(f"device {name!r} requested but CUDA is not available; using cpu")
        return torch.device("cpu")
    if name.split(":")[0] not in ("cpu", "cuda"):
        raise ValueError(f"unknown device {name!r}; allowed: auto, cpu, cuda, cuda:N")
    return torch.device(name)


def env_model_kwargs(env: gym.Env) -> dict[str, Any]:
    """What the world model must know about the env (derived, never written back into the config)."""
    obs, act = env.observation_space, env.action_space
    discrete = isinstance(act, gym.spaces.Discrete)
    return dict(group=env.unwrapped.symmetry.group.name, in_channels=obs.shape[0], image_size=obs.shape[-1],
                action_encoding="directions" if discrete else "torques", action_dim=1 if discrete else act.shape[0])


def format_metrics(metrics: dict[str, float]) -> str:
    return "\n".join(f"  {k:<24} {v:10.4f}" for k, v in metrics.items())


@hydra.main(config_path="pkg://configs", config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> dict[str, float]:
    import envs  # noqa: F401  (registers the eqmbrl/ gymnasium ids)

    logging.getLogger("OpenGL").setLevel(logging.WARNING)
    seed_everything(cfg.seed)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    out = Path(HydraConfig.get().runtime.output_dir)
    env = gym.make(cfg.env.id, **cfg.env.kwargs)
    model_kwargs = {**OmegaConf.to_container(cfg.worldmodel), **env_model_kwargs(env), **cfg.env.model}
    model_kwargs.pop("_target_")
    model = build_world_model(**model_kwargs).to(resolve_device(cfg.device))
    logger = Logger(out / "tb")
    logger.hparams(OmegaConf.to_container(cfg, resolve=True))
    run_args = dict(env=env, model=model, logger=logger, out_dir=out, seed=cfg.seed)
    trainer = instantiate(cfg.trainer, **run_args)
    if cfg.agent is None:
        metrics = trainer.run()
    else:
        takes = inspect.signature(get_class(cfg.agent._target_)).parameters
        extra = {"model_kwargs": model_kwargs} if "model_kwargs" in takes else {}
        metrics = instantiate(cfg.agent, trainer=trainer, _recursive_=False, **run_args, **extra).run()
    logger.close()
    print(f"final metrics ({cfg.env.id}, {cfg.worldmodel.variant}) -> {out / 'metrics.json'}")
    print(format_metrics(metrics))
    return metrics


if __name__ == "__main__":
    main()
