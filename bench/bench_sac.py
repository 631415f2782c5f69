"""SAC env steps per second on Reacher from pixels, side by side (one torch thread).

    .venv/bin/python bench/bench_sac.py [--steps 600] [--repeats 3] [--experiment reacher_mpc]

Variants, each SAC with the default `agent=sac` settings (batch 128, one gradient step per env step)
on `env=reacher` (6 x 64 x 64, the default world model of `worldmodel=sen`, randomly initialised:
speed does not depend on the weights), or with ``--experiment reacher_mpc`` that experiment's env
(2 physics steps per action) and world model (64-dim latent, conv embedding), as in RESULTS.md:

- ``cached latents``: frozen world model, each observation encoded once in the env
  (``agents.sb3.LatentObservation``), MLP policy on the features (``agent.cache_latents=true``);
- ``cached latents, small & half``: the same with SAC's networks at 64 x 64 instead of SB3's
  256 x 256 and one gradient step every 2 env steps
  (``agent.policy.net_arch=[64,64] +agent.algo_kwargs.train_freq=2``, docs/notebook.md §13);
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
from omegaconf import OmegaConf
from stable_baselines3 import SAC

import envs  # noqa: F401  (registers the eqmbrl/ ids)
from agents.sb3 import LatentObservation, policy_kwargs
from eqmbrl.run import compose_config, model_kwargs
from worldmodels.persistence import save_world_model
from worldmodels.world_model import WorldModel, build_world_model

STARTS = 200


def reacher_setup(experiment: str | None) -> tuple[Callable[[], gym.Env], WorldModel]:
    """An env factory and the (randomly initialised) world model of ``env=reacher worldmodel=sen``,
    with ``experiment=EXPERIMENT`` on top if given (e.g. ``reacher_mpc``: its env kwargs and model)."""
    cfg = compose_config("env=reacher", *([f"experiment={experiment}"] if experiment else []))
    env_id, env_kwargs = cfg.env.id, cast(dict[str, Any], OmegaConf.to_container(cfg.env.kwargs))

    def make_env() -> gym.Env:
        return gym.make(env_id, **env_kwargs)

    env = make_env()
    kwargs = model_kwargs(cfg, env)
    env.close()
    return make_env, build_world_model(**kwargs)


def make(variant: str, make_env: Callable[[], gym.Env], model: WorldModel, path: str) -> SAC:
    env = make_env()
    common: dict[str, Any] = dict(buffer_size=20_000, batch_size=128, learning_starts=STARTS, seed=0, verbose=0)
    if variant == "cached latents":
        return SAC("MlpPolicy", LatentObservation(env, model), **common)
    if variant == "cached latents, small & half":
        small = dict(policy_kwargs=dict(net_arch=[64, 64]), train_freq=2)
        return SAC("MlpPolicy", LatentObservation(env, model), **common, **small)
    features = "worldmodel" if variant == "frozen extractor" else "nature_cnn"
    extractor = dict(checkpoint=path, freeze=True) if features == "worldmodel" else {}
    return SAC("CnnPolicy", env, policy_kwargs=policy_kwargs(features, "sac", **extractor), **common)


def env_only(make_env: Callable[[], gym.Env], model: WorldModel, steps: int) -> Callable[[], float]:
    """Random actions through the cached-latent env: step, render and encode, no learning."""
    env = LatentObservation(make_env(), model)
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
    parser.add_argument("--experiment", default=None, help="a configs/experiment file, e.g. reacher_mpc")
    parser.add_argument("--out", default="/tmp/bench_sac_world_model.pt")
    args = parser.parse_args()
    torch.set_num_threads(1)
    make_env, model = reacher_setup(args.experiment)
    save_world_model(args.out, model)
    sac = ("cached latents", "cached latents, small & half", "frozen extractor", "nature_cnn")
    runs = {v: timed(make(v, make_env, model, args.out), args.steps) for v in sac}
    runs["env + encode only"] = env_only(make_env, model, args.steps)
    variants = tuple(runs)
    rates: dict[str, list[float]] = {v: [] for v in variants}
    for _ in range(args.repeats):
        for v in variants:
            rates[v].append(runs[v]())
    base = statistics.median(rates["nature_cnn"])
    print(
        f"SAC on Reacher from pixels, experiment={args.experiment}, 1 torch thread, "
        f"{args.steps} steps x {args.repeats} (median)\n"
    )
    print("| variant | env steps/s | vs nature_cnn |\n|---|---:|---:|")
    for v in variants:
        med = statistics.median(rates[v])
        print(f"| {v} | {med:.1f} | {med / base:.2f}x |")


if __name__ == "__main__":
    main()
