"""The generalisation table of RESULTS.md from the runs of ``results/run_generalisation.sh``.

    .venv/bin/python results/summarize_generalisation.py

Reads ``results/runs/gen_{env}_{form}_{model}_s{seed}/metrics.json`` and prints, per env, form and
model, mean ± std over the seeds found of H@1 at 1, 5 and 10 steps, MRR at 10 steps, EE and DIE
at 10 steps (evaluation on all actions; training on the limited ones).
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path

import numpy as np

KEYS = ("hits@1/1step", "hits@1/5step", "hits@1/10step", "mrr/10step", "ee", "die/10step")


def main() -> None:
    runs: dict[tuple[str, str, str], list[dict[str, float]]] = defaultdict(list)
    for path in sorted(Path("results/runs").glob("gen_*_s*/metrics.json")):
        match = re.fullmatch(r"gen_(\w+?)_(conv|remap)_(sen|none|full)_s(\d+)", path.parent.name)
        if match and not (path.parent / "FAILED").exists():
            runs[match.group(1), match.group(2), match.group(3)].append(json.loads(path.read_text()))
    print("| env | embedding | model | seeds | " + " | ".join(KEYS) + " |")
    print("|---|---|---|---:|" + "---:|" * len(KEYS))
    for (env, form, model), ms in sorted(runs.items()):
        cells = []
        for k in KEYS:
            v = np.array([m[k] for m in ms])
            cells.append(
                f"{v.mean():.1f} ± {v.std():.1f}" if "@" in k or "mrr" in k else f"{v.mean():.3f} ± {v.std():.3f}"
            )
        print(f"| {env} | {form} | {model} | {len(ms)} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
