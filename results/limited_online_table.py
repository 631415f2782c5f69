"""RESULTS §20's table: §19's limited-torque models before and after the online phase, per model.

    .venv/bin/python results/limited_online_table.py [--root results/runs/dagger] [--seeds 0 1 2]

Reads ``ROOT/lim_w10_MODEL_sS`` (pretrained, §19) and ``ROOT/lim_onlineN_MODEL_sS`` (+ N = 40, 80, 120, 240
online episodes and the reward refit, ``results/reacher_limited_online.sh``): ``metrics.json``'s ``return``
(fixed eval seeds), ``mpc_fresh.json`` (20 fresh goals), ``pose_split.json`` (all-torque episodes)
and ``rollout_r2.json`` (12-decision rollouts), and for the online runs the mean return of the
exploring online episodes (TensorBoard ``episode/return``) and their share of torques τ₁ < 0. Runs
not finished yet are left out and named. Prints markdown: mean ± population std over the seeds
found, then the per-seed values.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from eqmbrl.report import scalars

PHASES = (
    ("pretrained", "lim_w10"),
    *((f"+ {n} online + refit", f"lim_online{n}") for n in (40, 80, 120, 240)),
)
COLUMNS = {  # column: (file, reader)
    "MPC fixed": ("metrics.json", lambda d: d["return"]),
    "MPC fresh": ("mpc_fresh.json", lambda d: d["h12"]),
    "distance R²": ("pose_split.json", lambda d: d["r2_distance"]),
    "H@1 τ₁<0": ("pose_split.json", lambda d: d["hits@1/tau1<0"]),
    "H@1 τ₁≥0": ("pose_split.json", lambda d: d["hits@1/tau1>=0"]),
    "random R² k=6": ("rollout_r2.json", lambda d: d["random"]["r2"][5]),
    "PD RMSE k=6": ("rollout_r2.json", lambda d: d["pd"]["rmse"][5]),
    "PD term k=12": ("rollout_r2.json", lambda d: d["pd"]["predicted_mean"][11]),
}


def row(run: Path) -> dict[str, float] | None:
    """The table's values for one run dir, or None if any of its files is missing."""
    if not all((run / name).is_file() for name, _ in COLUMNS.values()):
        return None
    out = {col: float(read(json.loads((run / name).read_text()))) for col, (name, read) in COLUMNS.items()}
    returns = scalars(run, "episode/return")[1]
    if len(returns):  # a run with online episodes
        out["online episodes"] = float(np.mean(returns))
        with np.load(run / "buffer.npz") as seed:
            first_online = int(seed["episode"].max()) + 1  # episode ids after the seed episodes
        with np.load(run / "buffer_online.npz") as data:
            online = (data["episode"] >= first_online) & data["has_next"].astype(bool)
            out["online τ₁<0 share"] = float(np.mean(data["actions"][online, 1] < 0))
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", type=Path, default=Path("results/runs/dagger"))
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = p.parse_args()
    cols = [*COLUMNS, "online episodes", "online τ₁<0 share"]
    print("| model | phase | seeds | " + " | ".join(cols) + " |\n|---|---|---|" + "---:|" * len(cols))
    per_seed = []
    for model in ("sen", "none", "full"):
        for phase, prefix in PHASES:
            runs = {s: args.root / f"{prefix}_{model}_s{s}" for s in args.seeds}
            rows = {s: r for s, run in runs.items() if (r := row(run)) is not None}
            missing = sorted(set(runs) - set(rows))
            if missing and len(missing) < len(runs):
                print(f"<!-- {model} {phase}: seeds {missing} not finished -->")
            if not rows:
                continue
            cells = []
            for col in cols:
                vals = [r[col] for r in rows.values() if col in r]
                cells.append(f"{np.mean(vals):.3g} ± {np.std(vals):.2g}" if vals else "")
                per_seed.append((model, phase, col, ", ".join(f"{v:.3g}" for v in vals)))
            print(f"| `{model}` | {phase} | {len(rows)} | " + " | ".join(cells) + " |")
    print("\n| model | phase | column | per seed |\n|---|---|---|---|")
    for model, phase, col, vals in per_seed:
        if vals:
            print(f"| `{model}` | {phase} | {col} | {vals} |")


if __name__ == "__main__":
    main()
