"""How fast could one SAC update be on one CPU thread? Its FLOPs against the machine's GEMM rate.

    .venv/bin/python bench/bench_sac_flops.py [--batch 128 256] [--features 64] [--hidden 256]

Counts the multiply-adds of one SB3 SAC gradient step on ``--features``-dim inputs (cached
latents) and 2-dim torques with SB3's default ``[hidden, hidden]`` networks: the actor on the next
observations and the twin target critics (the target), the twin critics forward and backward,
and the actor loss (actor forward, twin critics forward, backward through both; SB3 computes the
critics' weight gradients there too). Backward counts as twice the forward. Then times a bare
``[batch, hidden] @ [hidden, hidden]`` product on one thread (median of 5 rounds of 500) and
prints the update's lower bound at that rate: no Python, no Adam, no memory traffic.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch


def update_macs(batch: int, features: int, hidden: int, action_dim: int = 2) -> int:
    """Multiply-adds of one SAC gradient step (module doc)."""
    actor = features * hidden + hidden * hidden + hidden * 2 * action_dim  # mean and log-std heads
    critics = 2 * ((features + action_dim) * hidden + hidden * hidden + hidden)
    target = actor + critics
    critic_loss = critics + 2 * critics
    actor_loss = actor + critics + 2 * critics + 2 * actor
    return batch * (target + critic_loss + actor_loss)


def gemm_gflops(batch: int, hidden: int) -> float:
    """Measured GFLOP/s of ``[batch, hidden] @ [hidden, hidden]`` on the current torch threads."""
    a, w = torch.randn(batch, hidden), torch.randn(hidden, hidden)
    for _ in range(50):
        a @ w
    rounds = []
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(500):
            a @ w
        rounds.append((time.perf_counter() - t) / 500)
    return 2 * batch * hidden * hidden / statistics.median(rounds) / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, nargs="+", default=[128, 256])
    parser.add_argument("--features", type=int, default=64)
    parser.add_argument("--hidden", type=int, default=256)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print("| batch | GFLOP per update | GEMM GFLOP/s (1 thread) | update at GEMM rate (ms) | env steps/s bound |")
    print("|---:|---:|---:|---:|---:|")
    for b in args.batch:
        gflop = 2 * update_macs(b, args.features, args.hidden) / 1e9
        rate = gemm_gflops(b, args.hidden)
        ms = gflop / rate * 1e3
        print(f"| {b} | {gflop:.3f} | {rate:.1f} | {ms:.2f} | {1e3 / ms:.0f} |")


if __name__ == "__main__":
    main()
