"""World-model training throughput (transitions/s, forward + backward + Adam step), side by side.

    .venv/bin/python bench/bench_training.py [--device cpu|cuda] [--batch 256] [--steps 5]

Measures the default-size ``sen``, ``none`` and ``full`` models on cubes-shaped (3x50x50, C4)
and Reacher-shaped (6x64x64, D4) batches of random data in one run, and prints a markdown table.
"""
from __future__ import annotations

import argparse
import time

import torch

from eqmbrl.types import SequenceBatch
from worldmodels.world_model import build_world_model

DOMAINS = {
    "cubes (C4)": dict(group="C4", action_encoding="directions", action_dim=1, in_channels=3, image_size=50),
    "reacher (D4)": dict(group="D4", action_encoding="torques", action_dim=2, in_channels=6, image_size=64,
                         slots=1, maps_per_slot=2, map_size=8, stride=4, masks_per_slot=4, reward_weight=1.0),
}


def batch_for(domain: dict, batch: int, device: str) -> SequenceBatch:
    c, s = domain["in_channels"], domain["image_size"]
    actions = (torch.randint(0, 20, (batch, 1)) if domain["action_encoding"] == "directions"
               else torch.rand(batch, 1, domain["action_dim"]) * 2 - 1)
    return SequenceBatch(torch.rand(batch, 2, c, s, s), actions, torch.rand(batch, 1)).to(device)


def throughput(variant: str, domain: dict, batch: int, steps: int, device: str) -> float:
    model = build_world_model(variant, **domain).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=5e-4)
    data = batch_for(domain, batch, device)
    for i in range(steps + 1):
        if i == 1:  # first step warms up allocators and escnn bases
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            t0 = time.perf_counter()
        loss = model.loss(data)["loss"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return batch * steps / (time.perf_counter() - t0)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--steps", type=int, default=5)
    args = p.parse_args()
    torch.manual_seed(0)
    print(f"| domain | variant | transitions/s | vs sen |\n|---|---|---:|---:|")
    for name, domain in DOMAINS.items():
        rates = {v: throughput(v, domain, args.batch, args.steps, args.device) for v in ("sen", "none", "full")}
        for v, r in rates.items():
            print(f"| {name} | {v} | {r:,.0f} | {r / rates['sen']:.2f}x |")


if __name__ == "__main__":
    main()
