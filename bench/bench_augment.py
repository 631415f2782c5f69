"""What symmetry augmentation (``trainer.symmetry_augment``) costs per gradient step, side by side.

    .venv/bin/python bench/bench_augment.py [--envs shapes cubes reacher teapot] [--repeats 5]

For each env's default run config (``python -m eqmbrl.run env=NAME worldmodel=none``), a small random
buffer is collected, then, round-robin (median of ``--repeats``): a training step of the ``none``
model (gather a batch of the config's size + loss + backward + Adam) with ``p = 0`` and with
``p = 1`` (twins rendered on the fly, :mod:`eqmbrl.augment`). Also timed once: rendering every twin
of the buffer under every group element, the alternative of precomputing them, and the memory that
would hold. One torch thread. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from agents.random_agent import RandomAgent
from eqmbrl.augment import SymmetryAugment
from eqmbrl.collect import collect
from eqmbrl.core.symmetry import env_contract
from eqmbrl.run import compose_config, make_env, model_kwargs
from worldmodels.world_model import build_world_model


def step_seconds(model, opt, buffer, augment, batch: int, rng: np.random.Generator) -> float:
    """Wall time of one gradient step on a fresh batch (sampling and rendering included)."""
    start = time.perf_counter()
    data = buffer.sample(batch, 1, rng=rng, augment=augment)
    loss = model.loss(data)["loss"]
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return time.perf_counter() - start


def measure(env_name: str, repeats: int, episodes: int) -> dict[str, float]:
    """Step times with p = 0 and p = 1 and the precompute cost of ``env_name``'s default config."""
    cfg = compose_config(f"env={env_name}", "worldmodel=none", "agent=none")
    env = make_env(cfg)
    kwargs = model_kwargs(cfg, env)
    kwargs.pop("variant")
    buffer = collect(env, RandomAgent(env.action_space, 0), episodes, 10, seed=0, desc="bench")
    batch, rng = int(cfg.trainer.batch_size), np.random.default_rng(0)
    torch.manual_seed(0)
    model = build_world_model("none", **kwargs)
    opt = torch.optim.Adam(model.parameters(), lr=5e-4)
    forms = {"p=0": None, "p=1": SymmetryAugment(env, 1.0, np.random.default_rng(1))}
    times: dict[str, list[float]] = {k: [] for k in forms}
    for i in range(repeats + 1):
        for name, augment in forms.items():
            t = step_seconds(model, opt, buffer, augment, batch, rng)
            if i:
                times[name].append(t)
    base = env_contract(env)
    group = base.symmetry.group
    start = time.perf_counter()
    for g in group.elements[1:]:
        base.render_states(base.symmetry.act_state(g, buffer.states[: buffer.size]))
    precompute = time.perf_counter() - start
    env.close()
    return {
        "group": group.name,
        "order": group.order,
        "batch": batch,
        "p0": statistics.median(times["p=0"]),
        "p1": statistics.median(times["p=1"]),
        "rows": buffer.size,
        "precompute_s": precompute,
        "precompute_mb": (group.order - 1) * buffer.obs[: buffer.size].nbytes / 2**20,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--envs", nargs="+", default=["shapes", "cubes", "reacher", "teapot"])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--episodes", type=int, default=100, help="random episodes of 10 steps in the buffer")
    args = p.parse_args()
    torch.set_num_threads(1)
    print(
        "| env | group | batch | step, p=0 (s) | step, p=1 (s) | p=1 / p=0 | precompute all twins: s per 1k rows | "
        "MB per 1k rows |\n|---|---|---:|---:|---:|---:|---:|---:|"
    )
    for name in args.envs:
        m = measure(name, args.repeats, args.episodes)
        k = 1000 / m["rows"]
        print(
            f"| {name} | {m['group']} | {m['batch']} | {m['p0']:.3f} | {m['p1']:.3f} | {m['p1'] / m['p0']:.2f}x | "
            f"{m['precompute_s'] * k:.2f} | {m['precompute_mb'] * k:.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
