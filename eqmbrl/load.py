"""Open a finished run: its config, env, world model and agent, as the run itself had them.

    run = load_run("outputs/2026-12-07/10-00-00_shapes_goal_sen_123")
    obs, _ = run.env.reset(seed=1)
    action = run.agent.act(obs)

The one place that turns a run directory back into objects (``eqmbrl.evaluate``, ``eqmbrl.reproduce``
and ``eqmbrl.diagnostics`` all open runs here). What is loaded:

- the config: ``RUN_DIR/.hydra/config.yaml``, validated as :func:`eqmbrl.run.settings_of` does;
- the env: ``gym.make(env.id, **env.kwargs)`` of that config (all of the run's env kwargs);
- the world model: ``checkpoint_final.pt`` (after an online phase), else ``checkpoint.pt`` (after
  world-model training), else ``world_model.pt`` (the SB3 runs' features), eval mode;
- the agent (``act(obs)``), none for world-model-only runs: for ``agent=cem|mppi|search`` the
  configured planner on the loaded model, noise-free, setting the goal of goal envs on each reset;
  for ``agent=ppo|sac|dqn`` the SB3 policy from ``sb3_model.zip``, its ``env`` the view of the pixel
  env that policy acts in (:func:`eqmbrl.rl.policy_env`): a frozen-features run with
  ``agent.cache_latents=true`` (the default) learnt on latent observations, so the pixel env wrapped in
  :class:`agents.sb3.LatentObservation` with the run's world model; an ``agent.goal_observation=true``
  run the goal Dict (:class:`envs.goal_dict.GoalDictObservation`), which ``HerReplayBuffer`` runs also
  need to be loaded at all (SB3's ``load(path, env=...)``).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import gymnasium as gym
from omegaconf import DictConfig, OmegaConf

from eqmbrl.collect import Agent
from eqmbrl.online import EpisodeActor, mpc_agent
from eqmbrl.rl import PolicyAgent, policy_env
from eqmbrl.run import Settings, build_planner, make_env, resolve_device, settings_of
from eqmbrl.settings import ALGOS, OnlineSettings, SB3Settings
from worldmodels.persistence import load_world_model
from worldmodels.world_model import WorldModel

CHECKPOINTS = ("checkpoint_final.pt", "checkpoint.pt", "world_model.pt")  # in the order they are looked for


@dataclasses.dataclass
class TrainedRun:
    """A finished run, opened by :func:`load_run`. ``env`` is what ``agent`` acts in."""

    path: Path
    cfg: DictConfig
    settings: Settings
    env: gym.Env
    model: WorldModel | None
    agent: Agent | None

    @property
    def seed(self) -> int:
        return int(self.cfg.seed)

    @property
    def goal(self) -> bool:
        """Whether the agent is scored on reaching goals rather than on its return: MPC agents with
        ``agent.objective=goal``, and SB3 agents on goal envs (whether or not they see the goal)."""
        agent = self.settings.agent
        if isinstance(agent, SB3Settings):
            return bool(getattr(self.env.unwrapped, "goal_conditioned", False))
        return isinstance(agent, OnlineSettings) and agent.objective == "goal"

    @property
    def max_steps(self) -> int | None:
        """The agent's episode cap (``agent.max_steps``; None: the env's own end)."""
        agent = self.settings.agent
        return None if agent is None else agent.max_steps

    def close(self) -> None:
        self.env.close()

    def __enter__(self) -> TrainedRun:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def run_config(path: str | Path) -> DictConfig:
    """The composed config of the run in ``path`` (``.hydra/config.yaml``), with a one-line error if it is none."""
    config = Path(path) / ".hydra" / "config.yaml"
    if not config.is_file():
        raise FileNotFoundError(f"{path} is not an eqmbrl run dir: {config} does not exist")
    cfg = OmegaConf.load(config)
    assert isinstance(cfg, DictConfig)
    return cfg


def check_finished(path: str | Path) -> None:
    """A ``ValueError`` naming why the run in ``path`` cannot be opened as finished (failed, or still running)."""
    path = Path(path)
    if (path / "FAILED").is_file():
        raise ValueError(f"run {path} failed: {(path / 'FAILED').read_text().strip()}")
    if not (path / "metrics.json").is_file():
        raise ValueError(f"run {path} has not finished (no metrics.json): wait, or continue it with eqmbrl.resume")


def world_model_file(path: Path) -> Path:
    """The run's latest world-model checkpoint (see :data:`CHECKPOINTS`)."""
    for name in CHECKPOINTS:
        if (path / name).is_file():
            return path / name
    raise FileNotFoundError(f"run {path} has no world-model checkpoint (looked for {', '.join(CHECKPOINTS)})")


def load_run(path: str | Path, device: str = "cpu", seed: int | None = None) -> TrainedRun:
    """Open the finished run in ``path`` (module doc). ``seed`` seeds the planner (default: the run's)."""
    import envs  # noqa: F401  (registers the eqmbrl/ gymnasium ids)

    path = Path(path)
    cfg = run_config(path)
    check_finished(path)
    settings = settings_of(cfg)
    dev = resolve_device(device, quiet=True)
    seed = int(cfg.seed) if seed is None else seed
    env = make_env(cfg)
    try:
        agent_settings = settings.agent
        uses_model = not (isinstance(agent_settings, SB3Settings) and agent_settings.features != "worldmodel")
        model = load_world_model(world_model_file(path), map_location=dev) if uses_model else None
        agent: Agent | None = None
        if isinstance(agent_settings, OnlineSettings):
            assert model is not None
            planner = build_planner(agent_settings.planner, env.action_space, seed)
            agent = EpisodeActor(mpc_agent(model, planner, agent_settings, seed), env, explore=False)
        elif isinstance(agent_settings, SB3Settings):
            zip_file = path / "sb3_model.zip"
            if not zip_file.is_file():
                raise FileNotFoundError(f"run {path} has no sb3_model.zip (the SB3 policy it saves at its end)")
            env = policy_env(env, agent_settings, model)
            agent = PolicyAgent(ALGOS[agent_settings.algo].load(zip_file, env=env, device=dev))
    except BaseException:
        env.close()
        raise
    return TrainedRun(path, cfg, settings, env, model, agent)
