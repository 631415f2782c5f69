"""Planning throughput: imagined latent transitions/s of ``rollout`` and MPC latency per action.

    .venv/bin/python bench/bench_planning.py [--device cpu] [--sizes 1000 10000] [--horizon 12]

Models: the D4 Reacher-sized SEN model (6 x 64 x 64 input, 1 slot, 2 maps of 8 x 8, stride 4) and
the C4 cubes model (``build_world_model("sen")``), both with the default widths (latent 8,
hidden 128). Each model runs in three forms side by side: ``escnn`` (the module in eval mode, which
caches its expanded filters), ``export`` (a deep copy whose escnn blocks are replaced by their
``.export()`` plain-torch modules, still 1x1 ``Conv2d`` on ``[B, C, 1, 1]``) and ``export+linear``
(the same with each 1x1 conv turned into an ``nn.Linear`` on flat vectors: what the MPC agent
plans with, ``worldmodels.planning.planning_copy``). Every copy is checked against the escnn original.

Rates are medians over ``--repeats`` timed calls after one warm-up, under ``torch.inference_mode``.
MPC latency is ``MPCAgent.act`` with CEM (population 1000, 100 elites, 10 iterations, horizon 12)
on the D4 model, for both objectives. Prints markdown tables.
"""
from __future__ import annotations

import argparse
import platform
import statistics
import time
from typing import Callable

import numpy as np
import torch

from agents.mpc import MPCAgent
from agents.planners import CEM
from worldmodels.planning import planning_copy
from worldmodels.world_model import WorldModel, build_world_model

MODELS = {  # name: (build_world_model kwargs, observation shape)
    "D4-reacher": (dict(group="D4", action_encoding="torques", action_dim=2, in_channels=6, image_size=64,
                        slots=1, maps_per_slot=2, map_size=8, stride=4), (6, 64, 64)),
    "C4-cubes": ({}, (3, 50, 50)),
}


def build_model(name: str) -> WorldModel:
    """One benchmark model (seeded, eval mode)."""
    torch.manual_seed(0)
    return build_world_model("sen", **MODELS[name][0]).eval()


def sample_actions(model: WorldModel, n: int, horizon: int, device: torch.device) -> torch.Tensor:
    if model.action_encoding == "directions":
        return torch.randint(0, 4 * model.slots, (n, horizon), device=device)
    return torch.rand(n, horizon, 2, device=device) * 2 - 1


def max_difference(a: WorldModel, b: WorldModel, obs_shape: tuple[int, ...], device: torch.device) -> float:
    """Max abs difference of encode, 3-step rollout and reward between two models."""
    obs = torch.rand(8, *obs_shape, device=device)
    actions = sample_actions(a, 8, 3, device)
    outs = []
    for m in (a, b):
        z = m.rollout(m.encode(obs), actions)
        outs.append(torch.cat([z.flatten(1), m.reward(z[:, 0], actions[:, 0])[:, None]], 1))
    return float((outs[0] - outs[1]).abs().max())


def median_seconds(fn: Callable[[], object], repeats: int, device: torch.device) -> float:
    """Median wall time of ``fn`` over ``repeats`` calls after one warm-up call."""
    times = []
    for i in range(repeats + 1):
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        if i:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def rollout_rate(model: WorldModel, n: int, horizon: int, repeats: int, device: torch.device) -> float:
    """Imagined latent transitions/s of ``model.rollout`` for N = ``n`` plans of ``horizon`` steps."""
    z0 = torch.randn(n, model.slots, model.latent_type.size, device=device)
    actions = sample_actions(model, n, horizon, device)
    return n * horizon / median_seconds(lambda: model.rollout(z0, actions), repeats, device)


def mpc_latency(model: WorldModel, objective: str, repeats: int, device: torch.device) -> tuple[float, float]:
    """Median (seconds, transitions/s) of one ``MPCAgent.act`` with CEM 1000 x 12 x 10 on a D4 model."""
    planner = CEM(horizon=12, action_dim=2, population=1000, elites=100, iterations=10)
    agent = MPCAgent(model, planner, objective=objective, export=False)  # plan on this very form
    obs = np.random.default_rng(0).integers(0, 256, (6, 64, 64), dtype=np.uint8)
    agent.set_goal(obs[::-1].copy())
    seconds = median_seconds(lambda: agent.act(obs), repeats, device)
    return seconds, 1000 * 12 * 10 / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--horizon", type=int, default=12)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--mpc-repeats", type=int, default=3, help="0 skips the MPC latency table")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {platform.processor() or platform.machine()},"
          f" device {device}\n")
    print("| model | form | max abs diff vs escnn | " + " | ".join(f"N={n} trans/s" for n in args.sizes) + " |")
    print("|---|---|---|" + "---|" * len(args.sizes))
    for name in args.models:
        forms = model_forms(build_model(name).to(device))
        with torch.inference_mode():
            for form, m in forms.items():
                diff = max_difference(forms["escnn"], m, MODELS[name][1], device)
                rates = [rollout_rate(m, n, args.horizon, args.repeats, device) for n in args.sizes]
                print(f"| {name} | {form} | {diff:.1e} | " + " | ".join(f"{r:,.0f}" for r in rates) + " |", flush=True)
    if args.mpc_repeats:
        mpc_table(model_forms(build_model("D4-reacher").to(device)), args.mpc_repeats, device)


def model_forms(model: WorldModel) -> dict[str, WorldModel]:
    """The escnn model and its two exported copies, by form name."""
    return {"escnn": model, "export": planning_copy(model, linear=False), "export+linear": planning_copy(model)}


def mpc_table(forms: dict[str, WorldModel], repeats: int, device: torch.device) -> None:
    """Print MPC latency per action of every form of the D4 model, for both objectives."""
    print("\n| D4 model form | objective | MPC latency per action (s) | transitions/s |\n|---|---|---|---|")
    for form, m in forms.items():
        for objective in ("goal", "reward"):
            seconds, rate = mpc_latency(m, objective, repeats, device)
            print(f"| {form} | {objective} | {seconds:.3f} | {rate:,.0f} |", flush=True)


if __name__ == "__main__":
    main()
