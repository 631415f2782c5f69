"""Planning throughput: imagined latent transitions/s of ``rollout`` and MPC latency per action.

    .venv/bin/python bench/bench_planning.py [--device cpu] [--sizes 1000 10000] [--horizon 12]

Models: the D4 Reacher-sized SEN model (6 x 64 x 64 input, 1 slot, 2 maps of 8 x 8, stride 4) and
the C4 cubes model (``build_world_model("sen")``), both with the default widths (latent 8,
hidden 128). Each model runs in three forms side by side: ``escnn`` (the module in eval mode, which
caches its expanded filters), ``export`` (a deep copy whose escnn blocks are replaced by their
``.export()`` plain-torch modules, still 1x1 ``Conv2d`` on ``[B, C, 1, 1]``) and ``export+linear``
(the same with each 1x1 conv turned into an ``nn.Linear`` on flat vectors). The copies are built
here without touching ``worldmodels/``: a small adapter keeps the ``GeometricTensor`` interface the
model's forward code expects. Every copy is checked against the escnn original.

Rates are medians over ``--repeats`` timed calls after one warm-up, under ``torch.inference_mode``.
MPC latency is ``MPCAgent.act`` with CEM (population 1000, 100 elites, 10 iterations, horizon 12)
on the D4 model, for both objectives. Prints markdown tables.
"""
from __future__ import annotations

import argparse
import copy
import platform
import statistics
import time
from typing import Callable

import numpy as np
import torch
from escnn import nn as enn
from torch import nn

from agents.mpc import MPCAgent
from agents.planners import CEM
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


class Exported(nn.Module):
    """Plain-torch stand-in for an escnn block, called on (and returning) ``GeometricTensor``s.

    ``linear=True`` (1x1 blocks on ``[B, C, 1, 1]`` only) runs ``nn.Linear`` on ``[B, C]`` instead.
    """

    def __init__(self, module: enn.EquivariantModule, linear: bool = False) -> None:
        super().__init__()
        self.in_type, self.out_type, self.linear = module.in_type, module.out_type, linear
        net = module.export()
        self.net = nn.Sequential(*[_as_linear(m) for m in net]) if linear else net

    def forward(self, x: enn.GeometricTensor) -> enn.GeometricTensor:
        t = x.tensor
        y = self.net(t.flatten(1))[..., None, None] if self.linear else self.net(t)
        return enn.GeometricTensor(y, self.out_type)


def _as_linear(module: nn.Module) -> nn.Module:
    """A 1x1 ``Conv2d`` as ``nn.Linear``; ReLU as is; nested ``Sequential``s converted throughout;
    anything else (escnn's ``MaxPoolChannels``) wrapped to run on ``[B, C, 1, 1]``."""
    if isinstance(module, nn.Sequential):
        return nn.Sequential(*[_as_linear(m) for m in module])
    if isinstance(module, nn.Conv2d):
        lin = nn.Linear(module.in_channels, module.out_channels, bias=module.bias is not None)
        lin.weight.data = module.weight.data.flatten(1).clone()
        if module.bias is not None:
            lin.bias.data = module.bias.data.clone()
        return lin
    if isinstance(module, nn.ReLU):
        return module
    return _OnPixel(module)


class _OnPixel(nn.Module):
    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.module(x[..., None, None]).flatten(1)


def exported_copy(model: WorldModel, linear: bool) -> WorldModel:
    """Deep copy of ``model`` with its escnn blocks exported (encoder, transition, reward features)."""
    was_training = model.training
    model.train()  # drops escnn's cached filters, which are not graph leaves and cannot be deep-copied
    m = copy.deepcopy(model).eval()
    model.train(was_training)
    m.encoder.conv = Exported(m.encoder.conv)  # 3x3 / s x s convs: always Conv2d
    m.encoder.head = Exported(m.encoder.head, linear)
    if m.transition.edge is not None:
        m.transition.edge = Exported(m.transition.edge, linear)
    m.transition.node = Exported(m.transition.node, linear)
    m.reward_head.features = Exported(m.reward_head.features, linear)
    return m


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
    agent = MPCAgent(model, planner, objective=objective)
    obs = np.random.default_rng(0).integers(0, 256, (6, 64, 64), dtype=np.uint8)
    agent.set_goal(obs[::-1].copy())
    seconds = median_seconds(lambda: agent.act(obs), repeats, device)
    return seconds, 1000 * 12 * 10 / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
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
    return {"escnn": model, "export": exported_copy(model, False), "export+linear": exported_copy(model, True)}


def mpc_table(forms: dict[str, WorldModel], repeats: int, device: torch.device) -> None:
    """Print MPC latency per action of every form of the D4 model, for both objectives."""
    print("\n| D4 model form | objective | MPC latency per action (s) | transitions/s |\n|---|---|---|---|")
    for form, m in forms.items():
        for objective in ("goal", "reward"):
            seconds, rate = mpc_latency(m, objective, repeats, device)
            print(f"| {form} | {objective} | {seconds:.3f} | {rate:,.0f} |", flush=True)


if __name__ == "__main__":
    main()
