"""Benchmark: batched block-pushing renderers against the matplotlib voxel reference.

Run from the repository root: ``.venv/bin/python bench/bench_render.py``. The same seeded random
states are drawn by our batched ``cubes`` renderer (batch sizes 1, 256 and 4096, one and two
threads), by the ``shapes`` renderer and by :func:`reference_render.render_cubes_reference`
(C-SWM's method: a fresh matplotlib figure and ``ax.voxels`` per frame). Prints a markdown table
of frames/s and the ratio ours/reference.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Callable

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from reference_render import render_cubes_reference  # noqa: E402

from envs.block_pushing import random_states  # noqa: E402
from envs.render_blocks import CHUNK, render_states  # noqa: E402

BATCH_SIZES = (1, 256, 4096)


def frames_per_second(render: Callable[[], object], frames_per_call: int, seconds: float, repeats: int = 3) -> float:
    """Best-of-``repeats`` throughput of ``render`` (each repeat runs for about ``seconds / repeats``)."""
    render()  # warm-up: builds cached sprites
    best = 0.0
    for _ in range(repeats):
        calls, start = 0, time.perf_counter()
        while calls == 0 or time.perf_counter() - start < seconds / repeats:
            render()
            calls += 1
        best = max(best, calls * frames_per_call / (time.perf_counter() - start))
    return best


def run(seconds: float, reference_frames: int, image_size: int) -> list[tuple[str, int, int, float]]:
    """Rows ``(renderer, batch, threads, frames/s)``; the reference comes first."""
    states = random_states(np.random.default_rng(0), max(BATCH_SIZES))
    render_cubes_reference(states[-1], image_size=image_size)  # warm-up: matplotlib's 3D imports
    start = time.perf_counter()
    for state in states[:reference_frames]:
        render_cubes_reference(state, image_size=image_size)
    rows = [("reference cubes (matplotlib voxels)", 1, 1, reference_frames / (time.perf_counter() - start))]
    for style, thread_counts in (("cubes", (1, 2)), ("shapes", (1,))):
        for batch in BATCH_SIZES:
            for threads in thread_counts:
                if threads > 1 and batch < 2 * CHUNK:  # a batch this small is painted on one thread
                    continue

                def render(b: int = batch, t: int = threads, s: str = style) -> object:
                    return render_states(states[:b], s, image_size=image_size, num_threads=t)

                rows.append(
                    (f"ours {style} (batched numpy)", batch, threads, frames_per_second(render, batch, seconds))
                )
    return rows


def markdown_table(rows: list[tuple[str, int, int, float]]) -> str:
    """The rows as a markdown table with a ratio column relative to the first (reference) row."""
    reference = rows[0][3]
    lines = ["| renderer | batch | threads | frames/s | ours / reference |", "|---|---:|---:|---:|---:|"]
    for name, batch, threads, fps in rows:
        lines.append(f"| {name} | {batch} | {threads} | {fps:,.1f} | {fps / reference:,.0f}x |")
    return "\n".join(lines)


def cpu_name() -> str:
    """CPU model from /proc/cpuinfo where available, else the platform's machine name."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            names = [line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")]
    except OSError:
        names = []
    return names[0] if names else platform.machine()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.5, help="time per batched measurement")
    parser.add_argument("--reference-frames", type=int, default=20, help="frames drawn by matplotlib")
    parser.add_argument("--image-size", type=int, default=50)
    args = parser.parse_args()
    if args.seconds <= 0 or args.reference_frames < 1:
        raise ValueError(
            f"need --seconds > 0 and --reference-frames >= 1, got {args.seconds} and {args.reference_frames}"
        )
    print(f"machine: {cpu_name()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, numpy {np.__version__}")
    print(
        f"image {args.image_size}x{args.image_size}, 5x5 grid, 5 objects, reference: {args.reference_frames} frames\n"
    )
    print(markdown_table(run(args.seconds, args.reference_frames, args.image_size)))


if __name__ == "__main__":
    main()
