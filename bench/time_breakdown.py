"""Where the wall clock of each slow result goes (issue #43): one instrumented run per row, one at a
time, then a Markdown table of seconds per phase from each run's ``timing.json``
(:mod:`eqmbrl.core.timing`: each phase's own time, so a row adds up to its wall time).

    python bench/time_breakdown.py [--short] [--rows cubes_goal,shapes_goal,...] [--jobs 1]

``--short`` runs each row on a smaller budget (fewer episodes or env steps; the table says which),
for the shares rather than the totals. Run it on an idle machine: ``--jobs 2`` runs two rows at once
and says so in the table.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REACHER_MPC = (
    "experiment=reacher_mpc trainer.episodes=1000 trainer.epochs=10 trainer.reward_refit_steps=4000 "
    "agent.refit_every=50 agent.refit_steps=15 agent.refit_online_fraction=0.5 agent.final_reward_refit=true "
    "agent.eval_every=40 agent.episodes=120"
)
ROWS = {  # name: (full command's overrides, short overrides appended with --short)
    "cubes_goal": ("env=cubes_goal", ""),
    "shapes_goal": ("env=shapes_goal", ""),
    "reacher_mpc": (REACHER_MPC, "trainer.episodes=200 agent.episodes=10 agent.eval_every=10"),
    "sac_frozen": (
        "experiment=reacher_mpc agent=sac agent.eval_every=5000 agent.total_steps=100000 agent.eval_episodes=20",
        "trainer.episodes=200 agent.total_steps=10000",
    ),
}


def run_row(name: str, short: bool, root: Path) -> dict:
    """Run row ``name`` into ``root/name``; returns its ``timing.json`` with the overrides used."""
    full, reduced = ROWS[name]
    overrides = f"{full} {reduced}".split() if short else full.split()
    out = root / name
    cmd = [sys.executable, "-m", "eqmbrl.run", *overrides, f"hydra.run.dir={out}"]
    with open(root / f"{name}.log", "w") as log:
        subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, check=True)
    return {"overrides": " ".join(overrides), **json.loads((out / "timing.json").read_text())}


def table(timings: dict[str, dict]) -> str:
    """Markdown: one column per run, one row per phase (seconds and share of the run's wall clock)."""
    runs = list(timings)
    phases = sorted({p for t in timings.values() for p in t["seconds"]}, key=lambda p: (p == "untimed", p))
    walls = {r: timings[r]["wall_minutes"] * 60 for r in runs}
    lines = ["| phase | " + " | ".join(runs) + " |", "|---|" + "---:|" * len(runs)]
    lines.append("| **wall clock** | " + " | ".join(f"**{walls[r]:.0f} s**" for r in runs) + " |")
    for phase in phases:
        cells = []
        for r in runs:
            s = timings[r]["seconds"].get(phase)
            cells.append("" if s is None else f"{s:.0f} s ({100 * s / walls[r]:.0f}%)")
        lines.append(f"| {phase} | " + " | ".join(cells) + " |")
    lines.append("")
    lines += [f"- {r}: `python -m eqmbrl.run {timings[r]['overrides']}`" for r in runs]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--short", action="store_true", help="each row on its smaller budget")
    parser.add_argument("--rows", default=",".join(ROWS), help=f"comma-separated, of {', '.join(ROWS)}")
    parser.add_argument("--jobs", type=int, default=1, help="rows at once (1 on an idle machine)")
    args = parser.parse_args()
    rows = args.rows.split(",")
    unknown = [r for r in rows if r not in ROWS]
    if unknown:
        parser.error(f"unknown rows {unknown}; the rows are {', '.join(ROWS)}")
    root = Path(tempfile.mkdtemp(prefix="time_breakdown-"))
    with ThreadPoolExecutor(args.jobs) as pool:
        timings = dict(zip(rows, pool.map(lambda r: run_row(r, args.short, root), rows)))
    print(table(timings))
    print(f"\n{args.jobs} run(s) at a time; runs in {root}")


if __name__ == "__main__":
    main()
