"""SAC env steps per second on Reacher from pixels, side by side (one torch thread).

    .venv/bin/python bench/bench_sac.py [--steps 600] [--repeats 3]

Variants, each SAC with the default `agent=sac` settings (batch 128, one gradient step per env step)
on `env=reacher` (6 x 64 x 64, the default world model of `worldmodel=sen`, randomly initialised:
speed does not depend on the weights):

- ``cached latents``: frozen world model, each observation encoded once in the env
  (``agents.sb3.LatentObservation``), MLP policy on the features (``agent.cache_latents=true``);
- ``frozen extractor``: the same frozen world model inside SAC's actor, critic and target critic
  (``agent.cache_latents=false``), each encoding every batch;
- ``nature_cnn``: SB3's NatureCNN, trained by SAC (the baseline);
- ``env + encode only``: no SAC at all, random actions through the cached-latent env (MuJoCo step,
  render and one encode per step): the ceiling of any SAC on cached latents.

Each timing is ``--steps`` env steps after ``learning_starts`` (so gradient steps run), round-robin
over the variants, ``--repeats`` times; prints the median steps/s and the ratio to ``nature_cnn``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any, cast

import gymnasium as gym
import torch
from hydra import compose, initialize_config_module
from omegaconf import OmegaConf
from stable_baselines3 import SAC

import envs  # noqa: F401  (registers the eqmbrl/ ids)
from agents.sb3 import LatentObservation, policy_kwargs
from eqmbrl.run import env_model_kwargs
from worldmodels.persistence import save_world_model
from worldmodels.world_model import WorldModel, build_world_model

STARTS = 200


def reacher_model(env: gym.Env) -> WorldModel:
    """The default ``env=reacher worldmodel=sen`` world model (random weights)."""
    with initialize_config_module(config_module="configs", version_base="1.3"):
        cfg = compose(config_name="config", overrides=["env=reacher"])
    kwargs = {**cast(dict[str, Any], OmegaConf.to_container(cfg.worldmodel)), **env_model_kwargs(env), **cfg.env.model}
    kwargs.pop("_target_")
    return build_world_model(**kwargs)


def make(variant: str, model: WorldModel, path: str) -> SAC:
    env = gym.make("eqmbrl/Reacher-pixels-v0")
    common: dict[str, Any] = dict(buffer_size=20_000, batch_size=128, learning_starts=STARTS, seed=0, verbose=0)
    if variant == "cached latents":
        return SAC("MlpPolicy", LatentObservation(env, model), **common)
    features = "worldmodel" if variant == "frozen extractor" else "nature_cnn"
    extractor = dict(checkpoint=path, freeze=True) if features == "worldmodel" else {}
    return SAC("CnnPolicy", env, policy_kwargs=policy_kwargs(features, "sac", **extractor), **common)


def env_only(model: WorldModel, steps: int) -> Callable[[], float]:
    """Random actions through the cached-latent env: step, render and encode, no learning."""
    env = LatentObservation(gym.make("eqmbrl/Reacher-pixels-v0"), model)
    env.reset(seed=0)
    env.action_space.seed(0)

    def run() -> float:
        start = time.perf_counter()
        for _ in range(steps):
            *_, terminated, truncated, _ = env.step(env.action_space.sample())
            if terminated or truncated:
                env.reset()
        return steps / (time.perf_counter() - start)

    return run


def timed(algo: SAC, steps: int) -> Callable[[], float]:
    algo.learn(STARTS + 10)  # fill past learning_starts; warm-up

    def run() -> float:
        start = time.perf_counter()
        algo.learn(steps, reset_num_timesteps=False)
        return steps / (time.perf_counter() - start)

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default="/tmp/bench_sac_world_model.pt")
    args = parser.parse_args()
    torch.set_num_threads(1)
    env = gym.make("eqmbrl/Reacher-pixels-v0")
    model = reacher_model(env)
    env.close()
    save_world_model(args.out, model)
    sac = ("cached latents", "frozen extractor", "nature_cnn")
    runs = {v: timed(make(v, model, args.out), args.steps) for v in sac}
    runs["env + encode only"] = env_only(model, args.steps)
    variants = tuple(runs)
    rates: dict[str, list[float]] = {v: [] for v in variants}
    for _ in range(args.repeats):
        for v in variants:
            rates[v].append(runs[v]())
    base = statistics.median(rates["nature_cnn"])
    print(f"SAC on Reacher from pixels, 1 torch thread, {args.steps} steps x {args.repeats} (median)\n")
    print("| variant | env steps/s | vs nature_cnn |\n|---|---:|---:|")
    for v in variants:
        med = statistics.median(rates[v])
        print(f"| {v} | {med:.1f} | {med / base:.2f}x |")


if __name__ == "__main__":
    main()
