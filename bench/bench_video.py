"""Cost of seeing per evaluation: the video and the imagined-plan figure beside the evaluation itself.

    .venv/bin/python bench/bench_video.py [--runs shapes_goal reacher_cem teapot_goal] [--repeats 3] [--threads 1]

For each run (:data:`RUNS`: ``python -m eqmbrl.run`` overrides), the agent and world model it builds
(untrained: the cost does not depend on the weights) run the online loop's own methods
(:class:`eqmbrl.online.OnlineMPC`): one recorded noise-free evaluation episode (timed: the agent
plans every step), then ``log_videos`` (the default ``agent.video_episodes=1``: frames drawn,
energies to the goal or model returns, the GIF that ``add_video`` encodes with moviepy, written to a
TensorBoard file in a temporary dir) and ``log_imagined`` (the plan from the first evaluation start,
run open loop, nearest frames among 1000 frames of random episodes, the matplotlib figure). Prints
a markdown table of medians over ``--repeats``, and the share of one whole evaluation of the env's
default agent (its ``agent.eval_episodes`` x goal distances episodes, without the world-model
metrics) that seeing adds. The first call of each (untimed in the medians; moviepy's and
matplotlib's imports, the font) is shown apart: a run pays it once.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch

from agents.random_agent import RandomAgent
from eqmbrl.collect import collect, evaluate_agent
from eqmbrl.core.logger import Logger
from eqmbrl.online import BANK_FRAMES, EpisodeActor, OnlineMPC
from eqmbrl.run import build_agent, compose_config, env_shape, make_env, settings_of
from eqmbrl.trainer import WorldModelTrainer
from eqmbrl.video import RecordEpisodes
from worldmodels.world_model import build

RUNS = {
    "shapes_goal": ("env=shapes_goal",),  # latent search, horizon 2, 30 goals of 10 steps
    "reacher_cem": ("env=reacher", "agent=cem"),  # CEM on the reward, 5 episodes of 50 steps
    "teapot_goal": ("env=teapot_goal",),  # latent search over the 6 turns
}


def _median_seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_run(name: str, repeats: int, out: Path) -> dict[str, float]:
    cfg = compose_config(*RUNS[name])
    settings = settings_of(cfg)
    env = make_env(cfg)
    model = build(settings.worldmodel, env_shape(env))
    logger = Logger(out / name)
    trainer = WorldModelTrainer(env, model, logger, out, settings.trainer)
    loop = build_agent(settings.agent, env, trainer, logger, out, cfg.seed)
    assert isinstance(loop, OnlineMPC)
    runs = loop.eval_runs()
    frames = collect(env, RandomAgent(env.action_space, 0), 100, 10).obs[:1100]
    bank = SimpleNamespace(obs=torch.from_numpy(frames[None]))  # EvalData's obs, [1, M, Ci, Hi, Wi]
    actor = EpisodeActor(loop.agent, env, explore=False)
    recorder = RecordEpisodes(env)

    def episode() -> None:
        recorder.record(1)
        evaluate_agent(recorder, actor, runs[:1], loop.limit)

    episode()  # warm-up (export, first plans)
    per_episode = _median_seconds(episode, repeats)
    log_video = lambda: loop.log_videos(actor, recorder.recordings, 0)
    log_imagined = lambda: loop.log_imagined(bank, 0)  # type: ignore[arg-type]
    first = _median_seconds(log_video, 1) + _median_seconds(log_imagined, 1)  # imports moviepy, matplotlib
    video, imagined = _median_seconds(log_video, repeats), _median_seconds(log_imagined, repeats)
    logger.close()
    env.close()
    evaluation = per_episode * len(runs)
    return dict(
        steps=len(recorder.recordings[0].rewards),
        episode=per_episode,
        episodes=len(runs),
        evaluation=evaluation,
        video=video,
        imagined=imagined,
        first=first,
        share=(video + imagined) / evaluation,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", nargs="+", default=list(RUNS), choices=list(RUNS))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    np.random.seed(0)
    print(f"{platform.processor() or platform.machine()}, torch {torch.__version__}, {args.threads} thread(s)")
    print(f"bank of {BANK_FRAMES} frames for the imagined plan\n")
    columns = ["run", "steps/episode", "one evaluation episode s", "evaluation (episodes) s", "video s"]
    print("| " + " | ".join([*columns, "imagined s", "added", "first call s"]) + " |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.runs:
            r = bench_run(name, args.repeats, Path(tmp))
            print(
                f"| {name} | {r['steps']:.0f} | {r['episode']:.2f} | {r['evaluation']:.1f} ({r['episodes']:.0f}) "
                f"| {r['video']:.3f} | {r['imagined']:.3f} | {100 * r['share']:.1f}% | {r['first']:.2f} |"
            )


if __name__ == "__main__":
    main()
