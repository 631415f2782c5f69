"""SAC evaluation curves of ``agent=sac`` runs, finished or not: one PNG and a markdown table.

    .venv/bin/python results/sac_curves.py RUN_DIR [RUN_DIR ...] --out results/sac_reacher_100k.png
        [--reference -9.0]

Reads each run's ``curve.json`` (a finished run) or ``sb3_progress.json`` (saved after every
evaluation, so a run stopped by the clock still has its curve), labels it by ``worldmodel`` /
``agent.features`` and ``seed`` from its ``.hydra/config.yaml``, plots evaluation return against
env steps, and prints per run: the last step reached, the first and last evaluation, the best, the
mean of the last 3 evaluations and, with ``--reference R``, the first env step whose evaluation
return is >= R (e.g. NatureCNN-SAC's final return, for the steps-to-reach ratio of issue #12).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402


def curve(run: Path) -> tuple[list[int], list[float]]:
    """``(env steps, evaluation returns)`` of a run (finished or saved mid-way)."""
    if (run / "curve.json").is_file():
        data = json.loads((run / "curve.json").read_text())
        return [int(s) for s in data["steps"]], [float(r) for r in data["return"]]
    pairs = json.loads((run / "sb3_progress.json").read_text())["curve"]
    return [int(s) for s, _ in pairs], [float(r) for _, r in pairs]


def label(run: Path) -> str:
    """``features (seed N)``: the world-model variant, or ``nature_cnn``."""
    cfg = OmegaConf.load(run / ".hydra" / "config.yaml")
    features = cfg.worldmodel.variant if cfg.agent.features == "worldmodel" else cfg.agent.features
    frozen = "" if cfg.agent.features != "worldmodel" else (" frozen" if cfg.agent.freeze else " fine-tuned")
    return f"{features}{frozen} (seed {cfg.seed})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", type=Path, nargs="+")
    parser.add_argument("--out", type=Path, required=True, help="PNG to write")
    parser.add_argument("--reference", type=float, help="report the first env step reaching this return")
    args = parser.parse_args()
    fig, ax = plt.subplots(figsize=(6, 4))
    print(
        "| run | env steps | first eval | last eval | best | mean of last 3 |"
        + (" steps to reach |" if args.reference is not None else "")
    )
    print("|---|---:|---:|---:|---:|---:|" + ("---:|" if args.reference is not None else ""))
    for run in args.runs:
        steps, returns = curve(run)
        name = label(run)
        ax.plot(steps, returns, marker=".", label=name)
        last3 = sum(returns[-3:]) / len(returns[-3:])
        row = f"| {name} | {steps[-1]} | {returns[0]:.2f} | {returns[-1]:.2f} | {max(returns):.2f} | {last3:.2f} |"
        if args.reference is not None:
            reached = next((s for s, r in zip(steps, returns) if r >= args.reference), None)
            row += f" {reached if reached is not None else 'not reached'} |"
        print(row)
    ax.set_xlabel("env steps")
    ax.set_ylabel("evaluation return (5 fixed episodes)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(args.out, dpi=120)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
