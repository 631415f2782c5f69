"""Planning throughput: imagined latent transitions/s of ``rollout`` and MPC latency per action.

    .venv/bin/python bench/bench_planning.py [--sizes 1000 10000] [--horizon 12] [--threads 1] [--device cpu]

Models: those ``python -m eqmbrl.run env=reacher`` and ``env=cubes`` build (the D4 Reacher model:
6 x 64 x 64 input, 1 slot, 2 maps of 8 x 8; the C4 cubes model: 5 slots, so the transition's edge
model runs on 20 slot pairs), default widths (latent 8, hidden 128). Forms, all frozen with
:meth:`WorldModel.export` and timed side by side:

- ``sen fourier``: equivariant layers in the irrep basis (what ``MPCAgent`` plans with);
- ``sen dense``: the same layers as dense matmuls on the expanded filters;
- ``sen escnn``: escnn's own execution (filters expanded on every call), for reference;
- ``none dense``: the non-equivariant model of the same widths (trivial group: plain ``F.linear``
  layers, with the same exact GNN rewrites as ``sen``);
- ``plain GNN`` (C4 only): a plain-torch C-SWM transition of the same widths, written as C-SWM
  does (the edge MLP on every ordered slot pair), with ``nn.Linear`` layers.

Rates are medians over ``--repeats`` timed calls after a warm-up, round-robin over the forms, under
``torch.inference_mode``.
MPC latency is ``MPCAgent.act`` with CEM (population 1000, 100 elites, 10 iterations, horizon 12)
on the D4 model for both objectives. ``--compile`` adds forms whose rollout runs under
``torch.compile`` (inductor). ``--device cuda`` runs every form there (timed calls end with
``torch.cuda.synchronize``). Prints markdown tables.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import numpy as np
import torch
from torch import nn

from agents.mpc import MPCAgent
from agents.planners import CEM
from eqmbrl.run import configured_model_kwargs
from worldmodels.actions import encode_actions
from worldmodels.world_model import WorldModel, build_world_model

MODELS = {"D4-reacher": ("env=reacher",), "C4-cubes": ("env=cubes",)}  # name: ``eqmbrl.run`` overrides of its model
FORMS = (("sen", "fourier"), ("sen", "dense"), ("sen", "escnn"), ("none", "dense"))


class PlainGNN(nn.Module):
    """C-SWM's transition as C-SWM writes it: edge MLP on every ordered pair, node MLP, plain Linear."""

    def __init__(self, slots: int, latent: int, action: int, hidden: int) -> None:
        super().__init__()
        self.slots = slots
        self.edge = nn.Sequential(
            nn.Linear(2 * latent, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, hidden)
        )
        self.node = nn.Sequential(
            nn.Linear(latent + action + hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, latent),
        )
        i, j = torch.meshgrid(torch.arange(slots), torch.arange(slots), indexing="ij")
        self.register_buffer("i", i[i != j])
        self.register_buffer("j", j[i != j])

    def rollout(self, z0: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """z0 ``[N, K, C]``, actions ``[N, H]`` -> ``[N, H+1, K, C]``."""
        zs, K = [z0], self.slots
        for t in range(actions.shape[1]):
            z = zs[-1]
            msg = self.edge(torch.cat([z[:, self.i], z[:, self.j]], -1)).reshape(z.shape[0], K, K - 1, -1).sum(2)
            a = encode_actions(actions[:, t], "directions", K)
            zs.append(z + self.node(torch.cat([z, a, msg], -1)))
        return torch.stack(zs, 1)


def sync(device: str) -> None:
    """Wait for ``device``'s queued kernels (a no-op on the CPU), so a timer reads finished work."""
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def forms(name: str, compiled: bool, device: str = "cpu") -> dict[str, nn.Module]:
    """Every form of benchmark model ``name``, by label (seeded, frozen, on ``device``)."""
    kwargs = configured_model_kwargs(*MODELS[name])[0]
    kwargs.pop("variant")
    out: dict[str, nn.Module] = {}
    for variant, execution in FORMS:
        torch.manual_seed(0)
        out[f"{variant} {execution}"] = build_world_model(variant, **kwargs).export(execution)
    if compiled:
        for label in ("sen fourier", "sen dense"):
            model = build_world_model("sen", **kwargs).export(label.split()[1])
            model.rollout = torch.compile(model.rollout, dynamic=False)  # type: ignore[method-assign]
            out[f"{label} +compile"] = model
    if name == "C4-cubes":
        out["plain GNN"] = PlainGNN(5, 8, 4, 128).eval().requires_grad_(False)
    return {label: model.to(device) for label, model in out.items()}


def sample_actions(name: str, n: int, horizon: int, device: str = "cpu") -> torch.Tensor:
    """Random plans ``[n, horizon]`` (C4 push indices) or ``[n, horizon, 2]`` (Reacher torques) on ``device``."""
    if name == "C4-cubes":
        return torch.randint(0, 20, (n, horizon), device=device)
    return torch.rand(n, horizon, 2, device=device) * 2 - 1


def rollout_rates(
    models: dict[str, nn.Module], name: str, n: int, horizon: int, repeats: int, device: str = "cpu"
) -> dict[str, float]:
    """Imagined latent transitions/s of each model's ``rollout`` for N = ``n`` plans of ``horizon``
    steps: median of ``repeats`` calls, timed round-robin over the models (after a warm-up call
    each), so a burst of load on this shared machine hits every form alike."""
    slots = 1 if name == "D4-reacher" else 5
    z0, actions = torch.randn(n, slots, 8, device=device), sample_actions(name, n, horizon, device)
    times: dict[str, list[float]] = {label: [] for label in models}
    for i in range(repeats + 1):
        for label, model in models.items():
            start = time.perf_counter()
            model.rollout(z0, actions)
            sync(device)
            if i:
                times[label].append(time.perf_counter() - start)
    return {label: n * horizon / statistics.median(t) for label, t in times.items()}


def mpc_latencies(models: dict[str, WorldModel], repeats: int) -> dict[tuple[str, str], float]:
    """Median seconds of one ``MPCAgent.act`` with CEM 1000 x 12 x 10 per (form, objective) of a D4
    model, timed round-robin after a warm-up call each."""
    obs = np.random.default_rng(0).integers(0, 256, (6, 64, 64), dtype=np.uint8)
    agents = {}
    for label, model in models.items():
        for objective in ("goal", "reward"):
            planner = CEM(horizon=12, action_dim=2, population=1000, elites=100, iterations=10)
            agent = MPCAgent(model, planner, objective=objective, export=False)  # plan on this very form
            agent.set_goal(obs[::-1].copy())
            agents[label, objective] = agent
    times: dict[tuple[str, str], list[float]] = {key: [] for key in agents}
    for i in range(repeats + 1):
        for key, agent in agents.items():
            start = time.perf_counter()
            agent.act(obs)
            if i:
                times[key].append(time.perf_counter() - start)
    return {key: statistics.median(t) for key, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--horizon", type=int, default=12)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--mpc-repeats", type=int, default=5, help="0 skips the MPC latency table")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--compile", action="store_true", help="also time rollouts under torch.compile")
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:N]: where the models run")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    where = torch.cuda.get_device_name(args.device) if args.device.startswith("cuda") else platform.machine()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), {where}, {args.device}\n")
    print("| model | form | " + " | ".join(f"N={n} trans/s" for n in args.sizes) + " | vs none dense |")
    print("|---|---|" + "---:|" * (len(args.sizes) + 1))
    for name in args.models:
        models = forms(name, args.compile, args.device)
        with torch.inference_mode():
            by_size = [rollout_rates(models, name, n, args.horizon, args.repeats, args.device) for n in args.sizes]
        rates = {label: [r[label] for r in by_size] for label in models}
        for label, r in rates.items():
            ratio = r[0] / rates["none dense"][0]
            print(f"| {name} | {label} | " + " | ".join(f"{x:,.0f}" for x in r) + f" | {ratio:.2f}x |", flush=True)
    if args.mpc_repeats:
        print("\n| D4 model form | objective | ms per action | imagined transitions/s |\n|---|---|---:|---:|")
        d4 = forms("D4-reacher", args.compile, args.device)
        for (label, objective), seconds in mpc_latencies(d4, args.mpc_repeats).items():
            print(f"| {label} | {objective} | {1000 * seconds:.1f} | {120_000 / seconds:,.0f} |", flush=True)


if __name__ == "__main__":
    main()
