"""Tables and the learning-curve plot of RESULTS.md from the runs under results/runs/.

    .venv/bin/python results/summarize.py

Reads each run's ``metrics.json``, ``curve.json`` (SB3) and TensorBoard scalars; prints markdown
tables; writes ``results/summary.json`` (every number in the tables) and
``results/sac_reacher.png``. Runs that are missing are listed, never filled in.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

RUNS = Path(__file__).parent / "runs"
SEEDS = (0, 1, 2)


def metrics(name: str) -> dict | None:
    path = RUNS / name / "metrics.json"
    failed = (RUNS / name / "FAILED").exists()  # a failed run's metrics.json holds only the error
    return json.loads(path.read_text()) if path.is_file() and not failed else None


def scalar_mean(name: str, tag: str) -> float:
    """Mean of a TensorBoard scalar over a run (NaN if absent)."""
    values = []
    for f in (RUNS / name / "tb").glob("events.out.tfevents.*"):
        acc = EventAccumulator(str(f))
        acc.Reload()
        if tag in acc.Tags()["scalars"]:
            values += [e.value for e in acc.Scalars(tag)]
    return float(np.mean(values)) if values else float("nan")


def mean_std(values: list[float]) -> str:
    return f"{np.mean(values):.2f} ± {np.std(values):.2f}" if values else "n/a"


def reacher_mpc(summary: dict) -> None:
    print("\n### Reacher, online MPC (CEM) vs baselines (eval return, 5 fixed episodes, mean ± std over seeds)\n")
    print(
        "| world model | seeds | MPC return | random return | zero-action return | H@1 1-step pre → post |"
        " reward MSE pre → post | s / action |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for wm in ("sen", "none"):
        runs = {s: metrics(f"mpc_reacher_{wm}_s{s}") for s in SEEDS}
        done = {s: m for s, m in runs.items() if m and "return" in m}
        if not done:
            continue
        col = lambda k: [m[k] for m in done.values()]  # noqa: E731, B023 (used at once)
        secs = [scalar_mean(f"mpc_reacher_{wm}_s{s}", "planner/seconds_per_action") for s in done]
        summary[f"mpc_reacher_{wm}"] = {
            k: col(k)
            for k in (
                "return",
                "random_return",
                "still_return",
                "hits@1/1step",
                "pretrain/hits@1/1step",
                "reward_mse",
                "pretrain/reward_mse",
            )
        }
        summary[f"mpc_reacher_{wm}"]["seconds_per_action"] = secs
        print(
            f"| {wm} | {len(done)} | {mean_std(col('return'))} | {mean_std(col('random_return'))} | "
            f"{mean_std(col('still_return'))} | {np.mean(col('pretrain/hits@1/1step')):.0f} → "
            f"{np.mean(col('hits@1/1step')):.0f} | {np.mean(col('pretrain/reward_mse')):.3f} → "
            f"{np.mean(col('reward_mse')):.3f} | {np.mean(secs):.3f} |"
        )


def blocks(summary: dict) -> None:
    print("\n### Block pushing goal reaching within 10 steps (success %, 50 goals per distance)\n")
    print("| env | world model | seeds | d=1 | d=2 | d=3 | all | H@1 1/5/10-step |")
    print("|---|---|---|---|---|---|---|---|")
    for env in ("cubes_goal", "shapes_goal"):
        for wm in ("sen", "none", "full"):
            done = [m for s in SEEDS if (m := metrics(f"mpc_{env}_{wm}_s{s}")) and "success" in m]
            if not done:
                continue
            cell = lambda k: f"{100 * np.mean([m[k] for m in done]):.0f}"  # noqa: E731, B023 (used at once)
            hits = "/".join(f"{np.mean([m[f'hits@1/{n}step'] for m in done]):.0f}" for n in (1, 5, 10))
            summary[f"mpc_{env}_{wm}"] = {
                k: [m[k] for m in done]
                for k in (
                    "success",
                    "success_d1",
                    "success_d2",
                    "success_d3",
                    "hits@1/1step",
                    "hits@1/5step",
                    "hits@1/10step",
                )
            }
            print(
                f"| {env} | {wm} | {len(done)} | {cell('success_d1')} | {cell('success_d2')} | "
                f"{cell('success_d3')} | {cell('success')} | {hits} |"
            )


def sac(summary: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4))
    print("\n### Reacher from pixels, SAC (eval return, 5 fixed episodes; mean ± std over seeds)\n")
    print("| features | seeds | first eval | final eval |\n|---|---|---|---|")
    for feat, label in (("nature_cnn", "SAC + NatureCNN"), ("sen", "SAC + frozen SEN"), ("none", "SAC + frozen none")):
        curves = [
            json.loads(p.read_text())
            for s in SEEDS
            if (p := RUNS / f"sac_reacher_{feat}_s{s}" / "curve.json").is_file()
        ]
        if not curves:
            continue
        n = min(len(c["steps"]) for c in curves)
        steps = np.array(curves[0]["steps"][:n])
        returns = np.array([c["return"][:n] for c in curves])
        summary[f"sac_reacher_{feat}"] = {"steps": steps.tolist(), "returns": returns.tolist()}
        ax.plot(steps, returns.mean(0), label=f"{label} ({len(curves)} seeds)")
        ax.fill_between(steps, returns.mean(0) - returns.std(0), returns.mean(0) + returns.std(0), alpha=0.2)
        print(f"| {feat} | {len(curves)} | {mean_std(list(returns[:, 0]))} | {mean_std(list(returns[:, -1]))} |")
    for key, label, style in (
        ("mpc_reacher_sen", "MPC (CEM) on SEN, after 5.5k steps", "--"),
        ("mpc_reacher_none", "MPC (CEM) on none, after 5.5k steps", ":"),
    ):
        if key in summary:
            ax.axhline(np.mean(summary[key]["return"]), color="k", linestyle=style, label=label)
    if "mpc_reacher_sen" in summary:
        ax.axhline(
            np.mean(summary["mpc_reacher_sen"]["still_return"]), color="grey", linestyle="-.", label="zero action"
        )
        ax.axhline(
            np.mean(summary["mpc_reacher_sen"]["random_return"]), color="grey", linestyle=(0, (1, 3)), label="random"
        )
    ax.set_xlabel("SAC env steps")
    ax.set_ylabel("eval return (5 episodes of 50 steps)")
    ax.set_title("Reacher from pixels (64x64, random goal), CPU budget")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(Path(__file__).parent / "sac_reacher.png", dpi=120)


def main() -> None:
    summary: dict = {}
    reacher_mpc(summary)
    blocks(summary)
    sac(summary)
    (Path(__file__).parent / "summary.json").write_text(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
