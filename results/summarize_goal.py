"""The goal-reaching tables of RESULTS.md from the runs of ``results/run_goal.sh``.

    .venv/bin/python results/summarize_goal.py

Reads ``results/runs/{goal,payoff}_{env}_{model}_s{seed}/`` (``metrics.json`` of the run, and
``goal_eval.json`` of ``results/goal_eval.py`` on fresh goals) and prints mean ± std over the seeds
found. Success is in percent of goals reached within 10 steps; wall minutes are from the run
dir's file times (2 jobs sharing the 2 cores).
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path

import numpy as np

MAIN = (
    ("pretrain/epochs", "epochs", 0),
    ("successor_acc", "successor acc.", 1),
    ("hits@1/10step", "H@1 10 steps", 1),
    ("fresh/success_d1", "fresh d=1", 1),
    ("fresh/success_d2", "fresh d=2", 1),
    ("fresh/success_d3", "fresh d=3", 1),
    ("success_d1", "eval seeds d=1", 1),
    ("success_d2", "d=2", 1),
    ("success_d3", "d=3", 1),
    ("wall_min", "wall min", 0),
)
PAYOFF = (
    ("pretrain/epochs", "epochs", 0),
    ("successor_acc", "successor acc. (all actions)", 1),
    ("hits@1/10step", "H@1 10 steps (all actions)", 1),
    ("fresh/success_seen", "goals with seen pushes only", 1),
    ("fresh/success_unseen", "goals needing a left push", 1),
    ("fresh/goals_unseen", "# such goals", 0),
    ("wall_min", "wall min", 0),
)


def load(kind: str) -> dict[tuple[str, str], list[dict[str, float]]]:
    runs: dict[tuple[str, str], list[dict[str, float]]] = defaultdict(list)
    for path in sorted(Path("results/runs").glob(f"{kind}_*_s*/metrics.json")):
        match = re.fullmatch(rf"{kind}_(\w+?)_(sen|none|full)_s(\d+)", path.parent.name)
        fresh = path.parent / "goal_eval.json"
        if match and fresh.exists() and not (path.parent / "FAILED").exists():
            m = json.loads(path.read_text())
            m.update({f"fresh/{k}": v for k, v in json.loads(fresh.read_text()).items()})
            start = (path.parent / ".hydra" / "config.yaml").stat().st_mtime  # written when the run starts
            m["wall_min"] = (path.stat().st_mtime - start) / 60
            runs[match.group(1), match.group(2)].append(m)
    return runs


def table(kind: str, columns: tuple[tuple[str, str, int], ...]) -> None:
    runs = load(kind)
    print("| env | model | seeds | " + " | ".join(c[1] for c in columns) + " |")
    print("|---|---|---:|" + "---:|" * len(columns))
    for (env, model), ms in sorted(runs.items()):
        cells = []
        for key, _, digits in columns:
            v = np.array([m.get(key, np.nan) for m in ms], dtype=float)
            name = key.split("/")[-1]
            v = 100 * v if name == "success" or name.startswith("success_") else v  # fractions -> percent
            cells.append(f"{np.nanmean(v):.{digits}f} ± {np.nanstd(v):.{digits}f}")
        print(f"| {env} | {model} | {len(ms)} | " + " | ".join(cells) + " |")


def main() -> None:
    print("Goal reaching (default command):\n")
    table("goal", MAIN)
    print("\nTrained without left pushes (payoff):\n")
    table("payoff", PAYOFF)


if __name__ == "__main__":
    main()
