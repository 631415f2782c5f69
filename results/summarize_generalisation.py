"""The generalisation table of RESULTS.md from the runs of ``results/run_generalisation.sh``.

    .venv/bin/python results/summarize_generalisation.py

Reads ``results/runs/gen10_{env}_{model}_s{seed}/metrics.json`` and prints, per env and model,
mean ± std over the seeds found of H@1 at 1, 5 and 10 steps (and strict H@1 at 10 steps, ties as
misses), MRR at 10 steps, EE, DIE at 10 steps and successor accuracy (evaluation on all actions;
training on the limited ones).
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path

import numpy as np

KEYS = (
    "hits@1/1step",
    "hits@1/5step",
    "hits@1/10step",
    "strict/hits@1/10step",
    "mrr/10step",
    "successor_acc",
    "ee",
    "die/10step",
)


def main() -> None:
    runs: dict[tuple[str, str], list[dict[str, float]]] = defaultdict(list)
    for path in sorted(Path("results/runs").glob("gen10_*_s*/metrics.json")):
        match = re.fullmatch(r"gen10_(\w+?)_(sen|none|full)_s(\d+)", path.parent.name)
        if match and not (path.parent / "FAILED").exists():
            runs[match.group(1), match.group(2)].append(json.loads(path.read_text()))
    print("| env | model | seeds | " + " | ".join(KEYS) + " |")
    print("|---|---|---:|" + "---:|" * len(KEYS))
    for (env, model), ms in sorted(runs.items()):
        cells = []
        for k in KEYS:
            v = np.array([m.get(k, np.nan) for m in ms])
            percent = "@" in k or "mrr" in k or "acc" in k
            cells.append(f"{v.mean():.1f} ± {v.std():.1f}" if percent else f"{v.mean():.3f} ± {v.std():.3f}")
        print(f"| {env} | {model} | {len(ms)} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
