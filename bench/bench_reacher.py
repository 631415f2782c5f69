"""Throughput of the pixel Reacher: env steps/s with rendering vs. physics alone, in one run.

    MUJOCO_GL=egl .venv/bin/python bench/bench_reacher.py [--steps 1000] [--repeats 3]

Each row times ``--steps`` env steps with random torques (resetting on truncation, so resets
are included), ``--repeats`` times, and reports the median; every rendered observation's pixel
std is checked so blank frames can't inflate the numbers. ``render_states`` times batched
re-rendering of stored states (what rotated twins cost). Prints a markdown table.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable

os.environ.setdefault("MUJOCO_GL", "egl")

import mujoco  # noqa: E402
import numpy as np  # noqa: E402
from gymnasium.envs.mujoco.reacher_v5 import ReacherEnv  # noqa: E402

from envs.reacher import ReacherPixelsEnv  # noqa: E402


def median_rate(run: Callable[[], None], steps: int, repeats: int) -> float:
    """Median over ``repeats`` of ``steps / seconds`` for one call of ``run``."""
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        rates.append(steps / (time.perf_counter() - start))
    return statistics.median(rates)


def bench_pixels(image_size: int, quality: str, steps: int, repeats: int) -> tuple[float, float]:
    """(env steps/s with rendering, render_states frames/s) for one configuration."""
    env = ReacherPixelsEnv(image_size=image_size, render_quality=quality)
    env.reset(seed=0)
    actions = np.random.default_rng(0).uniform(-1, 1, (steps, 2))
    stds: list[float] = []

    def run() -> None:
        for action in actions:
            obs, _, _, truncated, _ = env.step(action)
            if truncated:
                obs, _ = env.reset()
        stds.append(float(obs.std()))

    run()  # warm-up
    step_rate = median_rate(run, steps, repeats)
    if min(stds) < 5.0:
        raise RuntimeError(f"blank frames at {image_size}px/{quality}: pixel std {min(stds)}")
    states = np.stack([env.step(a)[-1]["state"] for a in actions[:64]])
    frames = 64 * env.frame_stack
    render_rate = median_rate(lambda: env.render_states(states), frames, repeats)
    env.close()
    return step_rate, render_rate


def bench_physics(steps: int, repeats: int) -> float:
    """Steps/s of gymnasium's Reacher-v5 (no rendering)."""
    env = ReacherEnv()
    env.reset(seed=0)
    actions = np.random.default_rng(0).uniform(-1, 1, (steps, 2))

    def run() -> None:
        for action in actions:
            env.step(action)

    run()
    rate = median_rate(run, steps, repeats)
    env.close()
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    physics = bench_physics(args.steps, args.repeats)
    print(
        f"MuJoCo {mujoco.__version__}, MUJOCO_GL={os.environ['MUJOCO_GL']}, "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs\n"
    )
    print("| config | env steps/s (step + render) | vs physics | render_states frames/s |")
    print("|---|---|---|---|")
    print(f"| physics only (Reacher-v5, no render) | {physics:,.0f} | 1.00 | - |")
    for size in (64, 128):
        for quality in ("fast", "default"):
            steps, frames = bench_pixels(size, quality, args.steps, args.repeats)
            print(f"| {size} px, {quality} | {steps:,.0f} | {steps / physics:.3f} | {frames:,.0f} |")


if __name__ == "__main__":
    main()
