"""One equivariant linear layer, dense vs Fourier execution: where does the irrep basis pay on a CPU?

    .venv/bin/python bench/bench_fourier.py [--widths 128 512 1024] [--rows 1000 20000]

A map between regular fields of C4 or D4 of ``width`` channels each side, on ``rows`` vectors,
forward only under ``torch.inference_mode`` (as in planning). ``dense`` is one ``F.linear`` on the
expanded filter; ``fourier`` transforms into the irrep basis, runs the block-diagonal products
(6/16 of the multiply-adds for C4, 12/64 for D4) and transforms back. Median of 7 calls after a
warm-up, 1 thread; prints a markdown table with the speed-up of ``fourier`` over ``dense``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from eqmbrl.core.symmetry import Group
from worldmodels.fields import make_gspace, regular
from worldmodels.layers import EquivariantLinear, set_execution


def seconds(layer: EquivariantLinear, x: torch.Tensor, repeats: int = 7) -> float:
    """Median seconds of ``layer(x)``."""
    layer(x)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        layer(x)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--widths", type=int, nargs="+", default=[128, 512, 1024])
    p.add_argument("--rows", type=int, nargs="+", default=[1000, 20000])
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    print("| group | width | rows | dense ms | fourier ms | fourier speed-up |\n|---|---:|---:|---:|---:|---:|")
    for name in ("C4", "D4"):
        gs = make_gspace(Group(name))
        for width in args.widths:
            layer = EquivariantLinear(regular(gs, width), regular(gs, width)).requires_grad_(False)
            for rows in args.rows:
                x = torch.randn(rows, width)
                with torch.inference_mode():
                    dense = seconds(set_execution(layer, "dense"), x)
                    fourier = seconds(set_execution(layer, "fourier"), x)
                row = f"| {name} | {width} | {rows} | {1e3 * dense:.2f} | {1e3 * fourier:.2f} |"
                print(f"{row} {dense / fourier:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
